//! The control API's writes (and the reads only the console needs): the playlist, its items
//! and events, undo, skip, play-now and the outputs. Every route here has passed the token
//! gate in `mod.rs` before it runs.
//!
//! Playlist edits go through `playlist::edit`: validated as `playout check` validates, the
//! old version kept, the file written atomically, a reload asked for. One edit at a time
//! (`ControlState::edits`), so two operators' edits never interleave; `If-Match` keeps one
//! from overwriting the other's.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderValue;
use hyper::StatusCode;
use serde_json::{json, Value};

use super::{bodies, json_error, json_reply, Reply, State};
use crate::clock::wall_now;
use crate::config::{redact_url, OutputTarget};
use crate::pipeline::source::{Control, Frontier};
use crate::playlist::edit::{self, EditError};
use crate::schedule::rfc3339;
use crate::time::Micros;

/// How far ahead of the source a play-now is placed when the source cannot take back what
/// has not aired (an unpaced run): the reload (debounce, build) must be with the source
/// before it reaches that time, or the break-in would wait for a boundary.
pub const PLAY_NOW_LEAD: Micros = Micros::from_millis(2000);

/// How far ahead of now a play-now is placed when the source cuts at the air: the cut's own
/// margin (`recall::AHEAD`, 0.8 s) and half a second for the edit's reload (its 0.3 s
/// debounce) to reach the source. A reload later than that starts the event late, from the
/// first frame the air can still change.
pub const PLAY_NOW_AT_AIR: Micros = Micros::from_millis(1300);

/// What the control routes use.
pub struct ControlState {
    pub token: Option<crate::config::ApiToken>,
    pub playlist: PathBuf,
    pub media_dir: PathBuf,
    pub max_upload: u64,
    pub prober: crate::library::Prober,
    /// Skips, to the source.
    pub skips: crossbeam_channel::Sender<Control>,
    /// Asks the reload thread to reload now (the file watcher asks as well).
    pub reload: crossbeam_channel::Sender<()>,
    pub frontier: Arc<Frontier>,
    /// Held for the whole of an edit: read, check, write.
    pub edits: tokio::sync::Mutex<()>,
    pub outputs: Arc<crate::output::manager::OutputList>,
    /// With the channel file's `anchor`: edits, skips and play-nows are written into the
    /// playlist for the instant they take effect in every instance sharing it.
    pub lockstep: Option<super::lockstep::Lockstep>,
    /// The timeline on air (edits in lockstep take effect at one of its boundaries).
    pub timeline: Arc<crate::lineup::TimelineCell>,
}

fn with_etag(mut r: Reply, tag: &str) -> Reply {
    if let Ok(v) = HeaderValue::from_str(tag) {
        r.headers_mut().insert("etag", v);
    }
    r
}

