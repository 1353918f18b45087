//! Soak: HOURS of channel time played unpaced at 320x180 into a local nginx-rtmp, looping the
//! whole content matrix (the broken files between good items), a slate and the counted clip.
//! While it runs: RSS and open fds from /proc, channel seconds from /metrics, once a second.
//! Afterwards:
//!
//! - one publish session, and the whole recording continuous: no frame step off 1/fps, no
//!   audio hole, every keyframe gap 2 s, audio and video ending together, HOURS long;
//! - no leak: the least-squares RSS slope over the second half, extrapolated to a day, and the
//!   open fds at the end against those after warm-up;
//! - no drift of the channel clock: the counted clip's frame 0 at its first and its last slot
//!   of the run is recorded where `playout schedule` puts the slot (an unpaced run's frame 0
//!   is the schedule's anchor), to within a frame.
//!
//! `soak_2h` runs in `make test` (under 2 minutes in debug); `soak_24h` is `make soak`.
mod common;

use std::fs;
use std::path::Path;

use std::time::{Duration, Instant};

use common::guide::{schedule, slots_of};
use common::soak::*;
use common::soak_run::*;
use common::timeline::{at_secs, clip, counted_index, parse_time, rfc3339, runs, secs};
use common::*;

const STREAM: &str = "soak";
const COUNTED: &str = "counted";
/// The schedule's anchor: an unpaced run's frame 0 is this instant of the schedule.
const FROM: &str = "2026-01-01T00:00:00Z";

#[test]
fn soak_2h() {
    common::heavy();
    soak(2);
}

#[test]
#[ignore = "24 h of channel time, about 17 min in release: `make soak`"]
fn soak_24h() {
    soak(24);
}

/// Every fixture, the broken and truncated ones one after every four good items, then a
/// slate and the counted clip (the drift marker).
fn items() -> Vec<ItemSpec> {
    let fx = fixtures();
    let bad_kind = |f: &&Fixture| matches!(f.kind, Kind::Broken | Kind::Truncated);
    let good: Vec<Fixture> = fx.iter().filter(|f| !bad_kind(f)).cloned().collect();
    let mut bad = matrix_items(&fx.iter().filter(bad_kind).cloned().collect::<Vec<_>>());
    bad.reverse();
    let mut items = Vec::new();
    for (i, item) in matrix_items(&good).into_iter().enumerate() {
        items.push(item);
        if i % 4 == 3 {
            items.extend(bad.pop());
        }
    }
    items.extend(bad.into_iter().rev());
    items.push(ItemSpec::slate("3s"));
    items.push(ItemSpec::clip(clip("counted_24s")).title(COUNTED));
    items
}

/// Pins the schedule's anchor to FROM, item 0, in the channel's state file, so that
/// `playout schedule` can list a window late in the run: one listing holds at most 5,000
/// programmes (4 h of this playlist), and without a state file `--from` is the anchor. A
/// one-second paced run writes the file with the lineup's fingerprint; the unpaced soak run
/// never reads it.
fn pin_anchor(channel: &Path, dir: &Path) {
    let (ch, out) = (channel.display().to_string(), dir.join("paced.flv"));
    let out = out.display().to_string();
    let r = run_playout_timeout(
        &["run", &ch, "--output", &out, "--for", "1s"],
        Duration::from_secs(60),
    );
    assert!(r.status.success(), "paced run: {}", r.stderr);
    let state = dir.join(format!("{STREAM}.state.json"));
    let mut v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&state).expect("state file")).expect("json");
    v["anchor"] = FROM.into();
    v["anchor_index"] = 0.into();
    fs::write(&state, v.to_string()).expect("write state file");
}

/// Starts of the counted clip's slots in `[from_s, from_s + span_s)` of channel time, per
/// `playout schedule`, as seconds after the anchor.
fn counted_slots(channel: &Path, from_s: f64, span_s: u32) -> Vec<f64> {
    let anchor = parse_time(FROM).unwrap();
    let from = rfc3339(at_secs(anchor, from_s));
    let json = schedule(channel, &from, &format!("{span_s}s"), "json");
    let slots = slots_of(&serde_json::from_str(&json).expect("schedule json")).expect("slots");
    slots
        .iter()
        .filter(|x| x.title == COUNTED)
        .map(|x| secs(anchor, x.start))
        .filter(|t| *t >= from_s)
        .collect()
}

