//! One FLV output (RTMP, RTMPS or a local file): its own thread, its own connection state.
//!
//! While disconnected the channel keeps running and this output's packets are dropped and
//! counted. A new connection starts a fresh FLV session with sequence headers and waits for
//! the next keyframe, so the ingest never sees a picture that references missing frames.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use ffmpeg_next as ff;

use crate::config::{parse_output_url, redact_url, OutputTarget};
use crate::metrics::Metrics;
use crate::pipeline::encode::{Encoded, Kind, StreamParams};
use crate::time::{rescale, MICROS};

const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Audio packets kept while a new session waits for its first keyframe (~5 s at 48 kHz).
const EARLY_AUDIO_MAX: usize = 256;

pub struct OutputSpec {
    pub name: String,
    /// Secret: contains the stream key. Only `redact_url(url)` is ever shown.
    pub url: String,
    pub params: StreamParams,
}

struct Session {
    ctx: ff::format::context::Output,
    video_tb: ff::Rational,
    audio_tb: ff::Rational,
    started: bool,
    early_audio: VecDeque<Encoded>,
}

enum State {
    Connected(Session),
    Disconnected {
        retry_at: Instant,
        backoff: Duration,
    },
}

pub fn run(spec: OutputSpec, rx: Receiver<Encoded>, metrics: Arc<Metrics>) {
    let shown = redact_url(&spec.url);
    let mut state = State::Disconnected {
        retry_at: Instant::now(),
        backoff: RETRY_FIRST,
    };
    let mut batch_bytes = 0u64;
    let mut batch_dropped = 0u64;
    let mut last_flush = Instant::now();
    metrics.output_connected(&spec.name, false);
    for enc in rx.iter() {
        if let State::Disconnected { retry_at, backoff } = &state {
            if Instant::now() >= *retry_at {
                let backoff = *backoff;
                match connect(&spec) {
                    Ok(s) => {
                        tracing::info!(output = %spec.name, url = %shown, "Output connected.");
                        metrics.output_connected(&spec.name, true);
                        state = State::Connected(s);
                    }
                    Err(e) => {
                        tracing::warn!(output = %spec.name, url = %shown, error = %e, retry_in_ms = backoff.as_millis() as u64, "Output cannot connect.");
                        state = State::Disconnected {
                            retry_at: Instant::now() + backoff,
                            backoff: (backoff * 2).min(RETRY_MAX),
                        };
                    }
                }
            }
        }
        match &mut state {
            State::Disconnected { .. } => batch_dropped += 1,
            State::Connected(s) => {
                let keyframe = enc.kind == Kind::Video && enc.packet.is_key();
                if !s.started && !keyframe {
                    // Audio that arrives before the session's first keyframe is kept (a
                    // bounded moment of it) and written after it if it is not older.
                    if enc.kind == Kind::Audio {
                        s.early_audio.push_back(enc);
                        if s.early_audio.len() > EARLY_AUDIO_MAX {
                            s.early_audio.pop_front();
                            batch_dropped += 1;
                        }
                    } else {
                        batch_dropped += 1;
                    }
                } else {
                    let mut size = enc.packet.size() as u64;
                    let early: Vec<Encoded> = s.early_audio.drain(..).collect();
                    let from = ts_micros(&enc, &spec.params);
                    s.started = true;
                    let mut result = write(s, &spec.params, enc);
                    for a in early {
                        if ts_micros(&a, &spec.params) >= from && result.is_ok() {
                            size += a.packet.size() as u64;
                            result = write(s, &spec.params, a);
                        } else {
                            batch_dropped += 1;
                        }
                    }
                    if let Err(e) = result {
                        tracing::warn!(output = %spec.name, url = %shown, error = %e, "Output write failed; reconnecting.");
                        metrics.output_connected(&spec.name, false);
                        metrics.output_reconnect(&spec.name);
                        state = State::Disconnected {
                            retry_at: Instant::now(),
                            backoff: RETRY_FIRST,
                        };
                    } else {
                        batch_bytes += size;
                    }
                }
            }
        }
        if last_flush.elapsed() >= Duration::from_millis(500) {
            metrics.output_progress(&spec.name, batch_bytes, batch_dropped);
            (batch_bytes, batch_dropped) = (0, 0);
            last_flush = Instant::now();
        }
    }
    metrics.output_progress(&spec.name, batch_bytes, batch_dropped);
    if let State::Connected(mut s) = state {
        if let Err(e) = s.ctx.write_trailer() {
            tracing::warn!(output = %spec.name, error = %e, "Output trailer failed.");
        }
        tracing::info!(output = %spec.name, url = %shown, "Output closed.");
    }
    metrics.output_connected(&spec.name, false);
}

fn connect(spec: &OutputSpec) -> Result<Session, ff::Error> {
    let mut ctx = match parse_output_url(&spec.url) {
        Ok(OutputTarget::File(path)) => ff::format::output_as(&path, "flv")?,
        _ => ff::format::output_as(&spec.url, "flv")?,
    };
    for (params, tb) in [
        (&spec.params.video, spec.params.video_tb),
        (&spec.params.audio, spec.params.audio_tb),
    ] {
        let mut st = ctx.add_stream(ff::encoder::find(params.id()))?;
        st.set_parameters(params.clone());
        st.set_time_base(ff::Rational::from(tb));
    }
    ctx.write_header()?;
    let video_tb = ctx.stream(0).expect("added").time_base();
    let audio_tb = ctx.stream(1).expect("added").time_base();
    Ok(Session {
        ctx,
        video_tb,
        audio_tb,
        started: false,
        early_audio: VecDeque::new(),
    })
}

fn ts_micros(enc: &Encoded, params: &StreamParams) -> i64 {
    let tb = match enc.kind {
        Kind::Video => params.video_tb,
        Kind::Audio => params.audio_tb,
    };
    let ts = enc.packet.dts().or(enc.packet.pts()).unwrap_or(0);
    rescale(ts, tb, MICROS)
}

fn write(s: &mut Session, params: &StreamParams, mut enc: Encoded) -> Result<(), ff::Error> {
    let (index, from, to) = match enc.kind {
        Kind::Video => (0, params.video_tb, s.video_tb),
        Kind::Audio => (1, params.audio_tb, s.audio_tb),
    };
    enc.packet.set_stream(index);
    enc.packet.rescale_ts(ff::Rational::from(from), to);
    enc.packet.write_interleaved(&mut s.ctx)
}
