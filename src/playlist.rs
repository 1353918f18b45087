//! The playlist file: the rotation of media and slate items the channel loops forever.
//!
//! Like the channel file it is deserialized into private `*File` structs (unknown fields
//! rejected, forms checked with line and column), then validated into an immutable
//! `Playlist` that the scheduler resolves against wall time. Media paths are resolved here,
//! against the playlist's folder, but not opened: a file may be uploaded after the playlist.
//! `check` holds `check_file`, which validates either kind of file for `playout check`.

mod check;
pub mod edit;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::values::{List, Text};
use crate::config::{absolute, first, resolve, yaml, ConfigError, Problems, MAX_SPAN};
use crate::schedule::{parse_instant, When};
use crate::time::Micros;

pub use check::check_file;

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
}

/// A programme at a fixed time: a media file, or a slate for a set time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventItem {
    pub at: When,
    pub item: Item,
}

impl EventItem {
    pub fn media(&self) -> Option<&MediaItem> {
        match &self.item {
            Item::Media(m) => Some(m),
            Item::Slate(_) => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Media(MediaItem),
    Slate(SlateItem),
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

impl Item {
    pub fn title(&self) -> &str {
        match self {
            Item::Media(m) => &m.title,
            Item::Slate(s) => &s.title,
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
    match yaml::parse::<PlaylistFile>(text, file) {
        Ok(Some(raw)) => validate(raw, file),
        Ok(None) => Err(vec![ConfigError::new(
            file,
            "",
            "the file is empty (expected a playlist: a mapping with `items`)",
        )]),
        Err(e) => Err(vec![e]),
    }
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a playlist file: a mapping with items and optionally events"
)]
struct PlaylistFile {
    items: Option<List<ItemFile, MAX_ITEMS>>,
    events: Option<List<EventFile, MAX_ITEMS>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an event: a mapping with `at` and `path` (or `slate`), and optionally title, \
                 in, out, duration, gain_db, loudness and overlay"
)]
struct EventFile {
    at: Text<64>,
    path: Option<Text<4096>>,
    slate: Option<Micros>,
    title: Option<Text<MAX_TITLE_CHARS>>,
    #[serde(rename = "in")]
    in_point: Option<Micros>,
    out: Option<Micros>,
    duration: Option<Micros>,
    gain_db: Option<f64>,
    loudness: Option<bool>,
    overlay: Option<bool>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a playlist item: a mapping with `path` (media) or `slate` (filler)"
)]
struct ItemFile {
    path: Option<Text<4096>>,
    slate: Option<Micros>,
    title: Option<Text<MAX_TITLE_CHARS>>,
    #[serde(rename = "in")]
    in_point: Option<Micros>,
    out: Option<Micros>,
    duration: Option<Micros>,
    gain_db: Option<f64>,
    loudness: Option<bool>,
    overlay: Option<bool>,
}

fn validate(raw: PlaylistFile, file: &Path) -> Result<Playlist, Vec<ConfigError>> {
    let mut p = Problems::new(file);
    let abs = absolute(file);
    let raw_items = raw.items.map(|l| l.0).unwrap_or_default();
    let raw_events = raw.events.map(|l| l.0).unwrap_or_default();
    if raw_items.is_empty() && raw_events.is_empty() {
        p.add(
            "items",
            "there are no items and no events (expected a list of at least one item, or events)",
        );
    }
    let items = raw_items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| validate_item(item, &format!("items[{i}]"), &abs, &mut p))
        .collect();
    let events = raw_events
        .into_iter()
        .enumerate()
        .filter_map(|(i, e)| validate_event(e, &format!("events[{i}]"), &abs, &mut p))
        .collect();
    p.finish(Playlist {
        file: abs,
        items,
        events,
    })
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

fn validate_event(
    raw: EventFile,
    at: &str,
    playlist: &Path,
    p: &mut Problems,
) -> Option<EventItem> {
    let when = parse_when(&raw.at.0);
    if when.is_none() {
        p.add(
            format!("{at}.at"),
            format!(
                "{:?} is not a time (expected HH:MM:SS, daily in the channel's time zone, or \
                 an RFC 3339 instant such as 2026-12-24T20:00:00+01:00)",
                raw.at.0
            ),
        );
    }
    let item = ItemFile {
        path: raw.path,
        slate: raw.slate,
        title: raw.title,
        in_point: raw.in_point,
        out: raw.out,
        duration: raw.duration,
        gain_db: raw.gain_db,
        loudness: raw.loudness,
        overlay: raw.overlay,
    };
    match (when, validate_item(item, at, playlist, p)) {
        (Some(at), Some(item)) => Some(EventItem { at, item }),
        _ => None,
    }
}

fn validate_item(raw: ItemFile, at: &str, playlist: &Path, p: &mut Problems) -> Option<Item> {
    let title = raw.title.map(|t| t.0);
    if let Some(t) = &title {
        if t.trim().is_empty() {
            p.add(
                format!("{at}.title"),
                "the title is empty (expected 1..=200 characters)",
            );
        } else if t.chars().any(char::is_control) {
            p.add(
                format!("{at}.title"),
                "the title contains a control character (expected one line of text)",
            );
        }
    }
    match (raw.path, raw.slate) {
        (Some(_), Some(_)) => {
            p.add(
                at,
                "the item has both `path` and `slate` (expected one: `path` for media, \
                 `slate` for filler)",
            );
            None
        }
        (None, None) => {
            p.add(
                at,
                "the item has neither `path` nor `slate` (expected `path: FILE` for media or \
                 `slate: DURATION` for filler)",
            );
            None
        }
        (None, Some(duration)) => {
            let fields = [
                ("in", raw.in_point.is_some()),
                ("out", raw.out.is_some()),
                ("duration", raw.duration.is_some()),
                ("gain_db", raw.gain_db.is_some()),
                ("loudness", raw.loudness.is_some()),
                ("overlay", raw.overlay.is_some()),
            ];
            for (field, _) in fields.iter().filter(|(_, given)| *given) {
                p.add(
                    format!("{at}.{field}"),
                    format!(
                        "a slate item takes no `{field}` (expected only `slate` and `title`; \
                         `slate` is its duration)"
                    ),
                );
            }
            check_span(p, &format!("{at}.slate"), duration, true);
            Some(Item::Slate(SlateItem {
                duration,
                title: title.unwrap_or_else(|| "Slate".to_string()),
            }))
        }
        (Some(Text(path)), None) => {
            if path.is_empty() {
                p.add(
                    format!("{at}.path"),
                    "the path is empty (expected a media file's path)",
                );
            }
            let in_point = raw.in_point.unwrap_or(Micros::ZERO);
            check_span(p, &format!("{at}.in"), in_point, false);
            if let Some(out) = raw.out {
                if out <= in_point {
                    p.add(
                        format!("{at}.out"),
                        format!("{out} is not after in {in_point} (expected out > in)"),
                    );
                } else {
                    check_span(p, &format!("{at}.out"), out, true);
                }
            }
            if let Some(d) = raw.duration {
                check_span(p, &format!("{at}.duration"), d, true);
            }
            if let Some(g) = raw.gain_db {
                if !(-30.0..=30.0).contains(&g) {
                    p.add(
                        format!("{at}.gain_db"),
                        format!("{g} is out of range (expected -30..=30 dB)"),
                    );
                }
            }
            let title = title.unwrap_or_else(|| default_title(&path));
            Some(Item::Media(MediaItem {
                path: resolve(playlist, &path),
                title,
                in_point,
                out_point: raw.out,
                duration: raw.duration,
                gain_mdb: raw
                    .gain_db
                    .map(|g| (g.clamp(-30.0, 30.0) * 1000.0).round() as i32),
                loudness: raw.loudness.unwrap_or(true),
                overlay: raw.overlay.unwrap_or(true),
            }))
        }
    }
}

fn check_span(p: &mut Problems, place: &str, v: Micros, positive: bool) {
    if v < Micros::ZERO || (positive && v == Micros::ZERO) {
        let bound = if positive {
            "more than 0s"
        } else {
            "0s or more"
        };
        p.add(
            place,
            format!("{v} is out of range (expected {bound}, at most 24h)"),
        );
    } else if v > MAX_SPAN {
        p.add(place, format!("{v} is too long (expected at most 24h)"));
    }
}

fn default_title(path: &str) -> String {
    let stem = Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| path.to_string());
    stem.chars()
        .filter(|c| !c.is_control())
        .take(MAX_TITLE_CHARS)
        .collect()
}
