//! The live input, against real parts: `ffmpeg -re` publishers (the CLI, as OBS would) push
//! to the channel's live input during a paced run recorded at nginx-rtmp.
//!
//! RTMP: a wrong key, an audio-only publisher and a second publisher are refused while the playlist plays on; five
//! takeovers and hand-backs (a clean end, a 1080p50 5.1 publisher into the 720p-shaped
//! 320x180 stereo channel, a `kill -9`, a `kill -9` followed by a reconnect inside
//! `live.rejoin`, another clean end) go out in one publish session with no irregular frame
//! step, no audio hole and every keyframe gap 2 s. The switch latency both ways is measured
//! from `/api/v1/now` and printed. SRT: a publisher takes over and hands back the same way.
mod common;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::edits::signal;
use common::publish::{
    is_colour, live_clip, median_and_worst, metric, publish, publish_with, run_live_channel,
    runs_of, KindLog,
};
use common::timeline::{grid_frames, red_and_plain};
use common::*;

/// The two tests share the machine's two cores: one paced channel at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const KEY: &str = "live-key-7f3a9c";
const FPS: (u32, u32) = (30, 1);

fn live_channel(dir: &Path, listen: &str, http: u16) -> PathBuf {
    let playlist = red_and_plain(dir);
    let extra = format!(
        "live: {{ listen: {}, timeout: 1s, rejoin: 5s, title: \"Studio\" }}\nhttp: {{ listen: \"127.0.0.1:{http}\" }}\n",
        q(listen)
    );
    write_channel(dir, "live", 320, 180, "30", &playlist, &extra)
}

/// One takeover: when the publisher started and when its last frame went (clean end or
/// kill), and the switch latencies seen at the API.
struct Switch {
    what: &'static str,
    to_live: f64,
    to_playlist: f64,
}

