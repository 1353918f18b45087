//! Hot reload, end to end: one paced channel into a real nginx-rtmp while its playlist and
//! channel files are edited the ways editors and operators do. The rotation is 3 s segments
//! of a clip whose frames carry their numbers, so the recording says which item played when
//! and whether it played whole; the state file (written at each slot start) says what the
//! source was playing when each edit was made, which makes every expected next item exact.
//!
//! In order: a YAML syntax error (rejected, counted, `reload_error`, the stream goes on); a
//! good edit (new item listed in `/api/v1/now` within one item); a reorder; deleting the item
//! on air; ten writes within a second (one reload, of the final content); delete and create;
//! a rename over the file; an event ten seconds ahead (on air at its frame), during which the
//! channel's `video.width` changes (rejected: restart), is undone, and SIGHUP reloads. The
//! recording must be one continuous publish session throughout.
mod common;

use std::cell::Cell;
use std::fs;
use std::thread;
use std::time::Duration;

use chrono::{DurationRound, TimeDelta, Utc};
use serde_json::Value;

use common::edit_session::*;
use common::edits::*;
use common::timeline::*;
use common::*;

#[test]
fn playlist_edits_on_air_reload_atomically_and_the_stream_goes_on() {
    let nginx = Nginx::start();
    let mut dir = tempfile::Builder::new()
        .prefix("playout-reload-")
        .tempdir()
        .unwrap();
    let (counted, red) = (clip("counted_24s"), clip("red_4s"));
    let playlist = dir.path().join("playlist.yaml");
    let p0 = vec![0, 1, 2, 3];
    fs::write(&playlist, playlist_yaml(&counted, &p0, &[])).unwrap();
    let channel = write_channel(dir.path(), "reload", 320, 180, "30", &playlist, "");
    let channel_text = fs::read_to_string(&channel).unwrap();
    let port = free_port();
    let (addr, url, ch) = (
        format!("127.0.0.1:{port}"),
        nginx.url("reload"),
        channel.to_str().unwrap(),
    );
    let mut playout = Playout::spawn(
        &["run", ch, "--output", &url, "--http", &addr, "--for", "42s"],
        &[],
    );
    let clock = WallClock::new();
    let states = StateWatch::start(dir.path().join("reload.state.json"));
    let scraper = Scraper::start(port, &["/api/v1/now"], Duration::from_millis(100));
    let first = states
        .wait_after(playout.started, Duration::from_secs(15))
        .expect("no state file");
    let pid = pid_with_arg(ch).expect("playout's pid");
    while get_json(port, "/api/v1/now").is_none() {
        thread::sleep(Duration::from_millis(50));
    }
    println!(
        "anchor {} ({} since {})",
        rfc3339(first.anchor),
        first.on_air,
        rfc3339(first.since)
    );
    let mut s = Session {
        playout: &playout,
        states: &states,
        port,
        playlist: playlist.clone(),
        counted: counted.clone(),
        anchor: first.anchor,
        lists: vec![(0.0, p0.clone())],
        pending: None,
        failures: vec![],
    };

    // A YAML syntax error (an unterminated quote on the last line).
    let broken = playlist_yaml(&counted, &[0, 1, 2, 3, 4], &[]) + "  - path: \"unterminated\n";
    s.reload("syntax error", false, &["playlist.yaml", "line "], || {
        plain(&playlist, &broken)
    });
    // Good edits, each made just after the source started an item X.
    let good_edit = s.edit(
        "good edit",
        |x, old| {
            let mut l = old.to_vec();
            l.insert(old.iter().position(|&k| k == x).unwrap() + 1, 4);
            l
        },
        Vec::new,
        plain,
    );
    s.edit(
        "reorder",
        |_, old| old.iter().rev().copied().collect(),
        Vec::new,
        plain,
    );
    s.edit(
        "delete the item on air",
        |x, old| old.iter().copied().filter(|&k| k != x).collect(),
        Vec::new,
        plain,
    );
    s.edit(
        "ten writes within a second",
        |_, _| vec![5, 6, 7, 0, 1, 2],
        Vec::new,
        |p, text| {
            for i in 0..9 {
                let l: Vec<usize> = (0..[1, 2, 3, 4, 5, 7, 8, 2, 3][i])
                    .map(|k| (k + i) % 8)
                    .collect();
                plain(p, &playlist_yaml(&counted, &l, &[]));
                thread::sleep(Duration::from_millis(90));
            }
            plain(p, text);
        },
    );
    s.edit(
        "delete and create",
        |_, _| vec![3, 7, 5],
        Vec::new,
        |p, text| {
            fs::remove_file(p).unwrap();
            thread::sleep(Duration::from_millis(100));
            plain(p, text);
        },
    );
    s.edit(
        "rename over",
        |_, _| vec![0, 1, 2, 3, 4, 5, 6],
        Vec::new,
        |p, text| {
            let tmp = p.with_file_name("playlist.yaml.tmp-save");
            plain(&tmp, text);
            fs::rename(&tmp, p).unwrap();
        },
    );
    // An event ten seconds ahead; meanwhile a channel edit that needs a restart, its undo,
    // and SIGHUP.
    let event_at = Cell::new(Utc::now());
    let event_written = s.edit(
        "event added 10 s ahead",
        |_, old| old.to_vec(),
        || {
            let at =
                Utc::now().duration_trunc(TimeDelta::seconds(1)).unwrap() + TimeDelta::seconds(11);
            event_at.set(at);
            vec![(rfc3339(at), red.clone(), "Red news")]
        },
        plain,
    );
    let event_at = event_at.get();
    println!(
        "event at {}, {:.3} s after the edit",
        rfc3339(event_at),
        secs(clock.wall(event_written), event_at)
    );
    let wider = channel_text.replace("width: 320", "width: 480");
    assert_ne!(wider, channel_text);
    s.reload(
        "channel video.width 320 -> 480",
        false,
        &["reload.yaml", "restart", "video"],
        || plain(&channel, &wider),
    );
    s.reload(
        "channel file restored",
        true,
        &["items=7", "events=1"],
        || plain(&channel, &channel_text),
    );
    s.reload("SIGHUP", true, &["items=7", "events=1"], || {
        signal(pid, "HUP")
    });
    // `--for 42s` ends the channel a few seconds after the event (due 31-34 s into it).
    let mut failures = std::mem::take(&mut s.failures);
    let (lists, anchor) = (s.lists.clone(), s.anchor);
    while playout.is_running() && playout.started.elapsed() < Duration::from_secs(90) {
        thread::sleep(Duration::from_millis(50));
    }
    let answers: Vec<Value> = scraper
        .scrapes()
        .iter()
        .filter_map(|a| serde_json::from_str(&a.body).ok())
        .collect();
    drop(scraper);
    println!("reload lines:");
    for (at, l) in reload_lines(&playout) {
        println!("  +{:.3} {l}", (at - playout.started).as_secs_f64());
    }
    let run = playout.wait(Duration::from_secs(150));
    println!(
        "playout: {} after {:.1} s",
        run.status,
        run.wall.as_secs_f64()
    );
    if !run.status.success() {
        failures.push(format!(
            "playout exited {}: {}",
            run.status,
            tail(&run.stderr, 20)
        ));
    }

    // The API: the good edit's new item, and the event at its time.
    let t = |v: &Value, k: &str| v[k].as_str().and_then(parse_time);
    let since_edit = |v: &Value| Some(secs(clock.wall(good_edit), t(v, "server_time")?));
    let has_s4 = |v: &Value| {
        v["next"]
            .as_array()
            .is_some_and(|n| n.iter().any(|e| e["title"] == "S4"))
    };
    let seen = answers
        .iter()
        .find(|v| v["current"]["title"] == "S4" || has_s4(v))
        .and_then(since_edit);
    let current = answers
        .iter()
        .find(|v| v["current"]["title"] == "S4")
        .and_then(since_edit);
    // S4 is due on air where the source started it (the good edit's adoption).
    let due = lists.get(1).map(|l| at_secs(anchor, l.0));
    let late = answers
        .iter()
        .find(|v| v["current"]["title"] == "S4")
        .zip(due)
        .map(|(v, d)| secs(d, t(v, "server_time").unwrap()));
    println!(
        "good edit: S4 in /api/v1/now {seen:?} s after the edit, current {current:?} s after \
         it, {late:?} s after its start on the recording's timeline"
    );
    // Within one item (3 s) of the edit; current from when the item on air ended.
    if !seen.is_some_and(|d| d <= 3.5) || !late.is_some_and(|d| (-0.1..0.5).contains(&d)) {
        failures.push(format!(
            "S4 in /api/v1/now: listed {seen:?} s after the edit, current {late:?} s after \
             its start"
        ));
    }
    let off = |v: &Value| secs(event_at, t(v, "server_time").unwrap());
    let is_event =
        |v: &Value| v["current"]["kind"] == "event" && v["current"]["title"] == "Red news";
    let first_ev = answers.iter().find(|v| is_event(v)).map(off);
    let last_ev = answers.iter().rev().find(|v| is_event(v)).map(off);
    println!("event: /api/v1/now shows it from {first_ev:?} s to {last_ev:?} s after its time");
    for v in &answers {
        let o = off(v);
        if (o < -0.5 && is_event(v)) || ((0.5..3.5).contains(&o) && !is_event(v)) {
            failures.push(format!(
                "/api/v1/now at event time {o:+.2} s: {}",
                v["current"]
            ));
        }
    }

    // The recording: one continuous session, and the items in the order the edits asked for.
    let rec = single_recording(&nginx, "reload");
    let report = analyse(&rec, 30, 1);
    println!("{report}");
    let mut expect = Expect::new(320, 180);
    expect.duration = None;
    failures.extend(report.problems(&expect));
    let runs = item_runs(&grid_frames(&rec));
    println!(
        "recorded items: {}",
        runs.iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    failures.extend(check_runs(&runs, &lists, secs(anchor, event_at)));
    if !failures.is_empty() {
        dir.disable_cleanup(true);
        println!("kept {}", dir.path().display());
    }
    assert!(failures.is_empty(), "failures: {failures:#?}");
}

/// The recording check is not vacuous: built from runs like a real recording's, it passes
/// them and names a wrong next item, an item cut short and stray slate.
#[test]
fn the_recording_check_catches_wrong_order_cuts_and_slate() {
    let run = |shows, start: f64, first: u32, frames: usize| ItemRun {
        shows,
        start,
        frames,
        first: (shows != Shows::Other).then_some(first),
        last: (shows != Shows::Other).then_some(first + frames as u32 - 1),
    };
    let seg = |k: usize, start: f64| run(Shows::Seg(k), start, 90 * k as u32, 90);
    // [S0 S1 S2], then at 6 s (after S1) [S2 S0]: S1 is gone, S0 (now at its position) follows.
    let lists = vec![(0.0, vec![0, 1, 2]), (6.0, vec![2, 0])];
    let good = vec![
        seg(0, 0.0),
        seg(1, 3.0),
        seg(0, 6.0),
        run(Shows::Other, 9.0, 0, 30),
        run(Shows::Red, 10.0, 0, 120),
        seg(2, 14.0),
    ];
    assert_eq!(check_runs(&good, &lists, 10.0), Vec::<String>::new());
    let mut wrong = good.clone();
    wrong[2] = seg(2, 6.0);
    let mut cut = good.clone();
    cut[1].frames = 60;
    cut[1].last = Some(149);
    let mut slate = good.clone();
    slate.insert(1, run(Shows::Other, 3.0, 0, 1));
    for (name, runs) in [("order", wrong), ("cut", cut), ("slate", slate)] {
        let f = check_runs(&runs, &lists, 10.0);
        println!("{name}: {f:?}");
        assert!(!f.is_empty(), "{name} not caught");
    }
}
