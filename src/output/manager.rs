//! The outputs playing now, and their changes on reload. The manager starts one writer
//! thread per output and tells the pacer to add or drop its queue; a removed output's queue
//! is dropped, so its thread writes the stream's end, closes, and is joined. The other
//! outputs and the timeline are untouched: an added output opens its own publish session
//! and starts at the next keyframe, as a reconnect does.
//!
//! HLS outputs change the same way: the web server serves the HLS outputs playing now (the
//! `OutputList`), so one added is served from its first segment and one removed is a 404.

use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Sender};

use super::{flv, hls, OUTPUT_QUEUE};
use crate::config::{redact_url, OutputConfig, OutputTarget};
use crate::metrics::Metrics;
use crate::pipeline::encode::{Encoded, StreamParams};
use crate::time::Micros;

/// A change to the pacer's fan-out.
pub enum Fanout {
    Add(String, Sender<Encoded>),
    Remove(String),
}

/// The outputs playing now, for the HTTP side (`/healthz`, `/api/v1/outputs`). Only the
/// manager writes it.
#[derive(Debug, Default)]
pub struct OutputList(RwLock<Vec<OutputConfig>>);

impl OutputList {
    pub fn get(&self) -> Vec<OutputConfig> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn names(&self) -> Vec<String> {
        self.get().into_iter().map(|o| o.name).collect()
    }

    fn set(&self, list: Vec<OutputConfig>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = list;
    }
}

/// What every output thread needs besides its own settings.
pub struct Shared {
    pub params: StreamParams,
    /// Channel time of frame 0 (Unix µs), for HLS's PROGRAM-DATE-TIME.
    pub t0: Micros,
    /// With `anchor`: the GOP grid that HLS segments and FLV timestamps are counted on.
    pub grid: Option<crate::grid::Grid>,
    pub keyframe_interval: Micros,
    pub frame: Micros,
    /// The socket send buffer for RTMP outputs.
    pub send_buffer: usize,
    /// Where FLV sessions' timestamps start (tests only; see `flv::SESSION_LIMIT`).
    pub flv_start: Micros,
    pub metrics: Arc<Metrics>,
    /// Where each slot began (the source tells), to name an item in an output's report.
    pub starts: Arc<crate::pipeline::starts::ItemStarts>,
}

pub struct Manager {
    shared: Shared,
    fanout: Sender<Fanout>,
    list: Arc<OutputList>,
    running: Vec<(OutputConfig, JoinHandle<()>)>,
}

impl Manager {
    pub fn new(shared: Shared, fanout: Sender<Fanout>, list: Arc<OutputList>) -> Self {
        Manager {
            shared,
            fanout,
            list,
            running: Vec::new(),
        }
    }

    /// Starts `o`: its thread, then its queue at the pacer.
    pub fn add(&mut self, o: OutputConfig) -> std::io::Result<()> {
        tracing::info!(output = %o.name, url = %redact_url(&o.url), "Output configured.");
        let (tx, rx) = bounded(OUTPUT_QUEUE);
        let m = self.shared.metrics.clone();
        let thread = std::thread::Builder::new().name(format!("output-{}", o.name));
        let s = &self.shared;
        let guard = super::guard::DtsGuard::new(&o.name, m.clone(), s.starts.clone());
        let handle = if let Ok(OutputTarget::Hls(folder)) = o.target() {
            let spec = hls::HlsSpec {
                name: o.name.clone(),
                folder,
                params: s.params.clone(),
                t0: s.t0,
                grid: s.grid,
                keyframe_interval: s.keyframe_interval,
                frame: s.frame,
            };
            thread.spawn(move || hls::run(spec, guard, rx, m))?
        } else {
            let spec = flv::OutputSpec {
                name: o.name.clone(),
                url: o.url.clone(),
                params: s.params.clone(),
                write_timeout: o.write_timeout.to_std(),
                tls_verify: o.tls_verify,
                ca_file: o.ca_file.clone(),
                send_buffer: s.send_buffer,
                ts_start: s.flv_start,
                grid: s.grid,
            };
            thread.spawn(move || flv::run(spec, guard, rx, m))?
        };
        // The pacer is gone only when the channel has ended; then nothing is sent anyway.
        let _ = self.fanout.send(Fanout::Add(o.name.clone(), tx));
        self.running.push((o, handle));
        self.publish();
        Ok(())
    }

    /// Stops the output named `name`: its queue is dropped, its thread ends the stream and
    /// is joined (within the output's write timeout).
    fn remove(&mut self, name: &str) {
        let Some(i) = self.running.iter().position(|(o, _)| o.name == name) else {
            return;
        };
        let (o, handle) = self.running.remove(i);
        let _ = self.fanout.send(Fanout::Remove(o.name.clone()));
        self.publish();
        if handle.join().is_err() {
            tracing::error!(output = %o.name, "Output thread panicked.");
        }
        tracing::info!(output = %o.name, url = %redact_url(&o.url), "Output removed.");
    }

    /// Makes the outputs `wanted`: those gone are removed, those new added, those whose
    /// settings changed restarted (a new publish session, or for HLS a writer that goes on
    /// from the folder's playlist).
    pub fn apply(&mut self, wanted: Vec<OutputConfig>) -> Result<Changes, ApplyError> {
        let now: Vec<OutputConfig> = self.running.iter().map(|(o, _)| o.clone()).collect();
        let mut changes = Changes::default();
        for o in &now {
            match wanted.iter().find(|w| w.name == o.name) {
                None => {
                    self.remove(&o.name);
                    changes.removed.push(o.name.clone());
                }
                Some(w) if w != o => {
                    self.remove(&o.name);
                    changes.restarted.push(o.name.clone());
                }
                Some(_) => {}
            }
        }
        for w in wanted {
            if !self.running.iter().any(|(o, _)| o.name == w.name) {
                let name = w.name.clone();
                if !changes.restarted.contains(&name) {
                    changes.added.push(name.clone());
                }
                self.add(w)
                    .map_err(|source| ApplyError::Start { name, source })?;
            }
        }
        Ok(changes)
    }

    /// Waits for every output thread (the pacer has ended, so each sees its queue close);
    /// false if any panicked.
    pub fn join(&mut self) -> bool {
        let mut ok = true;
        for (o, handle) in self.running.drain(..) {
            if handle.join().is_err() {
                tracing::error!(output = %o.name, "Output thread panicked.");
                ok = false;
            }
        }
        ok
    }

    fn publish(&self) {
        self.list
            .set(self.running.iter().map(|(o, _)| o.clone()).collect());
    }
}

/// Why `apply` stopped short: an output's thread could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("outputs: cannot start {name}: {source}")]
    Start {
        name: String,
        source: std::io::Error,
    },
}

/// What `apply` did, by output name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub restarted: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.restarted.is_empty()
    }
}
