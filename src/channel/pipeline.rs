//! The pipeline of a channel: its threads, built and started for `Channel::start`.
//!
//! ```text
//! [source] --frames(bounded)--> [encode] --packets(bounded)--> [pace] --fan-out--> [output]…
//! ```
//! Each stage is a named OS thread; the channel only starts them and waits.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::bounded;

use crate::clock::{Clock, SimulatedClock, SystemClock};
use crate::config::{ChannelConfig, OutputConfig};
use crate::lineup::Timeline;
use crate::loudness::{self, Meter};
use crate::metrics::Metrics;
use crate::output;
use crate::output::manager::{Manager, OutputList, Shared};
use crate::pipeline::{self, encode, slate, source, ChannelFormat, FRAME_QUEUE};
use crate::time::{rescale, Micros, MICROS};

/// Packets between the encoder and the pacer: these can no longer be taken back.
const HANDOFF: usize = 8;

/// Frame 0's place in time: the wall-clock instant (for the schedule) and the monotonic one
/// (for pacing), read together.
#[derive(Clone, Copy, Debug)]
pub struct ChannelOrigin {
    pub wall: Micros,
    pub instant: std::time::Instant,
    /// With `anchor`: the GOP grid this run's frames are counted on (frame 0 is a grid point).
    pub grid: Option<crate::grid::Grid>,
}

impl ChannelOrigin {
    pub fn now() -> Self {
        ChannelOrigin {
            instant: std::time::Instant::now(),
            wall: crate::clock::wall_now(),
            grid: None,
        }
    }

    /// Frame 0 at the first point of `anchor`'s GOP grid at or after now that starts an AAC
    /// frame too (`Grid::starting`): a few keyframe intervals from now at most, which the
    /// pacer waits for.
    pub fn on_grid(anchor: Micros, gop: i64, fps: crate::time::Rational, rate: u32) -> Self {
        let (instant, wall) = (std::time::Instant::now(), crate::clock::wall_now());
        let grid = crate::grid::Grid::starting(anchor, wall, gop, fps, rate as i64);
        let t0 = grid.t0();
        ChannelOrigin {
            instant: instant + (t0 - wall).to_std(),
            wall: t0,
            grid: Some(grid),
        }
    }
}

