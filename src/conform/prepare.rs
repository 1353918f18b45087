//! `playout prepare CHANNEL.yaml`: a conformed copy of every media item of the rotation and
//! every media event, one after another, each reported as it ends, then a summary. Items
//! whose copy is whole already are found, not made again; an item that cannot be made (a
//! missing file, one that fails to decode) is reported and skipped, and the others go on.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{cache_dir, make::make, ConformError, Sidecar};
use crate::config::ChannelConfig;
use crate::playlist::{Item, MediaItem, Playlist};
use crate::quarantine::Quarantine;

/// How one item went.
pub enum Done {
    /// Made now, in this long.
    Made(Sidecar, Duration),
    /// A whole copy was there already.
    Found(Sidecar),
    Failed(ConformError),
}

impl Done {
    /// How it went, for a line of `playout prepare`.
    pub fn describe(&self) -> String {
        match self {
            Done::Made(s, took) => {
                format!("made in {:.1} s ({} frames)", took.as_secs_f64(), s.frames)
            }
            Done::Found(s) => format!("already made ({} frames)", s.frames),
            Done::Failed(e) => format!("FAILED: {e}"),
        }
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    pub made: usize,
    pub found: usize,
    pub failed: usize,
    /// Seconds of channel time now in copies, and the wall time spent making them.
    pub copied_seconds: f64,
    pub making: Duration,
    pub folder: PathBuf,
}

impl Summary {
    /// `playout prepare`'s last line.
    pub fn describe(&self) -> String {
        format!(
            "{} made, {} already there, {} failed; {:.0} s of channel time in {}; making took \
             {:.1} s",
            self.made,
            self.found,
            self.failed,
            self.copied_seconds,
            self.folder.display(),
            self.making.as_secs_f64()
        )
    }
}

/// The media of the rotation and the events, each (path, cut) once.
pub fn media_of(p: &Playlist) -> Vec<MediaItem> {
    let mut out: Vec<MediaItem> = Vec::new();
    let all = p.items.iter().chain(p.events.iter().map(|e| &e.item));
    for m in all.filter_map(|i| match i {
        Item::Media(m) => Some(m),
        _ => None,
    }) {
        let same = |o: &MediaItem| {
            o.path == m.path
                && (o.in_point, o.out_point, o.duration) == (m.in_point, m.out_point, m.duration)
                && (o.overlay, o.loudness, o.gain_mdb) == (m.overlay, m.loudness, m.gain_mdb)
        };
        if !out.iter().any(same) {
            out.push(m.clone());
        }
    }
    out
}

/// Prepares every item of `playlist` for `channel`; `report` hears of each as it ends.
pub fn prepare(
    channel: &ChannelConfig,
    playlist: &Playlist,
    mut report: impl FnMut(usize, usize, &MediaItem, &Done),
) -> Summary {
    let folder = cache_dir(channel);
    let meter = super::detached_meter(channel);
    let items = media_of(playlist);
    let mut sum = Summary {
        folder: folder.clone(),
        ..Summary::default()
    };
    for (i, item) in items.iter().enumerate() {
        let t = Instant::now();
        let done = match make(
            channel,
            item,
            &folder,
            meter.as_ref(),
            None,
            &Quarantine::none(),
        ) {
            Ok((s, fresh)) => {
                sum.copied_seconds +=
                    s.frames as f64 * channel.video.fps.den as f64 / channel.video.fps.num as f64;
                if fresh {
                    sum.made += 1;
                    sum.making += t.elapsed();
                    Done::Made(s, t.elapsed())
                } else {
                    sum.found += 1;
                    Done::Found(s)
                }
            }
            Err(e) => {
                sum.failed += 1;
                Done::Failed(e)
            }
        };
        report(i + 1, items.len(), item, &done);
    }
    sum
}
