//! The source thread: walks the rotation, opens each item ahead of time, decodes it,
//! normalises it and hands its frames to the splicer. Anything that cannot play becomes a
//! short slate, a log line naming the file and the reason, and a metric — never a stop.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender};
use ffmpeg_next as ff;

use super::normalise::{audio_graph, video_graph, AudioSource, Graph, VideoSource};
use super::open::{open, FailReason, OpenError, Opened};
use super::splice::{Flow, Splicer};
use super::{ChannelFormat, Media};
use crate::metrics::Metrics;
use crate::playlist::{Item, MediaItem, Playlist};
use crate::time::{frames_in, rescale, Micros, Rational, MICROS};

/// How long a still image shows when its item gives neither `duration` nor `out`.
const STILL_DEFAULT: Micros = Micros::from_secs(10);
/// Consecutive packets a decoder may reject before the item is declared broken.
const MAX_DECODE_ERRORS: u32 = 25;
/// Consecutive unreadable packets before the demuxer is declared lost.
const MAX_READ_ERRORS: u32 = 100;

pub struct SourceSettings {
    pub fmt: ChannelFormat,
    pub playlist: Arc<Playlist>,
    pub slate: ff::frame::Video,
    pub failure_slate: Micros,
    /// Channel time after which the source ends the stream (`--for`).
    pub stop_after: Option<Micros>,
    /// Set by a signal: end the stream at the next frame.
    pub stop: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
}

/// Runs until `stop_after`, the stop flag, or the encoder going away.
pub fn run(s: SourceSettings, tx: Sender<Media>) {
    let stop_at = s.stop_after.map(|d| frames_in(d, s.fmt.fps));
    let mut splicer = Splicer::new(s.fmt.clone(), tx, stop_at);
    let mut next = 0usize;
    let mut prefetch: Option<Prefetch> = None;
    let mut barren = 0usize; // items in a row that put nothing on air
    let failure_frames = frames_in(s.failure_slate, s.fmt.fps).max(1);
    let mut last_stats = splicer.stats();
    loop {
        if s.stop.load(Ordering::Relaxed) || splicer.is_done() {
            break;
        }
        let items = &s.playlist.items;
        let item = &items[next % items.len()];
        next = (next + 1) % items.len();
        let start = splicer.position_frames();
        s.metrics.item_transitions_total.inc();
        let flow = match item {
            Item::Slate(sl) => {
                tracing::info!(item = %sl.title, duration = %sl.duration, "Slate started.");
                let frames = frames_in(sl.duration, s.fmt.fps);
                let f = splicer.fill(frames, &s.slate);
                s.metrics.add_slate_frames(frames, s.fmt.fps);
                f
            }
            Item::Media(m) => {
                let opened = match prefetch.take() {
                    Some(p) if p.path == m.path && p.in_point == m.in_point => p.take(),
                    _ => open(&m.path, m.in_point),
                };
                // Open the next media item while this one plays.
                prefetch =
                    next_media(items, next).map(|n| Prefetch::spawn(n.path.clone(), n.in_point));
                let outcome = match opened {
                    Ok(o) => play(o, m, &mut splicer, &s),
                    Err(e) => Outcome::Failed(e),
                };
                match outcome {
                    Outcome::Played => Flow::Continue,
                    Outcome::Stopped => Flow::Stop,
                    Outcome::Failed(e) => {
                        tracing::error!(file = %e.path.display(), reason = e.reason.label(), error = %e.detail, item = %m.title, "Item failed; playing slate.");
                        s.metrics
                            .item_failures_total
                            .with_label_values(&[e.reason.label()])
                            .inc();
                        splicer.end_item();
                        let f = splicer.fill(failure_frames, &s.slate);
                        s.metrics.add_slate_frames(failure_frames, s.fmt.fps);
                        f
                    }
                }
            }
        };
        let stats = splicer.stats();
        s.metrics
            .record_splice(&last_stats, &stats, s.fmt.sample_rate);
        last_stats = stats;
        if flow == Flow::Stop {
            break;
        }
        // A rotation in which nothing at all plays must still move the clock forward.
        if splicer.position_frames() == start {
            barren += 1;
            if barren >= items.len() {
                tracing::error!("No item of the rotation can play; holding slate.");
                splicer.fill(frames_in(Micros::from_secs(1), s.fmt.fps), &s.slate);
                barren = 0;
            }
        } else {
            barren = 0;
        }
    }
    splicer.finish();
    tracing::debug!(frames = splicer.position_frames(), "Source finished.");
}

