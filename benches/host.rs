//! `make bench`, channels on one machine: `playout run DIR` with N channels, each pushing RTMP
//! to a local nginx-rtmp and writing HLS, paced, for a measured window.
//!
//! - **From copies**: every channel plays the same three 720p30 3 Mbit/s clips from conformed
//!   copies made once beforehand (`playout prepare`, into one folder the channels share: the
//!   copies' keys do not hold the channel's name), for N = 1, 10, 25 and 50.
//! - **Encoding**: the same channels with `prepare: false`, for N = 1, 2, 3… until the worst
//!   drift passes 100 ms (where the encode path stops on this machine).
//!
//! For each N: the CPU cores of the host and its children together over the window (from
//! /proc, utime + stime), the children's mean and largest RSS, the host's own RSS, the worst
//! |drift| of any channel (`playout_wallclock_drift_seconds`, through the host's /metrics),
//! the packets dropped (`playout_output_dropped_packets_total`), the underruns
//! (`playout_air_underruns_total`), and the time from starting the host to every channel on
//! air (`/api/v1/channels`).
//!
//! As a test (`cargo test --bench host`, in `make test`) the same code runs once, tiny: 320x180
//! clips, N = 2 from copies and N = 1 encoding, an 8 s window, and checks the numbers are sane.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::nginx::{free_port, Nginx};
use common::watch::http_get;

struct Scale {
    name: &'static str,
    size: (u32, u32),
    bitrate_k: u32,
    preset: &'static str,
    clip_s: u32,
    copies: Vec<usize>,
    /// Encoding channels are added one at a time up to this many (or until drift).
    max_encoding: usize,
    window: Duration,
}

/// One host run.
#[derive(Clone, Debug, Default)]
struct Row {
    n: usize,
    cores: f64,
    rss_child_mean_mib: f64,
    rss_child_max_mib: f64,
    rss_host_mib: f64,
    worst_drift_ms: f64,
    dropped: f64,
    underruns: f64,
    on_air_s: f64,
}

/// The drift above which a channel no longer keeps up.
const DRIFT_LIMIT_MS: f64 = 100.0;

fn main() {
    let started = Instant::now();
    let full = std::env::args().any(|a| a == "--bench");
    let s = if full {
        Scale {
            name: "720p",
            size: (1280, 720),
            bitrate_k: 3000,
            preset: "veryfast",
            clip_s: 20,
            copies: vec![1, 10, 25, 50],
            max_encoding: 8,
            window: Duration::from_secs(60),
        }
    } else {
        Scale {
            name: "smoke",
            size: (320, 180),
            bitrate_k: 300,
            preset: "ultrafast",
            clip_s: 4,
            copies: vec![2],
            max_encoding: 1,
            window: Duration::from_secs(8),
        }
    };
    let dir = tempfile::Builder::new()
        .prefix("playout-bench-host-")
        .tempdir()
        .expect("bench dir");
    let d = dir.path();
    let clips = make_clips(d, &s);
    let copies = d.join("copies");
    let prepare_took = prepare(d, &s, &clips, &copies);
    let nginx = Nginx::start();
    let mut from_copies = Vec::new();
    for &n in &s.copies {
        from_copies.push(host_run(d, &s, &clips, &nginx, n, Some(&copies)));
    }
    let mut encoding = Vec::new();
    for n in 1..=s.max_encoding {
        let row = host_run(d, &s, &clips, &nginx, n, None);
        let over = row.worst_drift_ms > DRIFT_LIMIT_MS || row.dropped > 0.0;
        encoding.push(row);
        if over {
            break;
        }
    }
    let text = table(&s, prepare_took, &from_copies, &encoding);
    println!("{text}");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("bench");
    fs::create_dir_all(&out).expect("create target/bench");
    let file = out.join(if full { "host.txt" } else { "host-smoke.txt" });
    fs::write(&file, &text).expect("write the bench table");
    eprintln!(
        "bench host {}: {:.0} s in all; table written to {}",
        s.name,
        started.elapsed().as_secs_f64(),
        file.display()
    );
    if !full {
        for r in from_copies.iter().chain(&encoding) {
            assert!(r.cores > 0.0 && r.cores < 2.5, "cores: {r:?}\n{text}");
            assert!(r.rss_child_mean_mib > 10.0, "child RSS: {r:?}\n{text}");
            assert!(r.rss_host_mib > 1.0, "host RSS: {r:?}\n{text}");
            assert!(
                r.on_air_s > 0.0 && r.on_air_s < 60.0,
                "on air: {r:?}\n{text}"
            );
            assert!(r.worst_drift_ms.is_finite(), "drift: {r:?}\n{text}");
        }
    }
}

