//! The as-run writer: its own thread, so that an fsync never holds up the pacer. Each entry
//! is appended to its UTC day's file as one whole line and synced before the next is taken;
//! a new day's file starts with the header. Files older than `keep` are removed at start and
//! at each new day.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use super::{day_of, file_of, Entry, HEADER};
use crate::metrics::Metrics;
use crate::time::Micros;

/// Entries that may wait for the disk: hours of a channel's changes.
const QUEUE: usize = 1024;

/// Where the pacer hands ended entries; never blocks it.
#[derive(Clone, Debug)]
pub struct AsRunSender(Sender<Entry>);

impl AsRunSender {
    pub fn send(&self, e: Entry) {
        if let Err(TrySendError::Full(e)) = self.0.try_send(e) {
            tracing::error!(title = %e.title, start = %super::instant(e.start), "The as-run queue is full (is the disk stuck?); this entry is not recorded.");
        }
    }
}

/// Starts the writer for `dir`, keeping files for `keep`. It ends once every sender is
/// dropped and what they sent is written: join it before the process exits, or the entry
/// the air closed last (the one a stop ends) may never reach the disk.
pub fn start(
    dir: PathBuf,
    keep: Micros,
    metrics: Arc<Metrics>,
) -> std::io::Result<(AsRunSender, std::thread::JoinHandle<()>)> {
    let (tx, rx) = bounded(QUEUE);
    let thread = std::thread::Builder::new()
        .name("asrun".into())
        .spawn(move || run(&dir, keep, &rx, &metrics))?;
    Ok((AsRunSender(tx), thread))
}

fn run(dir: &Path, keep: Micros, rx: &Receiver<Entry>, metrics: &Metrics) {
    let mut pruned: Option<NaiveDate> = None;
    let mut failing = false;
    for e in rx.iter() {
        let day = day_of(e.start);
        if pruned != Some(day) {
            prune(dir, day, keep);
            pruned = Some(day);
        }
        match append(dir, day, &e) {
            Ok(()) => {
                metrics.air.asrun_entries_total.inc();
                if failing {
                    tracing::info!(folder = %dir.display(), "As-run entries are written again.");
                    failing = false;
                }
            }
            Err(err) => {
                metrics.air.asrun_write_errors_total.inc();
                if !failing {
                    tracing::error!(folder = %dir.display(), error = %err, title = %e.title, "Cannot write the as-run record; said once until it works again.");
                    failing = true;
                }
            }
        }
    }
}

/// Appends `e` to `day`'s file (with the header if the file is new), one write, then fsync.
pub fn append(dir: &Path, day: NaiveDate, e: &Entry) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let path = file_of(dir, day);
    let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
    let mut text = String::new();
    if f.metadata()?.len() == 0 {
        text.push_str(HEADER);
        text.push('\n');
    }
    text.push_str(&e.csv_line());
    f.write_all(text.as_bytes())?;
    f.sync_data()
}

/// Removes the day files of `dir` older than `keep` before `today`.
pub fn prune(dir: &Path, today: NaiveDate, keep: Micros) {
    let days = keep.0 / (24 * 3600 * 1_000_000);
    let Some(oldest) = today.checked_sub_days(chrono::Days::new(days.max(0) as u64)) else {
        return;
    };
    let Ok(list) = fs::read_dir(dir) else { return };
    for f in list.flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        let Some(day) = name
            .strip_suffix(".csv")
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        if day < oldest {
            match fs::remove_file(f.path()) {
                Ok(()) => {
                    tracing::info!(file = %f.path().display(), "Old as-run file removed (asrun.keep).")
                }
                Err(e) => {
                    tracing::warn!(file = %f.path().display(), error = %e, "Cannot remove an old as-run file.")
                }
            }
        }
    }
}
