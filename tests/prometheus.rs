//! Operating playout from Grafana, proven on a real Prometheus (Debian's `prometheus`):
//!
//! - the alert rules pass `promtool check rules`, and `promtool test rules` shows every alert
//!   firing on a synthetic series and staying quiet on a healthy one;
//! - the dashboard is current Grafana JSON with a data source variable and an `instance`
//!   variable that every query filters on;
//! - a paced run (a missing file and two clips; a good output to nginx and a dead one) is scraped
//!   every second, and after it every query of every panel (variables substituted) returns data
//!   through the HTTP API; the rules loaded into the same Prometheus evaluate cleanly and put
//!   exactly the expected alerts up; `promtool check metrics` has nothing to say about a scrape;
//!   the contract metrics are all there and move as the playlist says;
//! - `/healthz` is 200 throughout that run, and 503 with a JSON reason after 5 s in a run whose
//!   only output is dead (scraped too, so its health alert goes pending).
mod common;

use std::collections::BTreeSet;
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::prom::{
    dashboards_dir, panel_queries, panels, promtool, sample_value, substitute, unix_now,
    PanelQuery, Prometheus,
};
use common::*;

/// How long the paced run plays before the queries (the test's wall time is about this).
const RUN: Duration = Duration::from_secs(20);
/// The alerts the issues ask for, by name: a channel's five, and a host's two.
const ALERTS: [&str; 7] = [
    "PlayoutOutputDisconnected",
    "PlayoutWallclockDrift",
    "PlayoutEncodeTooSlow",
    "PlayoutItemFailures",
    "PlayoutHealthFailing",
    "PlayoutChannelRestarting",
    "PlayoutChannelFailed",
];
/// Every sample name of the metrics contract (labels as they appear in this run).
const CONTRACT: [&str; 32] = [
    "playout_build_info{version=",
    "playout_video_frames_encoded_total",
    "playout_encoded_seconds_total",
    "playout_item_transitions_total",
    "playout_item_failures_total{reason=\"missing\"}",
    "playout_slate_seconds_total",
    "playout_held_frames_total",
    "playout_silence_seconds_total",
    "playout_current_item_position_seconds",
    "playout_current_item_remaining_seconds",
    "playout_output_connected{output=\"live\"}",
    "playout_output_connected{output=\"dead\"}",
    "playout_output_reconnects_total{output=\"dead\"}",
    "playout_output_bytes_total{output=\"live\"}",
    "playout_output_dropped_packets_total{output=\"dead\"}",
    "playout_output_timestamp_errors_total{output=\"live\"}",
    "playout_wallclock_drift_seconds",
    "playout_av_offset_seconds",
    "playout_encode_speed_ratio",
    "playout_queue_depth{stage=\"frames\"}",
    "playout_queue_depth{stage=\"packets\"}",
    "playout_queue_depth{stage=\"output_live\"}",
    "playout_playlist_reloads_total{result=\"ok\"}",
    "playout_playlist_reloads_total{result=\"rejected\"}",
    "playout_playlist_items",
    "playout_air_lead_seconds",
    "playout_air_underruns_total",
    "playout_asrun_entries_total",
    "playout_asrun_write_errors_total",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
];

/// Every Grafana dashboard in `dashboards/` (`*.json`), by file name; there is at least
/// `playout.json`.
fn load_dashboards() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = fs::read_dir(dashboards_dir())
        .expect("dashboards/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|path| {
            let text =
                fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let v =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        out.iter().any(|(n, _)| n == "playout.json"),
        "dashboards/playout.json missing"
    );
    out
}

