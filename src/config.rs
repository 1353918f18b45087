//! The channel file: the channel's name, the playlist it plays, the one video and audio
//! format every item is normalised to, the slate, the outputs and the HTTP address.
//!
//! It is the first stage of the data flow: YAML is deserialized into private `*File` structs
//! that reject unknown fields and check the form of each value (so a typo gets a line and a
//! column), then `validate()` checks ranges and cross-field rules (so a wrong value gets its
//! field path) and builds the immutable `Channel` the rest of the program shares (STYLE rules
//! 6 and 8). Every error says which file, where, and what was expected.

mod asrun;
mod env;
mod live;
mod lockstep;
mod output;
mod overlay;
mod prepare;
mod slate;
mod validate;
pub(crate) mod values;
pub(crate) mod yaml;

#[cfg(test)]
pub(crate) mod tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::time::{Micros, Rational};
use validate::{validate, ChannelFile};

pub use asrun::AsRunSettings;
pub use env::{expand_env, EnvError};
pub use live::{parse_listen, LiveListen, LiveSettings, Takeover, MIN_KEY_CHARS};
pub use lockstep::ReloadSettings;
pub use output::{parse_output_url, redact_url, OutputConfig, OutputTarget, UrlError};
pub use prepare::PrepareSettings;
pub(crate) use values::parse_fps as parse_fps_text;
pub use values::{format_bitrate, format_fps};
pub use yaml::MAX_FILE_BYTES;

/// A problem in a channel or playlist file: which file, where in it (`line 3 column 10` for
/// a syntax or type error, a field path such as `video.width` or `items[2].in` for a wrong
/// value, empty for the file as a whole) and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}{}", .file.display(), place_prefix(.place), .message)]
pub struct ConfigError {
    pub file: PathBuf,
    pub place: String,
    pub message: String,
}

fn place_prefix(place: &str) -> String {
    if place.is_empty() {
        String::new()
    } else {
        format!("{place}: ")
    }
}

impl ConfigError {
    pub fn new(file: &Path, place: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            place: place.into(),
            message: message.into(),
        }
    }
}

/// Collects every semantic error of a file, so `playout check` reports them all at once.
pub(crate) struct Problems {
    file: PathBuf,
    list: Vec<ConfigError>,
}

impl Problems {
    pub(crate) fn new(file: &Path) -> Self {
        Problems {
            file: file.to_path_buf(),
            list: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, place: impl Into<String>, message: impl Into<String>) {
        self.list.push(ConfigError::new(&self.file, place, message));
    }

    pub(crate) fn finish<T>(self, value: T) -> Result<T, Vec<ConfigError>> {
        if self.list.is_empty() {
            Ok(value)
        } else {
            Err(self.list)
        }
    }
}

/// The longest a duration or position in a file may be.
pub const MAX_SPAN: Micros = Micros::from_secs(24 * 3600);

/// A validated channel file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelConfig {
    /// 1..=100 characters, no control characters.
    pub name: String,
    /// The channel file, made absolute (not canonicalised: symlinks are kept as given).
    pub file: PathBuf,
    /// The playlist file, resolved against the channel file's folder.
    pub playlist: PathBuf,
    pub video: VideoFormat,
    pub audio: AudioFormat,
    pub slate: SlateSettings,
    /// May be empty: then `--output` must be given, which only `run` can check.
    pub outputs: Vec<OutputConfig>,
    pub http: HttpSettings,
    /// The media library the control API uploads to.
    pub media: MediaSettings,
    /// The zone daily events are in (IANA name; default UTC).
    pub timezone: chrono_tz::Tz,
    /// Where the timeline anchor is kept across restarts; default `NAME.state.json` beside
    /// the channel file, for a channel file `NAME.yaml`.
    pub state: PathBuf,
    /// The logo drawn over every item and the slate (`overlay`); none when absent.
    pub overlay: Option<OverlaySettings>,
    /// The lower third shown as each item starts (`text`); none when absent.
    pub text: Option<TextSettings>,
    /// The live input (`live`); none when absent.
    pub live: Option<LiveSettings>,
    /// Conformed copies passed through on air (`prepare`); none when absent.
    pub prepare: Option<PrepareSettings>,
    /// The as-run record's day files: how long they are kept (`asrun`).
    pub asrun: AsRunSettings,
    /// The instant the rotation's first item starts (`anchor`): with it the timeline is the
    /// file's alone, never a state file's, and two instances are in lockstep.
    pub anchor: Option<Micros>,
    /// How edits are picked up (`reload`).
    pub reload: ReloadSettings,
}

