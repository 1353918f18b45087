//! HTTP on tokio: one route table (method + path → handler) and the helpers every group
//! shares. The groups, one file each:
//! - `metrics`: `/metrics` (Prometheus text), `/healthz`, `/livez` and `/readyz`;
//! - `api`: the appear-live API — `/api/v1/now`, `/api/v1/schedule`, `/epg.xml` — answered
//!   by the same pure scheduler the pipeline follows;
//! - `hls`: the HLS outputs' playlists and segments under `/hls/`;
//! - `web`: the watch page at `/` and the console at `/console`, embedded at build time;
//! - `control`: the control API's playlist, event, skip, play-now and output routes;
//! - `media`: the media library (upload, list, delete).
//!
//! The control routes sit behind one gate, `authorize`, which checks the bearer token in
//! constant time before any of them runs; they never see the token, and nothing logs it.
//! Request bodies are limited here too: `MAX_BODY` for JSON, `media.max_upload` for uploads.
//!
//! Handlers read shared, thread-safe state (the metrics registry, a timeline snapshot, files
//! an output thread renamed into place) or send messages (a skip to the source, a probe to
//! the library's thread); they never touch libav. File work runs on the blocking pool.

// Handlers return `Err(Reply)` for a refusal: the error *is* the answer to send, made once
// per request, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

mod api;
mod asrun;
mod bodies;
mod conn;
mod control;
mod hls;
pub mod lockstep;
mod media;
mod metrics;
mod start;
pub(crate) mod web;

pub use conn::{HEADER_TIMEOUT, MAX_CONNECTIONS, MAX_HEAD, STALL_TIMEOUT};
pub use control::{ControlState, PLAY_NOW_LEAD};

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::lineup::TimelineCell;
use crate::metrics::Metrics;
use crate::reload::ReloadStatus;
use crate::snapshot::Snapshot;

pub use metrics::STALL_LIMIT;
pub use start::{listen, serve_channel, ListenError};

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// An HLS output's folder, served at `/hls/NAME/`.
#[derive(Clone, Debug)]
pub struct HlsFolder {
    pub name: String,
    pub folder: PathBuf,
}

/// What the handlers read.
pub struct State {
    pub metrics: Arc<Metrics>,
    pub timeline: Arc<TimelineCell>,
    pub channel: String,
    pub reload: Arc<Snapshot<ReloadStatus>>,
    /// The outputs playing now (they change on reload), for `/healthz`.
    pub outputs: Arc<crate::output::manager::OutputList>,
    /// When the channel was live and under what title (from the source).
    pub live: Option<Arc<crate::live::LiveAir>>,
    /// The folder of the as-run record's day files.
    pub asrun: PathBuf,
    pub control: ControlState,
}

/// The largest JSON body a control route takes.
pub const MAX_BODY: usize = 1 << 20;

/// The OpenAPI 3 description of every route, served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

pub(crate) type Reply = Response<Full<Bytes>>;

/// Serves until the task is dropped, within the limits of `conn`: at most
/// `MAX_CONNECTIONS` at once, heads within `HEADER_TIMEOUT` and `MAX_HEAD`, no stall longer
/// than `STALL_TIMEOUT`.
pub async fn serve(listener: TcpListener, state: Arc<State>) {
    let connections = state.metrics.http_connections.clone();
    serve_with(listener, Some(connections), move |req| {
        let state = state.clone();
        async move { route(req, &state).await }
    })
    .await
}

/// Serves `handler` on `listener` until the task is dropped, within the limits of `conn`
/// (as `serve`); `connections`, when given, counts the open ones. The host's front door
/// serves through this too.
pub async fn serve_with<H, F, B>(
    listener: TcpListener,
    connections: Option<prometheus::IntGauge>,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut full_logged = false;
    loop {
        // A slot first: past the limit, clients wait in the backlog, and nothing here grows.
        if slots.available_permits() == 0 && !full_logged {
            tracing::warn!(
                limit = MAX_CONNECTIONS,
                "HTTP connection limit reached; new clients wait."
            );
            full_logged = true;
        }
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        if slots.available_permits() > MAX_CONNECTIONS / 2 {
            full_logged = false;
        }
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "HTTP accept failed.");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let connections = connections.clone();
        tokio::spawn(async move {
            if let Some(c) = &connections {
                c.inc();
            }
            let svc = service_fn(move |req| {
                let answer = handler(req);
                async move { Ok::<_, Infallible>(answer.await) }
            });
            let io = TokioIo::new(conn::Deadline::new(stream, STALL_TIMEOUT));
            if let Err(e) = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_header_size(MAX_HEAD)
                .serve_connection(io, svc)
                .await
            {
                tracing::debug!(error = %e, "HTTP connection ended with an error.");
            }
            if let Some(c) = &connections {
                c.dec();
            }
            drop(slot);
        });
    }
}

