//! `playout run DIR`: a host of real child processes behind one front door (issue 29).
//!
//! - `a_host_supervises_each_channel_alone`: three channels go on air; the front door's
//!   channel list, `/healthz`, `/playlist.m3u`, `/epg.xml` (parsed as XML) and `/metrics`
//!   (`promtool check metrics`) describe them; `/c/ID/…` reaches each channel's watch page,
//!   HLS and API, and the one gate opens control routes to the host's token and to a channel's
//!   own token for that channel only. Then one child is killed with `kill -9` and comes back
//!   on its own; a file is added (on air within 10 s), one that does not validate and one
//!   that would share another's HLS folder are listed as failed with the checker's message,
//!   and one is removed (stopped, its state file kept). Meanwhile the other channels' HLS is
//!   read through the front door: no discontinuity, no gap, no stall, and their processes
//!   are never restarted. SIGTERM then ends the host and every child.
//! - `children_end_with_a_killed_host`: after `kill -9` of the host, no child plays on.
//! - `the_list_page_and_console_picker_in_chromium`: web/test/channels.mjs against a host.
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::control::call;
use common::edits::signal;
use common::hls::{parse_playlist, request};
use common::live::Playout;
use common::nginx::free_port;
use common::prom::promtool;
use common::tail;
use common::watch::Poller;

const HOST_TOKEN: &str = "host-token-for-the-test-0123";
const OWN_TOKEN: &str = "own-token-of-channel-c-4567";

/// A slate-only channel: light enough for several on two cores, with an HLS output.
fn write_channel(dir: &Path, id: &str, hls: &str, extra: &str) -> PathBuf {
    fs::write(
        dir.join(format!("{id}.playlist.yaml")),
        format!("items:\n  - slate: 4s\n    title: {id} one\n  - slate: 4s\n    title: {id} two\n"),
    )
    .unwrap();
    let file = dir.join(format!("{id}.channel.yaml"));
    let text = format!(
        "name: \"Channel {id}\"\nplaylist: {id}.playlist.yaml\n\
         video: {{ width: 320, height: 180, fps: 10, bitrate: 100k, preset: ultrafast, keyframe_interval: 2s }}\n\
         audio: {{ sample_rate: 48000, channels: 2, bitrate: 64k }}\n\
         slate: {{ text: \"{id}\" }}\n\
         outputs:\n  - name: web\n    url: \"hls:{hls}\"\n{extra}"
    );
    // Whole at once: the host must never read half a file.
    let tmp = dir.join(format!(".{id}.tmp"));
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, &file).unwrap();
    file
}

fn write_host(dir: &Path, port: u16) {
    fs::write(
        dir.join("host.yaml"),
        format!("http: {{ listen: \"127.0.0.1:{port}\", api_token: \"{HOST_TOKEN}\" }}\n"),
    )
    .unwrap();
}

/// A folder with host.yaml on a free port and a channel for each of `ids` (HLS in hls-ID).
fn host_folder(prefix: &str, ids: &[&str]) -> (tempfile::TempDir, u16) {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let port = free_port();
    write_host(dir.path(), port);
    for id in ids {
        write_channel(dir.path(), id, &format!("hls-{id}"), "");
    }
    (dir, port)
}

fn get(port: u16, path: &str) -> (u16, String) {
    match request(port, "GET", path, &[]) {
        Some(r) => (r.status, r.text()),
        None => (0, String::new()),
    }
}

fn channels(port: u16) -> BTreeMap<String, Value> {
    let (status, body) = get(port, "/api/v1/channels");
    if status != 200 {
        return BTreeMap::new();
    }
    let v: Value = serde_json::from_str(&body).expect("/api/v1/channels is JSON");
    v["channels"]
        .as_array()
        .expect("channels: []")
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c.clone()))
        .collect()
}

/// Polls the channel list until `ok` holds (the list when it did), or `limit` passes.
fn wait_for(
    port: u16,
    limit: Duration,
    ok: impl Fn(&BTreeMap<String, Value>) -> bool,
) -> Option<(Duration, BTreeMap<String, Value>)> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        let list = channels(port);
        if ok(&list) {
            return Some((t0.elapsed(), list));
        }
        thread::sleep(Duration::from_millis(100));
    }
    None
}

