//! Pass-through as wide as the encode path (issue 28): every shape of the content matrix is
//! made into a conformed copy, and the copies play next to each other in every order: one
//! rotation that walks every ordered pair of shapes once (an Euler circuit of the complete
//! directed graph), through a B-frame (veryfast) channel into nginx-rtmp. The recording must
//! be one publish session with no write failure, decode time rising on each stream, no
//! irregular frame step, no audio hole over 2 ms, keyframes at most `keyframe_interval`
//! apart, and a clean decode; and the output's guard must never have had to act.
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// A walk through every ordered pair `(a, b)`, `a != b`, of `n` shapes exactly once, `a`
/// just before `b`, counting the pair from the last back to the first (the rotation loops):
/// `n (n - 1)` items (Hierholzer's algorithm on the complete directed graph).
fn every_pair_once(n: usize) -> Vec<usize> {
    let mut next: Vec<Vec<usize>> = (0..n)
        .map(|a| (0..n).filter(|b| *b != a).rev().collect())
        .collect();
    let (mut stack, mut circuit) = (vec![0], Vec::new());
    while let Some(&v) = stack.last() {
        match next[v].pop() {
            Some(w) => stack.push(w),
            None => circuit.extend(stack.pop()),
        }
    }
    circuit.reverse();
    circuit.pop();
    circuit
}

/// The ordered pairs that `walk` plays, looped once.
fn pairs(walk: &[usize]) -> BTreeSet<(usize, usize)> {
    (0..walk.len())
        .map(|i| (walk[i], walk[(i + 1) % walk.len()]))
        .collect()
}

#[test]
fn the_walk_covers_every_ordered_pair_once() {
    for n in [2, 3, 5, 22] {
        let w = every_pair_once(n);
        assert_eq!(w.len(), n * (n - 1), "{n} shapes");
        let all: BTreeSet<(usize, usize)> = (0..n)
            .flat_map(|a| (0..n).filter(move |b| *b != a).map(move |b| (a, b)))
            .collect();
        assert_eq!(pairs(&w), all, "{n} shapes");
    }
}

/// A file's length as its container says, in seconds.
fn container_seconds(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("run ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(2.0)
}

#[test]
fn every_shape_from_its_copy_next_to_every_other_in_both_orders() {
    common::heavy();
    let shapes: Vec<Fixture> = fixtures()
        .iter()
        .filter(|f| matches!(f.kind, Kind::Clip | Kind::Still | Kind::AudioOnly))
        .cloned()
        .collect();
    let n = shapes.len();
    let walk = every_pair_once(n);
    let all_items = matrix_items(&shapes);
    let items: Vec<ItemSpec> = walk.iter().map(|i| all_items[*i].clone()).collect();
    let length: f64 = walk
        .iter()
        .map(|i| match shapes[*i].kind {
            Kind::Still => 2.0,
            _ => container_seconds(&shapes[*i].path),
        })
        .sum();
    // The whole walk, then into the next loop (so the pair from the last shape back to the
    // first plays too).
    let for_ = format!("{}s", length.ceil() as i64 + 4);
    println!(
        "{n} shapes, {} items, {} ordered pairs, {length:.1} s a loop; playing {for_}",
        items.len(),
        pairs(&walk).len()
    );

    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let playlist = write_playlist(d, &items);
    let video = "width: 320, height: 180, fps: 30, bitrate: 400k, preset: veryfast, \
                 keyframe_interval: 2s";
    let ch = write_channel_video(
        d,
        "pairs",
        video,
        &playlist,
        "prepare: { folder: copies, background: false }\n",
    );
    let ch_arg = ch.to_str().unwrap();
    let prepared = run_playout_timeout(&["prepare", ch_arg], Duration::from_secs(600));
    println!("prepare: {}", tail(&prepared.stdout, 1));
    assert!(prepared.status.success(), "{}", tail(&prepared.stderr, 30));
    assert!(
        prepared
            .stdout
            .contains(&format!("{n} made, 0 already there, 0 failed")),
        "every shape makes a copy:\n{}",
        prepared.stdout
    );

    let url = nginx.url("pairs");
    let r = run_playout_timeout(
        &["run", ch_arg, "--output", &url, "--unpaced", "--for", &for_],
        Duration::from_secs(600),
    );
    assert!(r.status.success(), "{}", tail(&r.stderr, 40));
    let passed = r
        .stderr
        .matches("Item passed through from its conformed copy.")
        .count();
    let encoded = r.stderr.matches("Item started.").count();
    let write_failures = r.stderr.matches("Output write failed").count();
    let guard_errors = r.stderr.matches("Decode time did not rise").count();
    let sessions = nginx.publish_count("pairs");
    println!(
        "run: {:.1} s wall; items from copies {passed}, encoded {encoded}; publish sessions \
         {sessions}; write failures {write_failures}; guard errors {guard_errors}",
        r.wall.as_secs_f64()
    );

    let mut problems = Vec::new();
    if passed < items.len() || encoded > 0 {
        problems.push(format!(
            "{passed} items passed through and {encoded} encoded (expected at least {} and 0)",
            items.len()
        ));
    }
    if write_failures > 0 || guard_errors > 0 {
        problems.push(format!(
            "{write_failures} write failures and {guard_errors} timestamp errors:\n{}",
            r.stderr
                .lines()
                .filter(|l| l.contains("write failed") || l.contains("did not rise"))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    let rec = single_recording(&nginx, "pairs");
    // Decode time rises on each stream, packet by packet, as the ingest received them.
    let packets = probe_packets(&rec);
    for kind in ["video", "audio"] {
        let dts: Vec<i64> = packets
            .iter()
            .filter(|p| p.codec_type == kind)
            .filter_map(|p| p.dts)
            .collect();
        let back: Vec<(i64, i64)> = dts
            .windows(2)
            .filter(|w| w[1] <= w[0])
            .map(|w| (w[0], w[1]))
            .take(5)
            .collect();
        println!("{kind}: {} packets, dts not rising at {back:?}", dts.len());
        if !back.is_empty() {
            problems.push(format!("{kind} dts does not rise: {back:?}"));
        }
    }
    let report = analyse(&rec, 30, 1);
    println!("{report}");
    let mut expect = Expect::new(320, 180);
    // Splices shorten a gap; none may be longer than the interval (checked below).
    expect.keyframe_interval = None;
    expect.max_av_end_diff_ms = 1000.0 / 30.0;
    problems.extend(report.problems(&expect));
    let gaps = report.keyframe_intervals();
    let longest = gaps.iter().copied().fold(0.0, f64::max);
    println!(
        "keyframes: {}, longest gap {longest:.3} s",
        report.keyframes.len()
    );
    if longest > 2.0 + 0.0015 {
        problems.push(format!("a keyframe gap of {longest:.3} s (at most 2 s)"));
    }
    if report.first_video.as_ref().is_some_and(|v| !v.is_key()) {
        problems.push("the first video packet is not a keyframe".into());
    }
    let errors = decode_errors(&rec);
    if !errors.is_empty() {
        problems.push(format!("decode errors: {}", tail(&errors, 5)));
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
