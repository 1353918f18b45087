//! The live segment: while a publisher is on, the source places its units on the timeline,
//! one per channel frame, through the same splicer and encoder as every item.
//!
//! The source runs ahead of the air by the queues after it. It waits for a unit only while
//! that lead stays above `MIN_LEAD`; past that, the frame is the last picture with silence,
//! so the air never waits for the network. A unit carries exactly one frame's audio, so a
//! held or dropped frame keeps audio and video together. After `live.timeout` of held
//! frames the segment ends, unless a publisher is back and `live.rejoin` since the last
//! live picture has not run out: then the bridge waits for its first picture.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ffmpeg_next as ff;

use super::splice::{Flow, Splicer};
use super::ChannelFormat;
use crate::libav;
use crate::live::LiveInput;
use crate::metrics::Metrics;
use crate::schedule::rfc3339;
use crate::time::{frames_in, rescale, samples_at_frame, Micros, MICROS};

/// How far ahead of the air the source keeps itself while it waits for live units: enough
/// for the encoder's lookahead and the pacer never to run dry.
const MIN_LEAD: Micros = Micros::from_millis(1200);

/// The live input as the source sees it, with the clock that says where the air is.
pub struct LiveFeed {
    pub input: LiveInput,
    /// Frame 0 of this run: its channel time and its monotonic instant.
    pub t0: Micros,
    pub instant: Instant,
}

impl LiveFeed {
    /// The channel time on air now.
    fn air_now(&self) -> Micros {
        self.t0 + Micros(self.instant.elapsed().as_micros() as i64)
    }

    /// A publisher's first picture is waiting: the channel should switch at the next frame.
    pub fn waiting(&self) -> bool {
        !self.input.units.is_empty()
    }
}

/// Why the live segment ended.
enum End {
    Timeout,
    Stop,
}

/// Plays the live input from the current position until it stops (then `timeout` of its
/// last picture and silence), the channel's end, or `stop`.
pub fn play(
    sp: &mut Splicer,
    feed: &LiveFeed,
    fmt: &ChannelFormat,
    slate: &ff::frame::Video,
    metrics: &Metrics,
    stop: &std::sync::atomic::AtomicBool,
) -> Flow {
    let time_of = |f: i64| feed.t0 + Micros(rescale(f, fmt.frame_tb(), MICROS));
    let settings = &feed.input.settings;
    let timeout = frames_in(settings.timeout, fmt.fps).max(1);
    let rejoin = frames_in(settings.rejoin, fmt.fps);
    // Backlog past this is latency: the oldest units go.
    let backlog = (fmt.fps.num / fmt.fps.den / 4).max(2) as usize;
    let rate = fmt.sample_rate as i64;
    let v0 = sp.position_frames();
    let a0 = samples_at_frame(v0, fmt.fps, rate);
    let start = time_of(v0);
    feed.input.air.begin(start);
    metrics
        .live
        .switches_total
        .with_label_values(&["to_live"])
        .inc();
    tracing::info!(at = %rfc3339(start), title = %settings.title, reason = "a publisher's first picture arrived", "Switched to the live input.");
    crate::quarantine::on_air(None);
    sp.begin_item(None, slate);
    let channels = fmt.channels as usize;
    let mut fifo: Vec<Vec<f32>> = vec![Vec::new(); channels];
    let mut last_live = v0;
    let mut hold = libav::share(slate);
    let (mut dropped, mut held) = (0u64, 0u64);
    let end = loop {
        if stop.load(Ordering::Relaxed) {
            break End::Stop;
        }
        let j = sp.position_frames();
        while feed.input.units.len() > backlog {
            if feed.input.units.try_recv().is_ok() {
                dropped += 1;
            }
        }
        let lead = time_of(j) - feed.air_now() - MIN_LEAD;
        let wait = Duration::from_micros(lead.0.clamp(0, 10 * MICROS.den) as u64);
        let unit = match feed.input.units.try_recv() {
            Ok(u) => Some(u),
            Err(_) => feed.input.units.recv_timeout(wait).ok(),
        };
        let picture = match unit {
            Some(u) => {
                for (c, buf) in fifo.iter_mut().enumerate() {
                    buf.extend_from_slice(&u.audio[c.min(u.audio.len() - 1)]);
                }
                last_live = j;
                hold = libav::share(&u.video);
                u.video
            }
            None => {
                let since = j - last_live;
                let back = feed.input.shared.publisher() && since < rejoin;
                if since >= timeout && !back {
                    break End::Timeout;
                }
                held += 1;
                libav::share(&hold)
            }
        };
        // Exactly this frame's audio on the channel grid; a held frame gets silence.
        let n =
            (samples_at_frame(j + 1, fmt.fps, rate) - samples_at_frame(j, fmt.fps, rate)) as usize;
        let mut audio = ff::frame::Audio::new(
            ff::format::Sample::F32(ff::format::sample::Type::Planar),
            n,
            fmt.layout(),
        );
        audio.set_rate(fmt.sample_rate);
        for (c, buf) in fifo.iter_mut().enumerate() {
            let take = n.min(buf.len());
            let plane = audio.plane_mut::<f32>(c);
            plane[..take].copy_from_slice(&buf[..take]);
            plane[take..n].fill(0.0);
            buf.drain(..take);
            // Rounding between the feed's grid and the channel's leaves a sample or two;
            // more than a frame's worth is audio that came early and would lag: let it go.
            if buf.len() > n {
                let extra = buf.len() - n;
                buf.drain(..extra);
            }
        }
        let mut flow = sp.video(picture, j - v0);
        if flow != Flow::Stop {
            flow = sp.audio(&audio, samples_at_frame(j, fmt.fps, rate) - a0);
        }
        if flow == Flow::Stop {
            break End::Stop;
        }
    };
    sp.video_ended();
    sp.audio_ended();
    sp.end_item();
    let back_at = time_of(sp.position_frames());
    feed.input.air.end(back_at);
    if let End::Timeout = end {
        metrics
            .live
            .switches_total
            .with_label_values(&["to_playlist"])
            .inc();
        tracing::info!(at = %rfc3339(back_at), live_seconds = (back_at - start).as_secs_f64(), held_frames = held, dropped_units = dropped, reason = format!("no live picture for {}", settings.timeout), "Back to the playlist.");
    }
    if sp.is_done() || matches!(end, End::Stop) {
        Flow::Stop
    } else {
        Flow::Continue
    }
}
