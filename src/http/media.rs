//! The media library over HTTP: `GET /api/v1/media`, `PUT /api/v1/media/{name}` (the raw
//! file as the body, so `curl -T` works) and `DELETE /api/v1/media/{name}`.
//!
//! An upload streams into a hidden temporary file in the library's folder, counted against
//! `media.max_upload` as it arrives (413 past it), is fsynced, probed by the library's probe
//! thread with the checks of `playout probe`, and only then renamed into place. A file that
//! is not media the channel can play is refused (422, with the probe's reason) and removed;
//! so is anything cut short. Nothing partial is ever in the library.

use std::path::{Path, PathBuf};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::{json_error, json_reply, Reply, State};
use crate::clock::wall_now;
use crate::config::values::format_bytes;
use crate::files::{temp_path, Temp};
use crate::library::{check_name, list, Entry};
use crate::schedule::rfc3339;
use crate::time::Micros;

fn entry_json(e: &Entry, probe: Value, uses: &Uses) -> Value {
    json!({
        "name": e.name,
        "size": e.size,
        "modified": e.modified
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| rfc3339(Micros(d.as_micros() as i64))),
        "probe": probe,
        "in_playlist": uses.in_playlist(&e.path),
        "on_air": uses.on_air(&e.path),
    })
}

/// Where the playlist on disk and the slot on air use library files.
struct Uses {
    playlist: Vec<PathBuf>,
    on_air: Option<PathBuf>,
}

impl Uses {
    fn of(state: &State) -> Uses {
        let mut playlist = Vec::new();
        if let Ok(p) = crate::playlist::Playlist::load(&state.control.playlist) {
            let items = p.items.iter().filter_map(|i| match i {
                crate::playlist::Item::Media(m) => Some(m.path.clone()),
                crate::playlist::Item::Slate(_) | crate::playlist::Item::Live(_) => None,
            });
            let events = p
                .events
                .iter()
                .filter_map(|e| e.media().map(|m| m.path.clone()));
            playlist = items.chain(events).collect();
        }
        let t = state.timeline.get();
        let (slot, lineup) = t.resolve(wall_now());
        let on_air = lineup.media(slot.kind).map(|m| m.path.clone());
        Uses { playlist, on_air }
    }

    fn in_playlist(&self, path: &Path) -> bool {
        self.playlist.iter().any(|p| same_file(p, path))
    }

    fn on_air(&self, path: &Path) -> bool {
        self.on_air.as_deref().is_some_and(|p| same_file(p, path))
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

pub(super) async fn list_media(state: &State) -> Reply {
    let c = &state.control;
    let dir = c.media_dir.clone();
    let entries = match tokio::task::spawn_blocking(move || list(&dir)).await {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => {
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "cannot list the media folder {}: {e}",
                    c.media_dir.display()
                ),
            )
        }
        Err(_) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, "the listing failed"),
    };
    let uses = Uses::of(state);
    let mut files = Vec::with_capacity(entries.len());
    for e in &entries {
        let probe = c.prober.probe(e.path.clone()).await;
        files.push(entry_json(e, probe, &uses));
    }
    json_reply(
        StatusCode::OK,
        json!({
            "dir": c.media_dir.display().to_string(),
            "max_upload_bytes": c.max_upload,
            "files": files,
        }),
    )
}

/// The `{name}` of the path, percent-decoded, and checked.
fn name_of(raw: &str) -> Result<String, Reply> {
    let name = super::percent_decode(raw);
    check_name(&name)
        .map(str::to_string)
        .map_err(|e| json_error(StatusCode::BAD_REQUEST, e.to_string()))
}

fn too_large(max: u64) -> Reply {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the file is larger than media.max_upload ({}); nothing was kept",
            format_bytes(max)
        ),
    )
}

