//! One channel as one thing: `Channel::start` loads its playlist, resumes its timeline and
//! starts everything that plays it (the pipeline's threads, the reloader and the file watcher,
//! the live input, the loudness meter, the background preparer); `api()` hands out what the
//! HTTP side reads and the senders of its commands; `stop()` ends the stream at the next
//! frame and `join()` waits for every thread. The binary's edge (`main.rs`) adds the command
//! line, logging, the HTTP listener, signals and sd_notify around it.
//!
//! ```text
//! [watcher]──┐
//! SIGHUP ────┴─> [reload] ──lineups──> [source] ──frames──> [encode] ──packets──> [pace] ──> [output]…
//!                   └── outputs on reload ───────────────────────────────────────────────┘
//! ```

mod pipeline;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Sender};

pub use pipeline::{outputs, ChannelOrigin, RunError, Running};

use crate::config::{ChannelConfig, ConfigError};
use crate::lineup::{self, Durations, Timeline, TimelineCell};
use crate::live::LiveAir;
use crate::metrics::Metrics;
use crate::output::manager::OutputList;
use crate::pipeline::source::{self, Control, Frontier};
use crate::playlist::Playlist;
use crate::quarantine::{self, Quarantine};
use crate::reload::{self, ReloadStatus, Reloader};
use crate::snapshot::Snapshot;
use crate::time::Micros;

