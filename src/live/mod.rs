//! The live input: a publisher (OBS, a remote encoder, `ffmpeg -re`) pushes RTMP or SRT to
//! the channel, and the channel plays it instead of the playlist while it is on.
//!
//! ```text
//! publisher ──TCP──> [live-listen] key check, one at a time (RTMP: relay.rs)
//!                        │ loopback
//!                        v
//!                    [live-input] libavformat RTMP/SRT listener, decode, normalise,
//!                     one unit per channel frame (reader.rs) ──bounded(UNITS)──> [source]
//! ```
//! The source thread owns the timeline: it takes the channel over when a unit is waiting
//! and hands back when the units stop (`pipeline::live`). The listener is up from start to
//! end, whatever the outputs do.

pub mod admission;
pub mod reader;
pub mod relay;
pub mod rtmp;
mod units;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, Receiver};
use ffmpeg_next as ff;

use crate::config::{LiveListen, LiveSettings};
use crate::metrics::Metrics;
use crate::pipeline::ChannelFormat;
use crate::time::Micros;

/// Units (channel frames) that may wait between the live reader and the source: about half
/// a second at 30 fps. Past that the oldest goes: live is about now, not about every frame.
pub const UNITS: usize = 16;

/// One channel frame of live media: the picture and exactly the audio that goes with it
/// (planar f32 in the channel's layout), both normalised.
pub struct Unit {
    pub video: ff::frame::Video,
    pub audio: Vec<Vec<f32>>,
}

/// What the listener and the reader share with the source.
#[derive(Debug, Default)]
pub struct Shared {
    /// A publisher with the right key is connected (it may not have sent a picture yet).
    pub publisher: AtomicBool,
    /// What the schedule says about letting a publisher in (none: everyone is).
    pub admission: Option<admission::Admission>,
}

impl Shared {
    pub fn publisher(&self) -> bool {
        self.publisher.load(Ordering::Relaxed)
    }

    /// Whether a publisher with the right key may connect now (`Err`: why not).
    pub fn admit(&self) -> Result<(), admission::NotScheduled> {
        match &self.admission {
            Some(a) => a.check(crate::clock::wall_now()),
            None => Ok(()),
        }
    }
}

/// When the channel was live, in channel time (Unix µs): written by the source, read by
/// `/api/v1/now`. The source runs ahead of the air, so a stretch is known before it airs.
#[derive(Debug, Default)]
pub struct LiveAir(Mutex<Vec<Stretch>>);

/// One stretch of live air: from, to (open while on), and what it is called.
#[derive(Debug)]
struct Stretch {
    start: Micros,
    end: Option<Micros>,
    title: String,
}

/// Stretches kept (the oldest go first).
const AIR_KEPT: usize = 64;

impl LiveAir {
    pub fn begin(&self, at: Micros, title: &str) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if v.len() >= AIR_KEPT {
            v.remove(0);
        }
        v.push(Stretch {
            start: at,
            end: None,
            title: title.to_string(),
        });
    }

    pub fn end(&self, at: Micros) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = v.last_mut() {
            last.end = Some(at);
        }
    }

    /// The start and title of the live stretch on air at `t`, if one is.
    pub fn at(&self, t: Micros) -> Option<(Micros, String)> {
        let v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        v.iter()
            .rev()
            .find(|s| s.start <= t && s.end.map_or(true, |e| t < e))
            .map(|s| (s.start, s.title.clone()))
    }

    /// Whether any live stretch began in `[from, to)`: a live event that has had its
    /// publisher on says "back shortly" rather than "starting soon".
    pub fn began_between(&self, from: Micros, to: Micros) -> bool {
        let v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        v.iter().any(|s| s.start >= from && s.start < to)
    }
}

/// The running live input, for the source.
pub struct LiveInput {
    pub settings: LiveSettings,
    pub units: Receiver<Unit>,
    pub shared: Arc<Shared>,
    pub air: Arc<LiveAir>,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("live.listen: cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("live input: cannot start a thread: {0}")]
    Thread(std::io::Error),
}

/// Starts the listener and the reader. The listener is bound before this returns, so a
/// port in use is a start error, not a log line later.
pub fn start(
    settings: &LiveSettings,
    fmt: &ChannelFormat,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    air: Arc<LiveAir>,
    timeline: Arc<crate::lineup::TimelineCell>,
) -> Result<LiveInput, LiveError> {
    let shared = Arc::new(Shared {
        publisher: AtomicBool::new(false),
        admission: Some(admission::Admission::new(settings, timeline)),
    });
    let (tx, rx) = bounded(UNITS);
    let url = match &settings.listen {
        LiveListen::Rtmp { app, key, .. } => {
            let internal = relay::start(settings, metrics.clone(), shared.clone(), stop.clone())?;
            // The reader's server sees only what the relay let through: the right key.
            reader::Source::Rtmp(format!(
                "rtmp://127.0.0.1:{}/{app}/{}",
                internal.port(),
                key.expose()
            ))
        }
        LiveListen::Srt {
            addr,
            passphrase,
            latency_ms,
        } => {
            // libsrt binds when the reader opens it; check the port is free now.
            std::net::UdpSocket::bind(addr).map_err(|e| LiveError::Bind {
                addr: settings.listen.redacted(),
                source: e,
            })?;
            let mut u = format!("srt://{addr}?mode=listener");
            if let Some(p) = passphrase {
                u.push_str(&format!("&passphrase={}&pbkeylen=16", p.expose()));
            }
            if let Some(l) = latency_ms {
                u.push_str(&format!("&latency={}", u64::from(*l) * 1000));
            }
            reader::Source::Srt(u)
        }
    };
    let r = reader::Reader {
        source: url,
        fmt: fmt.clone(),
        timeout: settings.timeout,
        metrics,
        shared: shared.clone(),
        stop,
        units: tx,
        drain: rx.clone(),
    };
    std::thread::Builder::new()
        .name("live-input".into())
        .spawn(move || r.run())
        .map_err(LiveError::Thread)?;
    tracing::info!(listen = %settings.listen.redacted(), timeout = %settings.timeout, rejoin = %settings.rejoin, "Live input listening.");
    Ok(LiveInput {
        settings: settings.clone(),
        units: rx,
        shared,
        air,
    })
}
