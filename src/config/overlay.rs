//! The `overlay` (logo) and `text` (lower third) sections of the channel file.

use std::path::Path;

use super::values::Text;
use super::{Corner, OverlaySettings, Problems, TextSettings, VideoFormat};
use crate::config::resolve;
use serde::Deserialize;

use crate::time::Micros;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "overlay settings: a mapping with image and optionally position, margin, \
                 opacity and scale"
)]
pub(super) struct OverlayFile {
    image: Text<4096>,
    position: Option<Text<16>>,
    margin: Option<u64>,
    opacity: Option<f64>,
    scale: Option<f64>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "text settings: a mapping with template and optionally position, from and for"
)]
pub(super) struct TextFile {
    template: Text<200>,
    position: Option<Text<16>>,
    from: Option<Micros>,
    #[serde(rename = "for")]
    for_: Option<Micros>,
}

fn corner(raw: Option<&Text<16>>, field: &str, default: Corner, p: &mut Problems) -> Corner {
    match raw.map(|t| t.0.as_str()) {
        None => default,
        Some(name) => match Corner::NAMES.iter().find(|(n, _)| *n == name) {
            Some((_, c)) => *c,
            None => {
                p.add(
                    field,
                    format!("{name:?} is not a position (expected top-left, top-right, bottom-left or bottom-right)"),
                );
                default
            }
        },
    }
}

pub(super) fn validate_text(raw: TextFile, p: &mut Problems) -> TextSettings {
    let template = raw.template.0;
    if template.trim().is_empty() {
        p.add(
            "text.template",
            "the template is empty (expected e.g. \"{title}\")",
        );
    } else if template.chars().any(char::is_control) {
        p.add(
            "text.template",
            "the template contains a control character (expected one line of text)",
        );
    }
    let from = raw.from.unwrap_or(Micros::from_secs(5));
    let duration = raw.for_.unwrap_or(Micros::from_secs(8));
    if from < Micros::ZERO || from > Micros::from_secs(3600) {
        p.add(
            "text.from",
            format!("{from} is out of range (expected 0s..=1h)"),
        );
    }
    if duration <= Micros::ZERO || duration > Micros::from_secs(3600) {
        p.add(
            "text.for",
            format!("{duration} is out of range (expected more than 0s, at most 1h)"),
        );
    }
    TextSettings {
        template,
        position: corner(
            raw.position.as_ref(),
            "text.position",
            Corner::BottomLeft,
            p,
        ),
        from,
        duration,
    }
}

/// The logo must be an image libav reads, no larger than the frame, and fit once scaled.
pub(super) fn validate_overlay(
    raw: OverlayFile,
    channel_file: &Path,
    video: &VideoFormat,
    p: &mut Problems,
) -> Option<OverlaySettings> {
    let position = corner(
        raw.position.as_ref(),
        "overlay.position",
        Corner::TopRight,
        p,
    );
    let margin = raw.margin.unwrap_or(24);
    if margin > 1000 {
        p.add(
            "overlay.margin",
            format!("{margin} is out of range (expected 0..=1000 pixels)"),
        );
    }
    let opacity = raw.opacity.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&opacity) {
        p.add(
            "overlay.opacity",
            format!("{opacity} is out of range (expected 0..=1)"),
        );
    }
    let scale = raw.scale.unwrap_or(0.12);
    if !(0.01..=1.0).contains(&scale) {
        p.add(
            "overlay.scale",
            format!("{scale} is out of range (expected 0.01..=1, the logo's width as a fraction of the frame's)"),
        );
    }
    let still = still_image(
        &raw.image.0,
        channel_file,
        ("overlay.image", "a PNG file"),
        p,
    )?;
    let (image, (w, h), meta) = (still.path, still.size, still.meta);
    let shown = image.display();
    if w > video.width || h > video.height {
        p.add(
            "overlay.image",
            format!(
                "{shown} is {w}x{h}, larger than the {}x{} frame (expected a logo that fits)",
                video.width, video.height
            ),
        );
        return None;
    }
    let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
    let width = even(video.width as f64 * scale.clamp(0.01, 1.0));
    let height = even(width as f64 * h as f64 / w as f64);
    if height + 2 * margin.min(1000) as u32 > video.height
        || width + 2 * margin.min(1000) as u32 > video.width
    {
        p.add(
            "overlay.scale",
            format!(
                "at {scale} the logo is {width}x{height}, which with a margin of {margin} does not fit the {}x{} frame",
                video.width, video.height
            ),
        );
    }
    Some(OverlaySettings {
        image,
        position,
        margin: margin.min(1000) as u32,
        opacity_milli: (opacity.clamp(0.0, 1.0) * 1000.0).round() as u32,
        scale_milli: (scale.clamp(0.01, 1.0) * 1000.0).round() as u32,
        width,
        height,
        stamp: (meta.len(), meta.modified().ok()),
    })
}

/// A still picture named in the channel file, checked: the file, resolved against the
/// channel file's folder, its size and its stamp.
pub(super) struct Still {
    pub path: std::path::PathBuf,
    pub size: (u32, u32),
    pub meta: std::fs::Metadata,
}

/// Checks the still picture at `raw` (for `place`, expecting `what`): it exists, is a file,
/// and libav reads one picture from it. Each failure is added to `p` with the place named.
pub(super) fn still_image(
    raw: &str,
    channel_file: &Path,
    (place, what): (&str, &str),
    p: &mut Problems,
) -> Option<Still> {
    if raw.trim().is_empty() {
        p.add(place, format!("the path is empty (expected {what})"));
        return None;
    }
    let image = resolve(channel_file, raw);
    let shown = image.display();
    let meta = match std::fs::metadata(&image) {
        Ok(m) if m.is_file() => m,
        Ok(_) => {
            p.add(place, format!("{shown} is not a file (expected {what})"));
            return None;
        }
        Err(e) => {
            p.add(
                place,
                format!("{shown} cannot be read: {e} (expected {what})"),
            );
            return None;
        }
    };
    // A check has no channel, so no quarantine: the picture is opened whatever it did before.
    let none = crate::quarantine::Quarantine::none();
    let info = match crate::pipeline::open::probe_info(&image, &none) {
        Ok(i) => i,
        Err(e) => {
            p.add(
                place,
                format!("{shown} is not an image: {} (expected {what})", e.detail),
            );
            return None;
        }
    };
    let Some(v) = info.video.as_ref().filter(|_| info.still) else {
        p.add(
            place,
            format!("{shown} is not a still image (expected {what})"),
        );
        return None;
    };
    if v.width == 0 || v.height == 0 {
        p.add(place, format!("{shown} is not an image libav can read: it finds no picture in it (expected {what})"));
        return None;
    }
    Some(Still {
        size: (v.width, v.height),
        path: image,
        meta,
    })
}
