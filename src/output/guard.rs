//! The muxer boundary's last check: on every stream, decode time rises from packet to
//! packet. The pipeline makes it so (the encode thread stamps `first + k - delay`, copies
//! follow the same rule); a packet that breaks it is a bug, and a muxer would refuse it
//! (FLV: "non monotonically increasing dts", EINVAL), which cost a reconnect that the ingest
//! sees as a new broadcast (issue 28).
//!
//! Such a packet is not dropped: a video packet dropped takes every picture that refers to
//! it with it, up to the next keyframe. It is moved to one tick of the muxer's timebase
//! after the last packet (1 ms in FLV, 1/90000 s in MPEG-TS), and its presentation time
//! with it where it would otherwise come before its decode time; later packets then go on
//! at their own times. Each one is counted in `playout_output_timestamp_errors_total` and
//! logged as an ERROR naming the output, the item and the two decode times (the first ten,
//! then at most one line a minute with the count since).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ffmpeg_next as ff;

use crate::metrics::Metrics;
use crate::pipeline::starts::ItemStarts;
use crate::time::Micros;

/// Errors logged one by one before the guard logs once a minute.
const LOGGED: u64 = 10;
const EVERY: Duration = Duration::from_secs(60);

pub struct DtsGuard {
    output: String,
    metrics: Arc<Metrics>,
    starts: Arc<ItemStarts>,
    /// The last decode time handed to the muxer, per stream (0 video, 1 audio), in its
    /// timebase.
    last: [Option<i64>; 2],
    errors: u64,
    /// Errors since the last line, and when that was.
    unsaid: u64,
    said: Option<Instant>,
}

/// A packet moved forward: its stream and decode times, before and after, and the last one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nudge {
    pub stream: usize,
    pub last: i64,
    pub dts: i64,
    pub to: i64,
}

impl DtsGuard {
    pub fn new(output: &str, metrics: Arc<Metrics>, starts: Arc<ItemStarts>) -> Self {
        DtsGuard {
            output: output.to_string(),
            metrics,
            starts,
            last: [None; 2],
            errors: 0,
            unsaid: 0,
            said: None,
        }
    }

    /// A new muxer (a new publish session): its streams start afresh.
    pub fn restart(&mut self) {
        self.last = [None; 2];
    }

    /// Checks `p`, about to go to stream `stream` (0 video, 1 audio) of the muxer, its
    /// timestamps in that stream's timebase; `at` is its channel time, to name the item.
    pub fn check(&mut self, stream: usize, p: &mut ff::Packet, at: Micros) {
        if let Some(n) = nudge(&mut self.last[stream], stream, p) {
            self.report(n, at);
        }
    }

    fn report(&mut self, n: Nudge, at: Micros) {
        self.metrics
            .output_timestamp_errors_total
            .with_label_values(&[&self.output])
            .inc();
        self.errors += 1;
        self.unsaid += 1;
        let due = self.errors <= LOGGED || !self.said.is_some_and(|t| t.elapsed() < EVERY);
        if !due {
            return;
        }
        let item = self.starts.at(at).unwrap_or_else(|| "(unknown)".into());
        let stream = if n.stream == 0 { "video" } else { "audio" };
        tracing::error!(
            output = %self.output,
            item = %item,
            stream,
            last_dts = n.last,
            dts = n.dts,
            moved_to = n.to,
            errors = self.unsaid,
            "Decode time did not rise: a pipeline bug. The packet goes out one tick after the last instead of breaking the session."
        );
        self.unsaid = 0;
        self.said = Some(Instant::now());
    }
}

/// Moves `p` after `last` if its decode time does not rise past it, and makes it the last.
fn nudge(last: &mut Option<i64>, stream: usize, p: &mut ff::Packet) -> Option<Nudge> {
    let dts = p.dts().or(p.pts())?;
    let moved = match *last {
        Some(l) if dts <= l => {
            let to = l + 1;
            p.set_dts(Some(to));
            if p.pts().is_some_and(|pts| pts < to) {
                p.set_pts(Some(to));
            }
            Some(Nudge {
                stream,
                last: l,
                dts,
                to,
            })
        }
        _ => None,
    };
    *last = p.dts().or(Some(dts));
    moved
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pts: i64, dts: i64) -> ff::Packet {
        let mut p = ff::Packet::empty();
        p.set_pts(Some(pts));
        p.set_dts(Some(dts));
        p
    }

    #[test]
    fn a_step_back_is_moved_one_tick_after_the_last_and_counted() {
        let m = Arc::new(Metrics::new());
        let starts = Arc::new(ItemStarts::default());
        starts.begin(crate::pipeline::starts::Stretch::titled(
            Micros(0),
            "Vertical",
        ));
        let mut g = DtsGuard::new("main", m.clone(), starts);
        // Video in ms: 18000, 18033, 18067, then 18033 again (the step back of issue 28).
        let mut seen = Vec::new();
        for (pts, dts) in [
            (18067, 18000),
            (18133, 18033),
            (18100, 18067),
            (18100, 18033),
            (18067, 18067),
            (18200, 18100),
        ] {
            let mut p = packet(pts, dts);
            g.check(0, &mut p, Micros(18_000_000));
            seen.push((p.pts().unwrap(), p.dts().unwrap()));
        }
        assert_eq!(
            seen,
            vec![
                (18067, 18000),
                (18133, 18033),
                (18100, 18067),
                (18100, 18068),
                (18069, 18069),
                (18200, 18100),
            ]
        );
        let errors = |o: &str| {
            m.output_timestamp_errors_total
                .with_label_values(&[o])
                .get()
        };
        assert_eq!(errors("main"), 2);
        // Audio is its own stream: its times are not compared with video's.
        let mut a = packet(1000, 1000);
        g.check(1, &mut a, Micros(1_000_000));
        assert_eq!(a.dts(), Some(1000));
        assert_eq!(errors("main"), 2);
        // A new session starts from nothing.
        g.restart();
        let mut p = packet(0, -67);
        g.check(0, &mut p, Micros(0));
        assert_eq!(p.dts(), Some(-67));
        assert_eq!(errors("main"), 2);
    }
}
