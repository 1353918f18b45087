//! Soak from conformed copies: HOURS of channel time played unpaced at 320x180 into a local
//! nginx-rtmp, looping items whose lengths are whole keyframe intervals (two clips that carry
//! their frame numbers, eight shapes of the content matrix cut to 2 s, a slate and the 24 s
//! counted clip). The channel starts with no copies: the background preparer makes them
//! while the first loops are encoded, and the rest play from the copies, with a splice
//! between copied packets and encoded frames at every slate. Afterwards:
//!
//! - the copies made and most of the channel time passed through;
//! - the audio shift at every splice within half an AAC frame (the histogram is printed);
//! - one publish session, no frame step off 1/fps, no audio hole over 2 ms, every keyframe
//!   gap 2.000 s, audio and video ending within a frame, HOURS long;
//! - `ffmpeg -xerror` decodes the whole recording;
//! - RSS and fds flat, as in tests/soak.rs.
//!
//! `soak_passthrough_2h` runs in `make test`; `soak_passthrough_24h` is part of `make soak`.
mod common;

use std::process::Command;
use std::time::Instant;

use common::fixtures::fixture;
use common::soak::*;
use common::soak_run::*;
use common::timeline::clip;
use common::*;

const FPS: (u32, u32) = (30, 1);
const STREAM: &str = "soakcopies";
/// Half an AAC frame at 48 kHz: the most a splice may move audio.
const HALF_FRAME_S: f64 = 512.0 / 48_000.0;

#[test]
fn soak_passthrough_2h() {
    common::heavy();
    soak(2);
}

#[test]
#[ignore = "24 h of channel time from copies: `make soak`"]
fn soak_passthrough_24h() {
    soak(24);
}

/// 50 s a loop, every item a whole number of 2 s keyframe intervals.
fn items() -> Vec<ItemSpec> {
    let cut = |name: &str| ItemSpec::clip(&fixture(name).path).title(name).out("2s");
    vec![
        ItemSpec::clip(clip("red_4s")).title("red"),
        cut("landscape_25"),
        ItemSpec::clip(clip("plain_4s")).title("plain"),
        cut("fps_2997"),
        cut("vertical"),
        ItemSpec::slate("2s"),
        cut("fps_50"),
        cut("mono_44k"),
        cut("surround_51"),
        cut("no_audio"),
        cut("hevc"),
        cut("yuv444"),
        ItemSpec::clip(clip("counted_24s")).title("counted"),
    ]
}

/// `NAME{labels} VALUE` lines of a /metrics answer starting with `prefix`: (labels, value).
fn series<'a>(metrics: &'a str, prefix: &str) -> Vec<(&'a str, f64)> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .filter_map(|rest| {
            let (labels, v) = rest.rsplit_once(' ')?;
            Some((labels, v.parse().ok()?))
        })
        .collect()
}

