//! The host's front door, on one port:
//! - `/`: the channel list page; `/console`: the console's channel picker (both from `web/`);
//! - `/c/{id}/…`: everything of one channel (watch page, console, `/hls/`, `/api/v1/`),
//!   handed on to its process on loopback;
//! - `GET /api/v1/channels`: every channel, its state and what is on air;
//! - `/playlist.m3u` and `/epg.xml`: the IPTV pair, one entry and one guide per channel;
//! - `/metrics`: every channel's metrics labelled `channel="ID"`, and the host's own;
//! - `/healthz`.
//!
//! One gate (`http::authorize`) stands in front of every channel's control routes: the host's
//! `api_token` opens them all, a channel file's own `http.api_token` opens that channel's
//! only. Behind the gate the request carries the child's token for this start instead; no
//! token the operator sent reaches a child, and the children's tokens never leave the host.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::exposition::{escape, Merged};
use super::fetch;
use super::registry::{ChildState, Registry, View};
use crate::config::ApiToken;
use crate::http::{authorize, control_path, json_error, json_ok, not_found, text, Reply};

type Answer = Response<BoxBody<Bytes, hyper::Error>>;

/// How long `/metrics` and `/epg.xml` wait for a channel's part.
const PART_LIMIT: Duration = Duration::from_secs(2);

/// Why a channel's control API answers 403 at the front door.
const CONTROL_OFF: &str = "the control API is off: set http.api_token in host.yaml (it opens \
     every channel) or in this channel's file (it opens this channel), e.g. `api_token: \
     ${PLAYOUT_API_TOKEN}` with that variable set to 16 or more random characters";

/// What the front door reads.
pub struct Front {
    pub registry: Registry,
    /// host.yaml's `http.api_token`, as the file says now (the host reads it again when the
    /// file changes).
    pub token: Arc<crate::snapshot::Snapshot<Option<ApiToken>>>,
    pub listen: SocketAddr,
}

fn boxed(r: Reply) -> Answer {
    r.map(|b| b.map_err(|never| match never {}).boxed())
}

pub async fn route(req: Request<Incoming>, front: Arc<Front>) -> Answer {
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/c/") {
        let (id, inner) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        return channel(req, id.to_string(), inner.to_string(), &front).await;
    }
    if !(req.method() == Method::GET || req.method() == Method::HEAD) {
        return boxed(json_error(StatusCode::METHOD_NOT_ALLOWED, "GET, HEAD only"));
    }
    boxed(match path.as_str() {
        "/api/v1/channels" => channels(&front.registry),
        "/healthz" => healthz(&front.registry),
        "/metrics" => metrics(&front.registry).await,
        "/playlist.m3u" => m3u(&req, &front),
        "/epg.xml" => epg(&front.registry).await,
        "/" => page(&req, "/channels.html"),
        "/console" | "/console/" => page(&req, "/picker.html"),
        p => crate::http::web::get(&req, p).unwrap_or_else(not_found),
    })
}

fn page(req: &Request<Incoming>, file: &str) -> Reply {
    crate::http::web::get(req, file).unwrap_or_else(not_found)
}

