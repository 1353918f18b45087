//! The quarantine of one running channel: its list, read at each item, and its crash journal,
//! written as files come into and go out of hand. The channel owns it and lends clones to
//! whatever opens, plays or measures a file; a run with no channel (a check, a conform, a
//! probe) uses `Quarantine::none()`, which keeps nothing off air and writes no journal.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{judge, load, save, During, Entry, InHand, Journal, Paths};
use crate::schedule::rfc3339;

/// A handle on one channel's quarantine; clones share it.
#[derive(Clone, Default)]
pub struct Quarantine(Option<Arc<Active>>);

struct Active {
    list: PathBuf,
    /// None when this run keeps no journal (unpaced runs: simulated time, not a service).
    journal: Option<(PathBuf, Mutex<Journal>)>,
}

impl Active {
    fn update(&self, change: impl FnOnce(&mut Journal)) {
        let Some((path, journal)) = &self.journal else {
            return;
        };
        let mut j = journal.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut j);
        let text = serde_json::to_vec(&*j).expect("plain struct");
        if let Err(e) = crate::files::replace(path, &text) {
            tracing::warn!(file = %path.display(), error = %e, "Cannot write the crash journal; a poison file may not be quarantined.");
        }
    }
}

impl Quarantine {
    /// No quarantine: nothing is kept off air and no journal is written.
    pub fn none() -> Quarantine {
        Quarantine(None)
    }

    /// Opens the channel's quarantine. With `journal` the last run's journal is judged
    /// first: files that have now crashed it `STRIKES` times in a row are quarantined, each
    /// logged as an ERROR. Entries whose file changed are dropped.
    pub fn open(paths: &Paths, journal: bool) -> Quarantine {
        let now = rfc3339(crate::clock::wall_now());
        let mut list = match load(&paths.list) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "Ignoring the quarantine list.");
                Vec::new()
            }
        };
        let before = list.len();
        list.retain(|e| {
            let keep = e.applies();
            if !keep {
                tracing::info!(file = %e.file.display(), "Quarantine lifted: the file changed or is gone.");
            }
            keep
        });
        let mut changed = list.len() != before;
        let mut active = Active {
            list: paths.list.clone(),
            journal: None,
        };
        if journal {
            let last: Option<Journal> = fs::read(&paths.journal)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let (strikes, new) = judge(last.as_ref(), &now);
            if last.as_ref().is_some_and(|j| !j.ended) {
                tracing::warn!(journal = %paths.journal.display(), suspects = strikes.len() + new.len(), "The last run ended abnormally.");
            }
            for e in new {
                tracing::error!(file = %e.file.display(), crashes = e.crashes, during = e.during.as_str(), "Quarantined: the process ended abnormally {} times in a row with this file in hand; it plays as slate until it changes or `playout quarantine clear` is run.", e.crashes);
                list.retain(|x| x.file != e.file);
                list.push(e);
                changed = true;
            }
            let j = Journal {
                pid: std::process::id(),
                started: now,
                strikes,
                ..Journal::default()
            };
            active.journal = Some((paths.journal.clone(), Mutex::new(j)));
        }
        if changed {
            if let Err(e) = save(&paths.list, &list) {
                tracing::warn!(error = %e, "Cannot write the quarantine list.");
            }
        }
        active.update(|_| {});
        Quarantine(Some(Arc::new(active)))
    }

    /// The entry that keeps `file` off air, if it is quarantined (and unchanged).
    pub fn lookup(&self, file: &Path) -> Option<Entry> {
        let a = self.0.as_ref()?;
        load(&a.list)
            .ok()?
            .into_iter()
            .find(|e| e.file == file && e.applies())
    }

    /// Whether `file` must not even be opened: it crashed the process while being opened.
    pub fn refuses_open(&self, file: &Path) -> bool {
        self.lookup(file).is_some_and(|e| e.during == During::Open)
    }

    /// The source's file on air (`None` while slate plays).
    pub fn on_air(&self, file: Option<&Path>) {
        if let Some(a) = &self.0 {
            let file = file.map(Path::to_path_buf);
            a.update(|j| {
                if j.on_air != file {
                    j.on_air = file;
                }
            });
        }
    }

    /// The run ends cleanly: the next start blames nobody.
    pub fn ended_cleanly(&self) {
        if let Some(a) = &self.0 {
            a.update(|j| {
                j.ended = true;
                j.on_air = None;
                j.busy.clear();
            });
        }
    }

    /// Marks `file` as in hand for `during` until the guard is dropped.
    #[must_use]
    pub fn busy(&self, file: &Path, during: During) -> Busy {
        match &self.0 {
            Some(a) if a.journal.is_some() => {
                let entry = InHand {
                    file: file.to_path_buf(),
                    during,
                };
                a.update(|j| j.busy.push(entry.clone()));
                Busy(Some((a.clone(), entry)))
            }
            _ => Busy(None),
        }
    }
}

/// See `Quarantine::busy`.
pub struct Busy(Option<(Arc<Active>, InHand)>);

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some((a, entry)) = self.0.take() {
            a.update(|j| {
                if let Some(i) = j.busy.iter().position(|b| *b == entry) {
                    j.busy.remove(i);
                }
            });
        }
    }
}
