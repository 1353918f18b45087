//! Decode time of what the live encoder makes, stamped by the encode thread (`encode`).

use ffmpeg_next as ff;

/// Stamps the video encoder's packets `dts = first + k - delay` for the k-th packet since it
/// was (re)opened at frame `first`: the rule every copy's packets follow too, so decode time
/// rises by exactly one frame per packet across every splice. x264 follows it on its own
/// only for stretches longer than its reorder delay: for one of 1 or 2 frames (a copy's last
/// picture held for a frame) it gives `dts = pts`, and the copy after it stepped decode time
/// back by a frame, which the FLV muxer refuses (issue 28). Presentation order is x264's: the
/// k-th packet never shows before frame `first + k - delay`, so dts never passes pts.
#[derive(Debug)]
pub struct DecodeClock {
    delay: i64,
    /// The first frame sent since the encoder was opened, and packets received since.
    first: Option<i64>,
    packets: i64,
}

impl DecodeClock {
    pub fn new(delay: i64) -> Self {
        DecodeClock {
            delay,
            first: None,
            packets: 0,
        }
    }

    /// A frame goes into the encoder.
    pub fn sent(&mut self, pts: Option<i64>) {
        if self.first.is_none() {
            self.first = pts;
        }
    }

    /// A packet comes out of it: its decode timestamp.
    pub fn stamp(&mut self, p: &mut ff::Packet) {
        let first = self.first.or(p.pts()).unwrap_or(0);
        p.set_dts(Some(first + self.packets - self.delay));
        self.packets += 1;
    }

    /// The encoder was opened again: the next frame starts a stretch.
    pub fn reopened(&mut self) {
        self.first = None;
        self.packets = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kth_packet_since_an_open_decodes_at_first_plus_k_minus_delay() {
        let mut c = DecodeClock::new(2);
        let mut dts = Vec::new();
        let mut out = |c: &mut DecodeClock, pts: i64| {
            let mut p = ff::Packet::empty();
            p.set_pts(Some(pts));
            p.set_dts(Some(pts));
            c.stamp(&mut p);
            dts.push(p.dts().unwrap());
        };
        // Frames 100..103 in, packets out in decode order (pts 100, 102, 101).
        for f in 100..103 {
            c.sent(Some(f));
        }
        for pts in [100, 102, 101] {
            out(&mut c, pts);
        }
        // Reopened for one frame (x264 would say dts = pts = 103 for it).
        c.reopened();
        c.sent(Some(103));
        out(&mut c, 103);
        assert_eq!(dts, vec![98, 99, 100, 101]);
    }
}
