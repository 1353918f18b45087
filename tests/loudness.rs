//! `audio.loudness`: items generated at about -35, -23 and -9 LUFS (the last clipped, with
//! peaks at 0 dBFS), a quiet one with bursts the gain pushes over the ceiling, and one of
//! silence play into nginx-rtmp; the recording, measured per item
//! with the ffmpeg CLI's `ebur128`, has every item at the target, true peaks under the
//! ceiling, no gain ramp at an item's start, and the silence still silent.
//!
//! The first run (unpaced) fills the measurement cache; the second, recorded, plays every item
//! from the cache with its static gain.
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::fixtures::{generated_once, lavfi_clip};
use common::*;

const TARGET: f64 = -23.0;
const PEAK: f64 = -1.0;
const ITEM_S: f64 = 10.0;
const LEAD_S: f64 = 4.0;
const NAMES: [&str; 4] = ["quiet.mkv", "mid.mkv", "loud.mkv", "spiky.mkv"];

/// (integrated LUFS, true peak dBTP) of `secs` of `path` from `from`.
fn r128(path: &Path, from: f64, secs: f64) -> (f64, f64) {
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-nostats", "-ss"])
        .arg(format!("{from:.3}"))
        .arg("-t")
        .arg(format!("{secs:.3}"))
        .arg("-i")
        .arg(path)
        .args(["-vn", "-af", "ebur128=peak=true", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let err = String::from_utf8_lossy(&o.stderr);
    let summary = err.rsplit("Summary:").next().unwrap_or("");
    let value = |label: &str| {
        summary
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {label} in ffmpeg's ebur128 summary:\n{err}"))
    };
    (value("I:"), value("Peak:"))
}

/// Momentary loudness every 100 ms over the whole recording: (seconds, LUFS).
fn momentary(path: &Path) -> Vec<(f64, f64)> {
    let o = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "verbose",
            "-i",
        ])
        .arg(path)
        .args(["-vn", "-af", "ebur128=framelog=verbose", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let err = String::from_utf8_lossy(&o.stderr);
    err.lines()
        .filter_map(|l| {
            let t = l
                .split("t:")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            let m = l
                .split(" M:")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some((t, m))
        })
        .collect()
}

/// The clips, generated once: pink noise scaled to about `lufs`, 320x180 testsrc2 picture,
/// PCM audio so that the level is exactly what was made (the loud one clips at 0 dBFS).
fn clips() -> PathBuf {
    generated_once("loudness-clips", "v2", |dir| {
        let picture = format!("testsrc2=size=320x180:rate=30:duration={ITEM_S}");
        let make =
            |name: &str, audio: &str| lavfi_clip(&dir.join(name), &picture, audio, "pcm_s16le");
        let noise = |db: f64| {
            format!(
                "anoisesrc=color=pink:amplitude=0.25:seed=7:sample_rate=48000:duration={ITEM_S},\
                 lowpass=f=12000,aformat=channel_layouts=stereo,volume={db}dB"
            )
        };
        // Pink noise is cut at 12 kHz, under the AAC encoder's own low-pass, so that what the
        // recording measures is the gain and not the codec. Amplitude 0.25 is about -27 LUFS; the gains put it near the
        // levels asked for (the test prints what each really is).
        make("quiet.mkv", &noise(-8.0));
        make("mid.mkv", &noise(4.0));
        make("loud.mkv", &noise(18.0));
        // Quiet noise with a 1 ms burst at -10.5 dBFS every 2 s: the gain to the target puts
        // the bursts about 3 dB over the ceiling, and the limiter must hold them.
        make(
            "spiky.mkv",
            &format!(
                "{}[n];aevalsrc=0.3*sin(2*PI*1000*t)*lt(mod(t\\,2)\\,0.001):s=48000:c=stereo:d={ITEM_S}[c];\
                 [n][c]amix=inputs=2:normalize=0",
                noise(-8.0)
            ),
        );
        make(
            "silent.mkv",
            &format!("anullsrc=channel_layout=stereo:sample_rate=48000,atrim=duration={ITEM_S}"),
        );
    })
}

/// `NAME.yaml` playing `NAME.playlist.yaml`: a slate of `lead` seconds (none for 0), then the
/// clips. Both channels keep their state, and so their loudness cache, in `loud.state.json`.
fn channel(dir: &Path, clips: &Path, name: &str, lead: f64) -> PathBuf {
    let item = |name: &str, title: &str| {
        format!(
            "  - path: {}\n    title: {title}\n",
            q(&clips.join(name).display().to_string())
        )
    };
    let lead = if lead > 0.0 {
        format!("  - slate: {lead}s\n")
    } else {
        String::new()
    };
    let playlist = format!(
        "items:\n{lead}{}{}{}{}{}",
        item("quiet.mkv", "Quiet"),
        item("mid.mkv", "Mid"),
        item("loud.mkv", "Loud"),
        item("spiky.mkv", "Spiky"),
        item("silent.mkv", "Silent"),
    );
    let playlist_path = dir.join(format!("{name}.playlist.yaml"));
    fs::write(&playlist_path, playlist).unwrap();
    ChannelFile::new(name, &playlist_path)
        .audio(&format!(
            "sample_rate: 48000, channels: 2, bitrate: 128k, loudness: {{ target_lufs: {TARGET}, true_peak_dbtp: {PEAK} }}"
        ))
        .extra("state: loud.state.json\n")
        .write(dir)
}

#[test]
fn every_item_plays_at_the_target_with_true_peaks_under_the_ceiling() {
    common::heavy();
    let clips = clips();
    let dir = tempfile::tempdir().unwrap();
    let warm = channel(dir.path(), &clips, "warm", 0.0);
    let warm_arg = warm.display().to_string();
    let ch = channel(dir.path(), &clips, "loud", LEAD_S);
    let ch_arg = ch.display().to_string();
    let for_ = format!("{}s", LEAD_S + 5.0 * ITEM_S);

    // Before: the clips as made.
    let mut before = Vec::new();
    for name in NAMES {
        let (i, tp) = r128(&clips.join(name), 0.0, ITEM_S);
        println!("source {name}: {i:.1} LUFS, true peak {tp:.1} dBTP");
        before.push((i, tp));
    }
    assert!(before[0].0 < -32.0 && before[1].0 > -26.0 && before[1].0 < -20.0);
    assert!(
        before[2].0 > -12.0 && before[2].1 > -0.5,
        "loud clip: {:?}",
        before[2]
    );
    assert!(
        before[3].0 < -30.0 && before[3].1 > -12.0,
        "spiky clip: {:?}",
        before[3]
    );

    // Run 1 fills the cache. It starts with an item the meter has not measured yet, which
    // airs with the single-pass normaliser: its recording must be as continuous as any.
    let sink = Nginx::start();
    let url = sink.url("warm");
    let run = run_playout_timeout(
        &[
            "run",
            &warm_arg,
            "--output",
            &url,
            "--for",
            &for_,
            "--unpaced",
        ],
        Duration::from_secs(120),
    );
    assert!(run.status.success(), "run 1: {}", tail(&run.stderr, 40));
    let dynamic = run.stderr.matches("not measured yet").count();
    let took: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("Loudness measured."))
        .filter_map(|l| l.split("seconds=").nth(1))
        .collect();
    println!(
        "run 1: {dynamic} items aired before they were measured; measuring took {took:?} s each"
    );
    assert!(dynamic >= 1, "{}", tail(&run.stderr, 40));
    let report = analyse(&single_recording(&sink, "warm"), 30, 1);
    println!("run 1 recording: {report}");
    let problems = report.problems(&Expect::new(320, 180));
    assert!(problems.is_empty(), "run 1 recording: {problems:#?}");
    let cache = dir.path().join("loud.loudness.json");
    let cached: serde_json::Value =
        serde_json::from_slice(&fs::read(&cache).expect("the loudness cache")).unwrap();
    println!("cache after run 1: {cached}");
    assert_eq!(cached.as_array().map(Vec::len), Some(5), "{cached}");
    // The meter's own figures agree with the ffmpeg CLI's.
    for (name, (i, _)) in NAMES.iter().zip(&before) {
        let e = cached
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"]["path"].as_str().is_some_and(|p| p.ends_with(name)))
            .unwrap_or_else(|| panic!("{name} not in the cache"));
        let mine = e["result"]["Ok"]["integrated"].as_f64().expect("a measure");
        println!("meter {name}: {mine:.2} LUFS (CLI {i:.2})");
        assert!((mine - i).abs() <= 0.3, "{name}: meter {mine}, CLI {i}");
    }

    // Run 2, recorded: every item from the cache.
    let nginx = Nginx::start();
    let url = nginx.url("loud");
    let run = run_playout_timeout(
        &["run", &ch_arg, "--output", &url, "--for", &for_],
        Duration::from_secs(120),
    );
    assert!(run.status.success(), "run 2: {}", tail(&run.stderr, 40));
    let statics = run.stderr.matches("Loudness: static gain").count();
    let silent = run.stderr.matches("Loudness: no gain.").count();
    assert_eq!(statics, 4, "{}", tail(&run.stderr, 40));
    assert_eq!(silent, 1, "{}", tail(&run.stderr, 40));
    assert!(!run.stderr.contains("not measured yet"));
    let rec = single_recording(&nginx, "loud");

    let mut problems = Vec::new();
    let names = ["Quiet", "Mid", "Loud", "Spiky"];
    let steps = momentary(&rec);
    for (k, name) in names.iter().enumerate() {
        let start = LEAD_S + k as f64 * ITEM_S;
        let (i, tp) = r128(&rec, start + 0.5, ITEM_S - 1.0);
        println!(
            "on air {name}: {i:.1} LUFS (was {:.1}), true peak {tp:.1} dBTP (was {:.1})",
            before[k].0, before[k].1
        );
        if (i - TARGET).abs() > 1.0 {
            problems.push(format!("{name}: {i:.1} LUFS, not within 1 LU of {TARGET}"));
        }
        if tp > PEAK + 0.5 {
            problems.push(format!("{name}: true peak {tp:.1} dBTP over {PEAK} + 0.5"));
        }
        // Momentary loudness (400 ms windows) is a window behind: from 0.5 s in it covers only
        // this item. Its first 3 s match the rest: no ramp, no step.
        let mean = |a: f64, b: f64| {
            let v: Vec<f64> = steps
                .iter()
                .filter(|(t, _)| *t >= start + a && *t < start + b)
                .map(|(_, m)| *m)
                .collect();
            assert!(
                v.len() >= 10,
                "{name}: {} momentary values in {a}..{b} s",
                v.len()
            );
            v.iter().sum::<f64>() / v.len() as f64
        };
        let (head, rest) = (mean(0.5, 3.0), mean(3.0, ITEM_S - 0.2));
        let jumps = steps
            .windows(2)
            .filter(|w| w[0].0 >= start + 0.5 && w[1].0 < start + ITEM_S - 0.1)
            .map(|w| (w[1].1 - w[0].1).abs())
            .fold(0.0, f64::max);
        println!(
            "on air {name}: momentary first 3 s {head:.1}, rest {rest:.1}, largest 100 ms step {jumps:.1} LU"
        );
        if (head - rest).abs() > 1.0 {
            problems.push(format!(
                "{name}: momentary loudness {head:.1} in the first 3 s, {rest:.1} after"
            ));
        }
    }
    let silent_start = LEAD_S + 4.0 * ITEM_S;
    let (i, _) = r128(&rec, silent_start + 0.5, ITEM_S - 1.0);
    println!("on air Silent: {i:.1} LUFS");
    if i > -60.0 {
        problems.push(format!("the silent item was amplified to {i:.1} LUFS"));
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
