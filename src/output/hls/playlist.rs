//! The live HLS media playlist, as a pure model: which segments are in the window, their
//! durations and program-date-times, the media and discontinuity sequence numbers, and which
//! segment files may be deleted. The writer thread (`super`) owns one and does the I/O.
//!
//! Sequence numbers keep counting across restarts: `resume` reads back the playlist the last
//! run left (and the segment files beside it), and the first segment of the new run carries
//! `EXT-X-DISCONTINUITY`. A segment leaves the window after `window` newer ones, and its file
//! is deleted only `grace` segments later, so a player that fetched the playlist just before
//! still finds every segment it lists (RFC 8216 §6.2.2).

use std::collections::VecDeque;
use std::fmt::Write;

use crate::schedule::rfc3339_millis;
use crate::time::Micros;

/// The file name of segment `seq`.
pub fn segment_name(seq: u64) -> String {
    format!("seg-{seq}.ts")
}

/// The sequence number of a segment file name, if it is one (`seg-DIGITS.ts`, nothing else).
pub fn segment_seq(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".ts")?;
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub const PLAYLIST_NAME: &str = "index.m3u8";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub seq: u64,
    pub duration: Micros,
    /// Wall-clock time of the segment's first frame, from the channel's timeline.
    pub pdt: Micros,
    /// The stream breaks before this segment (a restart, or segments lost to a failed write).
    pub discontinuity: bool,
}

#[derive(Clone, Debug)]
pub struct LivePlaylist {
    window: usize,
    grace: usize,
    /// Whole seconds; never lowered while the playlist lives (RFC 8216 §6.2.1).
    target: u64,
    segments: VecDeque<Segment>,
    /// Discontinuity tags that have left the window.
    discontinuity_seq: u64,
    /// Segments out of the window whose files still exist, oldest first.
    expired: VecDeque<u64>,
    next_seq: u64,
}

impl LivePlaylist {
    /// An empty playlist whose first segment will be number `first_seq`; `target` is the
    /// nominal segment length (the channel's keyframe interval).
    pub fn new(target: Micros, window: usize, grace: usize, first_seq: u64) -> Self {
        LivePlaylist {
            window: window.max(1),
            grace,
            target: round_up_secs(target).max(1),
            segments: VecDeque::new(),
            discontinuity_seq: 0,
            expired: VecDeque::new(),
            next_seq: first_seq,
        }
    }

    /// Continues from the playlist a previous run wrote (`text`, if any) and the segment
    /// numbers found on disk. Segments the old playlist still lists stay in the window; the
    /// next one is numbered after everything seen, and starts with a discontinuity.
    /// Returns the playlist and the files on disk that no playlist will list (to delete).
    pub fn resume(
        text: Option<&str>,
        on_disk: &[u64],
        target: Micros,
        window: usize,
        grace: usize,
    ) -> (Self, Vec<u64>) {
        let mut p = LivePlaylist::new(target, window, grace, 0);
        if let Some(text) = text {
            p.parse(text);
        }
        let listed_first = p.segments.front().map(|s| s.seq);
        let listed_last = p.segments.back().map(|s| s.seq);
        p.next_seq = listed_last.map_or(0, |l| l + 1);
        let mut stale = Vec::new();
        let mut on_disk = on_disk.to_vec();
        on_disk.sort_unstable();
        for &seq in &on_disk {
            match (listed_first, listed_last) {
                (Some(f), Some(l)) if seq >= f && seq <= l => {}
                // Older than the window: a player may still fetch it for a while.
                (Some(f), _) if seq < f && seq + grace as u64 >= f => p.expired.push_back(seq),
                // Written but never listed (a crash between the two renames), or long gone.
                _ => stale.push(seq),
            }
        }
        // Never reuse a number a player may have seen, even if the playlist was lost.
        if let Some(&max) = on_disk.last() {
            if listed_last.is_none() {
                p.next_seq = p.next_seq.max(max + 1);
            }
        }
        (p, stale)
    }