/// Where the counted clip's frame 0 is recorded relative to its slot at `slot_s`: (recorded
/// pts - slot_s, what the frames around it read as).
fn drift_at(rec: &Path, slot_s: f64) -> (Option<f64>, String) {
    let frames = grid_window(rec, slot_s - 1.0, 2.5);
    let zero = frames.iter().find(|f| counted_index(f) == Some(0));
    let first = frames.first().map_or(f64::NAN, |f| f.pts);
    let window = format!("{first:.3}s..: {}", runs(&frames, counted_index));
    (zero.map(|f| f.pts - slot_s), window)
}

fn soak(hours: u64) {
    let total_s = (hours * 3600) as f64;
    let nginx = Nginx::start();
    let dir = tempfile::Builder::new()
        .prefix("playout-soak-")
        .tempdir()
        .unwrap();
    let playlist = write_playlist(dir.path(), &items());
    let channel = write_channel_video(dir.path(), STREAM, VIDEO, &playlist, "");
    let r = run(&channel, &nginx.url(STREAM), hours, dir.path());
    let wall = r.wall.as_secs_f64();
    let (mut problems, resources) = first_checks(&r, hours);
    // Every item but the first is opened while the one before it plays (no reloads here).
    let count = |what: &str| r.stderr.lines().filter(|l| l.contains(what)).count();
    let (opens, not_ahead) = (count("Item started."), count("Not opened ahead"));
    if not_ahead != 1 {
        problems.push(format!(
            "{not_ahead} items opened on the spot, not ahead (only the first should be)"
        ));
    }
    let failures: Vec<&str> = r
        .metrics
        .lines()
        .filter_map(|l| l.strip_prefix("playout_item_failures_total"))
        .collect();
    println!("item failures at the last scrape: {}", failures.join(", "));
    for reason in ["missing", "empty", "unreadable", "truncated"] {
        let name = format!("playout_item_failures_total{{reason=\"{reason}\"}}");
        if sample(&r.metrics, &name).unwrap_or(0.0) < 1.0 {
            problems.push(format!(
                "no item failed as {reason}: were the broken items played?"
            ));
        }
    }

    // The recording: one publish session, continuous.
    let rec = single_recording(&nginx, STREAM);
    let started = Instant::now();
    let c = continuity(&rec, FPS, GOP_NS);
    println!(
        "{c}\n  analysed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    problems.extend(recording_problems(&c, hours));

    // The channel clock against the schedule, at the first and the last counted slot.
    pin_anchor(&channel, dir.path());
    let first = counted_slots(&channel, 0.0, 200)[0];
    let late = counted_slots(&channel, total_s - 200.0, 200);
    let last = *late
        .iter()
        .rfind(|t| **t + 1.5 <= total_s)
        .expect("a late counted slot");
    let mut drifts = Vec::new();
    for (which, slot_s) in [("first", first), ("last", last)] {
        let (drift, window) = drift_at(&rec, slot_s);
        println!("{which} counted slot at {slot_s:.3} s, frames {window}");
        if !drift.is_some_and(|d| d.abs() <= FRAME_SLACK_S) {
            problems.push(format!(
                "counted frame 0 of the slot at {slot_s:.3} s: {drift:?} s"
            ));
        }
        drifts.push(drift.map_or("not found".into(), |d| format!("{:+.1} ms", d * 1000.0)));
    }

    println!(
        "SOAK SUMMARY {hours} h of channel time
  wall           {wall:.1} s, {:.1}x real time ({} build)
{resources}
  items          {opens} played, {not_ahead} opened on the spot, not ahead
  drift          counted frame 0 vs its slot: {} at {first:.3} s, {} at {last:.3} s (limit ±{:.1} ms)
  video          {} frames, {} steps off 1/fps, keyframe gaps {}..{}
  audio          {} packets, {} holes > 2 ms (largest {}), largest overlap {}
  A/V end        audio - video {}
  duration       {} (first packet {})",
        total_s / wall,
        if cfg!(debug_assertions) { "debug" } else { "release" },
        drifts[0],
        drifts[1],
        FRAME_SLACK_S * 1000.0,
        c.video_packets,
        c.bad_steps.count,
        fmt_s(c.gops_ns.0),
        fmt_s(c.gops_ns.1),
        c.audio_packets,
        c.audio_holes.count,
        fmt_ms(c.max_hole.0),
        fmt_ms(c.max_overlap_ns),
        fmt_ms(c.av_end_ns()),
        fmt_s(c.duration_ns()),
        fmt_s(c.start_ns),
    );
    if !problems.is_empty() {
        eprintln!("kept channel folder {}", dir.keep().display());
        panic!(
            "soak {hours} h: {} problems:\n- {}",
            problems.len(),
            problems.join("\n- ")
        );
    }
}
