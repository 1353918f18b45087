//! The live input's metrics: whether a publisher is on, switches between the playlist and
//! the live feed, refused publishers, and what the feed brings in.

use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use super::reg;

/// Why a publisher was turned away (the `reason` label).
pub const REFUSALS: [&str; 6] = [
    "wrong_key",
    "busy",
    "no_video",
    "undecodable",
    "protocol",
    "not_scheduled",
];

pub struct LiveMetrics {
    pub connected: IntGauge,
    pub switches_total: IntCounterVec,
    pub refused_total: IntCounterVec,
    pub input_fps: Gauge,
    pub input_bytes_total: IntCounter,
}

impl LiveMetrics {
    pub(super) fn new(r: &Registry) -> Self {
        let by = |n: &str, h: &str, l: &str| {
            reg(
                r,
                IntCounterVec::new(Opts::new(n, h), &[l]).expect("valid name"),
            )
        };
        let m = LiveMetrics {
            connected: reg(
                r,
                IntGauge::new(
                    "playout_live_input_connected",
                    "1 while a publisher with the right key is connected to the live input.",
                )
                .expect("valid name"),
            ),
            switches_total: by(
                "playout_live_switches_total",
                "Switches between the playlist and the live input, by direction (to_live, \
                 to_playlist).",
                "direction",
            ),
            refused_total: by(
                "playout_live_refused_total",
                "Publishers refused by the live input, by reason.",
                "reason",
            ),
            input_fps: reg(
                r,
                Gauge::new(
                    "playout_live_input_fps",
                    "Pictures per second the live input decodes (over the last second).",
                )
                .expect("valid name"),
            ),
            input_bytes_total: reg(
                r,
                IntCounter::new(
                    "playout_live_input_bytes_total",
                    "Bytes of audio and video the live input has received (8 x its rate is the \
                     publisher's bitrate).",
                )
                .expect("valid name"),
            ),
        };
        for d in ["to_live", "to_playlist"] {
            m.switches_total.with_label_values(&[d]);
        }
        for reason in REFUSALS {
            m.refused_total.with_label_values(&[reason]);
        }
        m
    }

    pub fn refused(&self, reason: &str) {
        self.refused_total.with_label_values(&[reason]).inc();
    }
}
