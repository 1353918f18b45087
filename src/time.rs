//! Time as integers (STYLE rule 1): rationals for timebases and rates, `Micros` for
//! configured durations, and exact integer conversions between the channel's frame grid and
//! its sample grid. No `f64` seconds ever enter the timeline; floats appear only for display.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A positive rational: a timebase (seconds per tick) or a rate (ticks per second).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rational {
    pub num: i64,
    pub den: i64,
}

impl Rational {
    pub const fn new(num: i64, den: i64) -> Self {
        Rational { num, den }
    }

    /// The reciprocal: a rate of 30000/1001 frames per second has a timebase of 1001/30000.
    pub const fn invert(self) -> Self {
        Rational {
            num: self.den,
            den: self.num,
        }
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

impl From<Rational> for ffmpeg_next::Rational {
    fn from(r: Rational) -> Self {
        ffmpeg_next::Rational::new(r.num as i32, r.den as i32)
    }
}

/// `value * from / to`, rounded to the nearest integer (halves away from zero), computed in
/// 128-bit so no intermediate overflows. The same contract as libav's `av_rescale_q`.
pub fn rescale(value: i64, from: Rational, to: Rational) -> i64 {
    let n = value as i128 * from.num as i128 * to.den as i128;
    let d = from.den as i128 * to.num as i128;
    div_round(n, d) as i64
}

fn div_round(n: i128, d: i128) -> i128 {
    let (n, d) = if d < 0 { (-n, -d) } else { (n, d) };
    if n >= 0 {
        (n + d / 2) / d
    } else {
        -((-n + d / 2) / d)
    }
}

/// How many samples the audio timeline holds when the video timeline holds `frames` frames:
/// `floor(frames * sample_rate / fps)`. At 29.97 fps a frame is 1601.6 samples, so the audio
/// end is pinned to the frame grid with less than one sample of error, however long it runs.
pub fn samples_at_frame(frames: i64, fps: Rational, sample_rate: i64) -> i64 {
    let n = frames as i128 * sample_rate as i128 * fps.den as i128;
    (n / fps.num as i128) as i64
}

/// The fewest whole frames that cover `samples` samples: `ceil(samples * fps / sample_rate)`.
pub fn frames_covering(samples: i64, fps: Rational, sample_rate: i64) -> i64 {
    let n = samples as i128 * fps.num as i128;
    let d = sample_rate as i128 * fps.den as i128;
    ((n + d - 1) / d) as i64
}

/// The number of whole frames in `span` (rounded to nearest).
pub fn frames_in(span: Micros, fps: Rational) -> i64 {
    rescale(span.0, MICROS, fps.invert())
}

/// The timebase of `Micros`.
pub const MICROS: Rational = Rational::new(1, 1_000_000);

/// A duration or position in microseconds, as written in channel and playlist files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Micros(pub i64);

impl Micros {
    pub const ZERO: Micros = Micros(0);

    pub const fn from_secs(s: i64) -> Self {
        Micros(s * 1_000_000)
    }

    pub const fn from_millis(ms: i64) -> Self {
        Micros(ms * 1_000)
    }

    /// For display and metrics only; never feed this back into the timeline.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_micros(self.0.max(0) as u64)
    }
}

impl std::ops::Add for Micros {
    type Output = Micros;
    fn add(self, rhs: Micros) -> Micros {
        Micros(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Micros {
    type Output = Micros;
    fn sub(self, rhs: Micros) -> Micros {
        Micros(self.0 - rhs.0)
    }
}

/// Why a duration string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a duration (expected e.g. 90s, 1m30s, 1h, 500ms, 01:30:00 or a number of seconds)")]
pub struct DurationError {
    pub input: String,
}

impl FromStr for Micros {
    type Err = DurationError;

    /// Accepts `90`, `1.5`, `90s`, `500ms`, `1m30s`, `2h`, `1h2m3.5s`, `01:30`, `01:30:00.250`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DurationError {
            input: s.to_string(),
        };
        let t = s.trim();
        if t.is_empty() || t.starts_with('-') || t.starts_with('+') {
            return Err(err());
        }
        if t.contains(':') {
            let parts: Vec<&str> = t.split(':').collect();
            if parts.len() > 3 {
                return Err(err());
            }
            let mut total: i64 = 0;
            for (i, p) in parts.iter().enumerate() {
                let last = i == parts.len() - 1;
                let v = if last {
                    parse_decimal(p).ok_or_else(err)?
                } else {
                    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(err());
                    }
                    let whole: i64 = p.parse().map_err(|_| err())?;
                    whole.checked_mul(1_000_000).ok_or_else(err)?
                };
                if i > 0 && v >= 60_000_000 {
                    return Err(err());
                }
                total = total
                    .checked_mul(if i == 0 { 1 } else { 60 })
                    .and_then(|x| x.checked_add(v))
                    .ok_or_else(err)?;
            }
            return Ok(Micros(total));
        }
        if let Some(v) = parse_decimal(t) {
            return Ok(Micros(v));
        }
        // Unit form: a sequence of <decimal><unit> with units h, m, s, ms, in that order.
        let mut rest = t;
        let mut total: i64 = 0;
        let mut last_rank = 0;
        while !rest.is_empty() {
            let n = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(err)?;
            if n == 0 {
                return Err(err());
            }
            let (num, tail) = rest.split_at(n);
            let (unit_len, scale, rank) = if tail.starts_with("ms") {
                (2, 1_000i64, 4)
            } else if tail.starts_with('h') {
                (1, 3_600_000_000, 1)
            } else if tail.starts_with('m') {
                (1, 60_000_000, 2)
            } else if tail.starts_with('s') {
                (1, 1_000_000, 3)
            } else {
                return Err(err());
            };
            if rank <= last_rank {
                return Err(err());
            }
            last_rank = rank;
            let micros = parse_decimal(num).ok_or_else(err)?;
            // parse_decimal returns micro-units of seconds; scale to the unit.
            let v = i64::try_from(micros as i128 * scale as i128 / 1_000_000).map_err(|_| err())?;
            total = total.checked_add(v).ok_or_else(err)?;
            rest = &tail[unit_len..];
        }
        Ok(Micros(total))
    }
}

/// Parses `123` or `123.456789` as millionths (`123.5` -> 123_500_000). Digits past the sixth
/// decimal are truncated.
fn parse_decimal(s: &str) -> Option<i64> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.ends_with('.') {
        return None;
    }
    let whole: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut f: i64 = 0;
    for (i, b) in frac.bytes().take(6).enumerate() {
        f += (b - b'0') as i64 * 10i64.pow(5 - i as u32);
    }
    whole.checked_mul(1_000_000)?.checked_add(f)
}

