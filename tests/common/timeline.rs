//! Helpers for the scheduled-live tests (events, resume, EPG):
//!
//! - `clip`: clips made for these tests with the ffmpeg CLI (cached in `target/tmp`): a solid
//!   red event clip no rotation clip looks like, a plain 4 s clip, and a 24 s clip, each red
//!   or counted frame carrying its own frame number as a bar code (`band_index`,
//!   `counted_index`), so a test can tell which source frame a recorded frame is.
//! - `grid_frames`: a decode of a recording shrunk to 16x10 cells per frame, with each frame's
//!   pts (`-copyts`: the file's own timestamps).
//! - wall-clock and RFC 3339 helpers, the state file, `/api/v1` JSON, `events:` for playlists.
//!
//! Guide listings and XMLTV are in `guide`.

use super::fixtures::X264;
use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// Grid `grid_frames` decodes to for `is_red`, `counted_index` and `band_index`: cells of
/// 20x18 px on a 320x180 picture.
pub const GRID: (u32, u32) = (16, 10);

/// A bar code of the frame number N, `W`x`H` drawn and scaled up 10x: 16 columns of 2 px;
/// column 0 white, columns 1..=10 bits 0..=9 of N (top half) and of 1023 - N (bottom half),
/// columns 11..=15 black.
fn bars(w: u32, h: u32, secs: f64, scale_to: &str) -> String {
    format!(
        "nullsrc=s={w}x{h}:r=30:d={secs},format=gray,\
         geq=lum='if(lt(X,2),255,if(gte(X,22),0,\
         255*mod(floor(if(lt(Y,{half}),N,1023-N)/pow(2,floor(X/2)-1)),2)))',\
         scale={scale_to}:flags=neighbor,format=yuv420p",
        half = h / 2
    )
}

fn recipe(name: &str) -> (String, f64) {
    match name {
        // Solid red, with the frame number in a band at the bottom (grid rows 8 and 9).
        "red_4s" => (
            format!(
                "color=c=red:s=320x180:r=30:d=4[bg];{}[bars];\
                 [bg][bars]overlay=0:144:shortest=1,format=yuv420p",
                bars(32, 4, 4.0, "320:36")
            ),
            4.0,
        ),
        "plain_4s" => ("testsrc2=s=320x180:r=30:d=4".into(), 4.0),
        // The whole picture is the bar code (grid rows 0-4: N, rows 5-9: 1023 - N).
        "counted_24s" => (bars(32, 18, 24.0, "320:180"), 24.0),
        _ => panic!("no clip recipe {name}"),
    }
}

/// `target/tmp/timeline-clips/NAME-HASH.mp4`: 320x180@30 H.264 (2 s GOP) + 48 kHz stereo AAC
/// sine, made on first use (atomically: concurrent test processes may race).
pub fn clip(name: &str) -> PathBuf {
    let (video, secs) = recipe(name);
    let mut h = DefaultHasher::new();
    (&video, secs.to_bits(), 2u8).hash(&mut h);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("timeline-clips");
    fs::create_dir_all(&dir).expect("clip dir");
    let path = dir.join(format!("{name}-{:016x}.mp4", h.finish()));
    if path.exists() {
        return path;
    }
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{name}.{}-{seq}.tmp.mp4", std::process::id()));
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", &video])
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=500:sample_rate=48000:duration={secs}"
        ))
        .args(X264)
        .args(["-g", "60", "-c:a", "aac", "-b:a", "64k", "-ac", "2"])
        .arg(&tmp)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "clip {name}: ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::rename(&tmp, &path).expect("rename clip");
    path
}

/// `DIR/playlist.yaml`: "Red" (`red_4s`) then "Plain" (`plain_4s`), 8 s in all.
pub fn red_and_plain(dir: &Path) -> PathBuf {
    super::write_playlist(
        dir,
        &[
            super::ItemSpec::clip(clip("red_4s")).title("Red"),
            super::ItemSpec::clip(clip("plain_4s")).title("Plain"),
        ],
    )
}

/// One decoded frame shrunk to `cols` x `rows` RGB cells (area average), row-major.
#[derive(Clone, Debug)]
pub struct GridFrame {
    pub pts: f64,
    pub cells: Vec<[u8; 3]>,
}

impl GridFrame {
    fn luma(&self, i: usize) -> u32 {
        let [r, g, b] = self.cells[i];
        (r as u32 + g as u32 + b as u32) / 3
    }
}