/// The route table.
async fn route(req: Request<Incoming>, state: &State) -> Reply {
    let path = req.uri().path().to_string();
    let read = req.method() == Method::GET || req.method() == Method::HEAD;
    if let Some(rest) = path.strip_prefix("/hls/") {
        return match *req.method() {
            Method::GET | Method::HEAD => hls::get(&req, rest, state).await,
            Method::OPTIONS => cors_preflight(),
            _ => method_not_allowed("GET, HEAD, OPTIONS"),
        };
    }
    if let Some(rest) = control_path(&path) {
        let token = state.control.token.as_ref();
        if let Err(refused) = authorize(&req, token.as_slice(), CONTROL_OFF) {
            return refused;
        }
        return control_route(req, rest, state).await;
    }
    if !read {
        return method_not_allowed("GET, HEAD");
    }
    let query = req.uri().query().unwrap_or("");
    match path.as_str() {
        "/metrics" => metrics::metrics(state),
        "/healthz" => metrics::healthz(state),
        "/livez" => metrics::livez(state),
        "/readyz" => metrics::readyz(state),
        "/api/v1/now" => api::now(state, query),
        "/api/v1/schedule" => api::schedule(state, query),
        "/api/v1/asrun" => asrun::get(state, query).await,
        "/api/v1/openapi.json" => json_text(OPENAPI),
        "/epg.xml" => api::epg(state),
        _ => web::get(&req, &path).unwrap_or_else(not_found),
    }
}

/// The part after `/api/v1/` of a control route (behind the token), or `None`.
pub(crate) fn control_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api/v1/")?;
    let group = rest.split('/').next().unwrap_or("");
    matches!(
        group,
        "media" | "playlist" | "events" | "skip" | "play-now" | "outputs"
    )
    .then_some(rest)
}

/// The control routes, by method and path; the token has been checked.
async fn control_route(req: Request<Incoming>, rest: &str, state: &State) -> Reply {
    let m = req.method().clone();
    let given = control::if_match(req.headers());
    let query = req.uri().query().unwrap_or("").to_string();
    let segments: Vec<&str> = rest.split('/').collect();
    let index = |s: &str| s.parse::<usize>().ok();
    match (m, segments.as_slice()) {
        (Method::GET, ["media"]) => media::list_media(state).await,
        (Method::PUT, ["media", name]) => media::put_media(state, name, req).await,
        (Method::DELETE, ["media", name]) => media::delete_media(state, name, &query).await,
        (Method::GET, ["playlist"]) => control::get_playlist(state).await,
        (Method::PUT, ["playlist"]) => match json_body(req).await {
            Ok(body) => control::put_playlist(state, given, body).await,
            Err(r) => r,
        },
        (Method::POST, ["playlist", "items"]) => match json_body(req).await {
            Ok(body) => control::insert_item(state, given, body).await,
            Err(r) => r,
        },
        (Method::DELETE, ["playlist", "items", i]) => match index(i) {
            Some(i) => control::remove_entry(state, given, "items", i).await,
            None => bad_index(i),
        },
        (Method::POST, ["playlist", "items", i, "move"]) => {
            match (index(i), json_body(req).await) {
                (Some(i), Ok(body)) => control::move_item(state, given, i, body).await,
                (None, _) => bad_index(i),
                (_, Err(r)) => r,
            }
        }
        (Method::POST, ["playlist", "undo"]) => control::undo(state).await,
        (Method::GET, ["playlist", "history"]) => control::history(state).await,
        (Method::GET, ["events"]) => control::get_events(state).await,
        (Method::POST, ["events"]) => match json_body(req).await {
            Ok(body) => control::add_event(state, given, body).await,
            Err(r) => r,
        },
        (Method::DELETE, ["events", i]) => match index(i) {
            Some(i) => control::remove_entry(state, given, "events", i).await,
            None => bad_index(i),
        },
        (Method::POST, ["skip"]) => control::skip(state).await,
        (Method::POST, ["play-now"]) => match json_body(req).await {
            Ok(body) => control::play_now(state, body).await,
            Err(r) => r,
        },
        (Method::GET, ["outputs"]) => control::outputs(state),
        (_, ["media"]) | (_, ["playlist"]) => method_not_allowed_json(&segments),
        _ => json_error(
            StatusCode::NOT_FOUND,
            "no such control route (see /api/v1/openapi.json)",
        ),
    }
}

fn bad_index(i: &str) -> Reply {
    json_error(
        StatusCode::BAD_REQUEST,
        format!(
            "{:?} is not an index (expected a whole number from 0)",
            crate::config::values::clip(i)
        ),
    )
}

