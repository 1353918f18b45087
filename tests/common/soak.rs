//! The soak test's instruments, sized for a day of channel time (2.6 M video and 4 M audio
//! packets, a couple of GB of FLV):
//!
//! - `continuity`: the recording's packets streamed from ffprobe's CSV line by line (never all
//!   in memory) through the same checks as `recording::analyse` + `Expect`: frame steps, audio
//!   holes, keyframe gaps, ends. Times are integer nanoseconds.
//! - `log_tally`: a run's WARN and ERROR lines counted by message.
//! - `grid_window`: `timeline::grid_frames` for a few seconds around a point of a long
//!   recording (input seek; pts from the integer `pts:`, as `pts_time:` has 6 digits only).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::probe::probe_streams;
use super::timeline::{GridFrame, GRID};

const NS: i64 = 1_000_000_000;
/// A video step further than this from 1/fps is bad (FLV timestamps are whole ms).
const STEP_SLACK_NS: i64 = 1_500_000;
/// Audio holes over this count.
const HOLE_NS: i64 = 2_000_000;
/// Packets are put back in pts order within this many (B-frames, interleaving).
const REORDER: usize = 32;
/// How many bad steps, holes and off keyframe gaps to keep for the report.
const KEEP: usize = 6;

/// A recording's continuity, from its packets. Times are ns of the file's own timestamps.
#[derive(Clone, Debug, Default)]
pub struct Continuity {
    pub path: PathBuf,
    /// 1/fps.
    pub frame_ns: i64,
    pub video_packets: u64,
    pub audio_packets: u64,
    /// Smallest and largest step between consecutive video frames.
    pub steps_ns: (i64, i64),
    /// Steps off 1/fps by more than 1.5 ms: (pts of the later frame, step).
    pub bad_steps: Tally,
    /// Expected keyframe interval.
    pub gop_ns: i64,
    pub keyframes: u64,
    pub first_video_key: bool,
    pub last_keyframe_ns: Option<i64>,
    /// Smallest and largest keyframe gap.
    pub gops_ns: (i64, i64),
    /// Keyframe gaps off `gop_ns` by more than 1.5 ms: (keyframe before, gap).
    pub gops_off: Tally,
    /// Audio holes over 2 ms: (pts of the packet after, hole).
    pub audio_holes: Tally,
    /// The largest gap between audio packets (ns, pts after it), the largest overlap.
    pub max_hole: (i64, i64),
    pub max_overlap_ns: i64,
    pub start_ns: i64,
    pub last_video_ns: Option<i64>,
    /// The end (pts + duration) of the last audio packet, in pts order.
    pub last_audio_end_ns: Option<i64>,
    /// Last video pts + 1/fps; the latest audio packet end.
    pub video_end_ns: i64,
    pub audio_end_ns: i64,
}

impl Continuity {
    pub fn duration_ns(&self) -> i64 {
        self.video_end_ns - self.start_ns
    }
    /// Audio end - video end.
    pub fn av_end_ns(&self) -> i64 {
        self.audio_end_ns - self.video_end_ns
    }
}

/// A stream's time base as integers.
fn time_base(s: &str) -> (i64, i64) {
    let (n, d) = s.split_once('/').expect("time base n/d");
    (n.parse().expect("tb num"), d.parse().expect("tb den"))
}

fn to_ns(t: i64, (num, den): (i64, i64)) -> i64 {
    (t as i128 * NS as i128 * num as i128 / den as i128) as i64
}

