//! Cutting at the air (issue 26): what was made but has not aired is taken back.
//!
//! The source runs ahead of the air by the lead (the frames queued for the encoder, those in
//! it, and the packets it has made that the pacer has not taken yet). A cut that waited for
//! the source's frontier would reach the air a lead later. Instead the source asks the
//! encode thread to take back everything from a frame `at` near the air (`Recall::cut`):
//!
//! - packets made but not yet handed to the pacer are dropped from the first *anchor* at or
//!   after `at`: in decode order, the first video packet whose picture comes after every
//!   picture before it (an IDR or a P picture, never a B picture that an earlier one needs).
//!   Everything before it decodes on its own, and its pictures are exactly the frames up to
//!   one less than the cut;
//! - when no such packet has been made yet, what is queued for the encoder before `at` is
//!   encoded and the encoders are drained, and the search is made again;
//! - the encoders are opened afresh: the first frame after the cut is an IDR, and decode
//!   time carries on by one frame per packet (`DecodeClock`), as after a copy;
//! - audio made for after the cut goes too; the next audio is placed against what is left
//!   (`AudioAligner`), as at every splice.
//!
//! The encoder answers with the cut's frame (at most `at`); the source moves back to it
//! (`Splicer::rewind`) and plays from there what the operator asked for.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};

use super::context::PlayContext;
use super::media::{Encoded, Kind};
use super::splice::Splicer;
use crate::time::{frames_covering, Micros, Rational};

/// How far ahead of the air (channel time on the pacer's clock) a cut is made: the pacer
/// lets packets leave `output::LEAD` (0.3 s) early, and half a second is left for the new
/// stretch's first packets (opening a file, the encoders' first frames) to reach it.
pub const AHEAD: Micros = Micros::from_millis(800);

/// A request to the encode thread: take back everything from frame `at` on, answering with
/// the frame the cut falls on.
pub struct Cut {
    pub at: i64,
    pub reply: Sender<i64>,
}

/// The source's side: where the air is, and the way to the encode thread.
pub struct Recall {
    tx: Sender<Cut>,
    /// Frame 0 of this run's monotonic instant.
    instant: Instant,
    fps: Rational,
}

impl Recall {
    pub fn new(tx: Sender<Cut>, instant: Instant, fps: Rational) -> Recall {
        Recall { tx, instant, fps }
    }

    /// The first frame a cut made now can still reach: `AHEAD` past the air.
    pub fn earliest(&self) -> i64 {
        self.ahead(AHEAD)
    }

    /// The first frame `ahead` past the air.
    pub fn ahead(&self, ahead: Micros) -> i64 {
        let since = Micros(self.instant.elapsed().as_micros() as i64) + ahead;
        frames_covering(since.0, self.fps, 1_000_000).max(0)
    }

    /// Asks the encode thread to take back everything from frame `at` on; the frame the cut
    /// falls on (at most `at`), or `None` when the encode thread has gone or does not answer
    /// (it is stuck: the watchdog deals with that), or `stop` is raised.
    pub fn cut(&self, at: i64, stop: &std::sync::atomic::AtomicBool) -> Option<i64> {
        let (reply, answer) = bounded(1);
        self.tx.send(Cut { at, reply }).ok()?;
        loop {
            match answer.recv_timeout(Duration::from_millis(200)) {
                Ok(f) => return Some(f),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return None,
                Err(_) if stop.load(std::sync::atomic::Ordering::Relaxed) => return None,
                Err(_) => {}
            }
        }
    }
}

impl Recall {
    /// Takes back everything from frame `at` on and moves the splicer back to where the cut
    /// fell; that frame, or `None` when nothing was taken back (the source is not past `at`,
    /// or the encode thread did not answer).
    pub fn take_back(&self, at: i64, sp: &mut Splicer, ctx: &PlayContext) -> Option<i64> {
        let from = sp.position_frames();
        if at >= from {
            return None;
        }
        let f = self.cut(at, &ctx.stop)?;
        if f >= from {
            return None;
        }
        sp.rewind(f);
        let fps = ctx.fmt.fps;
        let back = (from - f) as f64 * fps.den as f64 / fps.num as f64;
        tracing::info!(
            asked = at,
            frame = f,
            taken_back_s = format!("{back:.3}"),
            "Cut at the air: what had not aired is taken back."
        );
        Some(f)
    }
}

/// Where packets made but not handed on are cut for a cut at frame `at`: the index in
/// `ready` (video packets in decode order) of the first anchor at or after `at` (see the module's text) and the frame the
/// cut falls on, one past every picture before it. `shown` is the greatest picture already
/// handed on. `None` when no such packet is in `ready`.
pub fn cut_point(ready: &VecDeque<Encoded>, shown: Option<i64>, at: i64) -> Option<(usize, i64)> {
    let mut max = shown;
    for (i, e) in ready.iter().enumerate() {
        if e.kind != Kind::Video {
            continue;
        }
        let Some(pts) = e.packet.pts() else { continue };
        let anchor = max.map_or(true, |m| pts > m);
        if anchor && pts >= at {
            return Some((i, max.map_or(at, |m| m + 1)));
        }
        max = Some(max.map_or(pts, |m| m.max(pts)));
    }
    None
}

#[cfg(test)]
mod tests {
    use ffmpeg_next as ff;

    use super::*;

    fn v(pts: i64) -> Encoded {
        let mut p = ff::Packet::empty();
        p.set_pts(Some(pts));
        Encoded {
            kind: Kind::Video,
            packet: p,
        }
    }

    #[test]
    fn cuts_before_the_first_anchor_at_or_after_the_frame() {
        // Decode order of two mini-GOPs with B pictures: I0 P4 B2 B1 B3 P8 B6 B5 B7 P12.
        let order = [0, 4, 2, 1, 3, 8, 6, 5, 7, 12];
        let ready: VecDeque<Encoded> = order.iter().map(|&p| v(p)).collect();
        // A cut at 6: B6 is no anchor (P8 before it needs it); P8 is. Kept: 0..=4.
        assert_eq!(cut_point(&ready, None, 6), Some((5, 5)));
        // At 8 exactly: the same place.
        assert_eq!(cut_point(&ready, None, 8), Some((5, 5)));
        // At 9: P12; kept 0..=8.
        assert_eq!(cut_point(&ready, None, 9), Some((9, 9)));
        // Past everything: not in what was made.
        assert_eq!(cut_point(&ready, None, 13), None);
        // With pictures up to 20 handed on already, nothing here is an anchor.
        assert_eq!(cut_point(&ready, Some(20), 0), None);
    }
}
