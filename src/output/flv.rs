//! One FLV output (RTMP, RTMPS or a local file): its own thread, its own connection state.
//!
//! While disconnected the channel keeps running and this output's packets are dropped and
//! counted. Every blocking step (connect, handshakes, each write) runs under a watchdog: one
//! that makes no progress for `write_timeout` is abandoned as a stall. A new connection is a
//! fresh FLV session: sequence headers first, then the current GOP from its keyframe (kept
//! for this purpose), so a republish starts at once rather than up to a GOP later, with
//! timestamps starting at zero like any new publisher's.
//!
//! Why a GOP cache and not a forced keyframe: the encoder runs a couple of seconds ahead of
//! the clock, so a keyframe asked for on reconnect would reach the output no sooner than the
//! next regular one, and would break the fixed keyframe cadence ingests ask for.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use ffmpeg_next as ff;

use super::guard::DtsGuard;
use super::reconnect::{Backoff, Link};
use crate::config::{parse_output_url, redact_url, OutputTarget};
use crate::libav::{open_output, GuardedOutput};
use crate::metrics::Metrics;
use crate::pipeline::encode::{Encoded, Kind, StreamParams};
use crate::time::{rescale, Micros, Rational, MICROS};

/// The most packets the GOP cache holds (a 10 s GOP at 60 fps with its audio fits).
const GOP_MAX: usize = 2048;
/// How long closing a broken connection may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

pub struct OutputSpec {
    pub name: String,
    /// Secret: contains the stream key. Only `redact_url(url)` is ever shown.
    pub url: String,
    pub params: StreamParams,
    pub write_timeout: Duration,
    pub tls_verify: bool,
    pub ca_file: Option<PathBuf>,
    /// TCP send buffer in bytes: small, so that a peer that stops reading blocks a write
    /// (and trips the watchdog) within about half a second of stream instead of minutes.
    pub send_buffer: usize,
    /// Where the first publish session's timestamps start: zero, except in the wrap test
    /// (`--test-flv-start`), which starts them just short of `SESSION_LIMIT`.
    pub ts_start: Micros,
    /// With `anchor` (lockstep): a frame's timestamp is its channel time since the anchor,
    /// less the whole `SESSION_LIMIT`s before it, in every session of every instance.
    pub grid: Option<crate::grid::Grid>,
}

/// How long one publish session may last. FLV (and RTMP) timestamps are 32-bit
/// milliseconds, and libavformat's FLV muxer writes them as signed: they would wrap after
/// 2^31 ms (24 days 20 h 31 min) of one session. Before that the output republishes: at a
/// keyframe it ends the session cleanly and connects again at once, and the new session's
/// timestamps start from zero — what the ingest sees when any encoder restarts. The
/// timeline and every other output go on untouched.
pub const SESSION_LIMIT: Micros = Micros(24 * 24 * 3600 * 1_000_000);

/// A deadline the interrupt callback checks while libav blocks.
struct Watchdog {
    origin: Instant,
    /// Milliseconds since `origin` after which blocking I/O gives up; 0 = not armed.
    deadline_ms: AtomicU64,
}

