//! The source thread: walks the rotation, opens each item ahead of time, decodes it,
//! normalises it and hands its frames to the splicer. Anything that cannot play becomes a
//! short slate, a log line naming the file and the reason, and a metric — never a stop.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender};
use ffmpeg_next as ff;

use super::item::{play, Outcome};
use super::open::{open, OpenError, Opened};
use super::splice::{Flow, Splicer};
use super::{ChannelFormat, Media};
use crate::metrics::Metrics;
use crate::playlist::{Item, MediaItem, Playlist};
use crate::time::{frames_in, Micros};

pub struct SourceSettings {
    pub fmt: ChannelFormat,
    pub playlist: Arc<Playlist>,
    pub slate: ff::frame::Video,
    pub failure_slate: Micros,
    /// Channel time after which the source ends the stream (`--for`).
    pub stop_after: Option<Micros>,
    /// Set by a signal: end the stream at the next frame.
    pub stop: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
}

/// Runs until `stop_after`, the stop flag, or the encoder going away.
pub fn run(s: SourceSettings, tx: Sender<Media>) {
    let stop_at = s.stop_after.map(|d| frames_in(d, s.fmt.fps));
    let mut splicer = Splicer::new(s.fmt.clone(), tx, stop_at);
    let mut next = 0usize;
    let mut prefetch: Option<Prefetch> = None;
    let mut barren = 0usize; // items in a row that put nothing on air
    let failure_frames = frames_in(s.failure_slate, s.fmt.fps).max(1);
    let mut last_stats = splicer.stats();
    loop {
        if s.stop.load(Ordering::Relaxed) || splicer.is_done() {
            break;
        }
        let items = &s.playlist.items;
        let item = &items[next % items.len()];
        next = (next + 1) % items.len();
        let start = splicer.position_frames();
        s.metrics.item_transitions_total.inc();
        let flow = match item {
            Item::Slate(sl) => {
                tracing::info!(item = %sl.title, duration = %sl.duration, "Slate started.");
                let frames = frames_in(sl.duration, s.fmt.fps);
                let f = splicer.fill(frames, &s.slate);
                s.metrics.add_slate_frames(frames, s.fmt.fps);
                f
            }
            Item::Media(m) => {
                let opened = match prefetch.take() {
                    Some(p) if p.path == m.path && p.in_point == m.in_point => p.take(),
                    _ => open(&m.path, m.in_point),
                };
                // Open the next media item while this one plays.
                prefetch =
                    next_media(items, next).map(|n| Prefetch::spawn(n.path.clone(), n.in_point));
                let outcome = match opened {
                    Ok(o) => play(o, m, &mut splicer, &s),
                    Err(e) => Outcome::Failed(e),
                };
                match outcome {
                    Outcome::Played => Flow::Continue,
                    Outcome::Stopped => Flow::Stop,
                    Outcome::Failed(e) => {
                        tracing::error!(file = %e.path.display(), reason = e.reason.label(), error = %e.detail, item = %m.title, "Item failed; playing slate.");
                        s.metrics
                            .item_failures_total
                            .with_label_values(&[e.reason.label()])
                            .inc();
                        splicer.end_item();
                        let f = splicer.fill(failure_frames, &s.slate);
                        s.metrics.add_slate_frames(failure_frames, s.fmt.fps);
                        f
                    }
                }
            }
        };
        let stats = splicer.stats();
        s.metrics
            .record_splice(&last_stats, &stats, s.fmt.sample_rate);
        last_stats = stats;
        if flow == Flow::Stop {
            break;
        }
        // A rotation in which nothing at all plays must still move the clock forward.
        if splicer.position_frames() == start {
            barren += 1;
            if barren >= items.len() {
                tracing::error!("No item of the rotation can play; holding slate.");
                splicer.fill(frames_in(Micros::from_secs(1), s.fmt.fps), &s.slate);
                barren = 0;
            }
        } else {
            barren = 0;
        }
    }
    splicer.finish();
    tracing::debug!(frames = splicer.position_frames(), "Source finished.");
}

fn next_media(items: &[Item], from: usize) -> Option<&MediaItem> {
    (0..items.len())
        .map(|k| &items[(from + k) % items.len()])
        .find_map(|i| match i {
            Item::Media(m) => Some(m),
            Item::Slate(_) => None,
        })
}

struct Prefetch {
    path: PathBuf,
    in_point: Micros,
    rx: Receiver<Result<Opened, OpenError>>,
}

impl Prefetch {
    fn spawn(path: PathBuf, in_point: Micros) -> Self {
        let (tx, rx) = bounded(1);
        let p = path.clone();
        let spawned = std::thread::Builder::new()
            .name("open-ahead".into())
            .spawn(move || {
                let _ = tx.send(open(&p, in_point));
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "Could not start the open-ahead thread.");
        }
        Prefetch { path, in_point, rx }
    }

    fn take(self) -> Result<Opened, OpenError> {
        match self.rx.recv() {
            Ok(r) => r,
            Err(_) => open(&self.path, self.in_point),
        }
    }
}