/// `text`: a line made from the item (`{title}`, `{channel}`) drawn in a box at a corner from
/// `from` into each item for `for`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextSettings {
    /// 1..=200 characters, one line.
    pub template: String,
    pub position: Corner,
    pub from: Micros,
    pub duration: Micros,
}

impl TextSettings {
    /// The line for an item.
    pub fn line(&self, title: &str, channel: &str) -> String {
        self.template
            .replace("{title}", title)
            .replace("{channel}", channel)
    }
}

/// Where on the frame the logo sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corner {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

impl Corner {
    pub const NAMES: [(&'static str, Corner); 4] = [
        ("top-left", Corner::TopLeft),
        ("top-right", Corner::TopRight),
        ("bottom-left", Corner::BottomLeft),
        ("bottom-right", Corner::BottomRight),
    ];
}

/// `overlay`: a PNG (alpha kept) drawn at a fixed place on the channel's frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverlaySettings {
    /// Resolved against the channel file's folder; checked to be an image that fits.
    pub image: PathBuf,
    pub position: Corner,
    /// Pixels from the two nearest edges.
    pub margin: u32,
    /// 0..=1000 (thousandths).
    pub opacity_milli: u32,
    /// The logo's width as a fraction of the frame's, in thousandths (10..=1000).
    pub scale_milli: u32,
    /// The logo as drawn, in channel pixels (even).
    pub width: u32,
    pub height: u32,
    /// The file's size and modification time when checked: a changed file is a changed
    /// overlay, so that a reload picks it up.
    pub stamp: (u64, Option<std::time::SystemTime>),
}

/// The one video format of the channel: every item is scaled and converted to it and the
/// single encoder is opened with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoFormat {
    pub width: u32,
    pub height: u32,
    /// Reduced; numerator and denominator fit libav's `i32`.
    pub fps: Rational,
    /// Bits per second.
    pub bitrate: u64,
    pub maxrate: u64,
    /// Bits; at most `i32::MAX` because libav's `rc_buffer_size` is an `int`.
    pub bufsize: u64,
    /// One of `X264_PRESETS`.
    pub preset: String,
    pub keyframe_interval: Micros,
}

impl Default for VideoFormat {
    fn default() -> Self {
        VideoFormat {
            width: 1280,
            height: 720,
            fps: Rational::new(30, 1),
            bitrate: 3_000_000,
            maxrate: 3_000_000,
            bufsize: 6_000_000,
            preset: "veryfast".to_string(),
            keyframe_interval: Micros::from_secs(2),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioFormat {
    /// 44100 or 48000.
    pub sample_rate: u32,
    /// 1 or 2.
    pub channels: u16,
    /// Bits per second.
    pub bitrate: u64,
    /// Every item brought to one loudness (`audio.loudness`); off when absent.
    pub loudness: Option<LoudnessTarget>,
}

impl Default for AudioFormat {
    fn default() -> Self {
        AudioFormat {
            sample_rate: 48_000,
            channels: 2,
            bitrate: 128_000,
            loudness: None,
        }
    }
}

/// `audio.loudness`: the integrated loudness every item is brought to and the true-peak
/// ceiling, in thousandths (so the settings compare exactly).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoudnessTarget {
    /// -31_000..=-14_000 (LUFS × 1000).
    pub lufs_milli: i32,
    /// -9_000..=0 (dBTP × 1000).
    pub true_peak_milli: i32,
}

impl LoudnessTarget {
    pub fn lufs(&self) -> f64 {
        self.lufs_milli as f64 / 1000.0
    }
    pub fn true_peak(&self) -> f64 {
        self.true_peak_milli as f64 / 1000.0
    }
}

/// What is shown when there is nothing (else) to show: gaps, slate items, failed items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlateSettings {
    /// At most 500 characters; may be empty (a plain background) or hold line breaks.
    pub text: String,
    /// RGB.
    pub background: [u8; 3],
    /// How long the slate stays up in place of an item that fails to open or decode.
    pub failure_duration: Micros,
    /// The operator's picture (`slate.image`, PNG or JPEG), scaled to fit and letterboxed on
    /// `background`; `text` is drawn over it only when the file gives one.
    pub image: Option<SlateMedia>,
    /// The operator's clip (`slate.clip`), looped for as long as slate is needed, with its
    /// own audio or silence; `text` is not drawn over it.
    pub clip: Option<SlateMedia>,
    /// Whether the file gave `text` (the default text goes on the generated slate only).
    pub text_given: bool,
}

/// `slate.image` or `slate.clip`: the file, and its size and modification time when checked
/// (a changed file is a change of the slate, taken in by a reload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlateMedia {
    pub path: PathBuf,
    pub stamp: (u64, Option<std::time::SystemTime>),
}

