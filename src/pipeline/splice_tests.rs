//! The splicer against a recording sink: every frame and sample that reaches the encoder is
//! checked for continuity and alignment.

use crossbeam_channel::{unbounded, Receiver};
use ffmpeg_next as ff;
use proptest::prelude::*;

use super::*;
use crate::time::Rational;

fn fmt(fps: Rational) -> ChannelFormat {
    ChannelFormat {
        width: 16,
        height: 16,
        fps,
        sample_rate: 48000,
        channels: 2,
    }
}

fn picture() -> ff::frame::Video {
    ff::frame::Video::new(ff::format::Pixel::YUV420P, 16, 16)
}

fn audio(n: usize, value: f32) -> ff::frame::Audio {
    let mut a = ff::frame::Audio::new(
        ff::format::Sample::F32(ff::format::sample::Type::Planar),
        n,
        ff::ChannelLayout::STEREO,
    );
    a.set_rate(48000);
    for c in 0..2 {
        a.plane_mut::<f32>(c)[..n].fill(value);
    }
    a
}

/// What reached the encoder: video pts in order, audio (pts, samples) in order.
struct Recorded {
    video: Vec<i64>,
    audio: Vec<(i64, usize)>,
}

fn record(rx: &Receiver<Media>) -> Recorded {
    let mut r = Recorded {
        video: vec![],
        audio: vec![],
    };
    for m in rx.try_iter() {
        match m {
            Media::Video(f) => r.video.push(f.pts().unwrap()),
            Media::Audio(f) => r.audio.push((f.pts().unwrap(), f.samples())),
            Media::Copied(_) | Media::CopyBegins => panic!("the splicer makes frames here"),
        }
    }
    r
}

fn assert_continuous(r: &Recorded) {
    for (i, pts) in r.video.iter().enumerate() {
        assert_eq!(*pts, i as i64, "video pts must count frames with no gap");
    }
    let mut next = 0;
    for (pts, n) in &r.audio {
        assert_eq!(*pts, next, "audio must be contiguous");
        next += *n as i64;
    }
}

fn audio_total(r: &Recorded) -> i64 {
    r.audio.iter().map(|(_, n)| *n as i64).sum()
}

fn setup(fps: Rational, stop: Option<i64>) -> (Splicer, Receiver<Media>) {
    ff::init().unwrap();
    let (tx, rx) = unbounded();
    (Splicer::new(fmt(fps), tx, stop, None), rx)
}

#[test]
fn longer_audio_extends_video_by_holding_the_last_frame() {
    let (mut sp, rx) = setup(Rational::new(30, 1), None);
    sp.begin_item(None, &picture());
    for i in 0..10 {
        sp.video(picture(), i);
    }
    for k in 0..24 {
        sp.audio(&audio(1000, 0.5), k * 1000);
    }
    sp.end_item();
    sp.finish();
    let r = record(&rx);
    assert_continuous(&r);
    assert_eq!(r.video.len(), 15, "24000 samples need 15 frames at 30 fps");
    assert_eq!(audio_total(&r), 24000);
    assert_eq!(sp.stats().held_frames, 5);
}

#[test]
fn a_cut_behind_the_audio_already_out_still_ends_aligned() {
    // A skip asks for "the next frame" while the audio has run ahead of the video: the cut
    // lands on the frame that covers the audio, and the next item starts aligned.
    let (mut sp, rx) = setup(Rational::new(30, 1), None);
    sp.begin_item(None, &picture());
    for i in 0..10 {
        sp.video(picture(), i);
    }
    // 14 frames' worth of audio (22400 samples) against 10 frames of video.
    sp.audio(&audio(22400, 0.5), 0);
    sp.cut_at(11);
    sp.end_item();
    // The next item starts aligned (begin_item asserts it).
    sp.fill(5, &picture());
    sp.finish();
    let r = record(&rx);
    assert_continuous(&r);
    assert_eq!(r.video.len(), 19, "cut at frame 14, then 5 frames");
    assert_eq!(audio_total(&r), 19 * 1600);
}

#[test]
fn shorter_audio_is_padded_with_silence() {
    let (mut sp, rx) = setup(Rational::new(30, 1), None);
    sp.begin_item(None, &picture());
    for i in 0..30 {
        sp.video(picture(), i);
    }
    sp.audio(&audio(10000, 0.5), 0);
    sp.end_item();
    sp.finish();
    let r = record(&rx);
    assert_continuous(&r);
    assert_eq!(r.video.len(), 30);
    assert_eq!(audio_total(&r), 48000);
    assert_eq!(sp.stats().silence_samples, 38000);
}