pub struct PipelineOptions {
    /// What reaches the source while it runs: reloads and skips.
    pub inbox: source::Inbox,
    /// What the source publishes: the timeline and its frontier (the API reads them), where
    /// each slot began (the outputs read it).
    pub outbox: source::Outbox,
    /// The channel's quarantine, for whatever opens, plays or measures a file.
    pub quarantine: crate::quarantine::Quarantine,
    /// What to play to: `outputs(channel, --output URLs)`.
    pub outputs: Vec<OutputConfig>,
    pub stop_after: Option<Micros>,
    pub paced: bool,
    pub stop: Arc<AtomicBool>,
    /// Tests only (`--test-freeze-after`): the encoder hangs after this much channel time.
    pub freeze_after: Option<Micros>,
    /// Tests only (`--test-flv-start`): where FLV sessions' timestamps start.
    pub flv_start: Micros,
    /// Where the output manager publishes what plays to now (the HTTP side reads it).
    pub output_list: Arc<OutputList>,
    /// Where the source says when the channel was live (the HTTP side reads it).
    pub live_air: Arc<crate::live::LiveAir>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no outputs: the channel file lists none and no --output was given")]
    NoOutputs,
    #[error("--output: {0}")]
    BadOutput(crate::config::UrlError),
    #[error(transparent)]
    Encoder(#[from] encode::EncoderError),
    #[error("cannot render the slate: {0}")]
    Slate(ffmpeg_next::Error),
    #[error("cannot start a thread: {0}")]
    Thread(#[from] std::io::Error),
    #[error(transparent)]
    Live(#[from] crate::live::LiveError),
}

/// A running channel: join it to wait for the end.
pub struct Running {
    threads: Vec<JoinHandle<()>>,
    /// The outputs (the reloader changes them); joined after the pacer has ended.
    pub outputs: Arc<std::sync::Mutex<Manager>>,
}

impl Running {
    /// Waits for every stage to finish; false if any of them panicked.
    pub fn join(self) -> bool {
        let mut ok = true;
        for t in self.threads {
            let name = t.thread().name().unwrap_or("?").to_string();
            if t.join().is_err() {
                tracing::error!(thread = %name, "Pipeline thread panicked.");
                ok = false;
            }
        }
        let outputs_ok = self
            .outputs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join();
        ok && outputs_ok
    }
}

/// The outputs a run plays to: the `--output` URLs if any were given (named `output0`,
/// `output1`…, relative `hls:` folders against the working directory), else the channel
/// file's.
pub fn outputs(channel: &ChannelConfig, urls: &[String]) -> Result<Vec<OutputConfig>, RunError> {
    let outputs: Vec<OutputConfig> = if urls.is_empty() {
        channel.outputs.clone()
    } else {
        let cwd = std::env::current_dir().unwrap_or_default();
        let mut v = Vec::new();
        for (i, u) in urls.iter().enumerate() {
            let mut o = OutputConfig::from_url(format!("output{i}"), u.clone())
                .map_err(RunError::BadOutput)?;
            o.resolve_folder(&cwd);
            v.push(o);
        }
        v
    };
    if outputs.is_empty() {
        return Err(RunError::NoOutputs);
    }
    Ok(outputs)
}

pub fn start(
    channel: &ChannelConfig,
    timeline: Timeline,
    origin: ChannelOrigin,
    opts: PipelineOptions,
    metrics: Arc<Metrics>,
) -> Result<Running, RunError> {
    let fmt = ChannelFormat::of(channel);
    let fmt_fps = fmt.fps;
    let outputs = opts.outputs;
    if outputs.is_empty() {
        return Err(RunError::NoOutputs);
    }
    let look = slate::Look::of(channel, &fmt).map_err(RunError::Slate)?;
    let (encoders, params) = encode::open(&fmt, &channel.video, &channel.audio)?;
    let encoder_delay = encoders.delay();
    let extradata = (
        crate::libav::extradata(&params.video),
        crate::libav::extradata(&params.audio),
    );
    let video_delay = params.video_delay;
    let starts = opts.outbox.starts.clone();
    tracing::info!(
        cpus = pipeline::cpus(),
        x264_threads = pipeline::encoder_threads(),
        decoder_threads = pipeline::decoder_threads(),
        "Encoders open."
    );
    metrics
        .playlist_items
        .set(timeline.lineup.playlist.items.len() as i64);

    let (frame_tx, frame_rx) = bounded(FRAME_QUEUE);
    // The encoder keeps what it makes until the pacer takes it (`encode::READY`), so that a
    // cut at the air can take it back; only a few packets wait between the two.
    let (packet_tx, packet_rx) = bounded(HANDOFF);
    let (cut_tx, cut_rx) = bounded(1);
    let mut threads = Vec::new();
    // Half a second of stream in the kernel (Linux doubles the value asked for).
    let send_buffer = ((channel.video.maxrate + channel.audio.bitrate) / 8 / 4).max(16 * 1024);
    let (fanout_tx, fanout_rx) = bounded(64);
    let mut manager = Manager::new(
        Shared {
            params: params.clone(),
            t0: origin.wall,
            grid: origin.grid,
            keyframe_interval: channel.video.keyframe_interval,
            frame: Micros(rescale(1, fmt.frame_tb(), MICROS)),
            send_buffer: send_buffer as usize,
            flv_start: opts.flv_start,
            metrics: metrics.clone(),
            starts: starts.clone(),
        },
        fanout_tx,
        opts.output_list.clone(),
    );
    for o in outputs {
        manager.add(o)?;
    }
    let clock: Box<dyn Clock> = if opts.paced {
        Box::new(SystemClock::starting_at(origin.instant))
    } else {
        Box::new(SimulatedClock::default())
    };
    // The as-run record is proof of what aired: only a paced run (real time) keeps one. Its
    // writer is joined with the stages: it ends when the pacer's air has closed the last
    // entry and it is on disk.
    let asrun = match opts.paced {
        true => {
            let (tx, writer) = crate::asrun::writer::start(
                crate::asrun::dir_beside(&channel.state),
                channel.asrun.keep,
                metrics.clone(),
            )?;
            threads.push(writer);
            Some(tx)
        }
        false => None,
    };
    let air = output::air::Air::new(
        starts.clone(),
        origin.wall,
        asrun,
        Some(opts.outbox.frontier.clone()),
        Micros(rescale(1, fmt.frame_tb(), MICROS)),
    )
    .counting(metrics.clone());
    let (m, paced) = (metrics.clone(), opts.paced);
    threads.push(
        std::thread::Builder::new()
            .name("pace".into())
            .spawn(move || output::pace(packet_rx, fanout_rx, &params, clock, paced, m, air))?,
    );
    let m = metrics.clone();
    let freeze = opts
        .freeze_after
        .map(|d| crate::time::frames_in(d, fmt.fps));
    threads.push(
        std::thread::Builder::new()
            .name("encode".into())
            .spawn(move || {
                pipeline::encoding::run(encoders, frame_rx, packet_tx, cut_rx, m, freeze)
            })?,
    );
    let loudness = match channel.audio.loudness {
        Some(target) => Some(
            Meter::start(
                target,
                loudness::cache_path(&channel.state),
                metrics.clone(),
                opts.quarantine.clone(),
            )
            .map_err(RunError::Thread)?,
        ),
        None => None,
    };
    let passthrough = match channel.prepare.as_ref().filter(|p| p.enabled) {
        Some(p) => Some(pipeline::passthrough::Passthrough {
            dir: crate::conform::cache_dir(channel),
            channel: channel.clone(),
            preparer: if p.background {
                Some(
                    crate::conform::background::start(
                        channel,
                        loudness.clone(),
                        metrics.clone(),
                        extradata.clone(),
                        opts.quarantine.clone(),
                    )
                    .map_err(RunError::Thread)?,
                )
            } else {
                None
            },
            video_extradata: extradata.0,
            audio_extradata: extradata.1,
            video_delay,
            hashed: Default::default(),
        }),
        None => None,
    };
    // The live input listens from now on, whatever the outputs do. Unpaced runs have no
    // air to take over: their clock is simulated.
    let live = match (&channel.live, opts.paced) {
        (Some(l), true) => Some(
            pipeline::live::LiveFeed::new(
                crate::live::start(
                    l,
                    &fmt,
                    metrics.clone(),
                    opts.stop.clone(),
                    opts.live_air,
                    opts.outbox.cell.clone(),
                )?,
                origin.wall,
                origin.instant,
            )
            .with_encoder(encoder_delay, fmt.fps),
        ),
        (Some(_), false) => {
            tracing::warn!("The live input is off in an unpaced run.");
            None
        }
        (None, _) => None,
    };
    let settings = source::SourceSettings {
        ctx: pipeline::context::PlayContext {
            fmt,
            look,
            loudness,
            metrics,
            stop: opts.stop,
            quarantine: opts.quarantine,
        },
        passthrough,
        live,
        timeline,
        t0: origin.wall,
        grid: origin.grid,
        lockstep: channel.anchor.map(|_| channel.reload.settle),
        // Simulated time is not wall time: an unpaced run must not move a real channel's
        // anchor.
        state_file: opts.paced.then(|| channel.state.clone()),
        stop_after: opts.stop_after,
        // Only a paced run has an air to cut at: an unpaced one's clock is the source.
        recall: opts
            .paced
            .then(|| pipeline::recall::Recall::new(cut_tx, origin.instant, fmt_fps)),
    };
    threads.push(
        std::thread::Builder::new()
            .name("source".into())
            .spawn(move || source::run(settings, opts.inbox, opts.outbox, frame_tx))?,
    );
    Ok(Running {
        threads,
        outputs: Arc::new(std::sync::Mutex::new(manager)),
    })
}
