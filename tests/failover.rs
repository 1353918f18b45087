//! Failover in a browser: two instances of one channel in lockstep (the same channel file
//! with `anchor:`, each with its own HLS output and HTTP port) and the first's watch page,
//! given both (`?src=A,B`, or a multivariant playlist listing both as redundant streams), in
//! Debian's Chromium. When the page has played for a while, the harness SIGKILLs the
//! instance it plays from; `web/test/failover.mjs` measures in the page the longest gap
//! between presented frames over the next 10 s (under 1 s), that playback goes on (5 s or
//! more), from the other origin, and the delay behind the schedule before and after (the
//! same within 1 s). It prints `FAILOVER stall_ms=… delay_before_s=… delay_after_s=…`.
//!
//! Kept as an artefact: `target/test-artifacts/failover[-multivariant]/failover.png`.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::hls::*;
use common::live::Playout;
use common::timeline::clip;
use common::*;

const ANCHOR: &str = "2026-01-01T00:00:00Z";

fn web() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// One instance's channel file: the shared playlist and anchor, its own state, HLS folder
/// and HTTP port.
fn instance(dir: &Path, name: &str, playlist: &Path, port: u16) -> (PathBuf, PathBuf) {
    let hls = dir.join(format!("hls-{name}"));
    let file = ChannelFile::new(name, playlist)
        .extra(&format!(
            "anchor: {ANCHOR}\nstate: {name}.state.json\noutputs:\n  - name: web\n    url: {}\n\
             http: {{ listen: \"127.0.0.1:{port}\" }}\n",
            q(&format!("hls:{}", hls.display()))
        ))
        .write(dir);
    (file, hls)
}

/// How the page is given the two origins.
#[derive(Clone, Copy, PartialEq)]
enum Sources {
    /// `?src=A,B`.
    Both,
    /// `?src=M`, M a multivariant playlist listing A and B as redundant streams.
    Multivariant,
}

fn fail_over(sources: Sources) {
    assert!(
        web().join("node_modules/playwright-core").is_dir(),
        "web/node_modules has no playwright-core: run `make deps` (npm ci in web/)"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let playlist = write_playlist(
        d,
        &[
            ItemSpec::clip(clip("red_4s")).title("Red"),
            ItemSpec::clip(clip("plain_4s")).title("Plain"),
        ],
    );
    let ports = [free_port(), free_port()];
    let (fa, ha) = instance(d, "a", &playlist, ports[0]);
    let (fb, hb) = instance(d, "b", &playlist, ports[1]);
    let mut a = Playout::spawn(&["run", fa.to_str().unwrap()], &[]);
    // Started apart, not on a segment boundary: lockstep makes the same segments anyway.
    thread::sleep(Duration::from_millis(1300));
    let mut b = Playout::spawn(&["run", fb.to_str().unwrap()], &[]);
    wait_for_segments(&mut a, &ha, 3);
    wait_for_segments(&mut b, &hb, 3);

    let urls = ports.map(|p| format!("http://127.0.0.1:{p}/hls/index.m3u8"));
    let page = format!("http://127.0.0.1:{}/", ports[0]);
    let mut node = Command::new("node");
    let artifacts = match sources {
        Sources::Both => {
            node.arg(web().join("test/failover.mjs"))
                .arg(format!("{page}?src={},{}", urls[0], urls[1]));
            "failover"
        }
        Sources::Multivariant => {
            // Served by the browser itself (failover.mjs routes it): no origin has one.
            let manifest = format!("http://127.0.0.1:{}/failover/redundant.m3u8", ports[0]);
            let variant = "#EXT-X-STREAM-INF:BANDWIDTH=600000,RESOLUTION=320x180";
            node.arg(web().join("test/failover.mjs"))
                .arg(format!("{page}?src={manifest}"))
                .env("FAILOVER_ROUTE", &manifest)
                .env(
                    "FAILOVER_ROUTE_BODY",
                    format!("#EXTM3U\n{variant}\n{}\n{variant}\n{}\n", urls[0], urls[1]),
                );
            "failover-multivariant"
        }
    };
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-artifacts")
        .join(artifacts);
    let mut node = node
        .arg(&artifacts)
        .current_dir(web())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node (web/test/failover.mjs) could not start: is Node.js installed?");
    let mut answer = node.stdin.take().unwrap();
    let mut instances = [Some(a), Some(b)];
    let mut report = None;
    let mut killed = None;
    for line in BufReader::new(node.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        println!("{line}");
        if let Some(i) = line.strip_prefix("FAILOVER_KILL ") {
            let i: usize = i.parse().expect("FAILOVER_KILL INDEX");
            // SIGKILL, as a crash or a lost machine would: no goodbye to the page.
            drop(instances[i].take().expect("that instance is running"));
            writeln!(answer, "killed").unwrap();
            killed = Some(i);
        } else if let Some(json) = line.strip_prefix("FAILOVER_REPORT ") {
            report = Some(serde_json::from_str::<serde_json::Value>(json).unwrap());
        }
    }
    let status = node.wait().unwrap();
    let killed = killed.expect("failover.mjs never asked for the kill");
    let survivor = instances[1 - killed].as_mut().unwrap();
    assert!(
        survivor.is_running(),
        "the other instance exited:\n{}",
        tail(&survivor.stderr(), 40)
    );
    let report = report.expect("failover.mjs printed no FAILOVER_REPORT");
    assert!(
        status.success(),
        "the failover failed: {}\nthe other instance's stderr:\n{}",
        report["failures"],
        tail(&survivor.stderr(), 30)
    );
    // What failover.mjs measured, checked here too so that a report that says nothing fails.
    let num = |k: &str| {
        report[k]
            .as_f64()
            .unwrap_or_else(|| panic!("no {k}: {report}"))
    };
    assert!(num("stall_ms") < 1000.0, "stall {report}");
    assert!(num("advance_s") >= 5.0, "advance {report}");
    let (before, after) = (num("delay_before_s"), num("delay_after_s"));
    assert!(
        before > 0.0 && (after - before).abs() < 1.0,
        "delay {before} s -> {after} s"
    );
    assert_eq!(
        report["origin_after"]["url"].as_str(),
        Some(urls[1 - killed].as_str()),
        "{report}"
    );
    assert!(artifacts.join("failover.png").is_file(), "no screenshot");
}

#[test]
fn the_watch_page_fails_over_to_the_other_origin_in_chromium() {
    fail_over(Sources::Both);
}

#[test]
fn a_multivariant_playlist_of_two_redundant_streams_fails_over_in_chromium() {
    fail_over(Sources::Multivariant);
}
