//! The programme guide: `playout schedule` as JSON, XMLTV and text for a rotation with daily
//! events in `timezone: Europe/Berlin` (through a daylight-saving change), and the live API
//! (`/api/v1/schedule`, `/epg.xml`) agreeing with the CLI while a paced run is up.
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Span, Utc};
use serde_json::Value;

use common::guide::*;
use common::timeline::*;
use common::*;

const NEWS: &str = "News & Weather";
const ROTATION: [&str; 3] = ["Still life", "Alpha", "Break"];

/// Rotation: a still for 25 min, a 2 s clip, 10 min of slate. Events: daily at 18:00, 06:30
/// and 02:30 Berlin time (02:30 does not exist on 2026-03-29), and once at 21:15 +01:00.
fn write_guide_channel(dir: &Path) -> PathBuf {
    let q = |p: &Path| q(&p.display().to_string());
    let (still, alpha, red) = (
        &fixture("still").path,
        &fixture("landscape_25").path,
        &clip("red_4s"),
    );
    let playlist = dir.join("guide.playlist.yaml");
    let yaml = format!(
        "items:
  - path: {still}
    title: Still life
    out: 25m
  - path: {alpha}
    title: Alpha
  - slate: 10m
    title: Break
events:
  - at: \"18:00\"
    path: {red}
    title: {news}
  - at: \"06:30:00\"
    path: {alpha}
    title: Morning
  - at: \"02:30\"
    path: {alpha}
    title: Night
  - at: \"2026-03-28T21:15:00+01:00\"
    path: {red}
    title: Special
",
        still = q(still),
        alpha = q(alpha),
        red = q(red),
        news = common::q(NEWS),
    );
    fs::write(&playlist, yaml).unwrap();
    write_channel(
        dir,
        "guide",
        320,
        180,
        "30",
        &playlist,
        "timezone: Europe/Berlin\n",
    )
}

fn t(s: &str) -> DateTime<Utc> {
    parse_time(s).unwrap()
}

fn slots(json: &str) -> Vec<Slot> {
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    slots_of(&v).unwrap_or_else(|e| panic!("{e}"))
}

/// Everything wrong with a guide of the guide channel for `[from, from + span)` started at
/// `from` (no state file): tiling, events at `events` (title, UTC start) and nothing else,
/// the rotation in order with whole slots, and slate only where the next item would not fit.
fn guide_problems(
    s: &[Slot],
    from: DateTime<Utc>,
    span: Span,
    events: &[(&str, &str)],
) -> Vec<String> {
    let mut p = tiling_problems(s, from, from + span);
    if s.first()
        .is_some_and(|f| f.start != from || f.title != "Still life")
    {
        p.push(format!(
            "without a state file the guide starts at --from with item 0: {}",
            s[0]
        ));
    }
    let got: Vec<(String, DateTime<Utc>)> = s
        .iter()
        .filter(|x| x.kind == "event")
        .map(|x| (x.title.clone(), x.start))
        .collect();
    let want: Vec<(String, DateTime<Utc>)> = events
        .iter()
        .map(|(n, at)| (n.to_string(), t(at)))
        .collect();
    if got != want {
        p.push(format!("events {got:?}, expected {want:?}"));
    }
    let alpha = s
        .iter()
        .find(|x| x.title == "Alpha")
        .map_or(2.0, Slot::secs);
    for x in s {
        let want = match (x.kind.as_str(), x.title.as_str()) {
            ("event", NEWS | "Special") => 4.0,
            ("event", _) | ("item", "Alpha") => alpha,
            ("item", "Still life") => 1500.0,
            ("slate", "Break") => 600.0,
            _ => continue,
        };
        if (x.secs() - want).abs() > 0.05 {
            p.push(format!("{x}: expected {want:.3} s"));
        }
    }
    if !(1.9..2.1).contains(&alpha) {
        p.push(format!("Alpha lasts {alpha:.3} s"));
    }
    // The rotation in order: events and the slate before them are not part of it.
    let is_rotation = |x: &Slot| x.kind == "item" || (x.kind == "slate" && x.title == "Break");
    let rotation: Vec<&Slot> = s.iter().filter(|x| is_rotation(x)).collect();
    for (k, x) in rotation.iter().enumerate() {
        if x.title != ROTATION[k % 3] {
            p.push(format!(
                "rotation slot {k} is {x}, expected {}",
                ROTATION[k % 3]
            ));
            break;
        }
    }
    for (k, x) in s.iter().enumerate() {
        if x.kind != "slate" || is_rotation(x) {
            continue;
        }
        // Filler: it runs up to an event, and the item that follows the event(s) would not
        // have fitted in it.
        let next_event = s.get(k + 1).is_some_and(|n| n.kind == "event");
        let skipped = s[k + 1..].iter().find(|n| is_rotation(n));
        if !next_event || skipped.is_some_and(|n| n.secs() <= x.secs()) {
            p.push(format!(
                "filler slate {x} should end at an event and be shorter than the item after it \
                 ({})",
                skipped.map_or("none".into(), |n| n.to_string())
            ));
        }
    }
    p
}

