//! A quarantine for poison files: a file that takes the process down (libav crashing inside
//! it, a hang the watchdog kills) would do so again after every restart. The channel keeps a
//! crash journal beside its state file (`NAME.journal.json`) recording what it had in hand:
//! the file on air at the source, and any file being opened or measured. A run that ends
//! cleanly says so in the journal; the next start reads it. If the process ended abnormally
//! twice in a row with the same file in hand, that file is quarantined (`NAME.quarantine.json`):
//! it plays as slate, logged as an ERROR and counted as
//! `playout_item_failures_total{reason="quarantined"}`, until the file changes (size or
//! modification time) or an operator clears it (`playout quarantine clear CHANNEL.yaml`).
//! One poison file costs at most two restarts.
//!
//! Whom a crash is blamed on: the files being opened or measured when it happened, if any
//! (short operations, and the usual place for libav to meet a bad header), else the file on
//! air. A crash while slate was on air blames nobody and breaks every run of strikes.
//!
//! The journal is written atomically but without fsync at each change (it must survive the
//! process, not a power cut); the quarantine list with fsync, and only at start-up and by the
//! `quarantine` command. The running channel re-reads the list at each item, so a `clear`
//! takes effect from the next time the file comes up.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

mod active;
pub use active::{Busy, Quarantine};

/// Abnormal ends in a row, with the same file in hand, that quarantine it.
pub const STRIKES: u32 = 2;

/// What the process was doing with a file when it went down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum During {
    /// Opening it (demuxer, stream info, decoders, seek): at the source, ahead of time, for
    /// the schedule's durations or for the library.
    Open,
    /// Playing it on air.
    Play,
    /// Measuring its loudness.
    Measure,
}

impl During {
    fn as_str(self) -> &'static str {
        match self {
            During::Open => "opened",
            During::Play => "on air",
            During::Measure => "measured",
        }
    }
}

/// A file's identity: a changed file is a new file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: u64,
}

impl Identity {
    pub fn of(path: &Path) -> Option<Identity> {
        let m = fs::metadata(path).ok()?;
        let mtime_ns = m
            .modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_nanos() as u64;
        Some(Identity {
            size: m.len(),
            mtime_ns,
        })
    }
}

/// One quarantined file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub file: PathBuf,
    #[serde(flatten)]
    pub identity: Identity,
    /// When it was quarantined (RFC 3339).
    pub since: String,
    /// Abnormal ends in a row with it in hand.
    pub crashes: u32,
    pub during: During,
}

impl Entry {
    /// Whether it still holds: the file is the one that crashed (not changed, not gone).
    pub fn applies(&self) -> bool {
        Identity::of(&self.file) == Some(self.identity)
    }

