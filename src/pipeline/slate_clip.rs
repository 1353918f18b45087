//! The operator's slate clip (`slate.clip`): wherever slate plays, the clip plays instead,
//! from its start, looped for as long as slate is needed, with its own audio or silence. It
//! goes through the same decoder and normaliser as an item, so it may be any file the
//! channel plays. A clip that fails (gone, damaged) gives way to the picture slate for the
//! rest of the run, logged once; a reload that brings a clip tries again.

use std::cell::Cell;
use std::path::Path;

use super::context::PlayContext;
use super::item::{play, Outcome, Take};
use super::splice::{Flow, Splicer};
use crate::playlist::MediaItem;
use crate::time::Micros;

/// Plays the clip at `path` up to the frame in `end` (which `check` may move earlier).
/// `None` if the clip cannot play: the caller fills the rest with the picture slate.
pub fn fill(
    sp: &mut Splicer,
    end: &Cell<i64>,
    path: &Path,
    ctx: &PlayContext,
    check: &mut dyn FnMut(i64) -> Option<i64>,
) -> Option<Flow> {
    let item = MediaItem::whole(path, "Slate");
    loop {
        // What a skip, an event or a publisher asks is answered before each pass.
        check(sp.position_frames());
        let left = end.get() - sp.position_frames();
        if left <= 0 {
            return Some(Flow::Continue);
        }
        let opened = match super::open::open(path, Micros::ZERO, &ctx.quarantine) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e.detail, "The slate clip cannot be opened; the slate picture plays instead.");
                return None;
            }
        };
        let before = sp.position_frames();
        // One pass is the clip's picture, to its last frame: its sound past that (an AAC
        // tail) would hold the last picture a frame at every loop.
        let pass = video_frames(&opened, ctx).map_or(left, |n| n.min(left));
        let take = Take {
            start: Micros::ZERO,
            frames: pass,
        };
        match play(opened, &item, take, sp, ctx, check) {
            Outcome::Stopped => return Some(Flow::Stop),
            Outcome::Failed(e) => {
                tracing::error!(file = %path.display(), error = %e.detail, "The slate clip failed; the slate picture plays instead.");
                return None;
            }
            Outcome::Played if sp.position_frames() == before => {
                tracing::error!(file = %path.display(), "The slate clip gave no picture; the slate picture plays instead.");
                return None;
            }
            Outcome::Played => {}
        }
    }
}

/// How many channel frames the clip's video lasts, when its stream says.
fn video_frames(o: &super::open::Opened, ctx: &PlayContext) -> Option<i64> {
    let v = o.info.video.as_ref()?;
    let st = o.input.stream(v.index)?;
    let tb = st.time_base();
    let tb = crate::time::Rational::new(tb.numerator().into(), tb.denominator().into());
    let d = st.duration();
    (d > 0).then(|| {
        let us = Micros(crate::time::rescale(d, tb, crate::time::MICROS));
        crate::time::frames_in(us, ctx.fmt.fps).max(1)
    })
}