/// Three clips of the channel's own shape, so that copies pass through.
fn make_clips(d: &Path, s: &Scale) -> Vec<PathBuf> {
    let (w, h) = s.size;
    ["testsrc2", "smptebars", "rgbtestsrc"]
        .iter()
        .enumerate()
        .map(|(i, src)| {
            let out = d.join(format!("clip{i}.mp4"));
            let args: Vec<String> = [
                "-f".into(),
                "lavfi".into(),
                "-i".into(),
                format!("{src}=s={w}x{h}:r=30:d={}", s.clip_s),
                "-f".into(),
                "lavfi".into(),
                "-i".into(),
                format!("sine=f={}:r=48000:d={}", 300 + 100 * i, s.clip_s),
                "-c:v".into(),
                "libx264".into(),
                "-preset".into(),
                "ultrafast".into(),
                "-pix_fmt".into(),
                "yuv420p".into(),
                "-c:a".into(),
                "aac".into(),
                "-shortest".into(),
            ]
            .to_vec();
            common::fixtures::ffmpeg(&args, &out, "bench clip");
            out
        })
        .collect()
}

fn playlist(d: &Path, clips: &[PathBuf]) -> PathBuf {
    let p = d.join("bench.playlist.yaml");
    let mut text = String::from("items:\n");
    for (i, c) in clips.iter().enumerate() {
        let _ = writeln!(
            text,
            "  - path: {}\n    title: Clip {i}",
            common::q(&c.display().to_string())
        );
    }
    fs::write(&p, text).expect("playlist");
    p
}

fn channel_text(s: &Scale, playlist: &Path, extra: &str) -> String {
    let (w, h) = s.size;
    format!(
        "name: Bench\nplaylist: {}\n\
         video: {{ width: {w}, height: {h}, fps: 30, bitrate: {}k, preset: {}, keyframe_interval: 2s }}\n\
         audio: {{ sample_rate: 48000, channels: 2, bitrate: 128k }}\n{extra}",
        common::q(&playlist.display().to_string()),
        s.bitrate_k,
        s.preset,
    )
}