fn state(list: &BTreeMap<String, Value>, id: &str) -> String {
    list.get(id)
        .and_then(|c| c["state"].as_str())
        .unwrap_or("")
        .to_string()
}

fn pid(list: &BTreeMap<String, Value>, id: &str) -> u32 {
    list[id]["pid"].as_u64().expect("a pid") as u32
}

/// Whether `pid` is a live process (a zombie is not).
fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| {
            !s.lines()
                .any(|l| l.starts_with("State:") && l.contains('Z'))
        })
        .unwrap_or(false)
}

/// What one channel's HLS showed through the front door, polled twice a second.
#[derive(Default)]
struct HlsSeen {
    /// (sequence, duration, program-date-time, discontinuity) of every segment seen.
    segments: BTreeMap<u64, (f64, chrono::DateTime<chrono::Utc>, bool)>,
    /// When each new segment was first listed.
    arrivals: Vec<Instant>,
    errors: Vec<String>,
}

fn watch_hls(port: u16, id: &str) -> (Arc<Mutex<HlsSeen>>, Poller) {
    let seen = Arc::new(Mutex::new(HlsSeen::default()));
    let (s, path) = (seen.clone(), format!("/c/{id}/hls/index.m3u8"));
    let poller = Poller::spawn(Duration::from_millis(500), move || {
        let (status, text) = get(port, &path);
        let mut s = s.lock().unwrap();
        if status != 200 {
            s.errors.push(format!("{path}: HTTP {status}"));
            return;
        }
        for seg in parse_playlist(&text).segments {
            if !s.segments.contains_key(&seg.seq) {
                s.arrivals.push(Instant::now());
                s.segments
                    .insert(seg.seq, (seg.duration, seg.pdt, seg.discontinuity));
            }
        }
    });
    (seen, poller)
}

/// Problems in what a channel's HLS showed: a discontinuity, a sequence gap, a date-time
/// that does not follow on, or no new segment for over 3 target durations.
fn hls_problems(id: &str, seen: &HlsSeen) -> Vec<String> {
    let mut p: Vec<String> = seen.errors.iter().map(|e| format!("{id}: {e}")).collect();
    let segs: Vec<_> = seen.segments.iter().collect();
    for w in segs.windows(2) {
        let ((s0, (d0, t0, _)), (s1, (_, t1, disc))) = (w[0], w[1]);
        if *s1 != s0 + 1 {
            p.push(format!("{id}: segment {s1} follows {s0}"));
        }
        if *disc {
            p.push(format!("{id}: a discontinuity at segment {s1}"));
        }
        let step = (*t1 - *t0).num_milliseconds() as f64 / 1000.0;
        if (step - d0).abs() > 0.05 {
            p.push(format!(
                "{id}: segment {s1} starts {step:.3} s after {s0}, which lasts {d0:.3} s"
            ));
        }
    }
    for w in seen.arrivals.windows(2) {
        if w[1] - w[0] > Duration::from_secs(6) {
            p.push(format!(
                "{id}: no new segment for {:.1} s",
                (w[1] - w[0]).as_secs_f64()
            ));
        }
    }
    p
}

fn start_host(dir: &Path) -> Playout {
    Playout::spawn(&["run", dir.to_str().unwrap()], &[])
}

