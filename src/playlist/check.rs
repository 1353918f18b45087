//! `playout check FILE`: validates a channel file (and the playlist it names) or a playlist
//! file, and sums it up in one line. Media files that do not exist are warnings in that line,
//! not errors, because media is often uploaded after the playlist is written.

use std::path::{Path, PathBuf};

use serde::de::{Deserializer, IgnoredAny};
use serde::Deserialize;

use super::{parse_all, Item, Playlist};
use crate::config::{self, format_fps, yaml, ChannelConfig, ConfigError};

/// Checks a channel or playlist file; the kind is decided by content, not by name: a mapping
/// with an `items` or `events` key is a playlist, anything else is checked as a channel file
/// (so a channel file with a typo still gets channel-file errors). A channel file's playlist
/// is checked too, and all errors of both files are returned. On success, a one-line summary
/// such as `channel demo: 1280x720 30 fps, 1 output, playlist demo.playlist.yaml (5 items)`,
/// followed by `; 2 media files do not exist yet: a.mp4, b.mp4` when that is so.
pub fn check_file(path: &Path) -> Result<String, Vec<ConfigError>> {
    let text = yaml::read(path).map_err(|e| vec![e])?;
    match kind(&text) {
        Kind::Empty => Err(vec![ConfigError::new(
            path,
            "",
            "the file is empty (expected a channel file or a playlist file)",
        )]),
        Kind::Playlist => {
            let playlist = parse_all(&text, path)?;
            Ok(format!(
                "playlist {}: {}{}",
                path.display(),
                count_items(&playlist.items),
                missing_media(&playlist)
            ))
        }
        Kind::ChannelConfig => check_channel(&text, path),
    }
}

fn check_channel(text: &str, path: &Path) -> Result<String, Vec<ConfigError>> {
    let (channel, playlist_path) = config::parse_all(text, path, &|v| std::env::var(v).ok());
    let playlist = playlist_path.map(|pp| {
        yaml::read_named(&pp, path, "playlist")
            .map_err(|e| vec![e])
            .and_then(|text| parse_all(&text, &pp))
    });
    match (channel, playlist) {
        (Ok(channel), Some(Ok(playlist))) => Ok(summary(&channel, &playlist)),
        (channel, playlist) => {
            let mut errors = channel.err().unwrap_or_default();
            errors.extend(playlist.and_then(Result::err).unwrap_or_default());
            if errors.is_empty() {
                // Unreachable today (no playlist path is itself an error), kept so a change
                // there cannot turn into an `Err` with nothing in it.
                errors.push(ConfigError::new(path, "playlist", "no playlist was found"));
            }
            Err(errors)
        }
    }
}

fn summary(channel: &ChannelConfig, playlist: &Playlist) -> String {
    let v = &channel.video;
    let outputs = match channel.outputs.len() {
        0 => "no outputs (give --output)".to_string(),
        1 => "1 output".to_string(),
        n => format!("{n} outputs"),
    };
    let n = playlist.items.len();
    format!(
        "channel {}: {}x{} {} fps, {outputs}, playlist {} ({n} item{}){}{}",
        channel.name,
        v.width,
        v.height,
        format_fps(v.fps),
        shown_path(&channel.playlist, &channel.file),
        if n == 1 { "" } else { "s" },
        missing_media(playlist),
        live_without_input(channel, playlist)
    )
}

/// A warning for live events in a channel with no `live:` input: they play only their
/// "starting soon" slate.
pub fn live_without_input(channel: &ChannelConfig, playlist: &Playlist) -> String {
    let live: Vec<usize> = (0..playlist.events.len())
        .filter(|&i| playlist.events[i].live().is_some())
        .collect();
    if channel.live.is_some() || live.is_empty() {
        return String::new();
    }
    let places: Vec<String> = live.iter().map(|i| format!("events[{i}]")).collect();
    format!(
        "; {} {} live but the channel has no `live` input: only the starting-soon slate will \
         play (add `live: {{ listen: … }}` to the channel file)",
        places.join(", "),
        if live.len() == 1 { "is" } else { "are" }
    )
}

fn count_items(items: &[Item]) -> String {
    let media = items.iter().filter(|i| matches!(i, Item::Media(_))).count();
    let n = items.len();
    format!(
        "{n} item{} ({media} media, {} slate)",
        if n == 1 { "" } else { "s" },
        n - media
    )
}

