//! The `prepare` section of the channel file: conformed copies of the items (issue 14), kept
//! in a folder and passed through on air instead of being decoded and encoded again.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::values::Text;
use super::{resolve, Problems};

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "prepare settings: a mapping with optionally enabled and folder"
)]
pub(super) struct PrepareFile {
    enabled: Option<bool>,
    folder: Option<Text<4096>>,
}

/// A validated `prepare` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrepareSettings {
    /// Play the copies that exist (default true once the section is there).
    pub enabled: bool,
    /// Where the copies are: as given, against the channel file's folder; default
    /// `conformed/` beside the state file.
    pub folder: Option<PathBuf>,
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
    PrepareSettings {
        enabled: raw.enabled.unwrap_or(true),
        folder: folder
            .filter(|f| !f.trim().is_empty())
            .map(|f| resolve(channel_file, &f)),
    }
}
