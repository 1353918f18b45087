//! `make bench`: what playout costs against the floor, the ffmpeg CLI doing the same work.
//!
//! On a generated content matrix (eight shapes of 1280x720-channel content, about two minutes)
//! with x264 veryfast 3 Mbit/s and AAC 128k, several interleaved runs of:
//!
//! 1. `playout run --unpaced` over exactly one pass of the matrix, into `file:/dev/null`:
//!    CPU seconds per minute of output, speed as a multiple of real time, peak RSS;
//! 2. the floor: `ffmpeg` transcoding each clip alone with the same filter chains (printed by
//!    `playout probe`) and encoder settings to FLV in /dev/null, no splicing, no pacing;
//! 3. their ratio (target: at most 1.05; reported, not enforced);
//! 4. the time from starting a paced `playout run` to the first coded frame recorded by a
//!    local nginx-rtmp;
//! 5. the extra CPU of an item boundary: one 60 s item against the same frames as 30 × 2 s
//!    items, both unpaced for 60 s;
//! 6. the cost of the broadcast finish: the same pass with `audio.loudness` (measured gains
//!    from a warm cache and the limiter), a logo and a lower third, as a ratio to run 1.
//!
//! CPU and peak RSS come from `wait4` on exactly the measured process. The table goes to stdout
//! and target/bench/channel.txt. As a test (`cargo test --bench channel`, in `make test`), the
//! same code runs once on tiny media (320x180, 2 s clips) and checks the numbers are sane, so
//! the bench cannot rot unnoticed.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "channel/measure.rs"]
mod measure;
#[path = "channel/media.rs"]
mod media;
#[path = "channel/report.rs"]
mod report;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{q, write_playlist_named, ItemSpec, Nginx};
use measure::{Encoding, FirstPacket, FloorJob, Usage};
use report::{Results, Samples};

/// One size of the bench: the full 720p run or the smoke run.
struct Scale {
    name: &'static str,
    runs: usize,
    recipes: media::Recipes,
    width: u32,
    height: u32,
    fps: u32,
    preset: &'static str,
    bitrate_k: u32,
    audio_k: u32,
    /// How long a paced run may take to deliver its first keyframe.
    first_packet_timeout: Duration,
}

fn main() {
    let started = Instant::now();
    let full = std::env::args().any(|a| a == "--bench");
    let scale = if full {
        let runs = std::env::var("PLAYOUT_BENCH_RUNS")
            .ok()
            .and_then(|r| r.parse().ok())
            .filter(|&r| r > 0)
            .unwrap_or(5);
        Scale {
            name: "720p",
            runs,
            recipes: media::full(),
            width: 1280,
            height: 720,
            fps: 30,
            preset: "veryfast",
            bitrate_k: 3000,
            audio_k: 128,
            first_packet_timeout: Duration::from_secs(30),
        }
    } else {
        Scale {
            name: "smoke",
            runs: 1,
            recipes: media::tiny(),
            width: 320,
            height: 180,
            fps: 30,
            preset: "ultrafast",
            bitrate_k: 400,
            audio_k: 128,
            first_packet_timeout: Duration::from_secs(10),
        }
    };
    let results = run(&scale);
    let text = results.table(&scale);
    println!("{text}");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("bench");
    fs::create_dir_all(&out).expect("create target/bench");
    let file = out.join(if full {
        "channel.txt"
    } else {
        "channel-smoke.txt"
    });
    fs::write(&file, &text).expect("write the bench table");
    eprintln!(
        "bench {}: {:.0} s in all; table written to {}",
        scale.name,
        started.elapsed().as_secs_f64(),
        file.display()
    );
    if !full {
        results.assert_sane(&text);
    }
}

