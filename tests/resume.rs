//! Crash-only resume, end to end: `kill -9` a paced channel 7 s into a 20 s item and start it
//! again with the same channel file. `/api/v1/now` must show the same item with the same
//! `started_at`, and the second publish session must pick the item up at the offset the wall
//! clock says, frame for frame (the item's frames carry their own number).
mod common;

use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use common::timeline::*;
use common::*;

const FPS: f64 = 30.0;

/// `/api/v1/now` once it answers (None after `timeout`).
fn now_api(port: u16, timeout: Duration) -> Option<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some((200, v)) = get_json(port, "/api/v1/now") {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn started_at(v: &Value) -> Option<DateTime<Utc>> {
    parse_time(v["current"]["started_at"].as_str()?)
}

/// The "Item started." line for `item` at or after `t`: its `from=` offset in seconds.
fn item_from(p: &Playout, t: Instant, item: &str) -> Option<f64> {
    let (_, line) = p.line_after(t, &["Item started.", &format!("item={item}")])?;
    let from = line.split("from=").nth(1)?.split_whitespace().next()?;
    parse_secs(from)
}

/// "7.25s", "7s", "1m2.5s", "0.5ms" as logged.
fn parse_secs(s: &str) -> Option<f64> {
    if let Some(ms) = s.strip_suffix("ms") {
        return Some(ms.parse::<f64>().ok()? / 1000.0);
    }
    let s = s.strip_suffix('s')?;
    let (m, sec) = s.split_once('m').unwrap_or(("0", s));
    Some(m.parse::<f64>().ok()? * 60.0 + sec.parse::<f64>().ok()?)
}

#[test]
fn kill_9_mid_item_resumes_the_same_item_at_the_wall_clock_offset() {
    let clock = WallClock::new();
    let nginx = Nginx::start();
    let watch = PublishWatch::start(&nginx, "resume");
    let dir = tempfile::tempdir().unwrap();
    let playlist = write_playlist(
        dir.path(),
        &[
            ItemSpec::clip(&fixture("landscape_25").path).title("Intro"),
            ItemSpec::clip(clip("counted_24s"))
                .title("Counted")
                .out("20s"),
        ],
    );
    let channel = write_channel(dir.path(), "resume", 320, 180, "30", &playlist, "");
    let state_path = dir.path().join("resume.state.json");
    let port = free_port();
    let (addr, url) = (format!("127.0.0.1:{port}"), nginx.url("resume"));
    let ch = channel.to_str().unwrap();
    let args = |for_: &'static str| -> Vec<String> {
        ["run", ch, "--output", &url, "--http", &addr, "--for", for_]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let spawn =
        |a: Vec<String>| Playout::spawn(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);

    // Run 1: Intro 0-2 s, Counted 2-22 s; killed 9 s after the anchor (7 s into Counted).
    let first = spawn(args("60s"));
    let state0 = wait_state(&state_path, Duration::from_secs(10)).expect("state file written");
    let anchor = parse_time(state0["anchor"].as_str().unwrap_or("")).expect("anchor");
    let kill_at = at_secs(anchor, 9.0);
    thread::sleep((kill_at - Utc::now()).to_std().unwrap_or_default());
    let before = now_api(port, Duration::from_secs(2)).expect("/api/v1/now before the kill");
    let state1 = wait_state(&state_path, Duration::from_secs(1)).expect("state file");
    let first_stderr = first.stderr();
    drop(first); // `Child::kill`: SIGKILL, no chance to clean up.
    let killed = Utc::now();

    // Run 2, at once, with the same channel file (and so the same state file).
    let respawned = Instant::now();
    let second = spawn(args("16s"));
    let after = now_api(port, Duration::from_secs(10)).expect("/api/v1/now after the restart");
    let publish2 = watch.wait_after(respawned, Duration::from_secs(10));
    let starting = second
        .line_after(respawned, &["Channel starting."])
        .map(|(t, _)| t);
    let resumed_from = item_from(&second, respawned, "Counted");
    let run2 = second.wait(Duration::from_secs(60));
    let state2 = wait_state(&state_path, Duration::from_secs(1));

    println!("run 1 stderr:\n{}", tail(&first_stderr, 12));
    println!(
        "run 2: {} ; stderr:\n{}",
        run2.status,
        tail(&run2.stderr, 12)
    );
    println!(
        "state at start: {state0}\nstate at the kill: {state1}\nstate after run 2: {state2:?}"
    );
    println!("/api/v1/now before the kill: {before}\n/api/v1/now after the restart: {after}");
    let mut failures = Vec::new();
    if !run2.status.success() {
        failures.push(format!("the restarted run exited with {}", run2.status));
    }
    if state1["anchor"] != state0["anchor"] || state1["on_air"] != "Counted" {
        failures.push(format!(
            "the state file at the kill should keep the anchor and name Counted: {state1}"
        ));
    }

    // The API: same item, same slot start.
    let (s_before, s_after) = (started_at(&before), started_at(&after));
    let drift = s_before.zip(s_after).map(|(a, b)| secs(a, b));
    println!(
        "API: started_at {} before, {} after: difference {}",
        before["current"]["started_at"],
        after["current"]["started_at"],
        drift.map_or("n/a".into(), |d| format!("{:+.1} ms", d * 1000.0))
    );
    for (name, v) in [("before", &before), ("after", &after)] {
        if v["current"]["title"] != "Counted" || v["current"]["kind"] != "item" {
            failures.push(format!("{name}: current is not the Counted item: {v}"));
        }
    }
    if !matches!(drift, Some(d) if d.abs() <= 0.5) {
        failures.push("started_at differs by more than 0.5 s across the restart".into());
    }
    let slot = s_before.unwrap_or(anchor);
    let slot_off = secs(anchor, slot);
    if (slot_off - 2.0).abs() > 0.05 {
        failures.push(format!(
            "Counted started {slot_off:.3} s after the anchor, not 2 s"
        ));
    }

    // Session 2 of the recording: the first frames are Counted at the wall-clock offset.
    assert!(nginx.wait_idle(Duration::from_secs(10)), "{}", nginx.logs());
    let recs = nginx.recordings_of("resume");
    let sessions = nginx.publish_count("resume");
    println!("{sessions} publish sessions, recordings {recs:?}");
    assert!(
        recs.len() == 2 && sessions == 2,
        "expected 2 sessions and 2 recordings\n{}",
        tail(&nginx.logs(), 30)
    );
    let (report2, problems2) = check_session(&recs[1], (30, 1), &session_expect(320, 180));
    println!("session 2: {report2}");
    failures.extend(problems2.into_iter().map(|p| format!("session 2: {p}")));
    let frames1 = grid_frames(&recs[0]);
    let frames2 = grid_frames(&recs[1]);
    // Session 1 shows Counted from its frame 0 at 2 s.
    match frames1.iter().find(|f| counted_index(f).is_some()) {
        Some(f) if counted_index(f) == Some(0) && (f.pts - slot_off).abs() < 0.034 => {}
        other => failures.push(format!(
            "session 1: Counted should begin with its frame 0 at {slot_off:.3} s: {:?}",
            other.map(|f| (f.pts, counted_index(f)))
        )),
    }
    let f0 = &frames2[0];
    let i0 = counted_index(f0);
    // The run's frame 0 is its wall-clock start, between the spawn and "Channel starting.".
    let lo = secs(slot, clock.wall(respawned));
    let hi = starting.map_or(f64::NAN, |t| secs(slot, clock.wall(t)));
    // Where the item ends in session 2 places the run's start on the schedule exactly.
    let end = frames2
        .iter()
        .position(|f| counted_index(f).is_none())
        .map(|k| frames2[k].pts);
    let t1 = end.map(|e| 20.0 - e + f0.pts);
    let contiguous = frames2
        .iter()
        .take_while(|f| counted_index(f).is_some())
        .enumerate()
        .all(|(k, f)| counted_index(f) == i0.map(|i| i + k as u32));
    let content = i0.map(|i| i as f64 / FPS);
    println!(
        "RESUME: killed at {:.3} s into Counted; run 2 spawned at {lo:.3} s, \"Channel \
         starting.\" seen at {hi:.3} s, publish {}; its first frame (pts {:.3}) is Counted frame \
         {i0:?} = {} s; the process says it seeked to {resumed_from:?} s; Counted ends at session \
         pts {end:?}, which puts the run's start at {} s into the item; resume error {} \
         (frames: {})",
        secs(slot, killed),
        publish2.map_or("never".into(), |p| format!(
            "at {:.3} s",
            secs(slot, clock.wall(p))
        )),
        f0.pts,
        content.map_or("-".into(), |c| format!("{c:.3}")),
        t1.map_or("-".into(), |t| format!("{t:.3}")),
        content.zip(t1).map_or("n/a".into(), |(c, t)| format!(
            "{:+.1} ms",
            (c - t) * 1000.0
        )),
        runs(&frames2, counted_index),
    );
    match (content, t1) {
        (Some(c), Some(t)) => {
            if (c - t).abs() > 1.5 / FPS {
                failures.push(format!(
                    "session 2 starts at Counted {c:.3} s but the slot's clock says {t:.3} s"
                ));
            }
            if !(lo - 0.05..=hi + 0.05).contains(&t) || !(lo - 0.5..=hi + 0.5).contains(&c) {
                failures.push(format!(
                    "session 2 starts at item time {c:.3} s (schedule: {t:.3} s); the restart \
                     happened between {lo:.3} and {hi:.3} s"
                ));
            }
        }
        _ => failures.push(format!(
            "session 2 should start inside Counted and Counted should end in it: first frame \
             {i0:?}, end {end:?}"
        )),
    }
    if !contiguous {
        failures
            .push("session 2 does not play Counted frame after frame from where it starts".into());
    }
    if f0.pts.abs() > 0.05 {
        failures.push(format!("session 2 starts at pts {:.3}, not 0", f0.pts));
    }
    assert!(failures.is_empty(), "failures: {failures:#?}");
}
