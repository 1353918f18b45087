//! Loudness: every item at the channel's target (`audio.loudness`), the best practice of
//! EBU R128 done the way an offline normaliser does it, not with a pumping single-pass filter.
//!
//! - Each file is measured once, over the part the item plays (`in` to `out`), for
//!   integrated loudness, loudness range and true peak, with libavfilter's `ebur128` in
//!   process, on the meter's own thread, ahead of air: the source asks for a playlist's items
//!   whenever an item starts and never waits for an answer.
//! - The answers are kept by (path, size, mtime, in, out) in `NAME.loudness.json` beside the
//!   state file, so a restart measures nothing twice, and a changed file is measured again.
//! - At play time an item gets a static gain to the target and then a lookahead limiter a
//!   little under the true-peak ceiling: no pumping, and items agree with each other.
//! - An item not measured yet when it airs gets `loudnorm` (dynamic, single pass) for that
//!   airing, logged and counted; silence and unmeasurable files get no gain at all.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};
use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

use crate::config::LoudnessTarget;
use crate::files::write_atomic;
use crate::metrics::Metrics;
use crate::pipeline::normalise::{audio_graph_with, AudioSource, Graph};
use crate::pipeline::open::open;
use crate::playlist::{Item, MediaItem, Playlist};
use crate::quarantine::{During, Quarantine};
use crate::time::{rescale, Rational, MICROS};

/// ebur128 gates blocks below -70 LUFS; an item measured below this is silence (or hiss),
/// which a gain to the target would only make loud.
pub const SILENT_LUFS: f64 = -60.0;
/// The most a static gain may raise or lower an item.
pub const MAX_BOOST_DB: f64 = 30.0;
pub const MAX_CUT_DB: f64 = 40.0;
/// The limiter works on samples; it sits this far under the true-peak ceiling to leave room
/// for inter-sample peaks and the AAC encoder's overshoot.
pub const LIMITER_MARGIN_DB: f64 = 1.0;
/// Measurements kept in the cache file (the newest win).
const MAX_CACHED: usize = 20_000;

/// One measurement (EBU R128 over the played span).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    /// Integrated loudness, LUFS.
    pub integrated: f64,
    /// Loudness range, LU.
    pub range: f64,
    /// True peak, dBTP.
    pub true_peak: f64,
}

/// What the meter knows about an item: a measure, or why there is none.
pub type Measured = Result<Measure, Unmeasurable>;

/// Why an item's loudness cannot be measured, as said to a person. It is kept in the cache
/// file as the bare text it has always been, so caches written before still load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(transparent)]
#[error("{0}")]
pub struct Unmeasurable(pub String);

impl From<&str> for Unmeasurable {
    fn from(why: &str) -> Self {
        Unmeasurable(why.to_string())
    }
}

impl From<String> for Unmeasurable {
    fn from(why: String) -> Self {
        Unmeasurable(why)
    }
}

/// What an item's audio gets on air.
#[derive(Clone, Debug, PartialEq)]
pub enum Gain {
    /// Nothing: loudness is off for the item, or it is silent or unmeasurable.
    Off(String),
    /// A fixed gain (dB) and the limiter.
    Static { db: f64, why: String },
    /// Not measured yet: the single-pass normaliser for this airing.
    Dynamic,
}

impl Gain {
    pub fn label(&self) -> &'static str {
        match self {
            Gain::Off(_) => "off",
            Gain::Static { .. } => "static",
            Gain::Dynamic => "dynamic",
        }
    }
}

