//! Slate for the stretches the schedule gives it: the operator's clip or the picture, filled
//! a fifth of a second at a time so that what comes up meanwhile (an event a reload brings, a
//! publisher, a skip) can end it sooner.

use std::cell::Cell;

use ffmpeg_next as ff;

use super::context::PlayContext;
use super::splice::{Flow, Splicer};

/// Slate up to the frame in `end`: the operator's clip (`slate.clip`) when there is one that
/// plays and a second or more is left (a shorter stretch would flash it), else the picture.
pub(super) fn fill_slate(
    sp: &mut Splicer,
    end: &Cell<i64>,
    ctx: &PlayContext,
    check: &mut dyn FnMut(i64) -> Option<i64>,
    clip_failed: &mut bool,
) -> Flow {
    let second = (ctx.fmt.fps.num / ctx.fmt.fps.den).max(1);
    if let Some(clip) = ctx.look.clip.as_deref().filter(|_| !*clip_failed) {
        if end.get() - sp.position_frames() >= second {
            match super::slate_clip::fill(sp, end, clip, ctx, check) {
                Some(flow) => return flow,
                None => *clip_failed = true,
            }
        }
    }
    fill_checked(sp, end, &ctx.look.slate, check, ctx.fmt.fps)
}

/// Slate up to the frame in `end`, a fifth of a second at a time, so that a reload that
/// brings an event inside this stretch, or a live publisher, can move `end` earlier.
pub(super) fn fill_checked(
    sp: &mut Splicer,
    end: &Cell<i64>,
    slate: &ff::frame::Video,
    check: &mut dyn FnMut(i64) -> Option<i64>,
    fps: crate::time::Rational,
) -> Flow {
    let chunk = (fps.num / fps.den / 5).max(1);
    loop {
        check(sp.position_frames());
        let left = end.get() - sp.position_frames();
        if left <= 0 {
            return Flow::Continue;
        }
        if sp.fill(left.min(chunk), slate) == Flow::Stop {
            return Flow::Stop;
        }
    }
}