/// The copies every channel plays: made once, by `playout prepare`.
fn prepare(d: &Path, s: &Scale, clips: &[PathBuf], copies: &Path) -> Duration {
    let pl = playlist(d, clips);
    let file = d.join("prepare.yaml");
    fs::write(
        &file,
        channel_text(
            s,
            &pl,
            &format!(
                "prepare: {{ folder: {} }}\noutputs:\n  - url: \"file:/dev/null\"\n",
                common::q(&copies.display().to_string())
            ),
        ),
    )
    .unwrap();
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_playout"))
        .arg("prepare")
        .arg(&file)
        .output()
        .expect("playout prepare");
    assert!(
        out.status.success(),
        "playout prepare: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    t0.elapsed()
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// The host's children, by id, once all are on air.
fn children(port: u16) -> Option<BTreeMap<String, u32>> {
    let (status, body) = http_get(port, "/api/v1/channels")?;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let list = v["channels"].as_array()?;
    let mut out = BTreeMap::new();
    for c in list {
        if c["state"] != "on_air" {
            return None;
        }
        out.insert(c["id"].as_str()?.to_string(), c["pid"].as_u64()? as u32);
    }
    Some(out)
}

/// The sum of a metric over every channel of a host's scrape.
fn sum(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn worst_abs(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |m, x| m.max(x.abs()))
}

/// One host with `n` channels, from `copies` or encoding; measured over the window.
fn host_run(
    d: &Path,
    s: &Scale,
    clips: &[PathBuf],
    nginx: &Nginx,
    n: usize,
    copies: Option<&Path>,
) -> Row {
    let kind = if copies.is_some() { "copies" } else { "encode" };
    let dir = d.join(format!("host-{kind}-{n}"));
    fs::create_dir_all(&dir).unwrap();
    let pl = playlist(&dir, clips);
    let port = free_port();
    fs::write(
        dir.join("host.yaml"),
        format!("http: {{ listen: \"127.0.0.1:{port}\" }}\n"),
    )
    .unwrap();
    let prepare = match copies {
        Some(c) => format!(
            "prepare: {{ folder: {}, background: false }}\n",
            common::q(&c.display().to_string())
        ),
        None => "prepare: false\n".to_string(),
    };
    for i in 0..n {
        let id = format!("ch-{i:02}");
        let outputs = format!(
            "outputs:\n  - name: rtmp\n    url: {}\n  - name: web\n    url: \"hls:hls-{id}\"\n",
            common::q(&nginx.url(&format!("{kind}-{n}-{id}")))
        );
        fs::write(
            dir.join(format!("{id}.channel.yaml")),
            channel_text(s, &pl, &format!("{prepare}{outputs}")),
        )
        .unwrap();
    }
    let t0 = Instant::now();
    let mut host: Child = Command::new(env!("CARGO_BIN_EXE_playout"))
        .arg("run")
        .arg(&dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("host.log")).unwrap())
        .spawn()
        .expect("playout run DIR");
    let pids = loop {
        if let Some(p) = children(port).filter(|p| p.len() == n) {
            break p;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "{n} channels ({kind}) not on air within 120 s: {}",
            common::tail(
                &fs::read_to_string(dir.join("host.log")).unwrap_or_default(),
                30
            )
        );
        thread::sleep(Duration::from_millis(100));
    };
    let on_air_s = t0.elapsed().as_secs_f64();
    // Settle, then measure.
    thread::sleep(Duration::from_secs(3));
    let all: Vec<u32> = pids.values().copied().chain([host.id()]).collect();
    let ticks0: u64 = all.iter().filter_map(|p| cpu_ticks(*p)).sum();
    let w0 = Instant::now();
    let before = http_get(port, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default();
    thread::sleep(s.window);
    let scrape = http_get(port, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let ticks1: u64 = all.iter().filter_map(|p| cpu_ticks(*p)).sum();
    let wall = w0.elapsed().as_secs_f64();
    let tick_hz = 100.0; // USER_HZ on Linux
    let rss: Vec<f64> = pids.values().filter_map(|p| rss_mib(*p)).collect();
    let row = Row {
        n,
        cores: (ticks1.saturating_sub(ticks0)) as f64 / tick_hz / wall,
        rss_child_mean_mib: rss.iter().sum::<f64>() / rss.len().max(1) as f64,
        rss_child_max_mib: rss.iter().fold(0.0, |m, x| m.max(*x)),
        rss_host_mib: rss_mib(host.id()).unwrap_or(0.0),
        worst_drift_ms: worst_abs(&scrape, "playout_wallclock_drift_seconds{") * 1000.0,
        dropped: sum(&scrape, "playout_output_dropped_packets_total{")
            - sum(&before, "playout_output_dropped_packets_total{"),
        underruns: sum(&scrape, "playout_air_underruns_total{"),
        on_air_s,
    };
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(host.id().to_string())
        .status();
    let end = Instant::now() + Duration::from_secs(60);
    while host.try_wait().ok().flatten().is_none() && Instant::now() < end {
        thread::sleep(Duration::from_millis(100));
    }
    let _ = host.kill();
    let _ = host.wait();
    eprintln!("bench host: {kind} N={n}: {row:?}");
    row
}

fn table(s: &Scale, prepare_took: Duration, copies: &[Row], encoding: &[Row]) -> String {
    let (w, h) = s.size;
    let mut t = format!(
        "Channels on one machine ({}): {w}x{h}p30 {}k {} + AAC 128k, paced, each to nginx-rtmp \
         and HLS; measured over {} s ({} cores here). Copies made once by `playout prepare` \
         in {:.1} s.\n\n",
        s.name,
        s.bitrate_k,
        s.preset,
        s.window.as_secs(),
        thread::available_parallelism().map_or(0, |n| n.get()),
        prepare_took.as_secs_f64()
    );
    let head = "| N | path | CPU cores (all) | RSS per channel, mean / max | host RSS | worst drift | dropped packets | underruns | all on air after |\n|---|---|---|---|---|---|---|---|---|\n";
    t.push_str(head);
    for (path, rows) in [("copies", copies), ("encode", encoding)] {
        for r in rows {
            let _ = writeln!(
                t,
                "| {} | {path} | {:.3} | {:.0} / {:.0} MiB | {:.1} MiB | {:.1} ms | {:.0} | {:.0} | {:.1} s |",
                r.n,
                r.cores,
                r.rss_child_mean_mib,
                r.rss_child_max_mib,
                r.rss_host_mib,
                r.worst_drift_ms,
                r.dropped,
                r.underruns,
                r.on_air_s
            );
        }
    }
    let _ = writeln!(
        t,
        "\nEncoding stops adding channels at the first N whose worst drift passes {DRIFT_LIMIT_MS} ms or that drops a packet."
    );
    t
}
