//! Cutting a live session into units: its timestamps made continuous (`Track`), its
//! frames normalised like an item's, and each channel frame's picture packed with exactly
//! the audio that goes with it.

use std::collections::VecDeque;

use ffmpeg_next as ff;

use super::Unit;
use crate::pipeline::normalise::{audio_graph, video_graph, AudioSource, Graph, VideoSource};
use crate::pipeline::ChannelFormat;
use crate::time::{rescale, samples_at_frame, Rational, MICROS};

/// A forward jump larger than this, or any step back larger than `MAX_BACK`, is re-based.
const MAX_JUMP: i64 = 2 * MICROS.den;
const MAX_BACK: i64 = MICROS.den / 2;
/// Audio kept while no picture comes to take it (then the oldest goes).
const MAX_AUDIO_SECONDS: i64 = 2;

/// Makes a stream's timestamps continuous: a step forward past `MAX_JUMP` or back past
/// `MAX_BACK` is re-based to follow on from the last one.
#[derive(Default)]
pub(super) struct Track {
    shift: i64,
    last: Option<i64>,
}

impl Track {
    /// `t` (µs from the session's origin) made continuous; `step` is one frame's length.
    pub(super) fn place(&mut self, t: i64, step: i64) -> i64 {
        let mut at = t + self.shift;
        if let Some(last) = self.last {
            if at > last + MAX_JUMP || at < last - MAX_BACK {
                self.shift += last + step - at;
                at = last + step;
            }
        }
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
        at
    }
}

/// One session's normalise graphs and the packager that cuts units.
pub(super) struct Session<'a> {
    fmt: &'a ChannelFormat,
    origin: Option<i64>,
    vtrack: Track,
    atrack: Track,
    vgraph: Option<Graph>,
    agraph: Option<Graph>,
    /// Pictures out of the graph (channel frame index, picture) waiting for their audio.
    pending: VecDeque<(i64, ff::frame::Video)>,
    /// Audio out of the graph, from sample `a_start`.
    audio: Vec<VecDeque<f32>>,
    a_start: Option<i64>,
    pub(super) pictured: bool,
}

impl<'a> Session<'a> {
    pub(super) fn new(fmt: &'a ChannelFormat) -> Self {
        Session {
            fmt,
            origin: None,
            vtrack: Track::default(),
            atrack: Track::default(),
            vgraph: None,
            agraph: None,
            pending: VecDeque::new(),
            audio: vec![VecDeque::new(); fmt.channels as usize],
            a_start: None,
            pictured: false,
        }
    }

    fn micros(&mut self, ts: Option<i64>, tb: Rational) -> Option<i64> {
        let t = rescale(ts?, tb, MICROS);
        let origin = *self.origin.get_or_insert(t);
        Some(t - origin)
    }

    pub(super) fn video(&mut self, f: &mut ff::frame::Video, tb: Rational) -> Vec<Unit> {
        let Some(t) = self.micros(f.timestamp().or(f.pts()), tb) else {
            return Vec::new();
        };
        let step = rescale(1, self.fmt.frame_tb(), MICROS);
        let at = self.vtrack.place(t, step);
        let src = VideoSource::of(f, MICROS, false, 0);
        if !self.vgraph.as_ref().is_some_and(|g| g.fits(src.key())) {
            if self.vgraph.is_some() {
                tracing::info!(
                    width = src.width,
                    height = src.height,
                    "Live input: the picture changed shape; renormalising."
                );
            }
            match video_graph(&src, self.fmt, None) {
                Ok(g) => self.vgraph = Some(g),
                Err(e) => {
                    tracing::warn!(error = %e, "Live input: video filter graph failed; picture dropped.");
                    return Vec::new();
                }
            }
        }
        f.set_pts(Some(at));
        let g = self.vgraph.as_mut().expect("built above");
        if g.push(f).is_ok() {
            let mut out = ff::frame::Video::empty();
            while g.pull(&mut out).is_some() {
                let k = out.pts().unwrap_or(0);
                self.pictured = true;
                self.pending
                    .push_back((k, std::mem::replace(&mut out, ff::frame::Video::empty())));
            }
        }
        self.ready(false)
    }