impl Default for SlateSettings {
    fn default() -> Self {
        SlateSettings {
            text: "We'll be right back".to_string(),
            background: [0x1a, 0x1a, 0x2e],
            failure_duration: Micros::from_secs(2),
            image: None,
            clip: None,
            text_given: false,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpSettings {
    /// `None`: no HTTP server.
    pub listen: Option<SocketAddr>,
    /// The bearer token every control request must carry; `None`: the control API is off.
    pub api_token: Option<ApiToken>,
}

/// A secret: shown as `****` by `Debug`, compared in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

/// Fewer characters than this is too easy to guess for a token that guards the channel.
pub const MIN_TOKEN_CHARS: usize = 16;

impl ApiToken {
    pub fn new(s: String) -> Self {
        ApiToken(s)
    }

    /// The secret itself, for the one place that must hand it on (libsrt's passphrase).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `given` is the token, in time that depends only on the lengths.
    pub fn matches(&self, given: &[u8]) -> bool {
        let want = self.0.as_bytes();
        let mut diff = (want.len() != given.len()) as u8;
        for (i, w) in want.iter().enumerate() {
            // Compare against something of the same length either way.
            diff |= w ^ given.get(i).copied().unwrap_or(!w);
        }
        std::hint::black_box(diff) == 0
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(****)")
    }
}

/// The media library: where uploads go, and how large one may be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaSettings {
    /// Resolved against the channel file's folder; default `media/` beside it.
    pub dir: PathBuf,
    /// Bytes; default 8 GiB.
    pub max_upload: u64,
}

pub const DEFAULT_MAX_UPLOAD: u64 = 8 << 30;

pub const X264_PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

impl ChannelConfig {
    /// Reads, parses and validates a channel file; `${VAR}`s in output URLs come from the
    /// process environment. The playlist is not read here (see `Playlist::load`).
    pub fn load(path: &Path) -> Result<ChannelConfig, ConfigError> {
        Self::load_with_env(path, &process_env)
    }

    /// `load` with the environment given as a lookup, for tests and for callers that keep
    /// secrets elsewhere.
    pub fn load_with_env(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ChannelConfig, ConfigError> {
        let text = yaml::read(path)?;
        Self::parse_with_env(&text, path, env)
    }

    /// Parses channel YAML as if read from `file` (used for relative paths and messages).
    pub fn parse(text: &str, file: &Path) -> Result<ChannelConfig, ConfigError> {
        Self::parse_with_env(text, file, &process_env)
    }

    pub fn parse_with_env(
        text: &str,
        file: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ChannelConfig, ConfigError> {
        parse_all(text, file, env).0.map_err(|e| first(e, file))
    }
}

/// Reads and validates a folder's `host.yaml` (`http: { listen, api_token }`, checked as a
/// channel file's `http`); every problem, each naming its place.
pub fn load_host(path: &Path) -> Result<HttpSettings, Vec<ConfigError>> {
    let text = yaml::read(path).map_err(|e| vec![e])?;
    validate::parse_host(&text, path, &process_env)
}

/// The first of a file's errors, for callers that stop at one.
pub(crate) fn first(errors: Vec<ConfigError>, file: &Path) -> ConfigError {
    errors
        .into_iter()
        .next()
        .unwrap_or_else(|| ConfigError::new(file, "", "the file is not valid"))
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Every error of the file, plus the resolved playlist path whenever the file parsed at all,
/// so `check` can check the playlist even when another field of the channel is wrong.
pub(crate) fn parse_all(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Result<ChannelConfig, Vec<ConfigError>>, Option<PathBuf>) {
    let raw = match yaml::parse::<ChannelFile>(text, file) {
        Ok(Some(raw)) => raw,
        Ok(None) => {
            let e = ConfigError::new(
                file,
                "",
                "the file is empty (expected a channel file with at least `name` and `playlist`)",
            );
            return (Err(vec![e]), None);
        }
        Err(e) => return (Err(vec![e]), None),
    };
    let abs = absolute(file);
    let playlist = (!raw.playlist.0.is_empty()).then(|| resolve(&abs, &raw.playlist.0));
    (validate(raw, file, abs, env), playlist)
}

pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `relative` against the folder of `file` (an absolute path), unless it is absolute.
pub(crate) fn resolve(file: &Path, relative: &str) -> PathBuf {
    let dir = file.parent().unwrap_or(Path::new("/"));
    dir.join(relative)
}
