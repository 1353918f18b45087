//! The bench's media, made once with the ffmpeg CLI from lavfi sources.
//!
//! Two sets: the content matrix (every clip has video AND audio, so the floor transcodes the
//! same streams playout does) and the boundary pair (one long clip, and the same content cut
//! into GOP-sized pieces with `-c copy`). Generated into `target/tmp/bench-media-<hash of the
//! recipes>` and reused by later runs, like the test fixtures (tmp folder, DONE marker, rename).

use std::fs;
use std::hash::Hash;
use std::path::{Path, PathBuf};

use crate::common::fixtures::{ffmpeg, generated_once};
use crate::common::{probe_packets, probe_streams};

/// One matrix clip: ffmpeg arguments after the lavfi inputs, and what it exercises.
#[derive(Debug, Hash)]
pub struct ClipRecipe {
    pub name: &'static str,
    pub file: &'static str,
    pub note: &'static str,
    /// `-i` sources (lavfi graphs) followed by encoder arguments; the output path is appended.
    args: Vec<String>,
}

/// A long clip with a fixed GOP of exactly `piece_s` seconds, and its `-c copy` pieces.
#[derive(Debug, Hash)]
pub struct BoundaryRecipe {
    pub size: &'static str,
    pub fps: u32,
    pub seconds: u32,
    pub piece_s: u32,
    pub preset: &'static str,
    pub bitrate_k: u32,
}

#[derive(Debug, Hash)]
pub struct Recipes {
    pub clips: Vec<ClipRecipe>,
    pub boundary: BoundaryRecipe,
}

pub struct Clip {
    pub name: &'static str,
    pub path: PathBuf,
    pub note: &'static str,
}

pub struct Media {
    pub matrix: Vec<Clip>,
    pub long: PathBuf,
    pub pieces: Vec<PathBuf>,
}

/// Moving content with a light film grain: testsrc2 alone is too easy for an encoder, heavy
/// temporal noise (every pixel new every frame) is harder than any programme.
fn video(size: &str, rate: &str, dur: u32) -> Vec<String> {
    let graph = format!("testsrc2=size={size}:rate={rate}:duration={dur},noise=alls=4:allf=t");
    vec!["-f".into(), "lavfi".into(), "-i".into(), graph]
}

/// A tone per channel, slowly modulated, over a little noise: not as trivial for AAC as a
/// pure sine, and the channels differ.
fn audio(rate: u32, layout: &str, channels: u32, dur: u32) -> Vec<String> {
    let exprs: Vec<String> = (0..channels)
        .map(|c| {
            let f = 220 + 110 * c;
            format!("0.25*sin(2*PI*{f}*t)*(0.6+0.4*sin(2*PI*0.5*t))+0.1*(random({c})-0.5)")
        })
        .collect();
    let graph = format!(
        "aevalsrc=exprs={}:s={rate}:d={dur}:c={layout}",
        exprs.join("|")
    );
    vec!["-f".into(), "lavfi".into(), "-i".into(), graph]
}

