//! Outputs: one pacer releases encoded packets when their channel time has come on the
//! clock, then fans them out to one writer thread per output: FLV (RTMP(S) or a file) or HLS. A packet's channel time
//! is its decode timestamp; the pacer lets packets leave up to `LEAD` early so the ingest's
//! buffer never runs dry, and never holds one back because another output is slow.

pub mod air;
pub mod flv;
pub mod guard;
pub mod hls;
pub mod manager;
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

/// The pacer thread: runs until the encoder drops its sender, then drops the outputs'. The
/// outputs come and go through `changes` (from the output manager), taken between packets.
pub fn pace(
    rx: Receiver<Encoded>,
    changes: Receiver<manager::Fanout>,
    params: &StreamParams,
    clock: Box<dyn Clock>,
    paced: bool,
    metrics: Arc<Metrics>,
    mut air: air::Air,
) {
    let mut latest = Micros::ZERO;
    let mut last_report: Option<Micros> = None;
    let mut outputs: Vec<Out> = Vec::new();
    for enc in rx.iter() {
        while let Ok(change) = changes.try_recv() {
            match change {
                manager::Fanout::Add(name, tx) => {
                    outputs.retain(|o| o.name != name);
                    outputs.push(Out {
                        name,
                        tx,
                        closing: None,
                        held: Vec::new(),
                    });
                }
                manager::Fanout::Remove(name) => {
                    for o in outputs.iter_mut().filter(|o| o.name == name) {
                        o.closing = Some(None);
                    }
                }
            }
        }
        let tb = match enc.kind {
            Kind::Video => params.video_tb,
            Kind::Audio => params.audio_tb,
        };
        let ts = enc.packet.dts().or(enc.packet.pts()).unwrap_or(0);
        let at = Micros(rescale(ts, tb, MICROS));
        latest = latest.max(at);
        clock.sleep_until(at - LEAD);
        let now = clock.now();
        if paced && enc.kind == Kind::Video {
            air.released(at, now);
        }
        if !matches!(last_report, Some(t) if now - t < REPORT_EVERY) {
            last_report = Some(now);
            metrics.set_drift(now + LEAD, latest);
            if let Some(lead) = air.lead(latest) {
                metrics.air.lead_seconds.set(lead);
            }
            for o in &outputs {
                metrics.set_queue_depth(&format!("output_{}", o.name), o.tx.len());
            }
        }
        let pts = Micros(rescale(enc.packet.pts().unwrap_or(ts), tb, MICROS));
        if enc.kind == Kind::Video {
            air.leaving(pts);
        }
        // A removed output ends on a GOP boundary: no video from the next keyframe on, audio
        // up to that keyframe's time; then its sender is dropped, which ends its thread.
        // The encoder's video comes out later than the audio of the same instant, so audio
        // is held back until the keyframe says where the cut is.
        outputs.retain_mut(|o| match o.closing {
            Some(None) if enc.kind == Kind::Video && enc.packet.is_key() => {
                o.closing = Some(Some(pts));
                for (a, at) in std::mem::take(&mut o.held) {
                    if at < pts {
                        o.send(a, paced, &metrics);
                    }
                }
                true
            }
            Some(Some(cut)) => !(enc.kind == Kind::Audio && pts >= cut),
            _ => true,
        });
        for o in &mut outputs {
            match o.closing {
                Some(None) if enc.kind == Kind::Audio => o.held.push((enc.clone(), pts)),
                Some(Some(_)) if enc.kind == Kind::Video => {}
                _ => o.send(enc.clone(), paced, &metrics),
            }
        }
    }
    air.finish();
}

/// One output's queue at the pacer.
struct Out {
    name: String,
    tx: Sender<Encoded>,
    /// Being removed: waiting for a keyframe (`Some(None)`), then cut at its time.
    closing: Option<Option<Micros>>,
    /// Audio held back while waiting for that keyframe, with its time.
    held: Vec<(Encoded, Micros)>,
}

impl Out {
    fn send(&self, enc: Encoded, paced: bool, metrics: &Metrics) {
        if paced {
            if let Err(TrySendError::Full(_)) = self.tx.try_send(enc) {
                metrics.output_dropped(&self.name, 1);
            }
        } else {
            // Unpaced runs are for tests and benchmarks: nothing may be dropped.
            let _ = self.tx.send(enc);
        }
    }
}
