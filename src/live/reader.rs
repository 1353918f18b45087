//! The live reader: libavformat's RTMP server (behind the relay) or SRT listener, one
//! publisher session after another. Each session is decoded and normalised like an item,
//! its timestamps made continuous (a jump or a step back is re-based, never followed), and
//! cut into units of one channel frame: a picture and exactly its audio.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use ffmpeg_next as ff;

use super::{Shared, Unit};
use crate::metrics::Metrics;
use crate::pipeline::normalise::{audio_graph, video_graph, AudioSource, Graph, VideoSource};
use crate::pipeline::open::{describe, open_decoder};
use crate::pipeline::ChannelFormat;
use crate::time::{rescale, samples_at_frame, Micros, Rational, MICROS};

/// Consecutive packets the video decoder may reject before the feed counts as undecodable.
const MAX_DECODE_ERRORS: u32 = 25;
/// A session with no decodable picture this long after it opened is refused.
const FIRST_PICTURE: Duration = Duration::from_secs(5);
/// A forward jump larger than this, or any step back larger than `MAX_BACK`, is re-based.
const MAX_JUMP: i64 = 2 * MICROS.den;
const MAX_BACK: i64 = MICROS.den / 2;
/// Audio kept while no picture comes to take it (then the oldest goes).
const MAX_AUDIO_SECONDS: i64 = 2;

pub enum Source {
    /// The relay's loopback side, with the key already checked.
    Rtmp(String),
    /// `srt://…?mode=listener…`, the passphrase checked by libsrt.
    Srt(String),
}

pub struct Reader {
    pub source: Source,
    pub fmt: ChannelFormat,
    pub timeout: Micros,
    pub metrics: Arc<Metrics>,
    pub shared: Arc<Shared>,
    pub stop: Arc<AtomicBool>,
    pub units: Sender<Unit>,
    /// The same queue's other end: a full queue loses its oldest unit, not the newest.
    pub drain: Receiver<Unit>,
}

fn now_ms(epoch: Instant) -> i64 {
    epoch.elapsed().as_millis() as i64
}

