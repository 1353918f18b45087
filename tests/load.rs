//! Many viewers: `wrk` (200 connections, 30 s) fetches the newest HLS segment, the live
//! playlist and `/api/v1/now` from a paced channel while 500 more connections sit idle
//! (reopened whenever the server closes one). Encoding must keep the speed of the clock
//! (speed 1.0, drift under 100 ms), and no answer may be an error. The latency and request
//! rate are printed; `make bench` runs this in release and reports them.
mod common;

use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::timeline::{get_json, red_and_plain};
use common::*;

const SCRIPT: &str = r##"
-- Rotates over the newest segment, the live playlist and /api/v1/now; the segment's name
-- comes from the last playlist this thread read.
local n = 0
local seg = nil
request = function()
  n = n + 1
  local k = n % 3
  if k == 0 and seg then
    return wrk.format("GET", seg)
  elseif k == 1 then
    return wrk.format("GET", "/hls/index.m3u8")
  end
  return wrk.format("GET", "/api/v1/now")
end
response = function(status, headers, body)
  if body and body:sub(1, 7) == "#EXTM3U" then
    for line in body:gmatch("[^\r\n]+") do
      if line:sub(1, 1) ~= "#" then
        if line:sub(1, 1) == "/" then seg = line else seg = "/hls/" .. line end
      end
    end
  end
end
"##;

/// The value after `key` on the line that starts with `key` (wrk's report).
fn field<'a>(report: &'a str, key: &str) -> Option<&'a str> {
    report
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(key))
        .and_then(|l| l[key.len()..].split_whitespace().next())
}

/// wrk's "1.23ms", "456.00us", "1.02s" in ms.
fn ms(v: &str) -> Option<f64> {
    if let Some(x) = v.strip_suffix("us") {
        return x.parse::<f64>().ok().map(|x| x / 1000.0);
    }
    if let Some(x) = v.strip_suffix("ms") {
        return x.parse().ok();
    }
    v.strip_suffix('s')?.parse::<f64>().ok().map(|x| x * 1000.0)
}

