//! Playing one item: the decode loop. Demuxes packets, decodes them (tolerating a bad
//! packet, not a broken file), sends frames through the normalise graphs and places what
//! comes out on the timeline with the splicer. Ends at EOF, the item's `out`, a failure
//! (read, decode, truncated) or the channel's end.

use std::sync::atomic::Ordering;

use ffmpeg_next as ff;

use super::context::PlayContext;
use super::normalise::{audio_graph, text_chain, video_graph, AudioSource, Graph, VideoSource};
use super::open::{FailReason, OpenError, Opened};
use super::splice::{Flow, Splicer};
use super::ChannelFormat;
use crate::loudness::Gain;
use crate::playlist::MediaItem;
use crate::time::{rescale, Micros, Rational, MICROS};

/// How much shorter than declared a file may end before it counts as truncated.
const TRUNCATION_SLACK: Micros = Micros::from_millis(500);
/// Consecutive packets a decoder may reject before the item is declared broken.
const MAX_DECODE_ERRORS: u32 = 25;
/// Consecutive unreadable packets before the demuxer is declared lost.
const MAX_READ_ERRORS: u32 = 100;

pub enum Outcome {
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
    /// The frames the next pulls from the graphs fill (see `through`).
    vout: ff::frame::Video,
    aout: ff::frame::Audio,
    /// Where the last video frame fed ends (relative, stream timebase): the graph is closed
    /// there, so the frame-rate filter knows the last frame's duration and emits it.
    v_end: Option<i64>,
    /// A frame's duration when the decoder does not say (from the stream's rate).
    v_frame: i64,
    /// The item's loudness filters (`loudness::chain`), in every audio graph it gets.
    gain: Option<String>,
    /// The logo's and the lower third's filters, unless the item has `overlay: false`.
    overlay: Option<String>,
}

/// What part of an item to play: from `start` in the file, for `frames` channel frames (the
/// rest of its slot in the schedule).
#[derive(Clone, Copy, Debug)]
pub struct Take {
    pub start: Micros,
    pub frames: i64,
}

