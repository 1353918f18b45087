//! The live segment: while a publisher is on, the source places its units on the timeline,
//! one per channel frame, through the same splicer and encoder as every item.
//!
//! The source runs ahead of the air by the queues after it. It waits for a unit only while
//! that lead stays above `LiveFeed::lead`; past that, the frame is the last picture with silence,
//! so the air never waits for the network. A unit carries exactly one frame's audio, so a
//! held or dropped frame keeps audio and video together. After `live.timeout` of held
//! frames the segment ends, unless a publisher is back and `live.rejoin` since the last
//! live picture has not run out: then the bridge waits for its first picture.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ffmpeg_next as ff;

use super::media::EncoderDelay;
use super::slate::{render, SlateText};
use super::splice::{Flow, Splicer};
use super::ChannelFormat;
use crate::config::Takeover;
use crate::libav;
use crate::lineup::Lineup;
use crate::live::LiveInput;
use crate::schedule::{rfc3339, Slot};
use crate::time::{frames_in, samples_at_frame, Micros, Rational, MICROS};

/// What the source keeps ahead of the air while it waits for live units, besides the
/// encoder's delay and the pacer's own lead: room for units that come a little late.
const SPARE: Micros = Micros::from_millis(150);

/// The least lead while live, whatever the encoder's delay.
const MIN_LEAD: Micros = Micros::from_millis(500);

/// The live input as the source sees it, with the clock that says where the air is.
pub struct LiveFeed {
    pub input: LiveInput,
    /// Frame 0 of this run: its channel time and its monotonic instant.
    pub t0: Micros,
    pub instant: Instant,
    /// A publisher off the air has been logged (once per connection).
    noted: std::cell::Cell<bool>,
    /// The encoder's delay and the channel's frame rate (`lead`).
    delay: Option<(Arc<EncoderDelay>, Rational)>,
    /// An off-air publisher's newest unit, kept so that its live event starts on its first
    /// frame rather than at the next unit to arrive.
    parked: std::cell::RefCell<Option<crate::live::Unit>>,
}

impl LiveFeed {
    pub fn new(input: LiveInput, t0: Micros, instant: Instant) -> Self {
        LiveFeed {
            input,
            t0,
            instant,
            delay: None,
            noted: std::cell::Cell::new(false),
            parked: std::cell::RefCell::new(None),
        }
    }

    /// Keeps the live segment ahead of the air by what `delay` holds (`lead`).
    pub fn with_encoder(mut self, delay: Arc<EncoderDelay>, fps: Rational) -> Self {
        self.delay = Some((delay, fps));
        self
    }

    /// How far ahead of the air the source keeps itself while live, and where a takeover
    /// cuts in (`recall`): the encoder's delay (x264's lookahead, frame threads and B
    /// pictures: 16 frames at `veryfast`, 3 at `ultrafast`) and the pacer's own lead, so
    /// the air never waits for the network, and `SPARE`; no more, since it is also how far
    /// live runs behind its publisher.
    pub fn lead(&self) -> Micros {
        let held = self.delay.as_ref().map_or(Micros::ZERO, |(d, fps)| {
            Micros(crate::time::rescale(d.frames(), fps.invert(), MICROS))
        });
        (crate::output::LEAD + held + SPARE).max(MIN_LEAD)
    }

    /// The channel time on air now.
    fn air_now(&self) -> Micros {
        self.t0 + Micros(self.instant.elapsed().as_micros() as i64)
    }

    /// A publisher's first picture is waiting: the channel should switch at the next frame.
    pub fn waiting(&self) -> bool {
        if !self.input.shared.publisher() {
            // A parked picture of a publisher that has gone is not a publisher waiting; the
            // next one to connect is logged afresh, boundary or not.
            self.parked.take();
            self.noted.set(false);
        }
        self.parked.borrow().is_some() || !self.input.units.is_empty()
    }

    /// The next unit: the parked one, one waiting, or one that comes within `wait`.
    fn next_unit(&self, wait: Duration) -> Option<crate::live::Unit> {
        if let Some(u) = self.parked.take() {
            return Some(u);
        }
        match self.input.units.try_recv() {
            Ok(u) => Some(u),
            Err(_) => self.input.units.recv_timeout(wait).ok(),
        }
    }

    /// Whether a publisher goes on air in `slot` of `lineup`, under what title and until
    /// when. With `takeover: auto` a playlist that schedules live events has live only
    /// during them, up to the event's end; otherwise live goes on air at once and lasts as
    /// long as the publisher.
    pub fn admit<'a>(&'a self, lineup: &'a Lineup, slot: &Slot) -> Option<Admit<'a>> {
        let settings = &self.input.settings;
        let event = lineup.live_event(slot.kind);
        match (settings.takeover, event) {
            (Takeover::Auto, Some(title)) => Some(Admit {
                title,
                until: Some(slot.end),
            }),
            (Takeover::Always, Some(title)) => Some(Admit { title, until: None }),
            (Takeover::Auto, None) if lineup.has_live_events() => None,
            (_, None) => Some(Admit {
                title: &settings.title,
                until: None,
            }),
        }
    }

