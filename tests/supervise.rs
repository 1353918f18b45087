//! Supervision by systemd, against a real Unix datagram socket standing in for the service
//! manager: `READY=1` after the first frame, `STATUS=` with the title on air, `WATCHDOG=1`
//! at half of `WATCHDOG_USEC` while frames are encoded, `STOPPING=1` on SIGTERM; and, with
//! the encoder frozen by the tests-only fault switch, no more `WATCHDOG=1` within the
//! interval.
mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::edits::signal;
use common::timeline::clip;
use common::*;

/// Every datagram that arrives until `until` says stop (or `limit` passes), with when.
fn collect(
    sock: &UnixDatagram,
    limit: Duration,
    mut until: impl FnMut(&[(Instant, String)]) -> bool,
) -> Vec<(Instant, String)> {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !until(&got) {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push((
                Instant::now(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
    }
    got
}

fn pings(msgs: &[(Instant, String)]) -> Vec<Instant> {
    msgs.iter()
        .filter(|(_, m)| m == "WATCHDOG=1")
        .map(|(t, _)| *t)
        .collect()
}

fn channel(dir: &std::path::Path) -> std::path::PathBuf {
    let playlist = write_playlist(
        dir,
        &[
            ItemSpec::clip(clip("red_4s")).title("Red"),
            ItemSpec::clip(clip("plain_4s")).title("Plain"),
        ],
    );
    write_channel(dir, "sup", 320, 180, "30", &playlist, "")
}

#[test]
fn sd_notify_ready_status_watchdog_stopping_and_a_frozen_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let ch = channel(dir.path());
    let ch = ch.to_str().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let hls = format!("hls:{}", dir.path().join("hls").display());
    // WatchdogSec=4: a ping every 2 s.
    let env = [
        ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
        ("WATCHDOG_USEC", "4000000"),
    ];
    let mut failures = Vec::new();

    // 1. A healthy run, stopped with SIGTERM after 11 s.
    let p = Playout::spawn(&["run", ch, "--output", &hls, "--for", "60s"], &env);
    let t0 = Instant::now();
    let mut termed = false;
    let pid = p.pid().unwrap();
    let msgs = collect(&sock, Duration::from_secs(30), |got| {
        if !termed && t0.elapsed() > Duration::from_secs(11) {
            signal(pid, "TERM");
            termed = true;
        }
        got.iter().any(|(_, m)| m == "STOPPING=1")
    });
    let run = p.wait(Duration::from_secs(40));
    let encoders_open = run.stderr.contains("Encoders open.");
    println!("healthy run: {} messages", msgs.len());
    for (t, m) in &msgs {
        println!("  {:6.2} s  {m}", (*t - t0).as_secs_f64());
    }
    let ready = msgs.iter().position(|(_, m)| m == "READY=1");
    match ready {
        None => failures.push("no READY=1".to_string()),
        Some(i) => {
            if msgs[..i].iter().any(|(_, m)| m.starts_with("WATCHDOG")) {
                failures.push("WATCHDOG=1 before READY=1".into());
            }
        }
    }
    if !encoders_open {
        failures.push("the run never opened its encoders".into());
    }
    let ps = pings(&msgs);
    let gaps: Vec<f64> = ps.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    println!("watchdog gaps (s): {gaps:.2?}");
    if ps.len() < 4 {
        failures.push(format!(
            "only {} WATCHDOG=1 in ~10 s at a 2 s interval",
            ps.len()
        ));
    }
    if let Some(g) = gaps.iter().find(|g| **g < 1.7 || **g > 2.5) {
        failures.push(format!("a watchdog gap of {g:.2} s, interval 2 s"));
    }
    for title in ["STATUS=Playing: Red", "STATUS=Playing: Plain"] {
        if !msgs.iter().any(|(_, m)| m == title) {
            failures.push(format!("no {title}"));
        }
    }
    if !msgs.iter().any(|(_, m)| m == "STOPPING=1") {
        failures.push("no STOPPING=1 after SIGTERM".into());
    }
    if !run.status.success() {
        failures.push(format!("SIGTERM ended the run with {}", run.status));
    }

    // 2. The encoder hangs 6 s of channel time in; the process stays alive.
    let p = Playout::spawn(
        &[
            "run",
            ch,
            "--output",
            &hls,
            "--for",
            "60s",
            "--test-freeze-after",
            "6s",
        ],
        &env,
    );
    let t0 = Instant::now();
    let mut frozen_at: Option<Instant> = None;
    let msgs = collect(&sock, Duration::from_secs(30), |_| {
        if frozen_at.is_none() {
            frozen_at = p.line_after(t0, &["Test fault"]).map(|(t, _)| t);
        }
        frozen_at.is_some_and(|f| f.elapsed() > Duration::from_secs(10))
    });
    let mut p = p;
    let alive = p.is_running();
    let stderr = p.stderr();
    drop(p);
    let ps = pings(&msgs);
    match frozen_at {
        None => failures.push("the fault switch never froze the encoder".into()),
        Some(f) => {
            let before = ps.iter().filter(|t| **t < f).count();
            let after: Vec<f64> = ps
                .iter()
                .filter(|t| **t >= f)
                .map(|t| (*t - f).as_secs_f64())
                .collect();
            println!(
                "frozen run: {before} pings before the freeze; after it, pings at {after:.2?} s"
            );
            if before < 1 {
                failures.push("no ping before the freeze".into());
            }
            if let Some(last) = after.last() {
                if *last >= 4.0 {
                    failures.push(format!(
                        "a ping {last:.2} s after the freeze (WatchdogSec 4 s)"
                    ));
                }
            }
            if !stderr.contains("Withholding the watchdog ping") {
                failures.push("no log line for the withheld ping".into());
            }
        }
    }
    if !alive {
        failures.push("the frozen process exited: the test needs it hung, alive".into());
    }
    if !failures.is_empty() {
        println!("stderr of the frozen run:\n{}", tail(&stderr, 20));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
