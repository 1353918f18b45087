//! The soak test's process sampler: `Sampler` reads VmRSS and the open fds of a process from
//! /proc and the channel seconds encoded from /metrics, once per `every`; `rss_slope` is the
//! least-squares RSS growth per channel hour, for the leak check.

use std::fs;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::watch::{http_get, sample, Poller};

/// One reading of the process and its /metrics.
#[derive(Clone, Debug)]
pub struct Sample {
    pub wall: Duration,
    pub rss_kb: u64,
    pub fds: usize,
    /// Channel seconds out (`playout_encoded_seconds_total` plus
    /// `playout_passthrough_seconds_total`), `playout_wallclock_drift_seconds`,
    /// `playout_av_offset_seconds` (None while /metrics does not answer).
    pub channel_s: Option<f64>,
    pub drift_s: Option<f64>,
    pub av_offset_s: Option<f64>,
}

/// Reads /proc/PID and /metrics every `every` (on a `watch::Poller`) while the process lives.
pub struct Sampler {
    /// The samples and the last /metrics body seen.
    seen: Arc<Mutex<(Vec<Sample>, String)>>,
    _poller: Poller,
}

/// VmRSS in kB (None once the process is gone or a zombie).
fn rss_kb(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Sampler {
    pub fn start(pid: u32, http_port: u16, every: Duration) -> Sampler {
        let seen = Arc::new(Mutex::new((Vec::new(), String::new())));
        let (sn, started) = (seen.clone(), Instant::now());
        let poller = Poller::spawn(every, move || {
            let Some(rss_kb) = rss_kb(pid) else { return };
            let fds = fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
            let body = http_get(http_port, "/metrics").map(|(_, b)| b);
            let m = |name| body.as_deref().and_then(|b| sample(b, name));
            let x = Sample {
                wall: started.elapsed(),
                rss_kb,
                fds,
                channel_s: m("playout_encoded_seconds_total")
                    .map(|e| e + m("playout_passthrough_seconds_total").unwrap_or(0.0)),
                drift_s: m("playout_wallclock_drift_seconds"),
                av_offset_s: m("playout_av_offset_seconds"),
            };
            let mut sn = sn.lock().unwrap();
            sn.0.push(x);
            if let Some(b) = body {
                sn.1 = b;
            }
        });
        Sampler {
            seen,
            _poller: poller,
        }
    }

    /// Stop; every sample and the last /metrics body seen.
    pub fn finish(self) -> (Vec<Sample>, String) {
        let seen = self.seen.clone();
        drop(self);
        let mut seen = seen.lock().unwrap();
        std::mem::take(&mut *seen)
    }
}

/// Least-squares slope of RSS (kB) against channel time, in kB per channel hour, over the
/// samples at or after `from_s` of channel time; None with fewer than 3 such samples.
pub fn rss_slope(samples: &[Sample], from_s: f64) -> Option<f64> {
    let pts: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|x| Some((x.channel_s? / 3600.0, x.rss_kb as f64)))
        .filter(|(h, _)| *h * 3600.0 >= from_s)
        .collect();
    if pts.len() < 3 {
        return None;
    }
    let n = pts.len() as f64;
    let (mx, my) = pts
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let sxy: f64 = pts.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = pts.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}
