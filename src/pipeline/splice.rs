//! Splice: puts every item's normalised frames onto the one channel timeline.
//!
//! The timeline is two integer counters that never restart: `video` (frames since the channel
//! started) and `audio` (samples). Each item is placed where the previous one ended; inside
//! an item, frames are placed by their own timestamps relative to the item's origin, so a gap
//! in the source becomes a held frame or silence and an overlap is dropped. At each item end
//! the shorter stream is padded up to the longer one, rounded up to a whole frame, and the
//! audio end is pinned to `samples_at_frame(video)`: A/V cannot drift however many items play.

use std::sync::Arc;

use crossbeam_channel::Sender;
use ffmpeg_next as ff;

use super::media::{ChannelFormat, Media};
use crate::libav;
use crate::metrics::Metrics;
use crate::time::{frames_covering, rescale, samples_at_frame, MICROS};

pub use super::media::AUDIO_FRAME;

/// Timestamp jumps larger than this (seconds) inside an item are discontinuities to re-base
/// over, not gaps to fill: a broken file must not turn into minutes of held frames.
const MAX_GAP_SECONDS: i64 = 5;

/// Audio timestamps within this many samples of the expected position are taken as
/// continuous; rounding in resamplers jitters by a sample or two.
const AUDIO_TOLERANCE: i64 = 32;

/// What the caller should do after pushing media.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep feeding this item.
    Continue,
    /// The item reached its `out` point / length limit: stop reading it.
    ItemFull,
    /// The channel is done (`--for` reached, or the encoder has gone away).
    Stop,
}

/// Per-item placement state.
struct Item {
    v0: i64,
    a0: i64,
    /// Frame index (absolute) at which the item ends, if it has a length limit.
    v_limit: Option<i64>,
    v_shift: i64,
    a_shift: i64,
    v_started: bool,
    a_started: bool,
    video_done: bool,
    audio_done: bool,
    /// The picture repeated when video must be padded: the last frame placed, else the filler.
    hold: ff::frame::Video,
    held_frames: i64,
    /// A slate fill: its repeated frames count as slate, not as held frames.
    slate: bool,
}

/// Counters the source reports as metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpliceStats {
    pub video_frames: i64,
    pub audio_samples: i64,
    pub held_frames: i64,
    pub silence_samples: i64,
    /// Frames of slate (slate slots, failures, whatever an item left uncovered).
    pub slate_frames: i64,
    /// Audio end minus video end of the last item that had both, before padding (µs).
    pub last_av_offset_us: Option<i64>,
}

pub struct Splicer {
    fmt: ChannelFormat,
    tx: Sender<Media>,
    video: i64,
    audio: i64,
    /// Frame index at which the channel stops (`--for`), if any.
    stop_at: Option<i64>,
    fifo: Vec<Vec<f32>>,
    /// Sample index of the first sample in `fifo`.
    fifo_pts: i64,
    item: Item,
    closed: bool,
    stats: SpliceStats,
    metrics: Option<Arc<Metrics>>,
    reported: SpliceStats,
    /// With `anchor`: every grid point's frame is made a keyframe, so that two instances'
    /// keyframes fall on the same channel frames whatever each has spliced.
    grid: Option<crate::grid::Grid>,
    /// Lockstep: the next frame starts an item and is made a keyframe, so that an item start
    /// is a keyframe whatever this encoder did before (another instance may have just opened
    /// its encoder there, after a copy).
    key_next: bool,
}

impl Splicer {
    /// `metrics`, when given, receives the counters once per second of channel time, so
    /// they run with the stream instead of jumping at item ends.
    pub fn new(
        fmt: ChannelFormat,
        tx: Sender<Media>,
        stop_at: Option<i64>,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        let channels = fmt.channels as usize;
        let black = ff::frame::Video::new(ff::format::Pixel::YUV420P, fmt.width, fmt.height);
        Splicer {
            item: Item::new(0, 0, None, black),
            fmt,
            tx,
            video: 0,
            audio: 0,
            stop_at,
            fifo: vec![Vec::with_capacity(AUDIO_FRAME * 4); channels],
            fifo_pts: 0,
            closed: false,
            stats: SpliceStats::default(),
            metrics,
            reported: SpliceStats::default(),
            grid: None,
            key_next: false,
        }
    }

