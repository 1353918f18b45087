//! Every metric, declared once (STYLE rule 10): `playout_<name>_<unit>[_total]`, low-cardinality
//! labels (an output's configured name, a failure reason; never a file path or a URL).
//! Stages update them in batches, not per packet.

pub mod air;
pub mod live;
pub mod prepare;
#[cfg(target_os = "linux")]
mod process;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use prometheus::{
    Counter, Encoder, Gauge, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::time::{Micros, Rational};

/// The `reason` labels of `playout_item_failures_total`, in the order of
/// `pipeline::open::FailReason`'s variants.
pub const FAIL_REASONS: [&str; 9] = [
    "missing",
    "empty",
    "unreadable",
    "no_streams",
    "unsupported",
    "read",
    "decode",
    "truncated",
    "quarantined",
];

/// What the splicer placed since its last report, in plain counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpliceDelta {
    pub held_frames: i64,
    pub slate_frames: i64,
    pub silence_samples: i64,
    /// Audio end minus video end of the last item that had both (µs).
    pub last_av_offset_us: Option<i64>,
}

pub struct Metrics {
    registry: Registry,
    started: Instant,
    /// Milliseconds since start at which the encoder last made progress (for /healthz).
    last_progress_ms: AtomicI64,
    /// Milliseconds since start at which some output was last seen connected (for /healthz).
    last_connected_ms: AtomicI64,
    /// The pacer has released a packet to the outputs: the channel is on air (`/readyz`). A
    /// lockstep start encodes ahead of its first frame's instant, which it waits for.
    aired: std::sync::atomic::AtomicBool,
    pub video_frames_encoded_total: IntCounter,
    pub encoded_seconds_total: Counter,
    /// Channel seconds passed through from conformed copies (not encoded).
    pub passthrough_seconds_total: Counter,
    pub item_transitions_total: IntCounter,
    pub item_failures_total: IntCounterVec,
    pub slate_seconds_total: Counter,
    pub held_frames_total: IntCounter,
    pub silence_seconds_total: Counter,
    pub wallclock_drift_seconds: Gauge,
    pub output_connected: IntGaugeVec,
    pub output_reconnects_total: IntCounterVec,
    pub output_bytes_total: IntCounterVec,
    pub output_dropped_packets_total: IntCounterVec,
    pub output_timestamp_errors_total: IntCounterVec,
    pub build_info: IntGaugeVec,
    pub playlist_items: IntGauge,
    pub current_item_position_seconds: Gauge,
    pub current_item_remaining_seconds: Gauge,
    pub av_offset_seconds: Gauge,
    pub encode_speed_ratio: Gauge,
    pub queue_depth: IntGaugeVec,
    pub playlist_reloads_total: IntCounterVec,
    pub loudness_items_total: IntCounterVec,
    pub loudness_measurements_total: IntCounterVec,
    pub loudness_queue: IntGauge,
    pub http_connections: IntGauge,
    pub air: air::AirMetrics,
    pub live: live::LiveMetrics,
    pub prepare: prepare::PrepareMetrics,
}

