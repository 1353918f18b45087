//! The air's metrics (issue 26): how far the source runs ahead of what is on air, and the
//! as-run record's writes.

use prometheus::{Gauge, IntCounter, Registry};

use super::reg;

pub struct AirMetrics {
    pub lead_seconds: Gauge,
    pub asrun_entries_total: IntCounter,
    pub asrun_write_errors_total: IntCounter,
    pub underruns_total: IntCounter,
}

impl AirMetrics {
    pub(super) fn new(r: &Registry) -> Self {
        let counter = |n: &str, h: &str| reg(r, IntCounter::new(n, h).expect("valid name"));
        AirMetrics {
            lead_seconds: reg(
                r,
                Gauge::new(
                    "playout_air_lead_seconds",
                    "How far the source runs ahead of the air: the channel time of the next \
                     frame it makes minus that of the packet leaving for the outputs now.",
                )
                .expect("valid name"),
            ),
            asrun_entries_total: counter(
                "playout_asrun_entries_total",
                "As-run entries written (each aired stretch, when it ends).",
            ),
            asrun_write_errors_total: counter(
                "playout_asrun_write_errors_total",
                "As-run entries that could not be written (the disk refused).",
            ),
            underruns_total: counter(
                "playout_air_underruns_total",
                "Times the air ran dry in a paced run: a video frame left for the outputs more \
                 than a frame after its time.",
            ),
        }
    }
}
