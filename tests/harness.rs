//! Self-tests of the test harness (nginx ingest, recording analysis, fixtures, YAML writers),
//! using only the ffmpeg CLI as the publisher, so they pass before `playout` does anything.
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Publish `secs` of 320x180@30 + 48 kHz stereo AAC with a 2 s GOP to `url`.
fn publish(url: &str, secs: f64) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=320x180:rate=30")
        .args(["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t"])
        .arg(secs.to_string())
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args([
            "-g", "60", "-ac", "2", "-c:a", "aac", "-b:a", "64k", "-f", "flv",
        ])
        .arg(url)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "publish failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn nginx_records_a_publish_and_report_measures_it() {
    let nginx = Nginx::start();
    publish(&nginx.url("x"), 4.0);
    let rec = single_recording(&nginx, "x");
    let report = analyse(&rec, 30, 1);
    println!("{report}");

    let mut expect = Expect::new(320, 180);
    expect.duration = Some(4.0);
    // The ffmpeg CLI pads the last AAC frame: audio may end up to one AAC frame + priming late.
    expect.max_av_end_diff_ms = 50.0;
    let problems = report.problems(&expect);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(report.video_packets, 120);
    assert_eq!(report.decoded_frames, 120);
    assert_eq!(report.keyframes.len(), 2);
    assert!(report.audio_packets > 180, "{}", report.audio_packets);
    assert!((report.max_step_ms - 34.0).abs() < 0.01 && (report.min_step_ms - 33.0).abs() < 0.01);
    assert_eq!(decode_errors(&rec), "");

    // A second session is a second publish, even when nginx reuses the file name.
    publish(&nginx.url("x"), 0.3);
    assert!(nginx.wait_idle(Duration::from_secs(10)));
    assert_eq!(nginx.publish_count("x"), 2);
}

#[test]
fn report_flags_discontinuities() {
    // A 25 fps stream analysed as 30 fps: every step is off, keyframes are 2.4 s apart.
    let nginx = Nginx::start();
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=160x90:rate=25:duration=3")
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "60",
            "-f",
            "flv",
        ])
        .arg(nginx.url("y"))
        .output()
        .expect("ffmpeg");
    assert!(out.status.success());
    let report = analyse(&single_recording(&nginx, "y"), 30, 1);
    println!("{report}");
    let mut expect = Expect::new(320, 180);
    expect.duration = Some(3.0);
    let problems = report.problems(&expect);
    println!("{problems:#?}");
    assert_eq!(report.bad_steps.len(), 74);
    assert_eq!(report.frame_sizes, vec![((160, 90), 75)]);
    assert!(problems.iter().any(|p| p.contains("frame sizes")));
    assert!(problems.iter().any(|p| p.contains("video steps")));
    assert!(problems.iter().any(|p| p.contains("keyframe intervals")));
    assert!(problems.iter().any(|p| p.contains("no audio packets")));
}

#[test]
fn fixtures_are_generated_and_verified() {
    let started = Instant::now();
    let all = fixtures();
    println!(
        "{} fixtures ready in {:.1} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
    for f in all {
        println!(
            "  {:<18} {:<10} {}",
            f.name,
            format!("{:?}", f.kind),
            f.note
        );
        assert_eq!(f.path.exists(), f.name != "missing", "{}", f.name);
    }
    assert!(all.iter().filter(|f| f.kind == Kind::Broken).count() >= 4);
}

#[test]
fn yaml_writers_produce_valid_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let items = vec![
        ItemSpec::clip("/abs/a \"quoted\".mp4")
            .title("A: colon")
            .inpoint("0.5s")
            .out("2s"),
        ItemSpec::slate("1s"),
    ];
    let pl = write_playlist(dir.path(), &items);
    let ch = write_channel(
        dir.path(),
        "test",
        320,
        180,
        "29.97",
        &pl,
        "http: { listen: 127.0.0.1:0 }\n",
    );
    let pl: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(pl).unwrap()).unwrap();
    let ch: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(ch).unwrap()).unwrap();
    assert_eq!(
        pl["items"][0]["path"].as_str(),
        Some("/abs/a \"quoted\".mp4")
    );
    assert_eq!(pl["items"][0]["in"].as_str(), Some("0.5s"));
    assert_eq!(pl["items"][1]["slate"].as_str(), Some("1s"));
    assert_eq!(ch["playlist"].as_str(), Some("playlist.yaml"));
    assert_eq!(ch["video"]["fps"].as_f64(), Some(29.97));
    assert_eq!(ch["http"]["listen"].as_str(), Some("127.0.0.1:0"));
    assert_eq!(fps_ratio("29.97"), (30000, 1001));
    assert_eq!(fps_ratio("23.976"), (24000, 1001));
    assert_eq!(fps_ratio("30"), (30, 1));
}