    /// Lets go of what an off-air publisher has sent but its newest picture (live is about
    /// now: when its time comes it starts from there), saying so once per connection.
    pub fn off_air(&self, lineup: &Lineup, at: Micros) {
        let mut n = 0;
        for u in self.input.units.try_iter() {
            n += 1;
            *self.parked.borrow_mut() = Some(u);
        }
        if n > 0 && !self.noted.replace(true) {
            let next = lineup
                .next_live_event(at)
                .map_or_else(|| "none scheduled".to_string(), rfc3339);
            tracing::info!(at = %rfc3339(at), next_live_event = %next, "A publisher is connected but stays off the air until its live event (live.takeover: auto).");
        }
    }

    /// Called at every boundary: a publisher that has gone will be logged again when back.
    pub fn tick(&self) {
        if !self.input.shared.publisher() {
            self.noted.set(false);
        }
    }
}

/// A publisher's takeover: what the air calls it, and the channel time at which it ends
/// whatever the publisher does (a live event's end).
pub struct Admit<'a> {
    pub title: &'a str,
    pub until: Option<Micros>,
}

/// A live event's picture while its publisher is not on: the event's title over "Starting
/// soon" (or "Back shortly" once it has been on air), drawn once and kept while it is asked
/// for again.
#[derive(Default)]
pub struct EventSlate {
    drawn: Option<(String, bool, ff::frame::Video)>,
}

impl EventSlate {
    /// The picture for `title`, over the channel's slate picture when it has one; the
    /// channel's slate itself if it cannot be drawn.
    pub fn picture(
        &mut self,
        fmt: &ChannelFormat,
        (title, resumed): (&str, bool),
        look: &super::slate::Look,
    ) -> ff::frame::Video {
        let fallback = &look.slate;
        if !matches!(&self.drawn, Some((t, r, _)) if t == title && *r == resumed) {
            let text = if resumed {
                "Back shortly"
            } else {
                "Starting soon"
            };
            let slate = SlateText {
                title,
                text,
                background: look.background,
                image: look.image.as_deref(),
            };
            match render(fmt, &slate, look.overlay.as_deref()) {
                Ok(f) => self.drawn = Some((title.to_string(), resumed, f)),
                Err(e) => {
                    tracing::warn!(%title, error = %e, "The live event's slate cannot be drawn; the channel's slate plays.");
                    return libav::share(fallback);
                }
            }
        }
        match &self.drawn {
            Some((_, _, f)) => libav::share(f),
            None => libav::share(fallback),
        }
    }

    /// A new look (logo, background): draw again.
    pub fn forget(&mut self) {
        self.drawn = None;
    }
}

/// Why the live segment ended.
enum End {
    Timeout,
    Scheduled,
    Stop,
}

/// Plays the live input from the current position until it stops (then `timeout` of its
/// last picture and silence), the frame `until` (a live event's end), the channel's end, or
/// `stop`.
pub fn play(
    sp: &mut Splicer,
    feed: &LiveFeed,
    ctx: &super::context::PlayContext,
    title: &str,
    until: Option<i64>,
) -> Flow {
    let (fmt, slate, metrics, stop) = (&ctx.fmt, &ctx.look.slate, &*ctx.metrics, &*ctx.stop);
    let clock = super::follow::FrameClock {
        t0: feed.t0,
        fps: fmt.fps,
    };
    let time_of = |f: i64| clock.time_of(f);
    let settings = &feed.input.settings;
    let timeout = frames_in(settings.timeout, fmt.fps).max(1);
    let rejoin = frames_in(settings.rejoin, fmt.fps);
    // Backlog past this is latency: the oldest units go.
    let backlog = (fmt.fps.num / fmt.fps.den / 4).max(2) as usize;
    let rate = fmt.sample_rate as i64;
    let v0 = sp.position_frames();
    let a0 = samples_at_frame(v0, fmt.fps, rate);
    let start = time_of(v0);
    feed.input.air.begin(start, title);
    feed.noted.set(false);
    metrics
        .live
        .switches_total
        .with_label_values(&["to_live"])
        .inc();
    tracing::info!(at = %rfc3339(start), %title, behind_publisher_s = format!("{:.3}", feed.lead().as_secs_f64()), reason = if until.is_some() { "the live event is on and a publisher's picture is waiting" } else { "a publisher's first picture arrived" }, "Switched to the live input.");
    ctx.quarantine.on_air(None);
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
        if until.is_some_and(|u| j >= u) {
            break End::Scheduled;
        }
        while feed.input.units.len() > backlog {
            if feed.input.units.try_recv().is_ok() {
                dropped += 1;
            }
        }
        let lead = time_of(j) - feed.air_now() - feed.lead();
        let wait = Duration::from_micros(lead.0.clamp(0, 10 * MICROS.den) as u64);
        let unit = feed.next_unit(wait);
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
    let reason = match end {
        End::Timeout => Some(format!("no live picture for {}", settings.timeout)),
        End::Scheduled => Some(format!(
            "the live event is over{}",
            if feed.input.shared.publisher() {
                " (the publisher stays connected, off the air)"
            } else {
                ""
            }
        )),
        End::Stop => None,
    };
    if let Some(reason) = reason {
        metrics
            .live
            .switches_total
            .with_label_values(&["to_playlist"])
            .inc();
        tracing::info!(at = %rfc3339(back_at), live_seconds = (back_at - start).as_secs_f64(), held_frames = held, dropped_units = dropped, %reason, "Back to the playlist.");
    }
    if sp.is_done() || matches!(end, End::Stop) {
        Flow::Stop
    } else {
        Flow::Continue
    }
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
