//! The cache folder as a whole: what its copies take, which were played least recently, and
//! removing them (`prepare.max_size`), copies whose source file has changed, and what a
//! crashed preparer left behind. A folder may serve several channels (a host's channels share
//! one by default): each preparer writes the keys its playlist names into a claims file, and
//! none removes a copy another channel's fresh claims name.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::{copy_path, last_picture_path, sidecar_path, Sidecar};

/// One copy in the folder.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    /// Its three files together.
    pub bytes: u64,
    /// When it was last played (or made): the sidecar's modification time.
    pub used: SystemTime,
    /// What the sidecar says, if it can be read.
    pub sidecar: Option<Sidecar>,
}

/// The copies in `dir`, by their sidecars, and copy files without one (a preparer that
/// stopped between the two writes), which are never whole.
pub fn entries(dir: &Path) -> Vec<Entry> {
    let Ok(read) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut keys = HashSet::new();
    for e in read.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if let Some(k) = name
            .strip_suffix(".json")
            .or_else(|| name.strip_suffix(".last.yuv"))
            .or_else(|| name.strip_suffix(".nut"))
        {
            keys.insert(k.to_string());
        }
    }
    let size = |p: &Path| fs::metadata(p).map_or(0, |m| m.len());
    let mut out: Vec<Entry> = keys
        .into_iter()
        .map(|key| {
            let side = sidecar_path(dir, &key);
            let used = [side.clone(), copy_path(dir, &key)]
                .iter()
                .find_map(|p| fs::metadata(p).and_then(|m| m.modified()).ok())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let sidecar = fs::read_to_string(&side)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
            Entry {
                bytes: size(&side)
                    + size(&copy_path(dir, &key))
                    + size(&last_picture_path(dir, &key)),
                used,
                sidecar,
                key,
            }
        })
        .collect();
    out.sort_by(|a, b| a.used.cmp(&b.used).then_with(|| a.key.cmp(&b.key)));
    out
}

pub fn total(entries: &[Entry]) -> u64 {
    entries.iter().map(|e| e.bytes).sum()
}

/// Removes the copy `key`: the sidecar first, so that no reader ever finds a sidecar whose
/// copy is gone half way.
pub fn remove(dir: &Path, key: &str) -> std::io::Result<()> {
    for p in [
        sidecar_path(dir, key),
        copy_path(dir, key),
        last_picture_path(dir, key),
    ] {
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether the copy can never be used again: its source file is there with another size or
/// modification time. (A source that is missing may come back, as a network share does.)
pub fn outdated(e: &Entry) -> bool {
    let Some(s) = &e.sidecar else {
        return false;
    };
    match super::SourceId::stat(&s.source.path) {
        Ok(now) => now.size != s.source.size || now.mtime_ns != s.source.mtime_ns,
        Err(_) => false,
    }
}

/// Copies without a sidecar for longer than this are debris of a preparer that stopped.
pub const ORPHAN_AGE: Duration = Duration::from_secs(600);

/// Which copies to remove so that `room` more bytes fit under `max`: the least recently
/// played first, never one in `keep` (the copies the playlist names). Returns the keys, and
/// the folder's total once they are gone (still over `max - room` if `keep` is too big).
pub fn to_evict(
    entries: &[Entry],
    keep: &HashSet<String>,
    max: u64,
    room: u64,
) -> (Vec<String>, u64) {
    let mut total = total(entries);
    let mut out = Vec::new();
    // `entries` is sorted least recently used first.
    for e in entries {
        if total.saturating_add(room) <= max {
            break;
        }
        if keep.contains(&e.key) {
            continue;
        }
        total -= e.bytes;
        out.push(e.key.clone());
    }
    (out, total)
}

/// Temporary files of preparers that are no longer running (a crash, a kill -9): the name
/// carries the process id (`files::temp_path`).
pub fn dead_temporaries(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(read) = fs::read_dir(dir) else {
        return Vec::new();
    };
    read.flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            let pid = name.as_deref().and_then(|n| {
                let (_, tail) = n.rsplit_once(".tmp-")?;
                tail.split('-').next()?.parse::<u32>().ok()
            });
            pid.is_some_and(|pid| {
                pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
            })
        })
        .collect()
}

/// The start of a claims file's name: `.named-HASH.txt`, HASH of the channel file's path.
pub const CLAIMS_PREFIX: &str = ".named-";
/// Claims older than this are a channel's that stopped (a preparer writes its claims at every
/// pass, at least once a minute while it runs).
pub const CLAIM_AGE: Duration = Duration::from_secs(600);

/// The claims file of the channel whose file is `channel_file`.
pub fn claims_name(channel_file: &Path) -> String {
    let mut h = super::Fnv::default();
    h.write(channel_file.as_os_str().as_encoded_bytes());
    format!("{CLAIMS_PREFIX}{}.txt", h.hex())
}

