//! The `asrun` section of the channel file: how long the as-run record's day files are kept
//! (issue 26). The record itself is always written by a paced run, beside the state file.

use serde::Deserialize;

use super::Problems;
use crate::time::Micros;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "as-run settings: a mapping with optionally keep"
)]
pub(super) struct AsRunFile {
    keep: Option<Keep>,
}

/// `keep`: whole days (`90d`) or any duration the channel file takes (`2160h`).
struct Keep(Micros);

impl<'de> Deserialize<'de> for Keep {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let days = text
            .trim()
            .strip_suffix('d')
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<i64>().ok());
        match days {
            Some(n) => n
                .checked_mul(DAY.0)
                .map(|us| Keep(Micros(us)))
                .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is too long"))),
            None => text.parse::<Micros>().map(Keep).map_err(|_| {
                serde::de::Error::custom(format!(
                    "{text:?} is not a length of time (expected days such as 90d, or a \
                     duration such as 2160h)"
                ))
            }),
        }
    }
}

/// A validated `asrun` section (its defaults when the section is absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsRunSettings {
    /// Day files older than this are removed (default 90 days).
    pub keep: Micros,
}

const DAY: Micros = Micros::from_secs(86_400);

impl Default for AsRunSettings {
    fn default() -> Self {
        AsRunSettings {
            keep: Micros(90 * DAY.0),
        }
    }
}

pub(super) fn validate_asrun(raw: AsRunFile, p: &mut Problems) -> AsRunSettings {
    let keep = raw.keep.map_or(AsRunSettings::default().keep, |k| k.0);
    if keep < DAY {
        p.add(
            "asrun.keep",
            format!("{keep} keeps less than today's file (expected at least 1d, e.g. 90d)"),
        );
    }
    AsRunSettings {
        keep: keep.max(DAY),
    }
}
