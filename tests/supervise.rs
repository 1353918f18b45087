//! Supervision by systemd, against a real Unix datagram socket standing in for the service
//! manager: `READY=1` after the first frame, `STATUS=` with the title on air, `WATCHDOG=1`
//! at half of `WATCHDOG_USEC` while frames are encoded, `STOPPING=1` on SIGTERM; and, with
//! the encoder frozen by the tests-only fault switch, no more `WATCHDOG=1` within the
//! interval.
mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::edits::signal;
use common::timeline::{clip, red_and_plain};
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
    let playlist = red_and_plain(dir);
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

/// The crash journal's `on_air`, once it names `file` (None after `timeout`).
fn wait_on_air(journal: &std::path::Path, file: &std::path::Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let on_air = std::fs::read(journal)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|j| j["on_air"].as_str().map(std::path::PathBuf::from));
        if on_air.as_deref() == Some(file) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn playout_cmd(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_playout"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run playout");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn a_file_on_air_at_two_abnormal_ends_in_a_row_is_quarantined_until_cleared() {
    let dir = tempfile::tempdir().unwrap();
    // The suspect is an ordinary clip: the test plays the crash with SIGABRT, what systemd's
    // watchdog sends, while it is on air.
    let poison = dir.path().join("poison.mp4");
    std::fs::copy(clip("counted_24s"), &poison).unwrap();
    let playlist = write_playlist(
        dir.path(),
        &[
            ItemSpec::clip(clip("red_4s")).title("Intro"),
            ItemSpec::clip(&poison).title("Poison").out("12s"),
            ItemSpec::clip(clip("plain_4s")).title("Outro"),
        ],
    );
    let ch = write_channel(dir.path(), "quar", 320, 180, "30", &playlist, "");
    let ch = ch.to_str().unwrap();
    let journal = dir.path().join("quar.journal.json");
    let hls = format!("hls:{}", dir.path().join("hls").display());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let args = ["run", ch, "--output", &hls, "--http", &addr, "--for", "10m"];
    let mut failures = Vec::new();

    // Two starts, each killed with SIGABRT 1.5 s after the source took Poison on air.
    for n in 1..=2 {
        let p = Playout::spawn(&args, &[]);
        if !wait_on_air(&journal, &poison, Duration::from_secs(20)) {
            failures.push(format!("start {n}: Poison never on air in the journal"));
        }
        std::thread::sleep(Duration::from_millis(1500));
        signal(p.pid().unwrap(), "ABRT");
        let run = p.wait(Duration::from_secs(60));
        println!("start {n}: ended with {}", run.status);
        if run.status.success() {
            failures.push(format!("start {n}: SIGABRT ended it with success"));
        }
        if n == 2 && !run.stderr.contains("The last run ended abnormally.") {
            failures.push("start 2 did not see the first abnormal end".into());
        }
    }

    // Third start: Poison is slate, its neighbours play.
    let third = Playout::spawn(&args, &[]);
    let t0 = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut seen = (false, false, false);
    while Instant::now() < deadline && !(seen.0 && seen.1 && seen.2) {
        seen.0 |= third
            .line_after(
                t0,
                &["Item failed", "reason=\"quarantined\"", "item=Poison"],
            )
            .is_some();
        seen.1 |= third
            .line_after(t0, &["Item started.", "item=Intro"])
            .is_some();
        seen.2 |= third
            .line_after(t0, &["Item started.", "item=Outro"])
            .is_some();
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "third start: slated Poison {}, Intro {}, Outro {}",
        seen.0, seen.1, seen.2
    );
    let quarantined = third.line_after(t0, &["ERROR", "Quarantined", "poison.mp4"]);
    if quarantined.is_none() {
        failures.push("no ERROR line naming the quarantined file".into());
    }
    if !(seen.0 && seen.1 && seen.2) {
        failures.push(format!(
            "third start: Poison slated {}, Intro played {}, Outro played {}",
            seen.0, seen.1, seen.2
        ));
    }
    if third
        .line_after(t0, &["Item started.", "item=Poison"])
        .is_some()
    {
        failures.push("Poison played while quarantined".into());
    }
    let metrics = http_get(port, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let counted = metrics
        .lines()
        .find(|l| l.starts_with("playout_item_failures_total{reason=\"quarantined\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    println!("playout_item_failures_total{{reason=\"quarantined\"}} {counted}");
    if counted < 1.0 {
        failures.push(format!("quarantined failures counted {counted}"));
    }
    let (ok, listed) = playout_cmd(&["quarantine", "list", ch]);
    println!("quarantine list:\n{listed}");
    if !ok || !listed.contains("poison.mp4: kept off air") || !listed.contains("2 times in a row") {
        failures.push(format!("quarantine list: {listed}"));
    }

    // `clear` while it runs: Poison plays from its next slot.
    let (ok, cleared) = playout_cmd(&["quarantine", "clear", ch, poison.to_str().unwrap()]);
    println!("quarantine clear: {cleared}");
    let t_clear = Instant::now();
    if !ok || !cleared.contains("cleared") {
        failures.push(format!("quarantine clear: {cleared}"));
    }
    let deadline = t_clear + Duration::from_secs(30);
    let mut back = None;
    while Instant::now() < deadline && back.is_none() {
        back = third.line_after(t_clear, &["Item started.", "item=Poison"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    match back {
        Some((t, _)) => println!(
            "Poison back on air {:.1} s after clear",
            (t - t_clear).as_secs_f64()
        ),
        None => failures.push("Poison did not come back within 30 s of clear".into()),
    }
    let (_, listed) = playout_cmd(&["quarantine", "list", ch]);
    if !listed.contains("No file is quarantined") {
        failures.push(format!("after clear, list says: {listed}"));
    }
    if !failures.is_empty() {
        println!("third start stderr:\n{}", tail(&third.stderr(), 40));
    }
    drop(third);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// SIGTERM ends a paced channel within seconds wherever it is, as systemd's stop timeout and
/// the host (a channel file removed) expect: in the middle of a 24 s item played from its
/// conformed copy, and in the middle of 24 s of slate. Neither looked at the stop flag once,
/// so the channel played on to the stretch's end, about 20 s here; the bound of 8 s leaves
/// room for a loaded machine, and the times are printed.
#[test]
fn sigterm_in_the_middle_of_a_copy_or_of_slate_ends_the_channel_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let long = clip("counted_24s");
    let copy_pl = write_playlist_named(d, "copy.yaml", &[ItemSpec::clip(&long).title("Counted")]);
    let slate_pl = write_playlist_named(
        d,
        "slate.yaml",
        &[
            ItemSpec::Slate("24s".into()),
            ItemSpec::clip(&long).title("Counted"),
        ],
    );
    let prepare = "prepare: { folder: copies, background: false }\n";
    let copy_ch = write_channel(d, "stopcopy", 320, 180, "30", &copy_pl, prepare);
    let slate_ch = write_channel(
        d,
        "stopslate",
        320,
        180,
        "30",
        &slate_pl,
        "prepare: false\n",
    );
    let r = run_playout_timeout(
        &["prepare", copy_ch.to_str().unwrap()],
        Duration::from_secs(120),
    );
    assert!(r.status.success(), "prepare: {}", tail(&r.stderr, 20));

    // Started side by side; each stopped 3 s after its long stretch is on air.
    let stop = |ch: &std::path::Path, kind: &'static str| {
        let out = format!("file:{}", d.join(format!("{kind}.flv")).display());
        let t0 = Instant::now();
        let p = Playout::spawn(&["run", ch.to_str().unwrap(), "--output", &out], &[]);
        let on_air = p.wait_line_after(
            t0,
            &["On air.", &format!("kind=\"{kind}\"")],
            Duration::from_secs(30),
        );
        assert!(
            on_air.is_some(),
            "{kind}: not on air\n{}",
            tail(&p.stderr(), 30)
        );
        std::thread::sleep(Duration::from_secs(3));
        let asked = Instant::now();
        signal(p.pid().unwrap(), "TERM");
        let run = p.wait(Duration::from_secs(90));
        (kind, asked.elapsed(), run)
    };
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(|| stop(&copy_ch, "copy"));
        let b = sc.spawn(|| stop(&slate_ch, "slate"));
        (a.join().unwrap(), b.join().unwrap())
    });
    let runs = [a, b];
    for (kind, took, _) in &runs {
        println!(
            "SIGTERM during {kind}: the channel ended {:.2} s later",
            took.as_secs_f64()
        );
    }
    for (kind, took, run) in runs {
        assert!(run.status.success(), "{kind}: {}", tail(&run.stderr, 30));
        assert!(
            run.stderr.contains("Channel stopped."),
            "{kind}: {}",
            tail(&run.stderr, 30)
        );
        assert!(
            took < Duration::from_secs(8),
            "{kind}: the channel ended {took:?} after SIGTERM\n{}",
            tail(&run.stderr, 30)
        );
    }
}