/// `cut` is asked now and then (with the current frame) whether the item must end sooner
/// (a reload brought an event); it answers with the frame to end at.
pub fn play(
    mut o: Opened,
    item: &MediaItem,
    take: Take,
    sp: &mut Splicer,
    s: &PlayContext,
    cut: &mut dyn FnMut(i64) -> Option<i64>,
) -> Outcome {
    let fps = s.fmt.fps;
    let limit_frames = Some(take.frames);
    tracing::info!(item = %item.title, file = %o.path.display(), from = %take.start, frames = take.frames, "Item started.");
    let first_frame = sp.position_frames();
    // Where a reload's event or a skip cut the item short, if one did.
    let mut cut_to: Option<i64> = None;
    sp.begin_item(limit_frames, &s.look.slate);
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
    let gain = match (&s.loudness, ai) {
        (Some(meter), Some(_)) => {
            let (g, chain) = meter.gain(item);
            match &g {
                Gain::Static { db, why } => {
                    tracing::info!(item = %item.title, gain_db = format!("{db:+.1}"), why = %why, "Loudness: static gain and limiter.")
                }
                Gain::Dynamic => {
                    tracing::warn!(item = %item.title, file = %o.path.display(), "Loudness not measured yet; this airing uses the single-pass normaliser.")
                }
                Gain::Off(why) => {
                    tracing::info!(item = %item.title, why = %why, "Loudness: no gain.")
                }
            }
            s.metrics
                .loudness_items_total
                .with_label_values(&[g.label()])
                .inc();
            chain
        }
        _ => None,
    };
    // The lower third's line goes through a file, so that a title needs no escaping; the file
    // lives as long as the item (a graph rebuilt for a new shape reads it again).
    let lower_third = s.look.text.as_ref().filter(|_| item.overlay).and_then(|t| {
        let line = t.line(&item.title, &s.look.channel);
        let f = tempfile::Builder::new()
            .prefix("playout-text-")
            .tempfile()
            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()).map(|_| f));
        match f {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(error = %e, "Cannot write the lower third's text; the item plays without it.");
                None
            }
        }
    });
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
        vout: ff::frame::Video::empty(),
        aout: ff::frame::Audio::empty(),
        v_end: None,
        v_frame: {
            let fps = o
                .info
                .video
                .as_ref()
                .and_then(|v| v.fps)
                .unwrap_or(Rational::new(25, 1));
            rescale(1, fps.invert(), v_tb).max(1)
        },
        gain,
        overlay: match (&s.look.overlay, &lower_third) {
            _ if !item.overlay => None,
            (None, None) => None,
            (logo, text) => Some(format!(
                "{}{}",
                logo.as_deref().unwrap_or(""),
                text.as_ref()
                    .zip(s.look.text.as_ref())
                    .map(|(f, t)| text_chain(t, f.path(), &s.fmt))
                    .unwrap_or_default()
            )),
        },
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
    let mut packets = 0u32;
    while flow == Flow::Continue {
        if s.stop.load(Ordering::Relaxed) {
            return Outcome::Stopped;
        }
        packets += 1;
        if packets % 8 == 0 {
            if let Some(end) = cut(sp.position_frames()) {
                sp.cut_at(end);
                cut_to = Some(cut_to.map_or(end, |c: i64| c.min(end)));
            }
        }
        // A fresh packet per read: `av_read_frame` overwrites the packet it is given without
        // releasing its buffer, so reusing one leaked every packet read (found by the soak:
        // RSS grew by every byte read, 60 to 120 kB per channel second on the test fixtures).
        let mut packet = ff::Packet::empty();
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
            if let Some(e) = feed(dec, &packet, &mut dec_errors) {
                failure = Some(fail(
                    FailReason::Decode,
                    format!("video decoding failed: {e}"),
                ));
                break;
            }
            while dec.receive_frame(&mut vframe).is_ok() {
                flow = d.video_frame(&mut vframe, sp, false);
                if still {
                    // One picture is all a still has: flush it through the graph and hold it.
                    flow = d.video_frame(&mut vframe, sp, true);
                    video_open = false;
                    sp.video_ended();
                    break;
                }
            }
        } else if Some(idx) == ai {
            let dec = o.audio.as_mut().expect("ai implies decoder");
            if let Some(e) = feed(dec, &packet, &mut dec_errors) {
                failure = Some(fail(
                    FailReason::Decode,
                    format!("audio decoding failed: {e}"),
                ));
                break;
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
    let played = sp.end_item();
    if sp.is_done() {
        return Outcome::Stopped;
    }
    if failure.is_none() && !still {
        // A cut item was wanted only up to the cut.
        let wanted = cut_to.map_or(take.frames, |c| (c - first_frame).min(take.frames));
        let take = Take {
            frames: wanted,
            ..take
        };
        failure = truncation(&o, take, played, fps);
    }
    match failure {
        Some(f) => Outcome::Failed(f),
        None => Outcome::Played,
    }
}

/// A file that ends well before the length its container declares was cut short (an
/// interrupted upload or copy): say so, rather than let it pass as a short item.
fn truncation(o: &Opened, take: Take, played: i64, fps: Rational) -> Option<OpenError> {
    let declared = o.info.duration? - take.start;
    let expected = declared.min(Micros(rescale(take.frames, fps.invert(), MICROS)));
    let missing = expected - Micros(rescale(played, fps.invert(), MICROS));
    (missing > TRUNCATION_SLACK).then(|| OpenError {
        path: o.path.clone(),
        reason: FailReason::Truncated,
        detail: format!(
            "the file ended {missing} before its declared length of {} (truncated?)",
            o.info.duration.unwrap_or_default()
        ),
    })
}

/// Sends a packet to a decoder. A single bad packet is tolerated (real files have them);
/// the error is returned only once `MAX_DECODE_ERRORS` packets in a row were rejected.
fn feed(dec: &mut ff::decoder::Opened, packet: &ff::Packet, errors: &mut u32) -> Option<ff::Error> {
    match dec.send_packet(packet) {
        Ok(()) => {
            *errors = 0;
            None
        }
        Err(e) => {
            *errors += 1;
            (*errors >= MAX_DECODE_ERRORS).then_some(e)
        }
    }
}

impl Decode<'_> {
    /// Feeds one decoded frame (or, with `eof`, the end of the stream) through the video graph
    /// and places what comes out.
    fn video_frame(&mut self, f: &mut ff::frame::Video, sp: &mut Splicer, eof: bool) -> Flow {
        if !eof {
            let src = VideoSource::of(f, self.v_tb, self.interlaced, self.rotation);
            if !self.vgraph.as_ref().is_some_and(|g| g.fits(src.key())) {
                let mut flow = Flow::Continue;
                if self.vgraph.is_some() {
                    flow = self.video_frame(f, sp, true);
                }
                match video_graph(&src, self.fmt, self.overlay.as_deref()) {
                    Ok(g) => self.vgraph = Some(g),
                    Err(e) => {
                        tracing::warn!(error = %e, "Video filter graph failed; frame dropped.");
                        return flow;
                    }
                }
            }
            let ts = f.timestamp().or(f.pts()).unwrap_or(self.v_origin);
            let rel = ts - self.v_origin;
            f.set_pts(Some(rel));
            let d = f.packet().duration;
            self.v_end = Some(rel + if d > 0 { d } else { self.v_frame });
        }
        let input = if eof {
            Feed::End(self.v_end)
        } else {
            Feed::Frame(f)
        };
        through(
            &mut self.vgraph,
            input,
            &mut self.vout,
            ff::frame::Video::empty,
            |out, rel| sp.video(out, rel),
        )
    }

    fn audio_frame(&mut self, f: &mut ff::frame::Audio, sp: &mut Splicer, eof: bool) -> Flow {
        if !eof {
            let src = AudioSource::of(f);
            if src.rate == 0 || src.channels == 0 {
                return Flow::Continue;
            }
            if !self.agraph.as_ref().is_some_and(|g| g.fits(src.key())) {
                if self.agraph.is_some() {
                    self.audio_frame(f, sp, true);
                }
                match audio_graph(&src, self.fmt, self.gain.as_deref()) {
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
        let input = if eof { Feed::End(None) } else { Feed::Frame(f) };
        through(
            &mut self.agraph,
            input,
            &mut self.aout,
            ff::frame::Audio::empty,
            |out, rel| sp.audio(&out, rel),
        )
    }
}

/// What goes into a filter graph: a frame, or the end of the stream (at a known time, or
/// wherever the last frame was).
enum Feed<'a> {
    Frame(&'a ff::frame::Frame),
    End(Option<i64>),
}

/// Pushes a frame or the end of the stream into a graph and places every frame it gives back
/// (with its timestamp relative to the item's origin). The end of the stream also retires
/// the graph.
///
/// Pulls fill `next`; a frame that comes out is handed on and `next` replaced by a fresh
/// shell, so one shell is allocated per frame placed, none per pull that finds nothing.
fn through<F: std::ops::DerefMut<Target = ff::frame::Frame>>(
    graph: &mut Option<Graph>,
    input: Feed,
    next: &mut F,
    empty: fn() -> F,
    mut place: impl FnMut(F, i64) -> Flow,
) -> Flow {
    let Some(g) = graph.as_mut() else {
        return Flow::Continue;
    };
    let end = matches!(input, Feed::End(_));
    let pushed = match input {
        Feed::Frame(f) => g.push(f),
        Feed::End(Some(pts)) => g.close(pts),
        Feed::End(None) => g.flush(),
    };
    let mut flow = Flow::Continue;
    if pushed.is_ok() {
        while g.pull(next).is_some() {
            let out = std::mem::replace(next, empty());
            let rel = out.pts().unwrap_or(0);
            flow = place(out, rel);
            if flow == Flow::Stop {
                break;
            }
        }
    }
    if end {
        *graph = None;
    }
    flow
}
