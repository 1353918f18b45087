//! Opening an item: demuxer, stream choice, decoders, and what the file contains.
//!
//! Runs ahead of time on a helper thread (the next item is opened while the current one plays)
//! and in `playout probe`. Every way a file can be unplayable ends here as an `OpenError` with
//! a reason label for metrics and a sentence for the operator.

use std::path::{Path, PathBuf};

use ffmpeg_next as ff;

use crate::libav;
use crate::quarantine::{During, Quarantine};
use crate::time::{Micros, Rational};

/// Why an item could not play. `label()` is the `reason` metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailReason {
    Missing,
    Empty,
    Unreadable,
    NoStreams,
    Unsupported,
    Read,
    Decode,
    Truncated,
    /// Crashed the process twice in a row (see `quarantine`).
    Quarantined,
}

impl FailReason {
    pub const ALL: [FailReason; 9] = [
        FailReason::Missing,
        FailReason::Empty,
        FailReason::Unreadable,
        FailReason::NoStreams,
        FailReason::Unsupported,
        FailReason::Read,
        FailReason::Decode,
        FailReason::Truncated,
        FailReason::Quarantined,
    ];

    /// Its label, from the metric's list (in the same order as the variants).
    pub fn label(self) -> &'static str {
        crate::metrics::FAIL_REASONS[self as usize]
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {detail}", path.display())]
pub struct OpenError {
    pub path: PathBuf,
    pub reason: FailReason,
    pub detail: String,
}

#[derive(Clone, Debug)]
pub struct VideoInfo {
    pub index: usize,
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub pix_fmt: String,
    pub sar: Rational,
    /// Average frame rate, when the container knows one.
    pub fps: Option<Rational>,
    /// The frame rate varies (the real base rate differs from the average).
    pub vfr: bool,
    pub interlaced: bool,
    /// Display rotation in degrees clockwise: 0, 90, 180 or 270.
    pub rotation: i32,
}

#[derive(Clone, Debug)]
pub struct AudioInfo {
    pub index: usize,
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub sample_fmt: String,
}

/// What a media file holds, as far as the channel cares.
#[derive(Clone, Debug)]
pub struct MediaInfo {
    pub format: String,
    pub duration: Option<Micros>,
    pub video: Option<VideoInfo>,
    pub audio: Option<AudioInfo>,
    /// A single picture (PNG, JPEG…): shown for the item's `duration`/`out`.
    pub still: bool,
    /// One line per stream, for `probe`.
    pub streams: Vec<String>,
}

/// An opened item, positioned at its in-point, ready to decode.
pub struct Opened {
    pub path: PathBuf,
    pub input: ff::format::context::Input,
    pub info: MediaInfo,
    pub video: Option<ff::decoder::Video>,
    pub audio: Option<ff::decoder::Audio>,
    /// The instant (µs, container clock) that is position 0 of the item: start time + in.
    pub origin_us: i64,
}

fn err(path: &Path, reason: FailReason, detail: impl Into<String>) -> OpenError {
    OpenError {
        path: path.to_path_buf(),
        reason,
        detail: detail.into(),
    }
}

/// Opens `path`, picks its best video and audio streams, opens decoders and seeks to
/// `in_point`.
pub fn open(path: &Path, in_point: Micros, q: &Quarantine) -> Result<Opened, OpenError> {
    let _busy = q.busy(path, During::Open);
    let (input, info) = demux(path, q)?;
    let video = match &info.video {
        Some(v) => Some(
            open_decoder(&input, v.index, path)?
                .video()
                .map_err(|e| err(path, FailReason::Unsupported, format!("video decoder: {e}")))?,
        ),
        None => None,
    };
    // A file whose audio cannot be decoded still plays, with silence.
    let audio = match &info.audio {
        Some(a) => match open_decoder(&input, a.index, path).and_then(|d| {
            d.audio()
                .map_err(|e| err(path, FailReason::Unsupported, format!("audio decoder: {e}")))
        }) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!(file = %path.display(), reason = %e.detail, "Audio cannot be decoded; playing silence.");
                None
            }
        },
        None => None,
    };
    let start = libav::start_time(&input).unwrap_or(0);
    let mut opened = Opened {
        path: path.to_path_buf(),
        input,
        info,
        video,
        audio,
        origin_us: start + in_point.0,
    };
    if in_point.0 > 0 && !opened.info.still {
        let ts = opened.origin_us;
        // Land on the keyframe at or before the in-point; the splicer drops the pre-roll.
        if let Err(e) = opened.input.seek(ts, ..ts) {
            tracing::warn!(file = %path.display(), error = %e, "Seek to the in-point failed; decoding from the start.");
        }
    }
    Ok(opened)
}

