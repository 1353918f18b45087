//! The encode thread: frames in, packets out. What it makes waits in its own queue
//! (`ready::Ready`) until the pacer takes it, so that a cut at the air (`recall`) can take
//! back what has not left.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Select, Sender};
use ffmpeg_next as ff;

use super::copied::{send_audio, AudioAligner};
use super::encode::Encoders;
use super::media::{Encoded, Kind, Media, AUDIO_FRAME};
use super::ready::Ready;
use super::recall::Cut;
use crate::metrics::Metrics;
use crate::time::Rational;

/// Packets made but not yet handed to the pacer, at most: the part of the lead a cut at the
/// air can take back.
pub const READY: usize = super::FRAME_QUEUE * 4;

/// Runs until the frame sender is dropped; then flushes both encoders, hands on what is left
/// and drops the packet sender. `cuts` brings cuts at the air (`recall`).
///
/// `freeze_after` (tests only, `--test-freeze-after`) hangs the thread for good after that
/// many frames, as a libav call that never returns would.
pub fn run(
    enc: Encoders,
    rx: Receiver<Media>,
    tx: Sender<Encoded>,
    cuts: Receiver<Cut>,
    metrics: Arc<Metrics>,
    freeze_after: Option<i64>,
) {
    let rate = i64::from(enc.audio.rate());
    let mut e = Encoding {
        batch: (enc.fps.num / enc.fps.den).max(1),
        align: AudioAligner::new(AUDIO_FRAME as i64)
            .counted(metrics.prepare.boundary_audio_shift_seconds.clone(), rate),
        ready: Ready::new(enc.fps, rate, AUDIO_FRAME as i64),
        enc,
        metrics,
        freeze_after,
        pending_frames: 0,
        frames: 0,
        speed: Speed::default(),
        copying: false,
    };
    let (mut frames_open, mut cuts_open) = (true, true);
    loop {
        if !frames_open && e.ready.is_empty() {
            break;
        }
        let full = e.ready.len() >= READY;
        let next = e.ready.next(full || !frames_open);
        let mut sel = Select::new();
        let take = (frames_open && !full).then(|| sel.recv(&rx));
        let give = next.map(|_| sel.send(&tx));
        let cut = cuts_open.then(|| sel.recv(&cuts));
        let op = sel.select();
        let i = Some(op.index());
        if i == take {
            match op.recv(&rx) {
                Ok(m) => {
                    if !e.take(m) {
                        break;
                    }
                    e.report(rx.len());
                }
                Err(_) => {
                    frames_open = false;
                    if !e.copying {
                        e.drain_to_end();
                    }
                }
            }
        } else if i == give {
            let p = next
                .and_then(|k| e.ready.pop(k))
                .expect("the packet chosen is there");
            if op.send(&tx, p).is_err() {
                break;
            }
        } else if i == cut {
            match op.recv(&cuts) {
                Ok(c) => {
                    if !e.cut(c, &rx) {
                        break;
                    }
                }
                Err(_) => cuts_open = false,
            }
        }
    }
    e.metrics.add_encoded_frames(e.pending_frames, e.enc.fps);
}

/// The encode thread's state.
struct Encoding {
    enc: Encoders,
    metrics: Arc<Metrics>,
    freeze_after: Option<i64>,
    batch: i64,
    pending_frames: i64,
    frames: i64,
    speed: Speed,
    /// Copied packets are being passed through; the encoders have been drained.
    copying: bool,
    align: AudioAligner,
    /// Made, not yet handed on.
    ready: Ready,
}

impl Encoding {
    /// One frame or packet from the source into `ready`; false when the stream must end.
    fn take(&mut self, m: Media) -> bool {
        if let Media::CopyBegins = m {
            if !self.copying {
                self.drain_to_end();
                self.copying = true;
            }
            self.align.new_segment();
            return true;
        }
        if self.copying && !matches!(m, Media::Copied(_)) {
            // Frames again: fresh encoders, whose first frame is an IDR.
            if let Err(e) = self.enc.reopen() {
                tracing::error!(error = %e, "Cannot open the encoders again after copied packets; the stream ends.");
                return false;
            }
            self.copying = false;
            self.align.new_segment();
        }
        let sent = match m {
            Media::Copied(c) => {
                if !self.copying {
                    // A copy always begins with `CopyBegins`; one that did not is placed as
                    // if it had.
                    self.drain_to_end();
                    self.copying = true;
                    self.align.new_segment();
                }
                match c.kind {
                    Kind::Video => {
                        self.metrics.add_passthrough_frames(1, self.enc.fps);
                        self.ready.push(c);
                    }
                    Kind::Audio => send_audio(
                        c.packet,
                        &mut self.align,
                        &self.enc.silence,
                        &mut self.ready,
                    ),
                }
                return true;
            }
            Media::Video(f) => {
                if self.freeze_after == Some(self.frames) {
                    self.metrics
                        .add_encoded_frames(self.pending_frames, self.enc.fps);
                    tracing::warn!(
                        frames = self.frames,
                        "Test fault: the encoder hangs from now on (--test-freeze-after)."
                    );
                    loop {
                        std::thread::park();
                    }
                }
                self.pending_frames += 1;
                self.frames += 1;
                self.enc.held += 1;
                self.enc.clock.sent(f.pts());
                self.enc.video.send_frame(&f)
            }
            Media::Audio(f) => self.enc.audio.send_frame(&f),
            Media::CopyBegins => return true,
        };
        if let Err(e) = sent {
            tracing::error!(error = %e, "Encoder rejected a frame.");
        }
        self.drain();
        true
    }

