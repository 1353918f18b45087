//! Outputs change on reload, without a restart: a second nginx-rtmp output is added to a
//! running channel, then the first is removed. Each recording is one unbroken publish
//! session (the new one from its first keyframe), the removed output's ends cleanly, and
//! the channel never restarts. An HLS output is added and removed on reload the same way:
//! served at `/hls/NAME/` from its first segments on, a 404 once removed.
mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::edits::signal;
use common::timeline::red_and_plain;
use common::*;

fn write_atomic(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn an_output_added_then_the_first_removed_on_reload() {
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let playlist = red_and_plain(dir.path());
    let http = free_port();
    let channel_with = |outputs: &[OutputSpec], extra: &str| {
        let extra = format!(
            "{}{extra}http: {{ listen: \"127.0.0.1:{http}\" }}\n",
            output_yaml(outputs)
        );
        let path = write_channel(dir.path(), "outs", 320, 180, "30", &playlist, &extra);
        std::fs::read_to_string(path).unwrap()
    };
    let first = OutputSpec::new("first", &nginx.url("first"));
    let second = OutputSpec::new("second", &nginx.url("second"));
    let ch = dir.path().join("outs.yaml");
    write_atomic(&ch, &channel_with(std::slice::from_ref(&first), ""));
    let p = Playout::spawn(&["run", ch.to_str().unwrap(), "--for", "5m"], &[]);
    let mut failures = Vec::new();
    let t_start = Instant::now();
    let first_up = p.wait_line_after(
        t_start,
        &["Output connected.", "output=first"],
        Duration::from_secs(30),
    );
    if first_up.is_none() {
        failures.push("the first output never connected".to_string());
    }

    // Add the second output.
    let t_add = Instant::now();
    write_atomic(&ch, &channel_with(&[first.clone(), second.clone()], ""));
    let added = p.wait_line_after(
        t_add,
        &["Outputs changed by reload.", "added=[\"second\"]"],
        Duration::from_secs(5),
    );
    if added.is_none() {
        failures.push("adding an output was not applied".to_string());
    }
    let connected = p.wait_line_after(
        t_add,
        &["Output connected.", "output=second"],
        Duration::from_secs(10),
    );
    println!(
        "added: reload applied {:?} after the edit, second connected {:?} after",
        added.as_ref().map(|(t, _)| *t - t_add),
        connected.as_ref().map(|(t, _)| *t - t_add)
    );

    // An HLS output added on reload: refused, the two outputs play on.
    let t_hls = Instant::now();
    write_atomic(
        &ch,
        &channel_with(
            &[
                first.clone(),
                second.clone(),
                OutputSpec::new("web", "hls:hls"),
            ],
            "",
        ),
    );
    let hls_added = p.wait_line_after(
        t_hls,
        &["Outputs changed by reload.", "added=[\"web\"]"],
        Duration::from_secs(5),
    );
    // Served from its first segments on: a playlist that names two.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut served = None;
    while served.is_none() && Instant::now() < deadline {
        served = http_get(http, "/hls/web/index.m3u8")
            .filter(|(status, body)| *status == 200 && body.matches(".ts").count() >= 2);
        thread::sleep(Duration::from_millis(200));
    }
    println!(
        "HLS added on reload: {:?}, served {:.1} s after the edit",
        hls_added.as_ref().map(|(_, l)| l.clone()),
        t_hls.elapsed().as_secs_f64()
    );
    if hls_added.is_none() || served.is_none() {
        failures.push(format!(
            "adding an HLS output on reload: applied {}, served {served:?}",
            hls_added.is_some()
        ));
    }

    // Remove the first, once it has played 13 s (its recording's length is checked below).
    let first_from = first_up.as_ref().map_or(t_start, |(t, _)| *t);
    thread::sleep((first_from + Duration::from_secs(13)).saturating_duration_since(Instant::now()));
    let t_remove = Instant::now();
    write_atomic(&ch, &channel_with(std::slice::from_ref(&second), ""));
    let removed = p.wait_line_after(
        t_remove,
        &["Output removed.", "output=first"],
        Duration::from_secs(5),
    );
    let health = http_get(http, "/healthz")
        .map(|(_, b)| b)
        .unwrap_or_default();
    println!(
        "removed: {:?} after the edit; /healthz {health}",
        removed.as_ref().map(|(t, _)| *t - t_remove)
    );
    if removed.is_none() {
        failures.push("removing the first output was not applied".into());
    }
    if !health.contains("\"second\"") || health.contains("\"first\"") {
        failures.push(format!("/healthz after the removal: {health}"));
    }
    // The HLS output went with it: a 404 from then on.
    let gone = p.wait_line_after(
        t_remove,
        &["Output removed.", "output=web"],
        Duration::from_secs(5),
    );
    let hls_after = http_get(http, "/hls/web/index.m3u8").map(|(status, _)| status);
    println!(
        "HLS removed: {}, then /hls/web/index.m3u8 {hls_after:?}",
        gone.is_some()
    );
    if gone.is_none() || hls_after != Some(404) {
        failures.push(format!(
            "removing the HLS output: removed {}, then {hls_after:?}",
            gone.is_some()
        ));
    }
    // The recordings' lengths are checked below: the second output plays 14 s from its
    // connection (the first longer), whatever the waits above took.
    let second_from = connected.as_ref().map_or(t_add, |(t, _)| *t);
    thread::sleep(
        (second_from + Duration::from_secs(14)).saturating_duration_since(Instant::now()),
    );
    signal(p.pid().unwrap(), "TERM");
    let run = p.wait(Duration::from_secs(30));
    if !run.status.success() {
        failures.push(format!("the run ended with {}", run.status));
    }
    let starts = run.stderr.matches("Channel starting.").count();
    if starts != 1 {
        failures.push(format!("{starts} channel starts"));
    }
    nginx.wait_idle(Duration::from_secs(5));
    for (name, min_secs) in [("first", 11.0), ("second", 12.0)] {
        let recs = nginx.recordings_of(name);
        let publishes = nginx.publish_count(name);
        println!("{name}: {publishes} publish sessions, recordings {recs:?}");
        if publishes != 1 || recs.len() != 1 {
            failures.push(format!(
                "{name}: {publishes} publishes, {} recordings",
                recs.len()
            ));
            continue;
        }
        let (report, problems) = check_session(&recs[0], (30, 1), &session_expect(320, 180));
        println!("{name}: {report}");
        failures.extend(problems.into_iter().map(|p| format!("{name}: {p}")));
        if report.duration < min_secs {
            failures.push(format!("{name}: only {:.1} s recorded", report.duration));
        }
    }
    if !failures.is_empty() {
        println!("stderr:\n{}", tail(&run.stderr, 40));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