/// What a file holds, without opening decoders: for durations in the schedule.
pub fn probe_info(path: &Path, q: &Quarantine) -> Result<MediaInfo, OpenError> {
    let _busy = q.busy(path, During::Open);
    demux(path, q).map(|(_, info)| info)
}

/// The error for a file the quarantine keeps off air, if it does.
pub fn quarantined(path: &Path, q: &Quarantine) -> Option<OpenError> {
    q.lookup(path)
        .map(|e| err(path, FailReason::Quarantined, e.reason()))
}

/// Opens the demuxer and reads the stream layout; every "cannot play" before decoding.
fn demux(
    path: &Path,
    q: &Quarantine,
) -> Result<(ff::format::context::Input, MediaInfo), OpenError> {
    if q.refuses_open(path) {
        return Err(quarantined(path, q)
            .unwrap_or_else(|| err(path, FailReason::Quarantined, "quarantined")));
    }
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => err(path, FailReason::Missing, "file does not exist"),
        _ => err(
            path,
            FailReason::Unreadable,
            format!("cannot read the file: {e}"),
        ),
    })?;
    if !meta.is_file() {
        return Err(err(path, FailReason::Unreadable, "not a regular file"));
    }
    if meta.len() == 0 {
        return Err(err(path, FailReason::Empty, "file is empty (0 bytes)"));
    }
    let input = ff::format::input(path).map_err(|e| {
        err(
            path,
            FailReason::Unreadable,
            format!("not a media file libav can read ({e})"),
        )
    })?;
    let info = describe(&input);
    if info.video.is_none() && info.audio.is_none() {
        return Err(err(
            path,
            FailReason::NoStreams,
            "no video or audio stream found",
        ));
    }
    Ok((input, info))
}

pub(crate) fn open_decoder(
    input: &ff::format::context::Input,
    index: usize,
    path: &Path,
) -> Result<ff::decoder::Opened, OpenError> {
    let stream = input.stream(index).expect("stream index from describe()");
    let params = stream.parameters();
    let id = params.id();
    if ff::decoder::find(id).is_none() {
        return Err(err(
            path,
            FailReason::Unsupported,
            format!("no decoder for codec {id:?}"),
        ));
    }
    let mut ctx = ff::codec::context::Context::from_parameters(params).map_err(|e| {
        err(
            path,
            FailReason::Unsupported,
            format!("codec parameters: {e}"),
        )
    })?;
    ctx.set_threading(ff::threading::Config {
        kind: ff::threading::Type::Frame,
        count: super::decoder_threads(),
        ..Default::default()
    });
    let mut dec = ctx.decoder();
    dec.set_packet_time_base(stream.time_base());
    let opened = dec
        .open_as(ff::decoder::find(id).expect("checked above"))
        .map_err(|e| {
            err(
                path,
                FailReason::Unsupported,
                format!("opening decoder: {e}"),
            )
        })?;
    Ok(opened)
}

