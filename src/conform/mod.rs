//! Conformed copies (issue 14): an item (file, in, out) encoded once in the channel's exact
//! format, by the channel's own normalise, look and encode code, so that its packets can be
//! passed through on every later loop instead of decoded and encoded again.
//!
//! A copy is `KEY.nut` in the cache folder with a sidecar `KEY.json`. The key hashes what
//! the copy depends on: the source file's identity (path, size, mtime), the item's cut, and
//! the channel's format, encoder settings and look, including the live encoder's own
//! parameter sets (so a new x264 build makes new keys). The sidecar records the source's
//! content hash, the parameter-set bytes, frame and sample counts, keyframe positions, and the
//! copy's size and hash, so that a truncated, corrupt or foreign copy is found before it airs
//! (`verify`). Both files are written atomically: a crash while preparing leaves nothing.

pub mod background;
pub mod cache;
mod idle;
pub mod make;
pub mod prepare;
pub mod probe;

pub use idle::idle_priority;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::ChannelConfig;
use crate::playlist::MediaItem;

/// The sidecar format; a copy with another is made again.
pub const SIDECAR_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ConformError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {detail}", .path.display())]
    Media { path: PathBuf, detail: String },
    #[error("cannot open the encoders: {0}")]
    Encoder(#[from] crate::pipeline::encode::EncoderError),
    #[error("cannot draw the slate or the logo: {0}")]
    Look(ffmpeg_next::Error),
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ConformError + '_ {
    move |source| ConformError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a copy is and what it holds, kept beside it as `KEY.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    pub version: u32,
    pub key: String,
    pub source: SourceId,
    /// The item's cut, in µs: `in`, `out` and `duration` as the playlist gives them.
    pub in_us: i64,
    pub out_us: Option<i64>,
    pub duration_us: Option<i64>,
    /// The channel's format and look, hashed (`format_hash`).
    pub format: String,
    /// The H.264 parameter sets and the AAC AudioSpecificConfig as the encoders give them
    /// (`extradata`), hex.
    pub video_extradata: String,
    pub audio_extradata: String,
    /// Channel frames and the audio samples the timeline gives them.
    pub frames: i64,
    pub samples: i64,
    pub video_packets: u64,
    pub audio_packets: u64,
    /// Frame numbers of the keyframes, from 0.
    pub keyframes: Vec<i64>,
    /// The encoder's reorder delay in frames: the k-th video packet (decode order) has
    /// `dts = k - video_delay`. NUT does not store the first packets' dts.
    pub video_delay: i64,
    /// Every timestamp in the copy is this many frames late (audio: the samples of that many
    /// frames): NUT takes no negative timestamp, and AAC's first packet starts before 0.
    pub shift_frames: i64,
    /// The copy file's size and FNV-1a hash.
    pub bytes: u64,
    pub hash: String,
}

/// A source file as a copy knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceId {
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i128,
    /// FNV-1a over the whole file.
    pub hash: String,
}

impl SourceId {
    /// Size and mtime of `path` now (the content hash is left empty: `with_hash` reads it).
    pub fn stat(path: &Path) -> Result<SourceId, ConformError> {
        let meta = fs::metadata(path).map_err(io(path))?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        Ok(SourceId {
            path: path.to_path_buf(),
            size: meta.len(),
            mtime_ns,
            hash: String::new(),
        })
    }

    pub fn with_hash(mut self) -> Result<SourceId, ConformError> {
        self.hash = hash_file(&self.path)?;
        Ok(self)
    }
}

/// FNV-1a 64 of a file's bytes, as 16 hex digits.
pub fn hash_file(path: &Path) -> Result<String, ConformError> {
    let mut f = fs::File::open(path).map_err(io(path))?;
    let mut h = Fnv::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        h.write(&buf[..n]);
    }
    Ok(h.hex())
}

/// FNV-1a 64: stable across builds and Rust versions (the keys outlive the process).
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The channel's format, encoder settings and look, with the live encoder's parameter sets:
/// everything a copy's bytes depend on besides the item. `gain` is the item's loudness
/// filter, if any.
pub fn format_hash(
    channel: &ChannelConfig,
    video_extradata: &[u8],
    audio_extradata: &[u8],
    item: &MediaItem,
    gain: Option<&str>,
) -> String {
    // Only what changes a copy's bytes, so that channels of one format and look share their
    // copies (a host's channels, one library): the channel's name only where the lower third
    // writes it, and of the slate only its picture (an audio-only item, or one whose video
    // starts late, shows it), not how long it stands in for a failed item or the clip of gaps.
    let name = channel
        .text
        .as_ref()
        .filter(|t| t.template.contains("{channel}"))
        .map_or("", |_| channel.name.as_str());
    let slate = &channel.slate;
    let mut h = Fnv::default();
    let text = format!(
        "v{SIDECAR_VERSION}\nvideo {:?}\naudio {}/{}/{}\noverlay {:?}\ntext {:?}\nslate {:?} {:?} {} {:?}\nitem overlay={} loudness={} gain={:?}\nname {}\n",
        channel.video,
        channel.audio.sample_rate,
        channel.audio.channels,
        channel.audio.bitrate,
        channel.overlay.as_ref().filter(|_| item.overlay),
        channel.text,
        slate.text,
        slate.background,
        slate.text_given,
        slate.image,
        item.overlay,
        item.loudness,
        gain,
        name,
    );
    h.write(text.as_bytes());
    h.write(video_extradata);
    h.write(audio_extradata);
    h.hex()
}

/// The copy's key: the source's identity, the item's cut and the format.
pub fn key(source: &SourceId, item: &MediaItem, format: &str) -> String {
    let mut h = Fnv::default();
    let text = format!(
        "{}\n{}\n{}\n{:?}\n{:?}\n{}\n",
        source.path.display(),
        source.size,
        source.mtime_ns,
        item.in_point.0,
        item.out_point.map(|o| o.0),
        format
    );
    h.write(text.as_bytes());
    h.write(format!("{:?}", item.duration.map(|d| d.0)).as_bytes());
    h.hex()
}

/// Where a channel keeps its copies: `prepare.folder`, by default `conformed/` beside its
/// state file.
/// The loudness meter of a command run apart from the channel (`prepare`, `probe`), with
/// `audio.loudness`: it reads and fills the channel's cache, with metrics of its own and no
/// quarantine (such a command opens every file it is given).
fn detached_meter(channel: &ChannelConfig) -> Option<std::sync::Arc<crate::loudness::Meter>> {
    let target = channel.audio.loudness?;
    let cache = crate::loudness::cache_path(&channel.state);
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::new());
    let none = crate::quarantine::Quarantine::none();
    crate::loudness::Meter::start(target, cache, metrics, none).ok()
}

pub fn cache_dir(channel: &ChannelConfig) -> PathBuf {
    if let Some(f) = channel.prepare.as_ref().and_then(|p| p.folder.clone()) {
        return f;
    }
    channel
        .state
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("conformed")
}

pub fn copy_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.nut"))
}

pub fn sidecar_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.json"))
}

/// The copy's last picture, raw YUV 4:2:0 planes one after another (`picture_bytes`).
pub fn last_picture_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.last.yuv"))
}

/// A YUV 4:2:0 picture's planes, tightly packed.
pub fn picture_bytes(f: &ffmpeg_next::frame::Video) -> Vec<u8> {
    let mut out = Vec::new();
    for plane in 0..3 {
        let (w, h) = if plane == 0 {
            (f.width() as usize, f.height() as usize)
        } else {
            (
                f.width().div_ceil(2) as usize,
                f.height().div_ceil(2) as usize,
            )
        };
        let (stride, data) = (f.stride(plane), f.data(plane));
        for row in 0..h {
            out.extend_from_slice(&data[row * stride..row * stride + w]);
        }
    }
    out
}

/// The picture `picture_bytes` wrote, for a `width` x `height` channel; `None` if the bytes
/// are not one.
pub fn picture_from(bytes: &[u8], width: u32, height: u32) -> Option<ffmpeg_next::frame::Video> {
    let mut f = ffmpeg_next::frame::Video::new(ffmpeg_next::format::Pixel::YUV420P, width, height);
    let mut at = 0;
    for plane in 0..3 {
        let (w, h) = if plane == 0 {
            (width as usize, height as usize)
        } else {
            (width.div_ceil(2) as usize, height.div_ceil(2) as usize)
        };
        let stride = f.stride(plane);
        let data = f.data_mut(plane);
        for row in 0..h {
            let src = bytes.get(at..at + w)?;
            data[row * stride..row * stride + w].copy_from_slice(src);
            at += w;
        }
    }
    (at == bytes.len()).then_some(f)
}

/// Why a copy cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("no copy yet")]
    Missing,
    #[error("the sidecar cannot be read: {0}")]
    Sidecar(String),
    #[error("made by another version of the sidecar format ({0})")]
    Version(u32),
    #[error("the source file changed since the copy was made ({0})")]
    Stale(&'static str),
    #[error("made with other settings (its {0} differ from the live encoder's)")]
    Settings(&'static str),
    #[error("the copy is {found} bytes, the sidecar says {want}: truncated or replaced")]
    Size { found: u64, want: u64 },
    #[error("the copy's content does not match its hash: corrupt")]
    Corrupt,
}

impl Unusable {
    /// The `reason` label of `playout_conform_cache_misses_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Unusable::Missing => "missing",
            Unusable::Stale(_) => "stale",
            Unusable::Version(_) | Unusable::Settings(_) => "settings",
            Unusable::Sidecar(_) | Unusable::Size { .. } | Unusable::Corrupt => "damaged",
        }
    }
}

