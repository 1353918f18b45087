//! # playout — a 24/7 linear channel from a YAML playlist
//!
//! One process, one persistent encoder loop: a rotating playlist is decoded in-process
//! (ffmpeg-next), normalised to the channel format, spliced onto one continuous timeline,
//! encoded once, paced to the clock and pushed as one unbroken FLV stream over RTMP(S),
//! and/or written as HLS that the built-in HTTP server serves with a watch page.
//!
//! ## Layout (in data-flow order)
//! ```text
//!  channel.yaml ─┐  config (ChannelConfig: parse + validate)
//!  playlist.yaml ┴─> playlist (model, validate, check_file, edit) ──> lineup (the playlist
//!                    with its durations probed) ──> schedule (PURE: resolve(playlist, anchor,
//!                    time) -> Slot; events, time zones) ── clock (system, simulated)
//!                                                                                    │
//!  channel          Channel::start(ChannelConfig, RunOptions): owns one channel's threads,
//!                   state file (state), reloader + watcher (reload), live input, loudness
//!                   meter, preparer; api() -> ChannelApi for HTTP; stop(); join()
//!                                                                                    v
//!  [source thread]  pipeline::source — walks the schedule slot by slot, opens ahead
//!                   (pipeline::follow), adopts reloads at boundaries, lends a
//!                   pipeline::context::PlayContext to whatever plays a slot:
//!                   pipeline::item      (the decode loop of one item; failure detection)
//!                   pipeline::open      (demux, stream choice, decoders, failure reasons)
//!                   pipeline::normalise (libavfilter: deinterlace, rotate, scale+pad, fps,
//!                                        yuv420p; resample, down/up-mix; loudness gain)
//!                   pipeline::passthrough (a conformed copy's packets, from conform's cache)
//!                   pipeline::live      (the live input: live — RTMP/SRT listener, admission)
//!                   pipeline::slate     (the generated slate picture and the look)
//!                   pipeline::splice    (one integer timeline; pad/trim at item ends)
//!                          │ bounded crossbeam channel of pipeline::media::Media
//!  [encode thread]  pipeline::encode — ONE libx264 + ONE AAC encoder for the process;
//!                   pipeline::copied places copied packets between encoded ones;
//!                   pipeline::decode_time stamps decode time across splices
//!                          │ bounded channel of pipeline::media::Encoded packets
//!  [pace thread]    output — releases packets on the clock
//!                          │ one bounded channel per output (output::manager)
//!  [output threads] output::flv — FLV over RTMP(S) or to a file, reconnecting on its own
//!                   output::hls — one-GOP MPEG-TS segments and a live playlist in a folder
//!                   output::guard — decode time rises at every muxer, whatever comes
//!  [tokio]          http — route groups: metrics (/metrics, /healthz), api (/api/v1/…,
//!                   /epg.xml from epg), hls (/hls/), web (/ and /console, embedded from
//!                   web/), control and media (the control API, behind the token)
//!  [library thread] library — the media folder, upload names, probes for the control API
//!  [meter thread]   loudness — EBU R128 measurements of items, cached beside the state file
//!  [prepare thread] conform — conformed copies: the cache (key, verify, sidecar), made by
//!                   playout prepare or in the background at idle priority
//! ```
//! `files` writes files atomically (state, playlist edits, uploads); `playlist::edit` is the
//! control API's way into the playlist file, through the same validation as `playout check`.
//! `time` holds the integer time arithmetic every stage shares; `metrics` declares every
//! metric; `libav` is the one module with `unsafe`, and routes libav's log to `avlog`.
//! `notify` speaks sd_notify to systemd (READY, WATCHDOG while the pipeline lives, STATUS,
//! STOPPING); `quarantine` keeps the crash journal and keeps a file that crashed the process
//! twice in a row off air; `probe` says what the channel would do with a file; `fuzzing`
//! holds the fuzz targets' entry points.

pub mod avlog;
pub mod channel;
pub mod clock;
pub mod config;
pub mod conform;
pub mod epg;
pub mod files;
#[doc(hidden)]
pub mod fuzzing;
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
pub mod state;
pub mod time;
