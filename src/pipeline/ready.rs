//! What the encode thread has made and not yet handed to the pacer: the part of the lead a
//! cut at the air can take back (`recall`), handed on in time order.
//!
//! The encoders do not make packets in time order: x264 gives a picture out some frames
//! after it was given it (lookahead, frame threads, B pictures), while AAC gives audio out
//! at once, so audio is made up to half a second ahead of the video of the same instant.
//! The pacer lets each packet go at its own time, one after the other: handed on in the
//! order they were made, a picture would wait behind audio half a second later than itself
//! and leave late. So the queue keeps video and audio apart and hands on whichever comes
//! first in time, once nothing earlier can still be made.

use std::collections::VecDeque;

use super::media::{Encoded, Kind};
use super::recall;
use crate::time::{samples_at_frame, Rational};

pub struct Ready {
    video: VecDeque<Encoded>,
    audio: VecDeque<Encoded>,
    fps: Rational,
    rate: i64,
    audio_frame: i64,
    /// The decode time of the last picture made, and where the audio made so far ends.
    made_video: Option<i64>,
    made_audio: Option<i64>,
    /// The greatest picture handed on, its last decode time, and where the audio handed on
    /// ends.
    shown: Option<i64>,
    shown_dts: Option<i64>,
    heard: Option<i64>,
}

impl Ready {
    pub fn new(fps: Rational, rate: i64, audio_frame: i64) -> Ready {
        Ready {
            video: VecDeque::new(),
            audio: VecDeque::new(),
            fps,
            rate,
            audio_frame,
            made_video: None,
            made_audio: None,
            shown: None,
            shown_dts: None,
            heard: None,
        }
    }

    pub fn len(&self) -> usize {
        self.video.len() + self.audio.len()
    }

    pub fn is_empty(&self) -> bool {
        self.video.is_empty() && self.audio.is_empty()
    }

    pub fn push(&mut self, e: Encoded) {
        match e.kind {
            Kind::Video => {
                self.made_video = dts(&e).or(self.made_video);
                self.video.push_back(e);
            }
            Kind::Audio => {
                if let Some(p) = e.packet.pts() {
                    let end = p + self.audio_frame;
                    self.made_audio = Some(self.made_audio.map_or(end, |m| m.max(end)));
                }
                self.audio.push_back(e);
            }
        }
    }

    /// Picture at decode time `d` comes before audio at sample `s`.
    fn video_first(&self, d: i64, s: i64) -> bool {
        (d as i128) * (self.fps.den as i128) * (self.rate as i128)
            <= (s as i128) * (self.fps.num as i128)
    }

    /// Which packet goes next, if one may go now: the earlier of the two kinds' first, or
    /// one kind's first when the other has been made past it. `force` (the stream ends, the
    /// queue is full) lets the first go whatever the other kind may still bring.
    pub fn next(&self, force: bool) -> Option<Kind> {
        let v = self.video.front().map(|e| dts(e).unwrap_or(0));
        let a = self.audio.front().map(|e| e.packet.pts().unwrap_or(0));
        match (v, a) {
            (Some(v), Some(a)) => Some(match self.video_first(v, a) {
                true => Kind::Video,
                false => Kind::Audio,
            }),
            (Some(v), None) => (force || self.made_audio.is_some_and(|e| self.video_first(v, e)))
                .then_some(Kind::Video),
            (None, Some(a)) => (force
                || self.made_video.is_some_and(|d| !self.video_first(d + 1, a)))
            .then_some(Kind::Audio),
            (None, None) => None,
        }
    }

    /// Takes the next packet of `kind` to hand on: from now on it cannot be taken back.
    pub fn pop(&mut self, kind: Kind) -> Option<Encoded> {
        let e = match kind {
            Kind::Video => self.video.pop_front()?,
            Kind::Audio => self.audio.pop_front()?,
        };
        if let Some(p) = e.packet.pts() {
            match kind {
                Kind::Video => {
                    self.shown = Some(self.shown.map_or(p, |s| s.max(p)));
                    self.shown_dts = dts(&e).or(self.shown_dts);
                }
                Kind::Audio => {
                    let end = p + self.audio_frame;
                    self.heard = Some(self.heard.map_or(end, |h| h.max(end)));
                }
            }
        }
        Some(e)
    }