fn run(s: &Scale) -> Results {
    let media = media::generate(&s.recipes);
    let dir = tempfile::Builder::new()
        .prefix("playout-bench-")
        .tempdir()
        .expect("bench dir");
    let d = dir.path();
    let items: Vec<ItemSpec> = media
        .matrix
        .iter()
        .map(|c| ItemSpec::clip(&c.path).title(c.name))
        .collect();
    let playlist = |file: &str, items: &[ItemSpec]| write_playlist_named(d, file, items);
    let matrix_list = playlist("matrix-playlist.yaml", &items);
    let matrix = write_channel(d, "matrix", s, &matrix_list);
    let first = write_channel(d, "first", s, &matrix_list);
    let logo = d.join("logo.png");
    common::fixtures::ffmpeg(
        &[
            "-f".into(),
            "lavfi".into(),
            "-i".into(),
            "color=c=0x2080ff@0.9:s=200x100,format=rgba".into(),
            "-frames:v".into(),
            "1".into(),
        ],
        &logo,
        "bench logo",
    );
    let finish = write_channel_with(
        d,
        "finish",
        s,
        &matrix_list,
        &format!(
            "overlay: {{ image: {}, position: top-right, opacity: 0.8, scale: 0.12 }}\n\
             text: {{ template: \"{{title}}\", position: bottom-left, from: 1s, for: 5s }}\n",
            q(&logo.display().to_string())
        ),
        ", loudness: { target_lufs: -23, true_peak_dbtp: -1 }",
    );
    let prepared = write_channel_with(d, "prepared", s, &matrix_list, "prepare: {}\n", "");
    // Half the matrix prepared (every other item), the other half encoded: a library part
    // way through its background preparation, with the preparer off so that only playing
    // is measured.
    let half_extra = "prepare: { folder: half-copies, background: false }\n";
    let every_other: Vec<ItemSpec> = items.iter().step_by(2).cloned().collect();
    let half_list = playlist("half-playlist.yaml", &every_other);
    let half = write_channel_with(d, "half", s, &half_list, half_extra, "");
    let long = write_channel(
        d,
        "long",
        s,
        &playlist("long-playlist.yaml", &[ItemSpec::clip(&media.long)]),
    );
    let pieces: Vec<ItemSpec> = media.pieces.iter().map(ItemSpec::clip).collect();
    let pieces = write_channel(d, "pieces", s, &playlist("pieces-playlist.yaml", &pieces));

    let mut r = Results {
        clips: media
            .matrix
            .iter()
            .map(|c| (c.name.to_string(), c.note.to_string()))
            .collect(),
        floor_clip_cpu_min: vec![Samples::default(); media.matrix.len()],
        ..Results::default()
    };
    // One pass: the slots of the matrix, as the scheduler lays them out.
    let slots = schedule(&matrix);
    assert!(slots.len() > items.len(), "schedule of one pass: {slots:?}");
    for (slot, clip) in slots.iter().zip(&media.matrix) {
        assert_eq!(slot.0, clip.name, "slot order: {slots:?}");
    }
    r.pass_ms = slots[items.len() - 1].2;
    let jobs: Vec<FloorJob> = media
        .matrix
        .iter()
        .map(|c| floor_job(&matrix, &c.path))
        .collect();
    let enc = Encoding {
        preset: s.preset.to_string(),
        bitrate_k: s.bitrate_k,
        gop: 2 * s.fps,
        audio_k: s.audio_k,
    };
    // Boundaries crossed in the window: slot starts after 0 and before its end.
    let b = &s.recipes.boundary;
    let window_ms = i64::from(b.seconds) * 1000;
    let crossed = |ch: &Path| {
        schedule(ch)
            .iter()
            .filter(|x| x.1 > 0 && x.1 < window_ms)
            .count()
    };
    assert_eq!(
        crossed(&long),
        0,
        "the long clip must fill the window alone"
    );
    r.boundaries = crossed(&pieces);
    assert!(r.boundaries > 0, "no boundary in the pieces' window");
    r.boundary_desc = format!(
        "{} × {} s vs 1 × {} s, {} boundaries in {} s",
        media.pieces.len(),
        b.piece_s,
        b.seconds,
        r.boundaries,
        b.seconds
    );

    // Warm-up (not measured): fills the page cache and counts the frames playout encodes in
    // a pass (the floor counts its own in every run, from `-progress`).
    let check = d.join("check.flv");
    measure::playout_unpaced(&matrix, r.pass_ms, &format!("file:{}", check.display()));
    r.playout_frames = common::probe_packets(&check)
        .iter()
        .filter(|p| p.codec_type == "video")
        .count() as u64;
    let _ = fs::remove_file(&check);
    // And fills the finish channel's loudness cache, so that its measured runs play static
    // gains as a channel that has been on air for a while does.
    measure::playout_unpaced(&finish, r.pass_ms, "file:/dev/null");
    let secs = |frames: u64| frames as f64 / f64::from(s.fps);
    let playout_s = secs(r.playout_frames);

    // The conformed copies, made once (the one-time cost), and how many items of a pass
    // play from them.
    let u = measure::playout_prepare(&prepared);
    r.prepare_cpu_min.push(u.cpu / (playout_s / 60.0));
    r.passed_items = (passed_items(&prepared, r.pass_ms), items.len());
    measure::playout_prepare(&half);
    // The same channel (its name is part of the copies' keys), now with the whole matrix.
    let half = write_channel_with(d, "half", s, &matrix_list, half_extra, "");
    r.half_passed_items = passed_items(&half, r.pass_ms);

    let nginx = Nginx::start();
    for i in 0..s.runs {
        let sides: [bool; 2] = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for playout_side in sides {
            if playout_side {
                let u = measure::playout_unpaced(&matrix, r.pass_ms, "file:/dev/null");
                r.playout_cpu_min.push(u.cpu / (playout_s / 60.0));
                r.playout_speed.push(playout_s / u.wall);
                r.playout_rss_mib.push(u.max_rss_kib as f64 / 1024.0);
            } else {
                let mut total = Usage::default();
                r.floor_frames = 0;
                for (k, job) in jobs.iter().enumerate() {
                    let (u, frames) = measure::floor(job, &enc, Path::new("/dev/null"));
                    r.floor_clip_cpu_min[k].push(u.cpu / (secs(frames) / 60.0));
                    r.floor_frames += frames;
                    total.cpu += u.cpu;
                    total.wall += u.wall;
                    total.max_rss_kib = total.max_rss_kib.max(u.max_rss_kib);
                }
                let floor_s = secs(r.floor_frames);
                r.floor_cpu_min.push(total.cpu / (floor_s / 60.0));
                r.floor_speed.push(floor_s / total.wall);
                r.floor_rss_mib.push(total.max_rss_kib as f64 / 1024.0);
            }
        }
        let u = measure::playout_unpaced(&finish, r.pass_ms, "file:/dev/null");
        r.finish_cpu_min.push(u.cpu / (playout_s / 60.0));
        let u = measure::playout_unpaced(&prepared, r.pass_ms, "file:/dev/null");
        r.passthrough_cpu_min.push(u.cpu / (playout_s / 60.0));
        r.passthrough_rss_mib.push(u.max_rss_kib as f64 / 1024.0);
        let u = measure::playout_unpaced(&half, r.pass_ms, "file:/dev/null");
        r.half_cpu_min.push(u.cpu / (playout_s / 60.0));
        let order = if i % 2 == 0 {
            [&long, &pieces]
        } else {
            [&pieces, &long]
        };
        let [x, y] = order.map(|ch| measure::playout_unpaced(ch, window_ms, "file:/dev/null").cpu);
        let (one, many) = if i % 2 == 0 { (x, y) } else { (y, x) };
        r.boundary_extra_ms
            .push((many - one) * 1000.0 / r.boundaries as f64);
        let _ = fs::remove_file(d.join("first.state.json"));
        let stream = format!("bench{i}");
        let fp = measure::first_packet(&first, &nginx, &stream, s.first_packet_timeout);
        let FirstPacket {
            media_ms,
            keyframe_ms,
        } = fp.unwrap_or_else(|| {
            panic!(
                "no coded frame at the ingest within {:?}\n{}",
                s.first_packet_timeout,
                common::tail(&nginx.logs(), 40)
            )
        });
        r.first_media_ms.push(media_ms);
        r.first_key_ms.push(keyframe_ms);
        eprintln!(
            "bench {} run {}/{}: playout {:.2} CPU-s/min, floor {:.2}, first packet {:.0} ms, \
             boundary {:+.1} ms",
            s.name,
            i + 1,
            s.runs,
            r.playout_cpu_min.0[i],
            r.floor_cpu_min.0[i],
            media_ms,
            r.boundary_extra_ms.0[i]
        );
    }
    r.load_after = report::load();
    r
}

