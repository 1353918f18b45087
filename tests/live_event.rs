//! Scheduled live events against real parts: a paced channel recorded at nginx-rtmp, with
//! `ffmpeg -re` publishers on its RTMP live input and two `live: true` events.
//!
//! "Evening show": nobody is there at its start, so its starting-soon slate plays; a
//! publisher arrives and goes on air; the event's duration runs out while the publisher is
//! still sending, and the playlist comes back at the event's end to the frame, the publisher
//! kept off the air. "Late show": a publisher connects six seconds early and waits off the air
//! (`live.takeover: auto`); it goes on air at the event's first frame, stops, and the rest of
//! the event is its slate ("Back shortly"); then the playlist. A publisher more than
//! `live.early` before the first event is refused as `not_scheduled`. All in one publish session
//! with no irregular frame step and no audio hole; the guide lists both as live.
mod common;

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::edits::signal;
use common::publish::{
    is_colour, live_clip, metric, one_session, publish, run_live_channel, runs_of, KindLog,
};
use common::timeline::{at_secs, parse_time, red_and_plain, rfc3339, secs, GridFrame};
use common::watch::http_get;
use common::*;

const KEY: &str = "event-key-5be21d";
const FRAME: f64 = 1.0 / 30.0;

/// Most of the picture is the slate's magenta (its text covers the rest).
fn is_slate(f: &GridFrame) -> bool {
    let near = f
        .cells
        .iter()
        .filter(|c| c[0] > 190 && c[1] < 80 && c[2] > 190)
        .count();
    near * 10 >= f.cells.len() * 7
}

/// The channel time (`at=`) of the first stderr line after `t` with every one of `parts`.
fn logged_at(p: &Playout, t: Instant, parts: &[&str]) -> Option<DateTime<Utc>> {
    let (_, line) = p.line_after(t, parts)?;
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("at="))
        .and_then(|v| parse_time(v.trim_matches('"')))
}

fn channel(dir: &Path, live_port: u16, http: u16, events: &str) -> std::path::PathBuf {
    let playlist = red_and_plain(dir);
    let mut text = std::fs::read_to_string(&playlist).unwrap();
    text.push_str(events);
    std::fs::write(&playlist, text).unwrap();
    ChannelFile::new("live-event", &playlist)
        .slate("text: \"Back soon\", background: \"#ff00ff\"")
        .extra(&format!(
            "live: {{ listen: \"rtmp://127.0.0.1:{live_port}/live/${{LIVE_KEY}}\", timeout: 1s, rejoin: 2s, early: 10s }}\n\
             http: {{ listen: \"127.0.0.1:{http}\" }}\n"
        ))
        .write(dir)
}

/// Sleeps until wall time `t`.
fn sleep_until(t: DateTime<Utc>) {
    let left = secs(Utc::now(), t);
    if left > 0.0 {
        thread::sleep(Duration::from_secs_f64(left));
    }
}

