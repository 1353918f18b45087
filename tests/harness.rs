//! Self-tests of the test harness (nginx ingest and its restart, the TLS front, the pausing
//! proxy, recording analysis, fixtures, YAML writers), using only the ffmpeg CLI as the
//! publisher, so they pass before `playout` does anything.
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Publish `secs` of 320x180@30 + 48 kHz stereo AAC with a 2 s GOP to `url`.
fn publish(url: &str, secs: f64) {
    let (ok, err) = try_publish(url, secs, &[]);
    assert!(ok, "publish failed: {err}");
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

/// ffmpeg publishing `secs` of a 320x180 test stream to `url` with extra output options;
/// returns (success, stderr).
fn try_publish(url: &str, secs: f64, opts: &[&str]) -> (bool, String) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=320x180:rate=30")
        .args(["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t"])
        .arg(secs.to_string())
        .args(X264)
        .args([
            "-g", "60", "-ac", "2", "-c:a", "aac", "-b:a", "64k", "-f", "flv",
        ])
        .args(opts)
        .arg(url)
        .output()
        .expect("run ffmpeg");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn nginx_restarts_on_the_same_port_and_publishes_are_timestamped() {
    let mut nginx = Nginx::start();
    let watch = PublishWatch::start(&nginx, "r");
    let t0 = Instant::now();
    publish(&nginx.url("r"), 0.5);
    assert!(watch.wait_after(t0, Duration::from_secs(2)).is_some());
    let port = nginx.port();
    let (down, up) = nginx.restart(Duration::from_millis(300));
    println!(
        "restart: accepting again {:.0} ms after the kill returned",
        (up - down).as_secs_f64() * 1000.0
    );
    assert_eq!(nginx.port(), port);
    assert!(up - down >= Duration::from_millis(300));
    let t = Instant::now();
    publish(&nginx.url("r"), 0.5);
    let seen = watch
        .wait_after(up, Duration::from_secs(2))
        .expect("publish seen");
    println!(
        "second publish seen {:.0} ms after ffmpeg started",
        seen.saturating_duration_since(t).as_secs_f64() * 1000.0
    );
    assert!(nginx.wait_idle(Duration::from_secs(5)), "{}", nginx.logs());
    assert_eq!(watch.count(), 2);
    assert_eq!(nginx.publish_count("r"), 2);
    // Two sessions a second or more apart: two files (same-second sessions share a name).
    assert!(!nginx.recordings_of("r").is_empty());
}

#[test]
fn tls_front_terminates_rtmps_and_verifies_with_its_certificate() {
    let nginx = Nginx::start_with_tls();
    let cert = nginx.cert_path().display().to_string();
    let url = nginx.tls_url("t");
    let (ok, err) = try_publish(&url, 2.0, &["-tls_verify", "1", "-ca_file", &cert]);
    assert!(
        ok,
        "rtmps publish with ca_file failed: {err}\n{}",
        nginx.logs()
    );
    let rec = single_recording(&nginx, "t");
    let report = analyse(&rec, 30, 1);
    println!("{report}");
    let mut expect = Expect::new(320, 180);
    expect.duration = Some(2.0);
    assert_eq!(report.problems(&expect), Vec::<String>::new());

    // Verification without the CA file must fail: the certificate is self-signed.
    let (ok, err) = try_publish(&url, 0.5, &["-tls_verify", "1"]);
    println!("verify without ca_file: ok={ok} {}", err.trim());
    assert!(!ok, "a self-signed certificate was trusted without ca_file");
    assert_eq!(nginx.publish_count("t"), 1);
}

#[test]
fn proxy_forwards_pauses_and_resumes() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    // A sink that reads and discards everything.
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in sink.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let mut b = [0u8; 65536];
                while matches!(c.read(&mut b), Ok(n) if n > 0) {}
            });
        }
    });
    let proxy = Proxy::start(sink_port);
    let mut c = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
    c.set_write_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let chunk = vec![7u8; 4096];
    for _ in 0..256 {
        c.write_all(&chunk).unwrap();
    }
    let t = Instant::now();
    while proxy.bytes_up() < 256 * 4096 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(proxy.bytes_up(), 256 * 4096, "1 MiB forwarded");

    proxy.pause();
    std::thread::sleep(Duration::from_millis(50));
    let before = proxy.bytes_up();
    // Write until a write blocks for 300 ms: what the kernel buffers absorb while paused.
    let mut absorbed = 0usize;
    let t = Instant::now();
    while let Ok(n) = c.write(&chunk) {
        absorbed += n;
        assert!(t.elapsed() < Duration::from_secs(20), "writes never block");
    }
    println!(
        "paused proxy: a writer blocked after {absorbed} bytes ({:.0} KiB) absorbed by kernel \
         buffers (its send buffer + the proxy's receive buffer); forwarded meanwhile {} bytes",
        absorbed as f64 / 1024.0,
        proxy.bytes_up() - before
    );
    let held = proxy::held_bytes(proxy.port());
    println!(
        "of which held in the proxy's receive buffer: {held:?} bytes (SO_RCVBUF {})",
        proxy::RCVBUF
    );
    if let Some(h) = held {
        assert!(h <= 4 * proxy::RCVBUF as u64, "{h} bytes held");
    }
    assert!(proxy.bytes_up() - before <= proxy::CHUNK as u64);
    // A connection during the pause is accepted but not served.
    let _c2 = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!((proxy.accepted(), proxy.served()), (2, 1));

    proxy.resume();
    let t = Instant::now();
    while proxy.bytes_up() < before + absorbed as u64 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        proxy.bytes_up() >= before + absorbed as u64,
        "buffered data forwarded"
    );
    assert_eq!(proxy.served(), 2);
    c.write_all(&chunk).unwrap();
}