impl Watchdog {
    fn new() -> Arc<Self> {
        Arc::new(Watchdog {
            origin: Instant::now(),
            deadline_ms: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn arm(&self, timeout: Duration) {
        let d = self.now_ms() + timeout.as_millis() as u64 + 1;
        self.deadline_ms.store(d, Ordering::Relaxed);
    }

    fn disarm(&self) {
        self.deadline_ms.store(0, Ordering::Relaxed);
    }

    fn expired(&self) -> bool {
        let d = self.deadline_ms.load(Ordering::Relaxed);
        d != 0 && self.now_ms() >= d
    }
}

struct Session {
    out: GuardedOutput,
    video_tb: ff::Rational,
    audio_tb: ff::Rational,
    /// Channel time (µs) of the session's first keyframe: its timestamp `ts_start`.
    origin_us: Option<i64>,
    ts_start: Micros,
    /// Lockstep: this run's frame 0 since the anchor; `ts_start` is then taken from it.
    since_anchor: Option<Micros>,
}

/// The packets since the last video keyframe, in arrival order, starting with it.
#[derive(Default)]
struct Gop {
    packets: Vec<Encoded>,
}

impl Gop {
    fn add(&mut self, enc: &Encoded, params: &StreamParams) {
        if enc.kind == Kind::Video && enc.packet.is_key() {
            // Audio stamped at or after the keyframe arrives before it (video leaves the
            // encoder later): it belongs to the new GOP.
            let from = ts_micros(enc, params);
            let keep: Vec<Encoded> = self
                .packets
                .drain(..)
                .filter(|p| p.kind == Kind::Audio && ts_micros(p, params) >= from)
                .collect();
            self.packets.push(enc.clone());
            self.packets.extend(keep);
        } else if !self.packets.is_empty() {
            self.packets.push(enc.clone());
            if self.packets.len() > GOP_MAX {
                self.packets.clear();
            }
        } else if enc.kind == Kind::Audio {
            // Before the first keyframe: keep the audio so the first GOP can claim it.
            self.packets.push(enc.clone());
        }
    }

    fn starts_with_keyframe(&self) -> bool {
        self.packets
            .first()
            .is_some_and(|p| p.kind == Kind::Video && p.packet.is_key())
    }
}

/// Counts a batch of progress and flushes it to the metrics twice a second.
struct Tally {
    bytes: u64,
    dropped: u64,
    last: Instant,
}

pub fn run(spec: OutputSpec, mut guard: DtsGuard, rx: Receiver<Encoded>, metrics: Arc<Metrics>) {
    let shown = redact_url(&spec.url);
    let name = spec.name.as_str();
    let seed = name.bytes().fold(std::process::id() as u64, |h, b| {
        h.rotate_left(5) ^ b as u64
    });
    let mut link = Link::new(Instant::now(), Backoff::default(), seed);
    let dog = Watchdog::new();
    let mut session: Option<Session> = None;
    let mut gop = Gop::default();
    let mut ever_tried = false;
    let mut tally = Tally {
        bytes: 0,
        dropped: 0,
        last: Instant::now(),
    };
    metrics.output_init(name);
    // The first session only: the switch stands for a session that has run for weeks.
    let mut ts_start = spec.ts_start;
    // Audio past the session limit, waiting for the keyframe that ends the session.
    let mut held: Vec<Encoded> = Vec::new();
    for enc in rx.iter() {
        let past_limit = session
            .as_ref()
            .and_then(|s| s.time_of(&enc, &spec.params))
            .is_some_and(|t| t >= SESSION_LIMIT);
        if past_limit && enc.kind == Kind::Video && enc.packet.is_key() {
            tracing::info!(output = %name, url = %shown, limit = %SESSION_LIMIT, "Republishing: this publish session's FLV timestamps reach the limit; a new session starts at this keyframe.");
            if let Some(mut s) = session.take() {
                // The audio up to this keyframe ends the old session, aligned with its video.
                let cut = ts_micros(&enc, &spec.params);
                for a in held.drain(..) {
                    if ts_micros(&a, &spec.params) < cut {
                        let _ = s.write(a, &spec.params, &dog, spec.write_timeout, &mut guard);
                    }
                }
                dog.arm(spec.write_timeout);
                close(s, &dog, true);
            }
            metrics.output_connected(name, false);
            link.republish(Instant::now());
        }
        if session.is_none() && link.due(Instant::now()) {
            if ever_tried {
                metrics.output_reconnect(name);
            }
            ever_tried = true;
            link.connecting();
            match connect(&spec, &dog) {
                Ok(mut s) => {
                    s.ts_start = std::mem::replace(&mut ts_start, Micros::ZERO);
                    s.since_anchor = spec.grid.map(|g| g.offset());
                    guard.restart();
                    link.connected();
                    metrics.output_connected(name, true);
                    tracing::info!(output = %name, url = %shown, "Output connected.");
                    session = Some(s);
                }
                Err(e) => {
                    let stalled = dog.expired();
                    dog.disarm();
                    let wait = link.failed(Instant::now());
                    let e = if stalled {
                        format!("no progress for {:?} (timed out)", spec.write_timeout)
                    } else {
                        explain(&spec, e)
                    };
                    // Every failure of a long outage would flood the log: say the first few,
                    // then about once a minute at the back-off cap.
                    let a = link.attempt();
                    if a <= 3 || a % 12 == 0 {
                        tracing::warn!(output = %name, url = %shown, error = %e, stalled, attempt = a, retry_in_ms = wait.as_millis() as u64, "Output cannot connect.");
                    } else {
                        tracing::debug!(output = %name, url = %shown, error = %e, stalled, attempt = a, retry_in_ms = wait.as_millis() as u64, "Output cannot connect.");
                    }
                }
            }
        }
        gop.add(&enc, &spec.params);
        match session.as_mut() {
            None => {
                held.clear();
                tally.dropped += 1;
            }
            Some(_) if past_limit && enc.kind == Kind::Audio => held.push(enc),
            Some(s) => match s.push(
                enc,
                &gop,
                &spec.params,
                &dog,
                spec.write_timeout,
                &mut guard,
            ) {
                Ok((bytes, dropped)) => {
                    tally.bytes += bytes;
                    tally.dropped += dropped;
                }
                Err(e) => {
                    let stalled = dog.expired();
                    if stalled {
                        tracing::warn!(output = %name, url = %shown, timeout_ms = spec.write_timeout.as_millis() as u64, "Output stalled: no write progress for {:?}; reconnecting.", spec.write_timeout);
                    } else {
                        tracing::warn!(output = %name, url = %shown, error = %e, "Output write failed; reconnecting.");
                    }
                    metrics.output_connected(name, false);
                    if let Some(s) = session.take() {
                        close(s, &dog, false);
                    }
                    link.failed(Instant::now());
                    tally.dropped += 1;
                }
            },
        }
        if tally.last.elapsed() >= Duration::from_millis(500) {
            metrics.output_progress(name, tally.bytes, tally.dropped);
            if session.is_some() {
                metrics.saw_connected();
            }
            (tally.bytes, tally.dropped, tally.last) = (0, 0, Instant::now());
        }
    }
    metrics.output_progress(name, tally.bytes, tally.dropped);
    if let Some(s) = session.take() {
        dog.arm(spec.write_timeout);
        close(s, &dog, true);
        tracing::info!(output = %name, url = %shown, "Output closed.");
    }
    metrics.output_connected(name, false);
}

/// libav reports a failed TLS handshake or certificate check as a bare I/O error.
fn explain(spec: &OutputSpec, e: ff::Error) -> String {
    if spec.url.starts_with("rtmps://") && matches!(e, ff::Error::Other { errno: EIO }) {
        format!(
            "{e} (the TLS handshake failed: is the certificate trusted? tls_verify is {}{})",
            if spec.tls_verify { "on" } else { "off" },
            if spec.ca_file.is_some() {
                ", with ca_file"
            } else {
                ""
            }
        )
    } else {
        e.to_string()
    }
}

/// POSIX EIO, as libav reports it through `AVERROR(EIO)`.
const EIO: i32 = 5;

fn connect(spec: &OutputSpec, dog: &Arc<Watchdog>) -> Result<Session, ff::Error> {
    let (target, format_opts) = match parse_output_url(&spec.url) {
        Ok(OutputTarget::File(path)) => (path.to_string_lossy().into_owned(), false),
        _ => (spec.url.clone(), true),
    };
    let mut opts = ff::Dictionary::new();
    if format_opts {
        opts.set("send_buffer_size", &spec.send_buffer.to_string());
        if spec.url.starts_with("rtmps://") {
            opts.set("tls_verify", if spec.tls_verify { "1" } else { "0" });
            if let Some(ca) = &spec.ca_file {
                opts.set("ca_file", &ca.to_string_lossy());
            }
        }
    }
    let watch = dog.clone();
    dog.arm(spec.write_timeout);
    let mut out = open_output(&target, "flv", opts, move || watch.expired())?;
    for (params, tb) in [
        (&spec.params.video, spec.params.video_tb),
        (&spec.params.audio, spec.params.audio_tb),
    ] {
        let mut st = out.ctx.add_stream(ff::encoder::find(params.id()))?;
        st.set_parameters(params.clone());
        st.set_time_base(ff::Rational::from(tb));
    }
    // Each packet leaves as soon as it is written, not when a 32 KiB buffer fills.
    let mut header_opts = ff::Dictionary::new();
    header_opts.set("flush_packets", "1");
    out.ctx.write_header_with(header_opts)?;
    dog.disarm();
    let video_tb = out.ctx.stream(0).expect("added").time_base();
    let audio_tb = out.ctx.stream(1).expect("added").time_base();
    Ok(Session {
        out,
        video_tb,
        audio_tb,
        origin_us: None,
        ts_start: Micros::ZERO,
        since_anchor: None,
    })
}

/// Closes a session; `clean` writes the FLV trailer first. Bounded by the watchdog, so a dead
/// peer cannot hold the thread.
fn close(mut s: Session, dog: &Watchdog, clean: bool) {
    if !clean {
        dog.arm(CLOSE_TIMEOUT);
    }
    if clean {
        if let Err(e) = s.out.ctx.write_trailer() {
            tracing::debug!(error = %e, "Output trailer failed.");
        }
    }
    drop(s);
    dog.disarm();
}

fn ts_micros(enc: &Encoded, params: &StreamParams) -> i64 {
    let tb = match enc.kind {
        Kind::Video => params.video_tb,
        Kind::Audio => params.audio_tb,
    };
    rescale(
        enc.packet.dts().or(enc.packet.pts()).unwrap_or(0),
        tb,
        MICROS,
    )
}

impl Session {
    /// Writes one packet. A session that has not started yet starts with the cached GOP
    /// (which already holds this packet) once there is one to start from. Returns bytes
    /// written and packets dropped.
    /// Where `enc` falls on this session's timestamps, once the session has started.
    fn time_of(&self, enc: &Encoded, params: &StreamParams) -> Option<Micros> {
        self.origin_us
            .map(|o| Micros(ts_micros(enc, params) - o) + self.ts_start)
    }

    fn push(
        &mut self,
        enc: Encoded,
        gop: &Gop,
        params: &StreamParams,
        dog: &Watchdog,
        timeout: Duration,
        guard: &mut DtsGuard,
    ) -> Result<(u64, u64), ff::Error> {
        if self.origin_us.is_some() {
            return self.write(enc, params, dog, timeout, guard);
        }
        if !gop.starts_with_keyframe() {
            return Ok((0, 1));
        }
        let origin = ts_micros(&gop.packets[0], params);
        self.origin_us = Some(origin);
        if let Some(off) = self.since_anchor {
            // The same timestamp for the same frame as any other instance's session.
            self.ts_start = Micros((origin + off.0).rem_euclid(SESSION_LIMIT.0));
        }
        let (mut bytes, mut dropped) = (0, 0);
        for p in &gop.packets {
            if ts_micros(p, params) >= origin || p.kind == Kind::Video {
                bytes += self.write(p.clone(), params, dog, timeout, guard)?.0;
            } else {
                dropped += 1;
            }
        }
        Ok((bytes, dropped))
    }

    fn write(
        &mut self,
        mut enc: Encoded,
        params: &StreamParams,
        dog: &Watchdog,
        timeout: Duration,
        guard: &mut DtsGuard,
    ) -> Result<(u64, u64), ff::Error> {
        let (index, from, to): (usize, Rational, ff::Rational) = match enc.kind {
            Kind::Video => (0, params.video_tb, self.video_tb),
            Kind::Audio => (1, params.audio_tb, self.audio_tb),
        };
        // The packet's picture (or sound) time names the item it belongs to.
        let shown = enc.packet.pts().or(enc.packet.dts()).unwrap_or(0);
        let at = Micros(rescale(shown, from, MICROS));
        let origin = rescale(self.origin_us.unwrap_or(0) - self.ts_start.0, MICROS, from);
        let shift = |t: Option<i64>| t.map(|t| t - origin);
        let (pts, dts) = (shift(enc.packet.pts()), shift(enc.packet.dts()));
        enc.packet.set_pts(pts);
        enc.packet.set_dts(dts);
        enc.packet.set_stream(index);
        enc.packet.rescale_ts(ff::Rational::from(from), to);
        guard.check(index, &mut enc.packet, at);
        let size = enc.packet.size() as u64;
        dog.arm(timeout);
        let r = enc.packet.write_interleaved(&mut self.out.ctx);
        if r.is_ok() {
            dog.disarm();
        }
        r.map(|()| (size, 0))
    }
}
