//! The ingest goes away three times during a paced run: playout never exits, republishes
//! within 1 s of the ingest coming back, and every session is a clean one (starts on a
//! keyframe near timestamp 0, continuous to its end).
mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::*;

const OUTAGE: Duration = Duration::from_secs(1);
/// Outages start this long after the first publish.
const OUTAGES_AT: [u64; 3] = [5, 11, 17];

#[test]
fn republishes_within_a_second_after_each_ingest_outage() {
    let mut nginx = Nginx::start();
    let watch = PublishWatch::start(&nginx, "re");
    let dir = tempfile::tempdir().unwrap();
    let playlist = write_playlist(
        dir.path(),
        &[
            ItemSpec::clip(&fixture("landscape_25").path),
            ItemSpec::clip(&fixture("fps_2997").path),
            ItemSpec::clip(&fixture("vertical").path),
        ],
    );
    let outputs = output_yaml(&[OutputSpec::new("main", &nginx.url("re"))]);
    let channel = write_channel(dir.path(), "re", 320, 180, "30", &playlist, &outputs);
    let mut playout = Playout::spawn(&["run", channel.to_str().unwrap(), "--for", "25s"], &[]);

    let first = watch
        .wait_after(playout.started, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no first publish\n{}", tail(&playout.stderr(), 30)));
    println!(
        "first publish {:.0} ms after spawn",
        (first - playout.started).as_secs_f64() * 1000.0
    );

    let mut latencies = Vec::new();
    for (i, at) in OUTAGES_AT.iter().enumerate() {
        let when = first + Duration::from_secs(*at);
        thread::sleep(when.saturating_duration_since(Instant::now()));
        assert!(playout.is_running(), "playout exited before outage {i}");
        let down = nginx.kill_ingest();
        thread::sleep(OUTAGE / 2);
        assert!(playout.is_running(), "playout exited during outage {i}");
        thread::sleep(OUTAGE.saturating_sub(down.elapsed()));
        let up = nginx.start_again();
        assert!(playout.is_running(), "playout exited after outage {i}");
        let publish = watch.wait_after(up, Duration::from_secs(10));
        let noticed = playout
            .line_after(down, &["WARN", "output=main"])
            .map(|(t, _)| t);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let latency = publish.map(|p| p.saturating_duration_since(up));
        println!(
            "outage {i}: down {:.0} ms; failure logged {} after nginx exited; republished {} after \
             the port accepted again",
            ms(up - down),
            noticed.map_or("never".into(), |t| format!(
                "{:.0} ms",
                ms(t.saturating_duration_since(down))
            )),
            latency.map_or("never (10 s)".into(), |l| format!("{:.0} ms", ms(l)))
        );
        latencies.push(latency);
    }

    let run = playout.wait(Duration::from_secs(60));
    println!(
        "playout --for 25s: {} in {:.2} s; warnings:\n{}",
        run.status,
        run.wall.as_secs_f64(),
        run.stderr
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("Output connected"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let ms: Vec<String> = latencies
        .iter()
        .map(|l| {
            l.map_or("never".into(), |l| {
                format!("{:.0}", l.as_secs_f64() * 1000.0)
            })
        })
        .collect();
    println!("republish latencies (ms): {}", ms.join(", "));
    // Everything is checked before anything is asserted, so one run reports every problem.
    let mut failures = Vec::new();
    if !run.status.success() {
        failures.push(format!("playout exited with {}", run.status));
    }
    for (i, l) in latencies.iter().enumerate() {
        match l {
            None => failures.push(format!("no republish after outage {i}")),
            Some(l) if *l > Duration::from_secs(1) => failures.push(format!(
                "outage {i}: republished {:.0} ms after the ingest came back (limit 1000 ms)",
                l.as_secs_f64() * 1000.0
            )),
            Some(_) => {}
        }
    }

    assert!(nginx.wait_idle(Duration::from_secs(10)), "{}", nginx.logs());
    let files = nginx.recordings_of("re");
    let publishes = nginx.publish_count("re");
    println!(
        "{publishes} publishes, {} recordings: {files:?}",
        files.len()
    );
    if publishes != 4 || files.len() != 4 {
        failures.push(format!(
            "expected 4 publish sessions and 4 recordings, got {publishes} and {}",
            files.len()
        ));
    }
    for (i, rec) in files.iter().enumerate() {
        let (report, problems) = check_session(rec, (30, 1), &session_expect(320, 180));
        println!("session {i}: {report}");
        for p in &problems {
            failures.push(format!("session {i}: {p}"));
        }
    }
    assert!(failures.is_empty(), "failures: {failures:#?}");
}
