//! `GET /api/v1/asrun?from=RFC3339&to=RFC3339[&format=csv]`: the as-run record of a span
//! (default: today, UTC, up to now), as JSON `{"entries": [...]}` or as the CSV the day files
//! hold. A read route, open like `/api/v1/schedule`.

use hyper::StatusCode;

use super::api::{bad_request, cors, pairs};
use super::{json_ok, text, Reply, State};
use crate::asrun::{self, MAX_SPAN};
use crate::clock::wall_now;
use crate::schedule::parse_instant;
use crate::time::Micros;

#[derive(Debug, PartialEq, Eq)]
struct Query {
    from: Micros,
    to: Micros,
    csv: bool,
}

/// Why an as-run query was refused (400).
#[derive(Debug, thiserror::Error)]
enum QueryError {
    #[error("{0}={1:?} is not an RFC 3339 time")]
    Time(String, String),
    #[error("format={0:?} (expected csv or json)")]
    Format(String),
    #[error("unknown parameter {0:?} (expected from, to and format)")]
    Unknown(String),
    #[error("to is not after from")]
    Empty,
    #[error("the span is longer than 31 days (ask for it in parts)")]
    TooLong,
}

fn query(q: &str, now: Micros) -> Result<Query, QueryError> {
    let day = Micros::from_secs(86_400);
    let mut out = Query {
        from: Micros(now.0 - now.0.rem_euclid(day.0)),
        to: now,
        csv: false,
    };
    for (k, v) in pairs(q) {
        match k {
            "from" | "to" => {
                let t = parse_instant(&v).ok_or_else(|| QueryError::Time(k.into(), v.clone()))?;
                if k == "from" {
                    out.from = t;
                } else {
                    out.to = t;
                }
            }
            "format" => match v.as_str() {
                "csv" => out.csv = true,
                "json" => out.csv = false,
                _ => return Err(QueryError::Format(v)),
            },
            _ => return Err(QueryError::Unknown(k.into())),
        }
    }
    if out.to <= out.from {
        return Err(QueryError::Empty);
    }
    if out.to - out.from > MAX_SPAN {
        return Err(QueryError::TooLong);
    }
    Ok(out)
}

pub(super) async fn get(state: &State, q: &str) -> Reply {
    let q = match query(q, wall_now()) {
        Ok(q) => q,
        Err(e) => return bad_request(e.to_string()),
    };
    let dir = state.asrun.clone();
    let read = tokio::task::spawn_blocking(move || asrun::read(&dir, q.from, q.to)).await;
    let entries =
        match read {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => return cors(text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "application/json",
                serde_json::json!({ "error": format!("the as-run record cannot be read: {e}") })
                    .to_string(),
            )),
            Err(e) => return bad_request(format!("the as-run read failed: {e}")),
        };
    if q.csv {
        return cors(text(
            StatusCode::OK,
            "text/csv; charset=utf-8",
            asrun::to_csv(&entries),
        ));
    }
    let list: Vec<serde_json::Value> = entries.iter().map(|e| e.to_json()).collect();
    cors(json_ok(serde_json::json!({ "entries": list })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_span_defaults_to_today_and_is_checked() {
        let now = parse_instant("2026-12-07T15:30:00Z").unwrap();
        let q = query("", now).unwrap();
        assert_eq!(q.from, parse_instant("2026-12-07T00:00:00Z").unwrap());
        assert_eq!((q.to, q.csv), (now, false));
        let q = query(
            "from=2026-12-06T00:00:00Z&to=2026-12-06T02:00:00%2B01:00&format=csv",
            now,
        )
        .unwrap();
        assert_eq!(q.to, parse_instant("2026-12-06T01:00:00Z").unwrap());
        assert!(q.csv);
        for bad in [
            "from=yesterday",
            "format=xml",
            "at=2026-12-06T00:00:00Z",
            "from=2026-12-08T00:00:00Z",
            "from=2026-10-01T00:00:00Z",
        ] {
            assert!(query(bad, now).is_err(), "{bad}");
        }
    }
}
