//! Encode once: one libx264 and one AAC encoder for the life of the process.
//!
//! Items come and go upstream; the encoders never see a boundary, only frames with
//! continuous channel timestamps. Closed GOPs with a keyframe every `keyframe_interval`
//! (what Mux and YouTube ask for), ABR with a VBV cap so the ingest sees a steady rate.

use ffmpeg_next as ff;

use super::decode_time::DecodeClock;
use super::media::ChannelFormat;
use crate::config::{AudioFormat, VideoFormat};
use crate::time::{frames_in, Rational};

pub use super::media::{Encoded, Kind, StreamParams};

pub struct Encoders {
    pub(super) video: ff::encoder::Video,
    pub(super) audio: ff::encoder::Audio,
    pub(super) fps: Rational,
    /// What they were opened with: after copied packets they are opened again with it.
    spec: (ChannelFormat, VideoFormat, AudioFormat, usize),
    /// One AAC frame of silence in the channel's audio format, for re-aligning audio at a
    /// splice (`copied`).
    pub(super) silence: ff::Packet,
    /// Decode timestamps of what the video encoder makes (`DecodeClock`).
    pub(super) clock: DecodeClock,
    /// Frames the video encoder holds now, and the most it has held.
    pub(super) held: i64,
    pub(super) delay: std::sync::Arc<super::media::EncoderDelay>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot open the {which} encoder: {source}")]
pub struct EncoderError {
    which: &'static str,
    source: ff::Error,
}

fn verr(source: ff::Error) -> EncoderError {
    EncoderError {
        which: "H.264",
        source,
    }
}

fn aerr(source: ff::Error) -> EncoderError {
    EncoderError {
        which: "AAC",
        source,
    }
}

/// Opens both encoders (on the caller's thread, so a bad setting fails at start-up). The
/// same settings always give the same parameter sets, byte for byte.
pub fn open(
    fmt: &ChannelFormat,
    video: &VideoFormat,
    audio: &AudioFormat,
) -> Result<(Encoders, StreamParams), EncoderError> {
    open_with_threads(fmt, video, audio, super::encoder_threads())
}

/// `open` with `threads` x264 frame threads (a background preparer's share of the CPU). The
/// thread count changes neither the parameter sets nor the pictures' timing.
pub fn open_with_threads(
    fmt: &ChannelFormat,
    video: &VideoFormat,
    audio: &AudioFormat,
    threads: usize,
) -> Result<(Encoders, StreamParams), EncoderError> {
    let video_enc = open_video(fmt, video, threads)?;
    let audio_enc = open_audio(fmt, audio)?;
    let params = StreamParams {
        video: ff::codec::Parameters::from(&*video_enc),
        audio: ff::codec::Parameters::from(&*audio_enc),
        video_tb: fmt.frame_tb(),
        audio_tb: fmt.sample_tb(),
        video_delay: 0,
    };
    let params = StreamParams {
        video_delay: crate::libav::video_delay(&params.video),
        ..params
    };
    let silence = silence(fmt, audio)?;
    Ok((
        Encoders {
            video: video_enc,
            audio: audio_enc,
            fps: fmt.fps,
            spec: (fmt.clone(), video.clone(), audio.clone(), threads),
            silence,
            clock: DecodeClock::new(params.video_delay),
            held: 0,
            delay: Default::default(),
        },
        params,
    ))
}

impl Encoders {
    /// Both encoders opened afresh with the same settings: the next frame is an IDR.
    pub fn reopen(&mut self) -> Result<(), EncoderError> {
        let (fmt, video, audio, threads) = &self.spec;
        self.video = open_video(fmt, video, *threads)?;
        self.audio = open_audio(fmt, audio)?;
        self.clock.reopened();
        self.held = 0;
        Ok(())
    }

    /// How many frames the video encoder holds before it gives them out, as seen so far.
    pub fn delay(&self) -> std::sync::Arc<super::media::EncoderDelay> {
        self.delay.clone()
    }
}

fn open_video(
    fmt: &ChannelFormat,
    video: &VideoFormat,
    threads: usize,
) -> Result<ff::encoder::Video, EncoderError> {
    let x264 = ff::encoder::find_by_name("libx264").ok_or(verr(ff::Error::EncoderNotFound))?;
    let mut v = ff::codec::context::Context::new_with_codec(x264)
        .encoder()
        .video()
        .map_err(verr)?;
    let vtb = fmt.frame_tb();
    v.set_width(fmt.width);
    v.set_height(fmt.height);
    v.set_format(ff::format::Pixel::YUV420P);
    v.set_time_base(ff::Rational::from(vtb));
    v.set_frame_rate(Some(ff::Rational::from(fmt.fps)));
    v.set_aspect_ratio(ff::Rational::new(1, 1));
    v.set_bit_rate(video.bitrate as usize);
    v.set_max_bit_rate(video.maxrate as usize);
    let gop = frames_in(video.keyframe_interval, fmt.fps).max(1);
    v.set_gop(gop as u32);
    v.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    v.set_threading(ff::threading::Config {
        kind: ff::threading::Type::Frame,
        count: threads,
        ..Default::default()
    });
    let mut opts = ff::Dictionary::new();
    opts.set("preset", &video.preset);
    opts.set(
        "x264-params",
        &format!(
            "keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:vbv-maxrate={}:vbv-bufsize={}",
            video.maxrate / 1000,
            video.bufsize / 1000
        ),
    );
    opts.set("forced-idr", "1");
    v.open_as_with(x264, opts).map_err(verr)
}

fn open_audio(
    fmt: &ChannelFormat,
    audio: &AudioFormat,
) -> Result<ff::encoder::Audio, EncoderError> {
    let aac = ff::encoder::find_by_name("aac").ok_or(aerr(ff::Error::EncoderNotFound))?;
    let mut a = ff::codec::context::Context::new_with_codec(aac)
        .encoder()
        .audio()
        .map_err(aerr)?;
    a.set_rate(fmt.sample_rate as i32);
    a.set_channel_layout(fmt.layout());
    a.set_channels(fmt.channels as i32);
    a.set_format(ff::format::Sample::F32(ff::format::sample::Type::Planar));
    a.set_bit_rate(audio.bitrate as usize);
    a.set_time_base(ff::Rational::from(fmt.sample_tb()));
    a.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    a.open_as(aac).map_err(aerr)
}

/// One steady-state AAC frame of silence (not the encoder's first, which carries its
/// priming), made with the channel's own AAC settings.
fn silence(fmt: &ChannelFormat, audio: &AudioFormat) -> Result<ff::Packet, EncoderError> {
    let mut enc = open_audio(fmt, audio)?;
    let n = super::media::AUDIO_FRAME;
    let mut got = Vec::new();
    for k in 0..4 {
        let mut f = ff::frame::Audio::new(
            ff::format::Sample::F32(ff::format::sample::Type::Planar),
            n,
            fmt.layout(),
        );
        f.set_rate(fmt.sample_rate);
        for c in 0..fmt.channels as usize {
            f.plane_mut::<f32>(c).fill(0.0);
        }
        f.set_pts(Some(k * n as i64));
        enc.send_frame(&f).map_err(aerr)?;
        let mut p = ff::Packet::empty();
        while enc.receive_packet(&mut p).is_ok() {
            got.push(std::mem::replace(&mut p, ff::Packet::empty()));
        }
    }
    got.into_iter().nth(2).ok_or(aerr(ff::Error::Bug))
}