    /// Keyframes at every point of `grid` and at every item start (lockstep), besides the
    /// encoder's own cadence.
    pub fn on_grid(mut self, grid: Option<crate::grid::Grid>) -> Self {
        self.grid = grid;
        self
    }

    /// Hands the counters gathered since the last report to the metrics.
    pub fn report(&mut self) {
        if let Some(m) = &self.metrics {
            let (a, b) = (&self.stats, &self.reported);
            let d = crate::metrics::SpliceDelta {
                held_frames: a.held_frames - b.held_frames,
                slate_frames: a.slate_frames - b.slate_frames,
                silence_samples: a.silence_samples - b.silence_samples,
                last_av_offset_us: a.last_av_offset_us,
            };
            m.record_splice(&d, self.fmt.fps, self.fmt.sample_rate);
            self.reported = self.stats;
        }
    }

    /// Frames placed on the channel so far: the channel position.
    pub fn position_frames(&self) -> i64 {
        self.video
    }

    pub fn stats(&self) -> SpliceStats {
        self.stats
    }

    /// True once the channel has reached its stop point or the encoder is gone.
    pub fn is_done(&self) -> bool {
        self.closed
            || self
                .stop_at
                .is_some_and(|s| self.video >= s && self.audio >= self.audio_stop())
    }

    fn audio_stop(&self) -> i64 {
        match self.stop_at {
            Some(s) => samples_at_frame(s, self.fmt.fps, self.fmt.sample_rate as i64),
            None => i64::MAX,
        }
    }

    fn samples_at(&self, frame: i64) -> i64 {
        samples_at_frame(frame, self.fmt.fps, self.fmt.sample_rate as i64)
    }

    /// Starts an item at the current channel position. `limit` is its length in frames (from
    /// `in`/`out`/`duration`); `filler` is shown wherever the item has no picture of its own
    /// yet (audio-only items, a late first frame).
    pub fn begin_item(&mut self, limit: Option<i64>, filler: &ff::frame::Video) {
        debug_assert_eq!(
            self.audio,
            self.samples_at(self.video),
            "items start aligned"
        );
        self.item = Item::new(
            self.video,
            self.audio,
            limit.map(|l| self.video + l.max(0)),
            libav::share(filler),
        );
        self.key_next = self.grid.is_some();
    }

    /// The item has no more video (or never had any): from now on video follows audio.
    pub fn video_ended(&mut self) {
        self.item.video_done = true;
    }

    /// The item has no more audio (or never had any): from now on silence follows video.
    pub fn audio_ended(&mut self) {
        self.item.audio_done = true;
    }

    /// Places one normalised video frame whose timestamp is `rel` frames after the item's
    /// origin.
    pub fn video(&mut self, frame: ff::frame::Video, rel: i64) -> Flow {
        let max_gap = MAX_GAP_SECONDS * self.fmt.fps.num / self.fmt.fps.den;
        let expected = self.video - self.item.v0;
        let mut rel = rel + self.item.v_shift;
        if !self.item.v_started && rel < 0 {
            return self.flow(); // pre-roll before the in-point
        }
        if (rel - expected).abs() > max_gap {
            self.item.v_shift += expected - rel;
            rel = expected;
        }
        if rel < expected {
            return self.flow(); // a duplicate or overlap
        }
        if !self.item.v_started {
            self.item.v_started = true;
            self.item.hold = libav::share(&frame);
        }
        // A gap in the source: repeat what is on screen until the frame's own time.
        let gap_end = self.item.v0 + rel;
        if self.pad_video_to(gap_end) == Flow::Stop {
            return Flow::Stop;
        }
        if self.video_full() {
            return self.flow();
        }
        self.item.hold = libav::share(&frame);
        self.emit_video(frame);
        if self.item.audio_done {
            let target = self.samples_at(self.video);
            self.pad_audio_to(target);
        }
        self.flow()
    }

