//! The HLS output: the channel's packets, after the pacer, cut into MPEG-TS segments of one
//! GOP each and listed in a live playlist, both in one folder that the HTTP server serves.
//!
//! It is an output like the FLV ones: its own thread and bounded queue, fed by the pacer
//! with the same drop-and-count rule, so it never runs ahead of the wall clock and a full disk
//! never holds back the timeline or the other outputs. Its state is "connected" while
//! segments are being written; a failed write marks it down (metrics, `/healthz`), logs once,
//! and is retried with the next segment, after which the stream carries a discontinuity.
//!
//! Segment `n` covers the presentation times `[K_n, K_n+1)` between two keyframes; its
//! program-date-time is the channel's frame-0 wall time plus `K_n`, so it agrees with the
//! schedule (EPG, `/api/v1/now`) to the frame. MPEG-TS timestamps are the channel's own plus
//! a constant, so they are continuous from one segment to the next within a run. Files are
//! written to `NAME.tmp` and renamed, so a reader never sees half a segment or playlist.

pub mod playlist;

use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use ffmpeg_next as ff;

use super::guard::DtsGuard;
use crate::metrics::Metrics;
use crate::pipeline::encode::{Encoded, Kind, StreamParams};
use crate::time::{rescale, Micros, Rational, MICROS};
use playlist::{segment_name, segment_seq, LivePlaylist, PLAYLIST_NAME};

/// Segments listed in the playlist (12 s at the default 2 s GOP).
pub const WINDOW: usize = 6;
/// Segments kept on disk after they leave the playlist, for players that are behind.
pub const GRACE: usize = 6;
/// Added to every MPEG-TS timestamp so that the first packets' decode times (before zero
/// with B-frames) stay positive: 10 s.
const TS_OFFSET: Micros = Micros::from_secs(10);
/// Audio waiting for the video it belongs with; more means no video is coming (~20 s).
const PENDING_AUDIO_MAX: usize = 1000;

pub struct HlsSpec {
    pub name: String,
    pub folder: PathBuf,
    pub params: StreamParams,
    /// Wall-clock time (Unix µs) of channel time zero: the first frame of this run.
    pub t0: Micros,
    /// With `anchor`: the GOP grid segments are cut and numbered on.
    pub grid: Option<crate::grid::Grid>,
    /// Nominal segment length: the channel's keyframe interval.
    pub keyframe_interval: Micros,
    /// One video frame, for the length of the last segment of a run.
    pub frame: Micros,
}

#[derive(Debug, thiserror::Error)]
pub enum HlsError {
    #[error("cannot create the folder {}: {source}", .path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot mux {}: {source}", .path.display())]
    Mux { path: PathBuf, source: ff::Error },
}

/// A segment being gathered: its first keyframe's presentation time, its grid interval
/// (lockstep) and its packets.
struct Open {
    start: Micros,
    cell: Option<i64>,
    packets: Vec<Encoded>,
}

/// What the thread knows about its folder.
struct Writer<'a> {
    spec: &'a HlsSpec,
    playlist: Option<LivePlaylist>,
    /// The next segment written starts after a break (a restart or lost segments).
    broken: bool,
    /// Since when writing has failed, if it is failing.
    down_since: Option<Instant>,
    /// Decode time rises across segments, as it does inside one.
    guard: DtsGuard,
}

