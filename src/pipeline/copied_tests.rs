//! Copied packets between encoded frames: audio placement, the encoders' parameter sets, and
//! a real splice (x264 and AAC, frames, a separately made copy, frames again) decoded back.

use std::sync::Arc;

use crossbeam_channel::bounded;
use ffmpeg_next as ff;

use super::*;
use crate::config::{AudioFormat, VideoFormat};
use crate::metrics::Metrics;
use crate::pipeline::encode::{self, StreamParams};
use crate::pipeline::{ChannelFormat, Media};
use crate::time::{samples_at_frame, Rational};

#[test]
fn audio_segments_meet_within_half_a_frame() {
    // Counted at "1 sample a second": the histogram holds the shifts in samples.
    let shifts = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("shifts", "test").buckets(vec![-400.0, 0.0, 400.0]),
    )
    .unwrap();
    let mut a = AudioAligner::new(1024).counted(shifts.clone(), 1);
    assert_eq!(
        a.place(-1024, 1024),
        Placement::Send {
            pts: -1024,
            silence: 0
        }
    );
    assert_eq!(a.place(0, 1024), Placement::Send { pts: 0, silence: 0 });
    // A new segment starting 300 samples into the last frame: shifted to meet it.
    a.new_segment();
    assert_eq!(
        a.place(724, 1024),
        Placement::Send {
            pts: 1024,
            silence: 0
        }
    );
    assert_eq!(
        a.place(1748, 1024),
        Placement::Send {
            pts: 2048,
            silence: 0
        }
    );
    // One starting 700 samples early: its first packet goes, the next is 324 late.
    a.new_segment();
    assert_eq!(a.place(2372, 1024), Placement::Drop);
    assert_eq!(
        a.place(3396, 1024),
        Placement::Send {
            pts: 3072,
            silence: 0
        }
    );
    // One starting 2.6 frames late: three frames of silence, then shifted by 410 samples.
    a.new_segment();
    let late = 4096 + 2662;
    assert_eq!(
        a.place(late, 1024),
        Placement::Send {
            pts: 7168,
            silence: 3
        }
    );
    // The three boundaries moved audio by 300, -324 and 410 samples.
    assert_eq!(shifts.get_sample_count(), 3);
    assert_eq!(shifts.get_sample_sum(), (300 - 324 + 410) as f64);
    let m = prometheus::core::Collector::collect(&shifts);
    let buckets: Vec<u64> = m[0].get_metric()[0]
        .get_histogram()
        .get_bucket()
        .iter()
        .map(|b| b.get_cumulative_count())
        .collect();
    assert_eq!(buckets, vec![0, 1, 2]);
    // Inside a segment nothing moves further, and an overlap is dropped.
    assert_eq!(
        a.place(late + 1024, 1024),
        Placement::Send {
            pts: 8192,
            silence: 0
        }
    );
    assert_eq!(a.place(late, 1024), Placement::Drop);
}

fn fmt() -> ChannelFormat {
    ChannelFormat {
        width: 320,
        height: 180,
        fps: Rational::new(30, 1),
        sample_rate: 48000,
        channels: 2,
    }
}

fn video(preset: &str) -> VideoFormat {
    VideoFormat {
        width: 320,
        height: 180,
        bitrate: 400_000,
        maxrate: 400_000,
        bufsize: 800_000,
        preset: preset.into(),
        ..VideoFormat::default()
    }
}

fn audio() -> AudioFormat {
    AudioFormat {
        bitrate: 64_000,
        ..AudioFormat::default()
    }
}

#[test]
fn the_same_settings_give_the_same_parameter_sets() {
    ff::init().unwrap();
    for preset in ["ultrafast", "veryfast"] {
        let (_, a) = encode::open(&fmt(), &video(preset), &audio()).unwrap();
        let (_, b) = encode::open(&fmt(), &video(preset), &audio()).unwrap();
        let (va, vb) = (
            crate::libav::extradata(&a.video),
            crate::libav::extradata(&b.video),
        );
        assert!(!va.is_empty(), "{preset}: no SPS/PPS");
        assert_eq!(va, vb, "{preset}: the SPS/PPS differ");
        assert_eq!(
            crate::libav::extradata(&a.audio),
            crate::libav::extradata(&b.audio)
        );
    }
    let (_, other) = encode::open(&fmt(), &video("medium"), &audio()).unwrap();
    let (_, vf) = encode::open(&fmt(), &video("veryfast"), &audio()).unwrap();
    assert_ne!(
        crate::libav::extradata(&other.video),
        crate::libav::extradata(&vf.video),
        "another preset must be told apart by its parameter sets"
    );
}