    /// Where a cut at frame `at` falls in what has been made (`recall::cut_point`).
    pub fn cut_point(&self, at: i64) -> Option<(usize, i64)> {
        recall::cut_point(&self.video, self.shown, at)
    }

    /// One past the greatest picture made: where a cut falls when everything made stays.
    pub fn end(&self) -> Option<i64> {
        self.video
            .iter()
            .filter_map(|e| e.packet.pts())
            .chain(self.shown)
            .max()
            .map(|m| m + 1)
    }

    /// Keeps what plays before a cut at `frame`: the first `upto` pictures (decode order)
    /// and the audio that starts before the frame's sample. Where the audio kept and handed
    /// on ends, for the next audio to be placed against.
    pub fn keep_before(&mut self, upto: usize, frame: i64) -> Option<i64> {
        let sample = samples_at_frame(frame, self.fps, self.rate);
        self.video.truncate(upto);
        self.audio
            .retain(|e| e.packet.pts().is_some_and(|p| p < sample));
        self.made_video = self.video.back().and_then(dts).or(self.shown_dts);
        let kept = self
            .audio
            .iter()
            .filter_map(|e| e.packet.pts())
            .max()
            .map(|p| p + self.audio_frame);
        self.made_audio = match (kept, self.heard) {
            (Some(k), Some(h)) => Some(k.max(h)),
            (k, h) => k.or(h),
        };
        self.made_audio
    }
}

impl Extend<Encoded> for Ready {
    fn extend<I: IntoIterator<Item = Encoded>>(&mut self, iter: I) {
        for e in iter {
            self.push(e);
        }
    }
}

fn dts(e: &Encoded) -> Option<i64> {
    e.packet.dts().or(e.packet.pts())
}

#[cfg(test)]
mod tests {
    use ffmpeg_next as ff;

    use super::*;

    fn packet(kind: Kind, pts: i64, dts: i64) -> Encoded {
        let mut p = ff::Packet::empty();
        p.set_pts(Some(pts));
        p.set_dts(Some(dts));
        Encoded { kind, packet: p }
    }

    /// 25 fps, 1000 samples a second, 40-sample audio frames: one audio frame a picture.
    fn ready() -> Ready {
        Ready::new(Rational::new(25, 1), 1000, 40)
    }

    #[test]
    fn hands_on_in_time_order_what_was_made_out_of_it() {
        let mut r = ready();
        // Audio for pictures 0..5 is made before the first picture comes out.
        for k in 0..5 {
            r.push(packet(Kind::Audio, k * 40, k * 40));
        }
        // Nothing may go: no picture has been made, one could come before the audio.
        assert_eq!(r.next(false), None);
        // Forced (the stream ends, the queue is full), the audio goes.
        assert_eq!(r.next(true), Some(Kind::Audio));
        r.push(packet(Kind::Video, 0, -1));
        r.push(packet(Kind::Video, 2, 0));
        let mut order = Vec::new();
        while let Some(k) = r.next(false) {
            let e = r.pop(k).unwrap();
            order.push((k, e.packet.pts().unwrap()));
        }
        // Pictures at decode times -1 and 0 go first (a picture goes before audio of the
        // same time), then the audio at 0; the audio at 40.. waits for the picture that
        // decodes at 1 (sample 40).
        assert_eq!(
            order,
            [(Kind::Video, 0), (Kind::Video, 2), (Kind::Audio, 0)]
        );
        assert_eq!(r.len(), 4);
    }

    #[test]
    fn a_cut_keeps_what_plays_before_it() {
        let mut r = ready();
        for (pts, dts) in [(0, -2), (3, -1), (1, 0), (2, 1), (6, 2), (4, 3), (5, 4)] {
            r.push(packet(Kind::Video, pts, dts));
        }
        for k in 0..9 {
            r.push(packet(Kind::Audio, k * 40, k * 40));
        }
        let _ = r.pop(Kind::Video);
        // A cut at 5: P6 is the first anchor at or after it, at index 3 of what is left.
        assert_eq!(r.cut_point(5), Some((3, 4)));
        assert_eq!(r.end(), Some(7));
        let end = r.keep_before(3, 4);
        // Pictures 3, 1, 2 stay (0 was handed on); audio from sample 160 (frame 4) goes.
        assert_eq!(r.video.len(), 3);
        assert_eq!(r.audio.len(), 4);
        assert_eq!(end, Some(160));
        assert_eq!(r.made_video, Some(1));
    }
}
