//! The splicer's side of a conformed copy (`passthrough`): the copy's packets go out at the
//! current position, and the timeline moves on by the frames and samples they cover.

use ffmpeg_next as ff;

use super::{Flow, Splicer};
use crate::pipeline::Media;

impl Splicer {
    /// Starts a stretch of copied packets (a conformed copy) at the current position, an
    /// item boundary: the audio so far goes to the encoder whole (its last frame short), so
    /// the encoder can be drained before the copy. The position, video and audio.
    pub fn begin_copy(&mut self) -> (i64, i64) {
        debug_assert_eq!(
            self.audio,
            self.samples_at(self.video),
            "items start aligned"
        );
        self.drain_fifo(true);
        if self.tx.send(Media::CopyBegins).is_err() {
            self.closed = true;
        }
        (self.video, self.audio)
    }

    /// Frames the channel has left before it stops (`--for`).
    pub fn frames_left(&self) -> i64 {
        self.stop_at.map_or(i64::MAX, |s| s - self.video)
    }

    /// One packet of the copy, its timestamps already on the timeline.
    pub fn copied(&mut self, e: crate::pipeline::encode::Encoded) -> Flow {
        if self.closed || self.tx.send(Media::Copied(e)).is_err() {
            self.closed = true;
            return Flow::Stop;
        }
        Flow::Continue
    }

    /// Ends the copy after `frames` frames: the timeline moves on by them and by the audio
    /// the video timeline gives them, exactly as if they had been placed frame by frame.
    pub fn end_copy(&mut self, frames: i64) -> Flow {
        let frames = frames.max(0);
        self.video += frames;
        self.stats.video_frames += frames;
        let audio = self.samples_at(self.video);
        self.stats.audio_samples += audio - self.audio;
        self.audio = audio;
        self.fifo_pts = audio;
        self.report();
        if self.closed || self.is_done() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// Plays `frames` frames of `picture` with silence as part of an item (a held picture,
    /// counted as held frames, not as slate).
    pub fn hold_picture(&mut self, frames: i64, picture: &ff::frame::Video) -> Flow {
        self.still(frames, picture, false)
    }
}
