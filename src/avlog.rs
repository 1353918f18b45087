//! libav's own log, in ours. libav reports what it refuses only in its log ("non
//! monotonically increasing dts to muxer", a decoder's damaged slice): with it silenced, an
//! operator saw "Invalid argument" and nothing else (issue 28). Its warnings and errors are
//! events of the target `libav`, with the component that spoke (`flv`, `aac`, `h264`,
//! `libx264`) as a field:
//!
//! | libav | ours |
//! |---|---|
//! | panic, fatal | ERROR |
//! | error | WARN |
//! | warning | INFO (DEBUG for the few that every splice or close says, `ROUTINE`) |
//!
//! A file that makes libav say the same thing on every packet must not flood the log:
//! each message (told apart by its format string, before the numbers are filled in) is said
//! at most `PER_WINDOW` times a minute; the first line after a quiet spell says how many were
//! held back. `RUST_LOG=libav=off` silences it all. `libav::route_log` installs it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines of one message in one window.
pub const PER_WINDOW: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Messages told apart at once; past that the table starts afresh (a bound on memory).
const MESSAGES: usize = 1024;

/// libav's levels (`AV_LOG_*`).
const FATAL: i32 = 8;
const ERROR: i32 = 16;
const WARNING: i32 = 24;

/// Warnings that every normal run says: AAC closed with its last frames pending (each
/// splice of a conformed copy reopens the encoders), x264's notes on its own settings.
const ROUTINE: &[&str] = &["frames left in the queue on closing"];

/// Counts each message's lines in its window.
#[derive(Debug, Default)]
pub struct Limiter {
    seen: HashMap<usize, Window>,
}

#[derive(Debug)]
struct Window {
    since: Instant,
    said: u32,
    held: u64,
}

impl Limiter {
    /// Whether the message `key` may be said at `now`: `Some(n)` with the lines held back
    /// since it was last said, or None to hold this one back too.
    pub fn admit(&mut self, key: usize, now: Instant) -> Option<u64> {
        if self.seen.len() >= MESSAGES && !self.seen.contains_key(&key) {
            self.seen.clear();
        }
        let w = self.seen.entry(key).or_insert(Window {
            since: now,
            said: 0,
            held: 0,
        });
        if now.duration_since(w.since) >= WINDOW {
            w.since = now;
            w.said = 0;
        }
        if w.said < PER_WINDOW {
            w.said += 1;
            Some(std::mem::take(&mut w.held))
        } else {
            w.held += 1;
            None
        }
    }
}

static LIMITER: Mutex<Option<Limiter>> = Mutex::new(None);

/// One line from libav at `level` from `component`; `key` tells its message apart.
pub fn line(level: i32, component: &str, key: usize, message: &str) {
    let message = message.trim_end();
    if level > WARNING || message.is_empty() {
        return;
    }
    let held = {
        let mut l = LIMITER.lock().unwrap_or_else(|e| e.into_inner());
        match l
            .get_or_insert_with(Limiter::default)
            .admit(key, Instant::now())
        {
            Some(held) => held,
            None => return,
        }
    };
    if level <= FATAL {
        tracing::error!(target: "libav", component, held_back = held, "{message}");
    } else if level <= ERROR {
        tracing::warn!(target: "libav", component, held_back = held, "{message}");
    } else if ROUTINE.iter().any(|r| message.contains(r)) {
        tracing::debug!(target: "libav", component, held_back = held, "{message}");
    } else {
        tracing::info!(target: "libav", component, held_back = held, "{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_is_said_five_times_a_minute_and_then_counted() {
        let mut l = Limiter::default();
        let t = Instant::now();
        let said: Vec<Option<u64>> = (0..8).map(|_| l.admit(1, t)).collect();
        assert_eq!(
            said,
            vec![
                Some(0),
                Some(0),
                Some(0),
                Some(0),
                Some(0),
                None,
                None,
                None
            ]
        );
        // Another message has its own count.
        assert_eq!(l.admit(2, t), Some(0));
        // A minute on, the first line says how many were held back.
        assert_eq!(l.admit(1, t + WINDOW), Some(3));
        assert_eq!(l.admit(1, t + WINDOW), Some(0));
    }
}