impl Reader {
    pub fn run(self) {
        let epoch = Instant::now();
        // Reads give up once this passes (ms since `epoch`); listening waits for ever.
        let deadline = Arc::new(AtomicI64::new(i64::MAX));
        while !self.stop.load(Ordering::Relaxed) {
            deadline.store(i64::MAX, Ordering::Relaxed);
            let (url, rtmp) = match &self.source {
                Source::Rtmp(u) => (u.as_str(), true),
                Source::Srt(u) => (u.as_str(), false),
            };
            let mut opts = ff::Dictionary::new();
            if rtmp {
                opts.set("listen", "1");
            }
            opts.set("analyzeduration", "500000");
            let (stop, dl) = (self.stop.clone(), deadline.clone());
            let interrupt =
                move || stop.load(Ordering::Relaxed) || now_ms(epoch) > dl.load(Ordering::Relaxed);
            match ff::format::input_with_interrupt_and_dictionary(&url, interrupt, opts) {
                Ok(input) => {
                    if !rtmp {
                        self.shared.publisher.store(true, Ordering::Release);
                        self.metrics.live.connected.set(1);
                        tracing::info!("Live input: SRT publisher connected.");
                    }
                    self.session(input, &deadline, epoch);
                    if !rtmp && self.shared.publisher.swap(false, Ordering::AcqRel) {
                        self.metrics.live.connected.set(0);
                    }
                    self.metrics.live.input_fps.set(0.0);
                }
                Err(e) => {
                    if !self.stop.load(Ordering::Relaxed) {
                        tracing::debug!(error = %e, "Live input: no session opened.");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
    }

    fn refuse(&self, reason: &'static str, detail: &str) {
        tracing::warn!(reason, detail, "Live input: publisher refused.");
        self.metrics.live.refused(reason);
    }

    fn session(&self, mut input: ff::format::context::Input, deadline: &AtomicI64, epoch: Instant) {
        let name = Path::new("live input");
        let info = describe(&input);
        let Some(vinfo) = info.video.clone() else {
            self.refuse("no_video", "the publisher sends no video");
            return;
        };
        let mut vdec = match open_decoder(&input, vinfo.index, name).and_then(|d| {
            d.video().map_err(|e| crate::pipeline::open::OpenError {
                path: name.into(),
                reason: crate::pipeline::open::FailReason::Unsupported,
                detail: e.to_string(),
            })
        }) {
            Ok(d) => d,
            Err(e) => {
                self.refuse("undecodable", &e.detail);
                return;
            }
        };
        let ai = info.audio.as_ref().map(|a| a.index);
        let mut adec = ai.and_then(|i| open_decoder(&input, i, name).ok()?.audio().ok());
        let tb = |i: usize| {
            let t = input
                .stream(i)
                .map(|s| s.time_base())
                .unwrap_or(ff::Rational::new(1, 1000));
            Rational::new(t.numerator() as i64, t.denominator().max(1) as i64)
        };
        let (v_tb, a_tb) = (
            tb(vinfo.index),
            ai.map(tb).unwrap_or(Rational::new(1, 1000)),
        );
        tracing::info!(video = %vinfo.codec, width = vinfo.width, height = vinfo.height, audio = info.audio.as_ref().map(|a| a.codec.as_str()).unwrap_or("none"), "Live input: session open.");
        let mut s = Session::new(&self.fmt);
        let opened = Instant::now();
        let (mut pictures, mut last_tick) = (0u32, Instant::now());
        let mut dec_errors = 0u32;
        let stall = self.timeout.0 / 1000 + 1000;
        let (mut vframe, mut aframe) = (ff::frame::Video::empty(), ff::frame::Audio::empty());
        while !self.stop.load(Ordering::Relaxed) {
            deadline.store(now_ms(epoch) + stall, Ordering::Relaxed);
            let mut packet = ff::Packet::empty();
            match packet.read(&mut input) {
                Ok(()) => {}
                Err(ff::Error::Eof) => {
                    tracing::info!("Live input: the publisher ended the stream.");
                    break;
                }
                Err(e) => {
                    tracing::info!(error = %e, "Live input: the stream stopped.");
                    break;
                }
            }
            self.metrics
                .live
                .input_bytes_total
                .inc_by(packet.size() as u64);
            if packet.stream() == vinfo.index {
                if vdec.send_packet(&packet).is_err() {
                    dec_errors += 1;
                    if dec_errors >= MAX_DECODE_ERRORS {
                        self.refuse("undecodable", "the video does not decode");
                        break;
                    }
                } else {
                    dec_errors = 0;
                }
                while vdec.receive_frame(&mut vframe).is_ok() {
                    pictures += 1;
                    for u in s.video(&mut vframe, v_tb) {
                        self.send(u);
                    }
                }
            } else if Some(packet.stream()) == ai {
                if let Some(dec) = adec.as_mut() {
                    if dec.send_packet(&packet).is_ok() {
                        while dec.receive_frame(&mut aframe).is_ok() {
                            s.audio(&mut aframe, a_tb);
                        }
                    }
                }
            }
            if !s.pictured && opened.elapsed() > FIRST_PICTURE {
                self.refuse("undecodable", "no decodable picture in the first 5 s");
                break;
            }
            let dt = last_tick.elapsed();
            if dt >= Duration::from_secs(1) {
                let secs = dt.as_secs_f64();
                self.metrics.live.input_fps.set(pictures as f64 / secs);
                (pictures, last_tick) = (0, Instant::now());
            }
        }
        for u in s.finish() {
            self.send(u);
        }
    }

    fn send(&self, u: Unit) {
        if let Err(TrySendError::Full(u)) = self.units.try_send(u) {
            let _ = self.drain.try_recv();
            let _ = self.units.try_send(u);
        }
    }
}

/// Makes a stream's timestamps continuous: a step forward past `MAX_JUMP` or back past
/// `MAX_BACK` is re-based to follow on from the last one.
#[derive(Default)]
struct Track {
    shift: i64,
    last: Option<i64>,
}

impl Track {
    /// `t` (µs from the session's origin) made continuous; `step` is one frame's length.
    fn place(&mut self, t: i64, step: i64) -> i64 {
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
struct Session<'a> {
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
    pictured: bool,
}

impl<'a> Session<'a> {
    fn new(fmt: &'a ChannelFormat) -> Self {
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

    fn video(&mut self, f: &mut ff::frame::Video, tb: Rational) -> Vec<Unit> {
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

    fn audio(&mut self, f: &mut ff::frame::Audio, tb: Rational) {
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

    fn finish(&mut self) -> Vec<Unit> {
        self.ready(true)
    }
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
