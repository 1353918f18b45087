//! # playout — a 24/7 linear channel from a YAML playlist
//!
//! One process, one persistent encoder loop: a rotating playlist is decoded in-process
//! (ffmpeg-next), normalised to the channel format, spliced onto one continuous timeline,
//! encoded once, paced to the clock and pushed as one unbroken FLV stream over RTMP(S),
//! and/or written as HLS that the built-in HTTP server serves with a watch page.
//!
//! ## The flow, every module in its place
//!
//! Media runs down the middle: one OS thread per stage (`[name]` is the thread's name), each
//! joined to the next by a bounded crossbeam channel, so dropping a sender is end-of-stream.
//! Control comes in from the sides: files and reloads at the top, commands and snapshots
//! through the channel's `ChannelApi`. `a::b` names a submodule of `a`.
//!
//! ```text
//!  channel.yaml ──> config ────> ChannelConfig  (config::yaml, values: read with line and
//!                                      │         column; validate: field paths; env: ${VAR};
//!                                      │         output, live, overlay, prepare: sections)
//!  playlist.yaml ─> playlist ──> Playlist       (playlist::validate; check; edit)
//!                                      │
//!  main.rs: CLI, logging, http::listen └─> channel: Channel::start(ChannelConfig, RunOptions)
//!    owns a quarantine::Quarantine (quarantine::active): the crash journal, the poison
//!      list; a clone lent to everything that opens, plays or measures a file
//!    lineup::build ── Lineup = Playlist + schedule::Schedule, lengths probed by Durations
//!    state ──> Timeline::resume (the anchor) ──> TimelineCell (a snapshot::Snapshot)
//!    channel::pipeline::start ── the threads below;   api() -> ChannelApi ──> http
//!
//!  file watcher ─┐
//!  SIGHUP ───────┴─> [reload] reload::Reloader: parse, validate, lineup::build
//!                        │ follow::Update (lineup + look)   └──> output::manager (outputs)
//!                        v
//!  [source]  pipeline::source::run(SourceSettings, Inbox, Outbox): schedule::resolve(
//!              schedule, anchor, time) -> Slot, slot by slot; pipeline::follow: the frame
//!              clock, updates held to a boundary, the next item opened ahead [open-ahead];
//!              lends a pipeline::context::PlayContext to whatever plays the slot:
//!              ├─ pipeline::item ── pipeline::open ── pipeline::normalise (loudness gain)
//!              ├─ pipeline::passthrough ── a conform copy's packets, as they are
//!              ├─ pipeline::live ── live's units, one per channel frame
//!              └─ pipeline::slate ── the slate picture and the look (logo, lower third)
//!              ──> pipeline::splice::Splicer: one integer timeline (time), pad/trim at ends
//!              outbox: TimelineCell, Frontier, pipeline::starts::ItemStarts; state::save
//!                        │ bounded: pipeline::media::Media (frames, or copied packets)
//!                        v
//!  [encode]  pipeline::encoding: ONE libx264 + ONE AAC encoder (pipeline::encode) for the
//!              life of the process; pipeline::copied (copies between encoded frames),
//!              pipeline::decode_time; what it made waits in pipeline::ready (time order)
//!              until the pacer takes it, so that pipeline::recall can take it back
//!              (the source asks: a skip, a play-now, a takeover cut at the air)
//!                        │ bounded: pipeline::media::Encoded (described by StreamParams)
//!                        v
//!  [pace]    output::pace on a clock::Clock (SystemClock; SimulatedClock when unpaced);
//!              output::air: each stretch "On air." as its first packet leaves, the one
//!              before closed into an asrun::Entry ──> [asrun] asrun::writer (day files)
//!                        │ fan-out: one bounded queue per output (output::manager)
//!                        v
//!  [output-NAME] output::guard::DtsGuard (dts rises; names the item from ItemStarts), then
//!              output::flv (RTMP(S) or a file; output::reconnect) or
//!              output::hls (segments; output::hls::playlist) ──> a folder http serves
//!
//!  Beside the media threads (the air never waits for any of them):
//!  [loudness]      loudness::Meter: measures the playlist's items ahead of air (asked at
//!                  each item start), answers cached beside the state file
//!  [prepare]       conform::background, at idle priority (conform::idle): copies asked for
//!                  through CopyRequests, made by conform::make, kept under max_size by
//!                  conform::cache
//!  [live-listen …] live: relay + rtmp (the key checked first), reader + units (libav's
//!                  listener, decode, normalise, one unit per frame), admission (now?)
//!  [tokio]         http: start (listen, State::of(ChannelApi), serve_channel), conn
//!                  (limits); metrics, api (epg), asrun (the record), hls, web; control
//!                  (bodies: typed requests; playlist::edit, skips into the source's Inbox,
//!                  reload requests), media (library)
//!  [library-probe] library::Prober: probes uploads and library files (probe::facts)
//!  [notify]        notify::Notifier: sd_notify from metrics and the TimelineCell
//!
//!  Under every stage: time (integer time), metrics (written by the stages, read by http
//!  and notify), libav (the only unsafe; libav::route_log sends libav's log to avlog),
//!  files (atomic writes: state, journal, playlist edits, uploads, copies).
//!  The other commands (the binary's cli.rs): check (playlist::check; a folder:
//!  host::folder), schedule (epg),
//!  probe (probe, conform::probe), prepare (conform::prepare), quarantine (list, clear).
//!  Apart from it all: fuzzing (the fuzz targets' bodies).
//! ```
//!
//! ## One line per module
//!
//! What the channel reads:
//! - `config`: the channel file into `ChannelConfig`: forms checked while parsing, ranges and
//!   cross-field rules by `validate` with field paths (sections of their own: `slate`,
//!   `output`, `live`, `overlay`, `prepare`, `asrun`); secrets from `${VAR}` (`config::env`).
//! - `playlist`: the playlist file into `Playlist`; `check` is `playout check`, `edit` the
//!   control API's way into the file (same validation, history, atomic write).
//! - `schedule`: PURE `resolve(schedule, anchor, time) -> Slot`: rotation, events, time zones.
//! - `lineup`: `Lineup` (a playlist with its schedule, item lengths probed and cached by
//!   `Durations`) and `Timeline` (lineups handed over at reload boundaries).
//! - `state`: the state file, the timeline's anchor: read at start, written at each item.
//! - `reload`: the file watcher and SIGHUP, debounced into one reload: a new lineup (and look)
//!   for the source, output changes for `output::manager`, or an error kept for the API.
//!
//! The channel:
//! - `channel`: `Channel::start`, `api()`, `stop()`, `join()`; `channel::pipeline` builds the
//!   source, encode, pace and output threads.
//! - `quarantine`: the crash journal and the list of poison files; the channel owns one
//!   `Quarantine` and lends it out; runs apart from a channel use `Quarantine::none()`.
//! - `asrun`: the as-run record: `Entry` (what aired, from the output side), the day files
//!   beside the state file and their writer thread, read back for `/api/v1/asrun`.
//! - `snapshot`: `Snapshot`, a value one thread publishes whole and others read whole (the
//!   timeline on air, the reload status).
//!
//! The media path:
//! - `pipeline`: the source and encode stages (`source` with `control`, `follow`, `context`,
//!   `item`, `open`, `normalise`, `passthrough`, `live`, `slate`, `slate_clip` and
//!   `slate_fill`, `splice`, `starts`; `encode` and `encoding` with `ready`, `copied`,
//!   `decode_time`; `recall`, the cut at the air between the two) and the vocabulary they
//!   share with the outputs (`media`).
//! - `output`: the pacer (`air`: what is on air, the as-run entries, the lead and underruns)
//!   and one writer thread per output (`flv`, `hls`), behind `guard`, reconnecting
//!   (`reconnect`), added and removed on reload (`manager`).
//! - `live`: the live input (RTMP or SRT), checked, admitted and cut into units.
//! - `loudness`: EBU R128 measurements and each item's gain to the channel's target.
//! - `conform`: conformed copies: key, verify, `make`, `cache`, `background`, and the
//!   `playout prepare` (`prepare`) and `playout probe --channel` (`probe`) reports.
//! - `clock`: the system clock and the simulated one, injected into the pacer.
//! - `time`: integer time: rationals, `Micros`, exact frame and sample grids.
//! - `libav`: the only `unsafe` (libav fields ffmpeg-next lacks); `route_log` installs `avlog`.
//! - `avlog`: libav's log as rate-limited events of the target `libav`.
//!
//! Around it:
//! - `http`: the route table and the token gate; one file per group (see the diagram).
//! - `library`: the media folder (`media.dir`) and its probe thread, for the control API.
//! - `epg`: the guide and now-playing from the same scheduler (`/epg.xml`, `playout schedule`).
//! - `probe`: `playout probe`: what a file holds and what the channel would do with it.
//! - `metrics`: every metric, declared once (`metrics::live`, `prepare`, `process`).
//! - `notify`: sd_notify to systemd: READY, WATCHDOG while the pipeline lives, STATUS, STOPPING.
//! - `host`: a folder of channels (`folder`: ids, `host.yaml`, what two channels would
//!   share), as `playout check DIR` reads it.
//! - `files`: atomic writes (state, journal, playlist edits, uploads, copies, loudness cache).
//! - `fuzzing`: the fuzz targets' bodies, replayed on the seed corpus by `make test`.

pub mod asrun;
pub mod avlog;
pub mod channel;
pub mod clock;
pub mod config;
pub mod conform;
pub mod epg;
pub mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod grid;
pub mod host;
pub mod http;
pub mod libav;
pub mod library;
pub mod lineup;
pub mod live;
pub mod loudness;
pub mod metrics;
pub mod notify;
pub mod output;
pub mod pipeline;
pub mod playlist;
pub mod probe;
pub mod quarantine;
pub mod reload;
pub mod schedule;
pub mod snapshot;
pub mod state;
pub mod time;
