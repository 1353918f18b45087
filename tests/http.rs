//! /metrics and /healthz during a paced run that includes a broken item: the contract
//! metrics are present and move as they should, and health reports progress.
mod common;

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::nginx::free_port;
use common::*;

#[test]
fn metrics_and_health_follow_a_paced_run() {
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let items = [
        ItemSpec::clip(dir.path().join("not-there.mp4")),
        ItemSpec::clip(&fixture("landscape_25").path),
        ItemSpec::slate("1s"),
    ];
    let playlist = write_playlist(dir.path(), &items);
    let channel = write_channel(dir.path(), "metrics", 320, 180, "30", &playlist, "");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let url = nginx.url("metrics");
    let child = Command::new(env!("CARGO_BIN_EXE_playout"))
        .args(["run", channel.to_str().unwrap(), "--output", &url])
        .args(["--http", &addr, "--for", "6s"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Scrape once the first item (missing: 2 s of failure slate) and part of the clip are on.
    let started = Instant::now();
    let mut health = None;
    while started.elapsed() < Duration::from_secs(10) && health.is_none() {
        thread::sleep(Duration::from_millis(200));
        if started.elapsed() > Duration::from_secs(3) {
            health = http_get(port, "/healthz");
        }
    }
    let (hs, hbody) = health.expect("/healthz answered");
    let (ms, scrape) = http_get(port, "/metrics").expect("/metrics answered");
    let (nf, _) = http_get(port, "/nope").expect("404 answered");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "playout failed:\n{}",
        tail(&stderr, 30)
    );

    println!("/healthz {hs} {hbody}");
    assert_eq!(hs, 200, "healthy while encoding: {hbody}");
    assert!(hbody.contains("\"ok\""));
    assert_eq!(ms, 200);
    assert_eq!(nf, 404);
    for name in [
        "playout_video_frames_encoded_total",
        "playout_encoded_seconds_total",
        "playout_item_transitions_total",
        "playout_slate_seconds_total",
        "playout_item_failures_total{reason=\"missing\"}",
        "playout_output_connected{output=\"output0\"}",
        "playout_output_bytes_total{output=\"output0\"}",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(
            sample(&scrape, name).is_some(),
            "{name} missing from:\n{scrape}"
        );
    }
    let v = |n| sample(&scrape, n).unwrap();
    println!(
        "frames {} transitions {} slate {} s failures(missing) {} connected {}",
        v("playout_video_frames_encoded_total"),
        v("playout_item_transitions_total"),
        v("playout_slate_seconds_total"),
        v("playout_item_failures_total{reason=\"missing\"}"),
        v("playout_output_connected{output=\"output0\"}")
    );
    assert!(
        v("playout_video_frames_encoded_total") >= 60.0,
        "at least 2 s encoded"
    );
    assert!(
        v("playout_item_transitions_total") >= 2.0,
        "the failed item and the clip"
    );
    // The source runs a few seconds ahead of the clock (bounded queues), so the rotation may
    // already have come round to the missing file again.
    assert!(v("playout_item_failures_total{reason=\"missing\"}") >= 1.0);
    assert!(
        v("playout_slate_seconds_total") >= 2.0,
        "a failure costs the 2 s slate"
    );
    assert_eq!(v("playout_output_connected{output=\"output0\"}"), 1.0);
    assert!(stderr.contains("not-there.mp4") && stderr.contains("reason=\"missing\""));
    assert!(
        !stderr.contains(&url),
        "the stream URL must be redacted in logs"
    );
}
