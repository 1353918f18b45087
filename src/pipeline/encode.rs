//! Encode once: one libx264 and one AAC encoder for the life of the process.
//!
//! Items come and go upstream; the encoders never see a boundary, only frames with
//! continuous channel timestamps. Closed GOPs with a keyframe every `keyframe_interval`
//! (what Mux and YouTube ask for), ABR with a VBV cap so the ingest sees a steady rate.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use ffmpeg_next as ff;

use super::{ChannelFormat, Media};
use crate::config::{AudioFormat, VideoFormat};
use crate::metrics::Metrics;
use crate::time::{frames_in, Rational};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Video,
    Audio,
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
}

pub struct Encoders {
    video: ff::encoder::Video,
    audio: ff::encoder::Audio,
    fps: Rational,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot open the {which} encoder: {source}")]
pub struct EncoderError {
    which: &'static str,
    source: ff::Error,
}

/// Opens both encoders (on the caller's thread, so a bad setting fails at start-up).
pub fn open(
    fmt: &ChannelFormat,
    video: &VideoFormat,
    audio: &AudioFormat,
) -> Result<(Encoders, StreamParams), EncoderError> {
    let verr = |source| EncoderError {
        which: "H.264",
        source,
    };
    let aerr = |source| EncoderError {
        which: "AAC",
        source,
    };
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
        count: super::encoder_threads(),
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
    let video_enc = v.open_as_with(x264, opts).map_err(verr)?;

    let aac = ff::encoder::find_by_name("aac").ok_or(aerr(ff::Error::EncoderNotFound))?;
    let mut a = ff::codec::context::Context::new_with_codec(aac)
        .encoder()
        .audio()
        .map_err(aerr)?;
    let atb = fmt.sample_tb();
    a.set_rate(fmt.sample_rate as i32);
    a.set_channel_layout(fmt.layout());
    a.set_channels(fmt.channels as i32);
    a.set_format(ff::format::Sample::F32(ff::format::sample::Type::Planar));
    a.set_bit_rate(audio.bitrate as usize);
    a.set_time_base(ff::Rational::from(atb));
    a.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    let audio_enc = a.open_as(aac).map_err(aerr)?;

    let params = StreamParams {
        video: ff::codec::Parameters::from(&*video_enc),
        audio: ff::codec::Parameters::from(&*audio_enc),
        video_tb: vtb,
        audio_tb: atb,
    };
    Ok((
        Encoders {
            video: video_enc,
            audio: audio_enc,
            fps: fmt.fps,
        },
        params,
    ))
}

/// The encode thread: frames in, packets out, until the frame sender is dropped; then
/// flushes both encoders and drops the packet sender.
///
/// `freeze_after` (tests only, `--test-freeze-after`) hangs the thread for good after that
/// many frames, as a libav call that never returns would.
pub fn run(
    mut enc: Encoders,
    rx: Receiver<Media>,
    tx: Sender<Encoded>,
    metrics: Arc<Metrics>,
    freeze_after: Option<i64>,
) {
    let batch = (enc.fps.num / enc.fps.den).max(1);
    let mut pending_frames = 0i64;
    let mut frames = 0i64;
    let mut speed = Speed::default();
    let mut alive = true;
    for m in rx.iter() {
        let sent = match m {
            Media::Video(f) => {
                if freeze_after == Some(frames) {
                    metrics.add_encoded_frames(pending_frames, enc.fps);
                    tracing::warn!(
                        frames,
                        "Test fault: the encoder hangs from now on (--test-freeze-after)."
                    );
                    loop {
                        std::thread::park();
                    }
                }
                pending_frames += 1;
                frames += 1;
                enc.video.send_frame(&f)
            }
            Media::Audio(f) => enc.audio.send_frame(&f),
        };
        if let Err(e) = sent {
            tracing::error!(error = %e, "Encoder rejected a frame.");
        }
        alive = drain(&mut enc, &tx);
        // The first frame is reported at once: it is what makes the channel ready.
        if pending_frames >= batch || (frames == 1 && pending_frames == 1) {
            metrics.add_encoded_frames(pending_frames, enc.fps);
            metrics
                .encode_speed_ratio
                .set(speed.update(pending_frames, enc.fps));
            metrics.set_queue_depth("frames", rx.len());
            pending_frames = 0;
        }
        if !alive {
            break;
        }
    }
    if alive {
        let _ = enc.video.send_eof();
        let _ = enc.audio.send_eof();
        drain(&mut enc, &tx);
    }
    metrics.add_encoded_frames(pending_frames, enc.fps);
}

/// Channel seconds encoded per wall second over the last `SPEED_WINDOW` of wall time: an
/// average that forgets the burst of filling the queues at start within seconds, where an
/// exponential one took half a minute.
struct Speed {
    window: std::collections::VecDeque<(std::time::Instant, f64)>,
    encoded: f64,
}

const SPEED_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

impl Default for Speed {
    fn default() -> Self {
        let mut window = std::collections::VecDeque::new();
        window.push_back((std::time::Instant::now(), 0.0));
        Speed {
            window,
            encoded: 0.0,
        }
    }
}

impl Speed {
    fn update(&mut self, frames: i64, fps: Rational) -> f64 {
        let now = std::time::Instant::now();
        self.encoded += frames as f64 * fps.den as f64 / fps.num as f64;
        self.window.push_back((now, self.encoded));
        while self.window.len() > 2 && now - self.window[1].0 >= SPEED_WINDOW {
            self.window.pop_front();
        }
        let (t0, e0) = self.window[0];
        (self.encoded - e0) / (now - t0).as_secs_f64().max(1e-3)
    }
}

/// Moves every ready packet downstream; false when nobody listens any more.
fn drain(enc: &mut Encoders, tx: &Sender<Encoded>) -> bool {
    let mut p = ff::Packet::empty();
    while enc.video.receive_packet(&mut p).is_ok() {
        let packet = std::mem::replace(&mut p, ff::Packet::empty());
        if tx
            .send(Encoded {
                kind: Kind::Video,
                packet,
            })
            .is_err()
        {
            return false;
        }
    }
    while enc.audio.receive_packet(&mut p).is_ok() {
        let packet = std::mem::replace(&mut p, ff::Packet::empty());
        if tx
            .send(Encoded {
                kind: Kind::Audio,
                packet,
            })
            .is_err()
        {
            return false;
        }
    }
    true
}