#[test]
fn a_host_supervises_each_channel_alone() {
    let (dir, port) = host_folder("playout-host-", &["a", "b"]);
    let d = dir.path();
    write_channel(
        d,
        "c",
        "hls-c",
        &format!("http: {{ api_token: \"{OWN_TOKEN}\" }}\n"),
    );
    let host = start_host(d);
    let on_air = |ids: &'static [&'static str]| {
        move |l: &BTreeMap<String, Value>| ids.iter().all(|id| state(l, id) == "on_air")
    };
    let (took, list) = wait_for(port, Duration::from_secs(60), on_air(&["a", "b", "c"]))
        .unwrap_or_else(|| {
            panic!(
                "three channels not on air within 60 s: {:?}\n{}",
                channels(port),
                tail(&host.stderr(), 40)
            )
        });
    println!(
        "HOST three channels on air {:.2} s after the list first answered",
        took.as_secs_f64()
    );
    for (id, c) in &list {
        for key in [
            "id", "name", "state", "since", "pid", "restarts", "on_air", "error",
        ] {
            assert!(c.get(key).is_some(), "{id} has no {key}: {c}");
        }
        assert_eq!(c["name"], format!("Channel {id}"));
        assert_eq!(c["restarts"], 0, "{c}");
    }
    // Every channel's HLS, through the front door, from its first segment on.
    for id in ["a", "b", "c"] {
        let path = format!("/c/{id}/hls/index.m3u8");
        let t0 = Instant::now();
        while get(port, &path).0 != 200 {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "{path}: no playlist within 20 s"
            );
            thread::sleep(Duration::from_millis(200));
        }
    }
    let (seen_b, poll_b) = watch_hls(port, "b");
    let (seen_c, poll_c) = watch_hls(port, "c");
    let pids_bc = (pid(&list, "b"), pid(&list, "c"));

    // --- The front door's own routes --------------------------------------------------------
    let (status, health) = get(port, "/healthz");
    assert_eq!(status, 200, "{health}");
    let (status, m3u) = get(port, "/playlist.m3u");
    assert_eq!(status, 200);
    let lines: Vec<&str> = m3u.lines().collect();
    assert_eq!(lines[0], "#EXTM3U", "{m3u}");
    for id in ["a", "b", "c"] {
        let i = lines
            .iter()
            .position(|l| {
                *l == format!("#EXTINF:-1 tvg-id=\"{id}\" tvg-name=\"Channel {id}\",Channel {id}")
            })
            .unwrap_or_else(|| panic!("no #EXTINF for {id}:\n{m3u}"));
        let url = lines[i + 1];
        assert_eq!(
            url,
            format!("http://127.0.0.1/c/{id}/hls/index.m3u8"),
            "{m3u}"
        );
        let (status, text) = get(port, &format!("/c/{id}/hls/index.m3u8"));
        assert_eq!(status, 200, "{url}: {text}");
    }
    let (status, epg) = get(port, "/epg.xml");
    assert_eq!(status, 200);
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as E\n\
             t = E.fromstring(sys.stdin.read())\n\
             ids = [c.get('id') for c in t.findall('channel')]\n\
             ps = {p.get('channel') for p in t.findall('programme')}\n\
             print(','.join(ids)); print(','.join(sorted(ps)))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(epg.as_bytes())?;
            c.wait_with_output()
        })
        .expect("python3 to parse the guide");
    let out = String::from_utf8_lossy(&parsed.stdout);
    assert!(
        parsed.status.success(),
        "/epg.xml is not XML: {}\n{epg}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), ["a,b,c", "a,b,c"], "{epg}");
    let (status, scrape) = get(port, "/metrics");
    assert_eq!(status, 200);
    let (ok, said) = promtool(&["check", "metrics"], &scrape);
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics: {said}\n{scrape}"
    );
    for id in ["a", "b", "c"] {
        assert!(
            scrape.contains(&format!(
                "playout_encoded_seconds_total{{channel=\"{id}\"}}"
            )),
            "{id}'s metrics are not in the host's:\n{scrape}"
        );
        assert!(scrape.contains(&format!(
            "playout_host_channel_state{{channel=\"{id}\",state=\"on_air\"}} 1"
        )));
        assert!(scrape.contains(&format!(
            "playout_host_child_resident_memory_bytes{{channel=\"{id}\"}}"
        )));
    }
    assert!(
        scrape.contains("playout_host_channels{state=\"on_air\"} 3"),
        "{scrape}"
    );

    // --- One channel's pages and API under /c/ID/ ---------------------------------------------
    let (status, page) = get(port, "/c/a/");
    assert_eq!(status, 200);
    assert!(page.contains("watch.js"), "{page}");
    let r = request(port, "GET", "/c/a", &[]).unwrap();
    assert_eq!((r.status, r.header("location")), (308, Some("/c/a/")));
    let (status, now) = get(port, "/c/b/api/v1/now");
    assert_eq!(status, 200);
    assert!(now.contains("b one") || now.contains("b two"), "{now}");
    assert_eq!(get(port, "/c/nope/api/v1/now").0, 404);

    // --- The one gate ------------------------------------------------------------------------
    let bearer = |t: &str| format!("Authorization: Bearer {t}");
    let status_of = |path: &str, auth: Option<&str>| {
        let h: Vec<String> = auth.map(bearer).into_iter().collect();
        let h: Vec<&str> = h.iter().map(String::as_str).collect();
        call(port, "GET", path, &h, b"").status
    };
    assert_eq!(status_of("/c/a/api/v1/playlist", None), 401);
    assert_eq!(
        status_of("/c/a/api/v1/playlist", Some("wrong-token-wrong-token")),
        401
    );
    assert_eq!(status_of("/c/a/api/v1/playlist", Some(HOST_TOKEN)), 200);
    assert_eq!(status_of("/c/c/api/v1/playlist", Some(HOST_TOKEN)), 200);
    assert_eq!(status_of("/c/c/api/v1/playlist", Some(OWN_TOKEN)), 200);
    assert_eq!(
        status_of("/c/a/api/v1/playlist", Some(OWN_TOKEN)),
        401,
        "c's own token opened its neighbour a"
    );
    assert_eq!(status_of("/c/b/api/v1/outputs", Some(OWN_TOKEN)), 401);
    let skip = call(port, "POST", "/c/c/api/v1/skip", &[&bearer(OWN_TOKEN)], b"");
    assert_eq!(skip.status, 200, "{}", skip.text());

    // --- kill -9 of one child ----------------------------------------------------------------
    let before = channels(port);
    let victim = pid(&before, "a");
    signal(victim, "KILL");
    let (back, after) = wait_for(port, Duration::from_secs(30), |l| {
        state(l, "a") == "on_air" && l["a"]["restarts"] == 1 && pid(l, "a") != victim
    })
    .unwrap_or_else(|| panic!("a not back on air within 30 s: {:?}", channels(port)));
    println!(
        "HOST a killed with kill -9: back on air after {:.2} s",
        back.as_secs_f64()
    );
    assert!(!alive(victim));
    let reason = after["a"]["last_restart"]["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("ended") && reason.contains("SIGKILL"),
        "{}",
        after["a"]
    );
    assert!(after["a"]["error"].is_null(), "{}", after["a"]);

    // --- The folder is live ------------------------------------------------------------------
    write_channel(d, "d", "hls-d", "");
    let (added, list) =
        wait_for(port, Duration::from_secs(30), on_air(&["d"])).unwrap_or_else(|| {
            panic!(
                "d not on air: {:?}\n{}",
                channels(port),
                tail(&host.stderr(), 30)
            )
        });
    println!("HOST d added: on air after {:.2} s", added.as_secs_f64());
    assert!(added < Duration::from_secs(10), "d took {added:?}");
    let pid_d = pid(&list, "d");

    fs::write(
        d.join("e.channel.yaml"),
        "name: E\nplaylist: e.playlist.yaml\nvideo: 12\n",
    )
    .unwrap();
    write_channel(d, "f", "hls-b", "");
    let (_, list) = wait_for(port, Duration::from_secs(10), |l| {
        state(l, "e") == "failed" && state(l, "f") == "failed"
    })
    .unwrap_or_else(|| panic!("e and f not listed as failed: {:?}", channels(port)));
    let e_error = list["e"]["error"].as_str().unwrap_or("");
    assert!(e_error.contains("e.channel.yaml"), "e: {e_error}");
    let f_error = list["f"]["error"].as_str().unwrap_or("");
    assert!(
        f_error.contains("\"b\"") && f_error.contains("\"f\"") && f_error.contains("HLS folder"),
        "f: {f_error}"
    );
    assert!(list["e"]["pid"].is_null() && list["f"]["pid"].is_null());

    fs::remove_file(d.join("d.channel.yaml")).unwrap();
    let (removed, _) = wait_for(port, Duration::from_secs(20), |l| !l.contains_key("d"))
        .unwrap_or_else(|| panic!("d still listed: {:?}", channels(port)));
    println!(
        "HOST d removed: stopped and unlisted after {:.2} s",
        removed.as_secs_f64()
    );
    assert!(removed < Duration::from_secs(10), "d took {removed:?}");
    assert!(!alive(pid_d), "d's process plays on");
    assert!(
        d.join("d.channel.state.json").exists(),
        "d's state file was not kept"
    );

    // --- A changed file: its own reload, or a restart of that channel alone -----------------
    let list = channels(port);
    let (pid_a, restarts_a) = (pid(&list, "a"), list["a"]["restarts"].as_u64().unwrap());
    fs::write(
        d.join("a.playlist.yaml"),
        "items:\n  - slate: 4s\n    title: a edited\n",
    )
    .unwrap();
    let t0 = Instant::now();
    while !get(port, "/c/a/api/v1/schedule").1.contains("a edited") {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "a's edit not taken in"
        );
        thread::sleep(Duration::from_millis(200));
    }
    let list = channels(port);
    assert_eq!(
        (pid(&list, "a"), list["a"]["restarts"].as_u64().unwrap()),
        (pid_a, restarts_a)
    );
    let text = fs::read_to_string(d.join("a.channel.yaml")).unwrap();
    fs::write(
        d.join("a.channel.yaml"),
        text.replace("Channel a", "Channel A renamed"),
    )
    .unwrap();
    let (renamed, list) = wait_for(port, Duration::from_secs(30), |l| {
        state(l, "a") == "on_air" && l["a"]["name"] == "Channel A renamed" && pid(l, "a") != pid_a
    })
    .unwrap_or_else(|| panic!("a not restarted under its new name: {:?}", channels(port)));
    println!(
        "HOST a renamed: restarted and on air after {:.2} s",
        renamed.as_secs_f64()
    );
    assert_eq!(list["a"]["restarts"].as_u64().unwrap(), restarts_a + 1);

    // --- The others never noticed ------------------------------------------------------------
    thread::sleep(Duration::from_secs(4));
    drop((poll_b, poll_c));
    let list = channels(port);
    assert_eq!((pid(&list, "b"), pid(&list, "c")), pids_bc);
    assert_eq!(
        (
            list["b"]["restarts"].as_u64(),
            list["c"]["restarts"].as_u64()
        ),
        (Some(0), Some(0))
    );
    let mut problems = Vec::new();
    for (id, seen) in [("b", &seen_b), ("c", &seen_c)] {
        let seen = seen.lock().unwrap();
        println!(
            "HOST {id}'s HLS meanwhile: {} segments, sequence {:?}..{:?}",
            seen.segments.len(),
            seen.segments.keys().next(),
            seen.segments.keys().last()
        );
        assert!(
            seen.segments.len() >= 6,
            "{id}: only {} segments",
            seen.segments.len()
        );
        problems.extend(hls_problems(id, &seen));
    }
    assert!(problems.is_empty(), "{problems:#?}");

    // --- host.yaml's token changes while it runs ----------------------------------------------
    const NEW_TOKEN: &str = "the-host-token-after-an-edit";
    fs::write(
        d.join("host.yaml"),
        format!("http: {{ listen: \"127.0.0.1:{port}\", api_token: \"{NEW_TOKEN}\" }}\n"),
    )
    .unwrap();
    let t0 = Instant::now();
    while status_of("/c/b/api/v1/playlist", Some(NEW_TOKEN)) != 200 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the new host token not taken"
        );
        thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(status_of("/c/b/api/v1/playlist", Some(HOST_TOKEN)), 401);

    // --- SIGTERM ends the host and every child -----------------------------------------------
    let children: Vec<u32> = ["a", "b", "c"].iter().map(|id| pid(&list, id)).collect();
    let host_pid = host.pid().expect("host pid");
    signal(host_pid, "TERM");
    let limit = host.started.elapsed() + Duration::from_secs(60);
    let run = host.wait(limit);
    assert!(
        run.status.success(),
        "host: {:?}\n{}",
        run.status,
        tail(&run.stderr, 30)
    );
    for p in children {
        assert!(!alive(p), "child {p} outlived the host");
    }
    assert!(
        !run.stderr.contains(HOST_TOKEN) && !run.stderr.contains(OWN_TOKEN),
        "a token was logged"
    );
}

