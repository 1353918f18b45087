//! The per-output connection state machine and its back-off (STYLE rule 9).
//!
//! `Connected → (write fails or stalls) → Disconnected`: the first retry is at once. Failed
//! attempts then wait 100, 200, 400, 800 ms and stay at 800 ms for about ten seconds, so an
//! ingest that restarts is republished within a second of coming back; after that the wait
//! doubles again up to `CAP`, so a long outage is retried every few seconds, not hammered.
//! Each wait is jittered so that several outputs (or channels) do not retry in lock-step.
//! Pure: time is passed in, and the jitter comes from a seeded generator.

use std::time::{Duration, Instant};

pub const BASE: Duration = Duration::from_millis(100);
pub const FAST: Duration = Duration::from_millis(800);
pub const FAST_ATTEMPTS: u32 = 16;
pub const CAP: Duration = Duration::from_secs(5);

/// Capped, jittered exponential back-off with a fast plateau at the start of an outage.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base: Duration,
    /// The ceiling of the first `fast_attempts` waits.
    pub fast: Duration,
    pub fast_attempts: u32,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: BASE,
            fast: FAST,
            fast_attempts: FAST_ATTEMPTS,
            cap: CAP,
        }
    }
}

fn doubled(d: Duration, times: u32) -> Duration {
    d.saturating_mul(1u32.checked_shl(times).unwrap_or(u32::MAX))
}

impl Backoff {
    /// The ceiling of the wait before retry `attempt`: 0 for the first, then base·2^(n−1) up
    /// to `fast` while n ≤ `fast_attempts`, then doubling from `fast` up to `cap`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let fast = self.fast.min(self.cap);
        if attempt == 0 {
            Duration::ZERO
        } else if attempt <= self.fast_attempts {
            doubled(self.base, attempt - 1).min(fast)
        } else {
            doubled(fast, attempt - self.fast_attempts)
                .max(fast)
                .min(self.cap)
        }
    }

    /// The wait before retry `attempt`, somewhere in [ceiling/2, ceiling] ("equal jitter"):
    /// spread out, yet never much shorter than the schedule asks.
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        let c = self.ceiling(attempt).as_micros() as u64;
        let half = c / 2;
        Duration::from_micros(half + random % (c - half + 1))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Connected,
    Connecting,
    Disconnected { retry_at: Instant },
}

/// One output's link: its state and the schedule of its retries.
#[derive(Debug)]
pub struct Link {
    state: State,
    /// Failed attempts since the last successful connection.
    attempt: u32,
    backoff: Backoff,
    rng: u64,
}

impl Link {
    /// A link that has never connected: it may try at once.
    pub fn new(now: Instant, backoff: Backoff, seed: u64) -> Self {
        Link {
            state: State::Disconnected { retry_at: now },
            attempt: 0,
            backoff,
            rng: seed | 1,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// True when disconnected and the wait is over.
    pub fn due(&self, now: Instant) -> bool {
        matches!(self.state, State::Disconnected { retry_at } if now >= retry_at)
    }

    pub fn connecting(&mut self) {
        self.state = State::Connecting;
    }

    pub fn connected(&mut self) {
        self.state = State::Connected;
        self.attempt = 0;
    }

    /// The connection was lost, or an attempt failed: schedule the next try and return the
    /// wait. A loss while connected retries at once; each failed attempt waits longer.
    pub fn failed(&mut self, now: Instant) -> Duration {
        self.attempt = match self.state {
            State::Connected => 0,
            _ => self.attempt.saturating_add(1),
        };
        let random = self.next_random();
        let wait = self.backoff.delay(self.attempt, random);
        self.state = State::Disconnected {
            retry_at: now + wait,
        };
        wait
    }

    /// A planned end of a good connection (a republish): connect again at once.
    pub fn republish(&mut self, now: Instant) {
        self.state = State::Disconnected { retry_at: now };
        self.attempt = 0;
    }

    /// Failed attempts since the last good connection.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// xorshift64*: enough to decorrelate retries; no crate needed.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_retry_is_at_once_then_doubles_to_the_cap() {
        let b = Backoff::default();
        let ceilings: Vec<u128> = (0..22).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(
            ceilings,
            [
                0, 100, 200, 400, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800, 800,
                1600, 3200, 5000, 5000, 5000
            ]
        );
        assert_eq!(b.ceiling(u32::MAX), CAP);
        // The fast plateau lasts about ten seconds of retrying.
        let plateau: Duration = (1..=FAST_ATTEMPTS).map(|n| b.ceiling(n)).sum();
        assert!(plateau >= Duration::from_secs(9) && plateau <= Duration::from_secs(12));
    }

    #[test]
    fn a_lost_connection_retries_at_once_and_failures_back_off() {
        let t0 = Instant::now();
        let mut l = Link::new(t0, Backoff::default(), 7);
        assert!(l.due(t0));
        l.connecting();
        l.connected();
        assert!(!l.due(t0));
        assert_eq!(l.failed(t0), Duration::ZERO);
        assert!(l.due(t0));
        let mut waits = vec![];
        for _ in 0..24 {
            l.connecting();
            waits.push(l.failed(t0));
        }
        assert!(waits[0] >= Duration::from_millis(50) && waits[0] <= Duration::from_millis(100));
        assert!(waits.iter().all(|w| *w <= CAP));
        assert!(waits[..FAST_ATTEMPTS as usize].iter().all(|w| *w <= FAST));
        assert!(*waits.last().unwrap() >= CAP / 2);
        l.connecting();
        l.connected();
        assert_eq!(l.attempt(), 0);
    }

    proptest! {
        #[test]
        fn delay_stays_within_its_jitter_band(attempt in 0u32..64, random in any::<u64>(),
                                              base_ms in 1u64..2000, fast_ms in 1u64..5000,
                                              fast_attempts in 0u32..20, cap_ms in 1u64..60_000) {
            let b = Backoff {
                base: Duration::from_millis(base_ms),
                fast: Duration::from_millis(fast_ms),
                fast_attempts,
                cap: Duration::from_millis(cap_ms),
            };
            let c = b.ceiling(attempt);
            let d = b.delay(attempt, random);
            prop_assert!(d <= c);
            prop_assert!(d <= b.cap);
            prop_assert!(d >= c / 2);
            if attempt == 0 { prop_assert_eq!(d, Duration::ZERO); }
            prop_assert!(b.ceiling(attempt + 1) >= c, "ceilings never shrink");
        }

        #[test]
        fn retries_never_come_sooner_than_half_the_schedule(seed in any::<u64>(), n in 1u32..30) {
            let t0 = Instant::now();
            let mut l = Link::new(t0, Backoff::default(), seed);
            let mut total = Duration::ZERO;
            for _ in 0..n {
                l.connecting();
                total += l.failed(t0);
            }
            let floor: Duration = (1..=n).map(|k| Backoff::default().ceiling(k) / 2).sum();
            let ceiling: Duration = (1..=n).map(|k| Backoff::default().ceiling(k)).sum();
            prop_assert!(total >= floor && total <= ceiling);
        }
    }
}
