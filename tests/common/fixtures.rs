//! The content matrix: small (~2 s, ≤ 640 px) clips made with the ffmpeg CLI from lavfi sources,
//! covering the formats a channel meets, plus broken files.
//!
//! Generated once into `target/tmp/fixtures-<hash of the recipes>` and reused by later test
//! processes (a changed recipe changes the hash); within a process the list is cached.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeSet;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use super::probe::{probe_packets, probe_streams};

/// What a fixture is, for building playlists and expectations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A clip with video (audio or not, as the name says).
    Clip,
    /// A single image with no duration of its own: give it an `out:`.
    Still,
    /// Audio only, no video stream.
    AudioOnly,
    /// Cannot be opened at all: playout must log the file and the reason, then move on.
    Broken,
    /// Opens, claims its full duration, but the data stop early (a cut-off download).
    Truncated,
}

#[derive(Clone, Debug)]
pub struct Fixture {
    pub name: &'static str,
    pub path: PathBuf,
    pub kind: Kind,
    pub note: &'static str,
}

#[derive(Debug, Hash)]
enum Make {
    /// ffmpeg arguments; `{dir}` is replaced by the fixture folder, the output path is appended.
    Ffmpeg(Vec<String>),
    /// The first `percent` % of the bytes of another fixture file.
    Truncate(&'static str, u64),
    /// Pseudo-random bytes.
    Random(usize),
    Empty,
    Missing,
}

#[derive(Debug, Hash)]
struct Recipe {
    name: &'static str,
    file: &'static str,
    kind: Kind,
    note: &'static str,
    make: Make,
}

fn video(src: &str, size: &str, rate: &str, dur: f64) -> Vec<String> {
    lavfi(format!("{src}=size={size}:rate={rate}:duration={dur}"))
}

fn sine(freq: u32, rate: u32, dur: f64) -> Vec<String> {
    lavfi(format!(
        "sine=frequency={freq}:sample_rate={rate}:duration={dur}"
    ))
}

fn lavfi(graph: String) -> Vec<String> {
    vec!["-f".into(), "lavfi".into(), "-i".into(), graph]
}

fn args(parts: &[&[&str]]) -> Vec<String> {
    parts
        .iter()
        .flat_map(|p| p.iter().map(|s| s.to_string()))
        .collect()
}

/// libx264 ultrafast yuv420p: the encoder settings of every generated clip.
pub const X264: &[&str] = &[
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-pix_fmt",
    "yuv420p",
];
/// AAC stereo 64k.
pub const AAC2: &[&str] = &["-c:a", "aac", "-b:a", "64k", "-ac", "2"];

/// A clip: lavfi video + sine, encoded with `codec` arguments.
fn clip(v: Vec<String>, a: Option<Vec<String>>, codec: &[&[&str]]) -> Make {
    let mut out = v;
    if let Some(a) = a {
        out.extend(a);
    }
    out.extend(args(codec));
    Make::Ffmpeg(out)
}

fn recipes() -> Vec<Recipe> {
    use Kind::*;
    let r = |name, file, kind, note, make| Recipe {
        name,
        file,
        kind,
        note,
        make,
    };
    let t2 = |size: &str, rate: &str, dur: f64| video("testsrc2", size, rate, dur);
    vec![
        r("landscape_25", "landscape_25.mp4", Clip, "16:9 640x360 H.264/AAC 48 kHz stereo 25 fps",
          clip(t2("640x360", "25", 2.0), Some(sine(440, 48000, 2.0)), &[X264, AAC2])),
        r("vertical", "vertical.mp4", Clip, "9:16 360x640 H.264/AAC 25 fps",
          clip(t2("360x640", "25", 2.0), Some(sine(494, 48000, 2.0)), &[X264, AAC2])),
        // lavfi sources round odd sizes down to even: scale afterwards; x264 4:2:0 needs even
        // dimensions, so 4:4:4.
        r("odd_321x241", "odd_321x241.mp4", Clip, "321x241 H.264 4:4:4 (odd size)",
          clip(t2("320x240", "25", 2.0), Some(sine(523, 48000, 2.0)),
               &[&["-vf", "scale=321:241", "-c:v", "libx264", "-preset", "ultrafast",
                   "-pix_fmt", "yuv444p"], AAC2])),
        r("fps_23976", "fps_23976.mp4", Clip, "24000/1001 fps",
          clip(t2("320x180", "24000/1001", 2.0), Some(sine(554, 48000, 2.0)), &[X264, AAC2])),
        r("fps_2997", "fps_2997.mp4", Clip, "30000/1001 fps",
          clip(t2("320x180", "30000/1001", 2.0), Some(sine(587, 48000, 2.0)), &[X264, AAC2])),
        r("fps_50", "fps_50.mp4", Clip, "50 fps",
          clip(t2("320x180", "50", 2.0), Some(sine(622, 48000, 2.0)), &[X264, AAC2])),
        r("fps_60", "fps_60.mp4", Clip, "60 fps",
          clip(t2("320x180", "60", 2.0), Some(sine(659, 48000, 2.0)), &[X264, AAC2])),
        r("vfr", "vfr.mkv", Clip, "variable frame rate (30 fps with irregular drops), mkv",
          clip(t2("320x180", "30", 2.0), Some(sine(698, 48000, 2.0)),
               &[&["-vf", "select='not(eq(mod(n\\,7)\\,3))*not(eq(mod(n\\,11)\\,5))*not(eq(mod(n\\,13)\\,1))'",
                   "-vsync", "vfr"], X264, AAC2])),
        r("hevc", "hevc.mkv", Clip, "HEVC (libx265) + AAC, mkv",
          clip(t2("320x180", "25", 2.0), Some(sine(740, 48000, 2.0)),
               &[&["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
                   "-pix_fmt", "yuv420p"], AAC2])),
        r("vp9_opus", "vp9_opus.webm", Clip, "VP9 + Opus, webm",
          clip(t2("320x180", "25", 2.0), Some(sine(784, 48000, 2.0)),
               &[&["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k",
                   "-c:a", "libopus", "-b:a", "64k", "-ac", "2"]])),
        // Issue 28's splice: 3.012 s long, so its slot is a frame longer than its copy.
        r("vp9_vorbis_22k", "vp9_vorbis_22k.webm", Clip,
          "9:16 360x640 VP9 60 fps + Vorbis 22.05 kHz mono, 3 s, webm",
          clip(t2("360x640", "60", 3.0), Some(sine(1319, 22050, 3.0)),
               &[&["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k",
                   "-c:a", "libvorbis", "-ac", "1"]])),
        r("mpeg2_interlaced", "mpeg2_interlaced.ts", Clip,
          "MPEG-2 interlaced (top field first) + MP2 44.1 kHz, mpegts",
          clip(video("smptebars", "320x240", "25", 2.0), Some(sine(831, 44100, 2.0)),
               &[&["-c:v", "mpeg2video", "-flags", "+ildct+ilme", "-top", "1", "-b:v", "1M",
                   "-c:a", "mp2", "-ar", "44100", "-ac", "2", "-b:a", "128k"]])),
        r("h264_10bit", "h264_10bit.mp4", Clip, "H.264 High 10 (yuv420p10le)",
          clip(t2("320x180", "25", 2.0), Some(sine(880, 48000, 2.0)),
               &[&["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le"], AAC2])),
        r("yuv444", "yuv444.mp4", Clip, "H.264 4:4:4 (yuv444p)",
          clip(t2("320x180", "25", 2.0), Some(sine(932, 48000, 2.0)),
               &[&["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"], AAC2])),
        // FFmpeg 5.1 turns the legacy `rotate` tag into a display matrix on remux.
        r("rotated_90", "rotated_90.mp4", Clip, "640x360 coded, display matrix 90° (shows 360x640)",
          Make::Ffmpeg(args(&[&["-i", "{dir}/landscape_25.mp4", "-c", "copy",
                                "-metadata:s:v:0", "rotate=90"]]))),
        r("mono_44k", "mono_44k.mp4", Clip, "AAC 44.1 kHz mono",
          clip(t2("320x180", "25", 2.0), Some(sine(1047, 44100, 2.0)),
               &[X264, &["-c:a", "aac", "-b:a", "64k", "-ac", "1"]])),
        r("surround_51", "surround_51.mp4", Clip, "AAC 5.1 (six channels)",
          clip(t2("320x180", "25", 2.0), Some(sine(1109, 48000, 2.0)),
               &[&["-af", "aformat=channel_layouts=5.1"], X264,
                 &["-c:a", "aac", "-b:a", "128k"]])),
        r("no_audio", "no_audio.mp4", Clip, "video only",
          clip(video("color", "320x180", "25", 2.0), None, &[&["-vf", "drawgrid=w=40:h=40"], X264])),
        r("audio_longer", "audio_longer.mp4", Clip, "video 1.5 s, audio 2.5 s",
          clip(t2("320x180", "25", 1.5), Some(sine(1175, 48000, 2.5)), &[X264, AAC2])),
        r("audio_shorter", "audio_shorter.mp4", Clip, "video 2.5 s, audio 1.0 s",
          clip(t2("320x180", "25", 2.5), Some(sine(1245, 48000, 1.0)), &[X264, AAC2])),
        r("still", "still.png", Still, "PNG image 320x180, no duration",
          Make::Ffmpeg(args(&[&["-f", "lavfi", "-i", "smptebars=size=320x180:rate=1",
                                "-frames:v", "1"]]))),
        r("audio_only", "audio_only.m4a", AudioOnly, "AAC 48 kHz stereo, no video",
          Make::Ffmpeg({
              let mut a = sine(330, 48000, 2.0);
              a.extend(args(&[AAC2]));
              a
          })),
        r("missing", "missing.mp4", Broken, "path does not exist", Make::Missing),
        r("empty", "empty.mp4", Broken, "zero bytes", Make::Empty),
        r("random", "random.mp4", Broken, "64 KiB of random bytes", Make::Random(64 * 1024)),
        r("truncated_mkv", "truncated.mkv", Truncated, "HEVC mkv cut to 40 % of its bytes",
          Make::Truncate("hevc.mkv", 40)),
        r("truncated_mp4", "truncated.mp4", Broken, "mp4 cut to 40 %: no moov atom",
          Make::Truncate("landscape_25.mp4", 40)),
    ]
}

/// The whole matrix (generated on first use in this process, or reused from target/tmp).
pub fn fixtures() -> &'static [Fixture] {
    static CACHE: OnceLock<Vec<Fixture>> = OnceLock::new();
    CACHE.get_or_init(generate)
}

