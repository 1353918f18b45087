//! The process collector, with CPU time in fractions of a second.
//!
//! The `prometheus` crate's collector reports `process_cpu_seconds_total` as an integer
//! (whole seconds), so a channel using 0.6 s of CPU per second shows 0 and then a jump. This
//! wraps it, drops that one family and reports the same name as a float read from
//! `/proc/self/stat`.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Opts};

const CPU: &str = "process_cpu_seconds_total";

pub struct ProcessCollector {
    inner: prometheus::process_collector::ProcessCollector,
    cpu: Counter,
}

impl ProcessCollector {
    pub fn for_self() -> Self {
        ProcessCollector {
            inner: prometheus::process_collector::ProcessCollector::for_self(),
            cpu: Counter::with_opts(Opts::new(
                CPU,
                "Total user and system CPU time spent in seconds.",
            ))
            .expect("valid name"),
        }
    }
}

/// User plus system CPU seconds of this process.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start at "state".
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / procfs::ticks_per_second() as f64)
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        let mut d: Vec<&Desc> = self
            .inner
            .desc()
            .into_iter()
            .filter(|d| d.fq_name != CPU)
            .collect();
        d.extend(self.cpu.desc());
        d
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut families: Vec<MetricFamily> = self
            .inner
            .collect()
            .into_iter()
            .filter(|f| f.get_name() != CPU)
            .collect();
        if let Some(now) = cpu_seconds() {
            let seen = self.cpu.get();
            if now > seen {
                self.cpu.inc_by(now - seen);
            }
        }
        families.extend(self.cpu.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_has_fractions_and_the_other_families_stay() {
        let c = ProcessCollector::for_self();
        // Burn a little CPU between readings: one reading can be a whole number of seconds
        // by luck (seen: exactly 2 s), five in a row cannot, unless fractions are lost.
        let mut readings = Vec::new();
        let mut x = 0u64;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            while t.elapsed() < std::time::Duration::from_millis(30) {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            let fams = c.collect();
            let names: Vec<&str> = fams.iter().map(|f| f.get_name()).collect();
            assert!(
                names.contains(&"process_resident_memory_bytes"),
                "{names:?}"
            );
            assert_eq!(names.iter().filter(|n| **n == CPU).count(), 1);
            let cpu = fams.iter().find(|f| f.get_name() == CPU).unwrap();
            readings.push(cpu.get_metric()[0].get_counter().get_value());
            if readings.last().is_some_and(|v| v.fract() != 0.0) {
                break;
            }
        }
        assert!(x != 42);
        assert!(
            readings.iter().all(|v| *v > 0.0) && readings.iter().any(|v| v.fract() != 0.0),
            "cpu seconds {readings:?}"
        );
        assert_eq!(c.desc().iter().filter(|d| d.fq_name == CPU).count(), 1);
    }
}
