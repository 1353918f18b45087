//! `playout probe FILE --channel CHANNEL`: whether each item of the playlist made from the
//! file will pass through from its conformed copy, and if not, why not.

use std::path::Path;

use super::Unusable;
use crate::config::ChannelConfig;
use crate::pipeline::passthrough::Passthrough;
use crate::pipeline::ChannelFormat;
use crate::playlist::Playlist;

/// The lines `probe` prints for `file` on `channel`, whose playlist is `playlist`.
pub fn lines(channel: &ChannelConfig, playlist: &Playlist, file: &Path) -> Vec<String> {
    let Some(settings) = &channel.prepare else {
        return vec!["  pass-through: off (the channel file says prepare: false)".into()];
    };
    if !settings.enabled {
        return vec!["  pass-through: off (prepare.enabled is false)".into()];
    }
    let same = |p: &Path| {
        p == file || matches!((p.canonicalize(), file.canonicalize()), (Ok(a), Ok(b)) if a == b)
    };
    let items: Vec<_> = super::prepare::media_of(playlist)
        .into_iter()
        .filter(|m| same(&m.path))
        .collect();
    if items.is_empty() {
        return vec![format!(
            "  pass-through: the file is not an item of {}",
            playlist.file.display()
        )];
    }
    let fmt = ChannelFormat::of(channel);
    let params = match crate::pipeline::encode::open(&fmt, &channel.video, &channel.audio) {
        Ok((_, params)) => params,
        Err(e) => return vec![format!("  pass-through: cannot open the encoders: {e}")],
    };
    let pt = Passthrough {
        dir: super::cache_dir(channel),
        channel: channel.clone(),
        video_extradata: crate::libav::extradata(&params.video),
        audio_extradata: crate::libav::extradata(&params.audio),
        video_delay: params.video_delay,
        preparer: None,
        hashed: Default::default(),
    };
    let meter = super::detached_meter(channel);
    items
        .iter()
        .map(|m| {
            let gain = meter.as_ref().and_then(|mt| mt.gain(m).1);
            let unmeasured = meter.as_ref().is_some_and(|mt| mt.lookup(m).is_none());
            let what = match pt.find(m, gain.as_deref()) {
                Ok((path, s)) => format!(
                    "will pass through from its first frame ({} frames from {}; an airing \
                     joined part way is encoded)",
                    s.frames,
                    path.display()
                ),
                Err(why) => {
                    let fix = match why {
                        Unusable::Missing | Unusable::Stale(_) if unmeasured => {
                            "its loudness is not measured yet; `run` measures it, then makes the copy"
                        }
                        _ if settings.background => {
                            "`run` makes it in the background, or `playout prepare` now"
                        }
                        _ => "`playout prepare` makes it (prepare.background is false)",
                    };
                    format!("will be encoded: {why}; {fix}")
                }
            };
            format!("  pass-through as {:?}: {what}", m.title)
        })
        .collect()
}
