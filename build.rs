//! Builds the watch page (`web/`, bundled by the esbuild pinned in web/package-lock.json) and
//! embeds it: writes `$OUT_DIR/web_assets.rs`, a table of every built file, for
//! `src/http/web.rs` to include. `npm ci` runs first when web/node_modules is missing or
//! older than the lock file. `PLAYOUT_WEB_DIST=DIR` embeds an already-built folder instead
//! (for packagers that build the page in a separate step).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    let web = root.join("web");
    println!("cargo:rerun-if-env-changed=PLAYOUT_WEB_DIST");
    let dist = match std::env::var_os("PLAYOUT_WEB_DIST").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => {
            for p in ["src", "build.mjs", "package.json", "package-lock.json"] {
                println!("cargo:rerun-if-changed=web/{p}");
            }
            let dist = out.join("web");
            build_page(&web, &dist);
            dist
        }
    };
    fs::write(out.join("web_assets.rs"), table(&dist)).expect("write web_assets.rs");
}

fn build_page(web: &Path, dist: &Path) {
    let stamp = web.join("node_modules/.package-lock.json");
    let lock = web.join("package-lock.json");
    let stale = match (fs::metadata(&stamp), fs::metadata(&lock)) {
        (Ok(s), Ok(l)) => match (s.modified(), l.modified()) {
            (Ok(s), Ok(l)) => s < l,
            _ => true,
        },
        _ => true,
    };
    if stale {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(web),
            "npm ci (in web/)",
        );
    }
    let _ = fs::remove_dir_all(dist);
    run(
        Command::new("node").arg(web.join("build.mjs")).arg(dist),
        "node web/build.mjs",
    );
}

fn run(cmd: &mut Command, what: &str) {
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{what} failed ({s}): the watch page cannot be built"),
        Err(e) => panic!(
            "{what} could not start ({e}): the watch page needs Node.js and npm to build \
             (`make deps` installs them; or set PLAYOUT_WEB_DIST to a built page)"
        ),
    }
}

/// `static ASSETS: &[Asset] = &[…];` with every file of `dist`, by URL path.
fn table(dist: &Path) -> String {
    let mut files: Vec<PathBuf> = fs::read_dir(dist)
        .unwrap_or_else(|e| panic!("cannot read the built page {}: {e}", dist.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("index.html")),
        "the built page {} has no index.html",
        dist.display()
    );
    let mut s = String::from("static ASSETS: &[Asset] = &[\n");
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).expect("utf-8 name");
        let body = fs::read(&f).expect("read a built file");
        let ctype = match f.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("ico") => "image/x-icon",
            Some("json") => "application/json",
            _ => "application/octet-stream",
        };
        let _ = writeln!(
            s,
            "    Asset {{ path: {:?}, ctype: {ctype:?}, body: include_bytes!({:?}), etag: \"\\\"{:016x}\\\"\" }},",
            format!("/{name}"),
            f.display().to_string(),
            fnv1a(&body)
        );
    }
    s.push_str("];\n");
    s
}

fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100000001b3)
    })
}
