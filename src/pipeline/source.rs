//! The source thread: follows the schedule. At each boundary it asks the pure scheduler what
//! plays at the channel's current time, plays that for exactly the rest of its slot (opening
//! the next item ahead of time), and fills whatever an item does not cover with slate, so the
//! timeline never drifts from the schedule: an event's first frame is the frame whose channel
//! time is the event's time. Anything that cannot play becomes slate, a log line naming the
//! file and the reason, and a metric — never a stop.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::context::PlayContext;
pub use super::control::{Control, Frontier, SkipError, SkipReply, Skipped};
use super::follow::{FrameClock, Prefetch, Updates};
use super::item::{play, Outcome, Take};
use super::live::LiveFeed;
use super::lockstep::{lockstep_due, stamped_cut, StampedCut};
use super::open::open;
use super::slate_fill::{fill_checked, fill_slate};
use super::splice::{Flow, Splicer};
use super::starts::Stretch;
use super::Media;
use crate::asrun::{Kind as AirKind, Reason};
use crate::lineup::{continue_index, Lineup, Timeline, TimelineCell};
use crate::schedule::{resolve, rfc3339, Anchor, Slot, SlotKind};
use crate::state::{self, SavedState};
use crate::time::{frames_in, Micros};

/// What the source runs with. None of it changes while it runs, except the look, which a
/// reload replaces at a boundary (it rides with the lineup, in the inbox).
pub struct SourceSettings {
    /// What playing each slot needs (format, look, loudness, metrics, stop flag, quarantine).
    pub ctx: PlayContext,
    /// Where the channel starts; the source owns it from then on.
    pub timeline: Timeline,
    /// The channel time (Unix µs) of frame 0 of this run.
    pub t0: Micros,
    /// With `anchor`: the GOP grid (keyframes on its points).
    pub grid: Option<crate::grid::Grid>,
    /// With `anchor` (lockstep): `reload.settle`. An edit then takes effect where every
    /// instance sharing the files takes it: at the instant the playlist's `takes_effect`
    /// stamps, or at the first boundary `settle` after the files were changed.
    pub lockstep: Option<Micros>,
    /// Where to keep the anchor across restarts (none for unpaced runs: simulated time).
    pub state_file: Option<PathBuf>,
    /// Channel time after which the source ends the stream (`--for`).
    pub stop_after: Option<Micros>,
    /// The live input (`live:`), when the channel has one and runs paced.
    pub live: Option<LiveFeed>,
    /// Conformed copies to pass through (`prepare:`), when on.
    pub passthrough: Option<super::passthrough::Passthrough>,
    /// The way to take back what has not aired, so that a skip, a play-now or a publisher
    /// cuts at the air (paced runs; without it they cut where the source has got to).
    pub recall: Option<super::recall::Recall>,
}

/// What reaches the source while it runs. The stop flag is in the play context, which every
/// slot's player reads.
pub struct Inbox {
    /// Reloaded lineups (and their look) from the reloader.
    pub updates: Receiver<super::follow::Update>,
    /// Skips from the control API.
    pub control: Receiver<Control>,
}

impl Inbox {
    /// An inbox nothing ever reaches (a conform run: nothing reloads, skips or goes live).
    /// Its senders are dropped, so the source never waits on it.
    pub fn silent() -> Inbox {
        Inbox {
            updates: crossbeam_channel::never(),
            control: crossbeam_channel::never(),
        }
    }
}

/// What the source publishes for others to read.
pub struct Outbox {
    /// The timeline after each reload or skip it adopts (the API reads it).
    pub cell: Arc<TimelineCell>,
    /// How far the source has got.
    pub frontier: Arc<Frontier>,
    /// Where each slot began, told to the outputs.
    pub starts: Arc<super::starts::ItemStarts>,
}

impl Outbox {
    /// An outbox nobody reads but the caller, starting from `timeline`.
    pub fn new(timeline: &Timeline) -> Outbox {
        Outbox {
            cell: Arc::new(TimelineCell::new(timeline.clone())),
            frontier: Arc::default(),
            starts: Arc::default(),
        }
    }
}

