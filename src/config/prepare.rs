//! The `prepare` section of the channel file: conformed copies of the items (issue 14), kept
//! in a folder and passed through on air instead of being decoded and encoded again.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::values::{ByteSize, Text};
use super::{resolve, Problems};

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "prepare settings: a mapping with optionally enabled, folder, background, threads \
                 and max_size"
)]
pub(super) struct PrepareFile {
    enabled: Option<bool>,
    folder: Option<Text<4096>>,
    background: Option<bool>,
    threads: Option<u32>,
    max_size: Option<ByteSize>,
}

/// The most encoder threads a background preparer may ask for.
pub const MAX_THREADS: u32 = 16;

/// A validated `prepare` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrepareSettings {
    /// Play the copies that exist (default true once the section is there).
    pub enabled: bool,
    /// Where the copies are: as given, against the channel file's folder; default
    /// `conformed/` beside the state file.
    pub folder: Option<PathBuf>,
    /// `run` makes the missing copies itself, at idle priority (default true).
    pub background: bool,
    /// x264 threads of the background preparer (default 1): with idle priority, the bound
    /// on the CPU it takes.
    pub threads: usize,
    /// The most the folder's copies may take; the least recently played copies that the
    /// playlist no longer names are removed to stay under it. None: no limit.
    pub max_size: Option<u64>,
}

pub(super) fn validate_prepare(
    raw: PrepareFile,
    channel_file: &Path,
    p: &mut Problems,
) -> PrepareSettings {
    let folder = raw.folder.map(|f| f.0);
    if folder.as_deref().is_some_and(|f| f.trim().is_empty()) {
        p.add(
            "prepare.folder",
            "the folder is empty (expected a path, or leave it out for conformed/ beside the \
             state file)",
        );
    }
    let threads = raw.threads.unwrap_or(1);
    if threads == 0 || threads > MAX_THREADS {
        p.add(
            "prepare.threads",
            format!("{threads} threads (expected 1 to {MAX_THREADS})"),
        );
    }
    let max_size = raw.max_size.map(|b| b.0);
    if max_size.is_some_and(|b| b < 1 << 20) {
        p.add(
            "prepare.max_size",
            "under 1M: no copy would fit (expected e.g. 20G, or leave it out for no limit)",
        );
    }
    PrepareSettings {
        enabled: raw.enabled.unwrap_or(true),
        background: raw.background.unwrap_or(true),
        threads: threads.clamp(1, MAX_THREADS) as usize,
        max_size,
        folder: folder
            .filter(|f| !f.trim().is_empty())
            .map(|f| resolve(channel_file, &f)),
    }
}
