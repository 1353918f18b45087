//! The `prepare` section of the channel file: conformed copies of the items (issue 14), kept
//! in a folder and passed through on air instead of being decoded and encoded again.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::values::{ByteSize, Text};
use super::{resolve, Problems};

#[derive(Default, Deserialize)]
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

/// The `prepare` key as written: `false` (no copies), `true`, or the settings. Without it a
/// channel makes and plays copies with the default settings.
pub(super) enum PrepareField {
    Off,
    On,
    Settings(PrepareFile),
}

impl<'de> Deserialize<'de> for PrepareField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = PrepareField;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "prepare settings: false (no conformed copies), or a mapping with optionally \
                     enabled, folder, background, threads and max_size",
                )
            }

            fn visit_bool<E: serde::de::Error>(self, on: bool) -> Result<PrepareField, E> {
                Ok(if on {
                    PrepareField::On
                } else {
                    PrepareField::Off
                })
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<PrepareField, A::Error> {
                PrepareFile::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(PrepareField::Settings)
            }
        }
        d.deserialize_any(Either)
    }
}

/// The `prepare` key validated: none for `prepare: false`, else the settings (the defaults
/// when the key is absent or `true`).
pub(super) fn validate_prepare_field(
    raw: Option<PrepareField>,
    channel_file: &Path,
    p: &mut Problems,
) -> Option<PrepareSettings> {
    match raw {
        Some(PrepareField::Off) => None,
        None | Some(PrepareField::On) => {
            Some(validate_prepare(PrepareFile::default(), channel_file, p))
        }
        Some(PrepareField::Settings(r)) => Some(validate_prepare(r, channel_file, p)),
    }
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
    if max_size.is_some_and(|b| b < 64 << 10) {
        p.add(
            "prepare.max_size",
            "under 64K: no copy would fit (expected e.g. 20G, or leave it out for no limit)",
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{parse_all, ChannelConfig, ConfigError};

    fn parse(prepare: &str) -> Result<ChannelConfig, Vec<ConfigError>> {
        let text = format!("name: x\nplaylist: p.yaml\nprepare: {prepare}\n");
        parse_all(&text, Path::new("c.yaml"), &|_| None).0
    }

    #[test]
    fn background_threads_and_max_size_have_defaults_and_bounds() {
        let p = parse("{}").unwrap().prepare.unwrap();
        assert!(p.enabled && p.background);
        assert_eq!((p.threads, p.max_size), (1, None));
        let p = parse("{ background: false, threads: 4, max_size: 20G }")
            .unwrap()
            .prepare
            .unwrap();
        assert!(!p.background);
        assert_eq!((p.threads, p.max_size), (4, Some(20 << 30)));
        let say = |body: &str| {
            parse(body)
                .unwrap_err()
                .iter()
                .map(|e| format!("{}: {}", e.place, e.message))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            say("{ threads: 0 }"),
            ["prepare.threads: 0 threads (expected 1 to 16)"]
        );
        assert_eq!(
            say("{ max_size: 10K }"),
            [
                "prepare.max_size: under 64K: no copy would fit (expected e.g. 20G, or leave it \
              out for no limit)"
            ]
        );
        assert!(say("{ max_size: lots }")[0].contains("is not a size"));
        assert!(say("{ size: 1G }")[0]
            .contains("expected one of `enabled`, `folder`, `background`, `threads`, `max_size`"));
    }

    #[test]
    fn copies_are_on_unless_the_file_says_prepare_false() {
        let none = parse_all("name: x\nplaylist: p.yaml\n", Path::new("c.yaml"), &|_| {
            None
        })
        .0
        .unwrap();
        let p = none.prepare.clone().expect("copies on with no prepare key");
        assert!(p.enabled && p.background && p.folder.is_none());
        assert!(parse("false").unwrap().prepare.is_none());
        assert_eq!(parse("true").unwrap().prepare, none.prepare);
        let e = parse("12").unwrap_err();
        assert!(
            e[0].message
                .contains("false (no conformed copies), or a mapping"),
            "{}",
            e[0].message
        );
    }
}