pub fn run(spec: HlsSpec, guard: DtsGuard, rx: Receiver<Encoded>, metrics: Arc<Metrics>) {
    let name = spec.name.clone();
    metrics.output_init(&name);
    let mut w = Writer {
        spec: &spec,
        playlist: None,
        broken: false,
        down_since: None,
        guard,
    };
    let mut pending: VecDeque<Encoded> = VecDeque::new();
    let mut current: Option<Open> = None;
    let mut last_video_pts: Option<Micros> = None;
    let mut dropped = 0u64;
    let mut last_report = Instant::now();
    // Lockstep: the grid interval of the first picture this output saw. A segment starts at a
    // grid point, or at the first keyframe of a later interval (copies passed through have
    // their keyframes where their items put them).
    let mut first_cell: Option<i64> = None;
    for enc in rx.iter() {
        match enc.kind {
            Kind::Audio => {
                pending.push_back(enc);
                if pending.len() > PENDING_AUDIO_MAX {
                    pending.pop_front();
                    dropped += 1;
                }
            }
            Kind::Video => {
                let pts = pts_micros(&enc, &spec.params);
                last_video_pts = Some(last_video_pts.map_or(pts, |l| l.max(pts)));
                let cell = spec.grid.map(|g| {
                    let f = rescale(
                        enc.packet.pts().unwrap_or(0),
                        spec.params.video_tb,
                        g.fps.invert(),
                    );
                    (g.cell(f), g.is_grid_point(f))
                });
                let first = *first_cell.get_or_insert(cell.map_or(0, |c| c.0));
                let starts = match (cell, current.as_ref()) {
                    (None, _) => enc.packet.is_key(),
                    (Some((c, point)), None) => enc.packet.is_key() && (point || c > first),
                    (Some((c, _)), Some(open)) => {
                        enc.packet.is_key() && open.cell.map_or(true, |o| c > o)
                    }
                };
                if starts {
                    match current.take() {
                        Some(mut seg) => {
                            take_audio_before(&mut pending, &mut seg.packets, pts, &spec.params);
                            w.finish(seg, pts, &metrics, &mut dropped);
                        }
                        None => {
                            dropped += drop_audio_before(&mut pending, pts, &spec.params);
                        }
                    }
                    current = Some(Open {
                        start: pts,
                        cell: cell.map(|c| c.0),
                        packets: vec![enc],
                    });
                } else if let Some(seg) = current.as_mut() {
                    // Audio stamped before this frame's decode time cannot belong to the next
                    // segment, whose keyframe decodes later.
                    let dts = dts_micros(&enc, &spec.params);
                    seg.packets.push(enc);
                    take_audio_before(&mut pending, &mut seg.packets, dts, &spec.params);
                } else {
                    dropped += 1;
                }
            }
        }
        if last_report.elapsed() >= Duration::from_millis(500) {
            metrics.output_progress(&name, 0, dropped);
            dropped = 0;
            if w.down_since.is_none() && w.playlist.is_some() {
                metrics.saw_connected();
            }
            last_report = Instant::now();
        }
    }
    // The end of the stream: the last segment ends one frame after its last picture. In
    // lockstep it is not written: another instance's segment of that number is whole.
    if let Some(mut seg) = current.take().filter(|_| spec.grid.is_none()) {
        seg.packets.extend(pending.drain(..));
        let end = last_video_pts.unwrap_or(seg.start) + spec.frame;
        w.finish(seg, end, &metrics, &mut dropped);
    }
    metrics.output_progress(&name, 0, dropped + pending.len() as u64);
    metrics.output_connected(&name, false);
    tracing::info!(output = %name, folder = %spec.folder.display(), "HLS output closed.");
}

impl Writer<'_> {
    /// Writes one complete segment and the playlist that lists it. A failure drops the
    /// segment (counted), marks the output down, and the next segment tries again.
    fn finish(&mut self, seg: Open, end: Micros, metrics: &Metrics, dropped: &mut u64) {
        let name = self.spec.name.as_str();
        let count = seg.packets.len() as u64;
        match self.write(&seg, end) {
            Ok(bytes) => {
                metrics.output_progress(name, bytes, 0);
                if let Some(since) = self.down_since.take() {
                    tracing::info!(output = %name, folder = %self.spec.folder.display(), down_ms = since.elapsed().as_millis() as u64, "HLS output writing again.");
                }
                metrics.output_connected(name, true);
            }
            Err(e) => {
                *dropped += count;
                self.broken = true;
                if self.down_since.is_none() {
                    self.down_since = Some(Instant::now());
                    tracing::warn!(output = %name, error = %e, "HLS output cannot write; dropping segments and retrying with each one.");
                } else {
                    tracing::debug!(output = %name, error = %e, "HLS output still cannot write.");
                }
                metrics.output_connected(name, false);
            }
        }
    }

    fn write(&mut self, seg: &Open, end: Micros) -> Result<u64, HlsError> {
        let spec = self.spec;
        let folder = &spec.folder;
        if self.playlist.is_none() {
            fs::create_dir_all(folder).map_err(|source| HlsError::Folder {
                path: folder.clone(),
                source,
            })?;
            let (p, resumed) = resume(folder, spec.keyframe_interval);
            tracing::info!(output = %spec.name, folder = %folder.display(), first_segment = p.next_seq(), resumed, "HLS output started.");
            self.broken |= resumed;
            self.playlist = Some(p);
        }
        let playlist = self.playlist.as_mut().expect("set above");
        let seq = match seg.cell {
            // Lockstep: the grid's number. One before the anchor, or one already used (the
            // folder holds a later run's segments), is not written.
            Some(cell) => match u64::try_from(cell) {
                Ok(n) if n >= playlist.next_seq() => n,
                _ => return Ok(0),
            },
            None => playlist.next_seq(),
        };
        let path = folder.join(segment_name(seq));
        let offset = spec.grid.map_or(Micros::ZERO, |g| g.offset());
        let bytes = mux_segment(&path, &seg.packets, &spec.params, offset, &mut self.guard)?;
        let (duration, pdt) = (end - seg.start, spec.t0 + seg.start);
        let delete = match seg.cell {
            Some(_) => playlist
                .push_numbered(seq, duration, pdt, self.broken)
                .unwrap_or_default(),
            None => playlist.push(duration, pdt, self.broken),
        };
        self.broken = false;
        let text = playlist.render();
        let written = write_atomically(&folder.join(PLAYLIST_NAME), text.as_bytes());
        for old in delete {
            let _ = fs::remove_file(folder.join(segment_name(old)));
        }
        // The segment is listed in memory either way: the next playlist written lists it.
        written.map(|()| bytes)
    }
}

