use super::*;

fn fmt() -> ChannelFormat {
    ChannelFormat {
        width: 64,
        height: 36,
        fps: Rational::new(30, 1),
        sample_rate: 48000,
        channels: 2,
    }
}

/// A planar f32 stereo frame of `n` samples at `pts` whose values count on from `first`.
fn ramp(pts: i64, n: usize, first: f32) -> ff::frame::Audio {
    let mut a = ff::frame::Audio::new(
        ff::format::Sample::F32(ff::format::sample::Type::Planar),
        n,
        ff::ChannelLayout::STEREO,
    );
    a.set_rate(48000);
    a.set_pts(Some(pts));
    for c in 0..2 {
        for (i, x) in a.plane_mut::<f32>(c).iter_mut().enumerate() {
            *x = first + i as f32;
        }
    }
    a
}

fn picture() -> ff::frame::Video {
    ff::frame::Video::new(ff::format::Pixel::YUV420P, 64, 36)
}

#[test]
fn timestamps_that_jump_or_step_back_are_rebased() {
    let mut t = Track::default();
    let step = 33_333;
    assert_eq!(t.place(0, step), 0);
    assert_eq!(t.place(33_333, step), 33_333);
    // A small step back (B-frame order, jitter) is kept as it is.
    assert_eq!(t.place(20_000, step), 20_000);
    // Ten seconds forward: follows on from the last instead.
    assert_eq!(t.place(10_066_666, step), 66_666);
    assert_eq!(t.place(10_100_000, step), 100_000);
    // A minute back: the same.
    assert_eq!(t.place(-60_000_000, step), 133_333);
    assert_eq!(t.place(-59_966_667, step), 166_666);
}

#[test]
fn each_unit_carries_exactly_its_frame_of_audio_in_order() {
    let f = fmt();
    let mut s = Session::new(&f);
    let mut units = Vec::new();
    let mut next = 0i64;
    for k in 0..30i64 {
        s.pending.push_back((k, picture()));
        // Audio in AAC-sized frames, arriving a little behind the pictures.
        while next < (k + 1) * 1600 - 500 {
            s.take_audio(&ramp(next, 1024, next as f32));
            next += 1024;
        }
        units.extend(s.ready(false));
    }
    units.extend(s.ready(true));
    assert_eq!(units.len(), 30);
    let mut expect = 0.0f32;
    for (k, u) in units.iter().enumerate() {
        assert_eq!(u.audio.len(), 2);
        assert_eq!(u.audio[0].len(), 1600, "unit {k}");
        for &x in &u.audio[1] {
            if (expect as i64) < next {
                assert_eq!(x, expect, "unit {k}");
            }
            expect += 1.0;
        }
    }
}

#[test]
fn late_or_missing_audio_becomes_silence_not_a_stall() {
    let f = fmt();
    let mut s = Session::new(&f);
    // Audio starts half a frame after the first picture.
    s.take_audio(&ramp(800, 2400, 1.0));
    s.pending.push_back((0, picture()));
    let u = s.ready(false);
    assert_eq!(u.len(), 1);
    assert!(u[0].audio[0][..800].iter().all(|x| *x == 0.0));
    assert_eq!(u[0].audio[0][800], 1.0);
    // No more audio: pictures still come out once a few wait.
    let mut out = 0;
    for k in 1..40 {
        s.pending.push_back((k, picture()));
        out += s.ready(false).len();
    }
    assert!(
        out >= 39 - 16,
        "{out} units out of 39 pictures without audio"
    );
    // A gap in the audio is silence at its place, an overlap is dropped.
    let mut s = Session::new(&f);
    s.take_audio(&ramp(0, 1000, 1.0));
    s.take_audio(&ramp(1200, 400, 5000.0));
    s.take_audio(&ramp(1500, 200, 9000.0));
    s.pending.push_back((0, picture()));
    let u = s.ready(true);
    let a = &u[0].audio[0];
    assert_eq!(
        (a[999], a[1000], a[1199], a[1200]),
        (1000.0, 0.0, 0.0, 5000.0)
    );
    assert_eq!((a[1599], a.len()), (5399.0, 1600));
}
