//! Bad live publishers against real parts (a paced channel recorded at nginx-rtmp, `ffmpeg
//! -re` publishers): one whose every video byte is noise is refused as `undecodable` and never
//! airs, the playlist playing on; one whose picture size, frame rate and audio layout change
//! mid-stream (two MPEG-TS files end to end, over SRT) is renormalised and stays on air in one
//! stretch, in one publish session with no irregular frame step and no audio hole.
mod common;

use std::path::Path;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::edits::signal;
use common::publish::{
    is_colour, live_clip, live_clip_as, metric, one_session, publish, publish_with,
    run_live_channel, runs_of, KindLog,
};
use common::timeline::red_and_plain;
use common::*;

/// Both tests run a paced channel: one at a time on two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const KEY: &str = "faults-key-93d0e1";

fn channel(dir: &Path, listen: &str, http: u16) -> std::path::PathBuf {
    let playlist = red_and_plain(dir);
    let extra = format!(
        "live: {{ listen: {}, timeout: 1s, rejoin: 2s }}\nhttp: {{ listen: \"127.0.0.1:{http}\" }}\n",
        q(listen)
    );
    write_channel(dir, "faults", 320, 180, "30", &playlist, &extra)
}

#[test]
fn a_publisher_of_undecodable_video_is_refused_and_never_airs() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let clip = live_clip(d, "noise", ("0x00ff00", "640x360", 25), (48000, 2), 10);
    let (port, http) = (free_port(), free_port());
    let ch = channel(
        d,
        &format!("rtmp://127.0.0.1:{port}/live/${{LIVE_KEY}}"),
        http,
    );
    let p = run_live_channel(&ch, &nginx.url("bad"), &[("LIVE_KEY", KEY)]);
    let kinds = KindLog::start(http);
    thread::sleep(Duration::from_secs(4));
    let mut failures = Vec::new();
    // The right key, an H.264 stream whose every byte of every video packet is noise.
    let t = Instant::now();
    let url = format!("rtmp://127.0.0.1:{port}/live/{KEY}");
    let mut noisy = publish_with(&clip, &url, "flv", &["-bsf:v", "noise=amount=1"]);
    let refused = (0..100).find_map(|_| {
        thread::sleep(Duration::from_millis(100));
        p.line_after(t, &["publisher refused", "undecodable"])
    });
    let _ = noisy.kill();
    let _ = noisy.wait();
    println!(
        "noise for video: refused after {:?}",
        refused.as_ref().map(|(at, _)| *at - t)
    );
    if refused.is_none() {
        failures.push("a publisher of undecodable video was not refused".into());
    }
    if kinds.first(t, true).is_some() {
        failures.push("undecodable video went on air".into());
    }
    thread::sleep(Duration::from_secs(2));
    let undecodable = metric(
        http,
        "playout_live_refused_total",
        "{reason=\"undecodable\"}",
    );
    let to_live = metric(
        http,
        "playout_live_switches_total",
        "{direction=\"to_live\"}",
    );
    let connected = metric(http, "playout_live_input_connected", "");
    println!(
        "metrics: refused undecodable {undecodable}, to_live {to_live}, connected {connected}"
    );
    if undecodable != 1.0 || to_live != 0.0 || connected != 0.0 {
        failures.push(format!(
            "undecodable {undecodable}, to_live {to_live}, connected {connected} (expected 1, 0, 0)"
        ));
    }
    // The playlist played on: /api/v1/now never left it.
    let seen = kinds.seen(t, Instant::now());
    if seen.iter().any(|(k, _)| k != "item" && k != "slate") {
        failures.push(format!("/api/v1/now during the refusal: {seen:?}"));
    }
    signal(p.pid().unwrap(), "TERM");
    let r = p.wait(Duration::from_secs(120));
    let frames = one_session(&nginx, "bad", &mut failures);
    let green = runs_of(&frames, |f| is_colour(f, [0, 255, 0]));
    if !green.is_empty() {
        failures.push(format!("the publisher's picture aired: {green:?}"));
    }
    assert!(
        failures.is_empty(),
        "{failures:#?}\nstderr tail:\n{}",
        tail(&r.stderr, 40)
    );
}

