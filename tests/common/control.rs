//! The control API's side of the harness: requests with bodies (sized, chunked, or cut off
//! half-way, as a client that goes away would), answered as `hls::Reply`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

pub use super::hls::Reply;

fn connect(port: u16) -> TcpStream {
    let addr = ([127, 0, 0, 1], port).into();
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

fn read_reply(mut s: TcpStream) -> Reply {
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(&buf)));
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: buf[split + 4..].to_vec(),
    }
}

/// `METHOD path` with `headers` and `body` (sent with its Content-Length).
pub fn call(port: u16, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Reply {
    let mut s = connect(port);
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    // The server may answer (413) and close before the whole body is sent.
    let _ = s.write_all(body);
    read_reply(s)
}

/// The same with a chunked body (no length known up front), in 64 KiB chunks.
pub fn call_chunked(port: u16, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Reply {
    let mut s = connect(port);
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
    );
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    for chunk in body.chunks(64 << 10) {
        if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .is_err()
            || s.write_all(chunk).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n");
    read_reply(s)
}

/// Sends the head of a PUT that promises `promised` bytes, then `sent` of them, and goes
/// away.
pub fn cut_off_upload(port: u16, path: &str, auth: &str, promised: usize, sent: &[u8]) {
    let mut s = connect(port);
    let req = format!(
        "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\nContent-Length: {promised}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(sent).unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(s);
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}
