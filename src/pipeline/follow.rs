//! What the source thread uses to follow the schedule: the frame clock (frame numbers of
//! this run to channel time and back, and the slot a frame belongs to), the reloader's
//! lineups waiting for a boundary, and the next item opened ahead on its own thread.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver};

use super::open::{open, OpenError, Opened};
use super::slate::Look;
use crate::lineup::Lineup;
use crate::quarantine::Quarantine;
use crate::schedule::{occurrence_at_or_after, resolve, Anchor, Slot};
use crate::time::{rescale, Micros, MICROS};

/// What a good reload sends the source: the new lineup, and the new look when the overlay
/// or the lower third changed (drawn by the reloader, off the media path).
pub struct Update {
    pub lineup: Arc<Lineup>,
    pub look: Option<Look>,
    /// When the files were last changed (Unix µs, their modification time).
    pub edited: Micros,
}

/// Updates sent by the reloader, taken at boundaries; events in a lineup not yet taken
/// already count (an event added for ten seconds from now must happen). A look waits for
/// the boundary too; a later update without one leaves it waiting.
pub(super) struct Updates<'a> {
    pub(super) rx: &'a Receiver<Update>,
    pub(super) pending: RefCell<Option<Arc<Lineup>>>,
    /// When the pending lineup's files were changed.
    pub(super) edited: std::cell::Cell<Micros>,
    pub(super) look: RefCell<Option<Look>>,
}

impl Updates<'_> {
    pub(super) fn poll(&self) {
        while let Ok(u) = self.rx.try_recv() {
            *self.pending.borrow_mut() = Some(u.lineup);
            self.edited.set(u.edited);
            if let Some(look) = u.look {
                *self.look.borrow_mut() = Some(look);
            }
        }
    }

    /// A new look, taken at a boundary.
    pub(super) fn take_look(&self) -> Option<Look> {
        self.poll();
        self.look.borrow_mut().take()
    }

    pub(super) fn take(&self) -> Option<Arc<Lineup>> {
        self.poll();
        self.pending.borrow_mut().take()
    }

    /// The lineup waiting for the next boundary, if any.
    pub(super) fn pending(&self) -> Option<Arc<Lineup>> {
        self.poll();
        self.pending.borrow().clone()
    }

    /// The first event of the pending lineup starting after `t`.
    pub(super) fn next_event(&self, t: Micros) -> Option<Micros> {
        self.poll();
        let p = self.pending.borrow();
        let l = p.as_ref()?;
        l.schedule
            .events
            .iter()
            .filter_map(|e| occurrence_at_or_after(e.when, l.schedule.tz, Micros(t.0 + 1)))
            .min()
    }
}

/// Maps frame numbers of this run to channel time and back, exactly.
pub(super) struct FrameClock {
    pub(super) t0: Micros,
    pub(super) fps: crate::time::Rational,
}

impl FrameClock {
    pub(super) fn time_of(&self, frame: i64) -> Micros {
        self.t0 + Micros(rescale(frame, self.fps.invert(), MICROS))
    }

    /// The frame that starts nearest to `t`.
    pub(super) fn frame_at(&self, t: Micros) -> i64 {
        rescale((t - self.t0).0, MICROS, self.fps.invert())
    }

    /// The slot that `frame` belongs to, and the frame at which it ends. A slot that ends
    /// inside a frame gives that frame to what follows.
    pub(super) fn slot_at(&self, lineup: &Lineup, anchor: Anchor, frame: i64) -> (Slot, i64) {
        let slot = resolve(&lineup.schedule, anchor, self.time_of(frame));
        let end = self.frame_at(slot.end);
        if end > frame {
            return (slot, end);
        }
        let slot = resolve(&lineup.schedule, anchor, slot.end);
        (slot, self.frame_at(slot.end).max(frame + 1))
    }
}

pub(super) struct Prefetch {
    pub(super) path: PathBuf,
    pub(super) in_point: Micros,
    quarantine: Quarantine,
    rx: Receiver<Result<Opened, OpenError>>,
}

impl Prefetch {
    pub(super) fn spawn(path: PathBuf, in_point: Micros, quarantine: Quarantine) -> Self {
        let (tx, rx) = bounded(1);
        let p = path.clone();
        let q = quarantine.clone();
        // It logs where its opener logs (a background preparer's source logs nowhere).
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        let spawned = std::thread::Builder::new()
            .name("open-ahead".into())
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let _ = tx.send(open(&p, in_point, &q));
                })
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "Could not start the open-ahead thread.");
        }
        Prefetch {
            path,
            in_point,
            quarantine,
            rx,
        }
    }

    pub(super) fn take(self) -> Result<Opened, OpenError> {
        match self.rx.recv() {
            Ok(r) => r,
            Err(_) => open(&self.path, self.in_point, &self.quarantine),
        }
    }
}
