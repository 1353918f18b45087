//! Playing an item from its conformed copy (`conform`): the copy's packets, rebased onto the
//! timeline, go to the encode thread, which sends them on between the frames it encodes
//! (`copied`). Nothing is decoded or encoded. The copy is used only when it is whole (size
//! and content hash), was made for the source file as it is now, and carries the live
//! encoder's parameter sets byte for byte; anything else plays through the encoder as
//! before, and says why once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use ffmpeg_next as ff;

use super::encode::{Encoded, Kind};
use super::splice::{Flow, Splicer};
use super::ChannelFormat;
use crate::config::ChannelConfig;
use crate::conform::{copy_path, format_hash, key, verify, Sidecar, SourceId, Unusable};
use crate::playlist::{MediaItem, Playlist};
use crate::time::{rescale, samples_at_frame, Rational};

/// What the source asks of whoever makes the copies (`conform::background`, at idle
/// priority): the playlist on air, whose missing copies it makes, and a copy found damaged at
/// play time, made again first. Sending never blocks: a full queue drops the request (the
/// preparer looks at the playlist again every minute anyway).
#[derive(Clone, Debug)]
pub struct CopyRequests(Sender<CopyRequest>);

#[derive(Debug)]
pub enum CopyRequest {
    Playlist(Arc<Playlist>),
    Remake(MediaItem),
}

impl CopyRequests {
    /// A handle, and the end the preparer reads, holding up to `capacity` requests.
    pub fn new(capacity: usize) -> (CopyRequests, Receiver<CopyRequest>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        (CopyRequests(tx), rx)
    }

    /// The playlist on air now (the same one again is free).
    pub fn want(&self, p: &Arc<Playlist>) {
        let _ = self.0.try_send(CopyRequest::Playlist(p.clone()));
    }

    /// `item`'s copy was found damaged: make it again, before the rest.
    pub fn remake(&self, item: &MediaItem) {
        let _ = self.0.try_send(CopyRequest::Remake(item.clone()));
    }
}

/// What the source needs to find copies: where they are, and what they must match.
pub struct Passthrough {
    pub dir: PathBuf,
    pub channel: ChannelConfig,
    pub video_extradata: Vec<u8>,
    pub audio_extradata: Vec<u8>,
    /// The live encoder's reorder delay (`StreamParams::video_delay`): a copy's packets are
    /// stamped with it, as the encoder's own are.
    pub video_delay: i64,
    /// The background preparer, when `prepare.background` is on.
    pub preparer: Option<CopyRequests>,
    /// Copies whose content hash was read, with the size and mtime they had then: a loop
    /// reads each copy's bytes once, not on every play, until the file changes.
    pub hashed: std::cell::RefCell<std::collections::HashMap<PathBuf, FileStamp>>,
}

/// A file's size and modification time.
pub type FileStamp = (u64, Option<std::time::SystemTime>);

fn stamp(path: &Path) -> Option<FileStamp> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()))
}

impl Passthrough {
    /// The copy of `item` (with its loudness filter `gain`), if it may be used.
    pub fn find(
        &self,
        item: &MediaItem,
        gain: Option<&str>,
    ) -> Result<(PathBuf, Sidecar), Unusable> {
        let source = SourceId::stat(&item.path).map_err(|_| Unusable::Missing)?;
        let (ve, ae) = (&self.video_extradata, &self.audio_extradata);
        let format = format_hash(&self.channel, ve, ae, item, gain);
        let key = key(&source, item, &format);
        let path = copy_path(&self.dir, &key);
        let now = stamp(&path);
        let known = now.is_some() && self.hashed.borrow().get(&path) == now.as_ref();
        let mut s = verify(&self.dir, &key, &source, ve, ae, !known)?;
        if let (false, Some(now)) = (known, now) {
            self.hashed.borrow_mut().insert(path.clone(), now);
        }
        // A copy longer than the reorder delay carries the encoder's own, which the
        // parameter sets already pin. A shorter one made before issue 28 says 0 (x264 gave
        // it no delay): it plays with the live encoder's, like every packet around it.
        if s.video_delay != self.video_delay {
            if s.video_packets > self.video_delay.max(0) as u64 {
                return Err(Unusable::Settings("reorder frames"));
            }
            s.video_delay = self.video_delay;
        }
        Ok((path, s))
    }
}

/// The copy to play `item` from, when there is a usable one: the item starts at its first
/// frame (`start` is its `in`; a copy starts at its own first frame) and the copy covers the
/// `frames` the slot gives it. Why not is said at debug level: most items simply have none.
pub fn usable(
    pt: &Passthrough,
    item: &MediaItem,
    s: &super::context::PlayContext,
    start: crate::time::Micros,
    frames: i64,
) -> Option<(PathBuf, Sidecar)> {
    let frame = crate::time::Micros(rescale(1, s.fmt.frame_tb(), crate::time::MICROS));
    if start - item.in_point >= frame {
        return None;
    }
    let gain = s.loudness.as_ref().and_then(|m| m.gain(item).1);
    let m = &s.metrics.prepare;
    match pt.find(item, gain.as_deref()) {
        // One frame more than the copy is the rounding of the slot against the channel's
        // start: the copy's last picture is held for it.
        Ok((path, side)) if side.frames + 1 >= frames => {
            m.cache_hits_total.inc();
            crate::conform::touch(&pt.dir, &side.key);
            Some((path, side))
        }
        Ok((_, side)) => {
            m.cache_misses_total.with_label_values(&["short"]).inc();
            tracing::debug!(file = %item.path.display(), copy_frames = side.frames, frames, "The conformed copy is shorter than the slot; encoding.");
            None
        }
        Err(why) => {
            m.cache_misses_total.with_label_values(&[why.label()]).inc();
            if why.label() == "damaged" {
                // Found only now (its bytes are read when it plays): made again first.
                tracing::warn!(file = %item.path.display(), %why, "The conformed copy is damaged; the item is encoded, and the copy made again.");
                if let Some(p) = &pt.preparer {
                    p.remake(item);
                }
            } else {
                tracing::debug!(file = %item.path.display(), %why, "Not passed through; encoding.");
            }
            None
        }
    }
}

