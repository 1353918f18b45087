//! The playlist file: the rotation of media and slate items the channel loops forever.
//!
//! Like the channel file it is deserialized into private `*File` structs (unknown fields
//! rejected, forms checked with line and column), then validated into an immutable
//! `Playlist` that the scheduler resolves against wall time. Media paths are resolved here,
//! against the playlist's folder, but not opened: a file may be uploaded after the playlist.
//! `check` holds `check_file`, which validates either kind of file for `playout check`.

mod check;
pub mod edit;
mod validate;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use crate::config::{first, yaml, ConfigError};
use crate::schedule::{parse_instant, When};
use crate::time::Micros;

pub use check::{check_file, check_files, live_without_input};

/// More than any hand-kept rotation; the cap bounds what aliases can make a file expand to.
pub const MAX_ITEMS: usize = 10_000;
/// Titles appear in the EPG and the now-playing API.
pub const MAX_TITLE_CHARS: usize = 200;

/// A validated playlist: at least one item or one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Playlist {
    /// The playlist file, made absolute.
    pub file: PathBuf,
    pub items: Vec<Item>,
    /// Fixed-time programmes; they interrupt the rotation at their time.
    pub events: Vec<EventItem>,
    /// With the channel's `anchor` (lockstep): from `at`, the rotation goes on from item
    /// `item`. The control API stamps it with each edit and skip, so that every instance
    /// sharing the file switches at the same frame, one started later included.
    pub takes_effect: Option<TakesEffect>,
}

/// `takes_effect: { at: RFC3339, item: N }` of a playlist file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TakesEffect {
    pub at: crate::time::Micros,
    /// A playlist item's index (from 0).
    pub item: usize,
}

/// A programme at a fixed time: a media file, a slate for a set time, or the live input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventItem {
    pub at: When,
    pub item: Item,
}

impl EventItem {
    pub fn media(&self) -> Option<&MediaItem> {
        match &self.item {
            Item::Media(m) => Some(m),
            Item::Slate(_) | Item::Live(_) => None,
        }
    }

    /// The live event's settings, if this event names the live input.
    pub fn live(&self) -> Option<&LiveItem> {
        match &self.item {
            Item::Live(l) => Some(l),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Media(MediaItem),
    Slate(SlateItem),
    /// `live: true`: the live input, for `duration`. Only an event can be one.
    Live(LiveItem),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaItem {
    /// Resolved against the playlist's folder; may not exist (yet).
    pub path: PathBuf,
    /// As given, or the file stem (cut to 200 characters).
    pub title: String,
    /// Where to start in the file; 0 when not given.
    pub in_point: Micros,
    /// Where to stop in the file; after `in_point`.
    pub out_point: Option<Micros>,
    /// How long to play (mainly for still images). With `out_point`, the shorter wins.
    pub duration: Option<Micros>,
    /// `gain_db`, in thousandths of a dB: replaces the measured gain of `audio.loudness`.
    pub gain_mdb: Option<i32>,
    /// `loudness: false` opts the item out of `audio.loudness`.
    pub loudness: bool,
    /// `overlay: false`: no logo over this item.
    pub overlay: bool,
}

impl MediaItem {
    /// The whole of the file at `path`, titled `title`, with every option at its default
    /// (as a playlist entry with only `path` and `title`).
    pub fn whole(path: impl Into<PathBuf>, title: &str) -> MediaItem {
        MediaItem {
            path: path.into(),
            title: title.into(),
            in_point: Micros::ZERO,
            out_point: None,
            duration: None,
            gain_mdb: None,
            loudness: true,
            overlay: true,
        }
    }

    /// How long this item plays when the file is at least that long: the shorter of
    /// `out - in` and `duration`. `None` means "to the end of the file".
    pub fn play_length(&self) -> Option<Micros> {
        let cut = self.out_point.map(|out| out - self.in_point);
        match (cut, self.duration) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlateItem {
    /// More than 0, at most 24 h.
    pub duration: Micros,
    /// As given, or "Slate".
    pub title: String,
}

/// A live event: the channel waits for the live input's publisher (a "starting soon" slate
/// with the title) and plays it for `duration` from the event's time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveItem {
    /// More than 0, at most 24 h.
    pub duration: Micros,
    /// As given, or "Live".
    pub title: String,
}

impl Item {
    pub fn title(&self) -> &str {
        match self {
            Item::Media(m) => &m.title,
            Item::Slate(s) => &s.title,
            Item::Live(l) => &l.title,
        }
    }
}

impl Playlist {
    pub fn load(path: &Path) -> Result<Playlist, ConfigError> {
        let text = yaml::read(path)?;
        Self::parse(&text, path)
    }

    /// The playlist that the channel file `channel_file` names: one that cannot be read is
    /// reported under the channel file's name, at `playlist`, as well as its own.
    pub fn load_named(path: &Path, channel_file: &Path) -> Result<Playlist, ConfigError> {
        let text = yaml::read_named(path, channel_file, "playlist")?;
        Self::parse(&text, path)
    }

    /// Parses playlist YAML as if read from `file`: relative media paths resolve against
    /// `file`'s folder, and errors name `file`.
    pub fn parse(text: &str, file: &Path) -> Result<Playlist, ConfigError> {
        parse_all(text, file).map_err(|e| first(e, file))
    }
}

/// Every error of the file, for `check`.
pub(crate) fn parse_all(text: &str, file: &Path) -> Result<Playlist, Vec<ConfigError>> {
    match yaml::parse::<validate::PlaylistFile>(text, file) {
        Ok(Some(raw)) => validate::validate(raw, file),
        Ok(None) => Err(vec![ConfigError::new(
            file,
            "",
            "the file is empty (expected a playlist: a mapping with `items`)",
        )]),
        Err(e) => Err(vec![e]),
    }
}

/// `HH:MM[:SS]` is daily in the channel's zone; anything else must be an RFC 3339 instant.
pub fn parse_when(s: &str) -> Option<When> {
    let t = s.trim();
    if let Some(i) = parse_instant(t) {
        return Some(When::Once(i));
    }
    ["%H:%M:%S", "%H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveTime::parse_from_str(t, f).ok())
        .map(When::Daily)
}
