//! The scheduler: what plays at wall time T. A pure function of (schedule, anchor, time)
//! (STYLE rule 2): no clock, file or lock inside, so a day of schedule is tested in
//! microseconds and the pipeline, the EPG and the now-playing API all read the same answer.
//!
//! Semantics: the rotation loops from the anchor. Events start exactly at their time (daily
//! at a local time in the channel's zone, or once at an instant). A rotation item that would
//! not finish before the next event is not started: the time up to the event is slate (a
//! `Gap`). After the event the rotation resumes with the item after the last one played. An
//! event that starts while another is on cuts it short.
//!
//! Time here is integer microseconds since the Unix epoch (`Micros`), UTC.

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::time::Micros;

/// One entry of the rotation, with its length known (probed or configured).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub title: String,
    pub kind: EntryKind,
    pub duration: Micros,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A media item of the playlist, by its index in `items`.
    Media(usize),
    /// An explicit `slate:` item of the playlist, by its index in `items`.
    Slate(usize),
}

impl EntryKind {
    /// The entry's index in the playlist's `items`.
    pub fn item(self) -> usize {
        match self {
            EntryKind::Media(i) | EntryKind::Slate(i) => i,
        }
    }
}

/// When an event happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Every day at this local time in the schedule's zone.
    Daily(NaiveTime),
    /// Once, at this instant.
    Once(Micros),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub when: When,
    pub title: String,
    pub duration: Micros,
}

/// Everything `resolve` needs: immutable, shared as `Arc<Schedule>` and swapped whole.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub rotation: Vec<Entry>,
    pub events: Vec<Event>,
    pub tz: Tz,
}

/// Where the rotation starts: rotation entry `index` begins at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub at: Micros,
    pub index: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// Rotation entry `index` (a media item or an explicit slate).
    Rotation(usize),
    /// Slate filling the time up to an event.
    Gap,
    /// Event `index`.
    Event(usize),
}

/// A stretch of the timeline: `[start, end)` with what plays in it. `start` may be before
/// the anchor for an event already running when the channel starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub kind: SlotKind,
    pub start: Micros,
    pub end: Micros,
    /// For rotation slots: the rotation index that follows this one.
    pub next_index: usize,
}

impl Slot {
    pub fn duration(&self) -> Micros {
        self.end - self.start
    }
}

/// The slot playing at `now`.
pub fn resolve(s: &Schedule, anchor: Anchor, now: Micros) -> Slot {
    let mut w = Walker::new(s, anchor);
    loop {
        let slot = w.next_slot(Some(now));
        if slot.end > now {
            return slot;
        }
    }
}

/// The slots that tile `[from, to)`: the first starts at or before `from`, the last ends at or
/// after `to` (or the list stops at `max` slots), and each starts where the previous one
/// ended.
pub fn slots(s: &Schedule, anchor: Anchor, from: Micros, to: Micros, max: usize) -> Vec<Slot> {
    let mut out = vec![resolve(s, anchor, from)];
    let mut w = Walker::at_slot(s, out[0]);
    while out.last().expect("non-empty").end < to && out.len() < max {
        out.push(w.next_slot(None));
    }
    out
}

/// Longest stretch a single slot may cover when there is nothing at all to play (no rotation,
/// no upcoming event): the slate is cut into days so every slot ends.
const IDLE_SLOT: Micros = Micros::from_secs(24 * 3600);

struct Walker<'a> {
    s: &'a Schedule,
    t: Micros,
    index: usize,
    cycle: Micros,
}

impl<'a> Walker<'a> {
    fn new(s: &'a Schedule, anchor: Anchor) -> Self {
        let n = s.rotation.len().max(1);
        let mut w = Walker {
            s,
            t: anchor.at,
            index: anchor.index % n,
            cycle: Micros(s.rotation.iter().map(|e| e.duration.0.max(0)).sum()),
        };
        // An event already on at the anchor is joined in progress.
        if let Some((start, i)) = w.event_running_at(anchor.at) {
            w.t = start;
            let _ = i;
        }
        w
    }

    /// Continues after `slot` (used to list slots once the first one is known).
    fn at_slot(s: &'a Schedule, slot: Slot) -> Self {
        let mut w = Walker::new(
            s,
            Anchor {
                at: slot.end,
                index: slot.next_index,
            },
        );
        w.t = slot.end;
        w
    }