fn missing_media(playlist: &Playlist) -> String {
    let mut missing: Vec<&PathBuf> = Vec::new();
    for item in &playlist.items {
        if let Item::Media(m) = item {
            if !matches!(m.path.try_exists(), Ok(true)) && !missing.contains(&&m.path) {
                missing.push(&m.path);
            }
        }
    }
    if missing.is_empty() {
        return String::new();
    }
    const SHOWN: usize = 5;
    let mut names: Vec<String> = missing
        .iter()
        .take(SHOWN)
        .map(|p| shown_path(p, &playlist.file))
        .collect();
    if missing.len() > SHOWN {
        names.push(format!("and {} more", missing.len() - SHOWN));
    }
    let (count, verb) = match missing.len() {
        1 => ("1 media file".to_string(), "does"),
        n => (format!("{n} media files"), "do"),
    };
    format!("; {count} {verb} not exist yet: {}", names.join(", "))
}

/// `path` relative to the folder of `file` when it is inside it, as the author wrote it.
fn shown_path(path: &Path, file: &Path) -> String {
    file.parent()
        .and_then(|dir| path.strip_prefix(dir).ok())
        .unwrap_or(path)
        .display()
        .to_string()
}

enum Kind {
    Empty,
    ChannelConfig,
    Playlist,
}

fn kind(text: &str) -> Kind {
    // Not `deny_unknown_fields`: this only looks for the two keys, skipping everything else
    // without allocating it.
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "present")]
        items: bool,
        #[serde(default, deserialize_with = "present")]
        events: bool,
    }
    fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        IgnoredAny::deserialize(d).map(|_| true)
    }
    // Too deep to parse quickly: the vocabulary decides, and the parser then reports it.
    let probe = match yaml::too_deep(text) {
        Some(_) => Err(()),
        None => serde_yaml::from_str::<Option<Probe>>(text).map_err(|_| ()),
    };
    match probe {
        Ok(None) => Kind::Empty,
        Ok(Some(p)) if p.items || p.events => Kind::Playlist,
        Ok(Some(_)) => Kind::ChannelConfig,
        // Broken YAML: both parsers report the same syntax error, but the file's own
        // vocabulary decides whose expectations the message uses.
        Err(_) => {
            let playlist_key = text.lines().any(|l| {
                l.starts_with("items:") || l.starts_with("events:") || l.starts_with("items :")
            });
            if playlist_key {
                Kind::Playlist
            } else {
                Kind::ChannelConfig
            }
        }
    }
}