pub(super) fn edit_error(e: EditError) -> Reply {
    match e {
        EditError::Invalid(errors) => {
            json_reply(StatusCode::UNPROCESSABLE_ENTITY, edit::errors_json(&errors))
        }
        EditError::Shape(m) => json_error(StatusCode::UNPROCESSABLE_ENTITY, m),
        EditError::Io { .. } => {
            tracing::error!(error = %e, "Playlist edit failed.");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

/// The playlist as JSON, with its ETag.
async fn current(c: &ControlState) -> Result<(Vec<u8>, String, Value), Reply> {
    let file = c.playlist.clone();
    let read = tokio::task::spawn_blocking(move || {
        let (bytes, tag) = edit::read(&file)?;
        let j = edit::to_json(&bytes)?;
        Ok::<_, EditError>((bytes, tag, j))
    })
    .await
    .map_err(|_| json_error(StatusCode::INTERNAL_SERVER_ERROR, "the edit task failed"))?;
    read.map_err(edit_error)
}

pub(super) async fn get_playlist(state: &State) -> Reply {
    match current(&state.control).await {
        Ok((_, tag, j)) => with_etag(json_reply(StatusCode::OK, j), &tag),
        Err(r) => r,
    }
}

/// `If-Match` as given: `None` when absent.
pub(super) fn if_match(headers: &hyper::HeaderMap) -> Option<String> {
    headers
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

/// One edit: `change` turns the current JSON into the new one; the result is validated and
/// written. `need_match`: a missing `If-Match` is 428 (whole replacements must say what
/// they replace); a given one must match either way.
pub(super) async fn edit_playlist(
    state: &State,
    given: Option<String>,
    need_match: bool,
    change: impl FnOnce(Value) -> Result<Value, Reply>,
) -> Result<(String, Value), Reply> {
    edit_playlist_as(state, given, need_match, true, change).await
}

/// `edit_playlist`; `stamp`: in lockstep, stamp the edit's instant (not for a play-now: an
/// event has its own time, and a rotation re-anchored after it would pass over it).
async fn edit_playlist_as(
    state: &State,
    given: Option<String>,
    need_match: bool,
    stamp: bool,
    change: impl FnOnce(Value) -> Result<Value, Reply>,
) -> Result<(String, Value), Reply> {
    let c = &state.control;
    let _one_at_a_time = c.edits.lock().await;
    let (old, tag, j) = current(c).await?;
    match given {
        None if need_match => {
            return Err(json_error(
                StatusCode::PRECONDITION_REQUIRED,
                "If-Match is required: send the ETag of the playlist you edited (GET \
                 /api/v1/playlist)",
            ))
        }
        Some(g) if g != "*" && !g.split(',').any(|t| t.trim() == tag) => {
            return Err(with_etag(
                json_error(
                    StatusCode::PRECONDITION_FAILED,
                    format!(
                        "the playlist changed since you read it (If-Match {g}, now {tag}): \
                         read it again and redo the edit"
                    ),
                ),
                &tag,
            ))
        }
        _ => {}
    }
    let stamped_before = j.get("takes_effect").cloned();
    let mut new = change(j)?;
    let file = c.playlist.clone();
    // Lockstep: an edit that does not stamp its own instant (a skip does) is stamped with
    // the first boundary `settle` from now.
    let stamp = c
        .lockstep
        .filter(|_| stamp && new.get("takes_effect").cloned() == stamped_before)
        .map(|l| (l, c.timeline.get()));
    let written = tokio::task::spawn_blocking(move || {
        if let Some((l, tl)) = stamp {
            let (_, playlist) = edit::to_yaml(&new, &file)?;
            let t = l.edit_stamp(&tl, &playlist, wall_now());
            new["takes_effect"] = super::lockstep::stamp_json(t);
        }
        let (text, _) = edit::to_yaml(&new, &file)?;
        edit::write(&file, &old, &text)?;
        let (bytes, tag) = edit::read(&file)?;
        Ok::<_, EditError>((tag, edit::to_json(&bytes)?))
    })
    .await
    .map_err(|_| json_error(StatusCode::INTERNAL_SERVER_ERROR, "the edit task failed"))?;
    let (tag, j) = written.map_err(edit_error)?;
    let _ = c.reload.try_send(());
    tracing::info!(file = %c.playlist.display(), "Playlist edited through the control API.");
    Ok((tag, j))
}

fn edited(r: Result<(String, Value), Reply>, status: StatusCode) -> Reply {
    match r {
        Ok((tag, j)) => with_etag(json_reply(status, j), &tag),
        Err(r) => r,
    }
}

pub(super) async fn put_playlist(state: &State, given: Option<String>, body: Value) -> Reply {
    let r = edit_playlist(state, given, true, |_| Ok(body)).await;
    edited(r, StatusCode::OK)
}

fn list_mut<'a>(j: &'a mut Value, key: &str) -> &'a mut Vec<Value> {
    if !j[key].is_array() {
        j[key] = Value::Array(Vec::new());
    }
    j[key].as_array_mut().expect("made an array")
}

fn index_out_of_range(what: &str, i: usize, len: usize) -> Reply {
    json_error(
        StatusCode::NOT_FOUND,
        format!("there is no {what} {i} (the playlist has {len}, numbered from 0)"),
    )
}

/// `POST /api/v1/playlist/items`: `{"item": {…}, "position": N}` (default: at the end).
pub(super) async fn insert_item(state: &State, given: Option<String>, body: Value) -> Reply {
    let b: bodies::InsertItem = match bodies::decode(body, bodies::INSERT_ITEM) {
        Ok(b) => b,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let r = edit_playlist(state, given, false, |mut j| {
        let items = list_mut(&mut j, "items");
        let at = b.position.unwrap_or(items.len());
        if at > items.len() {
            return Err(index_out_of_range("position", at, items.len()));
        }
        items.insert(at, Value::Object(b.item));
        Ok(j)
    })
    .await;
    edited(r, StatusCode::CREATED)
}

pub(super) async fn remove_entry(
    state: &State,
    given: Option<String>,
    key: &'static str,
    index: usize,
) -> Reply {
    let what = if key == "items" { "item" } else { "event" };
    let r = edit_playlist(state, given, false, |mut j| {
        let list = list_mut(&mut j, key);
        if index >= list.len() {
            return Err(index_out_of_range(what, index, list.len()));
        }
        list.remove(index);
        Ok(j)
    })
    .await;
    edited(r, StatusCode::OK)
}

/// `POST /api/v1/playlist/items/{index}/move`: `{"to": N}`.
pub(super) async fn move_item(
    state: &State,
    given: Option<String>,
    index: usize,
    body: Value,
) -> Reply {
    let to = match bodies::decode::<bodies::MoveItem>(body, bodies::MOVE_ITEM) {
        Ok(b) => b.to,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let r = edit_playlist(state, given, false, |mut j| {
        let items = list_mut(&mut j, "items");
        if index >= items.len() {
            return Err(index_out_of_range("item", index, items.len()));
        }
        if to >= items.len() {
            return Err(index_out_of_range("position", to, items.len()));
        }
        let item = items.remove(index);
        items.insert(to, item);
        Ok(j)
    })
    .await;
    edited(r, StatusCode::OK)
}

/// `POST /api/v1/events`: one event, as in the file (`at` and `path` or `slate`, …).
pub(super) async fn add_event(state: &State, given: Option<String>, body: Value) -> Reply {
    if !body.is_object() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "expected an event: {\"at\": TIME, \"path\": FILE} or {\"at\": TIME, \"slate\": DURATION}",
        );
    }
    let r = edit_playlist(state, given, false, |mut j| {
        list_mut(&mut j, "events").push(body);
        Ok(j)
    })
    .await;
    edited(r, StatusCode::CREATED)
}

pub(super) async fn get_events(state: &State) -> Reply {
    match current(&state.control).await {
        Ok((_, tag, j)) => with_etag(
            json_reply(StatusCode::OK, json!({ "events": j["events"] })),
            &tag,
        ),
        Err(r) => r,
    }
}

pub(super) async fn undo(state: &State) -> Reply {
    let c = &state.control;
    let _one_at_a_time = c.edits.lock().await;
    let file = c.playlist.clone();
    let done = tokio::task::spawn_blocking(move || {
        let restored = edit::undo(&file)?;
        let (bytes, tag) = edit::read(&file)?;
        Ok::<_, EditError>(restored.map(|_| (tag, bytes)))
    })
    .await;
    match done {
        Ok(Ok(Some((tag, bytes)))) => {
            let _ = c.reload.try_send(());
            tracing::info!(file = %c.playlist.display(), "Playlist edit undone through the control API.");
            match edit::to_json(&bytes) {
                Ok(j) => with_etag(json_reply(StatusCode::OK, j), &tag),
                Err(e) => edit_error(e),
            }
        }
        Ok(Ok(None)) => json_error(
            StatusCode::CONFLICT,
            "there is no earlier version to undo to",
        ),
        Ok(Err(e)) => edit_error(e),
        Err(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "the edit task failed"),
    }
}

pub(super) async fn history(state: &State) -> Reply {
    let file = state.control.playlist.clone();
    let list = tokio::task::spawn_blocking(move || {
        edit::history(&file)
            .into_iter()
            .rev()
            .map(|(n, p)| {
                let meta = std::fs::metadata(&p).ok();
                json!({
                    "version": n,
                    "bytes": meta.as_ref().map(|m| m.len()),
                    "saved_at": meta
                        .and_then(|m| m.modified().ok())
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| rfc3339(Micros(d.as_micros() as i64))),
                })
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    json_reply(StatusCode::OK, json!({ "versions": list }))
}

/// `POST /api/v1/skip`: the source cuts what plays at its next frame.
pub(super) async fn skip(state: &State) -> Reply {
    if let Some(l) = state.control.lockstep {
        return super::lockstep::skip(state, l).await;
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    let on_air = state.timeline.get().resolve(wall_now()).0.start;
    if state
        .control
        .skips
        .try_send(Control::Skip { on_air, reply })
        .is_err()
    {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the channel is not taking skips now (stopping, or too many at once)",
        );
    }
    match tokio::time::timeout(Duration::from_secs(10), answer).await {
        Ok(Ok(Ok(s))) => json_reply(
            StatusCode::OK,
            json!({
                "skipped": s.title,
                "next": s.next,
                "at": rfc3339(s.at),
                "on_air_in_seconds": (s.at - wall_now()).as_secs_f64().max(0.0),
            }),
        ),
        Ok(Ok(Err(why))) => json_error(StatusCode::CONFLICT, why.to_string()),
        _ => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the channel did not answer the skip (is it stopping?)",
        ),
    }
}

/// `POST /api/v1/play-now`: `{"path": NAME}` (a library file) or `{"slate": DURATION}`,
/// optionally `title`. A one-off event, written to the playlist, at the first moment the
/// source can still honour.
pub(super) async fn play_now(state: &State, body: Value) -> Reply {
    let c = &state.control;
    let b: bodies::PlayNow = match bodies::decode(body, bodies::PLAY_NOW) {
        Ok(b) => b,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let mut event = serde_json::Map::new();
    match (&b.path, &b.slate) {
        (Some(name), None) => {
            if let Err(e) = crate::library::check_name(name) {
                return json_error(StatusCode::BAD_REQUEST, e.to_string());
            }
            let path = c.media_dir.join(name);
            if !path.is_file() {
                return json_error(
                    StatusCode::NOT_FOUND,
                    format!("{name:?} is not in the media library"),
                );
            }
            event.insert("path".into(), path.display().to_string().into());
        }
        (None, Some(d)) => {
            event.insert("slate".into(), d.to_value());
        }
        _ => return json_error(StatusCode::BAD_REQUEST, bodies::PLAY_NOW),
    }
    if let Some(t) = b.title {
        event.insert("title".into(), t.into());
    }
    let at = match (c.lockstep, c.frontier.cuts_at_air()) {
        // Lockstep: far enough ahead for every instance sharing the file to read it.
        (Some(l), _) => wall_now() + l.settle,
        (None, true) => wall_now() + PLAY_NOW_AT_AIR,
        (None, false) => wall_now().max(c.frontier.get()) + PLAY_NOW_LEAD,
    };
    // Whole milliseconds: the file says it as RFC 3339.
    let at = Micros(at.0 - at.0.rem_euclid(1000));
    let mut ordered = serde_json::Map::new();
    ordered.insert("at".into(), rfc3339(at).into());
    ordered.extend(event);
    let r = edit_playlist_as(state, None, false, false, |mut j| {
        list_mut(&mut j, "events").push(Value::Object(ordered));
        Ok(j)
    })
    .await;
    match r {
        Ok((tag, _)) => {
            tracing::info!(at = %rfc3339(at), "Play-now added as a one-off event.");
            // For the as-run record; the event itself reaches the source by the reload.
            let _ = c.skips.try_send(Control::PlayNow { at });
            with_etag(
                json_reply(
                    StatusCode::ACCEPTED,
                    json!({
                        "at": rfc3339(at),
                        "on_air_in_seconds": (at - wall_now()).as_secs_f64().max(0.0),
                    }),
                ),
                &tag,
            )
        }
        Err(r) => r,
    }
}

pub(super) fn outputs(state: &State) -> Reply {
    let m = &state.metrics;
    let list: Vec<Value> = state
        .control
        .outputs
        .get()
        .iter()
        .map(|o| {
            let kind = match o.target() {
                Ok(OutputTarget::Rtmp) if o.url.to_ascii_lowercase().starts_with("rtmps") => {
                    "rtmps"
                }
                Ok(OutputTarget::Rtmp) => "rtmp",
                Ok(OutputTarget::File(_)) => "file",
                Ok(OutputTarget::Hls(_)) => "hls",
                Err(_) => "unknown",
            };
            let name = o.name.as_str();
            json!({
                "name": name,
                "kind": kind,
                "url": redact_url(&o.url),
                "state": if m.is_output_connected(name) { "up" } else { "down" },
                "bytes_total": m.output_bytes_total.with_label_values(&[name]).get(),
                "dropped_packets_total": m.output_dropped_packets_total.with_label_values(&[name]).get(),
                "reconnects_total": m.output_reconnects_total.with_label_values(&[name]).get(),
            })
        })
        .collect();
    json_reply(StatusCode::OK, json!({ "outputs": list }))
}
