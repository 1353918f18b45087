//! The HTTP port under abuse, during a paced run: a slowloris head, an idle keep-alive
//! connection, a 40 KiB head, an upload that stops mid-body, and 1100 connections that
//! never send a byte (past the 1024 limit). Each costs a slot for seconds, not for ever; a
//! real request still gets its answer; the upload leaves no partial file; and the channel
//! keeps encoding at the speed of the clock.
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::timeline::{get_json, red_and_plain};
use common::*;

const TOKEN: &str = "limits-token-0123456789";

/// How long after `from` the server closed `s` (a read returning 0 or an error), reading
/// and dropping whatever it sends; None if still open after `limit`.
fn closed_after(mut s: TcpStream, from: Instant, limit: Duration) -> Option<Duration> {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while from.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(from.elapsed()),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return Some(from.elapsed()),
        }
    }
    None
}

fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).expect("connect")
}

/// `GET path` (HTTP/1.0) that waits up to 15 s for the answer: (status, body).
fn get_patient(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = connect(port);
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, buf.split_once("\r\n\r\n")?.1.to_string()))
}

fn metric(port: u16, name: &str) -> Option<f64> {
    let (_, body) = http_get(port, "/metrics")?;
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn slow_idle_oversized_and_crowded_connections_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let playlist = red_and_plain(dir.path());
    let port = free_port();
    let ch = web_channel(
        dir.path(),
        "limits",
        &playlist,
        port,
        ", api_token: \"${LIMITS_TOKEN}\"",
        "media: { dir: media }\n",
    );
    let mut p = Playout::spawn(
        &["run", ch.to_str().unwrap(), "--for", "5m"],
        &[("LIMITS_TOKEN", TOKEN)],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while get_json(port, "/api/v1/now").is_none() {
        assert!(p.is_running(), "playout exited:\n{}", tail(&p.stderr(), 30));
        assert!(Instant::now() < deadline, "no HTTP after 30 s");
        thread::sleep(Duration::from_millis(100));
    }
    let mut failures = Vec::new();
    let t0 = Instant::now();

    // Slowloris: a head that never ends, one byte a second.
    let slowloris = thread::spawn(move || {
        let mut s = connect(port);
        let started = Instant::now();
        s.write_all(b"GET /api/v1/now HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .unwrap();
        let w = s.try_clone().unwrap();
        let drip = thread::spawn(move || {
            let mut w = w;
            for _ in 0..30 {
                if w.write_all(b"a").is_err() {
                    break;
                }
                thread::sleep(Duration::from_secs(1));
            }
        });
        let closed = closed_after(s, started, Duration::from_secs(30));
        let _ = drip.join();
        closed
    });
    // An idle keep-alive connection after one answered request.
    let idle = thread::spawn(move || {
        let mut s = connect(port);
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        let answered = String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200");
        let since = Instant::now();
        (answered, closed_after(s, since, Duration::from_secs(30)))
    });
    // An upload that stops after 10 of 1000 bytes.
    let stalled = thread::spawn(move || {
        let mut s = connect(port);
        let head = format!(
            "PUT /api/v1/media/stalled.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 1000\r\n\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&[0u8; 10]).unwrap();
        let since = Instant::now();
        closed_after(s, since, Duration::from_secs(40))
    });
    // A 40 KiB head: 431.
    let mut s = connect(port);
    let big = format!(
        "GET /api/v1/now HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "b".repeat(40 * 1024)
    );
    let _ = s.write_all(big.as_bytes());
    let mut reply = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.read_to_end(&mut reply);
    let status = String::from_utf8_lossy(&reply)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    println!("40 KiB head: {status:?}");
    if !status.starts_with("HTTP/1.1 431") {
        failures.push(format!("a 40 KiB head got {status:?}, not 431"));
    }

    // 1100 connections that say nothing, past the limit of 1024.
    thread::sleep(Duration::from_millis(500));
    let crowd: Vec<TcpStream> = (0..1100).map(|_| connect(port)).collect();
    let crowded = Instant::now();
    thread::sleep(Duration::from_millis(500));
    // A real request while every slot is taken: answered once idle ones time out.
    let asked = Instant::now();
    let now = get_patient(port, "/api/v1/now");
    let waited = asked.elapsed();
    let open = metric(port, "playout_http_connections");
    println!(
        "with 1100 silent connections: /api/v1/now answered {} after {:.2} s; playout_http_connections {open:?}",
        now.as_ref().map_or(0, |(s, _)| *s),
        waited.as_secs_f64()
    );
    if !matches!(&now, Some((200, body)) if body.contains("\"current\"")) {
        failures.push(format!("/api/v1/now under the crowd: {now:?}"));
    }
    if waited > Duration::from_secs(14) {
        failures.push(format!("/api/v1/now waited {waited:?} (head timeout 10 s)"));
    }
    if open.is_none_or(|o| o > 1024.0) {
        failures.push(format!("{open:?} connections open, limit 1024"));
    }
    // The crowd is closed by the server within the head timeout of being accepted.
    let closes: Vec<Option<Duration>> = crowd
        .into_iter()
        .map(|s| closed_after(s, crowded, Duration::from_secs(35)))
        .collect();
    let never = closes.iter().filter(|c| c.is_none()).count();
    let last = closes.iter().flatten().max().copied().unwrap_or_default();
    println!(
        "crowd: {} closed by the server, the last {:.1} s in; {never} still open",
        closes.len() - never,
        last.as_secs_f64()
    );
    if never > 0 {
        failures.push(format!("{never} silent connections still open after 35 s"));
    }

    let slow = slowloris.join().unwrap();
    let (answered, idle_closed) = idle.join().unwrap();
    let stalled_closed = stalled.join().unwrap();
    println!(
        "slowloris closed after {slow:?}; idle keep-alive closed {idle_closed:?} after its answer ({answered}); stalled upload closed {stalled_closed:?} after its last byte"
    );
    if !slow.is_some_and(|d| d >= Duration::from_secs(9) && d <= Duration::from_secs(13)) {
        failures.push(format!(
            "slowloris: closed after {slow:?}, head timeout 10 s"
        ));
    }
    if !answered
        || !idle_closed.is_some_and(|d| d >= Duration::from_secs(9) && d <= Duration::from_secs(13))
    {
        failures.push(format!(
            "idle keep-alive: answered {answered}, closed after {idle_closed:?}"
        ));
    }
    if !stalled_closed.is_some_and(|d| d >= Duration::from_secs(19) && d <= Duration::from_secs(24))
    {
        failures.push(format!(
            "stalled upload: closed after {stalled_closed:?}, stall timeout 20 s"
        ));
    }
    thread::sleep(Duration::from_millis(500));
    let media: Vec<String> = std::fs::read_dir(dir.path().join("media"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if !media.is_empty() {
        failures.push(format!("the stalled upload left {media:?}"));
    }
    // The channel kept the clock all along.
    let speed = metric(port, "playout_encode_speed_ratio");
    let drift = metric(port, "playout_wallclock_drift_seconds");
    let elapsed = t0.elapsed().as_secs_f64();
    println!("after {elapsed:.0} s of abuse: encode speed {speed:?}, drift {drift:?} s");
    if !speed.is_some_and(|s| (0.95..1.05).contains(&s)) {
        failures.push(format!("encode speed {speed:?}"));
    }
    if !drift.is_some_and(|d| d.abs() < 1.0) {
        failures.push(format!("drift {drift:?}"));
    }
    if !p.is_running() {
        failures.push("playout exited".into());
    }
    if !failures.is_empty() {
        println!("stderr:\n{}", tail(&p.stderr(), 30));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
