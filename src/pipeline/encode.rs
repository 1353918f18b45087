//! Encode once: one libx264 and one AAC encoder for the life of the process.
//!
//! Items come and go upstream; the encoders never see a boundary, only frames with
//! continuous channel timestamps. Closed GOPs with a keyframe every `keyframe_interval`
//! (what Mux and YouTube ask for), ABR with a VBV cap so the ingest sees a steady rate.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use ffmpeg_next as ff;

use super::copied::{send_audio, AudioAligner};
use super::decode_time::DecodeClock;
use super::media::{ChannelFormat, Media};
use crate::config::{AudioFormat, VideoFormat};
use crate::metrics::Metrics;
use crate::time::{frames_in, Rational};

pub use super::media::{Encoded, Kind, StreamParams};

pub struct Encoders {
    video: ff::encoder::Video,
    audio: ff::encoder::Audio,
    fps: Rational,
    /// What they were opened with: after copied packets they are opened again with it.
    spec: (ChannelFormat, VideoFormat, AudioFormat, usize),
    /// One AAC frame of silence in the channel's audio format, for re-aligning audio at a
    /// splice (`copied`).
    silence: ff::Packet,
    /// Decode timestamps of what the video encoder makes (`DecodeClock`).
    clock: DecodeClock,
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
        Ok(())
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
    // Copied packets are being passed through; the encoders have been drained.
    let mut copying = false;
    let rate = i64::from(enc.audio.rate());
    let mut align = AudioAligner::new(super::media::AUDIO_FRAME as i64)
        .counted(metrics.prepare.boundary_audio_shift_seconds.clone(), rate);
    for m in rx.iter() {
        if let Media::CopyBegins = m {
            if !copying {
                alive = drain_to_end(&mut enc, &tx, &mut align);
                copying = true;
            }
            align.new_segment();
            if !alive {
                break;
            }
            continue;
        }
        if copying && !matches!(m, Media::Copied(_)) {
            // Frames again: fresh encoders, whose first frame is an IDR.
            if let Err(e) = enc.reopen() {
                tracing::error!(error = %e, "Cannot open the encoders again after copied packets; the stream ends.");
                break;
            }
            copying = false;
            align.new_segment();
        }
        let sent = match m {
            Media::Copied(e) => {
                if !copying {
                    // A copy always begins with `CopyBegins`; one that did not is placed as
                    // if it had.
                    alive = drain_to_end(&mut enc, &tx, &mut align);
                    copying = true;
                    align.new_segment();
                }
                alive = alive
                    && match e.kind {
                        Kind::Video => {
                            metrics.add_passthrough_frames(1, enc.fps);
                            tx.send(e).is_ok()
                        }
                        Kind::Audio => send_audio(e.packet, &mut align, &enc.silence, &tx),
                    };
                if !alive {
                    break;
                }
                continue;
            }
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
                enc.clock.sent(f.pts());
                enc.video.send_frame(&f)
            }
            Media::Audio(f) => enc.audio.send_frame(&f),
            Media::CopyBegins => continue,
        };
        if let Err(e) = sent {
            tracing::error!(error = %e, "Encoder rejected a frame.");
        }
        alive = drain(&mut enc, &tx, &mut align);
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
    if alive && !copying {
        let _ = enc.video.send_eof();
        let _ = enc.audio.send_eof();
        drain(&mut enc, &tx, &mut align);
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

/// Ends both encoders' streams and moves everything they still hold downstream: every frame
/// sent so far comes out before what follows (a copy's first packet). False when nobody
/// listens any more.
fn drain_to_end(enc: &mut Encoders, tx: &Sender<Encoded>, align: &mut AudioAligner) -> bool {
    let _ = enc.video.send_eof();
    let _ = enc.audio.send_eof();
    drain(enc, tx, align)
}

/// Moves every ready packet downstream (audio placed by `align`); false when nobody listens
/// any more.
fn drain(enc: &mut Encoders, tx: &Sender<Encoded>, align: &mut AudioAligner) -> bool {
    let mut p = ff::Packet::empty();
    while enc.video.receive_packet(&mut p).is_ok() {
        let mut packet = std::mem::replace(&mut p, ff::Packet::empty());
        enc.clock.stamp(&mut packet);
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
        if !send_audio(packet, align, &enc.silence, tx) {
            return false;
        }
    }
    true
}