    /// Counts what was encoded, once a second of frames (and at once for the first, which
    /// makes the channel ready).
    fn report(&mut self, queued: usize) {
        let p = self.pending_frames;
        if p >= self.batch || (self.frames == 1 && p == 1) {
            self.metrics.add_encoded_frames(p, self.enc.fps);
            self.metrics
                .encode_speed_ratio
                .set(self.speed.update(p, self.enc.fps));
            self.metrics.set_queue_depth("frames", queued);
            self.metrics.set_queue_depth("packets", self.ready.len());
            self.pending_frames = 0;
        }
    }

    /// A cut at the air (`recall`): takes back everything from frame `c.at` on and answers
    /// with the frame the cut falls on. False when the stream must end.
    fn cut(&mut self, c: Cut, rx: &Receiver<Media>) -> bool {
        let rate = i64::from(self.enc.audio.rate());
        let at_sample = crate::time::samples_at_frame(c.at, self.enc.fps, rate);
        let made = self.ready.cut_point(c.at);
        // The source waits for the answer: what it has queued is all there is. When the
        // cut falls in what was made, all of it is later than the cut.
        for m in rx.try_iter() {
            let later = match &m {
                Media::Video(f) => f.pts().is_some_and(|p| p >= c.at),
                Media::Audio(f) => f.pts().is_some_and(|p| p >= at_sample),
                _ => false,
            };
            if made.is_none() && !later && !self.take(m) {
                return false;
            }
        }
        let point = made.or_else(|| {
            if !self.copying {
                self.drain_to_end();
            }
            self.ready.cut_point(c.at)
        });
        let (upto, frame) = match point {
            Some(p) => p,
            None => (usize::MAX, self.ready.end().map_or(c.at, |e| e.min(c.at))),
        };
        let end = self.ready.keep_before(upto, frame);
        self.align.taken_back(end);
        if let Err(e) = self.enc.reopen() {
            tracing::error!(error = %e, "Cannot open the encoders again after a cut; the stream ends.");
            return false;
        }
        self.copying = false;
        tracing::debug!(asked = c.at, frame, "Cut at the air.");
        let _ = c.reply.send(frame);
        true
    }

    /// Ends both encoders' streams and moves everything they still hold into `ready`: every
    /// frame sent so far comes out before what follows (a copy's first packet).
    fn drain_to_end(&mut self) {
        let _ = self.enc.video.send_eof();
        let _ = self.enc.audio.send_eof();
        self.drain();
    }

    /// Moves every packet the encoders have ready into `ready` (audio placed by `align`).
    fn drain(&mut self) {
        let enc = &mut self.enc;
        let mut p = ff::Packet::empty();
        while enc.video.receive_packet(&mut p).is_ok() {
            let mut packet = std::mem::replace(&mut p, ff::Packet::empty());
            enc.clock.stamp(&mut packet);
            self.ready.push(Encoded {
                kind: Kind::Video,
                packet,
            });
            enc.held -= 1;
            enc.delay.seen(enc.held);
        }
        while enc.audio.receive_packet(&mut p).is_ok() {
            let packet = std::mem::replace(&mut p, ff::Packet::empty());
            send_audio(packet, &mut self.align, &enc.silence, &mut self.ready);
        }
    }
}

/// Channel seconds encoded per wall second over the last `SPEED_WINDOW` of wall time: an
/// average that forgets the burst of filling the queues at start within seconds, where an
/// exponential one took half a minute.
struct Speed {
    window: std::collections::VecDeque<(std::time::Instant, f64)>,
    encoded: f64,
}

const SPEED_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

impl Default for Speed {
    fn default() -> Self {
        let mut window = std::collections::VecDeque::new();
        window.push_back((std::time::Instant::now(), 0.0));
        Speed {
            window,
            encoded: 0.0,
        }
    }
}

impl Speed {
    fn update(&mut self, frames: i64, fps: Rational) -> f64 {
        let now = std::time::Instant::now();
        self.encoded += frames as f64 * fps.den as f64 / fps.num as f64;
        self.window.push_back((now, self.encoded));
        while self.window.len() > 2 && now - self.window[1].0 >= SPEED_WINDOW {
            self.window.pop_front();
        }
        let (t0, e0) = self.window[0];
        (self.encoded - e0) / (now - t0).as_secs_f64().max(1e-3)
    }
}
