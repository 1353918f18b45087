//! The channel file as written (`ChannelFile`, private, mirroring the YAML) and its
//! validation into a `Channel`: defaults filled in, ranges and cross-field rules checked,
//! every problem collected with its field path.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::asrun::{validate_asrun, AsRunFile};
use super::env::expand_env;
use super::live::{validate_live, LiveFile};
use super::lockstep::{validate_anchor, validate_reload, ReloadFile};
use super::output::{self, parse_output_url, OutputConfig};
use super::overlay::{validate_overlay, validate_text, OverlayFile, TextFile};
use super::prepare::{validate_prepare_field, PrepareField};
use super::slate::{validate_slate, SlateFile};
use super::values::{clip, format_bitrate, format_fps};
use super::values::{format_bytes, Bitrate, ByteSize, Fps, List, Text};
use super::X264_PRESETS;
use super::{
    resolve, ApiToken, AudioFormat, ChannelConfig, ConfigError, HttpSettings, LoudnessTarget,
    Problems,
};
use super::{MediaSettings, VideoFormat, DEFAULT_MAX_UPLOAD, MIN_TOKEN_CHARS};
use crate::time::Micros;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a channel file: a mapping with name, playlist and optionally video, audio, \
                 slate, outputs, http, media, timezone, state, overlay, text, live, prepare, asrun, \
                 anchor and reload"
)]
pub(super) struct ChannelFile {
    name: Text<100>,
    pub(super) playlist: Text<4096>,
    video: Option<VideoFile>,
    audio: Option<AudioFile>,
    slate: Option<SlateFile>,
    outputs: Option<List<OutputFile, 32>>,
    http: Option<HttpFile>,
    media: Option<MediaFile>,
    timezone: Option<Text<64>>,
    state: Option<Text<4096>>,
    overlay: Option<OverlayFile>,
    text: Option<TextFile>,
    live: Option<LiveFile>,
    prepare: Option<PrepareField>,
    asrun: Option<AsRunFile>,
    anchor: Option<Text<64>>,
    reload: Option<ReloadFile>,
}

#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "video settings: a mapping with width, height, fps, bitrate, maxrate, \
                 bufsize, preset and keyframe_interval"
)]
struct VideoFile {
    width: Option<u64>,
    height: Option<u64>,
    fps: Option<Fps>,
    bitrate: Option<Bitrate>,
    maxrate: Option<Bitrate>,
    bufsize: Option<Bitrate>,
    preset: Option<Text<32>>,
    keyframe_interval: Option<Micros>,
}

#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "audio settings: a mapping with sample_rate, channels, bitrate and loudness"
)]
struct AudioFile {
    sample_rate: Option<u64>,
    channels: Option<u64>,
    bitrate: Option<Bitrate>,
    loudness: Option<LoudnessFile>,
}

#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "loudness settings: a mapping with target_lufs and true_peak_dbtp"
)]
struct LoudnessFile {
    target_lufs: Option<f64>,
    true_peak_dbtp: Option<f64>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an output: a mapping with url and optionally name, write_timeout, tls_verify \
                 and ca_file"
)]
struct OutputFile {
    url: Text<4096>,
    name: Option<Text<32>>,
    write_timeout: Option<Micros>,
    tls_verify: Option<bool>,
    ca_file: Option<Text<4096>>,
}

#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "http settings: a mapping with listen and api_token"
)]
struct HttpFile {
    listen: Option<Text<256>>,
    api_token: Option<Text<4096>>,
}

#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "media settings: a mapping with dir and max_upload"
)]
struct MediaFile {
    dir: Option<Text<4096>>,
    max_upload: Option<ByteSize>,
}