/// Writes the keys `named` as `channel_file`'s claims in `dir` (whole: a temporary, renamed).
pub fn write_claims(
    dir: &Path,
    channel_file: &Path,
    named: &HashSet<String>,
) -> std::io::Result<()> {
    let name = claims_name(channel_file);
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{name}.tmp-{}-claims", std::process::id()));
    let mut keys: Vec<&str> = named.iter().map(String::as_str).collect();
    keys.sort_unstable();
    fs::write(&tmp, keys.join("\n"))?;
    fs::rename(&tmp, dir.join(name))
}

/// The keys that other channels' fresh claims in `dir` name (not `channel_file`'s own).
pub fn claimed_by_others(dir: &Path, channel_file: &Path) -> HashSet<String> {
    let own = claims_name(channel_file);
    let now = SystemTime::now();
    let Ok(read) = fs::read_dir(dir) else {
        return HashSet::new();
    };
    read.flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(CLAIMS_PREFIX) && name.ends_with(".txt") && name != own
        })
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() < CLAIM_AGE)
        })
        .filter_map(|e| fs::read_to_string(e.path()).ok())
        .flat_map(|text| {
            text.lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_other_channels_name_is_kept_while_their_claims_are_fresh() {
        let d = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            Path::new("/x/a.yaml"),
            Path::new("/x/b.yaml"),
            Path::new("/x/c.yaml"),
        );
        let keys = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect::<HashSet<_>>();
        write_claims(d.path(), a, &keys(&["k1", "k2"])).unwrap();
        write_claims(d.path(), b, &keys(&["k3"])).unwrap();
        write_claims(d.path(), c, &keys(&["k4"])).unwrap();
        // c stopped long ago.
        let old = SystemTime::now() - CLAIM_AGE - Duration::from_secs(60);
        fs::File::options()
            .write(true)
            .open(d.path().join(claims_name(c)))
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(claimed_by_others(d.path(), a), keys(&["k3"]));
        assert_eq!(claimed_by_others(d.path(), b), keys(&["k1", "k2"]));
        // Claims are not copies, and no temporary is left.
        assert!(entries(d.path()).is_empty());
        assert!(dead_temporaries(d.path()).is_empty());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 3);
    }

    fn entry(key: &str, bytes: u64, age_s: u64) -> Entry {
        Entry {
            key: key.into(),
            bytes,
            used: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 - age_s),
            sidecar: None,
        }
    }

    #[test]
    fn the_least_recently_played_copies_the_playlist_does_not_name_go_first() {
        // Sorted as `entries` sorts: oldest use first.
        let e = vec![
            entry("a", 400, 50),
            entry("b", 300, 40),
            entry("c", 200, 30),
            entry("d", 100, 20),
        ];
        let keep: HashSet<String> = ["a".to_string()].into();
        // 1000 bytes, 700 allowed with 100 to make room for: b (unnamed, oldest) goes, then
        // c; a is named by the playlist and stays although it is older.
        assert_eq!(
            to_evict(&e, &keep, 700, 100),
            (vec!["b".to_string(), "c".to_string()], 500)
        );
        // Already under: nothing goes.
        assert_eq!(to_evict(&e, &keep, 2000, 100), (vec![], 1000));
        // Everything named: nothing can go, and the total says it is still over.
        let all: HashSet<String> = ["a", "b", "c", "d"].map(String::from).into();
        assert_eq!(to_evict(&e, &all, 500, 0), (vec![], 1000));
    }

    #[test]
    fn the_folder_is_read_by_sidecar_and_removed_sidecar_first() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        fs::write(dir.join("k1.json"), b"{}").unwrap();
        fs::write(dir.join("k1.nut"), vec![0u8; 1000]).unwrap();
        fs::write(dir.join("k1.last.yuv"), vec![0u8; 24]).unwrap();
        // A copy whose sidecar was never written.
        fs::write(dir.join("k2.nut"), vec![0u8; 10]).unwrap();
        // A temporary file of a process that is gone, and one of this process.
        fs::write(dir.join(".k3.nut.tmp-999999999-0"), b"x").unwrap();
        let mine = format!(".k4.nut.tmp-{}-0", std::process::id());
        fs::write(dir.join(&mine), b"x").unwrap();
        let e = entries(dir);
        let mut keys: Vec<(&str, u64)> = e.iter().map(|e| (e.key.as_str(), e.bytes)).collect();
        keys.sort();
        assert_eq!(keys, vec![("k1", 1026), ("k2", 10)]);
        assert_eq!(
            dead_temporaries(dir),
            vec![dir.join(".k3.nut.tmp-999999999-0")]
        );
        remove(dir, "k1").unwrap();
        assert!(!dir.join("k1.json").exists() && !dir.join("k1.nut").exists());
        assert!(!dir.join("k1.last.yuv").exists());
        assert_eq!(total(&entries(dir)), 10);
    }
}