/// Picks up from what the last run left in `folder`: its playlist and segments. Removes
/// temporary files and segments no playlist lists. True if there was something to continue.
fn resume(folder: &Path, target: Micros) -> (LivePlaylist, bool) {
    let mut on_disk = Vec::new();
    if let Ok(entries) = fs::read_dir(folder) {
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(e.path());
            } else if let Some(seq) = segment_seq(&name) {
                on_disk.push(seq);
            }
        }
    }
    let text = fs::read_to_string(folder.join(PLAYLIST_NAME)).ok();
    let (p, stale) = LivePlaylist::resume(text.as_deref(), &on_disk, target, WINDOW, GRACE);
    for seq in stale {
        let _ = fs::remove_file(folder.join(segment_name(seq)));
    }
    let resumed = !p.is_empty();
    (p, resumed)
}

/// Writes `bytes` to `path` through `path.tmp` and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), HlsError> {
    let tmp = tmp_path(path);
    let io = |source| HlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let r = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r.map_err(io)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// One MPEG-TS file holding `packets` (video first, keyframe first), written through a
/// temporary file. Returns its size.
fn mux_segment(
    path: &Path,
    packets: &[Encoded],
    params: &StreamParams,
    offset: Micros,
    guard: &mut DtsGuard,
) -> Result<u64, HlsError> {
    let tmp = tmp_path(path);
    let r = mux_to(&tmp, packets, params, offset, guard).and_then(|()| {
        let size = fs::metadata(&tmp).map(|m| m.len()).unwrap_or(0);
        fs::rename(&tmp, path)
            .map(|()| size)
            .map_err(|source| HlsError::Io {
                path: path.to_path_buf(),
                source,
            })
    });
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

/// `offset`: added to every timestamp (lockstep: the run's frame 0 since the anchor), besides
/// `TS_OFFSET`; MPEG-TS keeps them modulo 2^33 (26.5 h at 90 kHz), as players expect.
fn mux_to(
    tmp: &Path,
    packets: &[Encoded],
    params: &StreamParams,
    offset: Micros,
    guard: &mut DtsGuard,
) -> Result<(), HlsError> {
    let err = |source| HlsError::Mux {
        path: tmp.to_path_buf(),
        source,
    };
    let mut out = ff::format::output_as(tmp, "mpegts").map_err(err)?;
    for p in [&params.video, &params.audio] {
        let mut st = out.add_stream(ff::encoder::find(p.id())).map_err(err)?;
        st.set_parameters(p.clone());
    }
    out.write_header().map_err(err)?;
    let tbs: Vec<ff::Rational> = out.streams().map(|s| s.time_base()).collect();
    for enc in packets {
        let (index, from) = match enc.kind {
            Kind::Video => (0, params.video_tb),
            Kind::Audio => (1, params.audio_tb),
        };
        let mut p = enc.clone();
        let shift = rescale((TS_OFFSET + offset).0, MICROS, from);
        let (pts, dts) = (p.packet.pts(), p.packet.dts());
        p.packet.set_pts(pts.map(|t| t + shift));
        p.packet.set_dts(dts.map(|t| t + shift));
        p.packet.set_stream(index);
        p.packet.rescale_ts(ff::Rational::from(from), tbs[index]);
        guard.check(index, &mut p.packet, pts_micros(enc, params));
        p.packet.write_interleaved(&mut out).map_err(err)?;
    }
    out.write_trailer().map_err(err)?;
    Ok(())
}

fn stamp(t: Option<i64>, kind: Kind, params: &StreamParams) -> Micros {
    let tb: Rational = match kind {
        Kind::Video => params.video_tb,
        Kind::Audio => params.audio_tb,
    };
    Micros(rescale(t.unwrap_or(0), tb, MICROS))
}

fn pts_micros(enc: &Encoded, params: &StreamParams) -> Micros {
    stamp(enc.packet.pts().or(enc.packet.dts()), enc.kind, params)
}

fn dts_micros(enc: &Encoded, params: &StreamParams) -> Micros {
    stamp(enc.packet.dts().or(enc.packet.pts()), enc.kind, params)
}

/// Moves the queued audio stamped before `before` into `into`.
fn take_audio_before(
    pending: &mut VecDeque<Encoded>,
    into: &mut Vec<Encoded>,
    before: Micros,
    params: &StreamParams,
) {
    while pending
        .front()
        .is_some_and(|a| pts_micros(a, params) < before)
    {
        into.extend(pending.pop_front());
    }
}

/// Drops the queued audio stamped before `before` (audio ahead of the first keyframe).
fn drop_audio_before(
    pending: &mut VecDeque<Encoded>,
    before: Micros,
    params: &StreamParams,
) -> u64 {
    let mut n = 0;
    while pending
        .front()
        .is_some_and(|a| pts_micros(a, params) < before)
    {
        pending.pop_front();
        n += 1;
    }
    n
}