    fn parse(&mut self, text: &str) {
        let mut media_seq: Option<u64> = None;
        let mut pending: Option<(Micros, Option<Micros>, bool)> = None;
        let (mut pdt, mut disc) = (None, false);
        for line in text.lines().map(str::trim) {
            if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                media_seq = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
                self.discontinuity_seq = v.parse().unwrap_or(0);
            } else if line == "#EXT-X-DISCONTINUITY" {
                disc = true;
            } else if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
                pdt = crate::schedule::parse_instant(v);
            } else if let Some(v) = line.strip_prefix("#EXTINF:") {
                let d = v.split(',').next().and_then(parse_decimal_secs);
                pending = d.map(|d| (d, pdt, disc));
            } else if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
                self.target = self.target.max(v.parse().unwrap_or(0));
            } else if !line.is_empty() && !line.starts_with('#') {
                if let (Some((duration, pdt_at, d)), Some(seq)) =
                    (pending.take(), segment_seq(line))
                {
                    let expected = media_seq.map(|m| m + self.segments.len() as u64);
                    // A playlist that does not follow its own numbering is not continued.
                    if expected.is_some_and(|e| e != seq) {
                        self.segments.clear();
                        return;
                    }
                    self.segments.push_back(Segment {
                        seq,
                        duration,
                        pdt: pdt_at.unwrap_or(Micros::ZERO),
                        discontinuity: d,
                    });
                }
                (pdt, disc) = (None, false);
            }
        }
    }

    /// The number the next segment gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Whether any segment has been listed (this run or the last).
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter()
    }

    /// Adds the next segment (numbered `next_seq`); returns the segment files that have now
    /// been out of the window for longer than the grace period.
    pub fn push(&mut self, duration: Micros, pdt: Micros, discontinuity: bool) -> Vec<u64> {
        self.target = self.target.max(round_nearest_secs(duration));
        self.segments.push_back(Segment {
            seq: self.next_seq,
            duration,
            pdt,
            discontinuity,
        });
        self.next_seq += 1;
        while self.segments.len() > self.window {
            let gone = self.segments.pop_front().expect("longer than the window");
            if gone.discontinuity {
                self.discontinuity_seq += 1;
            }
            self.expired.push_back(gone.seq);
        }
        let mut delete = Vec::new();
        while self.expired.len() > self.grace {
            delete.extend(self.expired.pop_front());
        }
        delete
    }

    /// Adds segment number `seq` (lockstep: the number is the timeline's, not a count).
    /// The next number is pushed as `push` does; a later one means segments were not made
    /// (a restart, an outage): the ones listed leave the window, since a playlist's numbers
    /// run on without a gap, and the new one starts with a discontinuity. An earlier one is
    /// refused (`None`): a number is never used for two segments.
    pub fn push_numbered(
        &mut self,
        seq: u64,
        duration: Micros,
        pdt: Micros,
        discontinuity: bool,
    ) -> Option<Vec<u64>> {
        if seq < self.next_seq {
            return None;
        }
        let mut discontinuity = discontinuity;
        if seq > self.next_seq && !self.segments.is_empty() {
            while let Some(gone) = self.segments.pop_front() {
                if gone.discontinuity {
                    self.discontinuity_seq += 1;
                }
                self.expired.push_back(gone.seq);
            }
            discontinuity = true;
        }
        self.next_seq = seq;
        Some(self.push(duration, pdt, discontinuity))
    }

    pub fn media_sequence(&self) -> u64 {
        self.segments.front().map_or(self.next_seq, |s| s.seq)
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "#EXTM3U");
        let _ = writeln!(s, "#EXT-X-VERSION:3");
        let _ = writeln!(s, "#EXT-X-TARGETDURATION:{}", self.target);
        let _ = writeln!(s, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence());
        let _ = writeln!(
            s,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
            self.discontinuity_seq
        );
        let _ = writeln!(s, "#EXT-X-INDEPENDENT-SEGMENTS");
        for seg in &self.segments {
            // Counted in DISCONTINUITY-SEQUENCE only once it has left with its segment.
            if seg.discontinuity {
                let _ = writeln!(s, "#EXT-X-DISCONTINUITY");
            }
            let _ = writeln!(s, "#EXT-X-PROGRAM-DATE-TIME:{}", rfc3339_millis(seg.pdt));
            let _ = writeln!(s, "#EXTINF:{},", decimal_secs(seg.duration));
            let _ = writeln!(s, "{}", segment_name(seg.seq));
        }
        s
    }
}