#[test]
fn children_end_with_a_killed_host() {
    let (dir, port) = host_folder("playout-host-kill-", &["x", "y"]);
    let mut host = start_host(dir.path());
    let (_, list) = wait_for(port, Duration::from_secs(60), |l| {
        state(l, "x") == "on_air" && state(l, "y") == "on_air"
    })
    .unwrap_or_else(|| {
        panic!(
            "not on air: {:?}\n{}",
            channels(port),
            tail(&host.stderr(), 30)
        )
    });
    let children = [pid(&list, "x"), pid(&list, "y")];
    signal(host.pid().unwrap(), "KILL");
    let t0 = Instant::now();
    while children.iter().any(|p| alive(*p)) && t0.elapsed() < Duration::from_secs(20) {
        thread::sleep(Duration::from_millis(100));
    }
    println!(
        "HOST killed with kill -9: children gone after {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    for p in children {
        assert!(!alive(p), "child {p} outlived a killed host");
    }
    assert!(!host.is_running());
}

#[test]
fn a_hung_channel_is_killed_and_started_again() {
    let (dir, port) = host_folder("playout-host-hung-", &["h"]);
    // Every channel's first process hangs its encoder after 3 s of channel time.
    let host = Playout::spawn(
        &[
            "run",
            dir.path().to_str().unwrap(),
            "--test-freeze-after",
            "3s",
        ],
        &[],
    );
    let (_, list) = wait_for(port, Duration::from_secs(60), |l| state(l, "h") == "on_air")
        .unwrap_or_else(|| {
            panic!(
                "not on air: {:?}\n{}",
                channels(port),
                tail(&host.stderr(), 30)
            )
        });
    let first = pid(&list, "h");
    let (took, list) = wait_for(port, Duration::from_secs(60), |l| {
        state(l, "h") == "on_air" && l["h"]["restarts"] == 1
    })
    .unwrap_or_else(|| {
        panic!(
            "h not restarted: {:?}\n{}",
            channels(port),
            tail(&host.stderr(), 30)
        )
    });
    println!(
        "HOST h hung: on air again {:.2} s after it was first on air",
        took.as_secs_f64()
    );
    let reason = list["h"]["last_restart"]["reason"].as_str().unwrap_or("");
    assert!(reason.contains("no frame encoded"), "{}", list["h"]);
    assert!(pid(&list, "h") != first && !alive(first), "{}", list["h"]);
    // Killed 10 s after its last frame, which came 3 s of channel time in.
    assert!(
        took > Duration::from_secs(8),
        "restarted after only {took:?}"
    );
    signal(host.pid().unwrap(), "TERM");
    let limit = host.started.elapsed() + Duration::from_secs(60);
    let run = host.wait(limit);
    assert!(run.status.success(), "{}", tail(&run.stderr, 30));
}