#[test]
fn xml_check_rejects_a_broken_document() {
    assert!(parse_xmltv("<tv><programme></tv>").is_err());
    assert!(parse_xmltv("<tv><title>a & b</title></tv>").is_err());
    let ok = parse_xmltv("<tv><channel id=\"c\"/><programme start=\"1\" stop=\"2\" channel=\"c\"><title>a &amp; b</title></programme></tv>").unwrap();
    assert_eq!(ok.root, "tv");
    assert_eq!(
        ok.programmes,
        [("1".into(), "2".into(), "c".into(), "a & b".into())]
    );
}

/// `--from`, `--for`, the same in hours, and the events expected in it (title, UTC start).
type Window = (
    &'static str,
    &'static str,
    i64,
    Vec<(&'static str, &'static str)>,
);

#[test]
fn schedule_cli_lists_the_rotation_and_daily_events_at_local_time() {
    let dir = tempfile::tempdir().unwrap();
    let channel = write_guide_channel(dir.path());
    let mut failures = Vec::new();
    let windows: [Window; 2] = [
        // Winter: Berlin is UTC+1.
        (
            "2026-11-24T00:00:00Z",
            "24h",
            24,
            vec![
                ("Night", "2026-11-24T01:30:00Z"),
                ("Morning", "2026-11-24T05:30:00Z"),
                (NEWS, "2026-11-24T17:00:00Z"),
            ],
        ),
        // Clocks go forward at 01:00 UTC on 29 March: 02:30 does not exist that night (the
        // event happens at 03:00 CEST, the first instant after the gap); then UTC+2.
        (
            "2026-03-28T00:00:00Z",
            "48h",
            48,
            vec![
                ("Night", "2026-03-28T01:30:00Z"),
                ("Morning", "2026-03-28T05:30:00Z"),
                (NEWS, "2026-03-28T17:00:00Z"),
                ("Special", "2026-03-28T20:15:00Z"),
                ("Night", "2026-03-29T01:00:00Z"),
                ("Morning", "2026-03-29T04:30:00Z"),
                (NEWS, "2026-03-29T16:00:00Z"),
            ],
        ),
    ];
    for (from, for_, hours, events) in &windows {
        let json = schedule(&channel, from, for_, "json");
        let s = slots(&json);
        println!(
            "schedule --from {from} --for {for_}: {} slots; events and filler:",
            s.len()
        );
        for (k, x) in s.iter().enumerate() {
            if x.kind == "event" {
                println!("  {}\n  {x}", s[k - 1]);
            }
        }
        for p in guide_problems(&s, t(from), Span::hours(*hours), events) {
            failures.push(format!("json {from}: {p}"));
        }

        let xml = schedule(&channel, from, for_, "xmltv");
        match parse_xmltv(&xml) {
            Err(e) => failures.push(format!("xmltv {from} is not well-formed XML: {e}")),
            Ok(x) => {
                let want: Vec<(String, String, String, String)> = s
                    .iter()
                    .map(|p| {
                        (
                            xmltv_time(p.start),
                            xmltv_time(p.stop),
                            x.channels.join(","),
                            p.title.clone(),
                        )
                    })
                    .collect();
                println!(
                    "xmltv {from}: <{}>, channels {:?}, {} programmes",
                    x.root,
                    x.channels,
                    x.programmes.len()
                );
                if x.root != "tv" || x.channels.len() != 1 || x.channels[0].is_empty() {
                    failures.push(format!(
                        "xmltv {from}: root <{}>, channels {:?}",
                        x.root, x.channels
                    ));
                }
                if x.programmes != want {
                    let diff = x.programmes.iter().zip(&want).find(|(a, b)| a != b);
                    failures.push(format!(
                        "xmltv {from}: {} programmes, JSON has {} slots; first difference {diff:?}",
                        x.programmes.len(),
                        want.len()
                    ));
                }
            }
        }

        let text = schedule(&channel, from, for_, "text");
        let mut rest = text.as_str();
        for x in &s {
            match rest.find(&x.title) {
                Some(i) => rest = &rest[i + x.title.len()..],
                None => {
                    failures.push(format!("text {from}: {x} missing (in order)"));
                    break;
                }
            }
        }
        if text.lines().count() < s.len() {
            failures.push(format!(
                "text {from}: {} lines for {} slots",
                text.lines().count(),
                s.len()
            ));
        }
    }
    assert!(failures.is_empty(), "failures: {failures:#?}");
}