fn soak(hours: u64) {
    let total_s = (hours * 3600) as f64;
    let nginx = Nginx::start();
    let dir = tempfile::Builder::new()
        .prefix("playout-soak-copies-")
        .tempdir()
        .unwrap();
    let items = items();
    let media = items
        .iter()
        .filter(|i| !matches!(i, ItemSpec::Slate(_)))
        .count();
    let playlist = write_playlist(dir.path(), &items);
    let channel = write_channel_video(dir.path(), STREAM, VIDEO, &playlist, "prepare: {}\n");
    let r = run(&channel, &nginx.url(STREAM), hours, dir.path());
    let wall = r.wall.as_secs_f64();
    let (mut problems, resources) = first_checks(&r, hours);

    // What was passed through and what encoded; the copies made.
    let one = |name: &str| sample(&r.metrics, name).unwrap_or(f64::NAN);
    let passed = one("playout_passthrough_seconds_total");
    let encoded = one("playout_encoded_seconds_total");
    let made = one("playout_prepare_copies_total{result=\"made\"}");
    let failed = one("playout_prepare_copies_total{result=\"failed\"}");
    let hits = one("playout_conform_cache_hits_total");
    let first_copy = r
        .stderr
        .lines()
        .position(|l| l.contains("Item passed through"))
        .map(|i| {
            r.stderr
                .lines()
                .take(i)
                .filter(|l| l.contains("Item started."))
                .count()
        });
    if made != media as f64 || failed != 0.0 {
        problems.push(format!(
            "{made} copies made of {media} media items, {failed} failed"
        ));
    }
    // Of what the last scrape had seen (a second short of the end): one loop encoded, then
    // 48 s of every 50 s loop from copies.
    let share = passed / (passed + encoded);
    if share.is_nan() || share < 0.9 {
        problems.push(format!(
            "{passed:.0} s passed through, {encoded:.0} s encoded (expected at least 90 % \
             passed)"
        ));
    }

    // The audio shift at each splice: within half an AAC frame either way.
    let buckets = series(&r.metrics, "playout_boundary_audio_shift_seconds_bucket");
    let splices = one("playout_boundary_audio_shift_seconds_count");
    let le = |want: f64| {
        buckets
            .iter()
            .find(|(l, _)| {
                l.trim_start_matches("{le=\"")
                    .trim_end_matches("\"}")
                    .parse::<f64>()
                    .is_ok_and(|x| (x - want).abs() < 1e-9)
            })
            .map_or(f64::NAN, |b| b.1)
    };
    let mut histogram = String::new();
    let mut below = 0.0;
    for (l, n) in &buckets {
        histogram += &format!(
            "\n    {:>14} {:8}",
            l.trim_start_matches('{').trim_end_matches('}'),
            n - below
        );
        below = *n;
    }
    let outside = le(-0.0107) + (splices - le(0.0107));
    if splices.is_nan() || splices <= 0.0 || outside != 0.0 {
        problems.push(format!(
            "{splices} splices, {outside} moved audio by more than half an AAC frame ({:.2} ms)",
            HALF_FRAME_S * 1000.0
        ));
    }

    // The recording: one session, continuous, and a clean decode.
    let rec = single_recording(&nginx, STREAM);
    let started = Instant::now();
    let c = continuity(&rec, FPS, GOP_NS);
    println!(
        "{c}\n  analysed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    problems.extend(recording_problems(&c, hours));
    let started = Instant::now();
    let decode = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-xerror", "-i"])
        .arg(&rec)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let decode_err = String::from_utf8_lossy(&decode.stderr).into_owned();
    let decode_s = started.elapsed().as_secs_f64();
    if !decode.status.success() || !decode_err.trim().is_empty() {
        problems.push(format!(
            "ffmpeg -xerror: {}: {}",
            decode.status,
            tail(&decode_err, 10)
        ));
    }

    println!(
        "SOAK FROM COPIES SUMMARY {hours} h of channel time
  wall           {wall:.1} s, {:.1}x real time ({} build)
{resources}
  copies         {made} made in the background, {failed} failed; {hits} plays from copies; \
         the first after {} items encoded
  time           {passed:.0} s passed through, {encoded:.0} s encoded ({:.2} % passed)
  splices        {splices} audio shifts, {outside} beyond half an AAC frame; histogram \
         (seconds, count):{histogram}
  video          {} frames, {} steps off 1/fps, keyframe gaps {}..{}
  audio          {} packets, {} holes > 2 ms (largest {}), largest overlap {}
  A/V end        audio - video {}
  duration       {} (first packet {})
  decode         ffmpeg -xerror: {} in {decode_s:.1} s",
        total_s / wall,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        first_copy.map_or("no".into(), |n| n.to_string()),
        100.0 * share,
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
        if decode.status.success() && decode_err.trim().is_empty() {
            "clean"
        } else {
            "ERRORS"
        },
    );
    if !problems.is_empty() {
        eprintln!("kept channel folder {}", dir.keep().display());
        panic!(
            "soak from copies {hours} h: {} problems:\n- {}",
            problems.len(),
            problems.join("\n- ")
        );
    }
}