fn load_yaml(name: &str) -> serde_yaml::Value {
    let path = dashboards_dir().join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn alert_rules_pass_promtool_and_each_alert_has_firing_and_quiet_tests() {
    let dir = dashboards_dir();
    let rules = dir.join("alerts.yaml");
    let tests = dir.join("alerts.test.yaml");
    let (ok, out) = promtool(&["check", "rules", rules.to_str().unwrap()], "");
    println!("promtool check rules:\n{out}");
    assert!(ok, "promtool check rules failed:\n{out}");
    let (ok, out) = promtool(&["test", "rules", tests.to_str().unwrap()], "");
    println!("promtool test rules:\n{out}");
    assert!(ok && out.contains("SUCCESS"), "promtool test rules:\n{out}");

    // The rules are exactly those alerts.
    let names: BTreeSet<String> = load_yaml("alerts.yaml")["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|r| r["alert"].as_str().map(String::from))
        .collect();
    assert_eq!(names, ALERTS.iter().map(|s| s.to_string()).collect());
    // Each has a unit test where it fires and one where it stays quiet.
    let (mut fires, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    for case in load_yaml("alerts.test.yaml")["tests"]
        .as_sequence()
        .expect("tests")
    {
        for t in case["alert_rule_test"].as_sequence().into_iter().flatten() {
            let name = t["alertname"].as_str().expect("alertname").to_string();
            match t["exp_alerts"].as_sequence() {
                Some(a) if !a.is_empty() => fires.insert(name),
                _ => quiet.insert(name),
            };
        }
    }
    for a in ALERTS {
        assert!(fires.contains(a), "no unit test shows {a} firing");
        assert!(quiet.contains(a), "no unit test shows {a} staying quiet");
    }
}

/// Metric names in a PromQL expression that are not followed by a selector containing
/// `instance=~"$instance"`.
fn unfiltered_selectors(expr: &str) -> Vec<String> {
    let b = expr.as_bytes();
    let mut bad = Vec::new();
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    while i < b.len() {
        if b[i] == b'"' {
            // Skip string literals.
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += 1 + (b[i] == b'\\') as usize;
            }
            i += 1;
        } else if b[i] == b'{' {
            // Skip an existing selector's contents.
            while i < b.len() && b[i] != b'}' {
                i += 1;
            }
        } else if ident(b[i]) && (i == 0 || !(ident(b[i - 1]) || b[i - 1] == b'$')) {
            let start = i;
            while i < b.len() && ident(b[i]) {
                i += 1;
            }
            let name = &expr[start..i];
            if name.starts_with("playout_") || name.starts_with("process_") || name == "up" {
                let rest = expr[i..].trim_start();
                let filtered = rest.starts_with('{')
                    && rest[..rest.find('}').unwrap_or(0)].contains("instance=~\"$instance\"");
                if !filtered {
                    bad.push(name.to_string());
                }
            }
        } else {
            i += 1;
        }
    }
    bad
}

#[test]
fn dashboards_are_grafana_json_with_datasource_and_instance_variables() {
    for (file, d) in load_dashboards() {
        check_dashboard(&file, &d);
    }
    assert!(unfiltered_selectors("rate(playout_x_total[5m])") == ["playout_x_total"]);
    assert!(unfiltered_selectors("sum by (instance) (up{instance=~\"$instance\"})").is_empty());
}

fn check_dashboard(file: &str, d: &Value) {
    let schema = d["schemaVersion"].as_i64().expect("schemaVersion");
    assert!(
        (36..=41).contains(&schema),
        "{file}: schemaVersion {schema}: expected a current one (~39)"
    );
    assert!(
        d["uid"].as_str().is_some_and(|u| !u.is_empty()),
        "{file}: uid"
    );
    assert!(
        d["title"].as_str().is_some_and(|u| !u.is_empty()),
        "{file}: title"
    );
    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let var = |n: &str| {
        vars.iter()
            .find(|v| v["name"] == n)
            .unwrap_or_else(|| panic!("{file}: no ${n} variable"))
    };
    let ds = var("datasource");
    assert_eq!(ds["type"], "datasource", "{file}: $datasource");
    assert_eq!(ds["query"], "prometheus", "{file}: $datasource");
    let inst = var("instance");
    assert_eq!(inst["type"], "query", "{file}: $instance");
    assert_eq!(
        inst["query"], "label_values(playout_build_info, instance)",
        "{file}: $instance"
    );
    assert_eq!(
        inst["datasource"]["uid"], "${datasource}",
        "{file}: $instance"
    );

    let all = panels(d);
    let mut ids = BTreeSet::new();
    for p in &all {
        let title = format!("{file}: {}", p["title"].as_str().unwrap_or("?"));
        let id = p["id"].as_i64().unwrap_or_else(|| panic!("{title}: no id"));
        assert!(ids.insert(id), "{title}: panel id {id} used twice");
        let g = &p["gridPos"];
        let (x, w) = (g["x"].as_i64().unwrap(), g["w"].as_i64().unwrap());
        assert!(x >= 0 && w > 0 && x + w <= 24, "{title}: gridPos {g}");
        let kind = p["type"].as_str().unwrap();
        if kind == "row" || kind == "text" {
            continue;
        }
        assert_eq!(
            p["datasource"]["uid"], "${datasource}",
            "{title}: panel data source"
        );
        let targets = p["targets"].as_array().cloned().unwrap_or_default();
        assert!(!targets.is_empty(), "{title}: no queries");
        for t in &targets {
            assert_eq!(
                t["datasource"]["uid"], "${datasource}",
                "{title}: query data source"
            );
            let expr = t["expr"].as_str().expect("expr");
            let bad = unfiltered_selectors(expr);
            assert!(
                bad.is_empty(),
                "{title}: {bad:?} not filtered by instance in {expr}"
            );
        }
    }
    if file != "playout.json" {
        return;
    }
    // What the issue asks the channel's dashboard to show.
    let exprs: String = panel_queries(d)
        .iter()
        .map(|q| q.expr.clone())
        .collect::<Vec<_>>()
        .join("\n");
    for m in [
        "playout_current_item_position_seconds",
        "playout_current_item_remaining_seconds",
        "playout_wallclock_drift_seconds",
        "playout_av_offset_seconds",
        "playout_encode_speed_ratio",
        "playout_output_connected",
        "playout_output_reconnects_total",
        "playout_output_bytes_total",
        "playout_slate_seconds_total",
        "playout_item_failures_total",
        "playout_playlist_reloads_total",
        "playout_queue_depth",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(exprs.contains(m), "no panel shows {m}");
    }
}

/// A channel in `dir` called `name`: `items`, `outputs`, HTTP on 127.0.0.1:`http`.
fn channel(
    dir: &std::path::Path,
    name: &str,
    items: &[ItemSpec],
    outputs: &[OutputSpec],
    http: u16,
) -> std::path::PathBuf {
    let sub = dir.join(name);
    fs::create_dir(&sub).unwrap();
    let playlist = write_playlist(&sub, items);
    let extra = format!(
        "{}http: {{ listen: \"127.0.0.1:{http}\" }}\n",
        output_yaml(outputs)
    );
    write_channel(&sub, name, 320, 180, "30", &playlist, &extra)
}

/// The first answer of `scrapes` from a given HTTP status on, as seconds after `t`.
fn first_status(scrapes: &[Scrape], status: u16, t: Instant) -> Option<f64> {
    scrapes
        .iter()
        .find(|s| s.status == status)
        .map(|s| s.at.saturating_duration_since(t).as_secs_f64())
}

#[test]
fn every_dashboard_panel_returns_data_from_a_paced_run() {
    let (good_port, down_port, nobody) = (free_port(), free_port(), free_port());
    assert!(good_port != down_port && nobody != good_port && nobody != down_port);
    let (gi, di) = (
        format!("127.0.0.1:{good_port}"),
        format!("127.0.0.1:{down_port}"),
    );
    // Started first: Prometheus takes up to 5 s to pick up its static targets.
    let rules = dashboards_dir().join("alerts.yaml");
    let prom = Prometheus::start(&[gi.clone(), di.clone()], &[&rules], Duration::from_secs(1));
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let dead_url = format!("rtmp://127.0.0.1:{nobody}/live/dead");
    // 6 s a round: the missing file (2 s of failure slate), then two 2 s clips.
    let good = channel(
        dir.path(),
        "good",
        &[
            ItemSpec::clip(dir.path().join("not-there.mp4")),
            ItemSpec::clip(&fixture("landscape_25").path),
            ItemSpec::clip(&fixture("vertical").path),
        ],
        &[
            OutputSpec::new("live", &nginx.url("prom")),
            OutputSpec::new("dead", &dead_url),
        ],
        good_port,
    );
    // The "separate short run": its only output is dead (slate only: cheap to encode).
    let down = channel(
        dir.path(),
        "down",
        &[ItemSpec::slate("10s")],
        &[OutputSpec::new("dead", &dead_url)],
        down_port,
    );
    let health_good = Scraper::start(good_port, &["/healthz"], Duration::from_millis(500));
    let health_down = Scraper::start(down_port, &["/healthz"], Duration::from_millis(500));
    let t0 = unix_now();
    // `--for` only bounds a failing test: both are killed once the queries are done.
    let mut good_run = Playout::spawn(&["run", good.to_str().unwrap(), "--for", "120s"], &[]);
    let mut down_run = Playout::spawn(&["run", down.to_str().unwrap(), "--for", "120s"], &[]);
    thread::sleep(RUN.saturating_sub(good_run.started.elapsed()));
    assert!(
        good_run.is_running(),
        "playout (good) exited early:\n{}",
        tail(&good_run.stderr(), 30)
    );
    assert!(
        down_run.is_running(),
        "playout (down) exited early:\n{}",
        tail(&down_run.stderr(), 30)
    );
    // Let Prometheus take one more scrape and rule evaluation.
    thread::sleep(Duration::from_millis(1500));
    let t_end = unix_now();
    let mut facts: Vec<String> = Vec::new();

    // --- /healthz --------------------------------------------------------------------------
    let hg: Vec<Scrape> = health_good.scrapes();
    let hd: Vec<Scrape> = health_down.scrapes();
    assert!(hg.len() >= 20, "only {} /healthz answers", hg.len());
    for s in &hg {
        assert!(
            s.status == 200 && s.body.contains("\"ok\""),
            "/healthz of the good run at {:.1} s: {} {}",
            s.at.saturating_duration_since(good_run.started)
                .as_secs_f64(),
            s.status,
            s.body
        );
    }
    let first_503 = first_status(&hd, 503, down_run.started)
        .unwrap_or_else(|| panic!("/healthz of the dead-only run never failed: {hd:?}"));
    let last = hd.last().unwrap();
    let reason: Value = serde_json::from_str(&last.body).expect("/healthz body is JSON");
    facts.push(format!(
        "/healthz: good run {} answers, all 200; dead-only run 200 until {first_503:.1} s, then {} {}",
        hg.len(),
        last.status,
        last.body
    ));
    assert!(
        (5.0..8.0).contains(&first_503),
        "dead-only /healthz turned 503 at {first_503:.1} s (expected just after 5 s)"
    );
    assert!(
        hd.iter()
            .filter(|s| s.at.saturating_duration_since(down_run.started)
                > Duration::from_secs_f64(first_503 + 0.1))
            .all(|s| s.status == 503),
        "dead-only /healthz recovered: {hd:?}"
    );
    assert_eq!(last.status, 503);
    assert_eq!(reason["status"], "unhealthy");
    assert!(
        reason["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no output has been connected")),
        "reason: {reason}"
    );

    // --- A raw scrape: promtool check metrics, the contract, movement ---------------------
    let (status, scrape) = http_get(good_port, "/metrics").expect("/metrics answered");
    assert_eq!(status, 200);
    let (ok, out) = promtool(&["check", "metrics"], &scrape);
    assert!(
        ok && out.trim().is_empty(),
        "promtool check metrics: {out}\n{scrape}"
    );
    for name in CONTRACT {
        assert!(
            scrape
                .lines()
                .any(|l| l.starts_with(name) && !l.starts_with('#')),
            "{name} missing from the scrape:\n{scrape}"
        );
    }
    let v = |n: &str| sample(&scrape, n).unwrap_or_else(|| panic!("{n} missing:\n{scrape}"));
    let transitions = v("playout_item_transitions_total");
    let failures = v("playout_item_failures_total{reason=\"missing\"}");
    let slate = v("playout_slate_seconds_total");
    let encoded = v("playout_encoded_seconds_total");
    facts.push(format!(
        "after {:.1} s: encoded {encoded} s, transitions {transitions}, failures(missing) \
         {failures}, slate {slate:.2} s, held frames {}, silence {:.2} s",
        good_run.started.elapsed().as_secs_f64(),
        v("playout_held_frames_total"),
        v("playout_silence_seconds_total"),
    ));
    assert!(failures >= 1.0 && slate >= 2.0 && transitions >= 3.0);
    // Every third item is the missing file, each failure is 2 s of slate, items are 2 s long
    // (the source runs a little ahead of the encoder: bounded queues).
    let rounds = (transitions / 3.0).ceil();
    assert!(
        failures == rounds || failures == rounds - 1.0,
        "{failures} failures for {transitions} items (every third item is missing)"
    );
    assert!(
        (slate - 2.0 * failures).abs() <= 2.0,
        "{slate} s of slate for {failures} failures of 2 s"
    );
    assert!(
        (transitions - encoded / 2.0).abs() <= 3.0,
        "{transitions} items of 2 s for {encoded} s encoded"
    );

    // --- Prometheus: the template variable, then every panel query -------------------------
    let instances = prom.label_values("instance", "playout_build_info");
    assert!(
        instances.contains(&gi) && instances.contains(&di),
        "label_values(playout_build_info, instance) = {instances:?}"
    );
    assert_eq!(
        prom.scalar(&format!("up{{instance=\"{gi}\"}}"), None),
        Some(1.0)
    );
    let queries: Vec<(String, PanelQuery)> = load_dashboards()
        .iter()
        .flat_map(|(file, d)| panel_queries(d).into_iter().map(move |q| (file.clone(), q)))
        .collect();
    let mut table = Vec::new();
    let mut empty = Vec::new();
    for (file, q) in &queries {
        let expr = substitute(&q.expr, &gi, "30s");
        let now = prom.query(&expr, None);
        let range = prom.query_range(&expr, t0, t_end, 1.0);
        let points = range
            .iter()
            .map(|s| s["values"].as_array().map_or(0, |v| v.len()))
            .max()
            .unwrap_or(0);
        let none = prom.query(&substitute(&q.expr, "nope:1", "30s"), None);
        let shown: Vec<String> = now
            .iter()
            .map(|s| {
                let m = &s["metric"];
                let label = ["output", "stage", "reason", "result", "version"]
                    .iter()
                    .find_map(|l| m[*l].as_str().map(|v| format!("{l}={v} ")))
                    .unwrap_or_default();
                format!("{label}{:.4}", sample_value(s))
            })
            .collect();
        table.push(format!(
            "{file} {:<34} {} {:>2} series, {:>2} points  {}",
            q.panel,
            q.ref_id,
            now.len(),
            points,
            shown.join(", ")
        ));
        if now.is_empty() || points < 5 {
            empty.push(format!(
                "{file} {} {}: {} (now: {} series, range: {points} points)",
                q.panel,
                q.ref_id,
                expr,
                now.len()
            ));
        }
        assert!(
            none.is_empty(),
            "{file} {} {}: returns data for another instance: {none:?}",
            q.panel,
            q.ref_id
        );
    }
    println!("panel queries (instance {gi}):\n{}", table.join("\n"));
    assert!(queries.len() >= 20, "only {} panel queries", queries.len());
    assert!(empty.is_empty(), "panel queries without data:\n{empty:#?}");

    // What the output panels show: both states, traffic on the live one, retries on the dead.
    let at = |e: &str| prom.scalar(&e.replace("GI", &gi), None);
    let connected_live = at("playout_output_connected{instance=\"GI\",output=\"live\"}");
    let connected_dead = at("playout_output_connected{instance=\"GI\",output=\"dead\"}");
    let bitrate = at("rate(playout_output_bytes_total{instance=\"GI\",output=\"live\"}[5s]) * 8");
    let reconnects = at("playout_output_reconnects_total{instance=\"GI\",output=\"dead\"}");
    let dropped_dead = at("playout_output_dropped_packets_total{instance=\"GI\",output=\"dead\"}");
    let dropped_live = at("playout_output_dropped_packets_total{instance=\"GI\",output=\"live\"}");
    let speed = at("playout_encode_speed_ratio{instance=\"GI\"}");
    let speed_rate = at("rate(playout_encoded_seconds_total{instance=\"GI\"}[15s])");
    let drift = at("playout_wallclock_drift_seconds{instance=\"GI\"}");
    let drift_max =
        at("max_over_time(abs(playout_wallclock_drift_seconds{instance=\"GI\"})[1m:1s])");
    let av = at("playout_av_offset_seconds{instance=\"GI\"}");
    let rss = at("process_resident_memory_bytes{instance=\"GI\"}");
    let cpu = at("process_cpu_seconds_total{instance=\"GI\"}");
    // Prometheus picks static targets up within 5 s of starting: the first samples come then.
    let series = prom.query_range(
        &format!("playout_item_transitions_total{{instance=\"{gi}\"}}"),
        t0,
        t_end,
        1.0,
    );
    let values: Vec<(f64, f64)> = series
        .first()
        .and_then(|s| s["values"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|v| {
            (
                v[0].as_f64().unwrap() - t0,
                v[1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let (transitions_early, first_scraped) = values
        .first()
        .map_or((None, None), |v| (Some(v.1), Some(v.0)));
    let transitions_late = at("playout_item_transitions_total{instance=\"GI\"}");
    facts.push(format!(
        "outputs: live connected {connected_live:?}, {:.0} kbit/s, dropped {dropped_live:?}; \
         dead connected {connected_dead:?}, reconnects {reconnects:?}, dropped {dropped_dead:?}",
        bitrate.unwrap_or(0.0) / 1000.0
    ));
    facts.push(format!(
        "encode speed gauge {speed:?}, rate(encoded_seconds[15s]) {speed_rate:?}; drift \
         {drift:?} (max |drift| {drift_max:?}); A/V offset {av:?}; RSS {:.1} MB; CPU {cpu:?} s",
        rss.unwrap_or(0.0) / 1e6
    ));
    facts.push(format!(
        "first sample in Prometheus {first_scraped:?} s after the start: transitions \
         {transitions_early:?}, at the end {transitions_late:?}"
    ));
    assert_eq!(connected_live, Some(1.0));
    assert_eq!(connected_dead, Some(0.0));
    assert!(
        bitrate.unwrap_or(0.0) > 100_000.0,
        "live bitrate {bitrate:?}"
    );
    assert!(reconnects.unwrap_or(0.0) >= 1.0);
    assert!(dropped_dead.unwrap_or(0.0) > 0.0);
    assert!(
        speed_rate.is_some_and(|r| (0.85..1.15).contains(&r)),
        "a paced run encodes at 1.0x: {speed_rate:?}"
    );
    assert!(speed.is_some_and(|s| s >= 0.95), "speed gauge {speed:?}");
    assert!(drift.is_some_and(|d| d.abs() < 0.5), "drift {drift:?}");
    assert!(av.is_some_and(|a| a.abs() < 0.1), "A/V offset {av:?}");
    assert!(
        transitions_late.unwrap_or(0.0) >= transitions_early.unwrap_or(f64::MAX) + 4.0,
        "transitions did not rise: {transitions_early:?} -> {transitions_late:?}"
    );

    // --- The alert rules on the real run ----------------------------------------------------
    let groups = prom.api("/api/v1/rules");
    for g in groups["groups"].as_array().expect("rule groups") {
        for r in g["rules"].as_array().expect("rules") {
            assert_eq!(
                r["health"], "ok",
                "rule {} does not evaluate: {}",
                r["name"], r["lastError"]
            );
        }
    }
    let alerts = prom.query("ALERTS", None);
    let mut up: Vec<String> = alerts
        .iter()
        .map(|a| {
            let m = &a["metric"];
            let label = |l: &str| m[l].as_str().unwrap_or("-").to_string();
            format!(
                "{} {} {} output={} reason={}",
                label("alertname"),
                label("alertstate"),
                if label("instance") == gi {
                    "good"
                } else if label("instance") == di {
                    "down"
                } else {
                    "?"
                },
                label("output"),
                label("reason")
            )
        })
        .collect();
    up.sort();
    facts.push(format!("ALERTS: {up:?}"));
    // `for: 30s` alerts are pending after 20 s; item failures fire at once.
    let expected: Vec<String> = [
        "PlayoutHealthFailing pending down output=- reason=-",
        "PlayoutItemFailures firing good output=- reason=missing",
        "PlayoutOutputDisconnected pending down output=dead reason=-",
        "PlayoutOutputDisconnected pending good output=dead reason=-",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(up, expected, "alerts during the run");

    println!("{}", facts.join("\n"));
    drop(good_run);
    drop(down_run);
}