/// Items of one pass that `channel` plays from conformed copies (its log says so per item).
fn passed_items(channel: &Path, pass_ms: i64) -> usize {
    let out = Command::new(env!("CARGO_BIN_EXE_playout"))
        .arg("run")
        .arg(channel)
        .args([
            "--unpaced",
            "--for",
            &format!("{pass_ms}ms"),
            "--output",
            "file:/dev/null",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("run playout");
    String::from_utf8_lossy(&out.stderr)
        .matches("Item passed through from its conformed copy.")
        .count()
}

/// `DIR/NAME.yaml`: the bench's channel (`maxrate` defaults to the bitrate, `bufsize` to
/// twice it, as the floor's options spell out).
fn write_channel(dir: &Path, name: &str, s: &Scale, playlist: &Path) -> PathBuf {
    write_channel_with(dir, name, s, playlist, "", "")
}

/// `write_channel` with `extra` top-level YAML and `audio_extra` inside the `audio` mapping;
/// `prepare: false` unless `extra` has a `prepare:` (what is measured is the encode path).
fn write_channel_with(
    dir: &Path,
    name: &str,
    s: &Scale,
    playlist: &Path,
    extra: &str,
    audio_extra: &str,
) -> PathBuf {
    let yaml = format!(
        "name: {name}\nplaylist: {playlist}\n\
         video: {{ width: {w}, height: {h}, fps: {fps}, bitrate: {b}k, preset: {p}, \
         keyframe_interval: 2s }}\n\
         audio: {{ sample_rate: 48000, channels: 2, bitrate: {a}k{audio_extra} }}\n\
         slate: {{ text: \"Back soon\" }}\n{extra}{prepare}",
        prepare = if extra.contains("prepare:") {
            ""
        } else {
            "prepare: false\n"
        },
        name = q(name),
        playlist = q(&playlist.display().to_string()),
        w = s.width,
        h = s.height,
        fps = s.fps,
        b = s.bitrate_k,
        p = s.preset,
        a = s.audio_k,
    );
    let path = dir.join(format!("{name}.yaml"));
    fs::write(&path, yaml).expect("write channel file");
    path
}

/// `playout schedule` for an hour from a fixed start: (title, start ms, stop ms) per slot.
fn schedule(channel: &Path) -> Vec<(String, i64, i64)> {
    const FROM: &str = "2026-01-01T00:00:00Z";
    let out = playout(&[
        "schedule",
        &channel.display().to_string(),
        "--from",
        FROM,
        "--for",
        "1h",
        "--format",
        "json",
    ]);
    let ms = |t: &serde_json::Value| -> i64 {
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).expect("RFC 3339 time");
        (at(t.as_str().expect("a time")) - at(FROM)).num_milliseconds()
    };
    let v: serde_json::Value = serde_json::from_str(&out).expect("schedule JSON");
    v.as_array()
        .expect("a list of slots")
        .iter()
        .map(|p| {
            let title = p["title"].as_str().unwrap_or_default().to_string();
            (title, ms(&p["start"]), ms(&p["stop"]))
        })
        .collect()
}

/// The filter chains playout builds for `clip`, from `playout probe`.
fn floor_job(channel: &Path, clip: &Path) -> FloorJob {
    let out = playout(&[
        "probe",
        "--channel",
        &channel.display().to_string(),
        &clip.display().to_string(),
    ]);
    let chain = |key: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key:?} line in `playout probe`:\n{out}"))
            .trim()
            .to_string()
    };
    FloorJob {
        clip: clip.to_path_buf(),
        vf: chain("video filters:"),
        af: chain("audio filters:"),
    }
}

/// stdout of a short `playout` command that must succeed.
fn playout(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_playout"))
        .args(args)
        .output()
        .expect("run playout");
    assert!(
        o.status.success(),
        "playout {args:?}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}