/// Reads the stream layout of an opened input.
pub fn describe(input: &ff::format::context::Input) -> MediaInfo {
    let format = input.format().name().to_string();
    let duration = (input.duration() > 0)
        .then(|| Micros(input.duration() * 1_000_000 / ff::ffi::AV_TIME_BASE as i64));
    let mut streams = Vec::new();
    let mut video: Option<VideoInfo> = None;
    let mut audio: Option<AudioInfo> = None;
    let best_v = input
        .streams()
        .filter(|s| s.parameters().medium() == ff::media::Type::Video)
        .filter(|s| {
            !s.disposition()
                .contains(ff::format::stream::Disposition::ATTACHED_PIC)
        })
        .map(|s| s.index())
        .next();
    let best_a = input
        .streams()
        .best(ff::media::Type::Audio)
        .map(|s| s.index());
    for stream in input.streams() {
        let params = stream.parameters();
        let medium = params.medium();
        let codec = ff::decoder::find(params.id())
            .map(|c| c.name().to_string())
            .unwrap_or_else(|| format!("{:?}", params.id()).to_lowercase());
        let dec = ff::codec::context::Context::from_parameters(params.clone()).ok();
        match medium {
            ff::media::Type::Video => {
                let v = dec.and_then(|d| d.decoder().video().ok());
                let (w, h, pix, sar) = match &v {
                    Some(v) => (
                        v.width(),
                        v.height(),
                        v.format()
                            .descriptor()
                            .map(|d| d.name().to_string())
                            .unwrap_or_else(|| "unknown".into()),
                        v.aspect_ratio(),
                    ),
                    None => (0, 0, "unknown".into(), ff::Rational::new(1, 1)),
                };
                let avg = stream.avg_frame_rate();
                let real = stream.rate();
                let fps = (avg.numerator() > 0 && avg.denominator() > 0)
                    .then(|| Rational::new(avg.numerator() as i64, avg.denominator() as i64));
                let vfr = real.numerator() > 0
                    && avg.numerator() > 0
                    && (real.numerator() as i64 * avg.denominator() as i64
                        != avg.numerator() as i64 * real.denominator() as i64);
                let info = VideoInfo {
                    index: stream.index(),
                    codec: codec.clone(),
                    width: w,
                    height: h,
                    pix_fmt: pix,
                    sar: if sar.numerator() > 0 && sar.denominator() > 0 {
                        Rational::new(sar.numerator() as i64, sar.denominator() as i64)
                    } else {
                        Rational::new(1, 1)
                    },
                    fps,
                    vfr,
                    interlaced: libav::is_interlaced(&params),
                    rotation: rotation(&stream),
                };
                streams.push(format!(
                    "#{} video: {} {}x{} {}{}{}{}{}",
                    info.index,
                    info.codec,
                    info.width,
                    info.height,
                    info.pix_fmt,
                    info.fps
                        .map(|f| format!(" {} fps", fps_text(f)))
                        .unwrap_or_default(),
                    if info.vfr { " (variable)" } else { "" },
                    if info.interlaced { " interlaced" } else { "" },
                    if info.rotation != 0 {
                        format!(" rotated {}°", info.rotation)
                    } else {
                        String::new()
                    },
                ));
                if Some(stream.index()) == best_v {
                    video = Some(info);
                }
            }
            ff::media::Type::Audio => {
                let a = dec.and_then(|d| d.decoder().audio().ok());
                let info = AudioInfo {
                    index: stream.index(),
                    codec: codec.clone(),
                    sample_rate: a.as_ref().map(|a| a.rate()).unwrap_or(0),
                    channels: a.as_ref().map(|a| a.channels()).unwrap_or(0),
                    sample_fmt: a
                        .as_ref()
                        .map(|a| a.format().name().to_string())
                        .unwrap_or_default(),
                };
                streams.push(format!(
                    "#{} audio: {} {} Hz, {} channel{}",
                    info.index,
                    info.codec,
                    info.sample_rate,
                    info.channels,
                    if info.channels == 1 { "" } else { "s" }
                ));
                if Some(stream.index()) == best_a {
                    audio = Some(info);
                }
            }
            other => streams.push(format!("#{} {:?}: ignored", stream.index(), other)),
        }
    }
    let still = video.as_ref().is_some_and(|v| {
        audio.is_none()
            && (format == "image2"
                || format.ends_with("_pipe")
                || matches!(v.codec.as_str(), "png" | "mjpeg" | "bmp" | "tiff" | "webp"))
    });
    MediaInfo {
        format,
        duration,
        video,
        audio,
        still,
        streams,
    }
}

/// Display rotation from the stream's display matrix, snapped to a quarter turn, in degrees
/// clockwise (the way the ffmpeg CLI's autorotate reads it).
fn rotation(stream: &ff::format::stream::Stream) -> i32 {
    for sd in stream.side_data() {
        if sd.kind() == ff::codec::packet::side_data::Type::DisplayMatrix && sd.data().len() >= 36 {
            let m: Vec<f64> = sd
                .data()
                .chunks_exact(4)
                .take(9)
                .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]) as f64 / 65536.0)
                .collect();
            let sx = m[0].hypot(m[3]);
            let sy = m[1].hypot(m[4]);
            if sx == 0.0 || sy == 0.0 {
                return 0;
            }
            // av_display_rotation_get() is minus this angle, and the CLI's autorotate turns
            // minus that clockwise: so this angle is the clockwise turn to apply.
            let cw = ((m[1] / sy).atan2(m[0] / sx).to_degrees().round() as i32).rem_euclid(360);
            return ((cw + 45) / 90 * 90) % 360;
        }
    }
    stream
        .metadata()
        .get("rotate")
        .and_then(|r| r.parse::<i32>().ok())
        .map(|r| ((r.rem_euclid(360) + 45) / 90 * 90) % 360)
        .unwrap_or(0)
}

/// `29.97` for 30000/1001, `25` for 25/1.
pub fn fps_text(f: Rational) -> String {
    if f.den == 1 {
        return f.num.to_string();
    }
    let hundredths = (f.num * 100 + f.den / 2) / f.den;
    let s = format!("{}.{:02}", hundredths / 100, hundredths % 100);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
