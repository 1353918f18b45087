//! Live publishers for the live-input tests: generated clips, `ffmpeg -re` pushing them, the
//! `/api/v1/now` kind over time, metrics, and colour runs in a recording.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::timeline::{GridFrame, GRID};
use super::watch::http_get;

/// A publisher's clip: solid `colour` at `size` and `rate` (fps), a sine in `channels`
/// channels at `sample_rate`, H.264 with a 1 s GOP and AAC, `secs` long.
pub fn live_clip(
    dir: &Path,
    name: &str,
    picture: (&str, &str, u32),
    sound: (u32, u32),
    secs: u32,
) -> PathBuf {
    live_clip_as(dir, &format!("{name}.mp4"), picture, sound, secs)
}

/// `live_clip` in the container `file`'s extension says (`.ts`: MPEG-TS, whose files can be
/// joined end to end into one stream that changes shape where they meet).
pub fn live_clip_as(
    dir: &Path,
    file: &str,
    (colour, size, rate): (&str, &str, u32),
    (sample_rate, channels): (u32, u32),
    secs: u32,
) -> PathBuf {
    let name = file;
    let out = dir.join(file);
    let args: Vec<String> = [
        "-f".to_string(),
        "lavfi".into(),
        "-i".into(),
        format!("color=c={colour}:s={size}:r={rate}:d={secs}"),
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!("sine=frequency=700:sample_rate={sample_rate}:duration={secs}"),
        "-ac".into(),
        channels.to_string(),
        "-c:v".into(),
        "libx264".into(),
        "-preset".into(),
        "ultrafast".into(),
        "-pix_fmt".into(),
        "yuv420p".into(),
        "-g".into(),
        rate.to_string(),
        "-c:a".into(),
        "aac".into(),
        "-b:a".into(),
        "96k".into(),
    ]
    .to_vec();
    super::fixtures::ffmpeg(&args, &out, name);
    out
}

/// `ffmpeg -re -i CLIP -c copy` to `url` in `format` (flv or mpegts).
pub fn publish(clip: &Path, url: &str, format: &str) -> Child {
    publish_with(clip, url, format, &[])
}

/// `publish` with output options before the URL (e.g. `-vn`).
pub fn publish_with(clip: &Path, url: &str, format: &str, opts: &[&str]) -> Child {
    Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-i"])
        .arg(clip)
        .args(opts)
        .args(["-c", "copy", "-f", format, url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the ffmpeg publisher")
}

/// `/api/v1/now`'s `current` (kind and title), polled every 50 ms.
/// The poller runs as long as the log is kept.
pub struct KindLog(
    Arc<Mutex<Vec<(Instant, String, String)>>>,
    #[allow(dead_code)] super::watch::Poller,
);

impl KindLog {
    pub fn start(port: u16) -> KindLog {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let poller = super::watch::Poller::spawn(Duration::from_millis(50), move || {
            if let Some((200, body)) = http_get(port, "/api/v1/now") {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let kind = v["current"]["kind"].as_str().unwrap_or("?").to_string();
                let title = v["current"]["title"].as_str().unwrap_or("?").to_string();
                s.lock().unwrap().push((Instant::now(), kind, title));
            }
        });
        KindLog(seen, poller)
    }

    /// The first poll at or after `t` where live is (or is not) on air.
    pub fn first(&self, t: Instant, live: bool) -> Option<Instant> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|(at, k, _)| *at >= t && (k == "live") == live)
            .map(|(at, _, _)| *at)
    }

    pub fn wait(&self, t: Instant, live: bool, timeout: Duration) -> Option<Instant> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(at) = self.first(t, live) {
                return Some(at);
            }
            if Instant::now() > until {
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every (kind, title) seen in `[from, to)`, in order, with repeats folded.
    pub fn seen(&self, from: Instant, to: Instant) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (at, k, t) in self.0.lock().unwrap().iter() {
            if *at >= from && *at < to && out.last() != Some(&(k.clone(), t.clone())) {
                out.push((k.clone(), t.clone()));
            }
        }
        out
    }
}

pub fn metric(port: u16, name: &str, labels: &str) -> f64 {
    let body = http_get(port, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let want = format!("{name}{labels} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&want))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

pub fn is_colour(f: &GridFrame, want: [u8; 3]) -> bool {
    f.cells[..(GRID.0 * GRID.1) as usize].iter().all(|c| {
        c.iter()
            .zip(want)
            .all(|(a, b)| (*a as i32 - b as i32).abs() < 60)
    })
}

/// Runs of consecutive frames for which `pred` holds: (first pts, frames).
pub fn runs_of(frames: &[GridFrame], pred: impl Fn(&GridFrame) -> bool) -> Vec<(f64, usize)> {
    let mut runs: Vec<(f64, usize)> = Vec::new();
    let mut open = false;
    for f in frames {
        match (pred(f), open) {
            (true, true) => runs.last_mut().expect("open run").1 += 1,
            (true, false) => runs.push((f.pts, 1)),
            _ => {}
        }
        open = pred(f);
    }
    runs
}

pub fn median_and_worst(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], *v.last().unwrap_or(&f64::NAN))
}

/// `playout run CHANNEL --output OUTPUT --for 10m` in the background with `envs`: a paced
/// channel the test ends with a signal.
pub fn run_live_channel(channel: &Path, output: &str, envs: &[(&str, &str)]) -> super::Playout {
    let ch = channel.to_str().expect("a UTF-8 path");
    super::Playout::spawn(&["run", ch, "--output", output, "--for", "10m"], envs)
}

/// The one publish session a 320x180 30 fps live test's channel made to `stream`: its
/// continuity problems go to `failures` (a summary is printed), and its frames, shrunk to the
/// grid, come back (none when there was not exactly one session).
pub fn one_session(
    nginx: &super::Nginx,
    stream: &str,
    failures: &mut Vec<String>,
) -> Vec<GridFrame> {
    nginx.wait_idle(Duration::from_secs(5));
    let recs = nginx.recordings_of(stream);
    let publishes = nginx.publish_count(stream);
    if publishes != 1 || recs.len() != 1 {
        failures.push(format!("{publishes} publish sessions, recordings {recs:?}"));
        return Vec::new();
    }
    let mut expect = super::Expect::new(320, 180);
    expect.max_av_end_diff_ms = 1000.0 / 30.0;
    // A takeover cuts at the air: the GOP before it may be short.
    expect.cuts = true;
    let (report, problems) = super::check_session(&recs[0], (30, 1), &expect);
    println!(
        "recording: {:.1} s, {} irregular steps, largest audio hole {:.2} ms, {} holes over 2 ms, A/V end {:+.1} ms",
        report.duration,
        report.bad_steps.len(),
        report.max_audio_hole_ms,
        report.audio_holes.len(),
        report.av_end_diff_ms
    );
    failures.extend(problems);
    super::timeline::grid_frames(&recs[0])
}
