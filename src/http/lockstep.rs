//! The control API of a channel whose file pins `anchor` (lockstep, issue 27). Two instances
//! share one playlist file, so an edit or a skip made through either one's API is written
//! into the file with the instant it takes effect (`takes_effect: { at, item }`), `settle`
//! ahead, on the channel's frame grid: both read it before then and switch at that frame.

use hyper::StatusCode;
use serde_json::{json, Value};

use super::control::{edit_error, edit_playlist};
use super::{json_error, json_reply, Reply, State};
use crate::clock::wall_now;
use crate::lineup::Timeline;
use crate::playlist::edit;
use crate::playlist::{Item, Playlist, TakesEffect};
use crate::schedule::SlotKind;
use crate::time::{rescale, Micros, Rational, MICROS};

#[derive(Clone, Copy, Debug)]
pub struct Lockstep {
    /// The channel file's `anchor`: frame 0 of the grid.
    pub anchor: Micros,
    /// `reload.settle`: how far ahead of now an edit takes effect.
    pub settle: Micros,
    pub fps: Rational,
}

/// A skip in lockstep: what is cut and what follows, and the stamp that says so.
pub struct SkipStamp {
    pub stamp: TakesEffect,
    pub skipped: String,
    pub next: String,
}

impl Lockstep {
    /// The first frame of the grid at or after `t`.
    pub fn on_grid(&self, t: Micros) -> Micros {
        let tb = self.fps.invert();
        let since = (t - self.anchor).0;
        let mut f = rescale(since, MICROS, tb);
        if rescale(f, tb, MICROS) < since {
            f += 1;
        }
        self.anchor + Micros(rescale(f, tb, MICROS))
    }

    /// An edit made `now` whose result is `new`: it takes effect at the first item boundary
    /// of `tl` at or after `now + settle`, going on after the item that ended there (or, if
    /// that item is gone from `new`, with the item now at its place).
    pub fn edit_stamp(&self, tl: &Timeline, new: &Playlist, now: Micros) -> TakesEffect {
        let target = now + self.settle;
        let (slot, lineup) = tl.resolve(target);
        let at = if slot.start == target {
            target
        } else {
            slot.end
        };
        let old = &lineup.playlist;
        let item = match slot.kind {
            // The slot ending there was this item: the rotation goes on after it.
            SlotKind::Rotation(i) if slot.start != target => {
                let pos = lineup.schedule.rotation[i].kind.item();
                item_after(old, pos, new)
            }
            // An event or a gap ends there (or the rotation entry starts there): the rotation
            // goes on with the entry it was going to play.
            _ => {
                let next = match slot.kind {
                    SlotKind::Rotation(i) => i,
                    _ => slot.next_index,
                };
                match lineup.schedule.rotation.get(next) {
                    Some(e) => item_at(old, e.kind.item(), new),
                    None => 0,
                }
            }
        };
        TakesEffect {
            at: self.on_grid(at),
            item,
        }
    }

    /// A skip asked for `now`: the item on air at `now + settle` ends there, and the item
    /// after it starts. An event on air then is not skipped (its own end is fixed).
    pub fn skip_stamp(
        &self,
        tl: &Timeline,
        current: &Playlist,
        now: Micros,
    ) -> Result<SkipStamp, String> {
        let at = self.on_grid(now + self.settle);
        let (slot, lineup) = tl.resolve(at);
        let (title, _) = lineup.describe(slot.kind);
        let skipped = title.to_string();
        let pos = match slot.kind {
            SlotKind::Rotation(i) => lineup.schedule.rotation[i].kind.item(),
            SlotKind::Event(_) => {
                return Err(format!(
                    "{skipped:?} is a fixed-time event: it ends at its own time, not by a skip"
                ))
            }
            SlotKind::Gap => return Err("nothing is playing to skip (slate until an event)".into()),
        };
        let item = item_after(&lineup.playlist, pos, current);
        let next = match current.items.get(item) {
            Some(Item::Media(m)) => m.title.clone(),
            Some(Item::Slate(s)) => s.title.clone(),
            Some(Item::Live(l)) => l.title.clone(),
            None => String::new(),
        };
        Ok(SkipStamp {
            stamp: TakesEffect { at, item },
            skipped,
            next,
        })
    }
}

/// A skip in lockstep: written into the playlist (`takes_effect`), `settle` ahead on the
/// frame grid, so that every instance sharing the file cuts at that frame.
pub(super) async fn skip(state: &State, l: Lockstep) -> Reply {
    let tl = state.timeline.get();
    let mut said: Option<(String, String, Micros)> = None;
    let r = edit_playlist(state, None, false, |mut j| {
        let current = edit::to_yaml(&j, &state.control.playlist)
            .map(|(_, p)| p)
            .map_err(edit_error)?;
        let s = l
            .skip_stamp(&tl, &current, wall_now())
            .map_err(|why| json_error(StatusCode::CONFLICT, why))?;
        j["takes_effect"] = stamp_json(s.stamp);
        said = Some((s.skipped, s.next, s.stamp.at));
        Ok(j)
    })
    .await;
    match (r, said) {
        (Ok(_), Some((skipped, next, at))) => json_reply(
            StatusCode::OK,
            json!({
                "skipped": skipped,
                "next": next,
                // To the microsecond: a frame of the grid is seldom a whole millisecond.
                "at": crate::asrun::instant(at),
                "on_air_in_seconds": (at - wall_now()).as_secs_f64().max(0.0),
            }),
        ),
        (Err(r), _) => r,
        (Ok(_), None) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the skip was not stamped",
        ),
    }
}

/// `takes_effect` as the playlist file says it: the instant to the microsecond (a frame of
/// the grid is seldom a whole millisecond).
pub fn stamp_json(t: TakesEffect) -> Value {
    let at = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(t.at.0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_default();
    json!({ "at": at, "item": t.item })
}

fn same(a: &Item, b: &Item) -> bool {
    match (a, b) {
        (Item::Media(a), Item::Media(b)) => {
            a.path == b.path && a.in_point == b.in_point && a.out_point == b.out_point
        }
        (Item::Slate(a), Item::Slate(b)) => a.duration == b.duration && a.title == b.title,
        _ => false,
    }
}

/// Where `old`'s item `pos` is in `new` (the match nearest its old place), if it is.
fn find(old: &Playlist, pos: usize, new: &Playlist) -> Option<usize> {
    let item = old.items.get(pos)?;
    (0..new.items.len())
        .filter(|&p| same(item, &new.items[p]))
        .min_by_key(|&p| p.abs_diff(pos))
}

/// The item of `new` after `old`'s item `pos`; if that is gone, the one now at its place.
fn item_after(old: &Playlist, pos: usize, new: &Playlist) -> usize {
    let n = new.items.len().max(1);
    match find(old, pos, new) {
        Some(p) => (p + 1) % n,
        None => pos % n,
    }
}

/// `old`'s item `pos` in `new`; if it is gone, the one now at its place.
fn item_at(old: &Playlist, pos: usize, new: &Playlist) -> usize {
    find(old, pos, new).unwrap_or(pos) % new.items.len().max(1)
}