fn next_media(items: &[Item], from: usize) -> Option<&MediaItem> {
    (0..items.len())
        .map(|k| &items[(from + k) % items.len()])
        .find_map(|i| match i {
            Item::Media(m) => Some(m),
            Item::Slate(_) => None,
        })
}

struct Prefetch {
    path: PathBuf,
    in_point: Micros,
    rx: Receiver<Result<Opened, OpenError>>,
}

impl Prefetch {
    fn spawn(path: PathBuf, in_point: Micros) -> Self {
        let (tx, rx) = bounded(1);
        let p = path.clone();
        let spawned = std::thread::Builder::new()
            .name("open-ahead".into())
            .spawn(move || {
                let _ = tx.send(open(&p, in_point));
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "Could not start the open-ahead thread.");
        }
        Prefetch { path, in_point, rx }
    }

    fn take(self) -> Result<Opened, OpenError> {
        match self.rx.recv() {
            Ok(r) => r,
            Err(_) => open(&self.path, self.in_point),
        }
    }
}

enum Outcome {
    Played,
    Stopped,
    Failed(OpenError),
}

/// Per-item decode state: decoders, filter graphs and timestamp origins.
struct Decode<'a> {
    fmt: &'a ChannelFormat,
    v_tb: Rational,
    a_tb: Rational,
    v_origin: i64,
    a_origin: i64,
    rotation: i32,
    interlaced: bool,
    vgraph: Option<Graph>,
    agraph: Option<Graph>,
}

