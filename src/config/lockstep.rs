//! What two instances of one channel need to agree (issue 27): `anchor`, the instant the
//! rotation's first item starts, pinned in the file rather than taken from a first start; and
//! `reload`, how an edit to a file that two instances share reaches both at the same frame.

use serde::Deserialize;

use super::Problems;
use crate::time::Micros;

/// The longest `reload.settle` or `reload.poll` may be.
const MAX_RELOAD: Micros = Micros::from_secs(600);

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "reload settings: a mapping with optionally poll and settle"
)]
pub(super) struct ReloadFile {
    poll: Option<Micros>,
    settle: Option<Micros>,
}

/// A validated `reload` section (its defaults when the section is absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadSettings {
    /// How often the files are looked at besides inotify's word (which does not see a write
    /// made on another machine to a shared volume): default 2 s.
    pub poll: Micros,
    /// With `anchor`, an edit takes effect at the first item boundary at or after the edit's
    /// time plus this (default 5 s), so that every instance has read it by then.
    pub settle: Micros,
}

impl Default for ReloadSettings {
    fn default() -> Self {
        ReloadSettings {
            poll: Micros::from_secs(2),
            settle: Micros::from_secs(5),
        }
    }
}

pub(super) fn validate_reload(raw: ReloadFile, p: &mut Problems) -> ReloadSettings {
    let d = ReloadSettings::default();
    let mut field = |name: &str, v: Option<Micros>, default: Micros, min: Micros| match v {
        None => default,
        Some(v) if v >= min && v <= MAX_RELOAD => v,
        Some(v) => {
            p.add(
                format!("reload.{name}"),
                format!("{v} is out of range (expected {min} to {MAX_RELOAD})"),
            );
            default
        }
    };
    ReloadSettings {
        poll: field("poll", raw.poll, d.poll, Micros::from_millis(100)),
        settle: field("settle", raw.settle, d.settle, Micros::ZERO),
    }
}

/// `anchor`: an RFC 3339 instant (with its offset), e.g. `2026-01-01T00:00:00Z`.
pub(super) fn validate_anchor(raw: Option<&str>, p: &mut Problems) -> Option<Micros> {
    let text = raw?;
    match crate::schedule::parse_instant(text) {
        Some(t) if t.0 >= 0 => Some(t),
        _ => {
            let shown: String = text.chars().take(64).collect();
            p.add(
                "anchor",
                format!(
                    "{shown:?} is not an instant (expected RFC 3339 with an offset, e.g. \
                     2026-01-01T00:00:00Z, not before 1970)"
                ),
            );
            None
        }
    }
}