#[test]
fn api_agrees_with_the_cli_while_the_channel_runs() {
    let dir = tempfile::tempdir().unwrap();
    let channel = write_guide_channel(dir.path());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let out = format!("file:{}", dir.path().join("out.flv").display());
    let ch = channel.to_str().unwrap();
    let playout = Playout::spawn(
        &["run", ch, "--output", &out, "--http", &addr, "--for", "8s"],
        &[],
    );
    let state = wait_state(
        &dir.path().join("guide.state.json"),
        Duration::from_secs(10),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_get(port, "/healthz").is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    println!("state file: {state:?}");
    let mut failures = Vec::new();

    let now = Utc::now();
    let tomorrow = (now + Span::days(1))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let now_s = rfc3339(now);
    // The same instant written with an offset, as a client would send it (`+` escaped).
    let now_plus1 = (now + Span::hours(1))
        .format("%Y-%m-%dT%H:%M:%S%.3f%%2B01:00")
        .to_string();
    for (from, query_from, for_) in [
        (now_s.as_str(), now_s.as_str(), "2h"),
        (now_s.as_str(), now_plus1.as_str(), "2h"),
        (tomorrow.as_str(), tomorrow.as_str(), "24h"),
    ] {
        let api = get_json(
            port,
            &format!("/api/v1/schedule?from={query_from}&for={for_}"),
        );
        let cli: Value = serde_json::from_str(&schedule(&channel, from, for_, "json")).unwrap();
        let n = cli.as_array().map_or(0, Vec::len);
        match api {
            Some((200, v)) if v == cli => {
                println!("from={query_from} for={for_}: API and CLI agree on {n} slots");
                let s = slots_of(&v).unwrap_or_default();
                let span = Span::seconds(if for_ == "2h" { 7200 } else { 86400 });
                for p in tiling_problems(&s, t(from), t(from) + span) {
                    failures.push(format!("from={from}: {p}"));
                }
            }
            Some((status, v)) => failures.push(format!(
                "/api/v1/schedule?from={query_from}&for={for_}: {status}, differs from the CLI \
                 ({n} slots):\nAPI {}\nCLI {}",
                common::tail(&v.to_string(), 3),
                common::tail(&cli.to_string(), 3)
            )),
            None => failures.push(format!("/api/v1/schedule?from={query_from} did not answer")),
        }
    }

    // /epg.xml: the next 24 h as XMLTV, the same programmes as the CLI's for that window.
    let asked = Utc::now();
    let epg = http_get(port, "/epg.xml");
    let cli_xml = schedule(&channel, &rfc3339(asked), "24h", "xmltv");
    match epg {
        Some((200, body)) => match (parse_xmltv(&body), parse_xmltv(&cli_xml)) {
            (Ok(a), Ok(b)) => {
                println!(
                    "/epg.xml: {} programmes, CLI {}",
                    a.programmes.len(),
                    b.programmes.len()
                );
                if a.root != "tv" || a.channels.len() != 1 || a.programmes != b.programmes {
                    failures.push(format!(
                        "/epg.xml differs from `schedule --format xmltv`: {:?} vs {:?}",
                        a.programmes.first(),
                        b.programmes.first()
                    ));
                }
            }
            (a, b) => failures.push(format!(
                "not well-formed: /epg.xml {:?}, CLI {:?}",
                a.err(),
                b.err()
            )),
        },
        other => failures.push(format!("/epg.xml: {other:?}")),
    }
    let run = playout.wait(Duration::from_secs(60));
    println!("playout: {}\n{}", run.status, tail(&run.stderr, 10));
    if !run.status.success() {
        failures.push(format!("playout exited with {}", run.status));
    }
    assert!(failures.is_empty(), "failures: {failures:#?}");
}