fn play(mut o: Opened, item: &MediaItem, sp: &mut Splicer, s: &SourceSettings) -> Outcome {
    let fps = s.fmt.fps;
    let mut limit = match (item.out_point, item.duration) {
        (Some(out), Some(d)) => Some((out - item.in_point).min(d)),
        (Some(out), None) => Some(out - item.in_point),
        (None, d) => d,
    };
    if o.info.still && limit.is_none() {
        limit = Some(STILL_DEFAULT);
    }
    let limit_frames = limit.map(|l| frames_in(l, fps));
    tracing::info!(item = %item.title, file = %o.path.display(), in_point = %item.in_point, "Item started.");
    sp.begin_item(limit_frames, &s.slate);
    let tb = |i: usize| {
        let t = o
            .input
            .stream(i)
            .map(|s| s.time_base())
            .unwrap_or(ff::Rational::new(1, 1));
        Rational::new(t.numerator() as i64, t.denominator().max(1) as i64)
    };
    let (vi, ai) = (
        o.video.as_ref().and(o.info.video.as_ref()).map(|v| v.index),
        o.audio.as_ref().and(o.info.audio.as_ref()).map(|a| a.index),
    );
    let v_tb = vi.map(tb).unwrap_or(Rational::new(1, 1));
    let a_tb = ai.map(tb).unwrap_or(Rational::new(1, 1));
    let mut d = Decode {
        fmt: &s.fmt,
        v_tb,
        a_tb,
        v_origin: rescale(o.origin_us, MICROS, v_tb),
        a_origin: rescale(o.origin_us, MICROS, a_tb),
        rotation: o.info.video.as_ref().map(|v| v.rotation).unwrap_or(0),
        interlaced: o.info.video.as_ref().is_some_and(|v| v.interlaced),
        vgraph: None,
        agraph: None,
    };
    if vi.is_none() {
        sp.video_ended();
    }
    if ai.is_none() {
        sp.audio_ended();
    }
    let still = o.info.still;
    let (mut dec_errors, mut read_errors) = (0u32, 0u32);
    let mut failure: Option<OpenError> = None;
    let fail = |reason, detail: String| OpenError {
        path: o.path.clone(),
        reason,
        detail,
    };
    let mut vframe = ff::frame::Video::empty();
    let mut aframe = ff::frame::Audio::empty();
    let mut flow = Flow::Continue;
    let mut video_open = vi.is_some();
    let mut packet = ff::Packet::empty();
    while flow == Flow::Continue {
        if s.stop.load(Ordering::Relaxed) {
            return Outcome::Stopped;
        }
        match packet.read(&mut o.input) {
            Ok(()) => read_errors = 0,
            Err(ff::Error::Eof) => break,
            Err(ff::Error::InvalidData) if read_errors < MAX_READ_ERRORS => {
                read_errors += 1;
                continue;
            }
            Err(e) => {
                failure = Some(fail(FailReason::Read, format!("reading stopped: {e}")));
                break;
            }
        }
        let idx = packet.stream();
        if Some(idx) == vi && video_open {
            let dec = o.video.as_mut().expect("vi implies decoder");
            match dec.send_packet(&packet) {
                Ok(()) => dec_errors = 0,
                Err(e) => {
                    dec_errors += 1;
                    if dec_errors >= MAX_DECODE_ERRORS {
                        failure = Some(fail(
                            FailReason::Decode,
                            format!("video decoding failed: {e}"),
                        ));
                        break;
                    }
                }
            }
            while dec.receive_frame(&mut vframe).is_ok() {
                flow = d.video_frame(&mut vframe, sp, false);
                if still {
                    flow = d.video_frame(&mut vframe, sp, true).max_with(flow);
                    video_open = false;
                    sp.video_ended();
                    break;
                }
            }
        } else if Some(idx) == ai {
            let dec = o.audio.as_mut().expect("ai implies decoder");
            match dec.send_packet(&packet) {
                Ok(()) => dec_errors = 0,
                Err(e) => {
                    dec_errors += 1;
                    if dec_errors >= MAX_DECODE_ERRORS {
                        failure = Some(fail(
                            FailReason::Decode,
                            format!("audio decoding failed: {e}"),
                        ));
                        break;
                    }
                }
            }
            while dec.receive_frame(&mut aframe).is_ok() {
                flow = d.audio_frame(&mut aframe, sp, false);
            }
        }
        if still && !video_open && ai.is_none() {
            break;
        }
    }
    if flow == Flow::Stop {
        return Outcome::Stopped;
    }
    // Drain decoders and filters so the item's last frames play.
    if failure.is_none() && flow == Flow::Continue {
        if let (Some(dec), true) = (o.video.as_mut(), video_open) {
            let _ = dec.send_eof();
            while dec.receive_frame(&mut vframe).is_ok() {
                d.video_frame(&mut vframe, sp, false);
            }
            d.video_frame(&mut vframe, sp, true);
        }
        if let Some(dec) = o.audio.as_mut() {
            let _ = dec.send_eof();
            while dec.receive_frame(&mut aframe).is_ok() {
                d.audio_frame(&mut aframe, sp, false);
            }
            d.audio_frame(&mut aframe, sp, true);
        }
    }
    sp.video_ended();
    sp.audio_ended();
    if still {
        if let Some(l) = limit_frames {
            sp.hold_until(l);
        }
    }
    sp.end_item();
    if sp.is_done() {
        return Outcome::Stopped;
    }
    match failure {
        Some(f) => Outcome::Failed(f),
        None => Outcome::Played,
    }
}

trait FlowExt {
    fn max_with(self, other: Flow) -> Flow;
}

