//! Writing files so that a reader, or a crash, sees the old file or the new one and never
//! half of one: write a temporary file beside the target, fsync it, rename it over the
//! target, fsync the folder. The state file, the playlist the control API rewrites and every
//! upload go through here (STYLE rule 18).
//!
//! Temporary files are hidden (`.NAME.tmp-PID-N`), so a folder listing, the media library
//! or a playlist glob never shows one, and `Temp` removes its file when dropped uncommitted:
//! an error, or an upload whose client went away, leaves nothing behind.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A hidden name beside `target` that no other writer in this process uses.
pub fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Whether `name` is one of ours (a listing skips it).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Replaces `path` with `bytes` atomically (creating the folder if needed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(folder_of(path))?;
    let tmp = Temp::new(temp_path(path));
    {
        let mut f = fs::File::create(tmp.path())?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    tmp.commit(path)
}

/// Replaces `path` with `bytes` atomically but without fsync: a crash of the process (or a
/// reader) sees the old file or the new one; a power cut may lose the latest write. For
/// records that change often and only need to survive the process (the crash journal).
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(folder_of(path))?;
    let mut tmp = Temp::new(temp_path(path));
    fs::write(tmp.path(), bytes)?;
    fs::rename(tmp.path(), path)?;
    // Renamed: nothing left to remove.
    tmp.path = None;
    Ok(())
}

/// A temporary file that is removed when dropped, unless committed.
#[derive(Debug)]
pub struct Temp {
    path: Option<PathBuf>,
}

impl Temp {
    pub fn new(path: PathBuf) -> Self {
        Temp { path: Some(path) }
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("not yet committed")
    }

    /// Renames the (already fsynced) file onto `target` and fsyncs the folder.
    pub fn commit(mut self, target: &Path) -> std::io::Result<()> {
        let tmp = self.path.take().expect("not yet committed");
        if let Err(e) = fs::rename(&tmp, target) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::File::open(folder_of(target))?.sync_all()
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_and_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/playlist.yaml");
        write_atomic(&target, b"one").unwrap();
        write_atomic(&target, b"two").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        let names: Vec<String> = fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["playlist.yaml"]);

        // Dropped before commit: gone.
        let t = Temp::new(temp_path(&target));
        fs::write(t.path(), b"partial").unwrap();
        let p = t.path().to_path_buf();
        assert!(is_temp_name(&p.file_name().unwrap().to_string_lossy()));
        drop(t);
        assert!(!p.exists());
        assert!(!is_temp_name("show.mp4"));
    }
}
