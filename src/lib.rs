//! # playout — a 24/7 linear channel from a YAML playlist
//!
//! One process, one persistent encoder loop: a rotating playlist is decoded in-process
//! (ffmpeg-next), normalised to the channel format, spliced onto one continuous timeline,
//! encoded once, paced to the clock and pushed as one unbroken FLV stream over RTMP(S),
//! and/or written as HLS that the built-in HTTP server serves with a watch page.
//!
//! ## Layout (in data-flow order)
//! ```text
//!  channel.yaml ─┐
//!  playlist.yaml ┴─> config, playlist ─────────────────────────────────────────────┐
//!                                                                                    v
//!  [source thread]  pipeline::source — walks the rotation, opens the next item ahead
//!                   pipeline::item      (the decode loop of one item; failure detection)
//!                   pipeline::open      (demux, stream choice, decoders, failure reasons)
//!                   pipeline::normalise (libavfilter: deinterlace, rotate, scale+pad, fps,
//!                                        yuv420p; resample, down/up-mix)
//!                   pipeline::slate     (the generated slate picture)
//!                   pipeline::splice    (one integer timeline; pad/trim at item ends)
//!                          │ bounded crossbeam channel of frames
//!  [encode thread]  pipeline::encode — ONE libx264 + ONE AAC encoder for the process
//!                          │ bounded channel of packets
//!  [pace thread]    output — releases packets on the clock (clock: system or simulated)
//!                          │ one bounded channel per output
//!  [output threads] output::flv — FLV over RTMP(S) or to a file, reconnecting on its own
//!                   output::hls — one-GOP MPEG-TS segments and a live playlist in a folder
//!  [tokio]          http — route groups: metrics (/metrics, /healthz), api (/api/v1/…,
//!                   /epg.xml), hls (/hls/), web (/ and /console, embedded from web/),
//!                   control and media (the control API, behind the token); signals (main)
//!  [library thread] library — the media folder, upload names, probes for the control API
//! ```
//! `files` writes files atomically (state, playlist edits, uploads); `playlist::edit` is the
//! control API's way into the playlist file, through the same validation as `playout check`.
//! `time` holds the integer time arithmetic every stage shares; `metrics` declares every
//! metric; `libav` is the one module with `unsafe`. `notify` speaks sd_notify to systemd
//! (READY, WATCHDOG while the pipeline lives, STATUS, STOPPING); `quarantine` keeps the crash
//! journal and keeps a file that crashed the process twice in a row off air.

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