/// Marks the copy `key` as played now: the sidecar's modification time is the copy's last
/// use, by which `prepare.max_size` removes the least recently played.
pub fn touch(dir: &Path, key: &str) {
    let side = sidecar_path(dir, key);
    if let Ok(f) = fs::File::options().append(true).open(&side) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

/// The sidecar of the copy `key` in `dir`, if the copy is whole and was made for a source
/// with this identity and for these parameter sets. `content` reads the copy's hash too
/// (every byte); without it the size is checked.
pub fn verify(
    dir: &Path,
    key: &str,
    source: &SourceId,
    video_extradata: &[u8],
    audio_extradata: &[u8],
    content: bool,
) -> Result<Sidecar, Unusable> {
    let side = sidecar_path(dir, key);
    let text = match fs::read_to_string(&side) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Unusable::Missing),
        Err(e) => return Err(Unusable::Sidecar(e.to_string())),
    };
    let s: Sidecar = serde_json::from_str(&text).map_err(|e| Unusable::Sidecar(e.to_string()))?;
    if s.version != SIDECAR_VERSION {
        return Err(Unusable::Version(s.version));
    }
    if s.source.size != source.size || s.source.mtime_ns != source.mtime_ns {
        return Err(Unusable::Stale("size or modification time"));
    }
    if !source.hash.is_empty() && s.source.hash != source.hash {
        return Err(Unusable::Stale("content"));
    }
    if s.video_extradata != hex(video_extradata) {
        return Err(Unusable::Settings("H.264 parameter sets"));
    }
    if s.audio_extradata != hex(audio_extradata) {
        return Err(Unusable::Settings("AAC configuration"));
    }
    let copy = copy_path(dir, key);
    let found = fs::metadata(&copy).map_err(|_| Unusable::Missing)?.len();
    if found != s.bytes {
        return Err(Unusable::Size {
            found,
            want: s.bytes,
        });
    }
    if !last_picture_path(dir, key).exists() {
        return Err(Unusable::Missing);
    }
    if content && hash_file(&copy).map_err(|e| Unusable::Sidecar(e.to_string()))? != s.hash {
        return Err(Unusable::Corrupt);
    }
    Ok(s)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