pub(super) async fn put_media(
    state: &State,
    raw_name: &str,
    req: hyper::Request<Incoming>,
) -> Reply {
    let c = &state.control;
    let name = match name_of(raw_name) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > c.max_upload) {
        return too_large(c.max_upload);
    }
    if let Err(e) = tokio::fs::create_dir_all(&c.media_dir).await {
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "cannot create the media folder {}: {e}",
                c.media_dir.display()
            ),
        );
    }
    let target = c.media_dir.join(&name);
    let tmp = Temp::new(temp_path(&target));
    let mut file = match tokio::fs::File::create(tmp.path()).await {
        Ok(f) => f,
        Err(e) => {
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot write into the media folder: {e}"),
            )
        }
    };
    let mut body = req.into_body();
    let mut size: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(file = %name, error = %e, "Upload cut short; nothing kept.");
                return json_error(
                    StatusCode::BAD_REQUEST,
                    format!("the upload was cut short ({e}); nothing was kept"),
                );
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        size += data.len() as u64;
        if size > c.max_upload {
            return too_large(c.max_upload);
        }
        if let Err(e) = file.write_all(&data).await {
            tracing::error!(file = %name, error = %e, "Upload could not be written.");
            return json_error(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("the file could not be written ({e}); nothing was kept"),
            );
        }
    }
    if declared.is_some_and(|n| n != size) {
        return json_error(
            StatusCode::BAD_REQUEST,
            format!(
                "the upload ended after {size} of {} bytes; nothing was kept",
                declared.unwrap_or(0)
            ),
        );
    }
    if let Err(e) = file.sync_all().await {
        return json_error(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("the file could not be written ({e}); nothing was kept"),
        );
    }
    drop(file);
    let probe = c.prober.probe(tmp.path().to_path_buf()).await;
    if probe["playable"] != Value::Bool(true) {
        tracing::warn!(file = %name, reason = %probe["reason"], "Upload refused: not media the channel can play.");
        return json_reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({
                "error": format!(
                    "{name:?} is not media the channel can play: {}; nothing was kept",
                    probe["error"].as_str().unwrap_or("unreadable")
                ),
                "probe": probe,
            }),
        );
    }
    let existed = target.exists();
    let t = target.clone();
    match tokio::task::spawn_blocking(move || tmp.commit(&t)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the file could not be put in place: {e}"),
            )
        }
        Err(_) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, "the upload task failed"),
    }
    tracing::info!(file = %name, bytes = size, replaced = existed, "Media uploaded.");
    let entry = Entry {
        name: name.clone(),
        path: target.clone(),
        size,
        modified: std::fs::metadata(&target).and_then(|m| m.modified()).ok(),
    };
    let uses = Uses::of(state);
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    json_reply(status, entry_json(&entry, probe, &uses))
}

/// `?force=true` deletes a file the playlist uses or that is on air (it then plays as
/// slate); without it such a file is kept and the answer says why (409).
pub(super) async fn delete_media(state: &State, raw_name: &str, query: &str) -> Reply {
    let c = &state.control;
    let name = match name_of(raw_name) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let path = c.media_dir.join(&name);
    if !path.is_file() {
        return json_error(
            StatusCode::NOT_FOUND,
            format!("{name:?} is not in the media library"),
        );
    }
    let force = query
        .split('&')
        .any(|p| p == "force=true" || p == "force=1" || p == "force");
    let uses = Uses::of(state);
    let (in_playlist, on_air) = (uses.in_playlist(&path), uses.on_air(&path));
    if (in_playlist || on_air) && !force {
        let why = match (on_air, in_playlist) {
            (true, true) => "is on air and in the playlist",
            (true, false) => "is on air",
            _ => "is in the playlist",
        };
        return json_reply(
            StatusCode::CONFLICT,
            json!({
                "error": format!(
                    "{name:?} {why}; it was kept (DELETE with ?force=true to remove it anyway: \
                     it then plays as slate)"
                ),
                "in_playlist": in_playlist,
                "on_air": on_air,
            }),
        );
    }
    match tokio::fs::remove_file(&path).await {
        Ok(()) => {
            tracing::info!(file = %name, in_playlist, on_air, "Media deleted.");
            json_reply(
                StatusCode::OK,
                json!({ "deleted": name, "in_playlist": in_playlist, "on_air": on_air }),
            )
        }
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{name:?} could not be deleted: {e}"),
        ),
    }
}