impl fmt::Display for Micros {
    /// `1m30s`, `2.5s`, `1h0m0.04s`: the same notation the files accept.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut us = self.0;
        if us < 0 {
            write!(f, "-")?;
            us = -us;
        }
        let h = us / 3_600_000_000;
        let m = (us / 60_000_000) % 60;
        let s = (us / 1_000_000) % 60;
        let frac = us % 1_000_000;
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if h > 0 || m > 0 {
            write!(f, "{m}m")?;
        }
        if frac == 0 {
            write!(f, "{s}s")
        } else {
            let digits = format!("{frac:06}");
            write!(f, "{s}.{}s", digits.trim_end_matches('0'))
        }
    }
}

impl<'de> Deserialize<'de> for Micros {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Micros;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 90s, 1m30s, 01:30:00 or a number of seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Micros, E> {
                i64::try_from(v)
                    .ok()
                    .and_then(|v| v.checked_mul(1_000_000))
                    .map(Micros)
                    .ok_or_else(|| E::custom(format!("{v} seconds is too long")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Micros, E> {
                if v < 0 {
                    return Err(E::custom(format!(
                        "{v} is negative (expected a duration of 0 or more)"
                    )));
                }
                self.visit_u64(v as u64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Micros, E> {
                if !v.is_finite() || !(0.0..=1e12).contains(&v) {
                    return Err(E::custom(format!(
                        "{v} is not a duration (expected a number of seconds, 0 or more)"
                    )));
                }
                Ok(Micros((v * 1e6).round() as i64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Micros, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
#[path = "time_tests.rs"]
mod tests;
