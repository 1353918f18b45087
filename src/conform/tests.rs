//! Making a conformed copy of a generated clip with the channel's own pipeline, finding it
//! again, and refusing it once it is truncated, corrupt, stale or made with other settings.

use std::path::Path;

use ffmpeg_next as ff;

use super::*;
use crate::config::ChannelConfig;
use crate::playlist::Playlist;
use crate::quarantine::Quarantine;

fn clip(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("clip.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .args(["testsrc2=s=640x360:r=25:d=3", "-f", "lavfi", "-i"])
        .args(["sine=frequency=500:sample_rate=44100:duration=3"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(ok.success());
    out
}

fn channel(dir: &Path, preset: &str) -> (ChannelConfig, MediaItem) {
    let media = clip(dir);
    let pl = dir.join("p.yaml");
    std::fs::write(&pl, format!("items:\n  - path: {}\n", media.display())).unwrap();
    let text = format!(
        "name: conform\nplaylist: p.yaml\nvideo: {{ width: 320, height: 180, fps: 30, bitrate: 400k, preset: {preset} }}\naudio: {{ sample_rate: 48000, channels: 2, bitrate: 64k }}\n"
    );
    let ch = ChannelConfig::parse(&text, &dir.join("c.yaml")).unwrap();
    let p = Playlist::load(&pl).unwrap();
    let crate::playlist::Item::Media(m) = &p.items[0] else {
        panic!("a media item")
    };
    (ch, m.clone())
}

fn live_extradata(ch: &ChannelConfig) -> (Vec<u8>, Vec<u8>) {
    let fmt = crate::pipeline::ChannelFormat::of(ch);
    let (_, params) = crate::pipeline::encode::open(&fmt, &ch.video, &ch.audio).unwrap();
    (
        crate::libav::extradata(&params.video),
        crate::libav::extradata(&params.audio),
    )
}

#[test]
fn a_copy_is_made_once_found_again_and_refused_when_damaged_or_foreign() {
    ff::init().unwrap();
    let d = tempfile::tempdir().unwrap();
    let (ch, item) = channel(d.path(), "veryfast");
    let cache = d.path().join("conformed");
    // One x264 thread, as the background preparer makes it: the parameter sets are still
    // the live encoder's (which has encoder_threads()).
    let (s, fresh) = make::make(&ch, &item, &cache, None, Some(1), &Quarantine::none()).unwrap();
    assert!(fresh);
    // 3 s at 30 fps; the audio the timeline gives 90 frames; a keyframe every 2 s.
    assert_eq!((s.frames, s.samples, s.video_packets), (90, 144_000, 90));
    assert_eq!(s.keyframes, vec![0, 60]);
    assert!(s.audio_packets >= 144_000 / 1024, "{}", s.audio_packets);
    let (ve, ae) = live_extradata(&ch);
    assert_eq!(s.video_extradata, hex(&ve));
    let src = SourceId::stat(&item.path).unwrap().with_hash().unwrap();
    assert_eq!(verify(&cache, &s.key, &src, &ve, &ae, true).unwrap(), s);
    // Made again: the same copy is found, nothing rewritten.
    let before = std::fs::metadata(copy_path(&cache, &s.key))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        make::make(&ch, &item, &cache, None, None, &Quarantine::none()).unwrap(),
        (s.clone(), false)
    );
    let after = std::fs::metadata(copy_path(&cache, &s.key))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
    // No temporary file is left in the cache.
    let names: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");

    // The copy decodes back: its packets are the channel's 320x180.
    let mut input = ff::format::input(&copy_path(&cache, &s.key)).unwrap();
    let v = input.streams().best(ff::media::Type::Video).unwrap();
    let vp = v.parameters();
    let vi = v.index();
    let mut dec = ff::codec::context::Context::from_parameters(vp)
        .unwrap()
        .decoder()
        .video()
        .unwrap();
    let mut n = 0;
    let mut f = ff::frame::Video::empty();
    for (st, p) in input.packets() {
        if st.index() == vi {
            dec.send_packet(&p).unwrap();
            while dec.receive_frame(&mut f).is_ok() {
                assert_eq!((f.width(), f.height()), (320, 180));
                n += 1;
            }
        }
    }
    dec.send_eof().unwrap();
    while dec.receive_frame(&mut f).is_ok() {
        n += 1;
    }
    assert_eq!(n, 90);

    // Other settings: their parameter sets are not the copy's.
    let elsewhere = d.path().join("x");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let (other, _) = channel(&elsewhere, "medium");
    let (ove, oae) = live_extradata(&other);
    assert_eq!(
        verify(&cache, &s.key, &src, &ove, &oae, false),
        Err(Unusable::Settings("H.264 parameter sets"))
    );
    // A source file rewritten since: stale.
    let mut changed = src.clone();
    changed.size += 1;
    assert!(matches!(
        verify(&cache, &s.key, &changed, &ve, &ae, false),
        Err(Unusable::Stale(_))
    ));
    // Corrupt (same size), then truncated.
    let copy = copy_path(&cache, &s.key);
    let mut bytes = std::fs::read(&copy).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&copy, &bytes).unwrap();
    assert!(
        verify(&cache, &s.key, &src, &ve, &ae, false).is_ok(),
        "size only"
    );
    assert_eq!(
        verify(&cache, &s.key, &src, &ve, &ae, true),
        Err(Unusable::Corrupt)
    );
    std::fs::write(&copy, &bytes[..mid]).unwrap();
    assert!(matches!(
        verify(&cache, &s.key, &src, &ve, &ae, false),
        Err(Unusable::Size { .. })
    ));
    // A damaged copy is made again by the next prepare.
    let (again, fresh) = make::make(&ch, &item, &cache, None, None, &Quarantine::none()).unwrap();
    assert!(fresh);
    assert_eq!((again.key.as_str(), again.frames), (s.key.as_str(), 90));
    assert!(verify(&cache, &s.key, &src, &ve, &ae, true).is_ok());
}

#[test]
fn a_copy_cut_inside_a_group_of_b_frames_ends_where_every_frame_decodes() {
    ff::init().unwrap();
    let d = tempfile::tempdir().unwrap();
    let (ch, item) = channel(d.path(), "veryfast");
    let cache = d.path().join("conformed");
    let (s, _) = make::make(&ch, &item, &cache, None, None, &Quarantine::none()).unwrap();
    let fmt = crate::pipeline::ChannelFormat::of(&ch);
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut sp = crate::pipeline::splice::Splicer::new(fmt.clone(), tx, None, None);
    let copy = copy_path(&cache, &s.key);
    let mut never = |_: i64| None;
    let played =
        crate::pipeline::passthrough::play((&copy, &s), &fmt, 50, &mut sp, &mut never).unwrap();
    let crate::pipeline::passthrough::Played::Frames(n) = played else {
        panic!("stopped")
    };
    assert!((50..=53).contains(&n), "cut at 50 ended at {n}");
    assert_eq!(sp.position_frames(), n);
    let mut pts: Vec<i64> = Vec::new();
    let (_, params) = crate::pipeline::encode::open(&fmt, &ch.video, &ch.audio).unwrap();
    let mut dec = ff::codec::context::Context::from_parameters(params.video)
        .unwrap()
        .decoder()
        .video()
        .unwrap();
    let mut f = ff::frame::Video::empty();
    let mut decoded = 0;
    for m in rx.try_iter() {
        if let crate::pipeline::Media::Copied(e) = m {
            if e.kind == crate::pipeline::encode::Kind::Video {
                pts.push(e.packet.pts().unwrap());
                dec.send_packet(&e.packet).unwrap();
                while dec.receive_frame(&mut f).is_ok() {
                    decoded += 1;
                }
            }
        }
    }
    dec.send_eof().unwrap();
    while dec.receive_frame(&mut f).is_ok() {
        decoded += 1;
    }
    pts.sort_unstable();
    assert_eq!(
        pts,
        (0..n).collect::<Vec<_>>(),
        "every frame before the end, once"
    );
    assert_eq!(decoded, n);
}

/// Channels that differ only in what never reaches a copy's bytes find the same copies.
#[test]
fn the_format_key_holds_only_what_changes_a_copys_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (ch, item) = channel(dir.path(), "ultrafast");
    let key = |c: &ChannelConfig| format_hash(c, b"v", b"a", &item, None);
    let base = key(&ch);
    let mut other = ch.clone();
    other.name = "Another channel".into();
    other.slate.failure_duration = crate::time::Micros::from_secs(9);
    assert_eq!(
        key(&other),
        base,
        "the name or the failure slate's length changed the key"
    );
    let mut slate = ch.clone();
    slate.slate.text = "Other words".into();
    assert_ne!(
        key(&slate),
        base,
        "the slate's picture is in audio-only copies"
    );
    let mut named = ch.clone();
    named.text = Some(crate::config::TextSettings {
        template: "{channel}: {title}".into(),
        position: crate::config::Corner::BottomLeft,
        from: crate::time::Micros::ZERO,
        duration: crate::time::Micros::from_secs(5),
    });
    let mut renamed = named.clone();
    renamed.name = "Another channel".into();
    assert_ne!(
        key(&named),
        key(&renamed),
        "a lower third that says the name"
    );
}
