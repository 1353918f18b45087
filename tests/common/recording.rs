//! Analysis of a recording: `analyse` -> `Report` (printable on one screen).
//!
//! FLV timestamps are whole milliseconds, so at 30 fps video steps alternate 33/34 ms and AAC
//! packets (1024 samples at 48 kHz = 21.333 ms) 21/22 ms: every comparison has a ms of slack.

use std::fmt;
use std::path::{Path, PathBuf};

use super::probe::{frame_sizes, probe_packets, probe_streams, Pkt, StreamInfo};

/// The numbers a continuity test looks at. Times are seconds unless the name says `_ms`.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub path: PathBuf,
    pub streams: Vec<StreamInfo>,
    /// Expected video frame duration (1/fps) in ms.
    pub frame_ms: f64,
    /// Distinct decoded frame sizes in order of appearance, with how many frames had each.
    pub frame_sizes: Vec<((u32, u32), usize)>,
    pub decoded_frames: usize,
    pub video_packets: usize,
    /// Smallest and largest pts step between consecutive video frames, ms.
    pub min_step_ms: f64,
    pub max_step_ms: f64,
    /// Steps off 1/fps by more than 1.5 ms: (pts of the later frame, step ms).
    pub bad_steps: Vec<(f64, f64)>,
    pub audio_packets: usize,
    /// Largest gap between one audio packet's end and the next one's start (ms) and where.
    pub max_audio_hole_ms: f64,
    pub max_audio_hole_at: f64,
    /// Audio holes over 2 ms: (pts of the packet after the hole, hole ms).
    pub audio_holes: Vec<(f64, f64)>,
    /// Largest overlap (next packet starting before the previous one ends), ms, >= 0.
    pub max_audio_overlap_ms: f64,
    /// Earliest pts of any packet.
    pub start: f64,
    /// Last video pts + 1/fps.
    pub video_end: f64,
    /// Last audio pts + packet duration.
    pub audio_end: f64,
    /// audio_end - video_end, ms.
    pub av_end_diff_ms: f64,
    /// video_end - start.
    pub duration: f64,
    /// pts of every video keyframe.
    pub keyframes: Vec<f64>,
    pub first_video: Option<Pkt>,
    pub first_audio: Option<Pkt>,
}

/// Analyse a recording made at `fps_num/fps_den` frames per second.
pub fn analyse(path: &Path, fps_num: u32, fps_den: u32) -> Report {
    let streams = probe_streams(path);
    let packets = probe_packets(path);
    let sizes = frame_sizes(path);
    let frame_s = fps_den as f64 / fps_num as f64;
    let mut r = Report {
        path: path.to_path_buf(),
        frame_ms: frame_s * 1000.0,
        decoded_frames: sizes.len(),
        ..Report::default()
    };
    for s in sizes {
        match r.frame_sizes.last_mut() {
            Some((last, n)) if *last == s => *n += 1,
            _ => r.frame_sizes.push((s, 1)),
        }
    }

    let video: Vec<&Pkt> = packets.iter().filter(|p| p.codec_type == "video").collect();
    let audio: Vec<&Pkt> = packets.iter().filter(|p| p.codec_type == "audio").collect();
    r.first_video = video.first().map(|p| (*p).clone());
    r.first_audio = audio.first().map(|p| (*p).clone());
    r.video_packets = video.len();
    r.audio_packets = audio.len();
    r.start = packets
        .iter()
        .filter_map(Pkt::pts_s)
        .fold(f64::INFINITY, f64::min);
    if !r.start.is_finite() {
        r.start = 0.0;
    }

    // Video: steps between consecutive presentation times.
    let mut vpts: Vec<f64> = video.iter().filter_map(|p| p.pts_s()).collect();
    vpts.sort_by(f64::total_cmp);
    r.min_step_ms = f64::INFINITY;
    for w in vpts.windows(2) {
        let step = (w[1] - w[0]) * 1000.0;
        r.min_step_ms = r.min_step_ms.min(step);
        r.max_step_ms = r.max_step_ms.max(step);
        if (step - r.frame_ms).abs() > 1.5 {
            r.bad_steps.push((w[1], step));
        }
    }
    if !r.min_step_ms.is_finite() {
        r.min_step_ms = 0.0;
    }
    r.video_end = vpts.last().map_or(r.start, |t| t + frame_s);
    r.keyframes = video
        .iter()
        .filter(|p| p.is_key())
        .filter_map(|p| p.pts_s())
        .collect();
    r.keyframes.sort_by(f64::total_cmp);

    // Audio: holes between packet end and next packet start, with exact codec frame durations.
    let mut apkts: Vec<(f64, f64)> = audio
        .iter()
        .filter_map(|p| Some((p.pts_s()?, audio_duration(p, &streams))))
        .collect();
    apkts.sort_by(|a, b| a.0.total_cmp(&b.0));
    for w in apkts.windows(2) {
        let gap_ms = (w[1].0 - (w[0].0 + w[0].1)) * 1000.0;
        if gap_ms > r.max_audio_hole_ms {
            r.max_audio_hole_ms = gap_ms;
            r.max_audio_hole_at = w[1].0;
        }
        r.max_audio_overlap_ms = r.max_audio_overlap_ms.max(-gap_ms);
        if gap_ms > 2.0 {
            r.audio_holes.push((w[1].0, gap_ms));
        }
    }
    r.audio_end = apkts
        .iter()
        .map(|(t, d)| t + d)
        .fold(f64::NEG_INFINITY, f64::max);
    if !r.audio_end.is_finite() {
        r.audio_end = r.start;
    }
    r.av_end_diff_ms = if audio.is_empty() || video.is_empty() {
        0.0
    } else {
        (r.audio_end - r.video_end) * 1000.0
    };
    r.duration = r.video_end - r.start;
    r.streams = streams;
    r
}

