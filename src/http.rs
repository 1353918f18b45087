//! HTTP on tokio: `/metrics` (Prometheus text), `/healthz`, and the appear-live API —
//! `/api/v1/now`, `/api/v1/schedule`, `/epg.xml` — answered by the same pure scheduler the
//! pipeline follows. Handlers only read shared, thread-safe state (the metrics registry, a
//! timeline snapshot); they never touch libav or block.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::clock::wall_now;
use crate::epg;
use crate::lineup::TimelineCell;
use crate::metrics::Metrics;
use crate::reload::ReloadStatus;
use crate::schedule::parse_instant;
use crate::time::Micros;

/// Encoding that has made no progress, or every output down, for this long makes `/healthz`
/// fail.
pub const STALL_LIMIT: Duration = Duration::from_secs(5);

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// What the handlers read.
pub struct State {
    pub metrics: Arc<Metrics>,
    pub timeline: Arc<TimelineCell>,
    pub channel: String,
    pub reload: Arc<ReloadStatus>,
}

/// The longest window `/api/v1/schedule` lists.
const MAX_WINDOW: Micros = Micros::from_secs(7 * 24 * 3600);

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, state: Arc<State>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "HTTP accept failed.");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(&req, &state)) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "HTTP connection ended with an error.");
            }
        });
    }
}

fn route<B>(req: &Request<B>, state: &State) -> Response<Full<Bytes>> {
    let metrics = &state.metrics;
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => {
            // What is on air comes from the schedule, computed when asked.
            let t = state.timeline.get();
            let now = wall_now();
            let (slot, _) = t.resolve(now);
            metrics
                .current_item_position_seconds
                .set((now - slot.start).as_secs_f64());
            metrics
                .current_item_remaining_seconds
                .set((slot.end - now).as_secs_f64());
            text(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                metrics.render(),
            )
        }
        "/healthz" => {
            let stalled = metrics.stalled_for();
            let down = metrics.all_outputs_down_for();
            let reason = if stalled > STALL_LIMIT {
                Some(format!(
                    "encoding has made no progress for {} s",
                    stalled.as_secs()
                ))
            } else if down > STALL_LIMIT {
                Some(format!(
                    "no output has been connected for {} s",
                    down.as_secs()
                ))
            } else {
                None
            };
            match reason {
                Some(reason) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "application/json",
                    serde_json::json!({ "status": "unhealthy", "reason": reason }).to_string(),
                ),
                None => {
                    let mut v = serde_json::json!({ "status": "ok" });
                    if let Some(e) = state.reload.last_error() {
                        v["reload_error"] = e.into();
                    }
                    json_ok(v)
                }
            }
        }
        "/api/v1/now" => {
            let t = state.timeline.get();
            let mut v = epg::now(&t, wall_now(), 5);
            v["reload_error"] = state.reload.last_error().into();
            json_ok(v)
        }
        "/api/v1/schedule" => match window(req.uri().query().unwrap_or("")) {
            Ok((from, span)) => {
                let t = state.timeline.get();
                json_ok(epg::to_json(&epg::programmes(&t, from, span)))
            }
            Err(e) => text(
                StatusCode::BAD_REQUEST,
                "application/json",
                serde_json::json!({ "error": e }).to_string(),
            ),
        },
        "/epg.xml" => {
            let t = state.timeline.get();
            let ps = epg::programmes(&t, wall_now(), Micros::from_secs(24 * 3600));
            text(
                StatusCode::OK,
                "application/xml; charset=utf-8",
                epg::to_xmltv(&state.channel, &ps),
            )
        }
        _ => text(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

fn json_ok(v: serde_json::Value) -> Response<Full<Bytes>> {
    text(StatusCode::OK, "application/json", v.to_string())
}

/// `from=RFC3339&for=DURATION` (both optional: now, 24 h).
fn window(query: &str) -> Result<(Micros, Micros), String> {
    let (mut from, mut span) = (wall_now(), Micros::from_secs(24 * 3600));
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "from" => {
                from = parse_instant(&v)
                    .ok_or_else(|| format!("from={v:?} is not an RFC 3339 time"))?
            }
            "for" => {
                span = v.parse::<Micros>().map_err(|e| format!("for: {e}"))?;
                if span <= Micros::ZERO || span > MAX_WINDOW {
                    return Err(format!(
                        "for={v} is out of range (expected more than 0s, at most 7 days)"
                    ));
                }
            }
            _ => return Err(format!("unknown parameter {k:?} (expected from and for)")),
        }
    }
    Ok((from, span))
}

/// Undoes `%XX` escapes (a `+` in a time zone offset often arrives as `%2B`).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn text(status: StatusCode, ctype: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", ctype)
        .body(Full::new(Bytes::from(body)))
        .expect("static headers are valid")
}
