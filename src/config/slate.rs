//! The `slate` section of the channel file: the generated slate's text and background, how
//! long it stands in for an item that fails, and the operator's own picture or clip.

use std::path::Path;

use serde::Deserialize;

use super::values::{clip, parse_colour, present_or_null, Text};
use super::{Problems, SlateMedia, SlateSettings};
use crate::time::Micros;

#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "slate settings: a mapping with text, background, failure_duration, and image or clip"
)]
pub(super) struct SlateFile {
    text: Option<Text<500>>,
    image: Option<Text<4096>>,
    clip: Option<Text<4096>>,
    #[serde(default, deserialize_with = "present_or_null")]
    background: Option<Option<Text<64>>>,
    failure_duration: Option<Micros>,
}

pub(super) fn validate_slate(
    raw: SlateFile,
    channel_file: &Path,
    p: &mut Problems,
) -> SlateSettings {
    let d = SlateSettings::default();
    let text_given = raw.text.is_some();
    let text = raw.text.map_or(d.text, |t| t.0);
    let image = raw.image.and_then(|i| {
        let what = ("slate.image", "a PNG or JPEG file");
        super::overlay::still_image(&i.0, channel_file, what, p).map(|s| SlateMedia {
            path: s.path,
            stamp: (s.meta.len(), s.meta.modified().ok()),
        })
    });
    let looped = raw.clip.and_then(|c| slate_clip(&c.0, channel_file, p));
    if image.is_some() && looped.is_some() {
        p.add(
            "slate",
            "both image and clip are given (expected one of them: a picture, or a clip looped)",
        );
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        p.add(
            "slate.text",
            "the text contains a control character (expected printable text and line breaks)",
        );
    }
    let background = match raw.background {
        None => d.background,
        Some(None) => {
            p.add(
                "slate.background",
                "no colour given (expected \"#rrggbb\" in quotes: an unquoted # starts a YAML \
                 comment)",
            );
            d.background
        }
        Some(Some(t)) => parse_colour(&t.0).unwrap_or_else(|| {
            p.add(
                "slate.background",
                format!(
                    "{:?} is not a colour (expected \"#rrggbb\" in quotes, e.g. \"#1a1a2e\")",
                    clip(&t.0)
                ),
            );
            d.background
        }),
    };
    let failure_duration = raw.failure_duration.unwrap_or(d.failure_duration);
    if !(Micros::ZERO..=Micros::from_secs(60)).contains(&failure_duration) {
        p.add(
            "slate.failure_duration",
            format!("{failure_duration} is out of range (expected 0s..=60s)"),
        );
    }
    SlateSettings {
        text,
        background,
        failure_duration,
        image,
        clip: looped,
        text_given,
    }
}

/// `slate.clip`: a media file with video, checked as the source would open it.
fn slate_clip(raw: &str, channel_file: &Path, p: &mut Problems) -> Option<SlateMedia> {
    const WHAT: &str = "a video file, looped while slate plays";
    if raw.trim().is_empty() {
        p.add("slate.clip", format!("the path is empty (expected {WHAT})"));
        return None;
    }
    let path = super::resolve(channel_file, raw);
    let shown = path.display();
    let meta = match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => m,
        Ok(_) => {
            p.add(
                "slate.clip",
                format!("{shown} is not a file (expected {WHAT})"),
            );
            return None;
        }
        Err(e) => {
            p.add(
                "slate.clip",
                format!("{shown} cannot be read: {e} (expected {WHAT})"),
            );
            return None;
        }
    };
    // A check has no channel, so no quarantine: the clip is opened whatever it did before.
    let none = crate::quarantine::Quarantine::none();
    match crate::pipeline::open::probe_info(&path, &none) {
        Err(e) => {
            p.add(
                "slate.clip",
                format!("{shown} is not media: {} (expected {WHAT})", e.detail),
            );
            None
        }
        Ok(i) if i.video.is_none() || i.still => {
            p.add(
                "slate.clip",
                format!("{shown} has no video (expected {WHAT})"),
            );
            None
        }
        Ok(_) => Some(SlateMedia {
            path,
            stamp: (meta.len(), meta.modified().ok()),
        }),
    }
}