/// How to run a channel, besides its file.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// `--output` URLs: when given they replace the file's outputs (which a reload then
    /// leaves alone).
    pub outputs: Vec<String>,
    /// Channel time after which the stream ends cleanly (`--for`).
    pub stop_after: Option<Micros>,
    /// Paced to the wall clock (false: `--unpaced`, the channel clock simulated).
    pub paced: bool,
    /// Tests only (`--test-freeze-after`): the encoder hangs after this much channel time.
    pub freeze_after: Option<Micros>,
    /// Tests only (`--test-flv-start`): where FLV sessions' timestamps start.
    pub flv_start: Micros,
    /// Run by a host (`--hosted`): the host's front door owns the file's `http`.
    pub hosted: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Playlist(#[from] ConfigError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("cannot start the {0} thread: {1}")]
    Thread(&'static str, std::io::Error),
}

/// What the HTTP side of one channel reads (snapshots, each with one writer in the channel)
/// and sends (commands): cheap to clone.
#[derive(Clone)]
pub struct ChannelApi {
    /// The channel file as it was at the start.
    pub config: Arc<ChannelConfig>,
    pub metrics: Arc<Metrics>,
    /// The timeline on air, as the source publishes it.
    pub timeline: Arc<TimelineCell>,
    /// The last rejected reload, until a good one.
    pub reload_status: Arc<Snapshot<ReloadStatus>>,
    /// The outputs playing now (they change on reload).
    pub outputs: Arc<OutputList>,
    /// When the channel was live and under what title (with `live:`).
    pub live: Option<Arc<LiveAir>>,
    /// Skips, to the source.
    pub skips: Sender<Control>,
    /// Asks for a reload now (the file watcher and SIGHUP ask too).
    pub reload: Sender<()>,
    /// How far the source has got.
    pub frontier: Arc<Frontier>,
    /// The channel's quarantine (the library's prober opens files through it).
    pub quarantine: Quarantine,
}

/// Ends a channel's stream at its next frame, from wherever it is held (a signal handler).
#[derive(Clone, Debug)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A running channel.
pub struct Channel {
    api: ChannelApi,
    stop: StopHandle,
    running: Running,
    quarantine: Quarantine,
    /// Kept for as long as the channel runs: dropping it stops the watching.
    _watcher: Option<notify::RecommendedWatcher>,
    /// Looks at the same files every `reload.poll` (a shared volume's writes from another
    /// machine reach no inotify); stopped and joined when dropped.
    _poller: reload::Poller,
}

impl Channel {
    /// Starts `config` as `opts` says. Before anything opens a media file the last run's
    /// crash journal is judged (quarantine).
    pub fn start(config: ChannelConfig, opts: RunOptions) -> Result<Channel, StartError> {
        let playlist = Arc::new(Playlist::load_named(&config.playlist, &config.file)?);
        reload::warn_live(&config, &playlist);
        let quarantine = Quarantine::open(&quarantine::Paths::beside(&config.state), opts.paced);
        let mut durations = Durations::new(quarantine.clone());
        let lineup = Arc::new(lineup::build(
            playlist,
            config.timezone,
            config.slate.failure_duration,
            &mut durations,
        ));
        let paced = opts.paced;
        let (origin, timeline) = match config.anchor {
            // Lockstep: the file's anchor, never the state file's; frames on its GOP grid.
            Some(anchor) => {
                let fps = config.video.fps;
                let gop = crate::time::frames_in(config.video.keyframe_interval, fps).max(1);
                let rate = config.audio.sample_rate;
                let origin = ChannelOrigin::on_grid(anchor, gop, fps, rate);
                (origin, Timeline::pinned(lineup, anchor, origin.wall))
            }
            None => {
                let origin = ChannelOrigin::now();
                let state = paced.then_some(config.state.as_path());
                (origin, Timeline::resume(lineup, state, origin.wall))
            }
        };
        let cell = Arc::new(TimelineCell::new(timeline.clone()));
        let metrics = Arc::new(Metrics::new());
        let reload_status = Arc::new(Snapshot::default());
        // Reloads: file changes and SIGHUP ask, the reload thread validates and builds, the
        // source adopts.
        let (update_tx, update_rx) = bounded(4);
        let (request_tx, request_rx) = bounded(1);
        let mut watched = vec![config.file.clone(), config.playlist.clone()];
        watched.extend(config.overlay.as_ref().map(|o| o.image.clone()));
        watched.extend(config.slate.image.as_ref().map(|i| i.path.clone()));
        watched.extend(config.slate.clip.as_ref().map(|c| c.path.clone()));
        let watcher = match reload::watch(&watched, request_tx.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "Cannot watch the channel and playlist files; SIGHUP still reloads.");
                None
            }
        };
        let last_read = reload::LastRead::new(&watched);
        let poller = reload::Poller::start(
            last_read.clone(),
            config.reload.poll.to_std(),
            request_tx.clone(),
        );
        let outputs = pipeline::outputs(&config, &opts.outputs)?;
        let output_list = Arc::new(OutputList::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (skip_tx, skip_rx) = bounded(4);
        let frontier = Arc::new(Frontier::default());
        let live_air = Arc::new(LiveAir::default());
        tracing::info!(channel = %config.name, items = timeline.lineup.playlist.items.len(), events = timeline.lineup.playlist.events.len(), paced, "Channel starting.");
        let running = pipeline::start(
            &config,
            timeline,
            origin,
            pipeline::PipelineOptions {
                freeze_after: opts.freeze_after,
                flv_start: opts.flv_start,
                output_list: output_list.clone(),
                live_air: live_air.clone(),
                inbox: source::Inbox {
                    updates: update_rx,
                    control: skip_rx,
                },
                outbox: source::Outbox {
                    cell: cell.clone(),
                    frontier: frontier.clone(),
                    starts: Arc::default(),
                },
                quarantine: quarantine.clone(),
                outputs: outputs.clone(),
                stop_after: opts.stop_after,
                paced,
                stop: stop.clone(),
            },
            metrics.clone(),
        )?;
        let reloader = Reloader {
            outputs: running.outputs.clone(),
            // Outputs given on the command line replace the file's, so its edits do not apply.
            outputs_fixed: !opts.outputs.is_empty(),
            http_from_host: opts.hosted,
            channel: config.clone(),
            durations,
            updates: update_tx,
            metrics: metrics.clone(),
            status: reload_status.clone(),
            last_read,
        };
        std::thread::Builder::new()
            .name("reload".into())
            .spawn(move || reload::run(reloader, request_rx))
            .map_err(|e| StartError::Thread("reload", e))?;
        let api = ChannelApi {
            live: config.live.as_ref().map(|_| live_air),
            config: Arc::new(config),
            metrics,
            timeline: cell,
            reload_status,
            outputs: output_list,
            skips: skip_tx,
            reload: request_tx,
            frontier,
            quarantine: quarantine.clone(),
        };
        Ok(Channel {
            api,
            stop: StopHandle(stop),
            running,
            quarantine,
            _watcher: watcher,
            _poller: poller,
        })
    }

    pub fn api(&self) -> ChannelApi {
        self.api.clone()
    }

    /// What ends the stream at the next frame, for whoever must be able to (a signal).
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Ends the stream at the next frame; `join` waits for the end.
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// Waits for every thread to finish (the stream's end: `--for`, `stop`, the encoder
    /// gone); false if any of them panicked. A clean end is noted in the crash journal.
    pub fn join(self) -> bool {
        let ok = self.running.join();
        if ok {
            self.quarantine.ended_cleanly();
        }
        ok
    }
}