/// The gain an item gets from what the meter knows (`None`: not measured yet).
pub fn decide(target: &LoudnessTarget, item: &MediaItem, m: Option<&Measured>) -> Gain {
    if !item.loudness {
        return Gain::Off("the item has loudness: false".into());
    }
    if let Some(g) = item.gain_mdb {
        let db = g as f64 / 1000.0;
        return Gain::Static {
            db,
            why: format!("gain_db: {db} from the playlist"),
        };
    }
    match m {
        None => Gain::Dynamic,
        Some(Err(e)) => Gain::Off(format!("its loudness cannot be measured: {e}")),
        Some(Ok(m)) if !m.integrated.is_finite() || m.integrated < SILENT_LUFS => {
            Gain::Off(format!(
                "it is silent ({:.1} LUFS); silence is not amplified",
                m.integrated
            ))
        }
        Some(Ok(m)) => {
            let db = (target.lufs() - m.integrated).clamp(-MAX_CUT_DB, MAX_BOOST_DB);
            Gain::Static {
                db,
                why: format!(
                    "measured {:.1} LUFS, range {:.1} LU, true peak {:.1} dBTP",
                    m.integrated, m.range, m.true_peak
                ),
            }
        }
    }
}

/// The libavfilter text for a gain (none for `Off`). Runs on the channel's rate and layout
/// in float; the audio chain converts back to the channel format after it.
pub fn chain(g: &Gain, target: &LoudnessTarget) -> Option<String> {
    match g {
        Gain::Off(_) => None,
        Gain::Static { db, .. } => {
            let limit = 10f64
                .powf((target.true_peak() - LIMITER_MARGIN_DB) / 20.0)
                .clamp(0.0625, 1.0);
            Some(format!(
                "volume=volume={db:.3}dB:precision=double,\
                 alimiter=limit={limit:.5}:attack=5:release=50:level=false:latency=true"
            ))
        }
        Gain::Dynamic => Some(format!(
            "loudnorm=I={:.1}:TP={:.1}:LRA=11",
            target.lufs(),
            target.true_peak() - LIMITER_MARGIN_DB
        )),
    }
}

/// Measures `item` from `in` to where it stops playing (its `out`/`duration`, else the end).
pub fn measure(item: &MediaItem, q: &Quarantine) -> Measured {
    let _busy = q.busy(&item.path, During::Measure);
    let mut o = open(&item.path, item.in_point, q).map_err(|e| Unmeasurable(e.detail))?;
    let Some(info) = o.info.audio.as_ref() else {
        return Err("the file has no audio".into());
    };
    let index = info.index;
    let Some(mut dec) = o.audio.take() else {
        return Err("its audio cannot be decoded".into());
    };
    let tb = o
        .input
        .stream(index)
        .map(|s| s.time_base())
        .unwrap_or(ff::Rational::new(1, 1));
    let tb = Rational::new(tb.numerator() as i64, tb.denominator().max(1) as i64);
    let origin = rescale(o.origin_us, MICROS, tb);
    let end = item.play_length().map(|l| rescale(l.0, MICROS, tb));
    let mut meter = Ebur128::default();
    let mut frame = ff::frame::Audio::empty();
    let mut done = false;
    for (stream, packet) in o.input.packets() {
        if stream.index() != index {
            continue;
        }
        if dec.send_packet(&packet).is_err() {
            continue;
        }
        while dec.receive_frame(&mut frame).is_ok() {
            let ts = frame.timestamp().or(frame.pts()).unwrap_or(origin) - origin;
            if ts < 0 {
                continue;
            }
            if end.is_some_and(|e| ts >= e) {
                done = true;
                break;
            }
            meter.push(&mut frame)?;
        }
        if done {
            break;
        }
    }
    if !done {
        let _ = dec.send_eof();
        while dec.receive_frame(&mut frame).is_ok() {
            meter.push(&mut frame)?;
        }
    }
    meter.finish()
}

/// An `ebur128` graph fed decoded frames; the running figures ride on its output frames'
/// metadata (`lavfi.r128.I`, `.LRA`, `.true_peak`, the last being linear).
#[derive(Default)]
struct Ebur128 {
    graph: Option<Graph>,
    out: Option<ff::frame::Audio>,
    last: Option<(f64, f64, f64)>,
    samples: u64,
}

