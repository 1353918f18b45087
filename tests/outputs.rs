//! Several outputs from one encode, each with its own state: a dead output (nothing listens)
//! never disturbs a good one. And stream keys never leak into logs, metrics or API answers.
mod common;

use std::time::Duration;

use common::*;

const GOOD: &str = "playout_output_connected{output=\"good\"}";
const DEAD: &str = "playout_output_connected{output=\"dead\"}";
const DEAD_DROPPED: &str = "playout_output_dropped_packets_total{output=\"dead\"}";
const DEAD_RECONNECTS: &str = "playout_output_reconnects_total{output=\"dead\"}";
const GOOD_DROPPED: &str = "playout_output_dropped_packets_total{output=\"good\"}";
const GOOD_BYTES: &str = "playout_output_bytes_total{output=\"good\"}";

fn items() -> Vec<ItemSpec> {
    vec![
        ItemSpec::clip(&fixture("landscape_25").path),
        ItemSpec::clip(&fixture("fps_2997").path),
    ]
}

#[test]
fn a_dead_output_does_not_disturb_a_good_one() {
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let dead_port = free_port();
    let http = free_port();
    let playlist = write_playlist(dir.path(), &items());
    let extra = format!(
        "{}http: {{ listen: \"127.0.0.1:{http}\" }}\n",
        output_yaml(&[
            OutputSpec::new("good", &nginx.url("good")),
            OutputSpec::new("dead", &format!("rtmp://127.0.0.1:{dead_port}/live/dead")),
        ])
    );
    let channel = write_channel(dir.path(), "two", 320, 180, "30", &playlist, &extra);
    let scraper = Scraper::start(http, &["/metrics"], Duration::from_millis(250));
    let playout = Playout::spawn(&["run", channel.to_str().unwrap(), "--for", "8s"], &[]);
    let started = playout.started;
    let run = playout.wait(Duration::from_secs(60));
    println!(
        "playout --for 8s: {} in {:.2} s; stderr tail:\n{}",
        run.status,
        run.wall.as_secs_f64(),
        tail(&run.stderr, 20)
    );
    assert!(run.status.success(), "playout failed");

    // Metrics while running (after the first 2 s).
    let mid: Vec<Scrape> = scraper
        .scrapes()
        .into_iter()
        .filter(|s| s.at >= started + Duration::from_secs(2) && s.sample(GOOD).is_some())
        .collect();
    assert!(mid.len() >= 4, "too few scrapes of /metrics: {}", mid.len());
    let v = |s: &Scrape, n: &str| s.sample(n).unwrap_or(f64::NAN);
    for s in [&mid[0], &mid[mid.len() / 2], &mid[mid.len() - 1]] {
        println!(
            "t={:.2}s good: connected {} bytes {} dropped {} | dead: connected {} dropped {} \
             reconnects {}",
            (s.at - started).as_secs_f64(),
            v(s, GOOD),
            v(s, GOOD_BYTES),
            v(s, GOOD_DROPPED),
            v(s, DEAD),
            v(s, DEAD_DROPPED),
            v(s, DEAD_RECONNECTS)
        );
    }
    for s in &mid {
        assert_eq!(v(s, GOOD), 1.0, "good output connected:\n{}", s.body);
        assert_eq!(v(s, DEAD), 0.0, "dead output not connected:\n{}", s.body);
    }
    let (first, last) = (&mid[0], &mid[mid.len() - 1]);
    assert!(
        v(last, DEAD_DROPPED) > v(first, DEAD_DROPPED),
        "the dead output's dropped packets rise: {} then {}",
        v(first, DEAD_DROPPED),
        v(last, DEAD_DROPPED)
    );
    assert!(v(last, GOOD_BYTES) > v(first, GOOD_BYTES));
    // (A packet or so may be dropped before the first connection; none once connected.)
    assert_eq!(
        v(last, GOOD_DROPPED),
        v(first, GOOD_DROPPED),
        "the good output dropped packets while connected"
    );
    let cannot = run
        .stderr
        .lines()
        .filter(|l| l.contains("Output cannot connect") && l.contains("output=dead"))
        .count();
    println!("'Output cannot connect' lines for the dead output: {cannot}");
    assert!(cannot >= 1, "no 'cannot connect' log for the dead output");

    // The good output's recording is perfect.
    let rec = single_recording(&nginx, "good");
    let report = analyse(&rec, 30, 1);
    println!("{report}");
    let mut expect = Expect::new(320, 180);
    expect.duration = Some(8.0);
    let problems = report.problems(&expect);
    assert!(problems.is_empty(), "good recording: {problems:#?}");
    assert_eq!(decode_errors(&rec), "");
}

const KEY: &str = "sk-9f1c2e7a5b3d4e6f8a0b1c2d3e4f5a6b";
const KEY_MIDDLE: &str = "2e7a5b3d4e6f";