    /// Places one normalised audio frame (planar f32 in the channel layout) whose first sample
    /// is `rel` samples after the item's origin.
    pub fn audio(&mut self, frame: &ff::frame::Audio, rel: i64) -> Flow {
        let n = frame.samples() as i64;
        let max_gap = MAX_GAP_SECONDS * self.fmt.sample_rate as i64;
        let expected = self.audio - self.item.a0;
        let mut rel = rel + self.item.a_shift;
        if !self.item.a_started && rel + n <= 0 {
            return self.flow();
        }
        if self.item.a_started && (rel - expected).abs() > max_gap {
            self.item.a_shift += expected - rel;
            rel = expected;
        }
        self.item.a_started = true;
        let mut skip = 0i64;
        if rel > expected + AUDIO_TOLERANCE {
            let target = self.item.a0 + rel;
            self.pad_audio_to(target);
        } else if rel < expected - AUDIO_TOLERANCE {
            skip = expected - rel;
        }
        if skip >= n {
            return self.flow();
        }
        let limit = self.audio_limit();
        let take = (n - skip).min(limit - self.audio).max(0);
        if take > 0 {
            for (c, buf) in self.fifo.iter_mut().enumerate() {
                let plane = frame.plane::<f32>(c.min(frame.planes() - 1));
                buf.extend_from_slice(&plane[skip as usize..(skip + take) as usize]);
            }
            self.audio += take;
            self.stats.audio_samples += take;
            self.drain_fifo(false);
        }
        if self.item.video_done {
            let target = frames_covering(self.audio, self.fmt.fps, self.fmt.sample_rate as i64);
            if self.pad_video_to(target) == Flow::Stop {
                return Flow::Stop;
            }
        }
        self.flow()
    }

    /// Ends the item: pads the shorter stream so both end on the same frame boundary.
    /// Returns how many frames the item occupied.
    pub fn end_item(&mut self) -> i64 {
        if self.item.v_started && self.item.a_started {
            let v = rescale(self.video - self.item.v0, self.fmt.frame_tb(), MICROS);
            let a = rescale(self.audio - self.item.a0, self.fmt.sample_tb(), MICROS);
            self.stats.last_av_offset_us = Some(a - v);
        }
        let covering = frames_covering(self.audio, self.fmt.fps, self.fmt.sample_rate as i64);
        let mut end = self.video.max(covering);
        if let Some(limit) = self.item.v_limit {
            end = end.min(limit);
        }
        self.pad_video_to(end);
        let target = self.samples_at(self.video);
        self.pad_audio_to(target);
        self.video - self.item.v0
    }

    /// Ends the item at channel frame `frame` at the latest (an event comes, a skip). Never
    /// before what is already out: the frame the video has reached, or the frame that covers
    /// the audio already sent (audio runs up to a frame or so ahead), so the item still ends
    /// with audio and video on the same frame.
    pub fn cut_at(&mut self, frame: i64) {
        let covering = frames_covering(self.audio, self.fmt.fps, self.fmt.sample_rate as i64);
        let frame = frame.max(self.video).max(covering);
        self.item.v_limit = Some(self.item.v_limit.map_or(frame, |l| l.min(frame)));
    }

    /// Everything from channel frame `frame` on was taken back by the encode thread (a cut
    /// at the air, `recall`): the channel goes on from that frame, audio from its sample,
    /// and what was waiting in the audio queue goes too.
    pub fn rewind(&mut self, frame: i64) {
        let frame = frame.min(self.video);
        self.video = frame;
        self.audio = self.samples_at(frame);
        for buf in self.fifo.iter_mut() {
            buf.clear();
        }
        self.fifo_pts = self.audio;
        let hold = libav::share(&self.item.hold);
        self.item = Item::new(self.video, self.audio, Some(self.video), hold);
    }

    /// Holds the picture on screen until the item is `frames` long (still images).
    pub fn hold_until(&mut self, frames: i64) -> Flow {
        let end = self.item.v0 + frames;
        self.pad_video_to(end)
    }

    /// Plays `frames` frames of a still picture with silence (the slate).
    pub fn fill(&mut self, frames: i64, picture: &ff::frame::Video) -> Flow {
        self.still(frames, picture, true)
    }

