//! Edits of the playlist file by the control API. The file stays the source of truth: an
//! edit is the file's content as JSON (the YAML's own field names and value forms, so
//! durations stay `"5s"`), changed, turned back into YAML, validated exactly as `playout
//! check` validates, and only then written (atomically), after the version it replaces has
//! been kept in the history. The file watcher then reloads it like a hand edit. Comments in
//! the YAML are not kept: the file is rewritten from its data.
//!
//! The history is a hidden folder beside the playlist, `.NAME.history/`, holding the last
//! `HISTORY` versions as `000001.yaml`, `000002.yaml`…; undo puts the newest back.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{parse_all, Playlist};
use crate::config::ConfigError;
use crate::files::write_atomic;

/// Versions kept for undo.
pub const HISTORY: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The new content does not validate: every problem, as `playout check` gives them.
    #[error("the playlist is not valid: {}", .0.first().map(|e| e.to_string()).unwrap_or_default())]
    Invalid(Vec<ConfigError>),
    #[error("{0}")]
    Shape(String),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EditError + '_ {
    move |source| EditError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The file's bytes and their entity tag (quoted, for `ETag`/`If-Match`).
pub fn read(file: &Path) -> Result<(Vec<u8>, String), EditError> {
    let bytes = fs::read(file).map_err(io(file))?;
    let tag = etag(&bytes);
    Ok((bytes, tag))
}

