//! Outputs: one pacer releases encoded packets when their channel time has come on the
//! clock, then fans them out to one writer thread per output: FLV (RTMP(S) or a file) or HLS. A packet's channel time
//! is its decode timestamp; the pacer lets packets leave up to `LEAD` early so the ingest's
//! buffer never runs dry, and never holds one back because another output is slow.

pub mod flv;
pub mod hls;
pub mod reconnect;

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::pipeline::encode::{Encoded, Kind, StreamParams};
use crate::time::{rescale, Micros, MICROS};

/// How far ahead of its time a packet may leave.
pub const LEAD: Micros = Micros::from_millis(300);
/// How often (channel time) the pacer reports drift and queue depths.
const REPORT_EVERY: Micros = Micros::from_millis(500);
/// Packets an output may have queued before it counts as stalled and drops (~5 s).
pub const OUTPUT_QUEUE: usize = 512;

/// The pacer thread: runs until the encoder drops its sender, then drops the outputs'.
pub fn pace(
    rx: Receiver<Encoded>,
    outputs: Vec<(String, Sender<Encoded>)>,
    params: &StreamParams,
    clock: Box<dyn Clock>,
    paced: bool,
    metrics: Arc<Metrics>,
) {
    let mut latest = Micros::ZERO;
    let mut last_report: Option<Micros> = None;
    for enc in rx.iter() {
        let tb = match enc.kind {
            Kind::Video => params.video_tb,
            Kind::Audio => params.audio_tb,
        };
        let ts = enc.packet.dts().or(enc.packet.pts()).unwrap_or(0);
        let at = Micros(rescale(ts, tb, MICROS));
        latest = latest.max(at);
        clock.sleep_until(at - LEAD);
        let now = clock.now();
        if !matches!(last_report, Some(t) if now - t < REPORT_EVERY) {
            last_report = Some(now);
            metrics.set_drift(now + LEAD, latest);
            metrics.set_queue_depth("packets", rx.len());
            for (name, out) in &outputs {
                metrics.set_queue_depth(&format!("output_{name}"), out.len());
            }
        }
        for (name, out) in &outputs {
            if paced {
                if let Err(TrySendError::Full(_)) = out.try_send(enc.clone()) {
                    metrics.output_dropped(name, 1);
                }
            } else {
                // Unpaced runs are for tests and benchmarks: nothing may be dropped.
                let _ = out.send(enc.clone());
            }
        }
    }
}