/// `/c/{id}…`: handed on to the channel's process, behind the gate for control routes.
async fn channel(req: Request<Incoming>, id: String, inner: String, front: &Front) -> Answer {
    let Some(view) = front.registry.get(&id) else {
        return boxed(json_error(
            StatusCode::NOT_FOUND,
            format!(
                "no channel {:?} (see /api/v1/channels)",
                crate::config::values::clip(&id)
            ),
        ));
    };
    if inner.is_empty() {
        // The watch page's relative links need the slash.
        let mut r = text(StatusCode::PERMANENT_REDIRECT, "text/plain", String::new());
        if let Ok(v) = HeaderValue::from_str(&format!("/c/{id}/")) {
            r.headers_mut().insert("location", v);
        }
        return boxed(r);
    }
    let control = control_path(&inner).is_some();
    if control {
        let host_token = front.token.get();
        let tokens: Vec<&ApiToken> = host_token.iter().chain(view.own_token.iter()).collect();
        if let Err(refused) = authorize(&req, &tokens, CONTROL_OFF) {
            return boxed(refused);
        }
    }
    let (Some(port), Some(token)) = (view.port, view.token.clone()) else {
        return boxed(unavailable(&view));
    };
    let (mut parts, body) = req.into_parts();
    let target = match parts.uri.query() {
        Some(q) => format!("{inner}?{q}"),
        None => inner,
    };
    parts.uri = match target.parse() {
        Ok(u) => u,
        Err(_) => return boxed(json_error(StatusCode::BAD_REQUEST, "not a path")),
    };
    let h = &mut parts.headers;
    for name in HOP_BY_HOP {
        h.remove(name);
    }
    h.remove(hyper::header::AUTHORIZATION);
    if control {
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", token.expose())) {
            h.insert(hyper::header::AUTHORIZATION, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&format!("127.0.0.1:{port}")) {
        h.insert(hyper::header::HOST, v);
    }
    match fetch::send(port, Request::from_parts(parts, body)).await {
        Ok(r) => {
            let (mut parts, body) = r.into_parts();
            for name in HOP_BY_HOP {
                parts.headers.remove(name);
            }
            Response::from_parts(parts, body.boxed())
        }
        Err(e) => {
            tracing::debug!(channel = %id, error = %e, "Channel did not answer the front door.");
            boxed(unavailable(&view))
        }
    }
}

/// Headers that belong to one connection, not to the request or answer handed on.
const HOP_BY_HOP: &[HeaderName] = &[
    hyper::header::CONNECTION,
    hyper::header::TE,
    hyper::header::TRAILER,
    hyper::header::TRANSFER_ENCODING,
    hyper::header::UPGRADE,
    hyper::header::PROXY_AUTHORIZATION,
];

fn unavailable(view: &View) -> Reply {
    let mut why = format!("channel {:?} is {}", view.id, view.state.as_str());
    if let Some(e) = &view.error {
        let _ = write!(why, ": {e}");
    }
    let mut r = json_error(StatusCode::SERVICE_UNAVAILABLE, why);
    r.headers_mut()
        .insert("retry-after", HeaderValue::from_static("2"));
    r
}

fn channels(registry: &Registry) -> Reply {
    let list: Vec<serde_json::Value> = registry.all().iter().map(View::to_json).collect();
    json_ok(serde_json::json!({ "channels": list }))
}

/// 200 while the host runs, with its channels counted by state.
fn healthz(registry: &Registry) -> Reply {
    let all = registry.all();
    let counts: serde_json::Map<String, serde_json::Value> = ChildState::ALL
        .iter()
        .map(|s| {
            let n = all.iter().filter(|v| v.state == *s).count();
            (s.as_str().to_string(), n.into())
        })
        .collect();
    json_ok(serde_json::json!({ "status": "ok", "channels": counts }))
}

/// Every channel's answer to `GET path` (none for one that is not running or does not
/// answer within `PART_LIMIT`), all asked at once.
async fn parts_of(registry: &Registry, path: &'static str) -> Vec<(View, Option<String>)> {
    let asks: Vec<_> = registry
        .all()
        .into_iter()
        .map(|v| {
            let port = v.port;
            let ask = tokio::spawn(async move {
                fetch::get(port?, path, PART_LIMIT)
                    .await
                    .ok()
                    .filter(|f| f.status.is_success())
                    .map(|f| String::from_utf8_lossy(&f.body).into_owned())
            });
            (v, ask)
        })
        .collect();
    let mut out = Vec::with_capacity(asks.len());
    for (v, ask) in asks {
        out.push((v, ask.await.ok().flatten()));
    }
    out
}

async fn metrics(registry: &Registry) -> Reply {
    let parts = parts_of(registry, "/metrics").await;
    let mut m = Merged::default();
    for (v, body) in &parts {
        if let Some(b) = body {
            m.add(&v.id, b);
        }
    }
    let all: Vec<&View> = parts.iter().map(|(v, _)| v).collect();
    m.own(
        "playout_host_channels",
        "gauge",
        "The host's channels by state.",
        ChildState::ALL
            .iter()
            .map(|s| {
                let n = all.iter().filter(|v| v.state == *s).count();
                format!("playout_host_channels{{state=\"{}\"}} {n}", s.as_str())
            })
            .collect(),
    );
    m.own(
        "playout_host_channel_state",
        "gauge",
        "1 for the state each channel is in.",
        all.iter()
            .flat_map(|v| {
                ChildState::ALL.iter().map(move |s| {
                    format!(
                        "playout_host_channel_state{{channel=\"{}\",state=\"{}\"}} {}",
                        escape(&v.id),
                        s.as_str(),
                        u8::from(v.state == *s)
                    )
                })
            })
            .collect(),
    );
    m.own(
        "playout_host_restarts_total",
        "counter",
        "How often each channel's process was started again after it ended or hung.",
        all.iter()
            .map(|v| {
                format!(
                    "playout_host_restarts_total{{channel=\"{}\"}} {}",
                    escape(&v.id),
                    v.restarts
                )
            })
            .collect(),
    );
    m.own(
        "playout_host_child_resident_memory_bytes",
        "gauge",
        "Each running channel's process resident memory.",
        all.iter()
            .filter_map(|v| {
                let kb = rss_kb(v.pid?)?;
                Some(format!(
                    "playout_host_child_resident_memory_bytes{{channel=\"{}\"}} {}",
                    escape(&v.id),
                    kb * 1024
                ))
            })
            .collect(),
    );
    m.own(
        "playout_host_resident_memory_bytes",
        "gauge",
        "The host process's own resident memory.",
        rss_kb(std::process::id())
            .map(|kb| vec![format!("playout_host_resident_memory_bytes {}", kb * 1024)])
            .unwrap_or_default(),
    );
    text(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        m.render(),
    )
}

/// VmRSS of a process, in kB.
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `/playlist.m3u`: `#EXTM3U`, then for each channel that runs or will
/// `#EXTINF:-1 tvg-id="ID" tvg-name="NAME",NAME` and its HLS URL at this host.
fn m3u(req: &Request<Incoming>, front: &Front) -> Reply {
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| front.listen.to_string());
    let mut out = String::from("#EXTM3U\n");
    for v in front.registry.all() {
        if v.state == ChildState::Failed {
            continue;
        }
        let name: String = v
            .name
            .chars()
            .map(|c| if c == '"' || c == ',' { ' ' } else { c })
            .collect();
        let _ = writeln!(
            out,
            "#EXTINF:-1 tvg-id=\"{id}\" tvg-name=\"{name}\",{name}\nhttp://{host}/c/{id}/hls/index.m3u8",
            id = v.id
        );
    }
    text(StatusCode::OK, "audio/x-mpegurl; charset=utf-8", out)
}