/// Every video frame of `path` shrunk to `GRID` (decode order = presentation order: no
/// B-frames in these streams), with its pts in seconds as the file has it.
pub fn grid_frames(path: &Path) -> Vec<GridFrame> {
    let (cols, rows) = GRID;
    let vf = format!("scale={cols}:{rows}:flags=area,format=rgb24,showinfo");
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-nostats", "-copyts", "-i"])
        .arg(path)
        .args([
            "-an",
            "-vf",
            &vf,
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run ffmpeg");
    let err = String::from_utf8_lossy(&out.stderr);
    let pts: Vec<f64> = err
        .lines()
        .filter(|l| l.contains("Parsed_showinfo"))
        .filter_map(|l| l.split("pts_time:").nth(1))
        .filter_map(|s| s.split_whitespace().next()?.parse().ok())
        .collect();
    let size = (cols * rows * 3) as usize;
    let frames: Vec<GridFrame> = out
        .stdout
        .chunks_exact(size)
        .zip(pts)
        .map(|(c, pts)| GridFrame {
            pts,
            cells: c.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect(),
        })
        .collect();
    assert!(
        !frames.is_empty(),
        "no frames decoded from {}: {}",
        path.display(),
        super::tail(&err, 10)
    );
    frames
}

/// The picture above the bottom band is solid red (grid rows 0-7).
pub fn is_red(f: &GridFrame) -> bool {
    f.cells[..(GRID.0 * 8) as usize]
        .iter()
        .all(|[r, g, b]| *r > 180 && *g < 70 && *b < 70)
}

/// The frame number a `counted_24s` frame carries (None: not one of its frames).
pub fn counted_index(f: &GridFrame) -> Option<u32> {
    bar_code(f, 2, 7)
}

/// The frame number in the bottom band of a `red_4s` frame.
pub fn band_index(f: &GridFrame) -> Option<u32> {
    bar_code(f, 8, 9)
}

/// Decode the bar code on grid row `top` (N) and `bottom` (1023 - N): None unless every cell
/// is clearly black or white, the reference columns are right and the rows are complements.
fn bar_code(f: &GridFrame, top: usize, bottom: usize) -> Option<u32> {
    let cols = GRID.0 as usize;
    if f.cells.len() != cols * GRID.1 as usize {
        return None;
    }
    let bit = |row: usize, c: usize| -> Option<bool> {
        match f.luma(row * cols + c) {
            l if l > 190 => Some(true),
            l if l < 65 => Some(false),
            _ => None,
        }
    };
    for row in [top, bottom] {
        if bit(row, 0) != Some(true) || (11..16).any(|c| bit(row, c) != Some(false)) {
            return None;
        }
    }
    let mut n = 0u32;
    for k in 0..10 {
        let (t, b) = (bit(top, 1 + k)?, bit(bottom, 1 + k)?);
        if t == b {
            return None;
        }
        n |= (t as u32) << k;
    }
    Some(n)
}

/// The numbers `read` finds in `frames`, as runs: "0..=119, -, 0..=95" ("-": unreadable).
pub fn runs(frames: &[GridFrame], read: fn(&GridFrame) -> Option<u32>) -> String {
    let show = |(a, b): (Option<u32>, Option<u32>)| match (a, b) {
        (Some(a), Some(b)) if a == b => a.to_string(),
        (Some(a), Some(b)) => format!("{a}..={b}"),
        _ => "-".to_string(),
    };
    let mut out: Vec<String> = Vec::new();
    let mut cur: Option<(Option<u32>, Option<u32>)> = None;
    for n in frames.iter().map(read) {
        cur = match cur {
            Some((a, Some(b))) if n == Some(b + 1) => Some((a, n)),
            Some((None, None)) if n.is_none() => cur,
            Some(r) => {
                out.push(show(r));
                Some((n, n))
            }
            None => Some((n, n)),
        };
    }
    out.extend(cur.map(show));
    out.join(", ")
}

/// Maps this process's `Instant`s to wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    instant: Instant,
    wall: DateTime<Utc>,
}

impl WallClock {
    pub fn new() -> WallClock {
        WallClock {
            instant: Instant::now(),
            wall: Utc::now(),
        }
    }
    pub fn wall(&self, at: Instant) -> DateTime<Utc> {
        let d = |x: Duration| chrono::Duration::from_std(x).expect("duration");
        if at >= self.instant {
            self.wall + d(at - self.instant)
        } else {
            self.wall - d(self.instant - at)
        }
    }
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock::new()
    }
}

pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// RFC 3339 UTC, `Z`, milliseconds only when not whole seconds.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    if t.timestamp_subsec_nanos() == 0 {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    } else {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

/// `b - a` in seconds.
pub fn secs(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_microseconds().unwrap() as f64 / 1e6
}

pub fn at_secs(t: DateTime<Utc>, s: f64) -> DateTime<Utc> {
    t + chrono::Duration::microseconds((s * 1e6).round() as i64)
}

/// The JSON state file, once it exists and parses (None after `timeout`).
pub fn wait_state(path: &Path, timeout: Duration) -> Option<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
        {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// GET `path` and parse the body as JSON: (status, JSON or the raw body as a JSON string).
pub fn get_json(port: u16, path: &str) -> Option<(u16, Value)> {
    let (status, body) = super::http_get(port, path)?;
    let v = serde_json::from_str(&body).unwrap_or(Value::String(body));
    Some((status, v))
}

/// Events for a playlist: appended as `events:` to a playlist file written by `write_playlist`.
#[derive(Clone, Debug)]
pub struct EventSpec {
    pub at: String,
    pub path: PathBuf,
    pub title: Option<String>,
}

impl EventSpec {
    pub fn new(at: &str, path: &Path, title: &str) -> EventSpec {
        EventSpec {
            at: at.into(),
            path: path.into(),
            title: Some(title.into()),
        }
    }
}

pub fn append_events(playlist: &Path, events: &[EventSpec]) {
    let mut y = String::from("events:\n");
    for e in events {
        y.push_str(&format!("  - at: {}\n", super::q(&e.at)));
        y.push_str(&format!(
            "    path: {}\n",
            super::q(&e.path.display().to_string())
        ));
        if let Some(t) = &e.title {
            y.push_str(&format!("    title: {}\n", super::q(t)));
        }
    }
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(playlist)
        .expect("open playlist");
    f.write_all(y.as_bytes()).expect("append events");
}
