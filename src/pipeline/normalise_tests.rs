//! The filter chains and graphs `normalise` builds for sources of several shapes.

use super::*;

fn fmt() -> ChannelFormat {
    ChannelFormat {
        width: 1280,
        height: 720,
        fps: Rational::new(30, 1),
        sample_rate: 48000,
        channels: 2,
    }
}

fn src(w: u32, h: u32) -> VideoSource {
    VideoSource {
        width: w,
        height: h,
        format: ff::format::Pixel::YUV420P,
        sar: Rational::new(1, 1),
        time_base: Rational::new(1, 90000),
        interlaced: false,
        rotation: 0,
    }
}

#[test]
fn chain_for_plain_source_scales_pads_and_regrids() {
    let c = video_chain(&src(640, 480), &fmt());
    assert!(c.contains("scale=1280:720:force_original_aspect_ratio=decrease"));
    assert!(c.contains("pad=1280:720"));
    assert!(c.contains("fps=fps=30/1"));
    assert!(!c.contains("format=pix_fmts"), "already yuv420p: {c}");
    assert!(!c.contains("bwdif") && !c.contains("transpose"));
}

#[test]
fn chain_for_a_source_in_the_channel_format_only_regrids() {
    let c = video_chain(&src(1280, 720), &fmt());
    assert_eq!(c, "setsar=1,fps=fps=30/1:round=near");
    let mut ten_bit = src(1280, 720);
    ten_bit.format = ff::format::Pixel::YUV420P10LE;
    let c = video_chain(&ten_bit, &fmt());
    assert!(
        !c.contains("scale") && c.ends_with("format=pix_fmts=yuv420p"),
        "{c}"
    );
    // Coded 720x1280 with a 90° display matrix shows 1280x720: no scaling either.
    let mut turned = src(720, 1280);
    turned.rotation = 90;
    let c = video_chain(&turned, &fmt());
    assert!(
        c.starts_with("transpose=clock") && !c.contains("scale"),
        "{c}"
    );
    // Non-square pixels at the channel size still need squaring and a fit.
    let mut anamorphic = src(1280, 720);
    anamorphic.sar = Rational::new(4, 3);
    assert!(video_chain(&anamorphic, &fmt()).contains("pad=1280:720"));
}

#[test]
fn chain_deinterlaces_and_rotates_when_told() {
    let mut s = src(720, 576);
    s.interlaced = true;
    s.rotation = 90;
    let c = video_chain(&s, &fmt());
    let d = c.find("bwdif").unwrap();
    let r = c.find("transpose=clock").unwrap();
    let sc = c.find("scale=1280").unwrap();
    assert!(d < r && r < sc, "deinterlace, then rotate, then scale: {c}");
    s.rotation = 270;
    assert!(video_chain(&s, &fmt()).contains("transpose=cclock"));
    s.rotation = 180;
    assert!(video_chain(&s, &fmt()).contains("hflip,vflip"));
}

#[test]
fn graphs_build_for_common_shapes() {
    ff::init().unwrap();
    for (w, h) in [(640, 360), (321, 241), (1080, 1920), (16, 16), (1280, 720)] {
        video_graph(&src(w, h), &fmt(), None).unwrap_or_else(|e| panic!("{w}x{h}: {e}"));
    }
    for (rate, ch, layout) in [
        (44100, 1, ff::ChannelLayout::MONO),
        (48000, 6, ff::ChannelLayout::_5POINT1),
        (22050, 2, ff::ChannelLayout::STEREO),
    ] {
        let a = AudioSource {
            rate,
            format: ff::format::Sample::I16(ff::format::sample::Type::Packed),
            layout,
            channels: ch,
        };
        audio_graph(&a, &fmt(), None).unwrap_or_else(|e| panic!("{rate}/{ch}: {e}"));
    }
}

#[test]
fn filter_paths_survive_both_escaping_levels() {
    use std::path::Path;
    assert_eq!(filter_path(Path::new("/srv/logo.png")), "/srv/logo.png");
    assert_eq!(
        filter_path(Path::new("/a b/it's:[x],y;z.png")),
        "/a b/it\\\\\\'s\\\\:\\[x\\]\\,y\\;z.png"
    );
}

#[test]
fn a_logo_with_awkward_characters_in_its_path_is_drawn() {
    ff::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("it's: [a], b; c.png");
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=40x20",
            "-frames:v",
            "1",
        ])
        .arg(&logo)
        .status()
        .unwrap();
    assert!(made.success());
    let o = crate::config::OverlaySettings {
        image: logo,
        position: crate::config::Corner::BottomLeft,
        margin: 4,
        opacity_milli: 500,
        scale_milli: 250,
        width: 80,
        height: 40,
        stamp: (0, None),
    };
    video_graph(&src(640, 360), &fmt(), Some(&overlay_chain(&o))).unwrap();
}
