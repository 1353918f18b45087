//! Packets that are already in the channel's exact format (a conformed copy, issue 14), put
//! on the timeline by the encode thread between the frames it encodes.
//!
//! The encode thread owns both encoders. Going from frames to copied packets it drains them
//! to the end, so every frame sent before the copy comes out before the copy's first packet
//! (its IDR). Going back to frames it opens them afresh with the same settings: the first
//! frame is an IDR, the parameter sets are the same bytes (`encode::open` is deterministic),
//! and x264's decode-order timestamps (`k - delay` for the k-th packet) carry on from the
//! copy's, which were made the same way. Keyframe gaps are therefore never longer than
//! `keyframe_interval`; at a splice one gap is shorter.
//!
//! Audio cannot be cut between samples: every AAC packet covers 1024. At the start of each
//! segment (copied or encoded) its first packet is placed against where the audio so far
//! ends, which the splicer keeps pinned to the video timeline: an overlap of more than half
//! a frame drops that packet, a gap of more than half a frame is filled with whole frames of
//! encoded silence, and what is left (at most 512 samples) shifts the whole segment. Each
//! segment is placed from the timeline afresh, so the error never adds up.

use ffmpeg_next as ff;

use super::media::{Encoded, Kind};
use crate::libav;

/// What to do with an audio packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// It overlaps what is already out by more than half a frame.
    Drop,
    /// Send it at `pts`, after `silence` frames of silence starting where the audio ends.
    Send { pts: i64, silence: u32 },
}

/// Places audio packets of consecutive segments end to end (see the module's text).
#[derive(Debug)]
pub struct AudioAligner {
    frame: i64,
    /// Where the last packet sent ends, in samples.
    end: Option<i64>,
    /// The shift of the current segment, once its first packet is placed.
    shift: Option<i64>,
    /// Where each boundary's shift is counted (`playout_boundary_audio_shift_seconds`),
    /// with the sample rate.
    shifts: Option<(prometheus::Histogram, f64)>,
}

impl AudioAligner {
    pub fn new(frame: i64) -> Self {
        AudioAligner {
            frame,
            end: None,
            shift: None,
            shifts: None,
        }
    }

    /// Counts the shift chosen at each boundary, in seconds at `rate` samples a second.
    pub fn counted(mut self, h: prometheus::Histogram, rate: i64) -> Self {
        self.shifts = Some((h, rate as f64));
        self
    }

    /// The next packets belong to a new segment.
    pub fn new_segment(&mut self) {
        self.shift = None;
    }

    /// What was sent from `end` on was taken back (a cut at the air): the next segment is
    /// placed against `end`.
    pub fn taken_back(&mut self, end: Option<i64>) {
        self.end = end;
        self.shift = None;
    }

    /// Where the packet at `pts` lasting `duration` samples goes.
    pub fn place(&mut self, pts: i64, duration: i64) -> Placement {
        let half = self.frame / 2;
        let (pts, silence) = match (self.shift, self.end) {
            (Some(s), end) => {
                let at = pts + s;
                if end.is_some_and(|e| at < e) {
                    return Placement::Drop;
                }
                (at, 0)
            }
            (None, None) => {
                self.shift = Some(0);
                (pts, 0)
            }
            (None, Some(end)) => {
                if end - pts > half {
                    return Placement::Drop;
                }
                let mut filled = end;
                let mut silence = 0u32;
                while pts - filled > half {
                    filled += self.frame;
                    silence += 1;
                }
                let shift = filled - pts;
                self.shift = Some(shift);
                if let Some((h, rate)) = &self.shifts {
                    h.observe(shift as f64 / rate);
                }
                (filled, silence)
            }
        };
        self.end = Some(pts + duration.max(1));
        Placement::Send { pts, silence }
    }
}

/// Queues one audio packet through `align`, with the silence it calls for before it.
pub fn send_audio(
    mut p: ff::Packet,
    align: &mut AudioAligner,
    silence: &ff::Packet,
    out: &mut impl Extend<Encoded>,
) {
    let Some(pts) = p.pts() else {
        return;
    };
    // Every AAC packet decodes to a whole frame, the encoder's last (short) one included: a
    // player plays them end to end, so placement counts whole frames, or the short ones
    // would add up to drift.
    let duration = align.frame;
    match align.place(pts, duration) {
        Placement::Drop => {}
        Placement::Send { pts, silence: n } => {
            for k in 0..i64::from(n) {
                let mut s = libav::share_packet(silence);
                let at = pts - (i64::from(n) - k) * align.frame;
                s.set_pts(Some(at));
                s.set_dts(Some(at));
                s.set_duration(align.frame);
                out.extend([Encoded {
                    kind: Kind::Audio,
                    packet: s,
                }]);
            }
            p.set_pts(Some(pts));
            p.set_dts(Some(pts));
            out.extend([Encoded {
                kind: Kind::Audio,
                packet: p,
            }]);
        }
    }
}

#[cfg(test)]
#[path = "copied_tests.rs"]
mod tests;
