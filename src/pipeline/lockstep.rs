//! What the source does differently in lockstep (the channel file's `anchor`, issue 27): when
//! a reloaded lineup takes effect, and where a stamped edit or skip cuts the slot on air. Pure
//! functions of the timeline and frame numbers, so that every instance decides alike.

use crate::lineup::{Lineup, Timeline};
use crate::schedule::Anchor;
use crate::time::Micros;

/// When a pending lineup takes effect in lockstep, and (stamped) where its rotation is
/// anchored.
#[derive(Clone, Copy, Debug)]
pub(super) struct Due {
    pub(super) at: Micros,
    pub(super) anchor: Option<Anchor>,
}

/// A newly stamped playlist (`takes_effect` other than the one on air) takes effect at its
/// stamp, its item starting there; any other change at the first boundary `settle` after the
/// files' modification time, going on as a reload does.
pub(super) fn lockstep_due(tl: &Timeline, new: &Lineup, edited: Micros, settle: Micros) -> Due {
    match new.playlist.takes_effect {
        Some(t) if Some(t) != tl.lineup.playlist.takes_effect => Due {
            at: t.at,
            anchor: Some(Anchor {
                at: t.at,
                index: crate::lineup::entry_from_item(new, t.item),
            }),
        },
        _ => Due {
            at: edited + settle,
            anchor: None,
        },
    }
}

/// How a stamped change at frame `want` cuts the slot on air.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StampedCut {
    /// The source has made `want` already, but it has not aired: take back from there.
    TakeBack(i64),
    /// End the slot before `frame`; `short`: before its own end (a skip, an edit mid-item).
    At { frame: i64, short: bool },
}

/// The source is about to make frame `at` of a slot that ends at `end` and is cut at `cut`
/// so far; `earliest`: the first frame that can still be taken back, if any can. A stamp at
/// or after the cut needs nothing (the next boundary takes it); one the source has passed is
/// taken back to while that has not aired, else the slot ends at once.
pub(super) fn stamped_cut(
    want: i64,
    at: i64,
    cut: i64,
    end: i64,
    earliest: Option<i64>,
) -> Option<StampedCut> {
    if want >= cut {
        return None;
    }
    if want <= at && earliest.is_some_and(|e| e <= want) {
        return Some(StampedCut::TakeBack(want));
    }
    let frame = want.max(at + 1);
    (frame < cut).then_some(StampedCut::At {
        frame,
        short: frame < end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_cuts_where_it_says_or_takes_back_to_it() {
        // Ahead of the source, inside the slot: cut there, short of the slot's end.
        assert_eq!(
            stamped_cut(150, 100, 300, 300, None),
            Some(StampedCut::At {
                frame: 150,
                short: true
            })
        );
        // At the slot's end: nothing to do, the boundary takes it.
        assert_eq!(stamped_cut(300, 100, 300, 300, None), None);
        // Passed, but not aired: taken back to it.
        assert_eq!(
            stamped_cut(90, 100, 300, 300, Some(80)),
            Some(StampedCut::TakeBack(90))
        );
        // Passed and aired (or no air to take back from): at once.
        assert_eq!(
            stamped_cut(90, 100, 300, 300, Some(95)),
            Some(StampedCut::At {
                frame: 101,
                short: true
            })
        );
        assert_eq!(
            stamped_cut(90, 100, 300, 300, None),
            Some(StampedCut::At {
                frame: 101,
                short: true
            })
        );
        // A slot already cut earlier (an event) keeps that cut.
        assert_eq!(stamped_cut(150, 100, 120, 300, None), None);
    }
}