pub(super) fn validate(
    raw: ChannelFile,
    file: &Path,
    abs: PathBuf,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ChannelConfig, Vec<ConfigError>> {
    let mut p = Problems::new(file);
    let name = raw.name.0;
    if name.trim().is_empty() {
        p.add("name", "the name is empty (expected 1..=100 characters)");
    } else if name.chars().any(char::is_control) {
        p.add(
            "name",
            "the name contains a control character (expected one line of text)",
        );
    }
    if raw.playlist.0.is_empty() {
        p.add(
            "playlist",
            "the path is empty (expected the playlist file's path)",
        );
    }
    let outputs = validate_outputs(
        raw.outputs.map(|l| l.0).unwrap_or_default(),
        &abs,
        env,
        &mut p,
    );
    let timezone = match raw.timezone {
        None => chrono_tz::UTC,
        Some(Text(tz)) => tz.trim().parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
            p.add(
                "timezone",
                format!(
                    "{:?} is not a time zone (expected an IANA name such as Europe/Berlin or UTC)",
                    clip(&tz)
                ),
            );
            chrono_tz::UTC
        }),
    };
    let state = match raw.state {
        Some(Text(f)) if !f.trim().is_empty() => resolve(&abs, &f),
        Some(_) => {
            p.add("state", "the path is empty (expected a file path)");
            PathBuf::new()
        }
        None => {
            let stem = abs
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "channel".into());
            abs.with_file_name(format!("{stem}.state.json"))
        }
    };
    let media = validate_media(raw.media.unwrap_or_default(), &abs, &mut p);
    let video = validate_video(raw.video.unwrap_or_default(), &mut p);
    let overlay = raw
        .overlay
        .and_then(|o| validate_overlay(o, &abs, &video, &mut p));
    let prepare = validate_prepare_field(raw.prepare, &abs, &mut p);
    let slate = validate_slate(raw.slate.unwrap_or_default(), &abs, &mut p);
    let channel = ChannelConfig {
        name,
        playlist: resolve(&abs, &raw.playlist.0),
        file: abs,
        video,
        audio: validate_audio(raw.audio.unwrap_or_default(), &mut p),
        slate,
        outputs,
        http: validate_http(raw.http.unwrap_or_default(), env, &mut p),
        media,
        timezone,
        state,
        overlay,
        text: raw.text.map(|t| validate_text(t, &mut p)),
        live: raw.live.and_then(|l| validate_live(l, env, &mut p)),
        prepare,
        asrun: raw
            .asrun
            .map(|a| validate_asrun(a, &mut p))
            .unwrap_or_default(),
        anchor: validate_anchor(raw.anchor.as_ref().map(|a| a.0.as_str()), &mut p),
        reload: raw
            .reload
            .map(|r| validate_reload(r, &mut p))
            .unwrap_or_default(),
    };
    p.finish(channel)
}

fn validate_video(raw: VideoFile, p: &mut Problems) -> VideoFormat {
    let d = VideoFormat::default();
    let mut dimension = |field: &str, value: Option<u64>, default: u32, max: u64| {
        let v = value.unwrap_or(default as u64);
        let expected = format!("expected an even number 16..={max}");
        if !(16..=max).contains(&v) {
            p.add(
                format!("video.{field}"),
                format!("{v} is out of range ({expected})"),
            );
        } else if v % 2 == 1 {
            p.add(format!("video.{field}"), format!("{v} is odd ({expected})"));
        }
        v.min(max) as u32
    };
    let width = dimension("width", raw.width, d.width, 7680);
    let height = dimension("height", raw.height, d.height, 4320);

    let fps = raw.fps.map_or(d.fps, |f| f.0);
    if fps.num < fps.den || fps.num > 120 * fps.den {
        let shown = format_fps(fps);
        p.add(
            "video.fps",
            format!("{shown} is out of range (expected 1..=120 frames per second)"),
        );
    }

    let bitrate = raw.bitrate.map_or(d.bitrate, |b| b.0);
    if !(100_000..=100_000_000).contains(&bitrate) {
        let shown = format_bitrate(bitrate);
        p.add(
            "video.bitrate",
            format!("{shown} is out of range (expected 100k..=100M)"),
        );
    }
    let maxrate = raw.maxrate.map_or(bitrate, |b| b.0);
    if maxrate < bitrate {
        let (m, b) = (format_bitrate(maxrate), format_bitrate(bitrate));
        p.add(
            "video.maxrate",
            format!("{m} is below the bitrate {b} (expected maxrate ≥ bitrate)"),
        );
    } else if maxrate > 1_000_000_000 {
        let shown = format_bitrate(maxrate);
        p.add(
            "video.maxrate",
            format!("{shown} is out of range (expected bitrate..=1000M)"),
        );
    }
    let bufsize = raw.bufsize.map_or(bitrate.saturating_mul(2), |b| b.0);
    if bufsize == 0 || bufsize > 2_000_000_000 {
        let shown = format_bitrate(bufsize);
        p.add(
            "video.bufsize",
            format!("{shown} is out of range (expected 1..=2000M bits)"),
        );
    }

    let preset = raw.preset.map_or(d.preset, |t| t.0);
    if !X264_PRESETS.contains(&preset.as_str()) {
        p.add(
            "video.preset",
            format!(
                "{:?} is not an x264 preset (expected one of {})",
                clip(&preset),
                X264_PRESETS.join(", ")
            ),
        );
    }

    let keyframe_interval = raw.keyframe_interval.unwrap_or(d.keyframe_interval);
    if !(Micros::from_millis(100)..=Micros::from_secs(10)).contains(&keyframe_interval) {
        p.add(
            "video.keyframe_interval",
            format!("{keyframe_interval} is out of range (expected 0.1s..=10s)"),
        );
    }
    VideoFormat {
        width,
        height,
        fps,
        bitrate,
        maxrate,
        bufsize,
        preset,
        keyframe_interval,
    }
}

