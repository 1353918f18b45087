//! # playout — a 24/7 linear channel from a YAML playlist
//!
//! One process, one persistent encoder loop: a rotating playlist is decoded in-process
//! (ffmpeg-next), normalised to the channel format, spliced onto one continuous timeline,
//! encoded once, paced to the clock and pushed as one unbroken FLV stream over RTMP(S).
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
//!  [tokio]          http — /metrics, /healthz; signals (main)
//! ```
//! `time` holds the integer time arithmetic every stage shares; `metrics` declares every
//! metric; `libav` is the one module with `unsafe`.

pub mod channel;
pub mod clock;
pub mod config;
pub mod epg;
pub mod http;
pub mod libav;
pub mod lineup;
pub mod metrics;
pub mod output;
pub mod pipeline;
pub mod playlist;
pub mod probe;
pub mod reload;
pub mod schedule;
pub mod state;
pub mod time;