fn web() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

#[test]
fn the_list_page_and_console_picker_in_chromium() {
    assert!(
        web().join("node_modules/playwright-core").is_dir(),
        "web/node_modules has no playwright-core: run `make deps` (npm ci in web/)"
    );
    let (dir, port) = host_folder("playout-host-page-", &["news", "films"]);
    let d = dir.path();
    fs::write(d.join("broken.channel.yaml"), "name: Broken\nvideo: 12\n").unwrap();
    let mut host = start_host(d);
    wait_for(port, Duration::from_secs(60), |l| {
        state(l, "news") == "on_air" && state(l, "films") == "on_air"
    })
    .unwrap_or_else(|| {
        panic!(
            "not on air: {:?}\n{}",
            channels(port),
            tail(&host.stderr(), 30)
        )
    });
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/channels");
    let mut node = Command::new("node")
        .arg(web().join("test/channels.mjs"))
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("news,films,broken")
        .arg(&artifacts)
        .env("CHANNELS_FAILED_ID", "broken")
        .current_dir(web())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node (web/test/channels.mjs) could not start: is Node.js installed?");
    for line in BufReader::new(node.stdout.take().unwrap()).lines() {
        println!("{}", line.unwrap());
    }
    let status = node.wait().unwrap();
    assert!(
        host.is_running(),
        "the host exited:\n{}",
        tail(&host.stderr(), 40)
    );
    signal(host.pid().unwrap(), "TERM");
    let limit = host.started.elapsed() + Duration::from_secs(60);
    let run = host.wait(limit);
    assert!(status.success(), "web/test/channels.mjs failed (see above)");
    assert!(run.status.success(), "{}", tail(&run.stderr, 30));
}
