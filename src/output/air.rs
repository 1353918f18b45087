//! The air, as the pacer sees it: the moment a stretch's first packet leaves for the outputs
//! is the moment it is on air. The pacer tells `Air` of each video packet it lets go; `Air`
//! takes the stretches the source has begun up to that time (`pipeline::starts`), logs each
//! one "On air." with its planned and actual start, and closes the one before it into an
//! as-run entry (when the run keeps a record). It also reports how far the source runs
//! ahead of the air (`playout_air_lead_seconds`).

use std::sync::Arc;

use crate::asrun::writer::AsRunSender;
use crate::asrun::{Entry, Reason};
use crate::pipeline::control::Frontier;
use crate::pipeline::starts::{ItemStarts, Stretch};
use crate::schedule::rfc3339;
use crate::time::Micros;

pub struct Air {
    starts: Arc<ItemStarts>,
    /// The number of the next stretch to take from `starts`.
    next: u64,
    /// The channel time (Unix µs) of the run's first frame.
    t0: Micros,
    /// The stretch on air.
    current: Option<Stretch>,
    /// Where ended entries go; none when the run keeps no record (unpaced).
    asrun: Option<AsRunSender>,
    /// How far the source has got.
    frontier: Option<Arc<Frontier>>,
    /// One frame's duration.
    frame: Micros,
    /// Where the last video frame that left ends (since the first frame).
    end: Micros,
    /// The last video packet left after its own time: the air ran dry. It starts so: the
    /// first frames leave as soon as the encoder gives them, which is not an underrun.
    late: bool,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl Air {
    pub fn new(
        starts: Arc<ItemStarts>,
        t0: Micros,
        asrun: Option<AsRunSender>,
        frontier: Option<Arc<Frontier>>,
        frame: Micros,
    ) -> Air {
        Air {
            starts,
            next: 0,
            t0,
            current: None,
            asrun,
            frontier,
            frame,
            end: Micros::ZERO,
            late: true,
            metrics: None,
        }
    }

    /// Counts underruns into `metrics` (`playout_air_underruns_total`).
    pub fn counting(mut self, metrics: Arc<crate::metrics::Metrics>) -> Air {
        self.metrics = Some(metrics);
        self
    }

    /// A video packet due on air at `at` (since the first frame) left at `now` on the
    /// pacer's clock: later than a frame after its time, the lead had run out. Each such
    /// stretch after the air was first on time is one underrun.
    pub fn released(&mut self, at: Micros, now: Micros) {
        let late = now > at + self.frame;
        if late && !self.late {
            if let Some(m) = &self.metrics {
                m.air.underruns_total.inc();
            }
            tracing::warn!(late_ms = (now - at).0 / 1000, "Underrun: a frame left for the outputs after its time (the source fell behind the air).");
        }
        self.late = late;
    }

    /// A video frame of channel time `at` (since the first frame) leaves for the outputs.
    pub fn leaving(&mut self, at: Micros) {
        self.end = self.end.max(at + self.frame);
        for s in self.starts.due(&mut self.next, at) {
            self.begin(s);
        }
    }

    fn begin(&mut self, s: Stretch) {
        if let Some(cur) = self.current.take() {
            self.close(cur, s.at, s.ended.clone());
        }
        let late = (self.t0 + s.at - s.planned).as_secs_f64();
        tracing::info!(item = %s.title, kind = s.kind.as_str(), planned = %rfc3339(s.planned), actual = %rfc3339(self.t0 + s.at), late_s = format!("{late:.3}"), "On air.");
        self.current = Some(s);
    }

    fn close(&self, cur: Stretch, end: Micros, ended: Reason) {
        if end <= cur.at {
            // Nothing of it aired: another stretch began at the same frame.
            return;
        }
        if let Some(tx) = &self.asrun {
            tx.send(Entry {
                start: self.t0 + cur.at,
                end: self.t0 + end,
                kind: cur.kind,
                title: cur.title,
                path: cur.path,
                planned_start: cur.planned,
                reason: cur.why.unwrap_or(ended),
            });
        }
    }

    /// The stream ended with the last frame that left: what was on air ends there.
    pub fn finish(&mut self) {
        let end = self.end;
        for s in self.starts.due(&mut self.next, end - Micros(1)) {
            self.begin(s);
        }
        if let Some(cur) = self.current.take() {
            self.close(cur, end, Reason::Stopped);
        }
    }

    /// How far the source runs ahead of the packet at `at` (since the first frame), seconds.
    pub fn lead(&self, at: Micros) -> Option<f64> {
        let f = self.frontier.as_ref()?.get();
        (f > Micros::ZERO).then(|| (f - (self.t0 + at)).as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::asrun::Kind;
    use crate::metrics::Metrics;

    fn stretch(at: i64, kind: Kind, title: &str, ended: Reason) -> Stretch {
        Stretch {
            at: Micros(at),
            kind,
            title: title.into(),
            path: Some(PathBuf::from(format!("/m/{title}.mp4"))),
            planned: Micros(1_000_000 + at),
            why: None,
            ended,
        }
    }

    #[test]
    fn entries_tile_the_air_and_carry_how_each_ended() {
        let dir = tempfile::tempdir().unwrap();
        let m = Arc::new(Metrics::new());
        let (tx, _writer) = crate::asrun::writer::start(
            dir.path().to_path_buf(),
            Micros::from_secs(86_400),
            m.clone(),
        )
        .unwrap();
        let starts = Arc::new(ItemStarts::default());
        let frame = Micros(100);
        let mut air = Air::new(starts.clone(), Micros(1_000_000), Some(tx), None, frame);
        starts.begin(stretch(0, Kind::Item, "A", Reason::Played));
        starts.begin(stretch(500, Kind::Item, "B", Reason::Played));
        air.leaving(Micros(499));
        starts.begin(stretch(800, Kind::Copy, "C", Reason::Skipped));
        let mut failed = stretch(800, Kind::Slate, "D", Reason::Played);
        failed.why = Some(Reason::Quarantined);
        starts.begin(failed);
        starts.begin(stretch(900, Kind::Live, "E", Reason::Live));
        air.leaving(Micros(2_000));
        air.leaving(Micros(2_900));
        air.finish();
        drop(air);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while m.air.asrun_entries_total.get() < 4 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let got = crate::asrun::read(dir.path(), Micros(0), Micros(10_000_000)).unwrap();
        let summary: Vec<(i64, i64, &str, &str, String)> = got
            .iter()
            .map(|e| {
                (
                    e.start.0 - 1_000_000,
                    e.end.0 - 1_000_000,
                    e.kind.as_str(),
                    e.title.as_str(),
                    e.reason.text(),
                )
            })
            .collect();
        // C began and was cut at the same frame (nothing of it aired): no entry.
        assert_eq!(
            summary,
            [
                (0, 500, "item", "A", "played".to_string()),
                (500, 800, "item", "B", "skipped".to_string()),
                (800, 900, "slate", "D", "quarantined".to_string()),
                (900, 3_000, "live", "E", "stopped".to_string()),
            ]
        );
    }
}
