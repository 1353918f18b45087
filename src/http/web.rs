//! The watch page: `web/`'s build (index.html, its script and style), embedded in the binary
//! by `build.rs`, so the binary serves it alone, with no network and no CDN. It reads only
//! the public API and `/hls/`, as any other player would.

use hyper::header::HeaderValue;
use hyper::{Request, StatusCode};

use super::{bytes, Reply};

/// One built file of the page.
struct Asset {
    path: &'static str,
    ctype: &'static str,
    body: &'static [u8],
    /// A hash of the body, quoted, for `ETag` and `If-None-Match`.
    etag: &'static str,
}

// `static ASSETS: &[Asset]`, written by build.rs from web/'s build.
include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The page's files by path (`/` is `/index.html`); `None` for anything else.
pub(crate) fn get<B>(req: &Request<B>, path: &str) -> Option<Reply> {
    let path = match path {
        "/" => "/index.html",
        "/console" | "/console/" => "/console.html",
        p => p,
    };
    let asset = ASSETS.iter().find(|a| a.path == path)?;
    let fresh = req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag));
    let mut r = if fresh {
        bytes(StatusCode::NOT_MODIFIED, asset.ctype, Default::default())
    } else {
        bytes(StatusCode::OK, asset.ctype, asset.body.into())
    };
    let h = r.headers_mut();
    // Revalidated on every load, so a new binary's page is seen at once; unchanged files
    // cost a 304.
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    h.insert("etag", HeaderValue::from_static(asset.etag));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Some(r)
}
