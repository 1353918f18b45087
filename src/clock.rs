//! Clocks, injected at the edge (STYLE rule 2): pacing asks a `Clock`, never `Instant::now`
//! directly, so an unpaced run and a test run the same code with simulated time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use crate::time::Micros;

pub trait Clock: Send {
    /// Time since the clock started.
    fn now(&self) -> Micros;
    /// Returns once `now() >= t`.
    fn sleep_until(&self, t: Micros);
}

/// Wall-clock time, monotonic.
pub struct SystemClock {
    start: Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl SystemClock {
    /// A clock whose zero is `origin` (the instant the channel's frame 0 belongs to).
    pub fn starting_at(origin: Instant) -> Self {
        SystemClock { start: origin }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Micros {
        // Before the origin (a lockstep run waits for its first grid point) time is negative:
        // nothing is due yet.
        let now = Instant::now();
        match now.checked_duration_since(self.start) {
            Some(d) => Micros(d.as_micros() as i64),
            None => Micros(-((self.start - now).as_micros() as i64)),
        }
    }

    fn sleep_until(&self, t: Micros) {
        let now = self.now();
        if t > now {
            std::thread::sleep((t - now).to_std());
        }
    }
}

/// Simulated time: sleeping jumps the clock forward at once (`--unpaced`, tests).
#[derive(Default)]
pub struct SimulatedClock {
    now: AtomicI64,
}

impl Clock for SimulatedClock {
    fn now(&self) -> Micros {
        Micros(self.now.load(Ordering::Relaxed))
    }

    fn sleep_until(&self, t: Micros) {
        self.now.fetch_max(t.0, Ordering::Relaxed);
    }
}

/// Wall-clock time as Unix microseconds: the origin of the channel clock and the `now` of
/// the API. Read at the edges only; the scheduler is given times, never reads them.
pub fn wall_now() -> Micros {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Micros(d.as_micros() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_clock_jumps_and_never_goes_back() {
        let c = SimulatedClock::default();
        c.sleep_until(Micros::from_secs(5));
        assert_eq!(c.now(), Micros::from_secs(5));
        c.sleep_until(Micros::from_secs(1));
        assert_eq!(c.now(), Micros::from_secs(5));
    }

    #[test]
    fn system_clock_sleeps_until_the_deadline() {
        let c = SystemClock::new();
        c.sleep_until(Micros::from_millis(30));
        assert!(c.now() >= Micros::from_millis(30));
    }
}