    /// `frames` frames of `picture` with silence, as an item of their own: slate, or a
    /// held picture (`hold_picture`).
    fn still(&mut self, frames: i64, picture: &ff::frame::Video, slate: bool) -> Flow {
        self.begin_item(Some(frames), picture);
        self.item.slate = slate;
        self.audio_ended();
        let end = self.item.v0 + frames;
        let flow = self.pad_video_to(end);
        self.end_item();
        if flow == Flow::Stop || self.is_done() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// Flushes the last partial audio frame. Call once, at the end of the channel.
    pub fn finish(&mut self) {
        self.drain_fifo(true);
        self.report();
    }

    fn video_limit(&self) -> i64 {
        let l = self.item.v_limit.unwrap_or(i64::MAX);
        l.min(self.stop_at.unwrap_or(i64::MAX))
    }

    fn audio_limit(&self) -> i64 {
        let l = match self.item.v_limit {
            Some(l) => self.samples_at(l),
            None => i64::MAX,
        };
        l.min(self.audio_stop())
    }

    fn video_full(&self) -> bool {
        self.video >= self.video_limit()
    }

    fn flow(&self) -> Flow {
        if self.is_done() {
            return Flow::Stop;
        }
        let v_full = self.item.video_done || self.video_full();
        let a_full = self.item.audio_done || self.audio >= self.audio_limit();
        if v_full && a_full && self.item.v_limit.is_some() {
            Flow::ItemFull
        } else {
            Flow::Continue
        }
    }

    /// Repeats the held picture until the video counter reaches `target` (capped by limits),
    /// keeping audio alongside when the item's audio has ended.
    fn pad_video_to(&mut self, target: i64) -> Flow {
        let target = target.min(self.video_limit());
        while self.video < target {
            if self.closed {
                return Flow::Stop;
            }
            let frame = libav::share(&self.item.hold);
            self.emit_video(frame);
            if self.item.slate {
                self.stats.slate_frames += 1;
            } else {
                self.item.held_frames += 1;
                self.stats.held_frames += 1;
            }
            if self.item.audio_done {
                let a = self.samples_at(self.video);
                self.pad_audio_to(a);
            }
        }
        if self.closed {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    fn pad_audio_to(&mut self, target: i64) {
        let target = target.min(self.audio_limit());
        if target <= self.audio {
            return;
        }
        let n = (target - self.audio) as usize;
        for buf in self.fifo.iter_mut() {
            buf.resize(buf.len() + n, 0.0);
        }
        self.audio = target;
        self.stats.silence_samples += n as i64;
        self.drain_fifo(false);
    }

    fn emit_video(&mut self, mut frame: ff::frame::Video) {
        frame.set_pts(Some(self.video));
        let key = std::mem::take(&mut self.key_next)
            || self.grid.is_some_and(|g| g.is_grid_point(self.video));
        frame.set_kind(if key {
            ff::picture::Type::I
        } else {
            ff::picture::Type::None
        });
        self.video += 1;
        self.stats.video_frames += 1;
        if self.video % (self.fmt.fps.num / self.fmt.fps.den).max(1) == 0 {
            self.report();
        }
        if self.tx.send(Media::Video(frame)).is_err() {
            self.closed = true;
        }
    }

    fn drain_fifo(&mut self, all: bool) {
        loop {
            let have = self.fifo[0].len();
            let n = if have >= AUDIO_FRAME {
                AUDIO_FRAME
            } else if all && have > 0 {
                have
            } else {
                return;
            };
            let mut out = ff::frame::Audio::new(
                ff::format::Sample::F32(ff::format::sample::Type::Planar),
                n,
                self.fmt.layout(),
            );
            out.set_rate(self.fmt.sample_rate);
            for (c, buf) in self.fifo.iter_mut().enumerate() {
                out.plane_mut::<f32>(c)[..n].copy_from_slice(&buf[..n]);
                buf.drain(..n);
            }
            out.set_pts(Some(self.fifo_pts));
            self.fifo_pts += n as i64;
            if self.tx.send(Media::Audio(out)).is_err() {
                self.closed = true;
                return;
            }
        }
    }
}

impl Item {
    fn new(v0: i64, a0: i64, v_limit: Option<i64>, hold: ff::frame::Video) -> Self {
        Item {
            v0,
            a0,
            v_limit,
            v_shift: 0,
            a_shift: 0,
            v_started: false,
            a_started: false,
            video_done: false,
            audio_done: false,
            hold,
            held_frames: 0,
            slate: false,
        }
    }
}

#[path = "splice_copy.rs"]
mod copy;

#[cfg(test)]
#[path = "splice_tests.rs"]
mod tests;
