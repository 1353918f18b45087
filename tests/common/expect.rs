//! What a continuous channel recording must look like, checked against a `Report`.

use super::probe::Pkt;
use super::recording::Report;

impl Report {
    /// Everything that breaks continuity against `expect`; empty when all is well.
    pub fn problems(&self, expect: &Expect) -> Vec<String> {
        let mut p = Vec::new();
        let frame = self.frame_ms / 1000.0;
        let sizes: Vec<(u32, u32)> = self.frame_sizes.iter().map(|(s, _)| *s).collect();
        if sizes != [expect.size] {
            p.push(format!(
                "frame sizes {sizes:?}, expected only {:?}",
                expect.size
            ));
        }
        if self.video_packets == 0 {
            p.push("no video packets".into());
        }
        if !self.bad_steps.is_empty() {
            p.push(format!(
                "{} video steps off {:.3} ms by > 1.5 ms, first: {:?}",
                self.bad_steps.len(),
                self.frame_ms,
                &self.bad_steps[..self.bad_steps.len().min(5)]
            ));
        }
        if expect.audio {
            if self.audio_packets == 0 {
                p.push("no audio packets".into());
            }
            if self.max_audio_hole_ms > expect.max_audio_hole_ms {
                p.push(format!(
                    "audio hole of {:.2} ms at {:.3} s (limit {} ms), {} holes over 2 ms",
                    self.max_audio_hole_ms,
                    self.max_audio_hole_at,
                    expect.max_audio_hole_ms,
                    self.audio_holes.len()
                ));
            }
            if self.av_end_diff_ms.abs() > expect.max_av_end_diff_ms {
                p.push(format!(
                    "audio ends {:+.1} ms after video (limit ±{} ms)",
                    self.av_end_diff_ms, expect.max_av_end_diff_ms
                ));
            }
        }
        if let Some(d) = expect.duration {
            if (self.duration - d).abs() > frame + 0.0015 {
                p.push(format!(
                    "duration {:.4} s, expected {d} s ± 1 frame ({:.1} ms)",
                    self.duration, self.frame_ms
                ));
            }
        }
        if let Some(gop) = expect.keyframe_interval {
            let tol = frame + 0.0015;
            match (self.keyframes.first(), vfirst(self)) {
                (Some(k), Some(v)) if (k - v).abs() < 0.0005 => {}
                _ => p.push("the first video frame is not a keyframe".into()),
            }
            let off: Vec<String> = self
                .keyframe_intervals()
                .iter()
                .zip(&self.keyframes)
                .filter(|(i, _)| match expect.cuts {
                    // A cut at the air starts a GOP afresh: the one before it is shorter.
                    true => **i > gop + tol,
                    false => (*i - gop).abs() > tol,
                })
                .map(|(i, at)| format!("{i:.3}s after {at:.3}s"))
                .collect();
            if !off.is_empty() {
                p.push(format!(
                    "{} keyframe intervals off {gop} s by more than a frame: {}",
                    off.len(),
                    off.iter().take(6).cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            if let Some(last) = self.keyframes.last() {
                if self.video_end - last > gop + tol {
                    p.push(format!(
                        "no keyframe in the last {:.3} s",
                        self.video_end - last
                    ));
                }
            }
        }
        p
    }
}

fn vfirst(r: &Report) -> Option<f64> {
    r.first_video.as_ref().and_then(Pkt::pts_s)
}

/// What a continuous channel recording should look like.
#[derive(Clone, Debug)]
pub struct Expect {
    pub size: (u32, u32),
    pub audio: bool,
    /// Channel time in seconds (first packet to video end), checked to ± 1 frame.
    pub duration: Option<f64>,
    /// GOP length in seconds, checked to ± 1 frame.
    pub keyframe_interval: Option<f64>,
    /// The run cuts at the air (a skip, a play-now, a takeover): a GOP may end early there.
    pub cuts: bool,
    pub max_audio_hole_ms: f64,
    pub max_av_end_diff_ms: f64,
}

impl Expect {
    pub fn new(width: u32, height: u32) -> Expect {
        Expect {
            size: (width, height),
            audio: true,
            duration: None,
            keyframe_interval: Some(2.0),
            cuts: false,
            max_audio_hole_ms: 2.0,
            max_av_end_diff_ms: 50.0,
        }
    }
}
