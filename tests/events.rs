//! Scheduled live, end to end: an RFC 3339 event 15 s after start begins within one frame of
//! its time on the recording and in `/api/v1/now`; the rotation item that would have run over
//! it is not started (slate up to the event), and the rotation resumes after it.
mod common;

use std::process::Command;
use std::time::Duration;

use chrono::{DurationRound, TimeDelta, Utc};
use serde_json::Value;

use common::timeline::*;
use common::*;

/// One frame at 30 fps, ms.
const FRAME_MS: f64 = 1000.0 / 30.0;
/// FLV timestamps are whole ms and the state file's anchor is truncated to ms.
const MS_SLACK: f64 = 1.5;

/// The channel's default slate (`#1a1a2e` background) in every corner: dark and bluish.
fn looks_like_slate(f: &GridFrame) -> bool {
    [0, 15, 144, 159].iter().all(|&i| {
        let [r, g, b] = f.cells[i];
        r.max(g).max(b) < 80 && b >= r && b >= g
    })
}

/// The clips and the detectors agree: each red or counted frame reads back as its own number
/// at its own pts, and nothing else reads as red, counted or slate.
#[test]
fn clips_carry_what_the_detectors_read() {
    let red = grid_frames(&clip("red_4s"));
    let counted = grid_frames(&clip("counted_24s"));
    let plain = grid_frames(&clip("plain_4s"));
    let dir = tempfile::tempdir().unwrap();
    let slate = dir.path().join("slate.mp4");
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .arg("color=c=0x1a1a2e:s=320x180:r=30:d=1,drawtext=text='Back soon':fontcolor=white:x=(w-tw)/2:y=(h-th)/2")
        .args(X264)
        .arg(&slate)
        .status()
        .unwrap();
    assert!(st.success());
    let slate = grid_frames(&slate);
    println!(
        "red {} frames, counted {}, plain {}, slate {}",
        red.len(),
        counted.len(),
        plain.len(),
        slate.len()
    );
    assert_eq!((red.len(), counted.len()), (120, 720));
    for (i, f) in red.iter().enumerate() {
        assert!(is_red(f) && !looks_like_slate(f), "red frame {i}");
        assert_eq!(band_index(f), Some(i as u32), "red frame {i}");
        assert!((f.pts - i as f64 / 30.0).abs() < 0.001, "red frame {i} pts");
    }
    for (i, f) in counted.iter().enumerate() {
        assert_eq!(counted_index(f), Some(i as u32), "counted frame {i}");
        assert!(!is_red(f) && !looks_like_slate(f), "counted frame {i}");
    }
    for f in &plain {
        assert!(!is_red(f) && !looks_like_slate(f) && counted_index(f).is_none());
        assert!(band_index(f).is_none());
    }
    for f in &slate {
        assert!(looks_like_slate(f) && !is_red(f) && counted_index(f).is_none());
    }
}

/// The `/api/v1/now` answers of a run, parsed, with their `server_time`.
struct NowAnswer {
    server: chrono::DateTime<Utc>,
    v: Value,
}

impl NowAnswer {
    fn cur(&self, k: &str) -> &Value {
        &self.v["current"][k]
    }
    fn cur_str(&self, k: &str) -> &str {
        self.cur(k).as_str().unwrap_or("")
    }
    fn next0(&self, k: &str) -> &str {
        self.v["next"][0][k].as_str().unwrap_or("")
    }
}

