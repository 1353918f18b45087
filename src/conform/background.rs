//! `run` makes the copies that are missing itself (`prepare.background`, on by default): one
//! thread, at idle priority (SCHED_IDLE, so it only ever takes CPU the channel leaves
//! unused) with `prepare.threads` x264 threads, works through the playlist's items that have
//! no usable copy, one at a time, and keeps the folder under `prepare.max_size`.
//!
//! - It hears of the playlist as the source does (at every item start, and so after every
//!   reload) and looks again every minute, for copies deleted or damaged and sources changed.
//! - A copy the source found damaged at play time is made again first.
//! - What cannot be made is logged once: an item that fails to decode is not tried again
//!   until its file changes; a folder that cannot be written (a full disk) is said once and
//!   tried again every ten minutes, quietly, until a copy is written. The channel never waits
//!   for it and never sees it.
//! - Copies of changed files, and debris of a preparer that crashed, are removed. Over
//!   `max_size`, the least recently played copies the playlist does not name go; copies it
//!   does name are never removed, and a copy that does not fit is not kept.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::{cache, cache_dir, format_hash, key, make::make, verify, ConformError, SourceId};
use crate::config::ChannelConfig;
use crate::loudness::Meter;
use crate::metrics::Metrics;
use crate::pipeline::passthrough::{CopyRequest, CopyRequests};
use crate::playlist::{MediaItem, Playlist};
use crate::quarantine::Quarantine;

/// How often the folder and the playlist are looked at again with nothing new heard.
const RESCAN: Duration = Duration::from_secs(60);
/// How long a preparation that failed writing waits before it is tried again.
const RETRY: Duration = Duration::from_secs(600);

/// The handle the source holds (`CopyRequests`): it says what is playing and what it found
/// damaged, and never blocks. Starts the thread for `channel`, whose live encoder has these
/// parameter sets.
pub fn start(
    channel: &ChannelConfig,
    meter: Option<Arc<Meter>>,
    metrics: Arc<Metrics>,
    extradata: (Vec<u8>, Vec<u8>),
    quarantine: Quarantine,
) -> std::io::Result<CopyRequests> {
    let (requests, rx) = CopyRequests::new(16);
    let w = Worker {
        dir: cache_dir(channel),
        threads: channel.prepare.as_ref().map_or(1, |p| p.threads),
        max_size: channel.prepare.as_ref().and_then(|p| p.max_size),
        channel: channel.clone(),
        meter,
        metrics,
        extradata,
        quarantine,
        failed: HashMap::new(),
        refused_room: 0,
        full_logged: false,
        folder_failed: None,
    };
    std::thread::Builder::new()
        .name("prepare".into())
        .spawn(move || w.run(rx))?;
    Ok(requests)
}

/// An item as a copy knows it: its file and cut.
type ItemId = (PathBuf, i64, Option<i64>, Option<i64>);

fn id(m: &MediaItem) -> ItemId {
    (
        m.path.clone(),
        m.in_point.0,
        m.out_point.map(|o| o.0),
        m.duration.map(|d| d.0),
    )
}

/// An item that could not be made (it fails to decode, it is not media): with the file as
/// it was and what was said. It is not tried again until the file changes.
struct Failed {
    stamp: (u64, i128),
    said: String,
}

struct Worker {
    dir: PathBuf,
    threads: usize,
    max_size: Option<u64>,
    channel: ChannelConfig,
    meter: Option<Arc<Meter>>,
    metrics: Arc<Metrics>,
    extradata: (Vec<u8>, Vec<u8>),
    quarantine: Quarantine,
    failed: HashMap<ItemId, Failed>,
    /// The size of the last copy that did not fit under `max_size`: no copy is made while
    /// that much room cannot be found.
    refused_room: u64,
    full_logged: bool,
    /// When writing in the folder last failed (a full disk, no permission): nothing is tried
    /// for `RETRY` after, and it is said once until a copy is written again.
    folder_failed: Option<Instant>,
}