/// Runs until `stop_after`, the stop flag, or the encoder going away.
pub fn run(mut s: SourceSettings, inbox: Inbox, out: Outbox, tx: Sender<Media>) {
    let stop_at = s.stop_after.map(|d| frames_in(d, s.ctx.fmt.fps));
    let mut splicer =
        Splicer::new(s.ctx.fmt.clone(), tx, stop_at, Some(s.ctx.metrics.clone())).on_grid(s.grid);
    let mut prefetch: Option<Prefetch> = None;
    let clock = FrameClock {
        t0: s.t0,
        fps: s.ctx.fmt.fps,
    };
    // The source owns the timeline: it adopts a reloaded lineup at a boundary and publishes
    // the result for the API.
    let mut tl = s.timeline.clone();
    let mut last_rotation: Option<usize> = None;
    let watch = Updates {
        rx: &inbox.updates,
        pending: RefCell::new(None),
        edited: Cell::new(Micros::ZERO),
        look: RefCell::new(None),
    };
    // A skip asked for while the last slot played, with the title it cut short and, when it
    // cuts at the air, the rotation entry on air when it was asked for (with its lineup).
    type OnAir = Option<(usize, Arc<Lineup>)>;
    let skip: RefCell<Option<(SkipReply, String, OnAir)>> = RefCell::new(None);
    // A cut at the air asked for (`recall`): the frame to take back from, and, when the slot
    // on air there goes on afterwards rather than giving way at once (a skip, a publisher),
    // the frame of the event that reached the source inside the lead.
    let air_cut: Cell<Option<(i64, Option<i64>)>> = Cell::new(None);
    // After a cut at the air that resumes the slot on air, its stretch goes on: not begun
    // again.
    let mut resumed: Option<Stretch> = None;
    // How the stretch on air ends, told with the next one's start (the as-run record).
    let ended = RefCell::new(Reason::Played);
    // The times of the play-now events the control API wrote (an event starting at one of
    // them ends the stretch before it as `play_now`, not `cut_by_event`).
    let play_nows: RefCell<Vec<crate::time::Micros>> = RefCell::new(Vec::new());
    let frame_tb = s.ctx.fmt.frame_tb();
    let since_start = |frames: i64| {
        crate::time::Micros(crate::time::rescale(frames, frame_tb, crate::time::MICROS))
    };
    let mut event_slate = super::live::EventSlate::default();
    if s.recall.is_some() {
        out.frontier.set_cuts_at_air();
    }
    // The slate clip failed: the picture plays until a reload brings a new look.
    let mut clip_failed = false;
    while !(s.ctx.stop.load(Ordering::Relaxed) || splicer.is_done()) {
        let mut hold_reload = false;
        if let Some((at, event)) = air_cut.take() {
            if let Some(f) = s
                .recall
                .as_ref()
                .and_then(|r| r.take_back(at, &mut splicer, &s.ctx))
            {
                out.starts.take_back(since_start(f));
                prefetch = None;
                // An event inside the lead waits in the pending lineup: the slot on air goes
                // on up to it; from the event's own frame on, the lineup is taken at once.
                hold_reload = event.is_some_and(|e| f < e);
                resumed = hold_reload.then(|| out.starts.last()).flatten();
                if hold_reload {
                    // How the slot resumed ends is found again as it plays.
                    *ended.borrow_mut() = Reason::Played;
                }
            }
        }
        let pos = clock.time_of(splicer.position_frames());
        if let Some(look) = watch.take_look() {
            // The channel's name stays what it was at the start.
            let channel = std::mem::take(&mut s.ctx.look.channel);
            s.ctx.look = super::slate::Look { channel, ..look };
            event_slate.forget();
            clip_failed = false;
            tracing::info!(at = %rfc3339(pos), logo = s.ctx.look.overlay.is_some(), "New overlay takes effect.");
        }
        out.frontier.set(pos);
        // Lockstep: the pending lineup waits for its instant.
        let due = s.lockstep.and_then(|settle| {
            let p = watch.pending()?;
            Some(lockstep_due(&tl, &p, watch.edited.get(), settle))
        });
        let ready = due.map_or(true, |d| pos >= d.at);
        if let Some(new) = (!hold_reload && ready).then(|| watch.take()).flatten() {
            let anchor = match due.and_then(|d| d.anchor) {
                Some(a) => {
                    if pos > a.at {
                        tracing::warn!(at = %rfc3339(a.at), late_ms = (pos - a.at).0 / 1000, "A stamped edit reached this instance after its time: it takes effect late here (raise reload.settle).");
                    }
                    a
                }
                None => Anchor {
                    at: pos,
                    index: continue_index(&tl.lineup, &new, last_rotation),
                },
            };
            tl = tl.succeed(new, anchor);
            out.cell.set(tl.clone());
            tracing::info!(at = %rfc3339(pos), next = %tl.lineup.schedule.rotation.get(anchor.index).map(|e| e.title.as_str()).unwrap_or("-"), "Playlist change takes effect.");
        }
        if let Some((reply, title, on_air)) = skip.borrow_mut().take() {
            // The rotation goes on from the entry after the one cut short, from this frame.
            let n = tl.lineup.schedule.rotation.len().max(1);
            let index = match on_air {
                Some((i, gl)) if Arc::ptr_eq(&gl, &tl.lineup) => (i + 1) % n,
                // A reload came in between: after the same item in the new list.
                Some((i, gl)) => continue_index(&gl, &tl.lineup, Some(i)),
                None => last_rotation.map_or(0, |i| (i + 1) % n),
            };
            tl = tl.succeed(tl.lineup.clone(), Anchor { at: pos, index });
            out.cell.set(tl.clone());
            let (next, _) = tl.resolve(pos);
            let next = tl.lineup.describe(next.kind).0.to_string();
            tracing::info!(at = %rfc3339(pos), skipped = %title, %next, "Skipped.");
            let _ = reply.send(Ok(Skipped {
                title,
                next,
                at: pos,
            }));
        }
        if let Some(feed) = &s.live {
            feed.tick();
        }
        if let Some(feed) = s.live.as_ref().filter(|f| f.waiting()) {
            // A publisher's picture is waiting: live from this frame if its time has come;
            // then the schedule goes on from wherever the clock has got to.
            let lineup = tl.lineup.clone();
            let at = splicer.position_frames();
            let (now, _) = clock.slot_at(&lineup, tl.anchor, at);
            match feed.admit(&lineup, &now) {
                Some(admit) if admit.until.map_or(true, |u| clock.frame_at(u) > at) => {
                    prefetch = None;
                    let until = admit.until.map(|u| clock.frame_at(u));
                    out.starts.begin(Stretch {
                        at: since_start(at),
                        kind: AirKind::Live,
                        title: admit.title.to_string(),
                        path: None,
                        planned: clock.time_of(at),
                        why: None,
                        ended: ended.replace(Reason::LiveEnded),
                    });
                    let flow = super::live::play(&mut splicer, feed, &s.ctx, admit.title, until);
                    if flow == Flow::Stop {
                        break;
                    }
                    continue;
                }
                _ => feed.off_air(&lineup, pos),
            }
        }
        let lineup = tl.lineup.clone();
        let (slot, end) = clock.slot_at(&lineup, tl.anchor, splicer.position_frames());
        if let SlotKind::Rotation(i) = slot.kind {
            last_rotation = Some(i);
        }
        let (title, kind) = lineup.describe(slot.kind);
        s.ctx.metrics.item_transitions_total.inc();
        save_state(&s, &tl, title, &slot);
        // An event added by a reload while this slot plays cuts it at the event's time.
        let cut = Cell::new(end);
        let is_event = matches!(slot.kind, SlotKind::Event(_));
        // A reload waiting for this slot to end is published at once, as it will be
        // adopted (at the slot's end, going on as `continue_index` says), so that the API's
        // "next" and the guide are right from the moment the edit is in, not from the
        // boundary.
        let mut published: Option<Arc<Lineup>> = None;
        let mut publish_pending = |cut_frame: i64| {
            if let Some(p) = watch.pending() {
                if !published.as_ref().is_some_and(|q| Arc::ptr_eq(q, &p)) {
                    let index = continue_index(&tl.lineup, &p, last_rotation);
                    let at = clock.time_of(cut_frame);
                    out.cell.set(tl.succeed(p.clone(), Anchor { at, index }));
                    published = Some(p);
                }
            }
        };
        let mut check = |at: i64| -> Option<i64> {
            out.frontier.set(clock.time_of(at));
            if s.ctx.stop.load(Ordering::Relaxed) {
                // A stop (a signal, or the host removing the channel) ends what plays at its
                // next clean point. A copy or a stretch of slate looks at nothing else, and
                // would otherwise play on to its end: 20 s after SIGTERM for a 20 s copy.
                cut.set(cut.get().min(at + 1));
                return Some(cut.get());
            }
            if let Some(feed) = s.live.as_ref().filter(|f| f.waiting()) {
                // Admitted here, it goes on air at the air (as far ahead of it as live runs),
                // or at this slot's start when it is admitted only from there (a live event
                // the air has not reached yet).
                let back = s.recall.as_ref().map(|r| {
                    let e = r.ahead(feed.lead());
                    match feed.admit(&lineup, &clock.slot_at(&lineup, tl.anchor, e).0) {
                        Some(_) => e,
                        None => e.max(clock.frame_at(slot.start)),
                    }
                });
                let back = back.filter(|e| *e < at);
                if feed.admit(&lineup, &slot).is_some() {
                    *ended.borrow_mut() = Reason::Live;
                    if let Some(e) = back {
                        air_cut.set(Some((e, None)));
                    }
                    cut.set(cut.get().min(at + 1));
                    return Some(cut.get());
                }
                feed.off_air(&lineup, clock.time_of(at));
            }
            while let Ok(c) = inbox.control.try_recv() {
                let (on_air, reply) = match c {
                    Control::PlayNow { at } => {
                        play_nows.borrow_mut().push(at);
                        continue;
                    }
                    Control::Skip { on_air, reply } => (on_air, reply),
                };
                if let Some(r) = &s.recall {
                    // At the air: the slot on air when it was asked for is cut, unless it
                    // ends before a cut could reach the air.
                    let earliest = r.earliest();
                    let (gone, gl) = tl.resolve(on_air);
                    let gone_title = gl.describe(gone.kind).0.to_string();
                    if clock.frame_at(gone.end) <= earliest.min(at) {
                        let (next, nl) = tl.resolve(gone.end);
                        let _ = reply.send(Ok(Skipped {
                            title: gone_title,
                            next: nl.describe(next.kind).0.to_string(),
                            at: gone.end,
                        }));
                    } else if matches!(gone.kind, SlotKind::Event(_)) {
                        let _ = reply.send(Err(SkipError::EventOnAir { title: gone_title }));
                    } else if skip.borrow().is_some() {
                        let _ = reply.send(Err(SkipError::UnderWay));
                    } else {
                        let index = match gone.kind {
                            SlotKind::Rotation(i) if std::ptr::eq(gl, &*tl.lineup) => {
                                Some((i, tl.lineup.clone()))
                            }
                            SlotKind::Rotation(i) => Some((i, Arc::new(gl.clone()))),
                            _ => None,
                        };
                        *skip.borrow_mut() = Some((reply, gone_title, index));
                        *ended.borrow_mut() = Reason::Skipped;
                        if earliest < at {
                            air_cut.set(Some((earliest, None)));
                        }
                        cut.set(cut.get().min(at + 1));
                        return Some(cut.get());
                    }
                    continue;
                }
                if on_air < slot.start {
                    let (gone, lineup) = tl.resolve(on_air);
                    let _ = reply.send(Ok(Skipped {
                        title: lineup.describe(gone.kind).0.to_string(),
                        next: title.to_string(),
                        at: slot.start,
                    }));
                } else if is_event {
                    let _ = reply.send(Err(SkipError::EventOnAir {
                        title: title.to_string(),
                    }));
                } else if skip.borrow().is_some() {
                    let _ = reply.send(Err(SkipError::UnderWay));
                } else {
                    *skip.borrow_mut() = Some((reply, title.to_string(), None));
                    *ended.borrow_mut() = Reason::Skipped;
                    cut.set(cut.get().min(at + 1));
                    return Some(cut.get());
                }
            }
            if let Some(r) = s.recall.as_ref().filter(|_| air_cut.get().is_none()) {
                // An event that a reload brought inside the lead: taken back to its frame
                // (or, when the reload came too late for that, the first the air can still
                // change), the slot on air resumed up to it.
                let earliest = r.earliest();
                let air = clock.time_of(earliest) - super::recall::AHEAD;
                let inside = watch
                    .next_event(air - crate::time::Micros(1))
                    .map(|ev| clock.frame_at(ev))
                    .filter(|f| *f < at);
                if let Some(f) = inside {
                    *ended.borrow_mut() = Reason::CutByEvent;
                    air_cut.set(Some((f.max(earliest), Some(f))));
                    cut.set(cut.get().min(at + 1));
                    return Some(cut.get());
                }
            }
            // Lockstep: a stamped edit or skip cuts this slot at its instant; one that
            // comes after the source has passed it is taken back there, while that has not
            // aired.
            let stamped = s.lockstep.and_then(|settle| {
                let p = watch.pending()?;
                lockstep_due(&tl, &p, watch.edited.get(), settle).anchor
            });
            let earliest = s
                .recall
                .as_ref()
                .filter(|_| air_cut.get().is_none())
                .map(|r| r.earliest());
            let want = stamped.map(|a| clock.frame_at(a.at));
            match want.and_then(|w| stamped_cut(w, at, cut.get(), end, earliest)) {
                Some(StampedCut::TakeBack(want)) => {
                    *ended.borrow_mut() = Reason::Skipped;
                    air_cut.set(Some((want, None)));
                    cut.set(cut.get().min(at + 1));
                    return Some(cut.get());
                }
                Some(StampedCut::At { frame, short }) => {
                    if short {
                        *ended.borrow_mut() = Reason::Skipped;
                    }
                    cut.set(frame);
                    return Some(frame);
                }
                None => {}
            }
            let ev = watch.next_event(clock.time_of(at));
            let f = ev.map(|ev| clock.frame_at(ev).max(at + 1));
            let earlier = f.filter(|f| *f < cut.get());
            if let Some(f) = earlier {
                *ended.borrow_mut() = Reason::CutByEvent;
                cut.set(f);
            }
            publish_pending(cut.get());
            earlier
        };
        let media = lineup.media(slot.kind);
        if let Some(meter) = &s.ctx.loudness {
            // The meter measures what it does not know yet, on its own thread.
            meter.want(&lineup.playlist);
        }
        if let Some(p) = s.passthrough.as_ref().and_then(|p| p.preparer.as_ref()) {
            // So does the preparer, at idle priority.
            p.want(&lineup.playlist);
        }
        s.ctx.quarantine.on_air(media.map(|m| m.path.as_path()));
        let frames = end - splicer.position_frames();
        let copy = media.zip(s.passthrough.as_ref()).and_then(|(m, pt)| {
            super::passthrough::usable(
                pt,
                m,
                &s.ctx,
                start_in_file(m.in_point, slot.start, pos),
                frames,
            )
        });
        let opened = media.filter(|_| copy.is_none()).map(|m| {
            let start = start_in_file(m.in_point, slot.start, pos);
            if let Some(e) = super::open::quarantined(&m.path, &s.ctx.quarantine) {
                prefetch = None;
                return (start, Err(e));
            }
            let opened = match prefetch.take() {
                Some(p) if p.path == m.path && p.in_point == start => p.take(),
                _ => {
                    tracing::debug!(file = %m.path.display(), from = %start, "Not opened ahead; opening now.");
                    open(&m.path, start, &s.ctx.quarantine)
                }
            };
            (start, opened)
        });
        // Open what comes next while this plays (a slate too), from where it will start: the
        // frame nearest the slot's end, which may fall just after the slot's start.
        let next = resolve(&lineup.schedule, tl.anchor, slot.end);
        let next_pos = clock.time_of(end);
        prefetch = lineup
            .media(next.kind)
            .filter(|n| s.ctx.quarantine.lookup(&n.path).is_none())
            .map(|n| {
                let from = start_in_file(n.in_point, next.start, next_pos);
                Prefetch::spawn(n.path.clone(), from, s.ctx.quarantine.clone())
            });
        let (air_kind, why) = match (&copy, &opened, kind) {
            (_, _, crate::lineup::Kind::Event) => (AirKind::Event, None),
            (Some(_), _, _) => (AirKind::Copy, None),
            (None, Some((_, Ok(_))), _) => (AirKind::Item, None),
            (None, Some((_, Err(e))), _) => (AirKind::Slate, Some(reason_of(e))),
            (None, None, _) => (AirKind::Slate, None),
        };
        if matches!(slot.kind, SlotKind::Event(_)) {
            let mut p = play_nows.borrow_mut();
            if p.contains(&slot.start) && *ended.borrow() == Reason::CutByEvent {
                *ended.borrow_mut() = Reason::PlayNow;
            }
            // An hour after its time a play-now has long aired.
            p.retain(|t| *t > slot.start - crate::time::Micros::from_secs(3600));
        }
        let stretch = Stretch {
            at: since_start(splicer.position_frames()),
            kind: air_kind,
            title: title.to_string(),
            path: media.map(|m| m.path.clone()),
            planned: slot.start,
            why,
            ended: Reason::Played,
        };
        match resumed.take() {
            // The stretch a cut at the air went back into goes on.
            Some(r) if r.title == stretch.title && r.planned == stretch.planned => {}
            _ => out.starts.begin(Stretch {
                ended: ended.replace(Reason::Played),
                ..stretch
            }),
        }
        // Slate standing in for the rest of an item that stopped part way: a stretch of its own.
        let mut failed_part_way: Option<Reason> = None;
        let began = matches!(&opened, Some((_, Ok(_))));
        let flow = match media.zip(opened) {
            None if copy.is_some() => {
                let (path, side) = copy.as_ref().expect("a copy");
                let m = media.expect("a copy is of an item");
                tracing::info!(item = %m.title, file = %m.path.display(), frames, "Item passed through from its conformed copy.");
                let copy = (path.as_path(), side);
                match super::passthrough::play(copy, &s.ctx.fmt, frames, &mut splicer, &mut check) {
                    Ok(super::passthrough::Played::Stop) => Flow::Stop,
                    Ok(super::passthrough::Played::Frames(_)) => Flow::Continue,
                    Err(e) => {
                        tracing::error!(file = %path.display(), error = %e, item = %m.title, "The conformed copy cannot be played; slate for the rest of the item.");
                        failed_part_way = Some(Reason::Failed(e.to_string()));
                        Flow::Continue
                    }
                }
            }
            None => {
                tracing::info!(item = %title, kind = kind.as_str(), frames = end - splicer.position_frames(), "Slate started.");
                match (lineup.live_event(slot.kind), &s.live) {
                    // A live event with no publisher on: its own slate.
                    (Some(t), live) => {
                        let resumed = live
                            .as_ref()
                            .is_some_and(|f| f.input.air.began_between(slot.start, pos));
                        let picture = event_slate.picture(&s.ctx.fmt, (t, resumed), &s.ctx.look);
                        fill_checked(&mut splicer, &cut, &picture, &mut check, s.ctx.fmt.fps)
                    }
                    (None, _) => {
                        fill_slate(&mut splicer, &cut, &s.ctx, &mut check, &mut clip_failed)
                    }
                }
            }
            Some((m, (start, opened))) => {
                let frames = end - splicer.position_frames();
                let outcome = match opened {
                    Ok(o) => play(
                        o,
                        m,
                        Take { start, frames },
                        &mut splicer,
                        &s.ctx,
                        &mut check,
                    ),
                    Err(e) => Outcome::Failed(e),
                };
                match outcome {
                    Outcome::Played => Flow::Continue,
                    Outcome::Stopped => Flow::Stop,
                    Outcome::Failed(e) => {
                        tracing::error!(file = %e.path.display(), reason = e.reason.label(), error = %e.detail, item = %m.title, "Item failed; playing slate.");
                        s.ctx
                            .metrics
                            .item_failures_total
                            .with_label_values(&[e.reason.label()])
                            .inc();
                        if began {
                            failed_part_way = Some(reason_of(&e));
                        }
                        Flow::Continue
                    }
                }
            }
        };
        if flow == Flow::Stop {
            break;
        }
        if let Some(why) = failed_part_way.filter(|_| cut.get() > splicer.position_frames()) {
            *ended.borrow_mut() = why.clone();
            out.starts.begin(Stretch {
                at: since_start(splicer.position_frames()),
                kind: AirKind::Slate,
                title: title.to_string(),
                path: media.map(|m| m.path.clone()),
                planned: slot.start,
                why: Some(why.clone()),
                ended: ended.replace(Reason::Played),
            });
        }
        // Whatever the item did not cover (it failed, ended early, was shorter than probed)
        // is slate: the schedule, not the media, decides when the next slot starts.
        if fill_slate(&mut splicer, &cut, &s.ctx, &mut check, &mut clip_failed) == Flow::Stop {
            break;
        }
        // A rotation slot the schedule ended before its entry's length ends where an event
        // begins.
        let natural = match slot.kind {
            SlotKind::Rotation(i) => lineup.schedule.rotation.get(i).map(|e| e.duration),
            _ => None,
        };
        if natural.is_some_and(|d| slot.duration() < d) && *ended.borrow() == Reason::Played {
            *ended.borrow_mut() = Reason::CutByEvent;
        }
    }
    // A stop in the middle of an item (a signal) ends it like any other: audio and video
    // padded to the same frame, so the stream's last second is as aligned as the rest.
    splicer.end_item();
    splicer.finish();
    tracing::debug!(frames = splicer.position_frames(), "Source finished.");
}

/// Why slate stands in for an item that cannot play (the as-run record's reason).
fn reason_of(e: &super::open::OpenError) -> Reason {
    match e.reason {
        super::open::FailReason::Quarantined => Reason::Quarantined,
        _ => Reason::Failed(e.detail.clone()),
    }
}

/// Where in the file an item whose slot starts at `slot_start` begins when the channel
/// reaches it at `pos` (a frame boundary, up to a frame after the slot's start; or later,
/// when the channel starts mid-slot).
fn start_in_file(in_point: Micros, slot_start: Micros, pos: Micros) -> Micros {
    in_point + (pos - slot_start).max(Micros::ZERO)
}

fn save_state(s: &SourceSettings, tl: &Timeline, title: &str, slot: &Slot) {
    let Some(path) = &s.state_file else { return };
    let saved = SavedState::new(tl.anchor, &tl.lineup.fingerprint, title, slot.start);
    if let Err(e) = state::save(path, &saved) {
        tracing::warn!(file = %path.display(), error = %e, "Cannot write the state file; a restart will not resume.");
    }
}
