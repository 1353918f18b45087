//! The HLS outputs' files: `/hls/NAME/index.m3u8` and `/hls/NAME/seg-N.ts`, and the first
//! HLS output also at `/hls/index.m3u8` (and its segments beside it). The outputs are those
//! playing now: one added by a reload is served from then on, one removed is a 404.
//!
//! Only those two shapes of name are served, matched on the raw path: temporary files,
//! other names, anything with an escape or a `..` is a 404 before the file system is asked,
//! so no path can leave the output's folder. A segment that is not (or no longer) there is
//! a 404, never a 500. Playlists change every segment and are `no-cache`; a segment never
//! changes once renamed into place and may be cached.

use hyper::header::HeaderValue;
use hyper::{Request, StatusCode};

use super::{allow_cors, bytes, not_found, text, HlsFolder, Reply, State};
use crate::config::{OutputConfig, OutputTarget};
use crate::output::hls::playlist::{segment_seq, PLAYLIST_NAME};

/// The HLS outputs among `outputs`, in their order: the first is also `/hls/index.m3u8`.
pub(super) fn folders(outputs: &[OutputConfig]) -> Vec<HlsFolder> {
    outputs
        .iter()
        .filter_map(|o| match o.target() {
            Ok(OutputTarget::Hls(folder)) => Some(HlsFolder {
                name: o.name.clone(),
                folder,
            }),
            _ => None,
        })
        .collect()
}

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const SEGMENT_TYPE: &str = "video/mp2t";

pub(super) async fn get<B>(req: &Request<B>, rest: &str, state: &State) -> Reply {
    let (name, file) = match rest.split_once('/') {
        Some((name, file)) => (Some(name), file),
        None => (None, rest),
    };
    let hls = folders(&state.outputs.get());
    let out = match name {
        None => hls.first(),
        Some(n) => hls.iter().find(|h| h.name == n),
    };
    let Some(out) = out else {
        return cors(not_found());
    };
    let (ctype, cache) = if file == PLAYLIST_NAME {
        (PLAYLIST_TYPE, "no-cache")
    } else if segment_seq(file).is_some() {
        (SEGMENT_TYPE, "public, max-age=3600")
    } else {
        return cors(not_found());
    };
    let body = match tokio::fs::read(out.folder.join(file)).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return cors(not_found()),
        Err(e) => {
            tracing::debug!(output = %out.name, file, error = %e, "HLS file unreadable.");
            return cors(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "the file cannot be read now\n".into(),
            ));
        }
    };
    let range = req
        .headers()
        .get("range")
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, body.len() as u64));
    let mut r = match range {
        Some(Range::Unsatisfiable) => {
            let mut r = text(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "text/plain",
                "range not satisfiable\n".into(),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", body.len())) {
                r.headers_mut().insert("content-range", v);
            }
            r
        }
        Some(Range::Bytes(from, to)) => {
            let len = body.len();
            let part = body[from as usize..=to as usize].to_vec();
            let mut r = bytes(StatusCode::PARTIAL_CONTENT, ctype, part.into());
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {from}-{to}/{len}")) {
                r.headers_mut().insert("content-range", v);
            }
            r
        }
        Some(Range::Ignored) | None => bytes(StatusCode::OK, ctype, body.into()),
    };
    let h = r.headers_mut();
    h.insert("cache-control", HeaderValue::from_static(cache));
    h.insert("accept-ranges", HeaderValue::from_static("bytes"));
    cors(r)
}

fn cors(mut r: Reply) -> Reply {
    allow_cors(&mut r);
    r
}

#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// Inclusive byte positions.
    Bytes(u64, u64),
    Unsatisfiable,
    /// Not a single byte range we understand: answer with the whole file (RFC 9110 §14.2).
    Ignored,
}

/// One `bytes=` range of a body of `len` bytes: `A-B`, `A-` or `-N`.
fn parse_range(header: &str, len: u64) -> Range {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Range::Ignored;
    };
    if spec.contains(',') {
        return Range::Ignored;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Ignored;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (a, b) = (a.trim(), b.trim());
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Range::Ignored,
        (true, false) => match num(b) {
            Some(0) => Range::Unsatisfiable,
            Some(n) if len > 0 => Range::Bytes(len.saturating_sub(n), len - 1),
            Some(_) => Range::Unsatisfiable,
            None => Range::Ignored,
        },
        (false, _) => {
            let Some(from) = num(a) else {
                return Range::Ignored;
            };
            let to = if b.is_empty() { Some(u64::MAX) } else { num(b) };
            match to {
                None => Range::Ignored,
                Some(to) if to < from => Range::Ignored,
                Some(_) if from >= len => Range::Unsatisfiable,
                Some(to) => Range::Bytes(from, to.min(len - 1)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use Range::*;
        assert_eq!(parse_range("bytes=0-99", 1000), Bytes(0, 99));
        assert_eq!(parse_range("bytes=900-", 1000), Bytes(900, 999));
        assert_eq!(parse_range("bytes=900-5000", 1000), Bytes(900, 999));
        assert_eq!(parse_range("bytes=-100", 1000), Bytes(900, 999));
        assert_eq!(parse_range("bytes=-5000", 1000), Bytes(0, 999));
        assert_eq!(parse_range("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 1000), Ignored);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Ignored);
        assert_eq!(parse_range("bytes=a-b", 1000), Ignored);
        assert_eq!(parse_range("items=0-1", 1000), Ignored);
        assert_eq!(parse_range("bytes=-", 1000), Ignored);
        assert_eq!(parse_range("bytes=+1-2", 1000), Ignored);
    }
}