/// Frames `from..to` (a grey level per frame) and their audio (a 440 Hz tone), in the
/// splicer's order and framing: 1024-sample audio frames, a short one at the end.
fn frames(f: &ChannelFormat, from: i64, to: i64) -> Vec<Media> {
    let mut out = Vec::new();
    let (a0, a1) = (
        samples_at_frame(from, f.fps, 48000),
        samples_at_frame(to, f.fps, 48000),
    );
    let mut a = a0;
    for i in from..to {
        let mut v = ff::frame::Video::new(ff::format::Pixel::YUV420P, f.width, f.height);
        v.data_mut(0).fill((16 + (i * 7) % 200) as u8);
        v.data_mut(1).fill(128);
        v.data_mut(2).fill(128);
        v.set_pts(Some(i));
        out.push(Media::Video(v));
        while a < samples_at_frame(i + 1, f.fps, 48000) && a < a1 {
            let n = (a1 - a).min(1024) as usize;
            let mut s = ff::frame::Audio::new(
                ff::format::Sample::F32(ff::format::sample::Type::Planar),
                n,
                f.layout(),
            );
            s.set_rate(48000);
            for c in 0..2 {
                for (k, x) in s.plane_mut::<f32>(c).iter_mut().enumerate() {
                    *x = 0.3
                        * ((a + k as i64) as f32 * 440.0 * std::f32::consts::TAU / 48000.0).sin();
                }
            }
            s.set_pts(Some(a));
            out.push(Media::Audio(s));
            a += n as i64;
        }
    }
    out
}

/// The video packets of `out` in order, and their presentation times sorted.
fn video_of(out: &[encode::Encoded]) -> (Vec<&ff::Packet>, Vec<i64>) {
    let vids: Vec<&ff::Packet> = out
        .iter()
        .filter(|e| e.kind == encode::Kind::Video)
        .map(|e| &e.packet)
        .collect();
    let mut pts: Vec<i64> = vids.iter().map(|p| p.pts().unwrap()).collect();
    pts.sort();
    (vids, pts)
}

/// Decodes `vids` in order with a decoder for `params`: pictures out, packets refused.
fn decode(params: &StreamParams, vids: &[&ff::Packet]) -> (i64, i64) {
    let mut dec = ff::codec::context::Context::from_parameters(params.video.clone())
        .unwrap()
        .decoder()
        .video()
        .unwrap();
    let (mut decoded, mut errors) = (0, 0);
    let mut frame = ff::frame::Video::empty();
    for p in vids {
        if dec.send_packet(*p).is_err() {
            errors += 1;
        }
        while dec.receive_frame(&mut frame).is_ok() {
            decoded += 1;
        }
    }
    dec.send_eof().unwrap();
    while dec.receive_frame(&mut frame).is_ok() {
        decoded += 1;
    }
    (decoded, errors)
}

/// Runs the encode thread over `media`; its packets in order.
fn encode_all(preset: &str, media: Vec<Media>) -> (Vec<encode::Encoded>, StreamParams) {
    let (enc, params) = encode::open(&fmt(), &video(preset), &audio()).unwrap();
    let (tx, rx) = bounded(media.len() + 1);
    let (ptx, prx) = bounded(100_000);
    for m in media {
        tx.send(m).unwrap();
    }
    drop(tx);
    crate::pipeline::encoding::run(
        enc,
        rx,
        ptx,
        crossbeam_channel::never(),
        Arc::new(Metrics::new()),
        None,
    );
    (prx.try_iter().collect(), params)
}

fn splice_and_decode(preset: &str) {
    ff::init().unwrap();
    let f = fmt();
    // The copy: 60 frames made by encoders of their own, moved to frame 45.
    let (copy, copy_params) = encode_all(preset, frames(&f, 0, 60));
    let (dv, da) = (45, samples_at_frame(45, f.fps, 48000));
    let mut media = frames(&f, 0, 45);
    for mut e in copy {
        let d = if e.kind == encode::Kind::Video {
            dv
        } else {
            da
        };
        e.packet.set_pts(e.packet.pts().map(|t| t + d));
        e.packet.set_dts(e.packet.dts().map(|t| t + d));
        media.push(Media::Copied(e));
    }
    media.extend(frames(&f, 105, 135));
    let (out, params) = encode_all(preset, media);
    assert_eq!(
        crate::libav::extradata(&params.video),
        crate::libav::extradata(&copy_params.video)
    );

    let (vids, pts) = video_of(&out);
    assert_eq!(
        pts,
        (0..135).collect::<Vec<_>>(),
        "{preset}: every frame once"
    );
    let dts: Vec<i64> = vids.iter().map(|p| p.dts().unwrap()).collect();
    assert!(
        dts.windows(2).all(|w| w[0] < w[1]),
        "{preset}: dts not increasing: {dts:?}"
    );
    let keys: Vec<i64> = vids
        .iter()
        .filter(|p| p.is_key())
        .map(|p| p.pts().unwrap())
        .collect();
    assert_eq!(keys, vec![0, 45, 105], "{preset}: keyframes");

    // Audio: whole frames end to end (as a player plays them, the encoder's short last
    // packet included), ending where the video ends to within a frame.
    let auds: Vec<i64> = out
        .iter()
        .filter(|e| e.kind == encode::Kind::Audio)
        .map(|e| e.packet.pts().unwrap())
        .collect();
    let gaps: Vec<i64> = auds.windows(2).map(|w| w[1] - w[0] - 1024).collect();
    assert!(
        gaps.iter().all(|g| *g == 0),
        "{preset}: audio not end to end: {gaps:?}"
    );
    let end = auds.last().unwrap() + 1024;
    let want = samples_at_frame(135, f.fps, 48000);
    assert!(
        (end - want).abs() <= 1024,
        "{preset}: audio ends at {end}, video at {want}"
    );

    // The whole splice decodes: every picture, no error.
    let (decoded, errors) = decode(&params, &vids);
    assert_eq!((decoded, errors), (135, 0), "{preset}: decoded, errors");
}