/// How a copy played.
pub enum Played {
    /// `frames` frames went out (all the copy was asked for, or up to a cut).
    Frames(i64),
    /// The channel is done.
    Stop,
}

/// Why a copy could not be played (the rest of its slot is slate).
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("cannot open the copy: {0}")]
    Open(ff::Error),
    #[error("the copy lacks a stream")]
    NoStream,
    #[error("cannot read the copy's last picture: {0}")]
    LastPicture(std::io::Error),
    #[error("the copy's last picture is not one")]
    NotAPicture,
}

/// Plays up to `frames` frames of the copy at `path` from the current position; `check` may
/// cut it shorter (an event, a skip, a live takeover), as it does an item.
pub fn play(
    (path, side): (&Path, &Sidecar),
    fmt: &ChannelFormat,
    frames: i64,
    sp: &mut Splicer,
    check: &mut dyn FnMut(i64) -> Option<i64>,
) -> Result<Played, CopyError> {
    let mut input = ff::format::input(&path).map_err(CopyError::Open)?;
    let tb = |i: usize| -> Result<Rational, CopyError> {
        let t = input.stream(i).ok_or(CopyError::NoStream)?.time_base();
        Ok(Rational::new(t.numerator().into(), t.denominator().into()))
    };
    let (vtb, atb) = (tb(0)?, tb(1)?);
    let (ftb, stb) = (fmt.frame_tb(), fmt.sample_tb());
    let rate = i64::from(fmt.sample_rate);
    let mut limit = frames.min(sp.frames_left()).max(0);
    let shift = |k: Kind| match k {
        Kind::Video => side.shift_frames,
        Kind::Audio => samples_at_frame(side.shift_frames, fmt.fps, rate),
    };
    let (v0, a0) = sp.begin_copy();
    let mut sent = 0i64;
    let mut packets = 0u32;
    let mut video_done = false;
    // Video packets read so far, in decode order.
    let mut index = 0i64;
    for (st, mut p) in input.packets() {
        let (kind, from, to, base) = match st.index() {
            0 => (Kind::Video, vtb, ftb, v0),
            1 => (Kind::Audio, atb, stb, a0),
            _ => continue,
        };
        let Some(at) = p.pts().map(|t| rescale(t, from, to) - shift(kind)) else {
            continue;
        };
        let dts = match kind {
            // x264's decode timestamps, which NUT leaves out for the first packets.
            Kind::Video => {
                index += 1;
                index - 1 - side.video_delay
            }
            Kind::Audio => at,
        };
        let audio_end = samples_at_frame(limit.max(sent), fmt.fps, rate);
        match kind {
            Kind::Video
                if video_done || (at >= limit && sent >= limit && i64::from(packets) == sent) =>
            {
                // Past the end (or a cut), at a clean point: every frame before it has gone
                // and none after. With B-frames a cut inside a group of them goes on to the
                // group's end (at most the reorder delay), so no sent frame lacks a
                // reference. The rest of the file is not needed once the audio has caught up.
                video_done = true;
                continue;
            }
            Kind::Video => {
                sent = sent.max(at + 1);
                packets += 1;
            }
            Kind::Audio if at >= audio_end => {
                if video_done {
                    break;
                }
                continue;
            }
            Kind::Audio => {}
        }
        p.set_pts(Some(base + at));
        p.set_dts(Some(base + dts));
        p.set_duration(rescale(p.duration(), from, to));
        p.set_stream(0);
        if sp.copied(Encoded { kind, packet: p }) == Flow::Stop {
            return Ok(Played::Stop);
        }
        if packets % 8 == 0 {
            if let Some(c) = check(v0 + sent) {
                limit = limit.min(c - v0).max(sent);
            }
        }
    }
    let played = sent;
    if sp.end_copy(played) == Flow::Stop {
        return Ok(Played::Stop);
    }
    if played < limit {
        // The slot is longer than the copy (by a frame of rounding): its last picture,
        // held, as the encoder would hold the item's; the encoder is opened again for it.
        let bytes =
            std::fs::read(path.with_extension("last.yuv")).map_err(CopyError::LastPicture)?;
        let picture = crate::conform::picture_from(&bytes, fmt.width, fmt.height)
            .ok_or(CopyError::NotAPicture)?;
        if sp.hold_picture(limit - played, &picture) == Flow::Stop {
            return Ok(Played::Stop);
        }
        return Ok(Played::Frames(limit));
    }
    Ok(Played::Frames(played))
}