    /// The sentence the log and `playout probe` give.
    pub fn reason(&self) -> String {
        format!(
            "quarantined since {}: the process ended abnormally {} times in a row while the \
             file was {}; it plays as slate until it changes or `playout quarantine clear` \
             is run",
            self.since,
            self.crashes,
            self.during.as_str()
        )
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct List {
    quarantined: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct InHand {
    file: PathBuf,
    during: During,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Strike {
    file: PathBuf,
    #[serde(flatten)]
    identity: Identity,
    crashes: u32,
    during: During,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Journal {
    pid: u32,
    started: String,
    /// Set by a clean end only.
    ended: bool,
    /// The file the source is playing (none while slate plays).
    on_air: Option<PathBuf>,
    /// Files being opened or measured now.
    busy: Vec<InHand>,
    /// Abnormal ends in a row, by suspect.
    strikes: Vec<Strike>,
}

/// The journal and quarantine files of a channel.
#[derive(Clone, Debug)]
pub struct Paths {
    pub journal: PathBuf,
    pub list: PathBuf,
}

impl Paths {
    /// Beside the state file: `NAME.state.json` -> `NAME.journal.json`, `NAME.quarantine.json`.
    pub fn beside(state: &Path) -> Paths {
        Paths {
            journal: crate::state::sibling(state, "journal"),
            list: crate::state::sibling(state, "quarantine"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a quarantine list: {detail}", path.display())]
    Invalid { path: PathBuf, detail: String },
}

/// The quarantine list (empty when there is none).
pub fn load(path: &Path) -> Result<Vec<Entry>, QuarantineError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<List>(&bytes)
            .map(|l| l.quarantined)
            .map_err(|e| QuarantineError::Invalid {
                path: path.to_path_buf(),
                detail: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(QuarantineError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Replaces the quarantine list (atomically, durably).
pub fn save(path: &Path, entries: &[Entry]) -> Result<(), QuarantineError> {
    let list = List {
        quarantined: entries.to_vec(),
    };
    let mut text = serde_json::to_string_pretty(&list).expect("plain struct");
    text.push('\n');
    crate::files::write_atomic(path, text.as_bytes()).map_err(|source| QuarantineError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The journal of the last run, judged: the strikes it leaves, and the files that reach
/// `STRIKES` (to quarantine now).
fn judge(last: Option<&Journal>, now: &str) -> (Vec<Strike>, Vec<Entry>) {
    let Some(last) = last.filter(|j| !j.ended) else {
        return (Vec::new(), Vec::new());
    };
    let suspects: Vec<(PathBuf, During)> = if !last.busy.is_empty() {
        last.busy
            .iter()
            .map(|b| (b.file.clone(), b.during))
            .collect()
    } else {
        last.on_air
            .iter()
            .map(|f| (f.clone(), During::Play))
            .collect()
    };
    let mut strikes = Vec::new();
    let mut quarantine = Vec::new();
    for (file, during) in suspects {
        let Some(identity) = Identity::of(&file) else {
            continue;
        };
        if strikes.iter().any(|s: &Strike| s.file == file) {
            continue;
        }
        let before = last
            .strikes
            .iter()
            .find(|s| s.file == file && s.identity == identity)
            .map_or(0, |s| s.crashes);
        let crashes = before + 1;
        if crashes >= STRIKES {
            quarantine.push(Entry {
                file,
                identity,
                since: now.to_string(),
                crashes,
                during,
            });
        } else {
            strikes.push(Strike {
                file,
                identity,
                crashes,
                during,
            });
        }
    }
    (strikes, quarantine)
}

/// `playout quarantine list`: one line per entry (or one saying there is none).
pub fn list(paths: &Paths) -> Result<Vec<String>, QuarantineError> {
    let entries = load(&paths.list)?;
    if entries.is_empty() {
        return Ok(vec![format!(
            "No file is quarantined ({}).",
            paths.list.display()
        )]);
    }
    Ok(entries
        .iter()
        .map(|e| {
            let state = if e.applies() {
                "kept off air"
            } else {
                "changed or gone: will be lifted at the next start"
            };
            format!("{}: {state}; {}", e.file.display(), e.reason())
        })
        .collect())
}

/// `playout quarantine clear`: takes `files` (all when empty) off the list; one line per
/// file cleared or not found.
pub fn clear(paths: &Paths, files: &[PathBuf]) -> Result<Vec<String>, QuarantineError> {
    let canon = |p: &Path| fs::canonicalize(p).unwrap_or(p.to_path_buf());
    let wanted: Vec<PathBuf> = files.iter().map(|f| canon(f)).collect();
    let (cleared, kept): (Vec<Entry>, Vec<Entry>) = load(&paths.list)?
        .into_iter()
        .partition(|e| wanted.is_empty() || wanted.contains(&canon(&e.file)));
    let mut lines: Vec<String> = wanted
        .iter()
        .filter(|f| !cleared.iter().any(|e| canon(&e.file) == **f))
        .map(|f| format!("{}: not quarantined", f.display()))
        .collect();
    if !cleared.is_empty() {
        save(&paths.list, &kept)?;
    }
    lines.extend(cleared.iter().map(|e| {
        format!(
            "{}: cleared; it plays again from its next slot",
            e.file.display()
        )
    }));
    if cleared.is_empty() && wanted.is_empty() {
        lines.push(format!(
            "No file is quarantined ({}).",
            paths.list.display()
        ));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests;
