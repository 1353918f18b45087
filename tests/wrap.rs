//! The FLV timestamp limit: a run whose publish session starts (by the tests-only switch)
//! 20 s short of the 24-day session limit plays across it. The output republishes at the
//! first keyframe past the limit, as README says: the first session's timestamps run up to
//! the limit and stop, continuous and short of 2^31 ms; the second starts from zero at a
//! keyframe and is continuous too; the channel itself never restarts.
mod common;

use std::time::Duration;

use common::timeline::red_and_plain;
use common::*;

/// 24 days, `flv::SESSION_LIMIT`, in seconds.
const LIMIT_S: f64 = 24.0 * 24.0 * 3600.0;

#[test]
fn a_session_that_reaches_the_flv_limit_republishes_cleanly() {
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let playlist = red_and_plain(dir.path());
    let ch = write_channel(dir.path(), "wrap", 320, 180, "30", &playlist, "");
    let url = nginx.url("wrap");
    // 575 h 59 min 40 s: 20 s short of the limit.
    let p = Playout::spawn(
        &[
            "run",
            ch.to_str().unwrap(),
            "--output",
            &url,
            "--for",
            "44s",
            "--test-flv-start",
            "575h59m40s",
        ],
        &[],
    );
    let run = p.wait(Duration::from_secs(90));
    let republish: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("Republishing"))
        .collect();
    println!("{}", republish.join("\n"));
    let mut failures = Vec::new();
    if !run.status.success() {
        failures.push(format!("the run ended with {}", run.status));
    }
    if republish.len() != 1 {
        failures.push(format!("{} republish lines, expected 1", republish.len()));
    }
    if run.stderr.matches("Channel starting.").count() != 1 {
        failures.push("the channel restarted".into());
    }
    nginx.wait_idle(Duration::from_secs(5));
    let recs = nginx.recordings_of("wrap");
    let publishes = nginx.publish_count("wrap");
    println!("{publishes} publish sessions: {recs:?}");
    if publishes != 2 || recs.len() != 2 {
        failures.push(format!(
            "{publishes} publishes, {} recordings, expected 2",
            recs.len()
        ));
    } else {
        // Before the limit: timestamps from 20 s short of it, continuous, ending at it.
        let before = analyse(&recs[0], 30, 1);
        println!("before the limit: {before}");
        failures.extend(
            before
                .problems(&session_expect(320, 180))
                .into_iter()
                .map(|p| format!("before: {p}")),
        );
        let first = before.start;
        let end = first + before.duration;
        println!(
            "before: timestamps {first:.3} s .. {end:.3} s (limit {LIMIT_S} s, 2^31 ms = {} s)",
            2f64.powi(31) / 1000.0
        );
        if (first - (LIMIT_S - 20.0)).abs() > 1.0 {
            failures.push(format!(
                "before: starts at {first:.3} s, not 20 s short of the limit"
            ));
        }
        if !(LIMIT_S - 0.1..=LIMIT_S + 2.1).contains(&end) || end * 1000.0 >= 2f64.powi(31) {
            failures.push(format!(
                "before: ends at {end:.3} s, not at the limit's first keyframe"
            ));
        }
        // After: a fresh session from zero.
        let (after, problems) = check_session(&recs[1], (30, 1), &session_expect(320, 180));
        println!("after the limit: {after}");
        failures.extend(problems.into_iter().map(|p| format!("after: {p}")));
        if after.duration < 20.0 {
            failures.push(format!("after: only {:.1} s", after.duration));
        }
    }
    if !failures.is_empty() {
        println!("stderr:\n{}", tail(&run.stderr, 30));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