#[test]
fn gaps_are_held_and_preroll_and_duplicates_dropped() {
    let (mut sp, rx) = setup(Rational::new(25, 1), None);
    sp.begin_item(None, &picture());
    sp.audio_ended();
    for rel in [-3, -2, -1, 0, 1, 2, 5, 5, 6] {
        sp.video(picture(), rel);
    }
    sp.end_item();
    sp.finish();
    let r = record(&rx);
    assert_continuous(&r);
    assert_eq!(r.video.len(), 7, "frames 0..=6, with 3 and 4 held");
    assert_eq!(sp.stats().held_frames, 2);
    assert_eq!(
        audio_total(&r),
        7 * 48000 / 25,
        "silence follows video when there is no audio"
    );
}

#[test]
fn a_timestamp_jump_is_rebased_not_filled() {
    let (mut sp, rx) = setup(Rational::new(30, 1), None);
    sp.begin_item(None, &picture());
    sp.audio_ended();
    for rel in [0, 1, 2, 100_000, 100_001] {
        sp.video(picture(), rel);
    }
    sp.end_item();
    sp.finish();
    let r = record(&rx);
    assert_continuous(&r);
    assert_eq!(r.video.len(), 5);
}

#[test]
fn out_point_limits_the_item_and_says_so() {
    let (mut sp, rx) = setup(Rational::new(30, 1), None);
    sp.begin_item(Some(10), &picture());
    let mut flows = vec![];
    for i in 0..20 {
        flows.push(sp.video(picture(), i));
        flows.push(sp.audio(&audio(1600, 0.1), i * 1600));
    }
    sp.end_item();
    sp.finish();
    let r = record(&rx);
    assert_continuous(&r);
    assert_eq!(r.video.len(), 10);
    assert_eq!(audio_total(&r), 16000);
    assert!(flows.contains(&Flow::ItemFull));
}

#[test]
fn stop_point_ends_the_channel_exactly() {
    let fps = Rational::new(30000, 1001);
    let (mut sp, rx) = setup(fps, Some(100));
    let mut last = Flow::Continue;
    while last != Flow::Stop {
        last = sp.fill(7, &picture());
    }
    sp.finish();
    let r = record(&rx);
    assert_continuous(&r);
    assert_eq!(r.video.len(), 100);
    assert_eq!(audio_total(&r), samples_at_frame(100, fps, 48000));
    assert!(sp.is_done());
}

#[test]
fn audio_frames_are_aac_sized_except_the_last() {
    let (mut sp, rx) = setup(Rational::new(30, 1), Some(31));
    while sp.fill(10, &picture()) != Flow::Stop {}
    sp.finish();
    let r = record(&rx);
    let (last, body) = r.audio.split_last().unwrap();
    assert!(body.iter().all(|(_, n)| *n == AUDIO_FRAME));
    assert!(last.1 <= AUDIO_FRAME && last.1 > 0);
}

#[test]
fn audio_only_item_shows_the_filler() {
    let (mut sp, rx) = setup(Rational::new(30, 1), None);
    sp.begin_item(None, &picture());
    sp.video_ended();
    for k in 0..10 {
        sp.audio(&audio(4800, 0.2), k * 4800);
    }
    sp.end_item();
    sp.finish();
    let r = record(&rx);
    assert_continuous(&r);
    assert_eq!(r.video.len(), 30);
    assert_eq!(audio_total(&r), 48000);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// However items of random shapes follow each other, the timeline stays continuous and
    /// every item ends with audio pinned to the video frame grid.
    #[test]
    fn items_never_drift(items in prop::collection::vec((0i64..40, 0i64..80_000, any::<bool>()), 1..12),
                         which in 0usize..3) {
        let rates = [Rational::new(30, 1), Rational::new(30000, 1001), Rational::new(25, 1)];
        let fps = rates[which];
        let (mut sp, rx) = setup(fps, None);
        for (frames, samples, slate) in items {
            if slate {
                sp.fill(frames, &picture());
            } else {
                sp.begin_item(None, &picture());
                let mut sent = 0;
                for i in 0..frames {
                    sp.video(picture(), i);
                    // interleave audio roughly with video
                    let want = samples * (i + 1) / frames.max(1);
                    if want > sent {
                        sp.audio(&audio((want - sent) as usize, 0.3), sent);
                        sent = want;
                    }
                }
                if sent < samples {
                    sp.audio(&audio((samples - sent) as usize, 0.3), sent);
                }
                sp.end_item();
            }
            let v = sp.position_frames();
            prop_assert_eq!(sp.stats().audio_samples + sp.stats().silence_samples, samples_at_frame(v, fps, 48000));
        }
        sp.finish();
        let r = record(&rx);
        assert_continuous(&r);
        prop_assert_eq!(audio_total(&r), samples_at_frame(r.video.len() as i64, fps, 48000));
    }
}