#[test]
fn a_publisher_that_changes_shape_mid_stream_stays_on_air_renormalised() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 640x360@25 stereo 44.1 kHz green, then 1280x720@50 5.1 48 kHz blue, as one stream.
    let first = live_clip_as(d, "first.ts", ("0x00ff00", "640x360", 25), (44100, 2), 4);
    let second = live_clip_as(d, "second.ts", ("0x0000ff", "1280x720", 50), (48000, 6), 4);
    let joined = d.join("joined.ts");
    let mut bytes = std::fs::read(&first).unwrap();
    bytes.extend(std::fs::read(&second).unwrap());
    std::fs::write(&joined, bytes).unwrap();
    let (port, http) = (free_port(), free_port());
    let ch = channel(d, &format!("srt://127.0.0.1:{port}"), http);
    let p = run_live_channel(&ch, &nginx.url("shape"), &[]);
    let kinds = KindLog::start(http);
    thread::sleep(Duration::from_secs(4));
    let mut failures = Vec::new();
    let t = Instant::now();
    let mut pubr = publish(&joined, &format!("srt://127.0.0.1:{port}"), "mpegts");
    let on = kinds.wait(t, true, Duration::from_secs(15));
    let _ = pubr.wait();
    let end = Instant::now();
    let off = kinds.wait(end, false, Duration::from_secs(15));
    println!(
        "shape change: publisher start -> on air {:?}, last frame -> playlist {:?}",
        on.map(|x| x - t),
        off.map(|x| x - end)
    );
    if on.is_none() || off.is_none() {
        failures.push(format!("takeover {on:?}, hand-back {off:?}"));
    }
    thread::sleep(Duration::from_secs(2));
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
    let renormalised = p
        .lines()
        .iter()
        .filter(|(_, l)| l.contains("renormalis"))
        .count();
    println!("metrics: to_live {to_live}, to_playlist {to_playlist}; {renormalised} renormalising log lines");
    for what in ["the picture changed shape", "the audio changed format"] {
        if p.line_after(t, &[what]).is_none() {
            failures.push(format!("no log line saying {what}"));
        }
    }
    if (to_live, to_playlist) != (1.0, 1.0) {
        failures.push(format!(
            "switches {to_live} / {to_playlist} (expected one stretch: 1 and 1)"
        ));
    }
    signal(p.pid().unwrap(), "TERM");
    let r = p.wait(Duration::from_secs(120));
    let frames = one_session(&nginx, "shape", &mut failures);
    let live = runs_of(&frames, |f| {
        is_colour(f, [0, 255, 0]) || is_colour(f, [0, 0, 255])
    });
    let green = runs_of(&frames, |f| is_colour(f, [0, 255, 0]));
    let blue = runs_of(&frames, |f| is_colour(f, [0, 0, 255]));
    println!("live runs {live:?}: green {green:?}, blue {blue:?}");
    // One unbroken stretch: green straight into blue, then the held blue picture. Each
    // shape airs for most of its 4 s (the takeover drops a backlog of at most a quarter
    // second, and the first pictures arrive while the channel switches).
    if live.len() != 1 || green.len() != 1 || blue.len() != 1 {
        failures.push(format!(
            "live stretches {live:?} (expected one, green then blue)"
        ));
    } else if blue[0].0 <= green[0].0
        || (green[0].1 as f64) < 3.0 * 30.0
        || (blue[0].1 as f64) < 3.0 * 30.0
    {
        failures.push(format!(
            "green {green:?} then blue {blue:?}: expected about 4 s of each"
        ));
    }
    assert!(
        failures.is_empty(),
        "{failures:#?}\nstderr tail:\n{}",
        tail(&r.stderr, 40)
    );
}