impl FlowExt for Flow {
    /// The more final of two flows: Stop over ItemFull over Continue.
    fn max_with(self, other: Flow) -> Flow {
        let rank = |f: Flow| match f {
            Flow::Continue => 0,
            Flow::ItemFull => 1,
            Flow::Stop => 2,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl Decode<'_> {
    /// Feeds one decoded frame (or, with `eof`, the end of the stream) through the video graph
    /// and places what comes out.
    fn video_frame(&mut self, f: &mut ff::frame::Video, sp: &mut Splicer, eof: bool) -> Flow {
        if !eof {
            let src = VideoSource {
                width: f.width(),
                height: f.height(),
                format: f.format(),
                sar: {
                    let r = f.aspect_ratio();
                    Rational::new(r.numerator() as i64, r.denominator() as i64)
                },
                time_base: self.v_tb,
                interlaced: self.interlaced || f.is_interlaced(),
                rotation: self.rotation,
            };
            if !self.vgraph.as_ref().is_some_and(|g| g.fits(src.key())) {
                let mut flow = Flow::Continue;
                if self.vgraph.is_some() {
                    flow = self.video_frame(f, sp, true);
                }
                match video_graph(&src, self.fmt) {
                    Ok(g) => self.vgraph = Some(g),
                    Err(e) => {
                        tracing::warn!(error = %e, "Video filter graph failed; frame dropped.");
                        return flow;
                    }
                }
            }
            let ts = f.timestamp().or(f.pts()).unwrap_or(self.v_origin);
            f.set_pts(Some(ts - self.v_origin));
        }
        let Some(g) = self.vgraph.as_mut() else {
            return Flow::Continue;
        };
        let pushed = if eof { g.flush() } else { g.push(f) };
        if pushed.is_err() {
            return Flow::Continue;
        }
        let mut flow = Flow::Continue;
        loop {
            let mut out = ff::frame::Video::empty();
            if g.pull(&mut out).is_none() {
                break;
            }
            let rel = out.pts().unwrap_or(0);
            flow = sp.video(out, rel);
            if flow == Flow::Stop {
                break;
            }
        }
        if eof {
            self.vgraph = None;
        }
        flow
    }

    fn audio_frame(&mut self, f: &mut ff::frame::Audio, sp: &mut Splicer, eof: bool) -> Flow {
        if !eof {
            let src = AudioSource {
                rate: f.rate(),
                format: f.format(),
                layout: f.channel_layout(),
                channels: f.channels(),
            };
            if src.rate == 0 || src.channels == 0 {
                return Flow::Continue;
            }
            if !self.agraph.as_ref().is_some_and(|g| g.fits(src.key())) {
                if self.agraph.is_some() {
                    self.audio_frame(f, sp, true);
                }
                match audio_graph(&src, self.fmt) {
                    Ok(g) => self.agraph = Some(g),
                    Err(e) => {
                        tracing::warn!(error = %e, "Audio filter graph failed; frame dropped.");
                        return Flow::Continue;
                    }
                }
            }
            let ts = f.timestamp().or(f.pts()).unwrap_or(self.a_origin);
            let rel = rescale(
                ts - self.a_origin,
                self.a_tb,
                Rational::new(1, src.rate as i64),
            );
            f.set_pts(Some(rel));
        }
        let Some(g) = self.agraph.as_mut() else {
            return Flow::Continue;
        };
        let pushed = if eof { g.flush() } else { g.push(f) };
        if pushed.is_err() {
            return Flow::Continue;
        }
        let mut flow = Flow::Continue;
        loop {
            let mut out = ff::frame::Audio::empty();
            if g.pull(&mut out).is_none() {
                break;
            }
            let rel = out.pts().unwrap_or(0);
            flow = sp.audio(&out, rel);
            if flow == Flow::Stop {
                break;
            }
        }
        if eof {
            self.agraph = None;
        }
        flow
    }
}
