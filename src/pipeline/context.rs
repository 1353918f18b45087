//! What playing one slot needs of the channel, whatever plays it: an item through the
//! decoder (`item`), a conformed copy (`passthrough`) or the live input (`live`). The source
//! owns it and lends it out; a reload's new look replaces `look` at a boundary.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::media::ChannelFormat;
use super::slate::Look;
use crate::loudness::Meter;
use crate::metrics::Metrics;
use crate::quarantine::Quarantine;

pub struct PlayContext {
    pub fmt: ChannelFormat,
    /// The slate, the logo's filters, the lower third and the slate's background.
    pub look: Look,
    /// `audio.loudness`: the meter whose measurements set each item's gain.
    pub loudness: Option<Arc<Meter>>,
    pub metrics: Arc<Metrics>,
    /// Set by a signal: end the stream at the next frame.
    pub stop: Arc<AtomicBool>,
    /// The channel's quarantine: what it keeps off air, and the journal of what is in hand.
    pub quarantine: Quarantine,
}