fn gauge(r: &Registry, name: &str, help: &str) -> Gauge {
    reg(r, Gauge::new(name, help).expect("valid name"))
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: T) -> T {
    r.register(Box::new(m.clone()))
        .expect("metric names are unique");
    m
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        #[cfg(target_os = "linux")]
        r.register(Box::new(process::ProcessCollector::for_self()))
            .expect("process collector registers once");
        let counter = |n: &str, h: &str| reg(&r, IntCounter::new(n, h).expect("valid name"));
        let fcounter = |n: &str, h: &str| reg(&r, Counter::new(n, h).expect("valid name"));
        let by = |n: &str, h: &str, l: &str| {
            reg(
                &r,
                IntCounterVec::new(Opts::new(n, h), &[l]).expect("valid name"),
            )
        };
        let m = Metrics {
            started: Instant::now(),
            last_progress_ms: AtomicI64::new(0),
            last_connected_ms: AtomicI64::new(0),
            aired: std::sync::atomic::AtomicBool::new(false),
            video_frames_encoded_total: counter(
                "playout_video_frames_encoded_total",
                "Video frames handed to the encoder.",
            ),
            encoded_seconds_total: fcounter(
                "playout_encoded_seconds_total",
                "Channel seconds encoded.",
            ),
            passthrough_seconds_total: fcounter(
                "playout_passthrough_seconds_total",
                "Seconds of channel time passed through from conformed copies, not encoded.",
            ),
            item_transitions_total: counter(
                "playout_item_transitions_total",
                "Items started (media and slate).",
            ),
            item_failures_total: by(
                "playout_item_failures_total",
                "Items that could not play, by reason.",
                "reason",
            ),
            slate_seconds_total: fcounter(
                "playout_slate_seconds_total",
                "Seconds of slate played (slate items and failed items).",
            ),
            held_frames_total: counter(
                "playout_held_frames_total",
                "Frames repeated to fill gaps and pad items.",
            ),
            silence_seconds_total: fcounter(
                "playout_silence_seconds_total",
                "Seconds of generated silence (items without audio, padding).",
            ),
            wallclock_drift_seconds: reg(
                &r,
                Gauge::new(
                    "playout_wallclock_drift_seconds",
                    "Output time minus clock time (negative: running late).",
                )
                .expect("valid name"),
            ),
            output_connected: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new(
                        "playout_output_connected",
                        "1 while the output is connected.",
                    ),
                    &["output"],
                )
                .expect("valid name"),
            ),
            output_reconnects_total: by(
                "playout_output_reconnects_total",
                "Connections lost and retried.",
                "output",
            ),
            output_bytes_total: by(
                "playout_output_bytes_total",
                "Bytes of packets written.",
                "output",
            ),
            output_dropped_packets_total: by(
                "playout_output_dropped_packets_total",
                "Packets not sent while an output was down or behind.",
                "output",
            ),
            output_timestamp_errors_total: by(
                "playout_output_timestamp_errors_total",
                "Packets whose decode time did not rise, moved one tick after the last (a pipeline bug).",
                "output",
            ),
            build_info: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new("playout_build_info", "Always 1; the version is a label."),
                    &["version"],
                )
                .expect("valid name"),
            ),
            playlist_items: reg(
                &r,
                IntGauge::new("playout_playlist_items", "Items in the rotation.")
                    .expect("valid name"),
            ),
            current_item_position_seconds: gauge(
                &r,
                "playout_current_item_position_seconds",
                "How far into the slot on air the channel is (per the schedule).",
            ),
            current_item_remaining_seconds: gauge(
                &r,
                "playout_current_item_remaining_seconds",
                "Time left in the slot on air (per the schedule).",
            ),
            av_offset_seconds: gauge(
                &r,
                "playout_av_offset_seconds",
                "Audio end minus video end of the last item, before padding.",
            ),
            encode_speed_ratio: gauge(
                &r,
                "playout_encode_speed_ratio",
                "Channel seconds encoded per wall-clock second, smoothed.",
            ),
            queue_depth: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new(
                        "playout_queue_depth",
                        "Items waiting between pipeline stages (frames, packets, per output).",
                    ),
                    &["stage"],
                )
                .expect("valid name"),
            ),
            playlist_reloads_total: by(
                "playout_playlist_reloads_total",
                "Playlist reloads, by result (ok, rejected).",
                "result",
            ),
            loudness_items_total: by(
                "playout_loudness_items_total",
                "Items aired under audio.loudness, by mode: static (measured gain and \
                 limiter), dynamic (not measured yet: single-pass normaliser), off (opted \
                 out, silent or unmeasurable).",
                "mode",
            ),
            loudness_measurements_total: by(
                "playout_loudness_measurements_total",
                "Loudness measurements made, by result (ok, failed).",
                "result",
            ),
            loudness_queue: reg(
                &r,
                IntGauge::new(
                    "playout_loudness_queue",
                    "Items of the playlist waiting to be measured.",
                )
                .expect("valid name"),
            ),
            http_connections: reg(
                &r,
                IntGauge::new(
                    "playout_http_connections",
                    "HTTP connections open now (at most 1024; more wait).",
                )
                .expect("valid name"),
            ),
            air: air::AirMetrics::new(&r),
            live: live::LiveMetrics::new(&r),
            prepare: prepare::PrepareMetrics::new(&r),
            registry: r,
        };
        // Every label value exists from the start at 0, so rate() and increase() see the
        // first event instead of a series that appears at 1.
        for result in ["ok", "rejected"] {
            m.playlist_reloads_total.with_label_values(&[result]);
        }
        for mode in ["static", "dynamic", "off"] {
            m.loudness_items_total.with_label_values(&[mode]);
        }
        for result in ["ok", "failed"] {
            m.loudness_measurements_total.with_label_values(&[result]);
        }
        for reason in FAIL_REASONS {
            m.item_failures_total.with_label_values(&[reason]);
        }
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        m
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding of gathered metrics");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }

    /// Frames of a conformed copy sent on: progress as much as encoded ones (the watchdog
    /// and the readiness see the stream move), counted apart.
    pub fn add_passthrough_frames(&self, frames: i64, fps: Rational) {
        if frames <= 0 {
            return;
        }
        self.passthrough_seconds_total
            .inc_by(frames as f64 * fps.den as f64 / fps.num as f64);
        self.last_progress_ms
            .store(self.started.elapsed().as_millis() as i64, Ordering::Relaxed);
    }

    pub fn add_encoded_frames(&self, frames: i64, fps: Rational) {
        if frames <= 0 {
            return;
        }
        self.video_frames_encoded_total.inc_by(frames as u64);
        self.encoded_seconds_total
            .inc_by(frames as f64 * fps.den as f64 / fps.num as f64);
        self.last_progress_ms
            .store(self.started.elapsed().as_millis() as i64, Ordering::Relaxed);
    }

    /// What the splicer placed since its last report: frames held and of slate at `fps`,
    /// samples of silence at `sample_rate`, and the last item's A/V end offset.
    pub fn record_splice(&self, d: &SpliceDelta, fps: Rational, sample_rate: u32) {
        let frame_secs = fps.den as f64 / fps.num as f64;
        self.held_frames_total.inc_by(d.held_frames.max(0) as u64);
        self.slate_seconds_total
            .inc_by(d.slate_frames.max(0) as f64 * frame_secs);
        self.silence_seconds_total
            .inc_by(d.silence_samples.max(0) as f64 / f64::from(sample_rate));
        if let Some(us) = d.last_av_offset_us {
            self.av_offset_seconds.set(us as f64 / 1e6);
        }
    }

    /// `output_time` is the channel time of the newest packet released; `clock` is now.
    pub fn set_drift(&self, clock: Micros, output_time: Micros) {
        self.wallclock_drift_seconds
            .set((output_time - clock).as_secs_f64());
        self.aired.store(true, Ordering::Relaxed);
    }

    /// Whether the pacer has released anything to the outputs yet.
    pub fn has_aired(&self) -> bool {
        self.aired.load(Ordering::Relaxed)
    }

    pub fn output_connected(&self, output: &str, up: bool) {
        self.output_connected
            .with_label_values(&[output])
            .set(up as i64);
        if up {
            self.saw_connected();
        }
    }

    /// Whether `output` is connected (or, for HLS, writing) now.
    pub fn is_output_connected(&self, output: &str) -> bool {
        self.output_connected.with_label_values(&[output]).get() > 0
    }

    /// An output is connected now (called on connect and with each progress batch).
    pub fn saw_connected(&self) {
        self.last_connected_ms
            .store(self.started.elapsed().as_millis() as i64, Ordering::Relaxed);
    }

    /// Time since some output was last connected, or since start if none ever was.
    pub fn all_outputs_down_for(&self) -> std::time::Duration {
        let now = self.started.elapsed().as_millis() as i64;
        let last = self.last_connected_ms.load(Ordering::Relaxed);
        std::time::Duration::from_millis((now - last).max(0) as u64)
    }

    pub fn set_queue_depth(&self, stage: &str, depth: usize) {
        self.queue_depth
            .with_label_values(&[stage])
            .set(depth as i64);
    }

    /// Creates an output's series at 0 (and disconnected) before it first connects.
    pub fn output_init(&self, output: &str) {
        self.output_connected(output, false);
        self.output_reconnects_total.with_label_values(&[output]);
        self.output_bytes_total.with_label_values(&[output]);
        self.output_dropped_packets_total
            .with_label_values(&[output]);
        self.output_timestamp_errors_total
            .with_label_values(&[output]);
    }

    pub fn output_reconnect(&self, output: &str) {
        self.output_reconnects_total
            .with_label_values(&[output])
            .inc();
    }

    pub fn output_dropped(&self, output: &str, n: u64) {
        self.output_dropped_packets_total
            .with_label_values(&[output])
            .inc_by(n);
    }

    pub fn output_progress(&self, output: &str, bytes: u64, dropped: u64) {
        self.output_bytes_total
            .with_label_values(&[output])
            .inc_by(bytes);
        self.output_dropped(output, dropped);
    }

    /// Time since the encoder last made progress, or since start if it never has.
    pub fn stalled_for(&self) -> std::time::Duration {
        let now = self.started.elapsed().as_millis() as i64;
        let last = self.last_progress_ms.load(Ordering::Relaxed);
        std::time::Duration::from_millis((now - last).max(0) as u64)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_names_are_exposed() {
        let m = Metrics::new();
        m.add_encoded_frames(30, Rational::new(30, 1));
        m.item_failures_total.with_label_values(&["missing"]).inc();
        m.item_transitions_total.inc();
        let d = SpliceDelta {
            slate_frames: 60,
            ..Default::default()
        };
        m.record_splice(&d, Rational::new(30, 1), 48000);
        let text = m.render();
        for name in [
            "playout_video_frames_encoded_total 30",
            "playout_encoded_seconds_total 1",
            "playout_item_transitions_total 1",
            "playout_item_failures_total{reason=\"missing\"} 1",
            "playout_slate_seconds_total 2",
            "playout_build_info{version=",
            "process_resident_memory_bytes",
            "playout_playlist_reloads_total{result=\"rejected\"} 0",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}