#[test]
fn rtmp_publishers_take_over_and_hand_back_in_one_session() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let green = live_clip(d, "green", ("0x00ff00", "640x360", 25), (44100, 2), 5);
    let blue = live_clip(d, "blue", ("0x0000ff", "1920x1080", 50), (48000, 6), 5);
    let long = live_clip(d, "long", ("0x00ff00", "640x360", 25), (48000, 2), 30);
    let (live_port, http) = (free_port(), free_port());
    let ch = live_channel(
        d,
        "rtmp://127.0.0.1:PORT/live/${LIVE_KEY}"
            .replace("PORT", &live_port.to_string())
            .as_str(),
        http,
    );
    let out = nginx.url("ch");
    let p = run_live_channel(&ch, &out, &[("LIVE_KEY", KEY)]);
    let url = |key: &str| format!("rtmp://127.0.0.1:{live_port}/live/{key}");
    let mut failures: Vec<String> = Vec::new();
    let started = Instant::now();
    while p
        .line_after(
            started - Duration::from_secs(60),
            &["Live input listening."],
        )
        .is_none()
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no live listener:\n{}",
            tail(&p.stderr(), 20)
        );
        thread::sleep(Duration::from_millis(100));
    }
    let kinds = KindLog::start(http);
    thread::sleep(Duration::from_secs(4));

    // A wrong key: refused, counted, the playlist plays on, the key never printed.
    let t = Instant::now();
    let mut wrong = publish(&green, &url("not-the-key-123"), "flv");
    let refused = (0..60).find_map(|_| {
        thread::sleep(Duration::from_millis(100));
        p.line_after(t, &["publisher refused", "wrong_key"])
    });
    let _ = wrong.kill();
    let _ = wrong.wait();
    println!(
        "wrong key: {:?}",
        refused.as_ref().map(|(at, l)| (*at - t, l.clone()))
    );
    if refused.is_none() {
        failures.push("a wrong key was not refused".into());
    }
    if kinds.first(t, true).is_some() {
        failures.push("a wrong key went on air".into());
    }

    // The right key but no video: refused as no_video, never on air.
    let t = Instant::now();
    let mut audio_only = publish_with(&long, &url(KEY), "flv", &["-vn"]);
    let refused = (0..80).find_map(|_| {
        thread::sleep(Duration::from_millis(100));
        p.line_after(t, &["publisher refused", "no_video"])
    });
    let _ = audio_only.kill();
    let _ = audio_only.wait();
    println!("audio only: {:?}", refused.as_ref().map(|(at, _)| *at - t));
    if refused.is_none() {
        failures.push("an audio-only publisher was not refused".into());
    }
    if kinds.first(t, true).is_some() {
        failures.push("an audio-only publisher went on air".into());
    }
    thread::sleep(Duration::from_secs(1));

    let mut switches: Vec<Switch> = Vec::new();
    let mut run = |what: &'static str,
                   clip: &Path,
                   kill_after: Option<Duration>,
                   rejoin: Option<&Path>,
                   failures: &mut Vec<String>| {
        let t0 = Instant::now();
        let mut pubr = publish(clip, &url(KEY), "flv");
        let Some(on) = kinds.wait(t0, true, Duration::from_secs(10)) else {
            failures.push(format!("{what}: never on air"));
            let _ = pubr.kill();
            let _ = pubr.wait();
            return;
        };
        let mut end = match kill_after {
            Some(after) => {
                thread::sleep(after.saturating_sub(t0.elapsed()));
                signal(pubr.id(), "KILL");
                let _ = pubr.wait();
                Instant::now()
            }
            None => {
                if what == "clean 640x360@25" {
                    // A second publisher while this one is on: refused.
                    let t2 = Instant::now();
                    let mut second = publish(&green, &url(KEY), "flv");
                    thread::sleep(Duration::from_millis(1500));
                    let _ = second.kill();
                    let _ = second.wait();
                    if p.line_after(t2, &["second publisher was refused"])
                        .is_none()
                    {
                        failures.push("a second publisher was not refused".into());
                    }
                }
                let _ = pubr.wait();
                Instant::now()
            }
        };
        if let Some(next) = rejoin {
            // Back within live.rejoin: the bridge waits for it; no playlist in between.
            let t1 = Instant::now();
            let mut again = publish(next, &url(KEY), "flv");
            thread::sleep(Duration::from_secs(4));
            signal(again.id(), "KILL");
            let _ = again.wait();
            if kinds.first(t1, false).is_some_and(|at| at < Instant::now()) {
                failures.push(format!(
                    "{what}: the playlist came back before the publisher rejoined"
                ));
            }
            end = Instant::now();
        }
        let Some(off) = kinds.wait(end, false, Duration::from_secs(15)) else {
            failures.push(format!("{what}: never handed back"));
            return;
        };
        switches.push(Switch {
            what,
            to_live: (on - t0).as_secs_f64(),
            to_playlist: (off - end).as_secs_f64(),
        });
        // Some playlist between takeovers.
        thread::sleep(Duration::from_secs(3));
    };
    run("clean 640x360@25", &green, None, None, &mut failures);
    run("1080p50 5.1", &blue, None, None, &mut failures);
    run(
        "kill -9",
        &long,
        Some(Duration::from_secs(5)),
        None,
        &mut failures,
    );
    run(
        "kill -9 then rejoin",
        &long,
        Some(Duration::from_secs(4)),
        Some(&long),
        &mut failures,
    );
    run("clean again", &green, None, None, &mut failures);

    for s in &switches {
        println!(
            "{:<22} publisher start -> on air {:.2} s; last frame sent -> playlist on air {:.2} s",
            s.what, s.to_live, s.to_playlist
        );
    }
    if switches.len() == 5 {
        let (mut on, mut off): (Vec<f64>, Vec<f64>) =
            switches.iter().map(|s| (s.to_live, s.to_playlist)).unzip();
        let (on_med, on_worst) = median_and_worst(&mut on);
        let (off_med, off_worst) = median_and_worst(&mut off);
        println!("switch latency over 10 switches: to live median {on_med:.2} s worst {on_worst:.2} s; to playlist median {off_med:.2} s worst {off_worst:.2} s");
    }
    let to_live = metric(
        http,
        "playout_live_switches_total",
        "{direction=\"to_live\"}",
    );
    let to_playlist = metric(
        http,
        "playout_live_switches_total",
        "{direction=\"to_playlist\"}",
    );
    let wrong_key = metric(http, "playout_live_refused_total", "{reason=\"wrong_key\"}");
    let busy = metric(http, "playout_live_refused_total", "{reason=\"busy\"}");
    let no_video = metric(http, "playout_live_refused_total", "{reason=\"no_video\"}");
    let connected = metric(http, "playout_live_input_connected", "");
    println!("metrics: to_live {to_live}, to_playlist {to_playlist}, refused wrong_key {wrong_key}, busy {busy}, no_video {no_video}, connected {connected}");
    if to_live != 5.0 || to_playlist != 5.0 {
        failures.push(format!(
            "switches: {to_live} to live, {to_playlist} to the playlist (expected 5 and 5)"
        ));
    }
    if wrong_key < 1.0 || busy < 1.0 || connected != 0.0 {
        failures.push(format!(
            "refusals: wrong_key {wrong_key}, busy {busy}; connected {connected}"
        ));
    }
    let switch_lines = p
        .lines()
        .iter()
        .filter(|(_, l)| l.contains("Switched to the live input."))
        .count();
    let back_lines = p
        .lines()
        .iter()
        .filter(|(_, l)| l.contains("Back to the playlist.") && l.contains("reason="))
        .count();
    if switch_lines != 5 || back_lines != 5 {
        failures.push(format!(
            "{switch_lines} switch lines and {back_lines} hand-back lines (expected 5 and 5)"
        ));
    }
    if p.stderr().contains(KEY) {
        failures.push("the stream key appears in the log".into());
    }

    signal(p.pid().unwrap(), "TERM");
    let r = p.wait(Duration::from_secs(300));
    if !r.status.success() {
        failures.push(format!("playout ended with {}", r.status));
    }
    nginx.wait_idle(Duration::from_secs(5));
    let recs = nginx.recordings_of("ch");
    let publishes = nginx.publish_count("ch");
    if publishes != 1 || recs.len() != 1 {
        failures.push(format!("{publishes} publish sessions, recordings {recs:?}"));
    }
    if let Some(rec) = recs.first() {
        let mut expect = Expect::new(320, 180);
        expect.cuts = true;
        expect.max_av_end_diff_ms = 1000.0 / 30.0;
        let (report, problems) = check_session(rec, FPS, &expect);
        println!(
            "recording: {:.1} s, {} frames, steps {:.1}..{:.1} ms, {} irregular, largest audio hole {:.2} ms, {} holes over 2 ms, A/V end {:+.1} ms, keyframe gaps {:?}",
            report.duration,
            report.video_packets,
            report.min_step_ms,
            report.max_step_ms,
            report.bad_steps.len(),
            report.max_audio_hole_ms,
            report.audio_holes.len(),
            report.av_end_diff_ms,
            {
                let mut k: Vec<String> = report.keyframe_intervals().iter().map(|g| format!("{g:.3}")).collect();
                k.dedup();
                k
            }
        );
        failures.extend(problems);
        // What aired: the publishers' colours, one run per takeover (the rejoin is one).
        let frames = grid_frames(rec);
        let green_runs = runs_of(&frames, |f| is_colour(f, [0, 255, 0]));
        let blue_runs = runs_of(&frames, |f| is_colour(f, [0, 0, 255]));
        println!("green runs (start s, frames) {green_runs:?}; blue runs {blue_runs:?}");
        if green_runs.len() != 4 || blue_runs.len() != 1 {
            failures.push(format!(
                "{} green and {} blue stretches on air (expected 4 and 1)",
                green_runs.len(),
                blue_runs.len()
            ));
        }
        // The rejoin stretch is the longest: about 4 s + the bridge + 4 s.
        let longest = green_runs.iter().map(|r| r.1).max().unwrap_or(0);
        if longest < 7 * 30 {
            failures.push(format!(
                "the rejoin stretch is {longest} frames: the playlist came back between"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{failures:#?}\nstderr tail:\n{}",
        tail(&r.stderr, 40)
    );
}

#[test]
fn an_srt_publisher_takes_over_and_hands_back() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let clip = live_clip(d, "srt", ("0x00ff00", "640x360", 25), (48000, 2), 5);
    let (port, http) = (free_port(), free_port());
    let pass = "srt-passphrase-42";
    let ch = live_channel(
        d,
        &format!("srt://127.0.0.1:{port}?passphrase=${{LIVE_PASS}}"),
        http,
    );
    let p = run_live_channel(&ch, &nginx.url("srt"), &[("LIVE_PASS", pass)]);
    let kinds = KindLog::start(http);
    thread::sleep(Duration::from_secs(5));
    let mut failures = Vec::new();
    // The wrong passphrase: libsrt refuses the handshake; nothing airs.
    let t = Instant::now();
    let mut wrong = publish(
        &clip,
        &format!("srt://127.0.0.1:{port}?passphrase=wrong-passphrase&pbkeylen=16"),
        "mpegts",
    );
    thread::sleep(Duration::from_secs(4));
    let _ = wrong.kill();
    let _ = wrong.wait();
    if kinds.first(t, true).is_some() {
        failures.push("a wrong SRT passphrase went on air".to_string());
    }
    thread::sleep(Duration::from_secs(1));
    let t0 = Instant::now();
    let mut pubr = publish(
        &clip,
        &format!("srt://127.0.0.1:{port}?passphrase={pass}&pbkeylen=16"),
        "mpegts",
    );
    let on = kinds.wait(t0, true, Duration::from_secs(15));
    let _ = pubr.wait();
    let end = Instant::now();
    let off = kinds.wait(end, false, Duration::from_secs(15));
    println!(
        "SRT: publisher start -> on air {:?}, last frame -> playlist {:?}",
        on.map(|x| x - t0),
        off.map(|x| x - end)
    );
    if on.is_none() || off.is_none() {
        failures.push(format!("SRT takeover {on:?}, hand-back {off:?}"));
    }
    thread::sleep(Duration::from_secs(2));
    signal(p.pid().unwrap(), "TERM");
    let r = p.wait(Duration::from_secs(120));
    nginx.wait_idle(Duration::from_secs(5));
    let recs = nginx.recordings_of("srt");
    if let [rec] = recs.as_slice() {
        let mut expect = Expect::new(320, 180);
        expect.cuts = true;
        expect.max_av_end_diff_ms = 1000.0 / 30.0;
        let (report, problems) = check_session(rec, FPS, &expect);
        println!(
            "SRT recording: {:.1} s, {} irregular steps, largest audio hole {:.2} ms",
            report.duration,
            report.bad_steps.len(),
            report.max_audio_hole_ms
        );
        failures.extend(problems);
        let green = runs_of(&grid_frames(rec), |f| is_colour(f, [0, 255, 0]));
        if green.len() != 1 {
            failures.push(format!("green stretches on air: {green:?}"));
        }
    } else {
        failures.push(format!("recordings {recs:?}"));
    }
    assert!(
        failures.is_empty(),
        "{failures:#?}\nstderr tail:\n{}",
        tail(&r.stderr, 40)
    );
}
