//! The appear-live API: `/api/v1/now`, `/api/v1/schedule` and `/epg.xml`, from the same pure
//! scheduler the pipeline follows.

use hyper::StatusCode;

use super::{allow_cors, json_ok, percent_decode, text, Reply, State};
use crate::clock::wall_now;
use crate::epg;
use crate::schedule::parse_instant;
use crate::time::Micros;

/// The longest window `/api/v1/schedule` lists.
const MAX_WINDOW: Micros = Micros::from_secs(7 * 24 * 3600);

/// `?at=RFC3339` answers for that instant (a player asks about the moment it shows, which
/// is some seconds behind now); `server_time` stays the server's own clock either way.
pub(super) fn now(state: &State, query: &str) -> Reply {
    let server_now = wall_now();
    let mut at = server_now;
    for (k, v) in pairs(query) {
        match k {
            "at" => match parse_instant(&v) {
                Some(t) => at = t,
                None => return bad_request(format!("at={v:?} is not an RFC 3339 time")),
            },
            _ => return bad_request(format!("unknown parameter {k:?} (expected at)")),
        }
    }
    let t = state.timeline.get();
    let mut v = epg::now(&t, at, 5);
    let on_air = state.live.as_ref().and_then(|air| air.at(at));
    if on_air.is_none() && v["current"]["kind"] == "live" {
        // A live event whose publisher is not on: its starting-soon slate plays.
        v["current"]["kind"] = "event".into();
        v["current"]["waiting_for_live"] = true.into();
    }
    if let Some(air) = &state.live {
        if let Some((start, title)) = air.at(at) {
            // Live air replaces what the schedule had; `next` still says what it has next.
            v["current"] = serde_json::json!({
                "title": title,
                "kind": "live",
                "started_at": crate::schedule::rfc3339(start),
                "position_seconds": (at - start).as_secs_f64(),
                "duration_seconds": null,
            });
        }
    }
    v["server_time"] = crate::schedule::rfc3339(server_now).into();
    v["server_time_ms"] = server_now.0.div_euclid(1000).into();
    if at != server_now {
        // `current.position_seconds` is then measured at this instant.
        v["at"] = crate::schedule::rfc3339(at).into();
    }
    v["channel"] = state.channel.as_str().into();
    v["reload_error"] = state.reload.get().last_error.clone().into();
    cors(json_ok(v))
}

pub(super) fn schedule(state: &State, query: &str) -> Reply {
    match window(query) {
        Ok((from, span)) => {
            let t = state.timeline.get();
            cors(json_ok(epg::to_json(&epg::programmes(&t, from, span))))
        }
        Err(e) => bad_request(e.to_string()),
    }
}

pub(super) fn epg(state: &State) -> Reply {
    let t = state.timeline.get();
    let ps = epg::programmes(&t, wall_now(), Micros::from_secs(24 * 3600));
    cors(text(
        StatusCode::OK,
        "application/xml; charset=utf-8",
        epg::to_xmltv(&state.channel, &ps),
    ))
}

pub(super) fn cors(mut r: Reply) -> Reply {
    allow_cors(&mut r);
    r
}

pub(super) fn bad_request(e: String) -> Reply {
    text(
        StatusCode::BAD_REQUEST,
        "application/json",
        serde_json::json!({ "error": e }).to_string(),
    )
}

pub(super) fn pairs(query: &str) -> impl Iterator<Item = (&str, String)> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k, percent_decode(v))
    })
}

/// Why a guide window's query was refused (400).
#[derive(Debug, thiserror::Error)]
enum WindowError {
    #[error("from={0:?} is not an RFC 3339 time")]
    From(String),
    #[error("for: {0}")]
    For(String),
    #[error("for={0} is out of range (expected more than 0s, at most 7 days)")]
    OutOfRange(String),
    #[error("unknown parameter {0:?} (expected from and for)")]
    Unknown(String),
}

/// `from=RFC3339&for=DURATION` (both optional: now, 24 h).
fn window(query: &str) -> Result<(Micros, Micros), WindowError> {
    let (mut from, mut span) = (wall_now(), Micros::from_secs(24 * 3600));
    for (k, v) in pairs(query) {
        match k {
            "from" => from = parse_instant(&v).ok_or(WindowError::From(v))?,
            "for" => {
                span = v
                    .parse::<Micros>()
                    .map_err(|e| WindowError::For(e.to_string()))?;
                if span <= Micros::ZERO || span > MAX_WINDOW {
                    return Err(WindowError::OutOfRange(v));
                }
            }
            _ => return Err(WindowError::Unknown(k.to_string())),
        }
    }
    Ok((from, span))
}