#[test]
fn two_hundred_viewers_and_five_hundred_idle_connections_do_not_slow_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let playlist = red_and_plain(dir.path());
    let port = free_port();
    let ch = web_channel(dir.path(), "load", &playlist, port, "", "");
    let mut p = Playout::spawn(&["run", ch.to_str().unwrap(), "--for", "10m"], &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = http_get(port, "/hls/index.m3u8")
            .is_some_and(|(s, b)| s == 200 && b.matches(".ts").count() >= 3);
        if ok {
            break;
        }
        assert!(p.is_running(), "playout exited:\n{}", tail(&p.stderr(), 30));
        assert!(
            Instant::now() < deadline,
            "no HLS playlist with 3 segments in 30 s"
        );
        thread::sleep(Duration::from_millis(200));
    }
    assert!(get_json(port, "/api/v1/now").is_some());

    // 500 idle connections, reopened as the server closes them (its idle timeout is 10 s).
    let stop = Arc::new(AtomicBool::new(false));
    let reopened = Arc::new(AtomicUsize::new(0));
    let idle = {
        let (stop, reopened) = (stop.clone(), reopened.clone());
        thread::spawn(move || {
            let mut conns: Vec<TcpStream> = (0..500)
                .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
                .collect();
            for c in &conns {
                let _ = c.set_nonblocking(true);
            }
            while !stop.load(Ordering::Relaxed) {
                let mut buf = [0u8; 64];
                for c in conns.iter_mut() {
                    use std::io::Read;
                    let closed = matches!(c.read(&mut buf), Ok(0))
                        || matches!(c.read(&mut buf), Err(ref e) if e.kind() != std::io::ErrorKind::WouldBlock);
                    if closed {
                        if let Ok(n) = TcpStream::connect(("127.0.0.1", port)) {
                            let _ = n.set_nonblocking(true);
                            *c = n;
                            reopened.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                thread::sleep(Duration::from_millis(200));
            }
            conns.len()
        })
    };
    thread::sleep(Duration::from_secs(1));
    let scraper = Scraper::start(port, &["/metrics"], Duration::from_millis(1000));
    let script = dir.path().join("load.lua");
    std::fs::write(&script, SCRIPT).unwrap();
    let started = Instant::now();
    let out = Command::new("wrk")
        .args([
            "-t2",
            "-c200",
            "-d30s",
            "--latency",
            "--timeout",
            "5s",
            "-s",
        ])
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .expect("run wrk (Debian package wrk)");
    let ended = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let held = idle.join().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{report}");
    let during: Vec<Scrape> = scraper
        .scrapes()
        .into_iter()
        .filter(|s| s.at > started + Duration::from_secs(3) && s.at < ended)
        .collect();
    let speeds: Vec<f64> = during
        .iter()
        .filter_map(|s| s.sample("playout_encode_speed_ratio"))
        .collect();
    let drifts: Vec<f64> = during
        .iter()
        .filter_map(|s| s.sample("playout_wallclock_drift_seconds"))
        .collect();
    let minmax = |v: &[f64]| {
        v.iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)))
    };
    let (slo, shi) = minmax(&speeds);
    // Channel seconds encoded per wall second over the whole load, from the counter.
    let encoded: Vec<(Instant, f64)> = during
        .iter()
        .filter_map(|s| Some((s.at, s.sample("playout_encoded_seconds_total")?)))
        .collect();
    let (speed, window) = match (encoded.first(), encoded.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => {
            let window = (b.0 - a.0).as_secs_f64();
            ((b.1 - a.1) / window, window)
        }
        _ => (f64::NAN, f64::NAN),
    };
    // The counter is kept at the encoder, which runs ahead of the pacer by anything up to the
    // packet queue (128 packets, about 1.7 s at 30 fps with AAC): it drains at an item change
    // and refills after it, so over a window of W seconds the counter reads 1 ± 2.5/W while the
    // output paces exactly. The pacer's own pace is the drift below, held to 100 ms.
    let slack = 2.5 / window;
    let (dlo, dhi) = minmax(&drifts);
    let p50 = field(&report, "50%").and_then(ms);
    let p99 = field(&report, "99%").and_then(ms);
    let rps: Option<f64> = field(&report, "Requests/sec:").and_then(|v| v.parse().ok());
    let non2xx: usize = field(&report, "Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let socket_errors = report
        .lines()
        .find(|l| l.trim().starts_with("Socket errors:"))
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    println!(
        "load: {rps:?} requests/s, latency p50 {p50:?} ms p99 {p99:?} ms, {non2xx} non-2xx, {socket_errors:?}; \
         {held} idle connections held ({} reopened); during it: encoded {speed:.4} channel s per s (the 10 s gauge {slo:.3}..{shi:.3}), drift {:.1}..{:.1} ms over {} scrapes",
        reopened.load(Ordering::Relaxed),
        dlo * 1000.0,
        dhi * 1000.0,
        during.len()
    );
    let mut failures = Vec::new();
    if !out.status.success() || rps.is_none() {
        failures.push(format!(
            "wrk failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if non2xx > 0 {
        failures.push(format!("{non2xx} error answers"));
    }
    if !socket_errors.is_empty() {
        failures.push(format!("wrk saw {socket_errors}"));
    }
    if held < 500 {
        failures.push(format!("only {held} idle connections opened"));
    }
    if during.len() < 20 {
        failures.push(format!(
            "only {} scrapes of /metrics during the load",
            during.len()
        ));
    }
    if (speed - 1.0).abs() > slack || speed.is_nan() {
        failures.push(format!(
            "encode speed {speed:.4} under load (expected 1 ± {slack:.3} over {window:.1} s)"
        ));
    }
    if drifts.is_empty() || dlo.abs().max(dhi.abs()) >= 0.1 {
        failures.push(format!("drift {dlo:.3}..{dhi:.3} s under load"));
    }
    if !p.is_running() {
        failures.push("playout exited".into());
    }
    if !failures.is_empty() {
        println!("stderr:\n{}", tail(&p.stderr(), 30));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