#[test]
fn a_copy_between_encoded_frames_decodes_as_one_stream_without_b_frames() {
    splice_and_decode("ultrafast");
}

#[test]
fn a_copy_between_encoded_frames_decodes_as_one_stream_with_b_frames() {
    splice_and_decode("veryfast");
}

/// A copy's packets (made by encoders of their own from frame 0) moved to start at frame `at`.
fn copy_at(copy: &[encode::Encoded], f: &ChannelFormat, at: i64) -> Vec<Media> {
    let (dv, da) = (at, samples_at_frame(at, f.fps, 48000));
    copy.iter()
        .map(|e| {
            let mut e = e.clone();
            let d = if e.kind == encode::Kind::Video {
                dv
            } else {
                da
            };
            e.packet.set_pts(e.packet.pts().map(|t| t + d));
            e.packet.set_dts(e.packet.dts().map(|t| t + d));
            Media::Copied(e)
        })
        .collect()
}

/// Issue 28: x264 gives a stretch of fewer frames than its reorder delay `dts = pts` (no
/// delay), where a longer one and every copy have `dts = k - delay`; a copy after such a
/// stretch stepped its decode time back and the FLV muxer refused it. Stretches of 1, 2 and 3
/// encoded frames between copies, and copies of 1 and 2 frames between encoded ones.
fn short_stretches(preset: &str) {
    ff::init().unwrap();
    let f = fmt();
    let (long, _) = encode_all(preset, frames(&f, 0, 30));
    let (one, _) = encode_all(preset, frames(&f, 0, 1));
    let (two, _) = encode_all(preset, frames(&f, 0, 2));
    let mut media = Vec::new();
    let mut at = 0;
    // copy, 1 encoded, copy, 2 encoded, copy, 3 encoded, copy, then 1- and 2-frame copies
    // between encoded stretches.
    for n in [1, 2, 3] {
        media.extend(copy_at(&long, &f, at));
        at += 30;
        media.extend(frames(&f, at, at + n));
        at += n;
    }
    media.extend(copy_at(&long, &f, at));
    at += 30;
    media.extend(frames(&f, at, at + 10));
    at += 10;
    media.extend(copy_at(&one, &f, at));
    at += 1;
    media.extend(frames(&f, at, at + 10));
    at += 10;
    media.extend(copy_at(&two, &f, at));
    at += 2;
    media.extend(copy_at(&one, &f, at));
    at += 1;
    media.extend(frames(&f, at, at + 1));
    at += 1;
    let (out, params) = encode_all(preset, media);
    let delay = params.video_delay;
    let (vids, pts) = video_of(&out);
    assert_eq!(
        pts,
        (0..at).collect::<Vec<_>>(),
        "{preset}: every frame once"
    );
    let dts: Vec<i64> = vids.iter().map(|p| p.dts().unwrap()).collect();
    assert_eq!(
        dts,
        (0..at).map(|k| k - delay).collect::<Vec<_>>(),
        "{preset}: the k-th packet's dts is k - {delay}"
    );
    assert!(
        vids.iter().all(|p| p.dts().unwrap() <= p.pts().unwrap()),
        "{preset}: a packet decoded after it is shown"
    );
    let (decoded, errors) = decode(&params, &vids);
    assert_eq!((decoded, errors), (at, 0), "{preset}: decoded, errors");
}

#[test]
fn short_stretches_between_copies_keep_decode_time_increasing_with_b_frames() {
    short_stretches("veryfast");
}

#[test]
fn short_stretches_between_copies_keep_decode_time_increasing_without_b_frames() {
    short_stretches("ultrafast");
}