/// Where the key (or its distinctive middle) occurs in `text`, as short excerpts.
fn hits(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for needle in [KEY, KEY_MIDDLE] {
        for (i, _) in text.match_indices(needle) {
            let a = text[..i].char_indices().rev().nth(60).map_or(0, |(j, _)| j);
            let b = (i + needle.len() + 40).min(text.len());
            out.push(text.get(a..b).unwrap_or(needle).to_string());
        }
    }
    out
}

#[test]
fn stream_keys_never_leak() {
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let dead_port = free_port();
    let http = free_port();
    let playlist = write_playlist(dir.path(), &items());
    let extra = format!(
        "{}http: {{ listen: \"127.0.0.1:{http}\" }}\n",
        output_yaml(&[
            OutputSpec::new(
                "good",
                &format!(
                    "rtmp://127.0.0.1:{}/live/${{PLAYOUT_TEST_KEY}}",
                    nginx.port()
                )
            ),
            OutputSpec::new(
                "dead",
                &format!("rtmp://127.0.0.1:{dead_port}/live/${{PLAYOUT_TEST_KEY}}")
            ),
        ])
    );
    let channel = write_channel(dir.path(), "secret", 320, 180, "30", &playlist, &extra);
    assert!(!std::fs::read_to_string(&channel).unwrap().contains(KEY));
    let env = [("PLAYOUT_TEST_KEY", KEY), ("RUST_LOG", "debug")];

    // Every endpoint, including ones that may not exist (their 404 must not leak either).
    let paths = [
        "/metrics",
        "/healthz",
        "/",
        "/api/v1/now",
        "/api/v1/schedule",
        "/epg.xml",
        "/nope",
    ];
    let scraper = Scraper::start(http, &paths, Duration::from_millis(200));
    let playout = Playout::spawn(&["run", channel.to_str().unwrap(), "--for", "6s"], &env);
    let run = playout.wait(Duration::from_secs(60));
    assert!(
        run.status.success(),
        "playout failed: {}",
        tail(&run.stderr, 30)
    );
    let scrapes = scraper.scrapes();
    let answered: std::collections::BTreeMap<&str, (usize, u16)> =
        scrapes.iter().fold(Default::default(), |mut m, s| {
            let e = m.entry(s.path).or_insert((0, s.status));
            e.0 += 1;
            m
        });
    println!(
        "stderr {} lines ({} bytes, RUST_LOG=debug), stdout {} bytes; answers (count, status): \
         {answered:?}",
        run.stderr.lines().count(),
        run.stderr.len(),
        run.stdout.len()
    );
    assert!(nginx.publish_count(KEY) >= 1, "the good output published");
    let metrics = scrapes.iter().filter(|s| s.path == "/metrics").count();
    assert!(metrics >= 10, "only {metrics} /metrics scrapes");
    assert!(scrapes.iter().any(|s| s.path == "/healthz"));

    // `playout check` on the same file, and its error messages on a broken variant.
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_playout"))
        .args(["check", channel.to_str().unwrap()])
        .envs(env)
        .output()
        .unwrap();
    let broken = dir.path().join("broken.yaml");
    let text = std::fs::read_to_string(&channel).unwrap().replace(
        "name: \"dead\"\n",
        "name: \"dead\"\n    write_timeout: 999s\n    tls_verify: false\n",
    );
    std::fs::write(&broken, text).unwrap();
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_playout"))
        .args(["check", broken.to_str().unwrap()])
        .envs(env)
        .output()
        .unwrap();
    let bad_out = format!(
        "{}{}",
        String::from_utf8_lossy(&bad.stdout),
        String::from_utf8_lossy(&bad.stderr)
    );
    println!("check of a broken variant ({}):\n{bad_out}", bad.status);
    assert!(!bad.status.success(), "the broken variant must fail check");

    let mut leaks = Vec::new();
    for (what, text) in [
        ("stderr".to_string(), run.stderr.clone()),
        ("stdout".to_string(), run.stdout.clone()),
        (
            "check".to_string(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr)
            ),
        ),
        ("check (broken)".to_string(), bad_out),
    ]
    .into_iter()
    .chain(
        scrapes
            .iter()
            .map(|s| (format!("GET {} {}", s.path, s.status), s.body.clone())),
    ) {
        for h in hits(&text) {
            leaks.push(format!("{what}: …{h}…"));
        }
    }
    leaks.dedup();
    println!("key hits: {}", leaks.len());
    assert!(
        leaks.is_empty(),
        "the stream key leaked:\n{}",
        leaks.join("\n")
    );

    let shown = format!("rtmp://127.0.0.1:{}/live/****", nginx.port());
    assert!(
        run.stderr.contains(&shown),
        "the log shows the URL redacted as {shown}"
    );
    let connected = run
        .stderr
        .lines()
        .find(|l| l.contains("Output connected") && l.contains("output=good"));
    println!("{}", connected.unwrap_or("no 'Output connected' line"));
    assert!(connected.is_some_and(|l| l.contains(&shown)));
}
