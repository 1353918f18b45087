//! `/metrics` and `/healthz`.

use std::time::Duration;

use hyper::StatusCode;

use super::{json_ok, text, Reply, State};
use crate::clock::wall_now;

/// Encoding that has made no progress, or every output down, for this long makes `/healthz`
/// fail.
pub const STALL_LIMIT: Duration = Duration::from_secs(5);

pub(super) fn metrics(state: &State) -> Reply {
    let metrics = &state.metrics;
    // What is on air comes from the schedule, computed when asked.
    let t = state.timeline.get();
    let now = wall_now();
    let (slot, _) = t.resolve(now);
    metrics
        .current_item_position_seconds
        .set((now - slot.start).as_secs_f64());
    metrics
        .current_item_remaining_seconds
        .set((slot.end - now).as_secs_f64());
    text(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        metrics.render(),
    )
}

/// 200 while the channel encodes and some output is up; each output's state either way.
pub(super) fn healthz(state: &State) -> Reply {
    let metrics = &state.metrics;
    let stalled = metrics.stalled_for();
    let down = metrics.all_outputs_down_for();
    let reason = if stalled > STALL_LIMIT {
        Some(format!(
            "encoding has made no progress for {} s",
            stalled.as_secs()
        ))
    } else if down > STALL_LIMIT {
        Some(format!(
            "no output has been connected for {} s",
            down.as_secs()
        ))
    } else {
        None
    };
    let outputs: serde_json::Map<String, serde_json::Value> = state
        .outputs
        .names()
        .into_iter()
        .map(|name| {
            let up = metrics.is_output_connected(&name);
            (name, (if up { "up" } else { "down" }).into())
        })
        .collect();
    match reason {
        Some(reason) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "application/json",
            serde_json::json!({ "status": "unhealthy", "reason": reason, "outputs": outputs })
                .to_string(),
        ),
        None => {
            let mut v = serde_json::json!({ "status": "ok", "outputs": outputs });
            if let Some(e) = state.reload.get().last_error.clone() {
                v["reload_error"] = e.into();
            }
            json_ok(v)
        }
    }
}