impl Worker {
    fn run(mut self, rx: Receiver<CopyRequest>) {
        if let Err(e) = super::idle::idle_priority() {
            tracing::warn!(error = %e, "The background preparer cannot lower its priority; it runs at normal priority with prepare.threads x264 threads.");
        }
        let mut playlist: Option<Arc<Playlist>> = None;
        let mut remakes: VecDeque<MediaItem> = VecDeque::new();
        loop {
            if let Some(p) = playlist.clone() {
                match self.work(&p, &mut remakes, &rx) {
                    Next::Playlist(n) => {
                        playlist = Some(n);
                        continue;
                    }
                    Next::Wait => {}
                }
            }
            // Nothing to do until something is heard or the minute has passed.
            let until = Instant::now() + RESCAN;
            loop {
                match rx.recv_deadline(until) {
                    Ok(CopyRequest::Playlist(n)) => {
                        if playlist.as_ref().is_some_and(|p| Arc::ptr_eq(p, &n)) {
                            continue;
                        }
                        playlist = Some(n);
                        break;
                    }
                    Ok(CopyRequest::Remake(m)) => {
                        remakes.push_back(m);
                        break;
                    }
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        }
    }

    /// One pass: tidy the folder, then make what `p` lacks, the remakes first. Stops early
    /// for a new playlist.
    fn work(
        &mut self,
        p: &Arc<Playlist>,
        remakes: &mut VecDeque<MediaItem>,
        rx: &Receiver<CopyRequest>,
    ) -> Next {
        let (todo, mut named) = self.scan(p);
        // The folder may be shared (a host's channels): say what this channel names, and keep
        // what the others name.
        if let Err(e) = cache::write_claims(&self.dir, &self.channel.file, &named) {
            tracing::debug!(error = %e, folder = %self.dir.display(), "Cannot write this channel's claims on its copies.");
        }
        named.extend(cache::claimed_by_others(&self.dir, &self.channel.file));
        let mut todo: VecDeque<MediaItem> = todo.into();
        for m in remakes.drain(..).rev() {
            todo.retain(|t| id(t) != id(&m));
            todo.push_front(m);
        }
        self.tidy(&named);
        self.metrics.prepare.queue.set(todo.len() as i64);
        while let Some(item) = todo.pop_front() {
            if self.folder_failed.is_some_and(|t| t.elapsed() < RETRY) || !self.room_for_one(&named)
            {
                todo.push_front(item);
                break;
            }
            self.prepare_one(&item, &named);
            self.metrics.prepare.queue.set(todo.len() as i64);
            while let Ok(ask) = rx.try_recv() {
                match ask {
                    CopyRequest::Playlist(n) if !Arc::ptr_eq(&n, p) => return Next::Playlist(n),
                    CopyRequest::Playlist(_) => {}
                    CopyRequest::Remake(m) => {
                        todo.retain(|t| id(t) != id(&m));
                        todo.push_front(m);
                    }
                }
            }
        }
        self.metrics.prepare.queue.set(todo.len() as i64);
        Next::Wait
    }

    /// The items of `p` with no usable copy (by size and sidecar: a copy's content is read
    /// when it plays, and when it is made), and the keys of the copies `p` names.
    fn scan(&mut self, p: &Playlist) -> (Vec<MediaItem>, HashSet<String>) {
        let (ve, ae) = (&self.extradata.0, &self.extradata.1);
        let mut todo = Vec::new();
        let mut named = HashSet::new();
        for m in super::prepare::media_of(p) {
            if self.quarantine.lookup(&m.path).is_some() {
                continue;
            }
            let Ok(source) = SourceId::stat(&m.path) else {
                // Not there (yet): the source slates it; tried when it appears.
                continue;
            };
            if let Some(f) = self.failed.get(&id(&m)) {
                if f.stamp == (source.size, source.mtime_ns) {
                    continue;
                }
            }
            let measured = self
                .meter
                .as_ref()
                .map_or(true, |mt| mt.lookup(&m).is_some());
            if measured {
                let gain = self.meter.as_ref().and_then(|mt| mt.gain(&m).1);
                let format = format_hash(&self.channel, ve, ae, &m, gain.as_deref());
                let k = key(&source, &m, &format);
                let usable = verify(&self.dir, &k, &source, ve, ae, false).is_ok();
                named.insert(k);
                if usable {
                    continue;
                }
            }
            todo.push(m);
        }
        (todo, named)
    }

    /// Removes copies of changed files and what crashed preparers left, and counts the rest.
    fn tidy(&mut self, named: &HashSet<String>) {
        for t in cache::dead_temporaries(&self.dir) {
            let _ = std::fs::remove_file(t);
        }
        let now = std::time::SystemTime::now();
        for e in cache::entries(&self.dir) {
            let orphan = e.sidecar.is_none()
                && now.duration_since(e.used).unwrap_or_default() > cache::ORPHAN_AGE;
            if (orphan || cache::outdated(&e))
                && !named.contains(&e.key)
                && cache::remove(&self.dir, &e.key).is_ok()
            {
                tracing::info!(key = %e.key, bytes = e.bytes, "Conformed copy removed: its file changed, or it was never finished.");
                self.metrics.prepare.evicted_total.inc();
            }
        }
        self.count();
    }

    fn count(&self) -> u64 {
        let total = cache::total(&cache::entries(&self.dir));
        self.metrics
            .prepare
            .cache_bytes
            .set(i64::try_from(total).unwrap_or(i64::MAX));
        total
    }

    /// Under `max_size`, with room for a copy the size of the last one refused (removing
    /// the least recently played copies `named` does not hold, if need be).
    fn room_for_one(&mut self, named: &HashSet<String>) -> bool {
        let Some(max) = self.max_size else {
            return true;
        };
        let fits = self.evict(named, max, self.refused_room.max(1));
        if fits {
            self.full_logged = false;
        } else if !self.full_logged {
            self.full_logged = true;
            tracing::warn!(folder = %self.dir.display(), max_size = max, "The conformed copies fill prepare.max_size with items the playlist names; the others are encoded live. A larger max_size would pass more through.");
        }
        fits
    }

    /// Removes the least recently played copies not in `named` until `room` bytes fit under
    /// `max`; whether they do.
    fn evict(&mut self, named: &HashSet<String>, max: u64, room: u64) -> bool {
        let entries = cache::entries(&self.dir);
        let (gone, total) = cache::to_evict(&entries, named, max, room);
        for k in &gone {
            match cache::remove(&self.dir, k) {
                Ok(()) => {
                    tracing::info!(key = %k, "Conformed copy removed: least recently played, over prepare.max_size.");
                    self.metrics.prepare.evicted_total.inc();
                }
                Err(e) => {
                    tracing::debug!(key = %k, error = %e, "Cannot remove a conformed copy.")
                }
            }
        }
        self.count();
        total.saturating_add(room) <= max
    }

    fn prepare_one(&mut self, item: &MediaItem, named: &HashSet<String>) {
        let started = Instant::now();
        // The copy's own source and encoder are not the channel's: what they would log (an
        // item starting, a slate) is not said; how it went is, below.
        let quiet = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        let result = tracing::dispatcher::with_default(&quiet, || {
            make(
                &self.channel,
                item,
                &self.dir,
                self.meter.as_ref(),
                Some(self.threads),
                &self.quarantine,
            )
        });
        let stamp = SourceId::stat(&item.path)
            .map(|s| (s.size, s.mtime_ns))
            .unwrap_or((0, 0));
        let metrics = self.metrics.clone();
        let m = &metrics.prepare;
        match result {
            Ok((s, fresh)) => {
                self.failed.remove(&id(item));
                if fresh && self.folder_failed.take().is_some() {
                    tracing::info!(folder = %self.dir.display(), "Conformed copies are written again.");
                }
                if !fresh {
                    return;
                }
                let mut named = named.clone();
                named.insert(s.key.clone());
                if let Some(max) = self.max_size {
                    if !self.evict(&named, max, 0) {
                        // Even with every other copy gone it does not fit: it is not kept.
                        let bytes = cache::entries(&self.dir)
                            .iter()
                            .find(|e| e.key == s.key)
                            .map_or(s.bytes, |e| e.bytes);
                        let _ = cache::remove(&self.dir, &s.key);
                        self.refused_room = bytes;
                        m.copies_total.with_label_values(&["too_big"]).inc();
                        if !std::mem::replace(&mut self.full_logged, true) {
                            tracing::warn!(file = %item.path.display(), bytes, max_size = max, "A conformed copy does not fit under prepare.max_size with the copies the playlist names; it is not kept, and the items without a copy are encoded live.");
                        }
                        self.count();
                        return;
                    }
                }
                m.copies_total.with_label_values(&["made"]).inc();
                tracing::info!(file = %item.path.display(), frames = s.frames, bytes = s.bytes, seconds = format!("{:.2}", started.elapsed().as_secs_f64()), "Conformed copy made in the background.");
            }
            Err(e) if writing(&e, &self.dir) => {
                m.copies_total.with_label_values(&["failed"]).inc();
                if self.folder_failed.replace(Instant::now()).is_none() {
                    tracing::warn!(folder = %self.dir.display(), error = %e, "Cannot write conformed copies; items without one are encoded live, and writing is tried again every 10 minutes.");
                }
            }
            Err(e) => {
                m.copies_total.with_label_values(&["failed"]).inc();
                let said = e.to_string();
                let again = self
                    .failed
                    .get(&id(item))
                    .is_some_and(|f| f.said == said && f.stamp == stamp);
                if !again {
                    tracing::warn!(file = %item.path.display(), error = %said, "Cannot make a conformed copy; the item is encoded live, and tried again when its file changes.");
                }
                self.failed.insert(id(item), Failed { stamp, said });
            }
        }
    }
}

enum Next {
    Playlist(Arc<Playlist>),
    Wait,
}

/// Whether a failure was the folder's (writing in `dir`, a full disk) or the machine's (a
/// thread, the encoders), not the item's.
fn writing(e: &ConformError, dir: &std::path::Path) -> bool {
    match e {
        ConformError::Io { path, .. } => path.starts_with(dir),
        ConformError::Thread(_) | ConformError::Encoder(_) => true,
        ConformError::Media { detail, .. } => detail.starts_with("cannot write the copy"),
        ConformError::Look(_) => false,
    }
}