/// One fixture by name (panics on an unknown name).
pub fn fixture(name: &str) -> &'static Fixture {
    fixtures()
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fixture named {name}"))
}

fn generate() -> Vec<Fixture> {
    let recipes = recipes();
    let list = |dir: &Path| -> Vec<Fixture> {
        recipes
            .iter()
            .map(|r| Fixture {
                name: r.name,
                path: dir.join(r.file),
                kind: r.kind,
                note: r.note,
            })
            .collect()
    };
    let dir = generated_once("fixtures", &recipes, |work| {
        for r in &recipes {
            make(r, work);
        }
        verify(&list(work));
    });
    list(&dir)
}

/// `target/tmp/PREFIX-<hash of KEY>`, filled by `make` the first time: into a fresh folder
/// beside it, marked DONE, then renamed into place, so a run that dies half-way leaves
/// nothing behind and concurrent test processes settle on one copy.
pub fn generated_once<K: Hash + ?Sized>(
    prefix: &str,
    key: &K,
    make: impl FnOnce(&Path),
) -> PathBuf {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = base.join(format!("{prefix}-{:016x}", h.finish()));
    if dir.join("DONE").exists() {
        return dir;
    }
    fs::create_dir_all(&base).expect("create target tmp dir");
    let work = tempfile::Builder::new()
        .prefix(&format!("{prefix}-new-"))
        .tempdir_in(&base)
        .expect("generation work dir");
    let started = Instant::now();
    make(work.path());
    fs::write(work.path().join("DONE"), "").expect("write DONE");
    eprintln!(
        "{prefix}: generated in {:.1} s into {}",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    let work = work.keep();
    if fs::rename(&work, &dir).is_err() {
        // Another test process won the race; use its copy.
        let _ = fs::remove_dir_all(&work);
        assert!(dir.join("DONE").exists(), "{} unusable", dir.display());
    }
    dir
}

fn make(r: &Recipe, dir: &Path) {
    let out = dir.join(r.file);
    match &r.make {
        Make::Ffmpeg(a) => {
            let d = dir.display().to_string();
            let a: Vec<String> = a.iter().map(|s| s.replace("{dir}", &d)).collect();
            ffmpeg(&a, &out, &format!("fixture {}", r.name));
        }
        Make::Truncate(src, percent) => {
            let bytes = fs::read(dir.join(src)).expect("read truncate source");
            let n = bytes.len() * *percent as usize / 100;
            fs::write(&out, &bytes[..n]).expect("write truncated");
        }
        Make::Random(len) => {
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            let bytes: Vec<u8> = (0..*len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect();
            fs::write(&out, bytes).expect("write random");
        }
        Make::Empty => fs::write(&out, b"").expect("write empty"),
        Make::Missing => {}
    }
}

/// Check that the generated files really have the property they exist for.
fn verify(list: &[Fixture]) {
    let get = |n: &str| list.iter().find(|f| f.name == n).unwrap();
    let v = |n: &str| {
        probe_streams(&get(n).path)
            .into_iter()
            .find(|s| s.codec_type == "video")
            .unwrap_or_else(|| panic!("fixture {n}: no video stream"))
    };
    let a = |n: &str| {
        probe_streams(&get(n).path)
            .into_iter()
            .find(|s| s.codec_type == "audio")
            .unwrap_or_else(|| panic!("fixture {n}: no audio stream"))
    };
    let odd = v("odd_321x241");
    assert_eq!((odd.width, odd.height), (Some(321), Some(241)), "odd size");
    assert_eq!(v("h264_10bit").pix_fmt.as_deref(), Some("yuv420p10le"));
    assert_eq!(v("yuv444").pix_fmt.as_deref(), Some("yuv444p"));
    assert_eq!(v("hevc").codec_name, "hevc");
    assert_eq!(v("vp9_opus").codec_name, "vp9");
    assert_eq!(a("vp9_opus").codec_name, "opus");
    let rot = v("rotated_90").rotation;
    assert!(
        rot.is_some_and(|r| r.abs() == 90),
        "rotation side data: {rot:?}"
    );
    let m2 = v("mpeg2_interlaced");
    assert!(
        m2.codec_name == "mpeg2video" && m2.field_order.as_deref() == Some("tt"),
        "mpeg2 interlaced: {m2:?}"
    );
    let mp2 = a("mpeg2_interlaced");
    assert_eq!(
        (mp2.codec_name.as_str(), mp2.sample_rate),
        ("mp2", Some(44100))
    );
    assert_eq!(v("vp9_vorbis_22k").codec_name, "vp9");
    let vorbis = a("vp9_vorbis_22k");
    assert_eq!(
        (
            vorbis.codec_name.as_str(),
            vorbis.sample_rate,
            vorbis.channels
        ),
        ("vorbis", Some(22050), Some(1))
    );
    let mono = a("mono_44k");
    assert_eq!((mono.channels, mono.sample_rate), (Some(1), Some(44100)));
    assert_eq!(a("surround_51").channels, Some(6));
    assert!(probe_streams(&get("no_audio").path)
        .iter()
        .all(|s| s.codec_type != "audio"));
    assert!(probe_streams(&get("audio_only").path)
        .iter()
        .all(|s| s.codec_type != "video"));
    let (lv, la) = (v("audio_longer"), a("audio_longer"));
    assert!(
        la.duration_s.unwrap() > lv.duration_s.unwrap() + 0.8,
        "audio_longer"
    );
    let (sv, sa) = (v("audio_shorter"), a("audio_shorter"));
    assert!(
        sv.duration_s.unwrap() > sa.duration_s.unwrap() + 1.3,
        "audio_shorter"
    );
    assert_eq!(v("still").codec_name, "png");

    // VFR: the frame-to-frame steps must really vary.
    let steps: BTreeSet<i64> = {
        let mut pts: Vec<f64> = probe_packets(&get("vfr").path)
            .iter()
            .filter(|p| p.codec_type == "video")
            .filter_map(|p| p.pts_s())
            .collect();
        pts.sort_by(f64::total_cmp);
        pts.windows(2)
            .map(|w| ((w[1] - w[0]) * 1000.0).round() as i64)
            .collect()
    };
    assert!(
        steps.iter().any(|s| *s > 50) && steps.iter().any(|s| *s < 40),
        "vfr steps {steps:?}"
    );

    // Broken files must really fail to open.
    for f in list.iter().filter(|f| f.kind == Kind::Broken) {
        let ok = Command::new("ffprobe")
            .args(["-v", "quiet"])
            .arg(&f.path)
            .status()
            .expect("run ffprobe")
            .success();
        assert!(!ok, "fixture {} opens but should be broken", f.name);
    }
}

/// `OUT` from two lavfi sources: `video` (e.g. `testsrc2=…`) in H.264 ultrafast with a 1 s
/// GOP at 30 fps, and `audio` in `audio_codec`, as long as the shorter.
pub fn lavfi_clip(out: &Path, video: &str, audio: &str, audio_codec: &str) {
    let args: Vec<String> = [
        "-f",
        "lavfi",
        "-i",
        video,
        "-f",
        "lavfi",
        "-i",
        audio,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "30",
        "-c:a",
        audio_codec,
        "-shortest",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    ffmpeg(&args, out, &out.display().to_string());
}

/// `ffmpeg ARGS OUT`, quiet and overwriting; panics with `what` and ffmpeg's errors.
pub fn ffmpeg(args: &[String], out: &Path, what: &str) {
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .arg(out)
        .output()
        .expect("run ffmpeg");
    assert!(
        o.status.success(),
        "{what}: ffmpeg {args:?} {} failed: {}",
        out.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}
