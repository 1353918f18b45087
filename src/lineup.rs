//! The lineup: a playlist together with the schedule built from it — every item's length
//! known (probed once, cached by path, size and mtime) so the pure scheduler can place it.
//!
//! Built on the control side (start-up, and later reloads), read by everyone as an
//! immutable `Arc<Lineup>`: the source thread plays it, the HTTP API and the EPG describe it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use crate::pipeline::open::probe_info;
use crate::playlist::{Item, MediaItem, Playlist};
use crate::quarantine::Quarantine;
use crate::schedule::{resolve, slots, Anchor, Entry, EntryKind, Event, Schedule, Slot, SlotKind};
use crate::time::Micros;

/// How many replaced timelines a timeline keeps answering for their spans.
pub const HANDOVERS: usize = 8;

/// How long a still image shows when its item gives neither `duration` nor `out`.
pub const STILL_DEFAULT: Micros = Micros::from_secs(10);

#[derive(Clone, Debug)]
pub struct Lineup {
    pub playlist: Arc<Playlist>,
    pub schedule: Schedule,
    /// Identifies what the timeline was built from; a state file written for another
    /// lineup is not resumed.
    pub fingerprint: String,
}

/// The channel's timeline: a lineup and where its rotation is anchored. What plays at any
/// instant is `schedule::resolve(&timeline.lineup.schedule, timeline.anchor, t)`.
#[derive(Clone, Debug)]
pub struct Timeline {
    pub lineup: Arc<Lineup>,
    pub anchor: Anchor,
    /// The timeline this one replaced (a reload, a skip), which still answers for times
    /// before `anchor` (and it for times before its own, up to `HANDOVERS` back): the source
    /// adopts a new lineup a few seconds ahead of the clock, and what is on air until then was
    /// scheduled by the old one.
    pub before: Option<Arc<Timeline>>,
}

impl Timeline {
    pub fn new(lineup: Arc<Lineup>, anchor: Anchor) -> Self {
        Timeline {
            lineup,
            anchor,
            before: None,
        }
    }

    /// A reload: `lineup` takes over at `anchor`; this timeline answers for earlier times.
    ///
    /// The timelines replaced keep answering for their own spans, up to `HANDOVERS` of them:
    /// with items shorter than the source's lead, or a reload published before it is adopted,
    /// the air can still be two handovers back. One that takes over where this one began (a
    /// skip at the frame a reload was adopted) replaces it outright.
    pub fn succeed(&self, lineup: Arc<Lineup>, anchor: Anchor) -> Timeline {
        let before = if anchor.at <= self.anchor.at {
            self.before.clone()
        } else {
            Some(Arc::new(self.trimmed(HANDOVERS - 1)))
        };
        Timeline {
            lineup,
            anchor,
            before,
        }
    }

    /// This timeline with at most `depth` timelines before it.
    fn trimmed(&self, depth: usize) -> Timeline {
        Timeline {
            lineup: self.lineup.clone(),
            anchor: self.anchor,
            before: match (&self.before, depth) {
                (_, 0) | (None, _) => None,
                (Some(b), d) => Some(Arc::new(b.trimmed(d - 1))),
            },
        }
    }

    /// The chain, oldest first, each with where its successor takes over (`None`: newest).
    fn chain(&self) -> Vec<(&Timeline, Option<Micros>)> {
        let mut out = vec![(self, None)];
        let mut tl = self;
        while let Some(b) = &tl.before {
            out.push((b, Some(tl.anchor.at)));
            tl = b;
        }
        out.reverse();
        out
    }

    /// The timeline that schedules `t`, and where its successor takes over.
    fn at(&self, t: Micros) -> (&Timeline, Option<Micros>) {
        let (mut tl, mut until) = (self, None);
        while let Some(b) = &tl.before {
            if t >= tl.anchor.at {
                break;
            }
            until = Some(tl.anchor.at);
            tl = b;
        }
        (tl, until)
    }

    /// The slot playing at `t`, with the lineup that describes it.
    pub fn resolve(&self, t: Micros) -> (Slot, &Lineup) {
        let (tl, until) = self.at(t);
        let mut slot = resolve(&tl.lineup.schedule, tl.anchor, t);
        if let Some(u) = until {
            // A replaced timeline's slot ends where the next one takes over.
            slot.end = slot.end.min(u);
        }
        (slot, &tl.lineup)
    }