    /// The next slot from the walker's position. With `skip_to`, whole rotation cycles that
    /// end before that time are skipped arithmetically instead of walked.
    fn next_slot(&mut self, skip_to: Option<Micros>) -> Slot {
        let t = self.t;
        let next_event = self.next_event_at_or_after(t);
        if let Some((start, i)) = self.event_running_at(t).or(next_event.filter(|e| e.0 == t)) {
            let mut end = start + self.s.events[i].duration;
            if let Some((cut, _)) = self.next_event_at_or_after(Micros(start.0 + 1)) {
                end = end.min(cut);
            }
            self.t = end;
            return Slot {
                kind: SlotKind::Event(i),
                start,
                end,
                next_index: self.index,
            };
        }
        let limit = next_event.map(|e| e.0);
        if self.s.rotation.is_empty() || self.cycle.0 <= 0 {
            let end = limit.unwrap_or(t + IDLE_SLOT);
            self.t = end;
            return Slot {
                kind: SlotKind::Gap,
                start: t,
                end,
                next_index: self.index,
            };
        }
        if let Some(target) = skip_to {
            let horizon = limit.map_or(target, |l| l.min(target));
            if horizon > t && self.index == 0 {
                let cycles = (horizon - t).0 / self.cycle.0;
                self.t = Micros(t.0 + cycles * self.cycle.0);
            }
        }
        let t = self.t;
        let entry = &self.s.rotation[self.index];
        let end = t + entry.duration;
        if let Some(l) = limit {
            if end > l {
                // It would not finish before the event: not started; slate until the event.
                self.t = l;
                return Slot {
                    kind: SlotKind::Gap,
                    start: t,
                    end: l,
                    next_index: self.index,
                };
            }
        }
        let index = self.index;
        self.index = (self.index + 1) % self.s.rotation.len();
        self.t = end;
        Slot {
            kind: SlotKind::Rotation(index),
            start: t,
            end,
            next_index: self.index,
        }
    }

    /// The first event occurrence starting at or after `t`.
    fn next_event_at_or_after(&self, t: Micros) -> Option<(Micros, usize)> {
        self.s
            .events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| occurrence_at_or_after(e.when, self.s.tz, t).map(|at| (at, i)))
            .min()
    }

    /// An event occurrence that started before `t` and is still on at `t` (not cut by a later
    /// event before `t`).
    fn event_running_at(&self, t: Micros) -> Option<(Micros, usize)> {
        let (start, i) = self
            .s
            .events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| occurrence_before(e.when, self.s.tz, t).map(|at| (at, i)))
            .max()?;
        let mut end = start + self.s.events[i].duration;
        if let Some((cut, _)) = self.next_event_at_or_after(Micros(start.0 + 1)) {
            end = end.min(cut);
        }
        (end > t).then_some((start, i))
    }
}

/// The instant of `time` on local `date` in `tz`. A time skipped by a daylight-saving jump
/// happens at the first valid instant after the gap; a time that occurs twice, at the first.
fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> Option<Micros> {
    let naive = date.and_time(time);
    let dt = match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(d) => d,
        chrono::LocalResult::Ambiguous(a, b) => a.min(b),
        chrono::LocalResult::None => {
            // Spring forward: try each minute after until the zone has it (gaps are ≤ 2 h).
            (1..=180).find_map(|m| {
                tz.from_local_datetime(&(naive + ChronoDuration::minutes(m)))
                    .earliest()
            })?
        }
    };
    Some(Micros(dt.timestamp_micros()))
}

fn date_of(t: Micros, tz: Tz) -> Option<NaiveDate> {
    DateTime::<Utc>::from_timestamp_micros(t.0).map(|d| d.with_timezone(&tz).date_naive())
}

/// The first occurrence of `when` at or after `t`.
pub fn occurrence_at_or_after(when: When, tz: Tz, t: Micros) -> Option<Micros> {
    match when {
        When::Once(at) => (at >= t).then_some(at),
        When::Daily(time) => {
            let d = date_of(t, tz)?;
            (-1..=2)
                .filter_map(|k| d.checked_add_signed(ChronoDuration::days(k)))
                .filter_map(|day| local_instant(tz, day, time))
                .filter(|at| *at >= t)
                .min()
        }
    }
}

/// The last occurrence of `when` strictly before `t`.
fn occurrence_before(when: When, tz: Tz, t: Micros) -> Option<Micros> {
    match when {
        When::Once(at) => (at < t).then_some(at),
        When::Daily(time) => {
            let d = date_of(t, tz)?;
            (-2..=1)
                .filter_map(|k| d.checked_add_signed(ChronoDuration::days(k)))
                .filter_map(|day| local_instant(tz, day, time))
                .filter(|at| *at < t)
                .max()
        }
    }
}

/// RFC 3339 in UTC with second precision (milliseconds when not whole): for the EPG and API.
pub fn rfc3339(t: Micros) -> String {
    match DateTime::<Utc>::from_timestamp_micros(t.0) {
        Some(d) if d.timestamp_subsec_micros() == 0 => d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(d) => d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => t.0.to_string(),
    }
}

/// RFC 3339 in UTC with exactly three decimals (`2026-12-02T19:41:30.000Z`), as HLS's
/// `EXT-X-PROGRAM-DATE-TIME` wants it: rounded to the nearest millisecond.
pub fn rfc3339_millis(t: Micros) -> String {
    let ms = t.0.div_euclid(1000) + i64::from(t.0.rem_euclid(1000) >= 500);
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(d) => d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => t.0.to_string(),
    }
}

/// Parses an RFC 3339 instant (any offset) into Unix microseconds.
pub fn parse_instant(s: &str) -> Option<Micros> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| Micros(d.timestamp_micros()))
}

/// Today's date in `tz` at `t` (exposed for tests and the EPG).
pub fn local_date(t: Micros, tz: Tz) -> Option<(i32, u32, u32)> {
    date_of(t, tz).map(|d| (d.year(), d.month(), d.day()))
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
