//! The live reader: libavformat's RTMP server (behind the relay) or SRT listener, one
//! publisher session after another. Each session is decoded and normalised like an item,
//! its timestamps made continuous (a jump or a step back is re-based, never followed), and
//! cut into units of one channel frame (`units.rs`).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use ffmpeg_next as ff;

use super::units::Session;
use super::{Shared, Unit};
use crate::metrics::Metrics;
use crate::pipeline::open::{describe, open_decoder};
use crate::pipeline::ChannelFormat;
use crate::time::{Micros, Rational};

/// Consecutive packets the video decoder may reject before the feed counts as undecodable.
const MAX_DECODE_ERRORS: u32 = 25;
/// A session with no decodable picture this long after it opened is refused.
const FIRST_PICTURE: Duration = Duration::from_secs(5);

pub enum Source {
    /// The relay's loopback side, with the key already checked.
    Rtmp(String),
    /// `srt://…?mode=listener…`, the passphrase checked by libsrt.
    Srt(String),
}

pub struct Reader {
    pub source: Source,
    pub fmt: ChannelFormat,
    pub timeout: Micros,
    pub metrics: Arc<Metrics>,
    pub shared: Arc<Shared>,
    pub stop: Arc<AtomicBool>,
    pub units: Sender<Unit>,
    /// The same queue's other end: a full queue loses its oldest unit, not the newest.
    pub drain: Receiver<Unit>,
}

fn now_ms(epoch: Instant) -> i64 {
    epoch.elapsed().as_millis() as i64
}

impl Reader {
    pub fn run(self) {
        let epoch = Instant::now();
        // Reads give up once this passes (ms since `epoch`); listening waits for ever.
        let deadline = Arc::new(AtomicI64::new(i64::MAX));
        while !self.stop.load(Ordering::Relaxed) {
            deadline.store(i64::MAX, Ordering::Relaxed);
            let (url, rtmp) = match &self.source {
                Source::Rtmp(u) => (u.as_str(), true),
                Source::Srt(u) => (u.as_str(), false),
            };
            let mut opts = ff::Dictionary::new();
            if rtmp {
                opts.set("listen", "1");
            }
            // What the publisher sends is read as it comes (in real time): every tenth of a
            // second spent reading its streams' parameters is that much later on air.
            opts.set("analyzeduration", "200000");
            let (stop, dl) = (self.stop.clone(), deadline.clone());
            let interrupt =
                move || stop.load(Ordering::Relaxed) || now_ms(epoch) > dl.load(Ordering::Relaxed);
            match ff::format::input_with_interrupt_and_dictionary(&url, interrupt, opts) {
                Ok(input) => {
                    if !rtmp {
                        // The passphrase was right (libsrt checked it); the schedule decides.
                        if let Err(why) = self.shared.admit() {
                            self.refuse("not_scheduled", &why.to_string());
                            drop(input);
                            continue;
                        }
                        self.shared.publisher.store(true, Ordering::Release);
                        self.metrics.live.connected.set(1);
                        tracing::info!("Live input: SRT publisher connected.");
                    }
                    self.session(input, &deadline, epoch);
                    if !rtmp && self.shared.publisher.swap(false, Ordering::AcqRel) {
                        self.metrics.live.connected.set(0);
                    }
                    self.metrics.live.input_fps.set(0.0);
                }
                Err(e) => {
                    if !self.stop.load(Ordering::Relaxed) {
                        tracing::debug!(error = %e, "Live input: no session opened.");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
    }

    fn refuse(&self, reason: &'static str, detail: &str) {
        tracing::warn!(reason, detail, "Live input: publisher refused.");
        self.metrics.live.refused(reason);
    }

    fn session(&self, mut input: ff::format::context::Input, deadline: &AtomicI64, epoch: Instant) {
        let name = Path::new("live input");
        let info = describe(&input);
        let Some(vinfo) = info.video.clone() else {
            self.refuse("no_video", "the publisher sends no video");
            return;
        };
        let mut vdec = match open_decoder(&input, vinfo.index, name).and_then(|d| {
            d.video().map_err(|e| crate::pipeline::open::OpenError {
                path: name.into(),
                reason: crate::pipeline::open::FailReason::Unsupported,
                detail: e.to_string(),
            })
        }) {
            Ok(d) => d,
            Err(e) => {
                self.refuse("undecodable", &e.detail);
                return;
            }
        };
        let ai = info.audio.as_ref().map(|a| a.index);
        let mut adec = ai.and_then(|i| open_decoder(&input, i, name).ok()?.audio().ok());
        let tb = |i: usize| {
            let t = input
                .stream(i)
                .map(|s| s.time_base())
                .unwrap_or(ff::Rational::new(1, 1000));
            Rational::new(t.numerator() as i64, t.denominator().max(1) as i64)
        };
        let (v_tb, a_tb) = (
            tb(vinfo.index),
            ai.map(tb).unwrap_or(Rational::new(1, 1000)),
        );
        tracing::info!(video = %vinfo.codec, width = vinfo.width, height = vinfo.height, audio = info.audio.as_ref().map(|a| a.codec.as_str()).unwrap_or("none"), "Live input: session open.");
        let mut s = Session::new(&self.fmt);
        let opened = Instant::now();
        let (mut pictures, mut last_tick) = (0u32, Instant::now());
        let mut dec_errors = 0u32;
        let stall = self.timeout.0 / 1000 + 1000;
        let (mut vframe, mut aframe) = (ff::frame::Video::empty(), ff::frame::Audio::empty());
        while !self.stop.load(Ordering::Relaxed) {
            deadline.store(now_ms(epoch) + stall, Ordering::Relaxed);
            let mut packet = ff::Packet::empty();
            match packet.read(&mut input) {
                Ok(()) => {}
                Err(ff::Error::Eof) => {
                    tracing::info!("Live input: the publisher ended the stream.");
                    break;
                }
                Err(e) => {
                    tracing::info!(error = %e, "Live input: the stream stopped.");
                    break;
                }
            }
            self.metrics
                .live
                .input_bytes_total
                .inc_by(packet.size() as u64);
            if packet.stream() == vinfo.index {
                if vdec.send_packet(&packet).is_err() {
                    dec_errors += 1;
                    if dec_errors >= MAX_DECODE_ERRORS {
                        self.refuse("undecodable", "the video does not decode");
                        break;
                    }
                } else {
                    dec_errors = 0;
                }
                while vdec.receive_frame(&mut vframe).is_ok() {
                    pictures += 1;
                    for u in s.video(&mut vframe, v_tb) {
                        self.send(u);
                    }
                }
            } else if Some(packet.stream()) == ai {
                if let Some(dec) = adec.as_mut() {
                    if dec.send_packet(&packet).is_ok() {
                        while dec.receive_frame(&mut aframe).is_ok() {
                            s.audio(&mut aframe, a_tb);
                        }
                    }
                }
            }
            if !s.pictured && opened.elapsed() > FIRST_PICTURE {
                self.refuse("undecodable", "no decodable picture in the first 5 s");
                break;
            }
            let dt = last_tick.elapsed();
            if dt >= Duration::from_secs(1) {
                let secs = dt.as_secs_f64();
                self.metrics.live.input_fps.set(pictures as f64 / secs);
                (pictures, last_tick) = (0, Instant::now());
            }
        }
        for u in s.finish() {
            self.send(u);
        }
    }

    fn send(&self, u: Unit) {
        if let Err(TrySendError::Full(u)) = self.units.try_send(u) {
            let _ = self.drain.try_recv();
            let _ = self.units.try_send(u);
        }
    }
}