    /// The slots that tile `[from, to)` (at most `max`), with their lineups.
    pub fn slots(&self, from: Micros, to: Micros, max: usize) -> Vec<(Slot, &Lineup)> {
        let mut out: Vec<(Slot, &Lineup)> = Vec::new();
        let mut start = from;
        for (tl, until) in self.chain() {
            let end = until.map_or(to, |u| u.min(to));
            if start >= end || out.len() >= max {
                continue;
            }
            let handover = !out.is_empty();
            for mut sl in slots(&tl.lineup.schedule, tl.anchor, start, end, max - out.len()) {
                if sl.start >= end {
                    break;
                }
                if handover {
                    sl.start = sl.start.max(tl.anchor.at);
                }
                if let Some(u) = until {
                    sl.end = sl.end.min(u);
                }
                start = sl.end;
                out.push((sl, &tl.lineup));
            }
        }
        out
    }

    /// The timeline the channel file pins (`anchor`): the rotation's first entry starts at
    /// `anchor`. An anchor still ahead of `now` is moved back by whole rotation cycles (the
    /// rotation loops from it both ways), so that something is on air from the start.
    ///
    /// A playlist stamped by an edit (`takes_effect`) is anchored there instead: its item
    /// starts at its instant, as it did in the instances that were running when it was made.
    pub fn pinned(lineup: Arc<Lineup>, anchor: Micros, now: Micros) -> Self {
        let (at, index) = match lineup.playlist.takes_effect {
            Some(t) => (t.at, entry_from_item(&lineup, t.item)),
            None => (anchor, 0),
        };
        let at = pinned_anchor(&lineup, at, now);
        Timeline::new(lineup, Anchor { at, index })
    }

    /// The anchor saved in `state_file` if it belongs to this lineup, else a fresh one that
    /// starts the rotation at `now`.
    pub fn resume(lineup: Arc<Lineup>, state_file: Option<&std::path::Path>, now: Micros) -> Self {
        let saved = state_file.and_then(|f| crate::state::load(f, &lineup.fingerprint));
        let anchor = match saved {
            Some(a) if a.at <= now => {
                tracing::info!(anchor = %crate::schedule::rfc3339(a.at), "Resuming the timeline from the state file.");
                a
            }
            _ => Anchor { at: now, index: 0 },
        };
        Timeline::new(lineup, anchor)
    }
}

/// `anchor`, or when it is ahead of `now`, the start of the rotation cycle that `now` falls
/// in counting back from it.
pub fn pinned_anchor(lineup: &Lineup, anchor: Micros, now: Micros) -> Micros {
    let cycle: i64 = lineup
        .schedule
        .rotation
        .iter()
        .map(|e| e.duration.0.max(0))
        .sum();
    if anchor <= now || cycle <= 0 {
        return anchor;
    }
    let back = (anchor - now).0.div_euclid(cycle) + 1;
    Micros(anchor.0 - back * cycle)
}

/// The current timeline, for readers on other threads (the HTTP API). The source replaces
/// it whole.
pub type TimelineCell = crate::snapshot::Snapshot<Timeline>;

/// What a slot shows, for the EPG and the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Item,
    Slate,
    Event,
    /// A live event (`live: true`): the live input's programme.
    Live,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Item => "item",
            Kind::Slate => "slate",
            Kind::Event => "event",
            Kind::Live => "live",
        }
    }
}

impl Lineup {
    /// The title and kind of what plays in a slot.
    pub fn describe(&self, kind: SlotKind) -> (&str, Kind) {
        match kind {
            SlotKind::Rotation(i) => {
                let e = &self.schedule.rotation[i];
                let k = match e.kind {
                    EntryKind::Media(_) => Kind::Item,
                    EntryKind::Slate(_) => Kind::Slate,
                };
                (&e.title, k)
            }
            SlotKind::Gap => ("Slate", Kind::Slate),
            SlotKind::Event(i) => {
                let k = match self.playlist.events[i].live() {
                    Some(_) => Kind::Live,
                    None => Kind::Event,
                };
                (&self.schedule.events[i].title, k)
            }
        }
    }