/// `/epg.xml`: one XMLTV guide of every running channel, each under its id.
async fn epg(registry: &Registry) -> Reply {
    let parts = parts_of(registry, "/epg.xml").await;
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE tv SYSTEM \"xmltv.dtd\">\n<tv generator-info-name=\"playout\">\n",
    );
    for (v, body) in &parts {
        if let Some(b) = body {
            out.push_str(&guide_body(b, &v.id));
        }
    }
    out.push_str("</tv>\n");
    text(StatusCode::OK, "application/xml; charset=utf-8", out)
}

/// A channel's guide (as `epg::to_xmltv` writes it) between `<tv …>` and `</tv>`, with its
/// channel id made `id`.
fn guide_body(xml: &str, id: &str) -> String {
    let Some(start) = xml
        .find("<tv ")
        .and_then(|i| xml[i..].find('>').map(|j| i + j + 1))
    else {
        return String::new();
    };
    let end = xml.rfind("</tv>").unwrap_or(xml.len()).max(start);
    let inner = &xml[start..end];
    let old = inner
        .find("<channel id=\"")
        .map(|i| i + "<channel id=\"".len())
        .and_then(|i| inner[i..].find('"').map(|j| &inner[i..i + j]));
    let inner = inner.trim_start_matches('\n');
    match old {
        Some(old) => inner
            .replace(
                &format!("<channel id=\"{old}\""),
                &format!("<channel id=\"{id}\""),
            )
            .replace(
                &format!(" channel=\"{old}\""),
                &format!(" channel=\"{id}\""),
            ),
        None => inner.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::guide_body;

    #[test]
    fn a_channels_guide_is_put_under_its_id() {
        let xml = crate::epg::to_xmltv("News 24", &[]);
        let body = guide_body(&xml, "news");
        assert!(body.contains("<channel id=\"news\">"), "{body}");
        assert!(
            body.contains("<display-name>News 24</display-name>"),
            "{body}"
        );
        assert!(!body.contains("<tv"), "{body}");
        assert!(!body.contains("</tv>"), "{body}");
    }
}
