//! What reaches the source from the control API (skips, play-now times) and what it tells
//! back (how far it has got). The source reads and answers; the HTTP side sends and reads.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use crate::time::Micros;

/// What an operator asks of the source (the control API sends it).
#[derive(Debug)]
pub enum Control {
    /// A play-now event was written for `at`: when it cuts what plays, the as-run record
    /// says `play_now`.
    PlayNow { at: Micros },
    /// End the slot on air (the one that started at `on_air`, by the wall clock) at the next
    /// frame the source makes, and go on with the rotation's next item. The source runs ahead
    /// of the wall clock; if it has already left that slot, the slot ends on air on its own
    /// before a cut could reach the air, and nothing is cut.
    Skip { on_air: Micros, reply: SkipReply },
}

/// Why a skip was refused.
#[derive(Debug, thiserror::Error)]
pub enum SkipError {
    #[error(
        "an event is on air ({title}); events keep their times (remove the event from the \
         playlist to end it)"
    )]
    EventOnAir { title: String },
    #[error("a skip is already under way")]
    UnderWay,
}

/// A skip, done.
#[derive(Clone, Debug)]
pub struct Skipped {
    /// What was cut short.
    pub title: String,
    /// What plays from `at`.
    pub next: String,
    /// The channel time of the first frame of `next`.
    pub at: Micros,
}

/// How far the source has got: the channel time (Unix µs) of the next frame it makes. It
/// runs ahead of the wall clock by the queues between it and the pacer, so a change made
/// for a time before this cannot be on air at that time.
#[derive(Debug, Default)]
pub struct Frontier(AtomicI64, AtomicBool);

impl Frontier {
    pub fn get(&self) -> Micros {
        Micros(self.0.load(Ordering::Relaxed))
    }

    pub(super) fn set(&self, t: Micros) {
        self.0.store(t.0, Ordering::Relaxed);
    }

    /// Whether the source takes back what has not aired for a change (`recall`): then a
    /// change for any time `recall::AHEAD` past the air is honoured, however far ahead the
    /// source has got.
    pub fn cuts_at_air(&self) -> bool {
        self.1.load(Ordering::Relaxed)
    }

    pub(super) fn set_cuts_at_air(&self) {
        self.1.store(true, Ordering::Relaxed);
    }
}

/// Where the source answers a skip.
pub type SkipReply = tokio::sync::oneshot::Sender<Result<Skipped, SkipError>>;
