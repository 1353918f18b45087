//! The runs' numbers (`Results`), their medians, the printed table and the smoke checks.

use std::fmt::Write;
use std::process::Command;

use crate::Scale;

/// Every run's numbers, and the facts they are divided by.
#[derive(Default)]
pub struct Results {
    /// Name and what it exercises, per matrix clip.
    pub clips: Vec<(String, String)>,
    pub pass_ms: i64,
    pub playout_frames: u64,
    pub floor_frames: u64,
    pub playout_cpu_min: Samples,
    pub floor_cpu_min: Samples,
    pub playout_speed: Samples,
    pub floor_speed: Samples,
    pub playout_rss_mib: Samples,
    pub floor_rss_mib: Samples,
    pub floor_clip_cpu_min: Vec<Samples>,
    pub first_media_ms: Samples,
    pub first_key_ms: Samples,
    pub boundaries: usize,
    pub boundary_desc: String,
    pub boundary_extra_ms: Samples,
    /// The same pass with loudness, logo and lower third.
    pub finish_cpu_min: Samples,
    /// The same pass from conformed copies (`prepare:`), and what making them cost once,
    /// per minute of content.
    pub passthrough_cpu_min: Samples,
    pub prepare_cpu_min: Samples,
    pub passthrough_rss_mib: Samples,
    /// Items of a pass played from their copies, and all items.
    pub passed_items: (usize, usize),
    /// The same pass with every other item prepared, and how many of a pass passed.
    pub half_cpu_min: Samples,
    pub half_passed_items: usize,
    pub load_after: String,
}

impl Results {
    pub fn ratio(&self) -> Samples {
        self.playout_cpu_min.ratio_to(&self.floor_cpu_min)
    }

    pub fn table(&self, s: &Scale) -> String {
        let ratio = self.ratio();
        let verdict = if ratio.median() <= 1.05 {
            "target ≤ 1.05: PASS"
        } else {
            "target ≤ 1.05: over target"
        };
        let rows = [
            row(
                "CPU-s per minute of output",
                &[self.playout_cpu_min.show(2), self.floor_cpu_min.show(2)],
            ),
            row("ratio playout / floor", &[ratio.show(3), verdict.into()]),
            row(
                "speed, × real time",
                &[self.playout_speed.show(2), self.floor_speed.show(2)],
            ),
            row(
                "peak RSS, MiB",
                &[
                    self.playout_rss_mib.show(0),
                    format!(
                        "{} (largest clip); pass-through {}",
                        self.floor_rss_mib.show(0),
                        self.passthrough_rss_mib.show(0)
                    ),
                ],
            ),
            row(
                "start to first packet, ms",
                &[
                    self.first_media_ms.show(0),
                    format!("first keyframe {}", self.first_key_ms.show(0)),
                ],
            ),
            row(
                "with loudness + logo + lower third, CPU-s/min",
                &[
                    self.finish_cpu_min.show(2),
                    format!(
                        "ratio to playout plain {}",
                        self.finish_cpu_min.ratio_to(&self.playout_cpu_min).show(3)
                    ),
                ],
            ),
            row(
                "pass-through of a prepared library, CPU-s/min",
                &[
                    self.passthrough_cpu_min.show(3),
                    format!(
                        "ratio to floor {} (target ≤ 0.05); {} of {} items from copies",
                        self.passthrough_cpu_min
                            .ratio_to(&self.floor_cpu_min)
                            .show(3),
                        self.passed_items.0,
                        self.passed_items.1
                    ),
                ],
            ),
            row(
                "half the items prepared, CPU-s/min",
                &[
                    self.half_cpu_min.show(2),
                    format!(
                        "ratio to floor {}; {} of {} items from copies",
                        self.half_cpu_min.ratio_to(&self.floor_cpu_min).show(3),
                        self.half_passed_items,
                        self.passed_items.1
                    ),
                ],
            ),
            row(
                "one-time prepare, CPU-s per minute of content",
                &[
                    self.prepare_cpu_min.show(2),
                    format!(
                        "ratio to floor {}",
                        self.prepare_cpu_min.ratio_to(&self.floor_cpu_min).show(3)
                    ),
                ],
            ),
            row(
                "item boundary, extra CPU ms",
                &[
                    self.boundary_extra_ms.show(1),
                    format!("per boundary: {}", self.boundary_desc),
                ],
            ),
        ];
        let mut out = format!(
            "playout channel bench ({}): {} run(s), interleaved; median [min–max]\n{}\n\
             channel: {}x{} {} fps, libx264 {} {}k (VBV {}k/{}k, 2 s GOP), AAC {}k 48 kHz \
             stereo\n\
             matrix: {} clips, one pass {:.3} s; frames encoded: playout {}, floor {} \
             (sum of clips)\nload average after: {}\n\n",
            s.name,
            s.runs,
            machine(),
            s.width,
            s.height,
            s.fps,
            s.preset,
            s.bitrate_k,
            s.bitrate_k,
            2 * s.bitrate_k,
            s.audio_k,
            self.clips.len(),
            self.pass_ms as f64 / 1000.0,
            self.playout_frames,
            self.floor_frames,
            self.load_after,
        );
        out += &table(&["", "playout", "floor (ffmpeg CLI)"], &rows);
        out += "\nfloor per clip, CPU-s per minute of output:\n";
        let per_clip: Vec<_> = self
            .clips
            .iter()
            .zip(&self.floor_clip_cpu_min)
            .map(|((name, note), x)| row(name, &[x.show(2), note.clone()]))
            .collect();
        out += &table(&["clip", "floor", ""], &per_clip);
        out
    }