fn method_not_allowed_json(segments: &[&str]) -> Reply {
    let allow = if segments == ["media"] {
        "GET"
    } else {
        "GET, PUT"
    };
    let mut r = json_error(StatusCode::METHOD_NOT_ALLOWED, format!("{allow} only"));
    if let Ok(v) = hyper::header::HeaderValue::from_str(allow) {
        r.headers_mut().insert("allow", v);
    }
    r
}

/// Why a channel's control API answers 403.
const CONTROL_OFF: &str = "the control API is off: set http.api_token in the channel file (e.g. \
     `api_token: ${PLAYOUT_API_TOKEN}`, with that variable set to 16 or more random characters) \
     and restart playout";

/// The one gate in front of every control route: `Authorization: Bearer TOKEN`, compared
/// in constant time with each of `tokens` (a host's gate has its own and the channel's).
/// With no token configured the control API is off (403, saying `off`). A refusal is
/// logged with the route and the reason, never the token.
pub(crate) fn authorize<B>(
    req: &Request<B>,
    tokens: &[&crate::config::ApiToken],
    off: &str,
) -> Result<(), Reply> {
    if tokens.is_empty() {
        return Err(json_error(StatusCode::FORBIDDEN, off));
    }
    let header = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let given = header.and_then(|h| {
        let (scheme, rest) = h.split_at(h.len().min(7));
        scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
    });
    let reason = match given {
        // Every token is compared, so the time taken does not say which one matched.
        Some(g) if tokens.iter().fold(false, |ok, t| t.matches(g) | ok) => return Ok(()),
        Some(_) => "wrong token",
        None if header.is_some() => "not a bearer token",
        None => "no Authorization header",
    };
    tracing::warn!(method = %req.method(), path = %req.uri().path(), reason, "Control request refused.");
    let mut r = json_error(
        StatusCode::UNAUTHORIZED,
        format!("{reason}: control requests need `Authorization: Bearer TOKEN` (http.api_token)"),
    );
    r.headers_mut().insert(
        "www-authenticate",
        hyper::header::HeaderValue::from_static("Bearer realm=\"playout\""),
    );
    Err(r)
}

/// The body as JSON, at most `MAX_BODY` bytes (413 past it, 400 if it is not JSON).
async fn json_body(req: Request<Incoming>) -> Result<serde_json::Value, Reply> {
    let bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {} bytes", MAX_BODY),
            ))
        }
        Err(e) => {
            return Err(json_error(
                StatusCode::BAD_REQUEST,
                format!("the body could not be read: {e}"),
            ))
        }
    };
    if bytes.is_empty() {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        json_error(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        )
    })
}

fn json_reply(status: StatusCode, v: serde_json::Value) -> Reply {
    text(status, "application/json", v.to_string())
}

pub(crate) fn json_error(status: StatusCode, message: impl Into<String>) -> Reply {
    json_reply(status, serde_json::json!({ "error": message.into() }))
}

fn json_text(body: &'static str) -> Reply {
    bytes(
        StatusCode::OK,
        "application/json",
        Bytes::from_static(body.as_bytes()),
    )
}

fn method_not_allowed(allow: &'static str) -> Reply {
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        "text/plain",
        format!("{allow} only\n"),
    );
    r.headers_mut()
        .insert("allow", hyper::header::HeaderValue::from_static(allow));
    r
}

pub(crate) fn not_found() -> Reply {
    text(StatusCode::NOT_FOUND, "text/plain", "not found\n".into())
}

/// A player on another site may read the stream and the API.
fn allow_cors(r: &mut Reply) {
    use hyper::header::HeaderValue;
    let h = r.headers_mut();
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("content-length, content-range, accept-ranges"),
    );
}

fn cors_preflight() -> Reply {
    use hyper::header::HeaderValue;
    let mut r = Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Full::new(Bytes::new()))
        .expect("static headers are valid");
    allow_cors(&mut r);
    let h = r.headers_mut();
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("range"),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("86400"));
    r
}

pub(crate) fn json_ok(v: serde_json::Value) -> Reply {
    text(StatusCode::OK, "application/json", v.to_string())
}

pub(crate) fn text(status: StatusCode, ctype: &str, body: String) -> Reply {
    bytes(status, ctype, Bytes::from(body))
}

fn bytes(status: StatusCode, ctype: &str, body: Bytes) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", ctype)
        .body(Full::new(body))
        .expect("static headers are valid")
}

/// Undoes `%XX` escapes (a `+` in a time zone offset often arrives as `%2B`).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // Byte by byte: slicing the str at i+1..i+3 could cut a multi-byte character.
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_escapes() {
        assert_eq!(percent_decode("a%2Bb%3a"), "a+b:");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        // A `%` before a multi-byte character is left as it is, not a panic.
        assert_eq!(percent_decode("%aé"), "%aé");
        assert_eq!(percent_decode("%é"), "%é");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }
}
