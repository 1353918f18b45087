//! The pipeline's vocabulary, shared by every stage and by the outputs: the channel's
//! format, what goes from the source to the encoder (`Media`) and from the encoder to the
//! outputs (`Encoded`, with `StreamParams` to describe them). A leaf: it imports no stage.

use ffmpeg_next as ff;

use crate::config::ChannelConfig;
use crate::time::Rational;

/// AAC takes 1024-sample frames; the splicer hands the encoder exactly that.
pub const AUDIO_FRAME: usize = 1024;

/// The format every item is normalised to: the one the encoders are opened with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelFormat {
    pub width: u32,
    pub height: u32,
    pub fps: Rational,
    pub sample_rate: u32,
    pub channels: u16,
}

impl ChannelFormat {
    pub fn of(channel: &ChannelConfig) -> Self {
        ChannelFormat {
            width: channel.video.width,
            height: channel.video.height,
            fps: channel.video.fps,
            sample_rate: channel.audio.sample_rate,
            channels: channel.audio.channels,
        }
    }

    /// The channel's video timebase: one tick per frame.
    pub fn frame_tb(&self) -> Rational {
        self.fps.invert()
    }

    /// The channel's audio timebase: one tick per sample.
    pub fn sample_tb(&self) -> Rational {
        Rational::new(1, self.sample_rate as i64)
    }

    pub fn layout(&self) -> ff::ChannelLayout {
        if self.channels == 1 {
            ff::ChannelLayout::MONO
        } else {
            ff::ChannelLayout::STEREO
        }
    }
}

/// A normalised frame on the channel timeline, on its way to the encoder.
/// Video `pts` counts frames since the channel started; audio `pts` counts samples.
pub enum Media {
    Video(ff::frame::Video),
    Audio(ff::frame::Audio),
    /// A packet already encoded in the channel's exact format (a conformed copy), with its
    /// timestamps on the channel timeline in the encoders' timebases: passed through
    /// (`copied`).
    Copied(Encoded),
    /// A copy starts here: its audio is placed afresh against the timeline (`copied`).
    CopyBegins,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Video,
    Audio,
}

/// How many frames the video encoder holds before it gives the first of them out (x264's
/// lookahead, frame threads and B pictures), the most the encode thread has seen it hold.
/// The live segment keeps that far (and a little more) ahead of the air.
#[derive(Debug, Default)]
pub struct EncoderDelay(std::sync::atomic::AtomicI64);

impl EncoderDelay {
    /// The encoder holds `frames` now.
    pub fn seen(&self, frames: i64) {
        self.0
            .fetch_max(frames, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn frames(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// An encoded packet with timestamps in its encoder's timebase.
pub struct Encoded {
    pub kind: Kind,
    pub packet: ff::Packet,
}

/// A clone shares the payload (a new reference, not a copy): every output and its GOP cache
/// hold the same bytes the encoder produced.
impl Clone for Encoded {
    fn clone(&self) -> Self {
        Encoded {
            kind: self.kind,
            packet: crate::libav::share_packet(&self.packet),
        }
    }
}

/// What a muxer needs to describe the two streams: the same for every output.
#[derive(Clone)]
pub struct StreamParams {
    pub video: ff::codec::Parameters,
    pub audio: ff::codec::Parameters,
    pub video_tb: Rational,
    pub audio_tb: Rational,
    /// The H.264 encoder's reorder delay in frames: the k-th video packet of a stream (in
    /// decode order) has `dts = k - video_delay`, encoded or copied alike.
    pub video_delay: i64,
}