    pub(super) fn audio(&mut self, f: &mut ff::frame::Audio, tb: Rational) {
        let src = AudioSource::of(f);
        if src.rate == 0 || src.channels == 0 {
            return;
        }
        let Some(t) = self.micros(f.timestamp().or(f.pts()), tb) else {
            return;
        };
        let step = f.samples() as i64 * MICROS.den / src.rate as i64;
        let at = self.atrack.place(t, step);
        if !self.agraph.as_ref().is_some_and(|g| g.fits(src.key())) {
            if self.agraph.is_some() {
                tracing::info!(
                    rate = src.rate,
                    channels = src.channels,
                    "Live input: the audio changed format; renormalising."
                );
            }
            match audio_graph(&src, self.fmt, None) {
                Ok(g) => self.agraph = Some(g),
                Err(e) => {
                    tracing::warn!(error = %e, "Live input: audio filter graph failed; audio dropped.");
                    return;
                }
            }
        }
        f.set_pts(Some(rescale(at, MICROS, Rational::new(1, src.rate as i64))));
        let Some(mut g) = self.agraph.take() else {
            return;
        };
        if g.push(f).is_ok() {
            let mut out = ff::frame::Audio::empty();
            while g.pull(&mut out).is_some() {
                self.take_audio(&out);
            }
        }
        self.agraph = Some(g);
    }

    /// Appends the graph's audio at its own sample position: a gap becomes silence, an
    /// overlap is dropped.
    fn take_audio(&mut self, out: &ff::frame::Audio) {
        let n = out.samples();
        let pts = out.pts().unwrap_or(0);
        let start = *self.a_start.get_or_insert(pts);
        let end = start + self.audio[0].len() as i64;
        let skip = (end - pts).clamp(0, n as i64) as usize;
        let gap = (pts - end).clamp(0, self.fmt.sample_rate as i64) as usize;
        for (c, buf) in self.audio.iter_mut().enumerate() {
            buf.extend(std::iter::repeat(0.0).take(gap));
            let plane = out.plane::<f32>(c.min(out.planes() - 1));
            buf.extend(&plane[skip..n]);
        }
        let keep = (MAX_AUDIO_SECONDS * self.fmt.sample_rate as i64) as usize;
        let over = self.audio[0].len().saturating_sub(keep);
        if over > 0 {
            for buf in &mut self.audio {
                buf.drain(..over);
            }
            self.a_start = Some(start + over as i64);
        }
    }

    /// Units for the pictures whose audio is in (or that waited long enough for it).
    fn ready(&mut self, all: bool) -> Vec<Unit> {
        let wait = (self.fmt.fps.num / self.fmt.fps.den / 2).max(2) as usize;
        let rate = self.fmt.sample_rate as i64;
        let mut units = Vec::new();
        while let Some((k, _)) = self.pending.front() {
            let (s0, s1) = (
                samples_at_frame(*k, self.fmt.fps, rate),
                samples_at_frame(k + 1, self.fmt.fps, rate),
            );
            let have_to = self.a_start.map(|a| a + self.audio[0].len() as i64);
            if !(all || self.pending.len() > wait || have_to.is_some_and(|e| e >= s1)) {
                break;
            }
            let (_, video) = self.pending.pop_front().expect("front exists");
            let n = (s1 - s0) as usize;
            let mut audio = vec![vec![0.0f32; n]; self.audio.len()];
            if let Some(mut a) = self.a_start {
                // Drop what comes before this frame's audio, then take what covers it.
                let len = self.audio[0].len() as i64;
                let before = (s0 - a).clamp(0, len);
                for buf in &mut self.audio {
                    buf.drain(..before as usize);
                }
                a += before;
                let len = len - before;
                if a < s1 && len > 0 {
                    let lead = (a - s0).max(0) as usize;
                    let take = (s1 - a).min(len) as usize;
                    for (c, buf) in self.audio.iter_mut().enumerate() {
                        for (i, x) in buf.drain(..take).enumerate() {
                            audio[c][lead + i] = x;
                        }
                    }
                    a += take as i64;
                }
                if self.audio[0].is_empty() {
                    // What would have covered this frame and comes late is dropped.
                    a = a.max(s1);
                }
                self.a_start = Some(a);
            }
            units.push(Unit { video, audio });
        }
        units
    }

    pub(super) fn finish(&mut self) -> Vec<Unit> {
        self.ready(true)
    }
}

#[cfg(test)]
#[path = "units_tests.rs"]
mod tests;