impl Ebur128 {
    fn push(&mut self, f: &mut ff::frame::Audio) -> Result<(), Unmeasurable> {
        let src = AudioSource::of(f);
        if src.rate == 0 || src.channels == 0 {
            return Ok(());
        }
        if self.graph.is_none() {
            // One graph for the whole span: a change of shape part way would restart the
            // integration, so frames of another shape are resampled by the graph instead.
            let g = audio_graph_with(&src, "aresample=48000,ebur128=peak=true:metadata=1")
                .map_err(|e| format!("the ebur128 filter cannot start: {e}"))?;
            self.graph = Some(g);
        }
        if !self.graph.as_ref().is_some_and(|g| g.fits(src.key())) {
            return Ok(());
        }
        self.samples += f.samples() as u64;
        f.set_pts(None);
        let g = self.graph.as_mut().expect("built above");
        g.push(f).map_err(|e| format!("ebur128: {e}"))?;
        self.drain();
        Ok(())
    }

    fn drain(&mut self) {
        let Some(g) = self.graph.as_mut() else {
            return;
        };
        let out = self.out.get_or_insert_with(ff::frame::Audio::empty);
        while g.pull(out).is_some() {
            let md = out.metadata();
            let num = |k: &str| md.get(k).and_then(|v| v.trim().parse::<f64>().ok());
            if let (Some(i), Some(lra), Some(tp)) = (
                num("lavfi.r128.I"),
                num("lavfi.r128.LRA"),
                num("lavfi.r128.true_peak"),
            ) {
                self.last = Some((i, lra, tp));
            }
        }
    }

    fn finish(mut self) -> Measured {
        if let Some(g) = self.graph.as_mut() {
            let _ = g.flush();
        }
        self.drain();
        match self.last {
            _ if self.samples == 0 => Err("no audio was decoded in the span played".into()),
            Some((i, lra, tp)) => Ok(Measure {
                integrated: i,
                range: lra,
                true_peak: if tp > 0.0 { 20.0 * tp.log10() } else { -144.0 },
            }),
            None => Err("the ebur128 filter gave no figures".into()),
        }
    }
}

/// What a measurement is valid for: the file as it is now and the span played.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Key {
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: u128,
    pub in_us: i64,
    pub len_us: Option<i64>,
}