/// Stream `path`'s packets through the continuity checks: `fps` is (num, den), `gop_ns` the
/// expected keyframe interval.
pub fn continuity(path: &Path, fps: (u32, u32), gop_ns: i64) -> Continuity {
    let streams = probe_streams(path);
    let find = |kind: &str| streams.iter().find(|s| s.codec_type == kind);
    let video = find("video").expect("a video stream");
    let audio = find("audio");
    let (vtb, atb) = (
        time_base(&video.time_base),
        audio.map_or((1, 1000), |a| time_base(&a.time_base)),
    );
    // AAC packets hold 1024 samples; the container's duration is rounded to its ticks.
    let aac_ns = audio
        .filter(|a| a.codec_name == "aac")
        .and_then(|a| a.sample_rate)
        .map(|sr| 1024 * NS / sr as i64);
    let mut c = Continuity {
        path: path.to_path_buf(),
        frame_ns: NS * fps.1 as i64 / fps.0 as i64,
        gop_ns,
        steps_ns: (i64::MAX, 0),
        gops_ns: (i64::MAX, 0),
        start_ns: i64::MAX,
        audio_end_ns: i64::MIN,
        ..Continuity::default()
    };
    let mut child = Command::new("ffprobe")
        .args(
            "-v error -show_entries packet=stream_index,pts,duration,flags -of csv=p=0".split(' '),
        )
        .arg(path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run ffprobe");
    let (mut vq, mut aq) = (BinaryHeap::new(), BinaryHeap::new());
    let out = BufReader::with_capacity(1 << 20, child.stdout.take().expect("stdout"));
    for line in out.lines() {
        let line = line.expect("ffprobe output");
        let mut f = line.split(',');
        let (Some(index), Some(pts), dur, flags) = (f.next(), f.next(), f.next(), f.next()) else {
            continue;
        };
        let (Ok(index), Ok(pts)) = (index.parse::<usize>(), pts.parse::<i64>()) else {
            continue;
        };
        if index == video.index {
            let key = flags.is_some_and(|f| f.contains('K'));
            vq.push(Reverse((to_ns(pts, vtb), key)));
        } else if audio.is_some_and(|a| a.index == index) {
            let dur = || to_ns(dur.and_then(|d| d.parse().ok()).unwrap_or(0), atb);
            aq.push(Reverse((to_ns(pts, atb), aac_ns.unwrap_or_else(dur))));
        }
        if vq.len() > REORDER {
            c.video(vq.pop().unwrap().0);
        }
        if aq.len() > REORDER {
            c.audio(aq.pop().unwrap().0);
        }
    }
    while let Some(Reverse(p)) = vq.pop() {
        c.video(p);
    }
    while let Some(Reverse(p)) = aq.pop() {
        c.audio(p);
    }
    let status = child.wait().expect("wait ffprobe");
    assert!(
        status.success(),
        "ffprobe {} failed: {status}",
        path.display()
    );
    c.video_end_ns = c.last_video_ns.map_or(0, |t| t + c.frame_ns);
    if c.audio_end_ns == i64::MIN {
        c.audio_end_ns = c.video_end_ns;
    }
    c
}

impl Continuity {
    fn video(&mut self, (t, key): (i64, bool)) {
        if self.last_video_ns.is_none() {
            self.first_video_key = key;
        }
        self.video_packets += 1;
        self.start_ns = self.start_ns.min(t);
        if let Some(prev) = self.last_video_ns.replace(t) {
            let step = t - prev;
            self.steps_ns = (self.steps_ns.0.min(step), self.steps_ns.1.max(step));
            if (step - self.frame_ns).abs() > STEP_SLACK_NS {
                self.bad_steps.add(t, step);
            }
        }
        if key {
            self.keyframes += 1;
            if let Some(prev) = self.last_keyframe_ns.replace(t) {
                let g = t - prev;
                self.gops_ns = (self.gops_ns.0.min(g), self.gops_ns.1.max(g));
                if (g - self.gop_ns).abs() > STEP_SLACK_NS {
                    self.gops_off.add(prev, g);
                }
            }
        }
    }

    fn audio(&mut self, (t, d): (i64, i64)) {
        self.audio_packets += 1;
        self.start_ns = self.start_ns.min(t);
        if let Some(end) = self.last_audio_end_ns.replace(t + d) {
            let gap = t - end;
            self.max_hole = self.max_hole.max((gap, t));
            self.max_overlap_ns = self.max_overlap_ns.max(-gap);
            if gap > HOLE_NS {
                self.audio_holes.add(t, gap);
            }
        }
        self.audio_end_ns = self.audio_end_ns.max(t + d);
    }
}

/// How many times something happened, and the first few (at, how much).
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub count: u64,
    pub first: Vec<(i64, i64)>,
}

