//! A peer that stops reading: playout → proxy → nginx, and the proxy stops forwarding for
//! 30 s. The blocked write is a disconnect within `write_timeout` (3 s) + 1 s, the output
//! reconnects once the proxy forwards again, the channel never stops, and the last session
//! is a clean one.
mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::*;

const CONNECTED: &str = "playout_output_connected{output=\"main\"}";
const BYTES: &str = "playout_output_bytes_total{output=\"main\"}";
const DROPPED: &str = "playout_output_dropped_packets_total{output=\"main\"}";
const RECONNECTS: &str = "playout_output_reconnects_total{output=\"main\"}";
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);
const PAUSE: Duration = Duration::from_secs(30);

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[test]
fn a_stalled_peer_is_a_disconnect_and_the_output_comes_back() {
    let nginx = Nginx::start();
    let proxy = Proxy::start(nginx.port());
    let watch = PublishWatch::start(&nginx, "stall");
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    // Busy content at a high bitrate so the small buffers fill quickly.
    let playlist = write_playlist(
        dir.path(),
        &[
            ItemSpec::clip(&fixture("landscape_25").path),
            ItemSpec::clip(&fixture("vertical").path),
        ],
    );
    let extra = format!(
        "{}http: {{ listen: \"127.0.0.1:{http}\" }}\n",
        output_yaml(&[OutputSpec::new("main", &proxy.url("stall")).write_timeout("3s")])
    );
    let video = "width: 640, height: 360, fps: 30, bitrate: 2000k, preset: ultrafast, \
                 keyframe_interval: 2s";
    let channel = write_channel_video(dir.path(), "stall", video, &playlist, &extra);
    let scraper = Scraper::start(http, &["/metrics"], Duration::from_millis(100));
    let mut playout = Playout::spawn(&["run", channel.to_str().unwrap(), "--for", "44s"], &[]);

    let first = watch
        .wait_after(playout.started, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no first publish\n{}", tail(&playout.stderr(), 30)));
    thread::sleep((first + Duration::from_secs(5)).saturating_duration_since(Instant::now()));
    let bytes_before = scraper.series(BYTES);
    let paused = proxy.pause();
    let forwarded_at_pause = proxy.bytes_up();

    // Detection: the metric turning 0 (scraped every 100 ms) and the `Output stalled` line
    // (not just `stalled`: other warnings carry a `stalled=false` field).
    let deadline = paused + Duration::from_secs(15);
    let (mut by_metric, mut by_log) = (None, None);
    let mut sockets = None;
    while Instant::now() < deadline && (by_metric.is_none() || by_log.is_none()) {
        by_metric = scraper.first_where(CONNECTED, paused, |v| v == 0.0);
        by_log = playout.line_after(paused, &["Output stalled"]);
        if sockets.is_none() && paused.elapsed() > Duration::from_secs(2) {
            sockets = Some(proxy::socket_report(proxy.port()));
        }
        thread::sleep(Duration::from_millis(20));
    }
    println!(
        "sockets to the proxy 2 s into the pause (Recv-Q = held by the proxy's kernel buffer, \
         Send-Q = by playout's):\n{}",
        sockets.unwrap_or_default()
    );
    let metric_s = by_metric.map(|t| t.saturating_duration_since(paused));
    let log_s = by_log
        .as_ref()
        .map(|(t, _)| t.saturating_duration_since(paused));
    // Rough bitrate from the metric before the pause.
    let rate = match (bytes_before.first(), bytes_before.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) * 8.0 / (b.0 - a.0).as_secs_f64() / 1e3,
        _ => f64::NAN,
    };
    println!(
        "output bitrate before the pause ≈ {rate:.0} kbit/s; stall detected {} (metric) / {} \
         (log) after the pause; log line: {}",
        metric_s.map_or("never".into(), ms),
        log_s.map_or("never".into(), ms),
        by_log.as_ref().map_or("-", |(_, l)| l.as_str())
    );

    // Stay paused for 30 s; the channel must keep running.
    let mut failures = Vec::new();
    while paused.elapsed() < PAUSE {
        if !playout.is_running() {
            failures.push("playout exited during the stall".to_string());
            break;
        }
        thread::sleep(Duration::from_millis(200));
    }
    let during = proxy.bytes_up() - forwarded_at_pause;
    let attempts = proxy.accepted();
    let resumed = proxy.resume();
    let publish = watch.wait_after(resumed, Duration::from_secs(12));
    let mut connected_again = None;
    while connected_again.is_none() && resumed.elapsed() < Duration::from_secs(14) {
        connected_again = scraper.first_where(CONNECTED, resumed, |v| v == 1.0);
        thread::sleep(Duration::from_millis(50));
    }
    println!(
        "paused {}: proxy forwarded {during} bytes meanwhile, accepted {attempts} connections \
         in all; after resume: republished in {}, connected metric 1 after {}",
        ms(resumed - paused),
        publish.map_or("never (12 s)".into(), |p| ms(
            p.saturating_duration_since(resumed)
        )),
        connected_again.map_or("never".into(), |t| ms(t.saturating_duration_since(resumed)))
    );
    let last_metrics = scraper
        .scrapes()
        .into_iter()
        .rev()
        .find(|s| s.path == "/metrics");

    let run = playout.wait(Duration::from_secs(90));
    println!(
        "playout --for 44s: {} in {:.2} s; warnings:\n{}",
        run.status,
        run.wall.as_secs_f64(),
        run.stderr
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("Output connected"))
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    if let Some(s) = &last_metrics {
        println!(
            "last scrape while running: connected {:?} reconnects {:?} dropped {:?} bytes {:?}",
            s.sample(CONNECTED),
            s.sample(RECONNECTS),
            s.sample(DROPPED),
            s.sample(BYTES)
        );
    }
    // When the metric turned 0, even if later than the detection window.
    let metric_s = metric_s.or_else(|| {
        scraper
            .first_where(CONNECTED, paused, |v| v == 0.0)
            .map(|t| t.saturating_duration_since(paused))
    });
    // The scrape times themselves: a slow /metrics answer would delay the metric, not playout.
    let series = scraper.series(CONNECTED);
    let gap = series
        .windows(2)
        .filter(|w| w[1].0 >= paused)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap_or_default();
    let first_zero = series
        .iter()
        .find(|(at, v)| *at >= paused && *v == 0.0)
        .map(|(at, _)| *at);
    let last_one = series
        .iter()
        .filter(|(at, v)| *at >= paused && first_zero.is_some_and(|z| *at < z) && *v == 1.0)
        .map(|(at, _)| at.saturating_duration_since(paused))
        .next_back();
    println!(
        "scrapes of /metrics: {} in all, largest gap after the pause {}; last `connected 1` \
         before it turned 0: {} after the pause",
        series.len(),
        ms(gap),
        last_one.map_or("-".into(), ms)
    );
    println!(
        "stall detected: metric {}, log {} after the pause",
        metric_s.map_or("never".into(), ms),
        log_s.map_or("never".into(), ms)
    );

    // Everything is checked before anything is asserted, so one run reports every problem.
    let limit = WRITE_TIMEOUT + Duration::from_secs(1);
    for (what, t) in [
        ("the connected metric turned 0", metric_s),
        ("'Output stalled' logged", log_s),
    ] {
        match t {
            None => failures.push(format!("{what}: never")),
            Some(t) if t > limit => failures.push(format!(
                "{what} {} after the pause (limit {})",
                ms(t),
                ms(limit)
            )),
            Some(_) => {}
        }
    }
    if publish.is_none() {
        failures.push("no new publish within 12 s after the proxy resumed".into());
    }
    if connected_again.is_none() {
        failures.push("the connected metric did not return to 1 after the resume".into());
    }
    if !run.status.success() {
        failures.push(format!("playout exited with {}", run.status));
    }

    // The final session (the newest recording) is clean.
    assert!(nginx.wait_idle(Duration::from_secs(10)), "{}", nginx.logs());
    let files = nginx.recordings_of("stall");
    let publishes = nginx.publish_count("stall");
    println!("{publishes} publishes, recordings {files:?}");
    if publishes < 2 {
        failures.push(format!("{publishes} publish sessions, expected at least 2"));
    }
    if let Some(last) = files.last().filter(|_| publishes >= 2) {
        let (report, problems) = check_session(last, (30, 1), &session_expect(640, 360));
        println!("final session: {report}");
        if report.duration < 2.0 {
            failures.push(format!(
                "the final session is only {:.2} s",
                report.duration
            ));
        }
        failures.extend(problems.into_iter().map(|p| format!("final session: {p}")));
    }
    assert!(failures.is_empty(), "failures: {failures:#?}");
}