    /// The live event a slot is, if it is one: its title.
    pub fn live_event(&self, kind: SlotKind) -> Option<&str> {
        match kind {
            SlotKind::Event(i) => self.playlist.events[i].live().map(|l| l.title.as_str()),
            _ => None,
        }
    }

    /// The start of the first live event at or after `t`.
    pub fn next_live_event(&self, t: Micros) -> Option<Micros> {
        let s = &self.schedule;
        self.playlist
            .events
            .iter()
            .zip(&s.events)
            .filter(|(e, _)| e.live().is_some())
            .filter_map(|(_, e)| crate::schedule::occurrence_at_or_after(e.when, s.tz, t))
            .min()
    }

    /// The playlist schedules live events: then, with `live.takeover: auto`, a publisher goes
    /// on air only during them.
    pub fn has_live_events(&self) -> bool {
        self.playlist.events.iter().any(|e| e.live().is_some())
    }

    /// The media a slot plays, if any (a rotation media item or an event).
    pub fn media(&self, kind: SlotKind) -> Option<&MediaItem> {
        match kind {
            SlotKind::Rotation(i) => match self.schedule.rotation[i].kind {
                EntryKind::Media(pi) => match &self.playlist.items[pi] {
                    Item::Media(m) => Some(m),
                    Item::Slate(_) | Item::Live(_) => None,
                },
                EntryKind::Slate(_) => None,
            },
            SlotKind::Gap => None,
            SlotKind::Event(i) => self.playlist.events[i].media(),
        }
    }
}

/// Where the rotation goes on after a reload: after the item that played last (`last`, a
/// rotation index of `old`) in the *new* list, matched by what it plays (path, in and out; a
/// slate by its length and title); if it is gone, with the item now at its old position.
pub fn continue_index(old: &Lineup, new: &Lineup, last: Option<usize>) -> usize {
    let n = new.schedule.rotation.len();
    if n == 0 {
        return 0;
    }
    let Some(entry) = last.and_then(|i| old.schedule.rotation.get(i)) else {
        return 0;
    };
    let old_pos = entry.kind.item();
    let same = |item: &Item| match (&old.playlist.items[old_pos], item) {
        (Item::Media(a), Item::Media(b)) => {
            a.path == b.path && a.in_point == b.in_point && a.out_point == b.out_point
        }
        (Item::Slate(a), Item::Slate(b)) => a.duration == b.duration && a.title == b.title,
        _ => false,
    };
    let from_item = |pos: usize| entry_from_item(new, pos);
    // Several equal items: take the one nearest the old position.
    let found = (0..new.playlist.items.len())
        .filter(|&p| same(&new.playlist.items[p]))
        .min_by_key(|&p| p.abs_diff(old_pos));
    match found {
        Some(p) => from_item(p + 1),
        None => from_item(old_pos),
    }
}

/// The rotation entry playing the first playlist item at or after item `pos` (wrapping).
pub fn entry_from_item(lineup: &Lineup, pos: usize) -> usize {
    let items = lineup.playlist.items.len().max(1);
    (0..items)
        .map(|k| (pos + k) % items)
        .find_map(|p| {
            lineup
                .schedule
                .rotation
                .iter()
                .position(|e| e.kind.item() == p)
        })
        .unwrap_or(0)
}

/// Probed lengths, cached by path and invalidated when the file's size or mtime changes.
/// Probing goes through the channel's quarantine, so a file that crashed the process while
/// being opened is not opened again for its length.
#[derive(Default)]
pub struct Durations {
    cache: HashMap<PathBuf, (u64, Option<SystemTime>, Option<Facts>)>,
    quarantine: Quarantine,
}

#[derive(Clone, Copy, Debug)]
struct Facts {
    duration: Option<Micros>,
    still: bool,
}

impl Durations {
    pub fn new(quarantine: Quarantine) -> Durations {
        Durations {
            cache: HashMap::new(),
            quarantine,
        }
    }