/// `playout check FILE…`: a line for each good file, every error of each bad one; and
/// whether all were good.
pub fn check_files(files: &[std::path::PathBuf]) -> (String, bool) {
    let (mut text, mut ok) = (String::new(), true);
    for f in files {
        match check_file(f) {
            Ok(summary) => text.push_str(&format!("{}: ok: {summary}\n", f.display())),
            Err(errors) => {
                ok = false;
                for e in errors {
                    text.push_str(&format!("{e}\n"));
                }
            }
        }
    }
    (text, ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fs;

    struct Dir(tempfile::TempDir);

    impl Dir {
        fn new() -> Self {
            Dir(tempfile::tempdir().unwrap())
        }
        fn write(&self, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
            let path = self.0.path().join(name);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).unwrap();
            }
            fs::write(&path, text).unwrap();
            path
        }
    }

    const PLAYLIST: &str = "items:\n  - path: media/a.mp4\n  - slate: 10s\n  - path: media/b.mp4\n  - path: media/a.mp4\n  - path: /abs/c.png\n    duration: 5s\n";

    #[test]
    fn channel_summary_with_missing_media_warning() {
        let d = Dir::new();
        d.write("media/b.mp4", "");
        d.write("demo.playlist.yaml", PLAYLIST);
        let ch = d.write(
            "demo.channel.yaml",
            "name: demo\nplaylist: demo.playlist.yaml\noutputs:\n  - url: out.flv\n",
        );
        assert_eq!(
            check_file(&ch).unwrap(),
            "channel demo: 1280x720 30 fps, 1 output, playlist demo.playlist.yaml (5 items); \
             2 media files do not exist yet: media/a.mp4, /abs/c.png"
        );
    }

    #[test]
    fn playlist_summary() {
        let d = Dir::new();
        d.write("media/a.mp4", "");
        d.write("media/b.mp4", "");
        let pl = d.write(
            "p.yaml",
            "items:\n  - path: media/a.mp4\n  - slate: 1s\n  - path: media/b.mp4\n",
        );
        let s = check_file(&pl).unwrap();
        assert_eq!(
            s,
            format!("playlist {}: 3 items (2 media, 1 slate)", pl.display())
        );
        let pl = d.write("one.yaml", "items: [{slate: 1s}]\nevents: []\n");
        assert!(check_file(&pl)
            .unwrap()
            .ends_with(": 1 item (0 media, 1 slate)"));
    }

    #[test]
    fn many_missing_files_are_listed_briefly() {
        let d = Dir::new();
        let items: String = (0..8).map(|i| format!("  - path: m{i}.mp4\n")).collect();
        let pl = d.write("p.yaml", format!("items:\n{items}"));
        let s = check_file(&pl).unwrap();
        assert!(
            s.ends_with("; 8 media files do not exist yet: m0.mp4, m1.mp4, m2.mp4, m3.mp4, m4.mp4, and 3 more"),
            "{s}"
        );
    }

    #[test]
    fn channel_and_playlist_errors_are_all_reported() {
        let d = Dir::new();
        let pl = d.write("p.yaml", "items:\n  - slate: 0s\n  - {}\n");
        let ch = d.write(
            "c.yaml",
            "name: x\nplaylist: p.yaml\nvideo: {width: 17, fps: 500}\n",
        );
        let errors = check_file(&ch).unwrap_err();
        let places: Vec<(&Path, &str)> = errors
            .iter()
            .map(|e| (e.file.as_path(), e.place.as_str()))
            .collect();
        assert_eq!(
            places,
            [
                (ch.as_path(), "video.width"),
                (ch.as_path(), "video.fps"),
                (pl.as_path(), "items[0].slate"),
                (pl.as_path(), "items[1]"),
            ]
        );
    }

    #[test]
    fn missing_playlist_is_the_channel_files_error_and_names_both() {
        let d = Dir::new();
        let ch = d.write("c.yaml", "name: x\nplaylist: nope.yaml\n");
        let errors = check_file(&ch).unwrap_err();
        assert_eq!(errors.len(), 1);
        // The mistake is the channel file's `playlist:`; the missing file is named too.
        assert_eq!(errors[0].file, ch);
        assert_eq!(errors[0].place, "playlist");
        let nope = d.0.path().join("nope.yaml").display().to_string();
        assert!(
            errors[0]
                .message
                .starts_with(&format!("{nope}: cannot read the file")),
            "{}",
            errors[0]
        );
        // The same from the loader `run` and the reloader use.
        let e = Playlist::load_named(&d.0.path().join("nope.yaml"), &ch).unwrap_err();
        assert_eq!(e, errors[0]);
    }

    #[test]
    fn classification() {
        let d = Dir::new();
        let e = check_file(&d.write("e.yaml", "# nothing\n")).unwrap_err();
        assert!(e[0]
            .message
            .contains("expected a channel file or a playlist file"));
        // A playlist with a typo is still checked as a playlist…
        let e = check_file(&d.write("p.yaml", "items: []\ntitle: x\n")).unwrap_err();
        assert!(e[0].message.contains("unknown field `title`"), "{}", e[0]);
        assert!(e[0].message.contains("items"), "{}", e[0]);
        // …a file with only events too, and one with broken YAML by its keys.
        let e = check_file(&d.write("ev.yaml", "events: [{at: '20:00'}]\n")).unwrap_err();
        assert!(
            e[0].message.contains("neither `path` nor `slate`"),
            "{}",
            e[0]
        );
        let e = check_file(&d.write("bad.yaml", "items:\n  - path: [a\n")).unwrap_err();
        assert!(e[0].place.starts_with("line "), "{}", e[0]);
        // Anything else is a channel file.
        let e = check_file(&d.write("c.yaml", "nmae: x\n")).unwrap_err();
        assert!(e[0].message.contains("unknown field `nmae`"), "{}", e[0]);
        let e = check_file(&d.write("s.yaml", "just a string\n")).unwrap_err();
        assert!(e[0].message.contains("expected a channel file"), "{}", e[0]);
    }

    #[test]
    fn binary_garbage_is_an_error() {
        let d = Dir::new();
        let garbage: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert!(check_file(&d.write("g.yaml", &garbage)).is_err());
        assert!(check_file(&d.write("z.yaml", [0u8; 100])).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn check_file_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let d = Dir::new();
            let _ = check_file(&d.write("f.yaml", &bytes));
        }

        #[test]
        fn check_file_never_panics_on_yamlish_text(
            text in "((items|events|name|playlist|video|path|slate|in|out|&a|\\*a|<<|[-:{}\\[\\],#\"' \n]|[a-z0-9.]{1,4}){0,60})"
        ) {
            let d = Dir::new();
            let _ = check_file(&d.write("f.yaml", &text));
        }
    }
}