fn validate_audio(raw: AudioFile, p: &mut Problems) -> AudioFormat {
    let d = AudioFormat::default();
    let sample_rate = raw.sample_rate.unwrap_or(d.sample_rate as u64);
    if sample_rate != 44_100 && sample_rate != 48_000 {
        p.add(
            "audio.sample_rate",
            format!("{sample_rate} is not supported (expected 44100 or 48000)"),
        );
    }
    let channels = raw.channels.unwrap_or(d.channels as u64);
    if channels != 1 && channels != 2 {
        p.add(
            "audio.channels",
            format!("{channels} is not supported (expected 1 for mono or 2 for stereo)"),
        );
    }
    let bitrate = raw.bitrate.map_or(d.bitrate, |b| b.0);
    if !(32_000..=512_000).contains(&bitrate) {
        let shown = format_bitrate(bitrate);
        p.add(
            "audio.bitrate",
            format!("{shown} is out of range (expected 32k..=512k)"),
        );
    }
    AudioFormat {
        sample_rate: sample_rate.min(u32::MAX as u64) as u32,
        channels: channels.min(u16::MAX as u64) as u16,
        bitrate,
        loudness: raw.loudness.map(|l| validate_loudness(l, p)),
    }
}

/// -14 and -16 LUFS are what streaming platforms normalise to, -23 is EBU R128 broadcast,
/// -24 ATSC A/85; -31 is the quietest anyone asks for.
fn validate_loudness(raw: LoudnessFile, p: &mut Problems) -> LoudnessTarget {
    let target = raw.target_lufs.unwrap_or(-23.0);
    if !(-31.0..=-14.0).contains(&target) {
        p.add(
            "audio.loudness.target_lufs",
            format!("{target} is out of range (expected -31..=-14 LUFS, e.g. -23 for broadcast or -14/-16 for streaming platforms)"),
        );
    }
    let peak = raw.true_peak_dbtp.unwrap_or(-1.0);
    if !(-9.0..=0.0).contains(&peak) {
        p.add(
            "audio.loudness.true_peak_dbtp",
            format!("{peak} is out of range (expected -9..=0 dBTP, e.g. -1)"),
        );
    }
    let milli = |v: f64, lo: f64, hi: f64| (v.clamp(lo, hi) * 1000.0).round() as i32;
    LoudnessTarget {
        lufs_milli: milli(target, -31.0, -14.0),
        true_peak_milli: milli(peak, -9.0, 0.0),
    }
}