    /// How long `item` plays: its `out`/`duration` cut of the file's length from `in`, a
    /// still's configured length (default 10 s), or `unplayable` when the file cannot be read
    /// now (it will be slated for that long).
    pub fn length(&mut self, item: &MediaItem, unplayable: Micros) -> Micros {
        let facts = self.facts(item);
        let cut = item.play_length();
        match facts {
            None => unplayable,
            Some(f) if f.still => cut.unwrap_or(STILL_DEFAULT),
            Some(f) => match (f.duration.map(|d| d - item.in_point), cut) {
                (Some(rest), Some(c)) => rest.min(c),
                (Some(rest), None) => rest,
                (None, Some(c)) => c,
                (None, None) => unplayable,
            },
        }
    }

    fn facts(&mut self, item: &MediaItem) -> Option<Facts> {
        let meta = std::fs::metadata(&item.path).ok();
        let key = (
            meta.as_ref().map(|m| m.len()).unwrap_or(0),
            meta.as_ref().and_then(|m| m.modified().ok()),
        );
        if let Some((len, mtime, facts)) = self.cache.get(&item.path) {
            if (*len, *mtime) == key {
                return *facts;
            }
        }
        let facts = probe_info(&item.path, &self.quarantine)
            .ok()
            .map(|i| Facts {
                duration: i.duration,
                still: i.still,
            });
        self.cache.insert(item.path.clone(), (key.0, key.1, facts));
        facts
    }
}

/// Builds the schedule of a playlist. `unplayable` is how long an item that cannot be read
/// at build time holds its place (the failure slate's length).
pub fn build(
    playlist: Arc<Playlist>,
    tz: chrono_tz::Tz,
    unplayable: Micros,
    durations: &mut Durations,
) -> Lineup {
    // A slot must have a length; one frame's worth is the least anything is given.
    let floor = Micros::from_millis(40);
    let unplayable = unplayable.max(floor);
    let mut rotation = Vec::new();
    for (i, item) in playlist.items.iter().enumerate() {
        let (kind, duration) = match item {
            Item::Media(m) => (EntryKind::Media(i), durations.length(m, unplayable)),
            Item::Slate(s) => (EntryKind::Slate(i), s.duration),
            // Validation keeps the live input out of the rotation.
            Item::Live(_) => continue,
        };
        if duration > Micros::ZERO {
            rotation.push(Entry {
                title: item.title().to_string(),
                kind,
                duration: duration.max(floor),
            });
        }
    }
    let events = playlist
        .events
        .iter()
        .map(|e| Event {
            when: e.at,
            title: e.item.title().to_string(),
            duration: match &e.item {
                Item::Media(m) => durations.length(m, unplayable),
                Item::Slate(s) => s.duration,
                Item::Live(l) => l.duration,
            }
            .max(floor),
        })
        .collect();
    let schedule = Schedule {
        rotation,
        events,
        tz,
    };
    let fingerprint = fingerprint(&playlist, &schedule);
    Lineup {
        playlist,
        schedule,
        fingerprint,
    }
}

/// FNV-1a over a canonical description of the rotation and events (stable across builds and
/// Rust versions, unlike `DefaultHasher`).
fn fingerprint(playlist: &Playlist, s: &Schedule) -> String {
    let mut text = format!("tz={}\n", s.tz.name());
    for item in &playlist.items {
        match item {
            Item::Media(m) => {
                text += &format!(
                    "media {} in={} out={:?} dur={:?}\n",
                    m.path.display(),
                    m.in_point.0,
                    m.out_point.map(|o| o.0),
                    m.duration.map(|d| d.0)
                )
            }
            Item::Slate(sl) => text += &format!("slate {}\n", sl.duration.0),
            Item::Live(l) => text += &format!("live {}\n", l.duration.0),
        }
    }
    for e in &s.rotation {
        text += &format!("len {}\n", e.duration.0);
    }
    for e in &playlist.events {
        match &e.item {
            Item::Media(m) => {
                text += &format!(
                    "event {:?} {} in={}\n",
                    e.at,
                    m.path.display(),
                    m.in_point.0
                )
            }
            Item::Slate(sl) => text += &format!("event {:?} slate {}\n", e.at, sl.duration.0),
            Item::Live(l) => text += &format!("event {:?} live {}\n", e.at, l.duration.0),
        }
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
#[path = "lineup_tests.rs"]
mod tests;
