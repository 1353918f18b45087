//! The state file: the timeline anchor, kept across restarts so the channel is crash-only.
//!
//! Written atomically (write a temporary file, fsync, rename over, fsync the folder) at each
//! item start; read once at start-up. A file that is missing, unreadable or written for
//! another lineup is ignored with a warning and the timeline starts afresh.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::schedule::{parse_instant, rfc3339, Anchor};
use crate::time::Micros;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedState {
    /// The instant the rotation's `anchor_index` entry started (RFC 3339, UTC).
    pub anchor: String,
    pub anchor_index: usize,
    /// The lineup this anchor belongs to.
    pub fingerprint: String,
    /// For people reading the file: what was on when it was written.
    pub on_air: String,
    pub on_air_since: String,
}

impl SavedState {
    pub fn new(anchor: Anchor, fingerprint: &str, on_air: &str, since: Micros) -> Self {
        SavedState {
            anchor: rfc3339(anchor.at),
            anchor_index: anchor.index,
            fingerprint: fingerprint.to_string(),
            on_air: on_air.to_string(),
            on_air_since: rfc3339(since),
        }
    }
}

/// A file kept beside the state file: `NAME.state.json` -> `NAME.KIND.json` (the loudness
/// cache, the crash journal, the quarantine list).
pub fn sibling(state: &Path, kind: &str) -> std::path::PathBuf {
    state.with_file_name(format!("{}.{kind}.json", stem(state)))
}

/// The channel's name in its state file's name: `NAME` of `NAME.state.json` (the whole
/// file name otherwise).
pub fn stem(state: &Path) -> String {
    let name = state
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.strip_suffix(".state.json")
        .unwrap_or(&name)
        .to_string()
}

/// The anchor saved for this lineup, if there is a usable one.
pub fn load(path: &Path, fingerprint: &str) -> Option<Anchor> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "State file unreadable; starting the timeline afresh.");
            return None;
        }
    };
    let saved: SavedState = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "State file is not valid; starting the timeline afresh.");
            return None;
        }
    };
    if saved.fingerprint != fingerprint {
        tracing::warn!(file = %path.display(), "State file was written for another playlist; starting the timeline afresh.");
        return None;
    }
    let Some(at) = parse_instant(&saved.anchor) else {
        tracing::warn!(file = %path.display(), anchor = %saved.anchor, "State file anchor is not a time; starting the timeline afresh.");
        return None;
    };
    Some(Anchor {
        at,
        index: saved.anchor_index,
    })
}

/// Replaces the state file atomically: a reader (or a crash) sees the old file or the new
/// one, never half of one.
pub fn save(path: &Path, state: &SavedState) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(state).expect("plain struct");
    text.push('\n');
    crate::files::write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ch.state.json");
        let a = Anchor {
            at: parse_instant("2026-11-24T10:00:00.250Z").unwrap(),
            index: 3,
        };
        save(&path, &SavedState::new(a, "abc", "News", a.at)).unwrap();
        assert_eq!(load(&path, "abc"), Some(a));
        assert_eq!(
            load(&path, "other"),
            None,
            "another lineup's anchor is not resumed"
        );
        fs::write(&path, "{not json").unwrap();
        assert_eq!(load(&path, "abc"), None);
        assert_eq!(load(&dir.path().join("none.json"), "abc"), None);
        // Only the state file is left: no temporary file beside it.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, [path.file_name().unwrap()]);
    }
}