fn validate_outputs(
    raw: Vec<OutputFile>,
    channel_file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Problems,
) -> Vec<OutputConfig> {
    let mut outputs: Vec<OutputConfig> = Vec::with_capacity(raw.len());
    for (i, o) in raw.into_iter().enumerate() {
        let name = match o.name {
            None => output::default_name(i),
            Some(Text(name)) => {
                if !output::valid_name(&name) {
                    p.add(
                        format!("outputs[{i}].name"),
                        format!(
                            "{:?} is not a valid output name (expected 1..=32 characters of \
                             a-z, 0-9, _ and -)",
                            clip(&name)
                        ),
                    );
                }
                name
            }
        };
        if let Some(j) = outputs.iter().position(|other| other.name == name) {
            p.add(
                format!("outputs[{i}].name"),
                format!("{name:?} is already the name of outputs[{j}] (expected unique names)"),
            );
        }
        let url = match expand_env(&o.url.0, env) {
            Ok(url) => {
                if let Err(why) = parse_output_url(&url) {
                    p.add(format!("outputs[{i}].url"), why.to_string());
                }
                url
            }
            Err(why) => {
                p.add(format!("outputs[{i}].url"), format!("the URL {why}"));
                String::new()
            }
        };
        let write_timeout = o.write_timeout.unwrap_or(output::DEFAULT_WRITE_TIMEOUT);
        if !(Micros::from_millis(500)..=Micros::from_secs(120)).contains(&write_timeout) {
            p.add(
                format!("outputs[{i}].write_timeout"),
                format!("{write_timeout} is out of range (expected 0.5s..=120s)"),
            );
        }
        let rtmps = url.starts_with("rtmps://");
        if !rtmps && (o.tls_verify.is_some() || o.ca_file.is_some()) {
            p.add(
                format!("outputs[{i}]"),
                "tls_verify and ca_file apply to rtmps:// URLs only (expected an rtmps:// URL \
                 or neither setting)",
            );
        }
        let ca_file = o.ca_file.map(|Text(f)| resolve(channel_file, &f));
        let mut out = OutputConfig {
            name,
            url,
            write_timeout,
            tls_verify: o.tls_verify.unwrap_or(true),
            ca_file,
        };
        out.resolve_folder(channel_file.parent().unwrap_or(Path::new("/")));
        if let Ok(output::OutputTarget::Hls(folder)) = out.target() {
            if let Some(j) = outputs
                .iter()
                .position(|o| o.target() == Ok(output::OutputTarget::Hls(folder.clone())))
            {
                p.add(
                    format!("outputs[{i}].url"),
                    format!(
                        "{} is already the folder of outputs[{j}] (expected one folder per HLS \
                         output)",
                        folder.display()
                    ),
                );
            }
        }
        outputs.push(out);
    }
    outputs
}

/// A folder's `host.yaml` (issue 29): the host's `http`, checked as a channel file's.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "host settings: a mapping with http")]
struct HostFile {
    http: Option<HttpFile>,
}

/// Parses and validates a folder's `host.yaml` as if read from `file`.
pub(super) fn parse_host(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HttpSettings, Vec<ConfigError>> {
    let raw = match super::yaml::parse::<HostFile>(text, file) {
        Ok(raw) => raw.unwrap_or_default(),
        Err(e) => return Err(vec![e]),
    };
    let mut p = Problems::new(file);
    let http = validate_http(raw.http.unwrap_or_default(), env, &mut p);
    p.finish(http)
}

fn validate_http(
    raw: HttpFile,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Problems,
) -> HttpSettings {
    let listen = raw.listen.and_then(|Text(s)| {
        s.trim()
            .parse::<SocketAddr>()
            .map_err(|_| {
                p.add(
                    "http.listen",
                    format!(
                        "{:?} is not a socket address (expected IP:PORT, e.g. 127.0.0.1:9100 or \
                     [::1]:9100)",
                        clip(&s)
                    ),
                );
            })
            .ok()
    });
    // The token is a secret: messages name the variable or the rule, never the value.
    let api_token = raw.api_token.and_then(|Text(t)| match expand_env(&t, env) {
        Err(e) => {
            p.add("http.api_token", format!("the token {e}"));
            None
        }
        Ok(t) if t.chars().count() < MIN_TOKEN_CHARS => {
            p.add(
                "http.api_token",
                format!(
                    "the token is too short (expected at least {MIN_TOKEN_CHARS} characters; \
                     e.g. `openssl rand -hex 24`)"
                ),
            );
            None
        }
        Ok(t) if t.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            p.add(
                "http.api_token",
                "the token contains a space or control character (expected one word, as an \
                 HTTP header carries it)",
            );
            None
        }
        Ok(t) => Some(ApiToken::new(t)),
    });
    HttpSettings { listen, api_token }
}

fn validate_media(raw: MediaFile, channel: &Path, p: &mut Problems) -> MediaSettings {
    let dir = match raw.dir {
        Some(Text(d)) if d.trim().is_empty() => {
            p.add("media.dir", "the path is empty (expected a folder)");
            PathBuf::new()
        }
        Some(Text(d)) => resolve(channel, &d),
        None => resolve(channel, "media"),
    };
    let max_upload = raw.max_upload.map_or(DEFAULT_MAX_UPLOAD, |b| b.0);
    if max_upload == 0 {
        p.add(
            "media.max_upload",
            format!(
                "0 bytes is too small (expected e.g. {})",
                format_bytes(DEFAULT_MAX_UPLOAD)
            ),
        );
    }
    MediaSettings { dir, max_upload }
}
