//! `playout probe`: what a file holds and what the channel will do with it, in words.

use std::fmt::Write;
use std::path::Path;

use crate::pipeline::normalise::{audio_chain, plan, video_chain, VideoSource};
use crate::pipeline::open::open;
use crate::pipeline::ChannelFormat;
use crate::quarantine::Quarantine;
use crate::time::Micros;

/// A report for one file; `Err` holds the report for a file that would be replaced by slate.
/// `playout probe`: the report on each of `media` against `channel`'s format (1280x720 at
/// 30 fps, 48 kHz stereo without one), and with a channel, whether each of its items made
/// from the file will pass through. The text, and whether every file can play.
pub fn report_all(
    media: &[std::path::PathBuf],
    channel: Option<(&crate::config::ChannelConfig, &crate::playlist::Playlist)>,
) -> (String, bool) {
    let fmt = match channel {
        Some((c, _)) => ChannelFormat::of(c),
        None => ChannelFormat {
            width: 1280,
            height: 720,
            fps: crate::time::Rational::new(30, 1),
            sample_rate: 48000,
            channels: 2,
        },
    };
    let (mut text, mut all_ok) = (String::new(), true);
    for m in media {
        // `playout probe` runs apart from the channel: it opens every file it is given.
        let (r, ok) = report(m, &fmt, &Quarantine::none());
        text.push_str(&r);
        all_ok &= ok;
        if let Some((c, p)) = channel {
            for line in crate::conform::probe::lines(c, p, m) {
                let _ = writeln!(text, "{line}");
            }
        }
    }
    (text, all_ok)
}

/// What `playout probe` says of one file, and whether it plays (else it is slated).
pub fn report(path: &Path, fmt: &ChannelFormat, q: &Quarantine) -> (String, bool) {
    let mut out = String::new();
    let _ = writeln!(out, "{}", path.display());
    match open(path, Micros::ZERO, q) {
        Err(e) => {
            let _ = writeln!(
                out,
                "  will be replaced by slate because {} ({})",
                e.detail,
                e.reason.label()
            );
            (out, false)
        }
        Ok(o) => {
            let i = &o.info;
            let _ = writeln!(
                out,
                "  container: {}, duration: {}",
                i.format,
                i.duration
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "unknown".into())
            );
            for s in &i.streams {
                let _ = writeln!(out, "  stream {s}");
            }
            let _ = writeln!(
                out,
                "  channel {}x{} {} fps, {} Hz {} ch will:",
                fmt.width,
                fmt.height,
                crate::pipeline::open::fps_text(fmt.fps),
                fmt.sample_rate,
                fmt.channels
            );
            for a in plan(i, fmt).actions {
                let _ = writeln!(out, "    - {a}");
            }
            // The libavfilter chains, as `ffmpeg -vf`/`-af` would take them (the channel builds
            // them again from each decoded frame, so a stream that changes shape still fits).
            if let Some(v) = &i.video {
                let src = VideoSource {
                    width: v.width,
                    height: v.height,
                    format: v
                        .pix_fmt
                        .parse()
                        .unwrap_or(ffmpeg_next::format::Pixel::None),
                    sar: v.sar,
                    time_base: crate::time::Rational::new(1, 90_000),
                    interlaced: v.interlaced,
                    rotation: v.rotation,
                };
                let _ = writeln!(out, "  video filters: {}", video_chain(&src, fmt));
            }
            if i.audio.is_some() {
                let _ = writeln!(out, "  audio filters: {}", audio_chain(fmt));
            }
            (out, true)
        }
    }
}

/// The same answer as `report`, as JSON for the control API: `playable`, and either what the
/// file holds and what the channel will do with it, or why it would play as slate.
pub fn facts(path: &Path, fmt: &ChannelFormat, q: &Quarantine) -> serde_json::Value {
    match open(path, Micros::ZERO, q) {
        Err(e) => serde_json::json!({
            "playable": false,
            "reason": e.reason.label(),
            "error": e.detail,
            "will": format!("be replaced by slate because {} ({})", e.detail, e.reason.label()),
        }),
        Ok(o) => {
            let i = &o.info;
            serde_json::json!({
                "playable": true,
                "container": i.format,
                "duration_seconds": i.duration.map(|d| d.as_secs_f64()),
                "still": i.still,
                "video": i.video.is_some(),
                "audio": i.audio.is_some(),
                "streams": i.streams,
                "actions": plan(i, fmt).actions,
            })
        }
    }
}