    /// The smoke run's checks: every number was measured and is plausible.
    pub fn assert_sane(&self, table: &str) {
        let all = [
            &self.playout_cpu_min,
            &self.floor_cpu_min,
            &self.playout_speed,
            &self.floor_speed,
            &self.playout_rss_mib,
            &self.floor_rss_mib,
            &self.first_media_ms,
            &self.finish_cpu_min,
            &self.passthrough_cpu_min,
            &self.prepare_cpu_min,
            &self.passthrough_rss_mib,
            &self.half_cpu_min,
        ];
        for x in all {
            assert!(
                x.0.len() == 1 && x.min() > 0.0 && x.max().is_finite(),
                "{x:?}\n{table}"
            );
        }
        let ratio = self.ratio().median();
        assert!(ratio.is_finite() && ratio > 0.0, "ratio {ratio}\n{table}");
        // Every item of the prepared channel from its copy; every other one of the half.
        let n = self.passed_items.1;
        assert_eq!(self.passed_items.0, n, "{table}");
        assert_eq!(self.half_passed_items, n.div_ceil(2), "{table}");
        assert!(self.boundary_extra_ms.median().is_finite(), "{table}");
        assert!(self.first_key_ms.median() < 10_000.0, "{table}");
        let expected = self.pass_ms as f64 * 30.0 / 1000.0;
        for frames in [self.playout_frames, self.floor_frames] {
            assert!(
                (frames as f64 - expected).abs() <= 3.0,
                "{frames} frames encoded, expected about {expected:.0}\n{table}"
            );
        }
        assert!(table.contains("ratio playout / floor"), "{table}");
        let finish = self.finish_cpu_min.ratio_to(&self.playout_cpu_min).median();
        assert!(
            finish.is_finite() && finish > 0.0,
            "finish ratio {finish}\n{table}"
        );
    }
}

/// Several runs of one number.
#[derive(Clone, Debug, Default)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    pub fn push(&mut self, x: f64) {
        self.0.push(x);
    }

    pub fn median(&self) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    pub fn min(&self) -> f64 {
        self.0.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub fn max(&self) -> f64 {
        self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }

    /// `median [min–max]` with `prec` decimals (just the median for one run).
    pub fn show(&self, prec: usize) -> String {
        if self.0.len() < 2 {
            return format!("{:.prec$}", self.median());
        }
        format!(
            "{:.prec$} [{:.prec$}–{:.prec$}]",
            self.median(),
            self.min(),
            self.max()
        )
    }

    /// Each sample divided by the paired sample of `other` (same run).
    pub fn ratio_to(&self, other: &Samples) -> Samples {
        Samples(self.0.iter().zip(&other.0).map(|(a, b)| a / b).collect())
    }
}

/// One table row: a label and a cell per column.
pub struct Row(pub String, pub Vec<String>);

pub fn row(label: &str, cells: &[String]) -> Row {
    Row(label.to_string(), cells.to_vec())
}

/// Rows under a header, columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Row]) -> String {
    let cols = header.len();
    let mut width = vec![0; cols];
    let cell = |r: &Row, c: usize| -> String {
        if c == 0 {
            r.0.clone()
        } else {
            r.1.get(c - 1).cloned().unwrap_or_default()
        }
    };
    for (c, w) in width.iter_mut().enumerate() {
        *w = header[c].chars().count();
        for r in rows {
            *w = (*w).max(cell(r, c).chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&width)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect();
        let _ = writeln!(out, "  {}", padded.join("   ").trim_end());
    };
    line(header.iter().map(|s| s.to_string()).collect(), &mut out);
    for r in rows {
        line((0..cols).map(|c| cell(r, c)).collect(), &mut out);
    }
    out
}

/// Where the numbers were taken: CPUs, model, ffmpeg, load, date.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let ffmpeg = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(String::from)
        })
        .unwrap_or_else(|| "ffmpeg: unknown version".into());
    let ffmpeg = ffmpeg.split(" Copyright").next().unwrap_or_default();
    format!(
        "machine: {cpus} × {model}; {ffmpeg}; load average {}\ndate: {}",
        load(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    )
}

/// The 1-minute load average (other work on the machine shows in the spread of the runs).
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into())
}
