//! The GOP grid of a channel whose file pins `anchor` (issue 27): every keyframe, HLS segment
//! and FLV timestamp is counted in frames from the anchor rather than from a process's start,
//! so that two instances started at any moments make the same thing for the same instant.
//!
//! A run starts at a grid point: frame 0 of the run is the first keyframe-interval boundary at
//! or after the moment it starts that also begins an AAC frame counted from the anchor (the
//! channel waits at most a few intervals, 8 s at 30 fps and 48 kHz, before its first frame). With the interval a whole number of milliseconds, as keyframe intervals are, the
//! grid points fall on whole microseconds, so frame times computed from a run's frame 0 are
//! exactly those computed from the anchor.

use crate::time::{rescale, Micros, Rational, MICROS};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    /// Channel frame 0 (Unix µs): the file's `anchor`.
    pub anchor: Micros,
    /// Frames since the anchor of this run's frame 0: a multiple of `gop` (negative while
    /// the anchor is still ahead).
    pub base: i64,
    /// Frames from one grid point to the next: the keyframe interval, and an HLS segment.
    pub gop: i64,
    pub fps: Rational,
}

impl Grid {
    /// The grid of a run starting at `now`: its frame 0 is the first grid point at or after
    /// `now` that also starts an AAC frame of the anchor's audio (1024 samples at
    /// `sample_rate`), so that audio frames, and the copies' audio passed through, fall the
    /// same in every instance: at 30 fps and 48 kHz with a 2 s interval, every fourth point
    /// (8 s); at most 64 intervals.
    pub fn starting(
        anchor: Micros,
        now: Micros,
        gop: i64,
        fps: Rational,
        sample_rate: i64,
    ) -> Grid {
        let gop = gop.max(1);
        // Samples in k intervals: k * gop * rate * den / num, a whole number of AAC frames.
        let step = (1..=64)
            .map(|k| k * gop)
            .find(|&f| {
                let n = f as i128 * sample_rate as i128 * fps.den as i128;
                let d = fps.num as i128 * 1024;
                n % d == 0
            })
            .unwrap_or(gop);
        let tb = fps.invert();
        // Frames since the anchor, rounded up: a frame is never placed before `now`.
        let since = (now - anchor).0;
        let mut frames = rescale(since, MICROS, tb);
        if rescale(frames, tb, MICROS) < since {
            frames += 1;
        }
        let base = frames.div_euclid(step) * step
            + if frames.rem_euclid(step) == 0 {
                0
            } else {
                step
            };
        Grid {
            anchor,
            base,
            gop,
            fps,
        }
    }

    /// The wall-clock time (Unix µs) of this run's frame 0.
    pub fn t0(&self) -> Micros {
        self.anchor + self.time_of(self.base)
    }

    /// Time since the anchor of channel frame `frames` (frames since the anchor).
    pub fn time_of(&self, frames: i64) -> Micros {
        Micros(rescale(frames, self.fps.invert(), MICROS))
    }

    /// Frames since the anchor of this run's frame `run_frame`.
    pub fn channel_frame(&self, run_frame: i64) -> i64 {
        self.base + run_frame
    }

    /// Whether this run's frame `run_frame` is a grid point (a keyframe in lockstep).
    pub fn is_grid_point(&self, run_frame: i64) -> bool {
        self.channel_frame(run_frame).rem_euclid(self.gop) == 0
    }

    /// The grid interval this run's frame `run_frame` falls in: an HLS segment's number.
    pub fn cell(&self, run_frame: i64) -> i64 {
        self.channel_frame(run_frame).div_euclid(self.gop)
    }

    /// Time since the anchor of this run's frame 0.
    pub fn offset(&self) -> Micros {
        self.time_of(self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FPS30: Rational = Rational::new(30, 1);
    const NTSC: Rational = Rational::new(30000, 1001);

    #[test]
    fn a_run_starts_at_the_next_grid_point_and_two_runs_share_the_grid() {
        let anchor = Micros::from_secs(1_767_225_600);
        // 8 s: four 2 s intervals, 384000 samples, 375 AAC frames.
        let a = Grid::starting(anchor, anchor + Micros(3_500_000), 60, FPS30, 48_000);
        assert_eq!(a.base, 240);
        assert_eq!(a.t0(), anchor + Micros::from_secs(8));
        let b = Grid::starting(anchor, anchor + Micros(8_000_000), 60, FPS30, 48_000);
        assert_eq!(b.base, 240, "on a start point: that point");
        let c = Grid::starting(anchor, anchor + Micros(8_000_001), 60, FPS30, 48_000);
        assert_eq!(c.base, 480);
        // Frame 240 of run a is frame 0 of run c: the same grid point and interval.
        assert!(a.is_grid_point(240) && c.is_grid_point(0) && !c.is_grid_point(1));
        assert!(a.is_grid_point(60) && !a.is_grid_point(61));
        assert_eq!(a.channel_frame(240), c.channel_frame(0));
        assert_eq!(a.cell(240), 8);
        assert_eq!(c.cell(59), 8);
        assert_eq!(c.cell(60), 9);
        // Where no multiple of the interval within 64 is a whole number of AAC frames: the
        // interval alone.
        let odd = Grid::starting(anchor, anchor + Micros(3_500_000), 60, FPS30, 44_101);
        assert_eq!(odd.base, 120);
        // Frame times from a run's frame 0 are those from the anchor, to the microsecond.
        let n = Grid::starting(anchor, anchor + Micros::from_secs(1000), 60, NTSC, 48_000);
        let samples = n.base as i128 * 48_000 * 1001 / 30_000;
        assert_eq!((n.base as i128 * 48_000 * 1001) % 30_000, 0);
        assert_eq!(samples % 1024, 0, "an AAC frame starts there");
        assert_eq!(n.base % 60, 0);
        for f in [0, 1, 2, 29, 59, 1001, 30_000] {
            assert_eq!(
                n.t0() + Micros(rescale(f, NTSC.invert(), MICROS)),
                anchor + n.time_of(n.base + f),
                "frame {f}"
            );
        }
    }

    #[test]
    fn an_anchor_still_ahead_gives_negative_frames() {
        let anchor = Micros::from_secs(1_000_000);
        let g = Grid::starting(anchor, anchor - Micros(2_500_000), 60, FPS30, 48_000);
        assert_eq!(g.base, 0);
        let g = Grid::starting(anchor, anchor - Micros(10_500_000), 60, FPS30, 48_000);
        assert_eq!(g.base, -240);
        assert_eq!(g.t0(), anchor - Micros::from_secs(8));
        assert_eq!(g.cell(0), -4);
        assert_eq!(g.cell(240), 0);
        assert!(g.is_grid_point(0) && g.is_grid_point(60));
    }
}