fn strs(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// A matrix clip: lavfi video and audio, then `codec`, whitespace-separated ffmpeg options.
fn clip(
    (name, file, note): (&'static str, &'static str, &'static str),
    [v, a]: [Vec<String>; 2],
    codec: impl AsRef<str>,
) -> ClipRecipe {
    let mut args = v;
    args.extend(a);
    args.extend(codec.as_ref().split_whitespace().map(String::from));
    ClipRecipe {
        name,
        file,
        note,
        args,
    }
}

/// x264 at `mbps`, about what a programme file of that size carries (an uncapped CRF of the
/// grain above runs to 100 Mbit/s and makes the bench a decoder test), with AAC.
fn h264(mbps: u32) -> String {
    format!(
        "-c:v libx264 -preset veryfast -b:v {mbps}M -maxrate {mbps}M -bufsize {}M \
         -pix_fmt yuv420p -c:a aac -b:a 192k",
        2 * mbps
    )
}

/// About two minutes of 1280x720-channel content in eight shapes.
pub fn full() -> Recipes {
    const D: u32 = 15;
    let v = |size, rate| video(size, rate, D);
    let st = || audio(48000, "stereo", 2, D);
    Recipes {
        clips: vec![
            clip(
                (
                    "720p30 h264",
                    "h264_720p30.mp4",
                    "the channel format: no scaling",
                ),
                [v("1280x720", "30"), st()],
                h264(5),
            ),
            clip(
                ("1080p30 h264", "h264_1080p30.mp4", "1920x1080: downscale"),
                [v("1920x1080", "30"), st()],
                h264(8),
            ),
            clip(
                (
                    "480p25 h264",
                    "h264_480p25.mp4",
                    "640x480 25 fps: pillarbox, 25 to 30",
                ),
                [v("640x480", "25"), st()],
                h264(2),
            ),
            clip(
                (
                    "720p23.976 hevc",
                    "hevc_720p23976.mkv",
                    "HEVC + AAC in mkv, 23.976 to 30",
                ),
                [v("1280x720", "24000/1001"), st()],
                "-c:v libx265 -preset ultrafast -b:v 3M -x265-params log-level=error \
                 -pix_fmt yuv420p -c:a aac -b:a 192k",
            ),
            clip(
                (
                    "576i25 mpeg2",
                    "mpeg2_576i25.ts",
                    "MPEG-2 25i 16:9 + MP2 44.1k in ts: \
                  deinterlace, square pixels, resample",
                ),
                [v("720x576", "25"), audio(44100, "stereo", 2, D)],
                "-c:v mpeg2video -flags +ildct+ilme -top 1 -b:v 8M -aspect 16:9 \
                 -c:a mp2 -ar 44100 -b:a 256k",
            ),
            clip(
                (
                    "720x1280 h264",
                    "h264_720x1280.mp4",
                    "vertical 30 fps: pillarbox",
                ),
                [v("720x1280", "30"), st()],
                h264(5),
            ),
            clip(
                (
                    "720p60 h264 10-bit",
                    "h264_10bit_720p60.mp4",
                    "High 10 + AAC 5.1: \
                  60 to 30 fps, 10 to 8 bit, downmix",
                ),
                [v("1280x720", "60"), audio(48000, "5.1", 6, D)],
                "-c:v libx264 -preset veryfast -b:v 8M -maxrate 8M -bufsize 16M \
                 -pix_fmt yuv420p10le -c:a aac -b:a 384k",
            ),
            clip(
                ("720p30 vp9", "vp9_720p30.webm", "VP9 + Opus in webm"),
                [v("1280x720", "30"), st()],
                "-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -row-mt 1 -b:v 4M \
                 -pix_fmt yuv420p -c:a libopus -b:a 128k",
            ),
        ],
        boundary: BoundaryRecipe {
            size: "1280x720",
            fps: 30,
            seconds: 60,
            piece_s: 2,
            preset: "veryfast",
            bitrate_k: 5000,
        },
    }
}

/// The smoke run's media: two 2 s clips and a 4 s clip in 1 s pieces, all tiny.
pub fn tiny() -> Recipes {
    let st = || audio(48000, "stereo", 2, 2);
    let codec = "-c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac";
    Recipes {
        clips: vec![
            clip(
                ("180p30 h264", "h264_180p30.mp4", "the channel format"),
                [video("320x180", "30", 2), st()],
                codec,
            ),
            clip(
                (
                    "480p25 h264",
                    "h264_480p25.mp4",
                    "scale, pillarbox, 25 to 30",
                ),
                [video("640x480", "25", 2), st()],
                codec,
            ),
        ],
        boundary: BoundaryRecipe {
            size: "320x180",
            fps: 30,
            seconds: 4,
            piece_s: 1,
            preset: "ultrafast",
            bitrate_k: 400,
        },
    }
}

/// The media for `recipes`, generated on first use (about a minute for `full`).
pub fn generate(recipes: &Recipes) -> Media {
    let dir = generated_once("bench-media", recipes, |work| {
        for c in &recipes.clips {
            ffmpeg(&c.args, &work.join(c.file), c.name);
        }
        make_boundary(&recipes.boundary, work);
        verify(&list(recipes, work), &recipes.boundary);
    });
    list(recipes, &dir)
}

fn list(recipes: &Recipes, dir: &Path) -> Media {
    let b = &recipes.boundary;
    Media {
        matrix: recipes
            .clips
            .iter()
            .map(|c| Clip {
                name: c.name,
                path: dir.join(c.file),
                note: c.note,
            })
            .collect(),
        long: dir.join("long.mp4"),
        pieces: (0..b.seconds / b.piece_s)
            .map(|i| dir.join("pieces").join(format!("piece{i:03}.mp4")))
            .collect(),
    }
}

/// The long clip with a keyframe every `piece_s` exactly, then its pieces cut at those
/// keyframes without re-encoding: the same frames, as one item or as many.
fn make_boundary(b: &BoundaryRecipe, dir: &Path) {
    let gop = b.fps * b.piece_s;
    let mut args = video(b.size, &b.fps.to_string(), b.seconds);
    args.extend(audio(48000, "stereo", 2, b.seconds));
    let buf = format!("{}k", 2 * b.bitrate_k);
    let rate = format!("{}k", b.bitrate_k);
    args.extend(strs(&[
        "-c:v", "libx264", "-preset", b.preset, "-b:v", &rate,
    ]));
    args.extend(strs(&[
        "-maxrate", &rate, "-bufsize", &buf, "-pix_fmt", "yuv420p",
    ]));
    args.extend(strs(&["-g", &gop.to_string()]));
    let keyint = format!("keyint={gop}:min-keyint={gop}:scenecut=0");
    args.extend(strs(&[
        "-x264-params",
        &keyint,
        "-c:a",
        "aac",
        "-b:a",
        "192k",
    ]));
    let long = dir.join("long.mp4");
    ffmpeg(&args, &long, "bench long clip");
    fs::create_dir(dir.join("pieces")).expect("create pieces dir");
    let split = strs(&[
        "-i",
        &long.display().to_string(),
        "-c",
        "copy",
        "-f",
        "segment",
        "-segment_time",
        &b.piece_s.to_string(),
        "-reset_timestamps",
        "1",
    ]);
    ffmpeg(
        &split,
        &dir.join("pieces").join("piece%03d.mp4"),
        "bench pieces",
    );
}

/// Every clip has both streams; the pieces are as many as planned, each exactly one GOP.
fn verify(media: &Media, b: &BoundaryRecipe) {
    for c in &media.matrix {
        let kinds: Vec<String> = probe_streams(&c.path)
            .into_iter()
            .map(|s| s.codec_type)
            .collect();
        assert!(
            kinds.iter().any(|k| k == "video") && kinds.iter().any(|k| k == "audio"),
            "{}: streams {kinds:?} (expected video and audio)",
            c.name
        );
    }
    let made = fs::read_dir(media.long.with_file_name("pieces"))
        .expect("read pieces dir")
        .count();
    assert_eq!(made, media.pieces.len(), "pieces of the long clip");
    for p in &media.pieces {
        let frames = probe_packets(p)
            .iter()
            .filter(|k| k.codec_type == "video")
            .count();
        assert_eq!(
            frames,
            (b.fps * b.piece_s) as usize,
            "{}: video frames (expected one {} s GOP)",
            p.display(),
            b.piece_s
        );
    }
}
