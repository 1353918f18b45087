//! The media library: the channel's media folder (`media.dir`), which the control API
//! uploads into, lists and deletes from.
//!
//! Names are single plain file names: no `/`, `\`, `..`, NUL or control character, no
//! leading dot (hidden names are the temporary files of `files`), at most 255 bytes. A
//! listing shows regular files only. Probing opens files with libav, so it runs on the
//! library's own thread, which keeps the answers by (path, size, mtime); HTTP handlers send it
//! a request and wait for the reply, and never touch libav themselves.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crossbeam_channel::{bounded, Sender};

use crate::files::is_temp_name;
use crate::pipeline::ChannelFormat;
use crate::quarantine::Quarantine;

/// Longest file name most file systems take.
pub const MAX_NAME_BYTES: usize = 255;

/// A name that cannot be a library file, and why.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the name {:?} {why} (expected a plain file name such as show.mp4)", crate::config::values::clip(.name))]
pub struct NameError {
    pub name: String,
    pub why: &'static str,
}

/// Why a name cannot be a library file, or `Ok` with it.
pub fn check_name(name: &str) -> Result<&str, NameError> {
    let why = if name.is_empty() {
        "is empty"
    } else if name.len() > MAX_NAME_BYTES {
        "is longer than 255 bytes"
    } else if name.contains('/') || name.contains('\\') {
        "contains a path separator (/ or \\)"
    } else if name == "." || name == ".." || name.contains("..") {
        "contains .."
    } else if name.starts_with('.') {
        "starts with a dot (hidden names are reserved)"
    } else if name.contains('\0') {
        "contains NUL"
    } else if name.chars().any(char::is_control) {
        "contains a control character"
    } else if name.trim() != name {
        "starts or ends with a space"
    } else {
        return Ok(name);
    };
    Err(NameError {
        name: name.to_string(),
        why,
    })
}

/// One file of the library.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

/// The library's files by name (a missing folder is an empty library).
pub fn list(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || is_temp_name(&name) || check_name(&name).is_err() {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        out.push(Entry {
            path: e.path(),
            name,
            size: meta.len(),
            modified: meta.modified().ok(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

type Reply = tokio::sync::oneshot::Sender<serde_json::Value>;

/// The library's probe thread: one request at a time, answers kept while the file is
/// unchanged.
#[derive(Clone, Debug)]
pub struct Prober {
    tx: Sender<(PathBuf, Reply)>,
}

impl Prober {
    pub fn start(fmt: ChannelFormat, quarantine: Quarantine) -> std::io::Result<Prober> {
        let (tx, rx) = bounded::<(PathBuf, Reply)>(64);
        std::thread::Builder::new()
            .name("library-probe".into())
            .spawn(move || {
                let mut cache: HashMap<PathBuf, (u64, Option<SystemTime>, serde_json::Value)> =
                    HashMap::new();
                while let Ok((path, reply)) = rx.recv() {
                    let meta = fs::metadata(&path).ok();
                    let key = meta.as_ref().map(|m| (m.len(), m.modified().ok()));
                    let hit = cache
                        .get(&path)
                        .filter(|(size, mtime, _)| Some((*size, *mtime)) == key)
                        .map(|(_, _, v)| v.clone());
                    let v = hit.unwrap_or_else(|| {
                        let v = crate::probe::facts(&path, &fmt, &quarantine);
                        if let Some((size, mtime)) = key {
                            cache.insert(path.clone(), (size, mtime, v.clone()));
                        }
                        v
                    });
                    let _ = reply.send(v);
                }
            })?;
        Ok(Prober { tx })
    }

    /// What `playout probe` would say of `path`.
    pub async fn probe(&self, path: PathBuf) -> serde_json::Value {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let tx = self.tx.clone();
        // A full queue waits on the blocking pool, not on a tokio worker.
        let sent = tokio::task::spawn_blocking(move || tx.send((path, reply)).is_ok()).await;
        if !matches!(sent, Ok(true)) {
            return serde_json::json!({ "playable": false, "error": "the probe thread is gone" });
        }
        answer.await.unwrap_or_else(
            |_| serde_json::json!({ "playable": false, "error": "the probe thread is gone" }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["show.mp4", "Ep 1 (final).mkv", "é.mov", "a.b.c"] {
            assert_eq!(check_name(good), Ok(good));
        }
        for (bad, why) in [
            ("", "is empty"),
            ("a/b.mp4", "path separator"),
            ("a\\b.mp4", "path separator"),
            ("..", "contains .."),
            ("a..b", "contains .."),
            ("../x", "path separator"),
            (".hidden", "starts with a dot"),
            ("a\0b", "NUL"),
            ("a\nb", "control"),
            (" a", "space"),
        ] {
            let e = check_name(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        assert!(check_name(&"x".repeat(256)).is_err());
    }

    #[test]
    fn listing_skips_hidden_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list(&dir.path().join("none")).unwrap().is_empty());
        fs::write(dir.path().join("b.mp4"), b"x").unwrap();
        fs::write(dir.path().join("a.mp4"), b"xy").unwrap();
        fs::write(dir.path().join(".a.mp4.tmp-1-0"), b"partial").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        let l = list(dir.path()).unwrap();
        let names: Vec<_> = l.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a.mp4", "b.mp4"]);
        assert_eq!(l[0].size, 2);
    }
}