#[test]
fn event_starts_on_its_frame_and_the_item_that_would_overrun_it_becomes_slate() {
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let (alpha, red) = (clip("counted_24s"), clip("red_4s"));
    let bravo = &fixture("landscape_25").path;
    let playlist = write_playlist(
        dir.path(),
        &[
            ItemSpec::clip(&alpha).title("Alpha").out("4s"),
            ItemSpec::clip(bravo).title("Bravo"),
        ],
    );
    // Alpha 0-4, Bravo 4-6, Alpha 6-10, Bravo 10-12; Alpha at 12 would run past the event
    // (13-15 s after the anchor, whatever the start-up takes): slate from 12 to the event.
    let event_at =
        Utc::now().duration_trunc(TimeDelta::seconds(1)).unwrap() + TimeDelta::seconds(15);
    let event_s = rfc3339(event_at);
    append_events(&playlist, &[EventSpec::new(&event_s, &red, "Red news")]);
    let channel = write_channel(dir.path(), "events", 320, 180, "30", &playlist, "");
    let port = free_port();
    let (addr, url) = (format!("127.0.0.1:{port}"), nginx.url("events"));
    let ch = channel.to_str().unwrap();
    let playout = Playout::spawn(
        &["run", ch, "--output", &url, "--http", &addr, "--for", "22s"],
        &[],
    );
    let scraper = Scraper::start(port, &["/api/v1/now"], Duration::from_millis(100));
    let state_path = dir.path().join("events.state.json");
    let state = wait_state(&state_path, Duration::from_secs(10));
    let run = playout.wait(Duration::from_secs(60));
    let answers: Vec<NowAnswer> = scraper
        .scrapes()
        .iter()
        .filter(|s| s.status == 200)
        .filter_map(|s| {
            let v: Value = serde_json::from_str(&s.body).ok()?;
            Some(NowAnswer {
                server: parse_time(v["server_time"].as_str()?)?,
                v,
            })
        })
        .collect();
    drop(scraper);
    println!(
        "playout: {} in {:.2} s; stderr:\n{}",
        run.status,
        run.wall.as_secs_f64(),
        tail(&run.stderr, 30)
    );
    assert!(run.status.success(), "playout failed");
    let state = state.unwrap_or_else(|| panic!("no state file at {}", state_path.display()));
    println!("state file: {state}");
    let anchor = parse_time(state["anchor"].as_str().unwrap_or("")).expect("state anchor");
    let event_off = secs(anchor, event_at);
    println!(
        "anchor {} ; event {event_s} = anchor + {event_off:.3} s",
        rfc3339(anchor)
    );
    assert!((12.0..15.5).contains(&event_off), "start-up took too long");
    let mut failures = Vec::new();

    // The recording: where the red frames are.
    let rec = single_recording(&nginx, "events");
    let report = analyse(&rec, 30, 1);
    println!("{report}");
    let mut expect = Expect::new(320, 180);
    expect.duration = Some(22.0);
    failures.extend(report.problems(&expect));
    let frames = grid_frames(&rec);
    println!("counted (Alpha) frames: {}", runs(&frames, counted_index));
    println!("red (event) frames:     {}", runs(&frames, band_index));
    // Frame 0 of the recording is the anchor: Alpha from its first frame, all 120 in order.
    let first_alpha: Vec<Option<u32>> = frames.iter().take(120).map(counted_index).collect();
    if first_alpha != (0..120).map(Some).collect::<Vec<_>>() {
        failures.push(format!(
            "the recording does not open with Alpha's frames 0..119 in order: {}",
            runs(&frames[..120.min(frames.len())], counted_index)
        ));
    }
    match frames.iter().position(is_red) {
        None => failures.push("no red frame in the recording".into()),
        Some(i) => {
            let red_run = frames[i..].iter().take_while(|f| is_red(f)).count();
            let all_red = frames.iter().filter(|f| is_red(f)).count();
            let err_ms = (frames[i].pts - event_off) * 1000.0;
            println!(
                "EVENT START: first red frame #{i} at pts {:.3} s, expected {event_off:.3} s: \
                 error {err_ms:+.1} ms ({:+.2} frames); it is event frame {:?}; {red_run} \
                 consecutive red frames ({all_red} in all)",
                frames[i].pts,
                err_ms / FRAME_MS,
                band_index(&frames[i]),
            );
            if err_ms.abs() > FRAME_MS + MS_SLACK {
                failures.push(format!(
                    "the event starts {err_ms:+.1} ms from its time (limit one frame)"
                ));
            }
            let shown: Vec<Option<u32>> = frames[i..i + red_run].iter().map(band_index).collect();
            if shown != (0..120).map(Some).collect::<Vec<_>>() || all_red != red_run {
                failures.push(format!(
                    "the 4 s event should show its frames 0..119 once each, in order, from \
                     its first frame; it shows {} ({all_red} red frames in all)",
                    runs(&frames[i..i + red_run], band_index)
                ));
            }
            // After the event the rotation resumes with Alpha, from its first frame.
            let after: Vec<Option<u32>> = frames[i + red_run..]
                .iter()
                .take(30)
                .map(counted_index)
                .collect();
            if after != (0..30).map(Some).collect::<Vec<_>>() {
                failures.push(format!(
                    "the second after the event should be Alpha's frames 0..29; it is {}",
                    runs(
                        &frames[i + red_run..(i + red_run + 30).min(frames.len())],
                        counted_index
                    )
                ));
            }
        }
    }
    // The gap: slate from 12.1 s to just before the event; Alpha's frames are not slate-like.
    let in_range = |a: f64, b: f64| frames.iter().filter(move |f| f.pts >= a && f.pts < b);
    let gap: Vec<&GridFrame> = in_range(12.1, event_off - 0.05).collect();
    let gap_slate = gap.iter().filter(|f| looks_like_slate(f)).count();
    println!(
        "before the event: {gap_slate}/{} frames between 12.1 s and the event look like slate",
        gap.len()
    );
    if gap.is_empty() || gap_slate != gap.len() {
        failures.push(format!(
            "the time up to the event is not all slate: {gap_slate}/{} frames",
            gap.len()
        ));
    }

    // The API, before, during and after the event.
    let since = |a: &NowAnswer| secs(anchor, a.server);
    let show = |a: &NowAnswer| format!("t={:.2} {}", since(a), a.v);
    let before: Vec<&NowAnswer> = answers
        .iter()
        .filter(|a| since(a) > 12.3 && secs(a.server, event_at) > 0.3)
        .collect();
    let during: Vec<&NowAnswer> = answers
        .iter()
        .filter(|a| (0.5..3.5).contains(&secs(event_at, a.server)))
        .collect();
    let after: Vec<&NowAnswer> = answers
        .iter()
        .filter(|a| secs(event_at, a.server) > 4.3 && since(a) < 21.5)
        .collect();
    println!(
        "/api/v1/now: {} answers ({} before, {} during, {} after the event)",
        answers.len(),
        before.len(),
        during.len(),
        after.len()
    );
    for (name, set) in [("before", &before), ("during", &during), ("after", &after)] {
        match set.first() {
            Some(a) => println!("  {name}: {}", show(a)),
            None => failures.push(format!("no /api/v1/now answer {name} the event")),
        }
    }
    for a in &before {
        let gap_len = a.cur("duration_seconds").as_f64().unwrap_or(f64::NAN);
        let gap_end = parse_time(a.cur_str("started_at")).map(|s| at_secs(s, gap_len));
        let ok = a.cur_str("kind") == "slate"
            && gap_end.is_some_and(|e| secs(e, event_at).abs() < 0.002)
            && gap_len < 4.0
            && a.next0("kind") == "event"
            && a.next0("title") == "Red news"
            && parse_time(a.next0("start")) == Some(event_at);
        if !ok {
            failures.push(format!(
                "before the event, now should be slate up to the event (shorter than Alpha) \
                 with the event next: {}",
                show(a)
            ));
        }
    }
    for a in &during {
        let pos = a.cur("position_seconds").as_f64().unwrap_or(f64::NAN);
        let dur = a.cur("duration_seconds").as_f64().unwrap_or(f64::NAN);
        let ok = a.cur_str("kind") == "event"
            && a.cur_str("title") == "Red news"
            && a.cur_str("started_at") == event_s
            && (pos - secs(event_at, a.server)).abs() < 0.002
            && (dur - 4.0).abs() < 0.05
            && a.next0("title") == "Alpha";
        if !ok {
            failures.push(format!(
                "during the event, now should be the event started at {event_s}, Alpha next: {}",
                show(a)
            ));
        }
    }
    for a in &after {
        let started = parse_time(a.cur_str("started_at"));
        let ok = a.cur_str("title") == "Alpha"
            && a.cur_str("kind") == "item"
            && started.is_some_and(|s| (secs(event_at, s) - 4.0).abs() < 0.05);
        if !ok {
            failures.push(format!(
                "after the event, the rotation should resume with Alpha at the event's end: {}",
                show(a)
            ));
        }
    }
    assert!(failures.is_empty(), "failures: {failures:#?}");
}