/// FNV-1a of the bytes, quoted.
pub fn etag(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

/// The playlist YAML as JSON (`{"items": […], "events": […]}`; both always present).
pub fn to_json(yaml: &[u8]) -> Result<Value, EditError> {
    let v: serde_yaml::Value = serde_yaml::from_slice(yaml)
        .map_err(|e| EditError::Shape(format!("the playlist file is not YAML: {e}")))?;
    let mut j = serde_json::to_value(v)
        .map_err(|e| EditError::Shape(format!("the playlist file cannot be shown as JSON: {e}")))?;
    let Some(map) = j.as_object_mut() else {
        return Err(EditError::Shape(
            "the playlist file is not a mapping".to_string(),
        ));
    };
    for key in ["items", "events"] {
        if map.get(key).map_or(true, Value::is_null) {
            map.insert(key.to_string(), Value::Array(Vec::new()));
        }
        // `in: ~` by hand means not given, as the parser reads it.
        if let Some(list) = map.get_mut(key).and_then(Value::as_array_mut) {
            for entry in list.iter_mut().filter_map(Value::as_object_mut) {
                entry.retain(|_, field| !field.is_null());
                // A text field written as a plain YAML scalar (`title: 2024`, `path: no`)
                // is the text the parser reads it as, never a number or a boolean.
                for key in ["path", "title", "at"] {
                    if let Some(v) = entry.get_mut(key) {
                        match v {
                            Value::Bool(b) => *v = Value::String(b.to_string()),
                            Value::Number(n) => *v = Value::String(n.to_string()),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    Ok(j)
}

/// JSON back to YAML text, and that text validated as the file would be.
pub fn to_yaml(j: &Value, file: &Path) -> Result<(String, Playlist), EditError> {
    let Some(map) = j.as_object() else {
        return Err(EditError::Shape(
            "the playlist must be a JSON object with items and events".to_string(),
        ));
    };
    // Empty lists are left out of the file, as one would write it by hand.
    let mut clean = serde_json::Map::new();
    for (k, v) in map {
        if !(v.as_array().is_some_and(Vec::is_empty) && (k == "items" || k == "events")) {
            let mut v = v.clone();
            // A field given as null is a field not given: the file never keeps one, so the
            // playlist read back has only the values the schema allows.
            if let Some(list) = v.as_array_mut().filter(|_| k == "items" || k == "events") {
                for entry in list.iter_mut().filter_map(Value::as_object_mut) {
                    entry.retain(|_, field| !field.is_null());
                }
            }
            clean.insert(k.clone(), v);
        }
    }
    let text = format!(
        "# Written by the playout control API; comments are not kept.\n{}",
        serde_yaml::to_string(&Value::Object(clean))
            .map_err(|e| EditError::Shape(format!("cannot write YAML: {e}")))?
    );
    let playlist = parse_all(&text, file).map_err(EditError::Invalid)?;
    Ok((text, playlist))
}

fn history_dir(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.with_file_name(format!(".{name}.history"))
}

/// The kept versions, oldest first, by number.
pub fn history(file: &Path) -> Vec<(u64, PathBuf)> {
    let mut out: Vec<(u64, PathBuf)> = fs::read_dir(history_dir(file))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_suffix(".yaml")?.parse::<u64>().ok()?;
            Some((n, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// Replaces the file with `text`, keeping `old` (what it held) in the history.
pub fn write(file: &Path, old: &[u8], text: &str) -> Result<(), EditError> {
    let dir = history_dir(file);
    let kept = history(file);
    let next = kept.last().map_or(1, |(n, _)| n + 1);
    let path = dir.join(format!("{next:06}.yaml"));
    write_atomic(&path, old).map_err(io(&path))?;
    let excess = (kept.len() + 1).saturating_sub(HISTORY);
    for (_, p) in kept.iter().take(excess) {
        let _ = fs::remove_file(p);
    }
    write_atomic(file, text.as_bytes()).map_err(io(file))
}

/// Puts the newest kept version back (it leaves the history, so a second undo goes one
/// further back). `None`: nothing to undo.
pub fn undo(file: &Path) -> Result<Option<Playlist>, EditError> {
    let Some((_, newest)) = history(file).pop() else {
        return Ok(None);
    };
    let bytes = fs::read(&newest).map_err(io(&newest))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let playlist = parse_all(&text, file).map_err(EditError::Invalid)?;
    write_atomic(file, &bytes).map_err(io(file))?;
    let _ = fs::remove_file(&newest);
    Ok(Some(playlist))
}

/// `{"errors": [{"place", "message"}…], "error": "first, as check prints it"}`.
pub fn errors_json(errors: &[ConfigError]) -> Value {
    serde_json::json!({
        "error": errors.first().map(|e| e.to_string()).unwrap_or_default(),
        "errors": errors
            .iter()
            .map(|e| serde_json::json!({ "place": e.place, "message": e.message }))
            .collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_written_as_plain_scalars_are_shown_as_text() {
        // Found by schemathesis: an item posted as {"path": false, "title": false} is
        // written `path: false`, which the parser reads as the text "false"; the API must
        // show it as that text, as its schema says, not as a boolean.
        let yaml =
            "items:\n  - path: false\n    title: 2024\nevents:\n  - at: 20:00\n    path: yes\n";
        let j = to_json(yaml.as_bytes()).unwrap();
        assert_eq!(j["items"][0]["path"], "false");
        assert_eq!(j["items"][0]["title"], "2024");
        assert_eq!(j["events"][0]["path"], "yes");
        assert!(j["events"][0]["at"].is_string(), "{j}");
    }

    #[test]
    fn round_trip_validate_history_undo() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        let original = "# hand-written\nitems:\n  - path: a.mp4\n    in: 5s\n  - slate: 10s\n";
        fs::write(&file, original).unwrap();
        let (bytes, tag) = read(&file).unwrap();
        assert_eq!(tag, etag(original.as_bytes()));
        let mut j = to_json(&bytes).unwrap();
        assert_eq!(j["items"][0]["in"], "5s");
        assert_eq!(j["events"], serde_json::json!([]));

        j["items"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"path": "b.mp4", "title": "B"}));
        let (text, p) = to_yaml(&j, &file).unwrap();
        assert_eq!(p.items.len(), 3);
        assert!(!text.contains("events"), "{text}");
        write(&file, &bytes, &text).unwrap();
        assert_eq!(history(&file).len(), 1);
        assert_ne!(read(&file).unwrap().1, tag);

        // Invalid: the same place and message as `playout check`.
        j["items"][0]["out"] = "1s".into();
        match to_yaml(&j, &file) {
            Err(EditError::Invalid(e)) => {
                assert_eq!(e[0].place, "items[0].out");
                assert!(e[0].message.contains("is not after in 5s"), "{e:?}");
            }
            other => panic!("{other:?}"),
        }

        assert!(undo(&file).unwrap().is_some());
        assert_eq!(fs::read_to_string(&file).unwrap(), original);
        assert!(undo(&file).unwrap().is_none());
    }

    #[test]
    fn history_keeps_twenty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        fs::write(&file, "items: [{slate: 1s}]\n").unwrap();
        for i in 0..25 {
            let old = fs::read(&file).unwrap();
            write(&file, &old, &format!("items: [{{slate: {}s}}]\n", i + 2)).unwrap();
        }
        let h = history(&file);
        assert_eq!(h.len(), HISTORY);
        assert_eq!(h[0].0, 6);
    }
}