impl Key {
    /// `None` when the file is not there (nothing to measure).
    pub fn of(item: &MediaItem) -> Option<Key> {
        let meta = fs::metadata(&item.path).ok().filter(|m| m.is_file())?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Some(Key {
            path: item.path.clone(),
            size: meta.len(),
            mtime_ns,
            in_us: item.in_point.0,
            len_us: item.play_length().map(|l| l.0),
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    key: Key,
    result: Measured,
}

/// The meter: its thread measures; everyone else looks up. The thread is the only writer of
/// the table and of the cache file.
pub struct Meter {
    pub target: LoudnessTarget,
    table: Arc<Mutex<HashMap<Key, Measured>>>,
    wants: Sender<Arc<Playlist>>,
}

impl Meter {
    pub fn start(
        target: LoudnessTarget,
        cache: PathBuf,
        metrics: Arc<Metrics>,
        quarantine: Quarantine,
    ) -> std::io::Result<Arc<Meter>> {
        let table = Arc::new(Mutex::new(load(&cache)));
        let (wants, rx) = bounded(4);
        let t = table.clone();
        std::thread::Builder::new()
            .name("loudness".into())
            .spawn(move || run(rx, t, cache, metrics, quarantine))?;
        Ok(Arc::new(Meter {
            target,
            table,
            wants,
        }))
    }

    /// Asks for every media item of `p` to be measured (those not known yet); never blocks.
    pub fn want(&self, p: &Arc<Playlist>) {
        let _ = self.wants.try_send(p.clone());
    }

    pub fn lookup(&self, item: &MediaItem) -> Option<Measured> {
        let key = Key::of(item)?;
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned()
    }

    /// The gain `item` gets now, and the filter text for it.
    pub fn gain(&self, item: &MediaItem) -> (Gain, Option<String>) {
        let g = decide(&self.target, item, self.lookup(item).as_ref());
        let c = chain(&g, &self.target);
        (g, c)
    }
}

/// `NAME.loudness.json` beside the state file `NAME.state.json`.
pub fn cache_path(state: &Path) -> PathBuf {
    crate::state::sibling(state, "loudness")
}

fn load(cache: &Path) -> HashMap<Key, Measured> {
    let Ok(bytes) = fs::read(cache) else {
        return HashMap::new();
    };
    match serde_json::from_slice::<Vec<Entry>>(&bytes) {
        Ok(entries) => entries.into_iter().map(|e| (e.key, e.result)).collect(),
        Err(e) => {
            tracing::warn!(file = %cache.display(), error = %e, "The loudness cache is unreadable; measuring again.");
            HashMap::new()
        }
    }
}

fn save(cache: &Path, table: &HashMap<Key, Measured>) -> std::io::Result<()> {
    let mut entries: Vec<Entry> = table
        .iter()
        .map(|(k, v)| Entry {
            key: k.clone(),
            result: v.clone(),
        })
        .collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.key.mtime_ns));
    entries.truncate(MAX_CACHED);
    let bytes = serde_json::to_vec(&entries).map_err(std::io::Error::other)?;
    write_atomic(cache, &bytes)
}

fn media_of(p: &Playlist) -> Vec<MediaItem> {
    p.items
        .iter()
        .filter_map(|i| match i {
            Item::Media(m) => Some(m.clone()),
            Item::Slate(_) | Item::Live(_) => None,
        })
        .chain(p.events.iter().filter_map(|e| e.media().cloned()))
        .filter(|m| m.loudness && m.gain_mdb.is_none())
        .collect()
}

fn run(
    rx: Receiver<Arc<Playlist>>,
    table: Arc<Mutex<HashMap<Key, Measured>>>,
    cache: PathBuf,
    metrics: Arc<Metrics>,
    quarantine: Quarantine,
) {
    let mut save_failed = false;
    let mut playlist = match rx.recv() {
        Ok(p) => p,
        Err(_) => return,
    };
    loop {
        let mut seen = HashSet::new();
        let todo: Vec<(Key, MediaItem)> = {
            let t = table.lock().unwrap_or_else(|e| e.into_inner());
            media_of(&playlist)
                .into_iter()
                .filter_map(|m| Key::of(&m).map(|k| (k, m)))
                .filter(|(k, _)| !t.contains_key(k) && seen.insert(k.clone()))
                // Not a file that crashed the process: it is not played either, and once
                // cleared it is measured then.
                .filter(|(_, m)| quarantine.lookup(&m.path).is_none())
                .collect()
        };
        metrics.loudness_queue.set(todo.len() as i64);
        let mut newer = None;
        for (n, (key, item)) in todo.iter().enumerate() {
            let started = std::time::Instant::now();
            let result = measure(item, &quarantine);
            let took = started.elapsed().as_secs_f64();
            match &result {
                Ok(m) => {
                    tracing::info!(file = %item.path.display(), lufs = format!("{:.1}", m.integrated), lra = format!("{:.1}", m.range), true_peak = format!("{:.1}", m.true_peak), seconds = format!("{took:.2}"), "Loudness measured.")
                }
                Err(e) => {
                    tracing::warn!(file = %item.path.display(), error = %e, "Loudness cannot be measured; the item plays without gain.")
                }
            }
            metrics
                .loudness_measurements_total
                .with_label_values(&[if result.is_ok() { "ok" } else { "failed" }])
                .inc();
            let snapshot = {
                let mut t = table.lock().unwrap_or_else(|e| e.into_inner());
                t.insert(key.clone(), result);
                t.clone()
            };
            metrics.loudness_queue.set((todo.len() - n - 1) as i64);
            match save(&cache, &snapshot) {
                Ok(()) => save_failed = false,
                Err(e) if !save_failed => {
                    save_failed = true;
                    tracing::warn!(file = %cache.display(), error = %e, "Cannot write the loudness cache; a restart measures again.");
                }
                Err(_) => {}
            }
            match rx.try_recv() {
                Ok(p) => {
                    newer = Some(p);
                    break;
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => return,
            }
        }
        playlist = match newer {
            Some(p) => p,
            None => match rx.recv() {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        // Keep only the latest ask of a burst.
        while let Ok(p) = rx.try_recv() {
            playlist = p;
        }
    }
}

#[cfg(test)]
#[path = "loudness_tests.rs"]
mod tests;
