//! `/metrics`, `/healthz`, and the probes a supervisor such as Kubernetes asks: `/livez` and
//! `/readyz`.

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
    // What a supervisor judges progress by (the host of `playout run DIR`, as systemd's
    // watchdog does through sd_notify): outputs that are down are not the channel's fault.
    let progress = serde_json::json!({
        "frames_encoded": metrics.video_frames_encoded_total.get(),
        // Encoded and passed through: a channel that plays copies encodes no frame at all.
        "seconds_out": metrics.encoded_seconds_total.get() + metrics.passthrough_seconds_total.get(),
        "stalled_seconds": stalled.as_secs_f64(),
        "drift_seconds": metrics.wallclock_drift_seconds.get(),
    });
    match reason {
        Some(reason) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "application/json",
            serde_json::json!({ "status": "unhealthy", "reason": reason, "outputs": outputs, "progress": progress })
                .to_string(),
        ),
        None => {
            let mut v = serde_json::json!({ "status": "ok", "outputs": outputs, "progress": progress });
            if let Some(e) = state.reload.get().last_error.clone() {
                v["reload_error"] = e.into();
            }
            json_ok(v)
        }
    }
}

/// Liveness: 200 while the channel makes progress (frames encoded or passed through), 503
/// once it has made none for `STALL_LIMIT`. Outputs that are down do not fail it: an ingest
/// outage is not cured by restarting the channel (each output reconnects on its own).
pub(super) fn livez(state: &State) -> Reply {
    let stalled = state.metrics.stalled_for();
    if stalled > STALL_LIMIT {
        let reason = format!("encoding has made no progress for {} s", stalled.as_secs());
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "application/json",
            serde_json::json!({ "status": "unhealthy", "reason": reason }).to_string(),
        );
    }
    json_ok(serde_json::json!({ "status": "ok" }))
}

/// Readiness: 200 only when the channel is on air — it has sent something out (encoded or
/// passed through) and is not stalled; 503 while it starts and while it is stalled.
pub(super) fn readyz(state: &State) -> Reply {
    let metrics = &state.metrics;
    let out = metrics.encoded_seconds_total.get() + metrics.passthrough_seconds_total.get();
    let stalled = metrics.stalled_for();
    let reason = if out <= 0.0 || !metrics.has_aired() {
        Some("not on air yet: nothing has been sent out".to_string())
    } else if stalled > STALL_LIMIT {
        Some(format!(
            "off air: encoding has made no progress for {} s",
            stalled.as_secs()
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "application/json",
            serde_json::json!({ "status": "not_ready", "reason": reason }).to_string(),
        ),
        None => json_ok(serde_json::json!({ "status": "ready", "seconds_out": out })),
    }
}