impl Tally {
    fn add(&mut self, at: i64, x: i64) {
        self.count += 1;
        if self.first.len() < KEEP {
            self.first.push((at, x));
        }
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.count)?;
        for (t, x) in &self.first {
            write!(f, " {}:{}", fmt_s(*t), fmt_ms(*x))?;
        }
        if self.count > self.first.len() as u64 {
            write!(f, " … +{}", self.count - self.first.len() as u64)?;
        }
        Ok(())
    }
}

/// ns as seconds with ms.
pub fn fmt_s(ns: i64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

/// ns as ms with 0.1 ms.
pub fn fmt_ms(ns: i64) -> String {
    format!("{:.1}ms", ns as f64 / 1e6)
}

impl fmt::Display for Continuity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "recording   {}", self.path.display())?;
        writeln!(
            f,
            "  video     {} packets, steps {}..{} (1/fps {}), off by > 1.5 ms: {}",
            self.video_packets,
            fmt_ms(self.steps_ns.0),
            fmt_ms(self.steps_ns.1),
            fmt_ms(self.frame_ns),
            self.bad_steps
        )?;
        writeln!(
            f,
            "  keyframes {} (first frame key: {}), gaps {}..{}, off 2 s: {}",
            self.keyframes,
            self.first_video_key,
            fmt_s(self.gops_ns.0),
            fmt_s(self.gops_ns.1),
            self.gops_off
        )?;
        writeln!(
            f,
            "  audio     {} packets, largest hole {} at {}, largest overlap {}, holes > 2 ms: {}",
            self.audio_packets,
            fmt_ms(self.max_hole.0),
            fmt_s(self.max_hole.1),
            fmt_ms(self.max_overlap_ns),
            self.audio_holes
        )?;
        write!(
            f,
            "  ends      start {}, video end {}, audio end {}, audio - video {}, duration {}",
            fmt_s(self.start_ns),
            fmt_s(self.video_end_ns),
            fmt_s(self.audio_end_ns),
            fmt_ms(self.av_end_ns()),
            fmt_s(self.duration_ns())
        )
    }
}

/// The video frames of `path` from `from_s` for `len_s` seconds (input seek), shrunk to
/// `GRID`, with the file's own pts (`-copyts`).
pub fn grid_window(path: &Path, from_s: f64, len_s: f64) -> Vec<GridFrame> {
    let (cols, rows) = GRID;
    let vf = format!("scale={cols}:{rows}:flags=area,format=rgb24,showinfo");
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-nostats", "-copyts"])
        .args(["-ss", &format!("{:.3}", from_s.max(0.0)), "-i"])
        .arg(path)
        .args(["-an", "-vf", &vf, "-fps_mode", "passthrough"])
        .args(["-frames:v", &format!("{}", (len_s * 60.0).ceil() as u64)])
        .args(["-f", "rawvideo", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("run ffmpeg");
    let err = String::from_utf8_lossy(&out.stderr);
    let info = || err.lines().filter(|l| l.contains("Parsed_showinfo"));
    let tb = info()
        .find_map(|l| l.split("config in time_base: ").nth(1))
        .map_or((1, 1000), |t| {
            time_base(t.split(',').next().unwrap_or("1/1000"))
        });
    let size = (cols * rows * 3) as usize;
    let pts = info()
        .filter_map(|l| l.split(" pts:").nth(1))
        .filter_map(|p| p.split_whitespace().next()?.parse::<i64>().ok());
    out.stdout
        .chunks_exact(size)
        .zip(pts)
        .map(|(c, pts)| GridFrame {
            pts: to_ns(pts, tb) as f64 / 1e9,
            cells: c.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect(),
        })
        .filter(|f| f.pts <= from_s + len_s)
        .collect()
}

/// WARN and ERROR lines counted by message (the text before the first ". ").
pub fn log_tally(stderr: &str) -> BTreeMap<String, usize> {
    let mut tally = BTreeMap::new();
    for line in stderr.lines() {
        let Some(level) = [" WARN ", " ERROR "].into_iter().find(|l| line.contains(l)) else {
            continue;
        };
        let rest = line.split_once(level).map_or(line, |(_, r)| r);
        let msg = rest.split_once(": ").map_or(rest, |(_, m)| m);
        let msg = msg.split_once(". ").map_or(msg, |(m, _)| m);
        *tally.entry(format!("{} {msg}", level.trim())).or_default() += 1;
    }
    tally
}
