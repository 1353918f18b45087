//! The media pipeline: source (decode + normalise + splice) → encode → pace → outputs.
//!
//! Each stage is an OS thread joined to the next by a bounded crossbeam channel. Dropping a
//! sender is end-of-stream: the next stage flushes and ends in turn, so `--for`, a signal and
//! a fatal error all shut down the same way.

pub mod context;
pub mod control;
pub mod copied;
mod decode_time;
pub mod encode;
pub mod encoding;
pub mod follow;
pub mod item;
pub mod live;
mod lockstep;
pub mod media;
pub mod normalise;
pub mod open;
pub mod passthrough;
pub mod ready;
pub mod recall;
pub mod slate;
mod slate_clip;
mod slate_fill;
pub mod source;
pub mod splice;
pub mod starts;

pub use media::{ChannelFormat, Media};

/// The CPUs this process may use: `available_parallelism` reads the cgroup quota and the
/// affinity mask, where libav's and x264's own "auto" count every CPU of the host (in a
/// container limited to 2 CPUs on a 64-core host, x264 would start 96 threads).
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// x264 frame threads: its own default of 1.5 per CPU, from the CPUs we may really use, and
/// at most 16 (beyond that x264 gains little and each thread holds frames in flight).
pub fn encoder_threads() -> usize {
    (cpus() * 3 / 2).clamp(1, 16)
}

/// Decoder frame threads: one item is decoded at a time next to the encoder, which takes
/// most of the CPU; up to 4 threads keep a 4K or HEVC source above real time on a bigger
/// machine without piling frames in flight on a small one.
pub fn decoder_threads() -> usize {
    cpus().clamp(1, 4)
}

/// How many frames of normalised video may wait between source and encoder (about one second
/// at 30 fps). Small enough to bound memory at 1080p, large enough to hide an item opening.
pub const FRAME_QUEUE: usize = 32;
