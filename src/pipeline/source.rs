//! The source thread: follows the schedule. At each boundary it asks the pure scheduler what
//! plays at the channel's current time, plays that for exactly the rest of its slot (opening
//! the next item ahead of time), and fills whatever an item does not cover with slate, so the
//! timeline never drifts from the schedule: an event's first frame is the frame whose channel
//! time is the event's time. Anything that cannot play becomes slate, a log line naming the
//! file and the reason, and a metric — never a stop.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender};
use ffmpeg_next as ff;

use super::item::{play, Outcome, Take};
use super::open::{open, OpenError, Opened};
use super::splice::{Flow, Splicer};
use super::{ChannelFormat, Media};
use crate::lineup::Lineup;
use crate::metrics::Metrics;
use crate::schedule::{resolve, Anchor, Slot};
use crate::state::{self, SavedState};
use crate::time::{frames_in, rescale, Micros, MICROS};

pub struct SourceSettings {
    pub fmt: ChannelFormat,
    pub lineup: Arc<Lineup>,
    pub anchor: Anchor,
    /// The channel time (Unix µs) of frame 0 of this run.
    pub t0: Micros,
    /// Where to keep the anchor across restarts (none for unpaced runs: simulated time).
    pub state_file: Option<PathBuf>,
    pub slate: ff::frame::Video,
    /// Channel time after which the source ends the stream (`--for`).
    pub stop_after: Option<Micros>,
    /// Set by a signal: end the stream at the next frame.
    pub stop: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
}

/// Runs until `stop_after`, the stop flag, or the encoder going away.
pub fn run(s: SourceSettings, tx: Sender<Media>) {
    let stop_at = s.stop_after.map(|d| frames_in(d, s.fmt.fps));
    let mut splicer = Splicer::new(s.fmt.clone(), tx, stop_at, Some(s.metrics.clone()));
    let mut prefetch: Option<Prefetch> = None;
    let clock = FrameClock {
        t0: s.t0,
        fps: s.fmt.fps,
    };
    let lineup = s.lineup.clone();
    while !(s.stop.load(Ordering::Relaxed) || splicer.is_done()) {
        let pos = clock.time_of(splicer.position_frames());
        let mut slot = resolve(&lineup.schedule, s.anchor, pos);
        let mut end = clock.frame_at(slot.end);
        if end <= splicer.position_frames() {
            // The slot ends inside this frame: the frame belongs to what follows.
            slot = resolve(&lineup.schedule, s.anchor, slot.end);
            end = clock.frame_at(slot.end).max(splicer.position_frames() + 1);
        }
        let frames = end - splicer.position_frames();
        let (title, kind) = lineup.describe(slot.kind);
        s.metrics.item_transitions_total.inc();
        save_state(&s, &lineup, title, &slot);
        let flow = match lineup.media(slot.kind) {
            None => {
                tracing::info!(item = %title, kind = kind.as_str(), frames, "Slate started.");
                splicer.fill(frames, &s.slate)
            }
            Some(m) => {
                let start = m.in_point + (pos - slot.start).max(Micros::ZERO);
                let opened = match prefetch.take() {
                    Some(p) if p.path == m.path && p.in_point == start => p.take(),
                    _ => open(&m.path, start),
                };
                // Open what comes next while this plays.
                let next = resolve(&lineup.schedule, s.anchor, slot.end);
                prefetch = lineup
                    .media(next.kind)
                    .map(|n| Prefetch::spawn(n.path.clone(), n.in_point));
                let outcome = match opened {
                    Ok(o) => play(o, m, Take { start, frames }, &mut splicer, &s),
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
                        Flow::Continue
                    }
                }
            }
        };
        if flow == Flow::Stop {
            break;
        }
        // Whatever the item did not cover (it failed, ended early, was shorter than probed)
        // is slate: the schedule, not the media, decides when the next slot starts.
        let short = end - splicer.position_frames();
        if short > 0 && splicer.fill(short, &s.slate) == Flow::Stop {
            break;
        }
    }
    splicer.finish();
    tracing::debug!(frames = splicer.position_frames(), "Source finished.");
}

/// Maps frame numbers of this run to channel time and back, exactly.
struct FrameClock {
    t0: Micros,
    fps: crate::time::Rational,
}

impl FrameClock {
    fn time_of(&self, frame: i64) -> Micros {
        self.t0 + Micros(rescale(frame, self.fps.invert(), MICROS))
    }

    /// The frame that starts nearest to `t`.
    fn frame_at(&self, t: Micros) -> i64 {
        rescale((t - self.t0).0, MICROS, self.fps.invert())
    }
}

fn save_state(s: &SourceSettings, lineup: &Lineup, title: &str, slot: &Slot) {
    let Some(path) = &s.state_file else { return };
    let saved = SavedState::new(s.anchor, &lineup.fingerprint, title, slot.start);
    if let Err(e) = state::save(path, &saved) {
        tracing::warn!(file = %path.display(), error = %e, "Cannot write the state file; a restart will not resume.");
    }
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
