//! Validation of a parsed playlist file: the private `*File` structs serde fills (unknown
//! fields rejected) become the immutable `Playlist`, with every problem named by its place.

use std::path::Path;

use serde::Deserialize;

use super::{
    parse_when, EventItem, Item, LiveItem, MediaItem, Playlist, SlateItem, TakesEffect, MAX_ITEMS,
    MAX_TITLE_CHARS,
};
use crate::config::values::{List, Text};
use crate::config::{absolute, resolve, ConfigError, Problems, MAX_SPAN};
use crate::time::Micros;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a playlist file: a mapping with items and optionally events and takes_effect"
)]
pub(super) struct PlaylistFile {
    items: Option<List<ItemFile, MAX_ITEMS>>,
    events: Option<List<EventFile, MAX_ITEMS>>,
    takes_effect: Option<TakesEffectFile>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "takes_effect: a mapping with at (RFC 3339) and item (an item's index from 0)"
)]
struct TakesEffectFile {
    at: Text<64>,
    item: u64,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an event: a mapping with `at` and `path` (or `slate`, or `live: true` with \
                 `duration`), and optionally title, in, out, duration, gain_db, loudness and \
                 overlay"
)]
struct EventFile {
    at: Text<64>,
    live: Option<bool>,
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

pub(super) fn validate(raw: PlaylistFile, file: &Path) -> Result<Playlist, Vec<ConfigError>> {
    let mut p = Problems::new(file);
    let abs = absolute(file);
    let raw_items = raw.items.map(|l| l.0).unwrap_or_default();
    let raw_events = raw.events.map(|l| l.0).unwrap_or_default();
    let raw_items_len = raw_items.len();
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
    let takes_effect = raw.takes_effect.and_then(|t| {
        let at = crate::schedule::parse_instant(&t.at.0);
        if at.is_none() {
            p.add(
                "takes_effect.at",
                format!(
                    "{:?} is not an instant (expected RFC 3339 with an offset)",
                    t.at.0.chars().take(64).collect::<String>()
                ),
            );
        }
        let n = raw_items_len;
        if t.item as usize >= n.max(1) {
            p.add(
                "takes_effect.item",
                format!(
                    "{} is not an item (the playlist has {n}, numbered from 0)",
                    t.item
                ),
            );
            return None;
        }
        at.map(|at| TakesEffect {
            at,
            item: t.item as usize,
        })
    });
    p.finish(Playlist {
        file: abs,
        items,
        events,
        takes_effect,
    })
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
    if raw.live == Some(true) {
        let item = validate_live(raw, at, p);
        return when.zip(item).map(|(at, item)| EventItem { at, item });
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

/// `live: true`: the live input for `duration`, with an optional title and nothing else.
fn validate_live(raw: EventFile, at: &str, p: &mut Problems) -> Option<Item> {
    let title = check_title(raw.title, at, p);
    let fields = [
        ("path", raw.path.is_some()),
        ("slate", raw.slate.is_some()),
        ("in", raw.in_point.is_some()),
        ("out", raw.out.is_some()),
        ("gain_db", raw.gain_db.is_some()),
        ("loudness", raw.loudness.is_some()),
        ("overlay", raw.overlay.is_some()),
    ];
    not_taken(p, at, &fields, |field| {
        format!(
            "a live event takes no `{field}` (expected `at`, `live: true`, `duration` and \
             optionally `title`: the live input plays for `duration`)"
        )
    });
    let Some(duration) = raw.duration else {
        p.add(
            at,
            "the live event has no `duration` (expected how long the live input has the \
             channel, such as `duration: 1h`)",
        );
        return None;
    };
    check_span(p, &format!("{at}.duration"), duration, true);
    Some(Item::Live(LiveItem {
        duration,
        title: title.unwrap_or_else(|| "Live".to_string()),
    }))
}

/// Each of `fields` that was given, when this kind of entry takes none of them: a problem
/// at its place, saying `why`.
fn not_taken(p: &mut Problems, at: &str, fields: &[(&str, bool)], why: impl Fn(&str) -> String) {
    for (field, _) in fields.iter().filter(|(_, given)| *given) {
        p.add(format!("{at}.{field}"), why(field));
    }
}

/// A title as given, checked: one line of 1..=200 characters.
fn check_title(title: Option<Text<MAX_TITLE_CHARS>>, at: &str, p: &mut Problems) -> Option<String> {
    let title = title.map(|t| t.0);
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
    title
}

fn validate_item(raw: ItemFile, at: &str, playlist: &Path, p: &mut Problems) -> Option<Item> {
    let title = check_title(raw.title, at, p);
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
            not_taken(p, at, &fields, |field| {
                format!(
                    "a slate item takes no `{field}` (expected only `slate` and `title`; \
                     `slate` is its duration)"
                )
            });
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

#[cfg(test)]
#[path = "live_tests.rs"]
mod live_tests;
