//! The watch page at `/`, in a real browser: Debian's Chromium, driven by playwright-core
//! (`web/test/watch.mjs`, which holds the checks), against a paced channel playing to its
//! built-in HLS output. Midway the harness `kill -9`s playout and starts it again under the
//! open page, which must play on.
//!
//! Kept as an artefact: `target/test-artifacts/watch/watch.png`, the page while live.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::hls::*;
use common::live::Playout;
use common::timeline::clip;
use common::*;

fn web() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

#[test]
fn the_watch_page_plays_live_in_chromium_and_survives_a_restart() {
    assert!(
        web().join("node_modules/playwright-core").is_dir(),
        "web/node_modules has no playwright-core: run `make deps` (npm ci in web/)"
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let playlist = write_playlist(
        dir.path(),
        &[
            ItemSpec::clip(clip("red_4s")).title("Red"),
            ItemSpec::clip(clip("plain_4s")).title("Plain"),
        ],
    );
    let ch = write_channel(
        dir.path(),
        "Watch test",
        320,
        180,
        "30",
        &playlist,
        &format!(
            "outputs:\n  - name: web\n    url: hls:hls\nhttp: {{ listen: \"127.0.0.1:{port}\" }}\n"
        ),
    );
    let ch = ch.to_str().unwrap().to_string();
    let folder = dir.path().join("hls");
    let mut playout = Playout::spawn(&["run", &ch], &[]);
    wait_for_segments(&mut playout, &folder, 3);

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/watch");
    let mut node = Command::new("node")
        .arg(web().join("test/watch.mjs"))
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(&artifacts)
        .env("WATCH_RED_TITLE", "Red")
        .env("WATCH_RESTART", "1")
        .current_dir(web())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node (web/test/watch.mjs) could not start: is Node.js installed?");
    let mut answer = node.stdin.take().unwrap();
    let mut report = None;
    let mut restarted = false;
    for line in BufReader::new(node.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        println!("{line}");
        if line == "WATCH_RESTART" {
            // SIGKILL, as a crash would, then the same channel again on the same port.
            drop(playout);
            playout = Playout::spawn(&["run", &ch], &[]);
            writeln!(answer, "restarted").unwrap();
            restarted = true;
        } else if let Some(json) = line.strip_prefix("WATCH_REPORT ") {
            report = Some(serde_json::from_str::<serde_json::Value>(json).unwrap());
        }
    }
    let status = node.wait().unwrap();
    assert!(
        playout.is_running(),
        "playout exited:\n{}",
        tail(&playout.stderr(), 40)
    );
    let report = report.expect("watch.mjs printed no WATCH_REPORT");
    assert!(
        status.success(),
        "the watch page failed: {}\nplayout stderr:\n{}",
        report["failures"],
        tail(&playout.stderr(), 30)
    );
    assert!(restarted, "watch.mjs never asked for the restart");
    // What watch.mjs measured, checked here too so that a report that says nothing fails.
    let delay = &report["delay"];
    let worst = delay["worst_ms"].as_f64().unwrap();
    assert!(worst > 0.0 && worst <= 6000.0, "delay {delay}");
    let apart = report["viewers_apart"]["worst_ms"].as_f64().unwrap();
    assert!(apart <= 500.0, "viewers {apart} ms apart");
    assert!(report["titles"]["compared"].as_u64().unwrap() >= 10);
    assert!(report["restart"]["live_again_ms"].as_f64().is_some());
    assert!(artifacts.join("watch.png").is_file(), "no screenshot");
    println!("screenshot: {}", artifacts.join("watch.png").display());
}