fn round_up_secs(d: Micros) -> u64 {
    (d.0.max(0) as u64).div_ceil(1_000_000)
}

fn round_nearest_secs(d: Micros) -> u64 {
    (d.0.max(0) as u64 + 500_000) / 1_000_000
}

/// `2.000`: seconds with three decimals, rounded to the nearest millisecond.
fn decimal_secs(d: Micros) -> String {
    let ms = (d.0.max(0) + 500) / 1000;
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// `2`, `2.0`, `2.000`, `1.9666` → microseconds (digits beyond the sixth are dropped).
fn parse_decimal_secs(s: &str) -> Option<Micros> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = int.parse().ok()?;
    let mut micros = 0i64;
    for (i, b) in frac.bytes().take(6).enumerate() {
        micros += (b - b'0') as i64 * 10i64.pow(5 - i as u32);
    }
    Some(Micros(whole.checked_mul(1_000_000)? + micros))
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbered_segments_follow_the_timeline_and_a_gap_restarts_the_window() {
        let two = Micros::from_secs(2);
        let mut p = LivePlaylist::new(two, 3, 2, 0);
        assert!(p
            .push_numbered(100, two, Micros::from_secs(200), false)
            .is_some());
        assert!(p
            .push_numbered(101, two, Micros::from_secs(202), false)
            .is_some());
        assert_eq!(p.media_sequence(), 100);
        // A number already used is refused.
        assert_eq!(
            p.push_numbered(101, two, Micros::from_secs(202), false),
            None
        );
        assert_eq!(p.push_numbered(7, two, Micros::from_secs(14), false), None);
        // Three segments not made: the window starts again at 105, after a discontinuity.
        let gone = p
            .push_numbered(105, two, Micros::from_secs(210), false)
            .unwrap();
        assert!(gone.is_empty(), "within the grace period: {gone:?}");
        assert_eq!(p.media_sequence(), 105);
        assert_eq!(p.next_seq(), 106);
        let text = p.render();
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:105\n"), "{text}");
        assert!(text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
        assert!(!text.contains("seg-101.ts"), "{text}");
        // Later ones expire the old files after the grace period.
        let mut deleted = Vec::new();
        for i in 106..110 {
            deleted.extend(
                p.push_numbered(i, two, Micros::from_secs(2 * i as i64), false)
                    .unwrap(),
            );
        }
        assert_eq!(deleted, vec![100, 101]);
    }

    use super::*;

    const T0: Micros = Micros(1_796_000_000_000_000);
    const TWO: Micros = Micros::from_secs(2);

    fn filled(n: u64) -> LivePlaylist {
        let mut p = LivePlaylist::new(TWO, 3, 2, 0);
        for i in 0..n {
            p.push(TWO, T0 + Micros(i as i64 * 2_000_000), false);
        }
        p
    }

    #[test]
    fn names() {
        assert_eq!(segment_name(42), "seg-42.ts");
        assert_eq!(segment_seq("seg-42.ts"), Some(42));
        for bad in [
            "seg-.ts",
            "seg-4a.ts",
            "seg-42.ts.tmp",
            "../seg-1.ts",
            "seg-1.ts/",
            "seg-+1.ts",
            "seg-99999999999999999999.ts",
            "index.m3u8",
        ] {
            assert_eq!(segment_seq(bad), None, "{bad}");
        }
    }

    #[test]
    fn window_grace_and_deletion() {
        let mut p = filled(3);
        assert_eq!(p.media_sequence(), 0);
        assert!(p.push(TWO, T0 + Micros::from_secs(6), false).is_empty());
        assert!(p.push(TWO, T0 + Micros::from_secs(8), false).is_empty());
        assert_eq!(p.media_sequence(), 2);
        // Segment 0 left the window two pushes ago: with a grace of 2 it goes now.
        assert_eq!(p.push(TWO, T0 + Micros::from_secs(10), false), vec![0]);
        assert_eq!(p.media_sequence(), 3);
        let text = p.render();
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:3\n"), "{text}");
        assert!(text.contains("#EXT-X-TARGETDURATION:2\n"), "{text}");
        assert!(
            text.contains(
                "#EXT-X-PROGRAM-DATE-TIME:2026-11-30T00:53:26.000Z\n#EXTINF:2.000,\nseg-3.ts\n"
            ),
            "{text}"
        );
        assert_eq!(text.matches("#EXTINF").count(), 3);
        assert!(!text.contains("DISCONTINUITY\n"), "{text}");
    }

    #[test]
    fn resume_continues_numbering_and_marks_the_break() {
        let old = filled(6);
        let text = old.render();
        // 0 and 1 were deleted; 2 is in the grace period; 3..=5 listed; 6 was written but
        // never listed (killed between the renames).
        let (mut p, stale) = LivePlaylist::resume(Some(&text), &[2, 3, 4, 5, 6], TWO, 3, 2);
        assert_eq!(stale, vec![6]);
        assert_eq!(p.next_seq(), 6);
        assert_eq!(p.media_sequence(), 3);
        let later = T0 + Micros::from_secs(60);
        p.push(Micros(1_966_667), later, true);
        let text = p.render();
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:4\n"), "{text}");
        assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:0\n"), "{text}");
        assert!(
            text.contains("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-11-30T00:54:20.000Z\n#EXTINF:1.967,\nseg-6.ts\n"),
            "{text}"
        );
        // The tag leaves with its segment and is counted.
        for i in 0..3 {
            p.push(TWO, later + Micros::from_secs(2 * (i + 1)), false);
        }
        let text = p.render();
        assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{text}");
        assert!(!text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
        // Read back, the same playlist renders the same.
        let (q, _) = LivePlaylist::resume(Some(&text), &[], TWO, 3, 2);
        assert_eq!(q.render(), text);
    }

    #[test]
    fn resume_without_a_playlist_numbers_after_the_files() {
        let (p, stale) = LivePlaylist::resume(None, &[7, 9], TWO, 3, 2);
        assert_eq!(p.next_seq(), 10);
        assert_eq!(stale, vec![7, 9]);
        let (p, _) = LivePlaylist::resume(Some("garbage\n#EXTINF:x\nseg-1.ts"), &[], TWO, 3, 2);
        assert!(p.is_empty());
        assert_eq!(p.next_seq(), 0);
    }

    #[test]
    fn a_long_segment_raises_the_target() {
        let mut p = filled(1);
        p.push(Micros(2_600_000), T0, false);
        assert!(p.render().contains("#EXT-X-TARGETDURATION:3\n"));
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal_secs(Micros(2_000_000)), "2.000");
        assert_eq!(decimal_secs(Micros(33_333)), "0.033");
        assert_eq!(decimal_secs(Micros(1_999_999)), "2.000");
        assert_eq!(parse_decimal_secs("2.000"), Some(Micros(2_000_000)));
        assert_eq!(parse_decimal_secs("2"), Some(Micros(2_000_000)));
        assert_eq!(parse_decimal_secs("1.9666667"), Some(Micros(1_966_666)));
        assert_eq!(parse_decimal_secs("-1"), None);
        assert_eq!(parse_decimal_secs("1.2e3"), None);
    }
}
