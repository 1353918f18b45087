//! Pass-through of conformed copies, end to end: `playout prepare` makes a copy of each item
//! with the channel's own pipeline, and a run with `prepare:` plays the items from their
//! copies, between slates the live encoder makes, in one continuous stream: no irregular
//! frame step, no audio hole over 2 ms, A/V within a frame at the end, every keyframe gap
//! 2.000 s (the items are whole multiples of it), a clean decode, and the same pictures at
//! the same times as the same channel encoded throughout.
mod common;

use std::path::Path;

use common::timeline::{clip, grid_frames, GridFrame};
use common::*;

const FPS: (u32, u32) = (30, 1);

fn channel(dir: &Path, name: &str, prepare: bool) -> std::path::PathBuf {
    let playlist = write_playlist(
        dir,
        &[
            ItemSpec::clip(clip("red_4s")).title("Red"),
            ItemSpec::Slate("2s".into()),
            ItemSpec::clip(clip("plain_4s")).title("Plain"),
        ],
    );
    let extra = if prepare {
        // `playout prepare` alone makes the copies here (tests/prepare_background.rs has the
        // background preparer): a damaged copy stays damaged for the whole run.
        "prepare: { folder: copies, background: false }\n"
    } else {
        ""
    };
    write_channel(dir, name, 320, 180, "30", &playlist, extra)
}

fn run(ch: &Path, out: &Path) -> Run {
    let r = run_playout_timeout(
        &[
            "run",
            ch.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--unpaced",
            "--for",
            "40s",
        ],
        std::time::Duration::from_secs(300),
    );
    assert!(r.status.success(), "{}", tail(&r.stderr, 30));
    r
}

/// The largest mean difference of a grid cell between two frame lists, frame by frame.
fn worst_difference(a: &[GridFrame], b: &[GridFrame]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d: u32 = x
                .cells
                .iter()
                .zip(&y.cells)
                .flat_map(|(p, q)| {
                    p.iter()
                        .zip(q)
                        .map(|(u, v)| (*u as i32 - *v as i32).unsigned_abs())
                })
                .sum();
            d as f64 / (x.cells.len() * 3) as f64
        })
        .fold(0.0, f64::max)
}

#[test]
fn prepared_items_pass_through_in_one_continuous_stream() {
    common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with = channel(d, "copies", true);
    let red = clip("red_4s");
    let probe = |what: &str| {
        let r = run_playout_timeout(
            &[
                "probe",
                red.to_str().unwrap(),
                "--channel",
                with.to_str().unwrap(),
            ],
            std::time::Duration::from_secs(60),
        );
        let line = r
            .stdout
            .lines()
            .find(|l| l.contains("pass-through as \"Red\""))
            .unwrap_or("")
            .to_string();
        println!("probe {what}: {line}");
        line
    };
    let before = probe("before prepare");
    assert!(
        before.contains("will be encoded: no copy yet; `playout prepare` makes it"),
        "{before}"
    );
    let prepared = run_playout_timeout(
        &["prepare", with.to_str().unwrap()],
        std::time::Duration::from_secs(300),
    );
    println!("{}", prepared.stdout.trim());
    assert!(prepared.status.success(), "{}", prepared.stderr);
    assert!(
        prepared
            .stdout
            .contains("2 made, 0 already there, 0 failed"),
        "{}",
        prepared.stdout
    );
    let again = run_playout_timeout(
        &["prepare", with.to_str().unwrap()],
        std::time::Duration::from_secs(300),
    );
    assert!(
        again.stdout.contains("0 made, 2 already there"),
        "{}",
        again.stdout
    );

    let after = probe("after prepare");
    assert!(
        after.contains("will pass through from its first frame (120 frames from"),
        "{after}"
    );

    let copied_rec = d.join("copied.flv");
    let r = run(&with, &copied_rec);
    let passed = r
        .stderr
        .matches("Item passed through from its conformed copy.")
        .count();
    let encoded_items = r.stderr.matches("Item started.").count();
    println!("items passed through {passed}, items encoded {encoded_items}");
    let mut failures = Vec::new();
    // 40 s of a 10 s rotation: four loops of two items.
    if (passed, encoded_items) != (8, 0) {
        failures.push(format!(
            "{passed} items passed through and {encoded_items} encoded (expected 8 and 0)"
        ));
    }
    if r.stderr.contains("Output write failed") {
        failures.push("the output refused a packet".into());
    }
    let mut expect = Expect::new(320, 180);
    expect.max_av_end_diff_ms = 1000.0 / 30.0;
    expect.duration = Some(40.0);
    let (report, problems) = check_session(&copied_rec, FPS, &expect);
    println!(
        "pass-through: {:.3} s, {} frames, {} irregular steps, largest audio hole {:.2} ms, A/V end {:+.1} ms, keyframe gaps {:?}",
        report.duration,
        report.video_packets,
        report.bad_steps.len(),
        report.max_audio_hole_ms,
        report.av_end_diff_ms,
        {
            let mut k: Vec<String> = report.keyframe_intervals().iter().map(|g| format!("{g:.3}")).collect();
            k.dedup();
            k
        }
    );
    failures.extend(problems);

    // The same channel encoded throughout: the same pictures at the same times.
    let plain = channel(d, "encoded", false);
    let encoded_rec = d.join("encoded.flv");
    run(&plain, &encoded_rec);
    let (a, b) = (grid_frames(&copied_rec), grid_frames(&encoded_rec));
    let worst = worst_difference(&a, &b);
    println!(
        "frames {} and {}; worst mean cell difference {worst:.1} of 255",
        a.len(),
        b.len()
    );
    if a.len() != b.len() || worst > 12.0 {
        failures.push(format!(
            "{} frames passed through vs {} encoded, worst mean cell difference {worst:.1}",
            a.len(),
            b.len()
        ));
    }

    // Red's copy damaged (a byte flipped, same size): probe says so, the item is encoded,
    // never aired from the copy, and the stream is as continuous as before.
    let red_copy = std::fs::read_dir(d.join("copies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "json")
                && std::fs::read_to_string(p).unwrap().contains("red_4s")
        })
        .expect("Red's sidecar")
        .with_extension("nut");
    let mut bytes = std::fs::read(&red_copy).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&red_copy, &bytes).unwrap();
    let damaged_probe = probe("after damage");
    if !damaged_probe.contains("will be encoded: the copy's content does not match its hash") {
        failures.push(format!("probe after the damage: {damaged_probe}"));
    }
    let damaged_rec = d.join("damaged.flv");
    let r2 = run(&with, &damaged_rec);
    let passed = r2
        .stderr
        .matches("Item passed through from its conformed copy.")
        .count();
    let encoded_items = r2.stderr.matches("Item started.").count();
    println!("with one copy damaged: {passed} items passed through, {encoded_items} encoded");
    if (passed, encoded_items) != (4, 4) {
        failures.push(format!("with a damaged copy: {passed} passed through, {encoded_items} encoded (expected 4 and 4)"));
    }
    let (report, problems) = check_session(&damaged_rec, FPS, &expect);
    println!(
        "damaged copy run: {} irregular steps, largest audio hole {:.2} ms, A/V end {:+.1} ms",
        report.bad_steps.len(),
        report.max_audio_hole_ms,
        report.av_end_diff_ms
    );
    failures.extend(
        problems
            .into_iter()
            .map(|p| format!("with a damaged copy: {p}")),
    );
    assert!(
        failures.is_empty(),
        "{failures:#?}\n{}",
        tail(&r.stderr, 30)
    );
}
