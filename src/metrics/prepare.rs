//! Conformed copies' metrics (issue 14): whether items found a usable copy when they started,
//! what the background preparer has left to do, and what the copies take on disk.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use super::reg;

/// Why an item starting at its first frame was not played from a copy (the `reason` label
/// of the misses).
pub const MISSES: [&str; 5] = ["missing", "stale", "settings", "damaged", "short"];

/// How a background preparation ended (the `result` label).
pub const RESULTS: [&str; 3] = ["made", "failed", "too_big"];

pub struct PrepareMetrics {
    pub cache_hits_total: IntCounter,
    pub cache_misses_total: IntCounterVec,
    pub queue: IntGauge,
    pub cache_bytes: IntGauge,
    pub copies_total: IntCounterVec,
    pub evicted_total: IntCounter,
    pub boundary_audio_shift_seconds: Histogram,
}

/// Half an AAC frame is 10.7 ms at 48 kHz, 11.6 ms at 44.1 kHz: the most a boundary moves
/// audio either way.
const SHIFT_BUCKETS: [f64; 17] = [
    -0.0117, -0.0107, -0.008, -0.006, -0.004, -0.002, -0.001, -0.0005, 0.0, 0.0005, 0.001, 0.002,
    0.004, 0.006, 0.008, 0.0107, 0.0117,
];

impl PrepareMetrics {
    pub(super) fn new(r: &Registry) -> Self {
        let by = |n: &str, h: &str, l: &str| {
            reg(
                r,
                IntCounterVec::new(Opts::new(n, h), &[l]).expect("valid name"),
            )
        };
        let int = |n: &str, h: &str| reg(r, IntGauge::new(n, h).expect("valid name"));
        let m = PrepareMetrics {
            cache_hits_total: reg(
                r,
                IntCounter::new(
                    "playout_conform_cache_hits_total",
                    "Items that started at their first frame and played from a conformed copy.",
                )
                .expect("valid name"),
            ),
            cache_misses_total: by(
                "playout_conform_cache_misses_total",
                "Items that started at their first frame and were encoded, by why there was \
                 no usable copy (missing, stale, settings, damaged, short).",
                "reason",
            ),
            queue: int(
                "playout_prepare_queue",
                "Items of the playlist the background preparer has yet to make copies of.",
            ),
            cache_bytes: int(
                "playout_conform_cache_bytes",
                "Bytes the conformed copies take in the cache folder.",
            ),
            copies_total: by(
                "playout_prepare_copies_total",
                "Background preparations, by result (made, failed, too_big: over \
                 prepare.max_size).",
                "result",
            ),
            evicted_total: reg(
                r,
                IntCounter::new(
                    "playout_conform_evicted_total",
                    "Copies removed from the cache folder: least recently played ones the \
                     playlist no longer names (prepare.max_size), and copies of changed files.",
                )
                .expect("valid name"),
            ),
            boundary_audio_shift_seconds: reg(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "playout_boundary_audio_shift_seconds",
                        "How far audio was moved at each splice between a conformed copy and \
                         encoded frames, to whole AAC frames (at most half a frame either way; \
                         each splice is placed from the timeline afresh, so it never adds up).",
                    )
                    .buckets(SHIFT_BUCKETS.to_vec()),
                )
                .expect("valid name"),
            ),
        };
        for reason in MISSES {
            m.cache_misses_total.with_label_values(&[reason]);
        }
        for result in RESULTS {
            m.copies_total.with_label_values(&[result]);
        }
        m
    }
}