/// Duration of one audio packet in seconds: exact for AAC (1024 samples) and MP3 (1152),
/// else what the container says.
fn audio_duration(p: &Pkt, streams: &[StreamInfo]) -> f64 {
    let s = streams.iter().find(|s| s.index == p.stream_index);
    let samples = match s.map(|s| s.codec_name.as_str()) {
        Some("aac") => Some(1024.0),
        Some("mp3") => Some(1152.0),
        _ => None,
    };
    match (samples, s.and_then(|s| s.sample_rate)) {
        (Some(n), Some(sr)) if sr > 0 => n / sr as f64,
        _ => p.duration_s().unwrap_or(0.0),
    }
}

impl Report {
    /// Distances between consecutive keyframes, seconds.
    pub fn keyframe_intervals(&self) -> Vec<f64> {
        self.keyframes.windows(2).map(|w| w[1] - w[0]).collect()
    }

    pub fn video_stream(&self) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.codec_type == "video")
    }

    pub fn audio_stream(&self) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.codec_type == "audio")
    }
}

fn fmt_pkt(p: &Option<Pkt>) -> String {
    match p {
        None => "none".into(),
        Some(p) => format!(
            "pts {:.3}s dts {:?} dur {:?} flags {} size {}",
            p.pts_s().unwrap_or(f64::NAN),
            p.dts,
            p.duration,
            p.flags,
            p.size
        ),
    }
}

fn fmt_times(v: &[(f64, f64)], n: usize) -> String {
    let mut s: Vec<String> = v
        .iter()
        .take(n)
        .map(|(t, ms)| format!("{t:.3}s:{ms:.1}ms"))
        .collect();
    if v.len() > n {
        s.push(format!("… +{}", v.len() - n));
    }
    s.join(" ")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "recording  {}", self.path.display())?;
        for s in &self.streams {
            match s.codec_type.as_str() {
                "video" => writeln!(
                    f,
                    "  stream #{} video {} {}x{} {} tb {}",
                    s.index,
                    s.codec_name,
                    s.width.unwrap_or(0),
                    s.height.unwrap_or(0),
                    s.pix_fmt.as_deref().unwrap_or("?"),
                    s.time_base
                )?,
                _ => writeln!(
                    f,
                    "  stream #{} {} {} {} Hz {} ch tb {}",
                    s.index,
                    s.codec_type,
                    s.codec_name,
                    s.sample_rate.unwrap_or(0),
                    s.channels.unwrap_or(0),
                    s.time_base
                )?,
            }
        }
        writeln!(f, "  first video  {}", fmt_pkt(&self.first_video))?;
        writeln!(f, "  first audio  {}", fmt_pkt(&self.first_audio))?;
        let sizes: Vec<String> = self
            .frame_sizes
            .iter()
            .map(|((w, h), n)| format!("{w}x{h} ×{n}"))
            .collect();
        writeln!(
            f,
            "  video        {} packets, {} decoded, sizes: {}",
            self.video_packets,
            self.decoded_frames,
            sizes.join(" → ")
        )?;
        writeln!(
            f,
            "  steps        1/fps {:.3} ms, min {:.1} max {:.1} ms, {} off by > 1.5 ms {}",
            self.frame_ms,
            self.min_step_ms,
            self.max_step_ms,
            self.bad_steps.len(),
            fmt_times(&self.bad_steps, 6)
        )?;
        writeln!(
            f,
            "  audio        {} packets, largest hole {:.2} ms at {:.3}s, largest overlap {:.2} ms, {} holes > 2 ms {}",
            self.audio_packets,
            self.max_audio_hole_ms,
            self.max_audio_hole_at,
            self.max_audio_overlap_ms,
            self.audio_holes.len(),
            fmt_times(&self.audio_holes, 6)
        )?;
        writeln!(
            f,
            "  ends         video {:.3}s audio {:.3}s, audio - video {:+.1} ms",
            self.video_end, self.audio_end, self.av_end_diff_ms
        )?;
        writeln!(
            f,
            "  duration     {:.4}s (first packet {:.3}s → video end)",
            self.duration, self.start
        )?;
        let iv = self.keyframe_intervals();
        let (lo, hi) = iv.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        });
        let mut ks: Vec<String> = self
            .keyframes
            .iter()
            .take(8)
            .map(|k| format!("{k:.3}"))
            .collect();
        if self.keyframes.len() > 8 {
            ks.push(format!("… +{}", self.keyframes.len() - 8));
        }
        write!(
            f,
            "  keyframes    {} at [{}], intervals {}",
            self.keyframes.len(),
            ks.join(" "),
            if iv.is_empty() {
                "-".to_string()
            } else {
                format!("{lo:.3}..{hi:.3}s")
            }
        )
    }
}