#[test]
fn a_scheduled_live_event_waits_airs_and_ends_on_time() {
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let long = live_clip(d, "long", ("0x00ff00", "640x360", 25), (44100, 2), 16);
    let short = live_clip(d, "short", ("0x00ff00", "1280x720", 30), (48000, 2), 8);
    let (live_port, http) = (free_port(), free_port());
    // Whole seconds, so that the events' times are exact in the file.
    let w0 = DateTime::<Utc>::from_timestamp(Utc::now().timestamp() + 2, 0).unwrap();
    let (a, a_end) = (at_secs(w0, 18.0), at_secs(w0, 32.0));
    let (b, b_end) = (at_secs(w0, 46.0), at_secs(w0, 58.0));
    let events = format!(
        "events:\n  - at: {}\n    live: true\n    duration: 14s\n    title: Evening show\n  - at: {}\n    live: true\n    duration: 12s\n    title: Late show\n",
        q(&rfc3339(a)),
        q(&rfc3339(b))
    );
    let ch = channel(d, live_port, http, &events);
    let checked = std::process::Command::new(env!("CARGO_BIN_EXE_playout"))
        .args(["check", ch.to_str().unwrap()])
        .env("LIVE_KEY", KEY)
        .output()
        .expect("playout check");
    let said = String::from_utf8_lossy(&checked.stdout).to_string()
        + &String::from_utf8_lossy(&checked.stderr);
    println!("playout check: {}", said.trim());
    assert!(checked.status.success(), "{said}");
    let p = run_live_channel(&ch, &nginx.url("ev"), &[("LIVE_KEY", KEY)]);
    let kinds = KindLog::start(http);
    let url = format!("rtmp://127.0.0.1:{live_port}/live/{KEY}");
    let mut failures: Vec<String> = Vec::new();

    // The guide lists both live events as programmes.
    thread::sleep(Duration::from_secs(3));
    let epg = http_get(http, "/epg.xml").map(|r| r.1).unwrap_or_default();
    let schedule = http_get(http, "/api/v1/schedule")
        .map(|r| r.1)
        .unwrap_or_default();
    let sched: serde_json::Value = serde_json::from_str(&schedule).unwrap_or_default();
    let live_progs: Vec<(String, String)> = sched
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["kind"] == "live")
        .map(|p| {
            (
                p["title"].as_str().unwrap_or("").to_string(),
                p["start"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    println!("guide: live programmes {live_progs:?}");
    let want = vec![
        ("Evening show".to_string(), rfc3339(a)),
        ("Late show".to_string(), rfc3339(b)),
    ];
    if live_progs != want {
        failures.push(format!("schedule lists {live_progs:?}, expected {want:?}"));
    }
    for title in ["Evening show", "Late show"] {
        let prog = format!("<title>{title}</title>\n    <category>live</category>");
        if !epg.contains(&prog) {
            failures.push(format!("epg.xml has no live programme {title:?}"));
        }
    }

    // Too early (more than live.early before the first live event): refused.
    let t_x = Instant::now();
    let mut too_early = publish(&short, &url, "flv");
    let refused = (0..40).find_map(|_| {
        thread::sleep(Duration::from_millis(100));
        p.line_after(t_x, &["publisher refused", "not_scheduled"])
    });
    let _ = too_early.kill();
    let _ = too_early.wait();
    println!(
        "a publisher {:.1} s before the first live event: {:?}",
        secs(Utc::now(), a),
        refused.as_ref().map(|(at, l)| (
            *at - t_x,
            l.split("detail=").nth(1).unwrap_or("").to_string()
        ))
    );
    if refused.is_none() || kinds.first(t_x, true).is_some() {
        failures.push(format!(
            "a publisher with no live event near was not refused: {refused:?}"
        ));
    }

    // "Evening show": its slate from its start, nobody there yet.
    sleep_until(at_secs(a, 1.5));
    let now = http_get(http, "/api/v1/now")
        .map(|r| r.1)
        .unwrap_or_default();
    let now: serde_json::Value = serde_json::from_str(&now).unwrap_or_default();
    println!("during the starting-soon slate: current {}", now["current"]);
    if now["current"]["title"] != "Evening show"
        || now["current"]["kind"] != "event"
        || now["current"]["waiting_for_live"] != true
    {
        failures.push(format!("before its publisher: current {}", now["current"]));
    }
    sleep_until(at_secs(a, 3.0));
    let t_p1 = Instant::now();
    let mut p1 = publish(&long, &url, "flv");
    let on_a = kinds.wait(t_p1, true, Duration::from_secs(10));
    println!(
        "Evening show: publisher start -> on air {:?}",
        on_a.map(|x| x - t_p1)
    );
    // Its duration runs out with the publisher still sending (16 s from a + 3 s).
    sleep_until(at_secs(a_end, 1.0));
    let after_a = kinds.seen(Instant::now() - Duration::from_millis(300), Instant::now());
    if after_a.iter().any(|(k, _)| k == "live") {
        failures.push(format!(
            "still live after the Evening show's end: {after_a:?}"
        ));
    }
    let _ = p1.wait();

    // "Late show": a publisher six seconds early waits off the air.
    sleep_until(at_secs(b, -6.0));
    let t_p2 = Instant::now();
    let mut p2 = publish(&short, &url, "flv");
    sleep_until(at_secs(b, -0.5));
    let early = kinds.seen(t_p2, Instant::now());
    println!("early publisher, before the Late show: {early:?}");
    if early.iter().any(|(k, _)| k == "live") {
        failures.push(format!("an early publisher went on air: {early:?}"));
    }
    if p.line_after(t_p2, &["stays off the air"]).is_none() {
        failures.push("no log line for the publisher kept off the air".into());
    }
    let _ = p2.wait();
    sleep_until(at_secs(b_end, 2.0));
    let seen_b = kinds.seen(t_p2, Instant::now());
    println!("Late show, as /api/v1/now saw it: {seen_b:?}");
    let want_b = [("live", "Late show"), ("event", "Late show")];
    for w in want_b {
        if !seen_b.iter().any(|(k, t)| (k.as_str(), t.as_str()) == w) {
            failures.push(format!("/api/v1/now never said {w:?} during the Late show"));
        }
    }
    if seen_b.last().is_some_and(|(k, _)| k != "item") {
        failures.push(format!("after the Late show: {:?}", seen_b.last()));
    }

    // The log: each switch with its time and reason.
    let t = p.started;
    let on_1 = logged_at(&p, t, &["Switched to the live input.", "Evening show"]);
    let off_1 = logged_at(&p, t, &["Back to the playlist.", "the live event is over"]);
    let on_2 = logged_at(&p, t, &["Switched to the live input.", "Late show"]);
    let off_2 = logged_at(&p, t, &["Back to the playlist.", "no live picture"]);
    let soon = p.line_after(t, &["Slate started.", "Evening show", "kind=\"live\""]);
    println!("log: Evening show on {on_1:?} off {off_1:?}; Late show on {on_2:?} off {off_2:?}");
    let near = |x: Option<DateTime<Utc>>, want: DateTime<Utc>| {
        x.is_some_and(|x| secs(want, x).abs() <= FRAME / 2.0 + 0.001)
    };
    if !near(off_1, a_end) {
        failures.push(format!(
            "the Evening show handed back at {off_1:?}, not at its end {a_end}"
        ));
    }
    if !near(on_2, b) {
        failures.push(format!(
            "the early publisher went on air at {on_2:?}, not at the Late show's start {b}"
        ));
    }
    if soon.is_none() {
        failures.push("no starting-soon slate was logged for the Evening show".into());
    }
    let to_live = metric(
        http,
        "playout_live_switches_total",
        "{direction=\"to_live\"}",
    );
    let to_playlist = metric(
        http,
        "playout_live_switches_total",
        "{direction=\"to_playlist\"}",
    );
    let not_scheduled = metric(
        http,
        "playout_live_refused_total",
        "{reason=\"not_scheduled\"}",
    );
    println!("metrics: to_live {to_live}, to_playlist {to_playlist}, refused not_scheduled {not_scheduled}");
    if not_scheduled != 1.0 {
        failures.push(format!(
            "not_scheduled refusals: {not_scheduled} (expected 1)"
        ));
    }
    if (to_live, to_playlist) != (2.0, 2.0) {
        failures.push(format!(
            "switches {to_live} to live, {to_playlist} back (expected 2 and 2)"
        ));
    }

    signal(p.pid().unwrap(), "TERM");
    let r = p.wait(Duration::from_secs(300));
    let frames = one_session(&nginx, "ev", &mut failures);
    if let (false, Some(on_1), Some(on_2)) = (frames.is_empty(), on_1, on_2) {
        let green = runs_of(&frames, |f| is_colour(f, [0, 255, 0]));
        let slate = runs_of(&frames, is_slate);
        println!("green runs (start s, frames) {green:?}; slate runs {slate:?}");
        if green.len() != 2 {
            failures.push(format!(
                "{} live stretches on air (expected 2)",
                green.len()
            ));
        } else {
            // The recording's time of a channel time, from the Late show's first frame.
            let offset = green[1].0 - secs(w0, on_2);
            let pts = |t: DateTime<Utc>| offset + secs(w0, t);
            let end_of = |r: &(f64, usize)| r.0 + r.1 as f64 * FRAME;
            let close = |a: f64, b: f64| (a - b).abs() <= FRAME * 1.5;
            println!(
                "Evening show: live from {:.3} s to {:.3} s in the recording; the schedule says {:.3} s to {:.3} s",
                green[0].0,
                end_of(&green[0]),
                pts(on_1),
                pts(a_end)
            );
            if !close(green[0].0, pts(on_1)) || !close(end_of(&green[0]), pts(a_end)) {
                failures.push(
                    "the Evening show's live stretch is not where the log and the schedule put it"
                        .into(),
                );
            }
            // Its starting-soon slate: from the event's start to the publisher.
            let before = slate.iter().find(|r| close(end_of(r), green[0].0));
            if !before.is_some_and(|r| r.0 <= pts(a) + FRAME * 1.5) {
                failures.push(format!(
                    "no slate from the Evening show's start to its publisher: {before:?}"
                ));
            }
            // After the Late show's publisher: its slate, up to the event's end, then the playlist.
            let after = slate
                .iter()
                .find(|r| r.0 >= end_of(&green[1]) - FRAME * 1.5);
            if !after.is_some_and(|r| close(end_of(r), pts(b_end))) {
                failures.push(format!(
                    "the Late show's slate does not end at its end: {after:?}"
                ));
            }
            for (name, t) in [("Evening", a_end), ("Late", b_end)] {
                let i = ((pts(t) + FRAME) / FRAME).round() as usize;
                let first = frames.iter().find(|f| f.pts >= pts(t) + FRAME / 2.0);
                if first.is_some_and(|f| is_slate(f) || is_colour(f, [0, 255, 0])) {
                    failures.push(format!(
                        "{name} show: the frame after its end ({i}) is not the playlist"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{failures:#?}\nstderr tail:\n{}",
        tail(&r.stderr, 60)
    );
}
