//! A loopback TCP proxy (std threads) in front of a target port, which can stop forwarding.
//!
//! `pause()` freezes every connection in both directions: the pumps stop reading (at most one
//! read buffer, `CHUNK` bytes, is held in the proxy), so data piles up only in kernel buffers
//! and a writer on the far side soon blocks. New connections are still accepted by the kernel
//! and by the proxy but are not served (not even connected to the target) until `resume()`,
//! which carries on forwarding everything, pending connections included.
//!
//! The kernel buffer that matters is the receive buffer of the proxy's accepted sockets:
//! Linux's autotuning grows it to several hundred KiB at a few Mbit/s (seconds of data), so
//! the listener gets a fixed small `SO_RCVBUF` (inherited by accepted sockets, and it turns
//! autotuning off). std has no setter, hence `socket2` in `sockopt`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Bytes per read: the most a paused pump can hold in user space.
pub const CHUNK: usize = 8 * 1024;

/// `SO_RCVBUF` asked for on the listener (Linux doubles it for bookkeeping; about this much
/// data fits in it).
pub const RCVBUF: usize = 16 * 1024;

#[derive(Default)]
struct Shared {
    paused: Mutex<bool>,
    resumed: Condvar,
    stop: AtomicBool,
    /// Every socket the proxy has, to shut them down on `stop`.
    sockets: Mutex<Vec<TcpStream>>,
    accepted: AtomicUsize,
    served: AtomicUsize,
    /// Bytes forwarded client → target and target → client.
    up: AtomicU64,
    down: AtomicU64,
}

impl Shared {
    /// Block while paused; false once the proxy is stopping.
    fn wait_running(&self) -> bool {
        let mut paused = self.paused.lock().unwrap();
        while *paused && !self.stop.load(Ordering::SeqCst) {
            paused = self.resumed.wait(paused).unwrap();
        }
        !self.stop.load(Ordering::SeqCst)
    }

    fn keep(&self, s: &TcpStream) {
        if let Ok(c) = s.try_clone() {
            self.sockets.lock().unwrap().push(c);
        }
    }
}

pub struct Proxy {
    port: u16,
    target: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listen on a free 127.0.0.1 port and forward every connection to 127.0.0.1:`target`.
    pub fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        sockopt::set_rcvbuf(&listener, RCVBUF).expect("setsockopt SO_RCVBUF");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let acceptor = thread::Builder::new()
            .name(format!("proxy-{port}"))
            .spawn(move || accept_loop(listener, target, sh))
            .expect("spawn proxy acceptor");
        Proxy {
            port,
            target,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn target(&self) -> u16 {
        self.target
    }

    /// `rtmp://127.0.0.1:PORT/live/STREAM` through the proxy.
    pub fn url(&self, stream: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{stream}", self.port)
    }

    /// Stop forwarding (both directions, all connections); returns when it took effect.
    pub fn pause(&self) -> Instant {
        *self.shared.paused.lock().unwrap() = true;
        Instant::now()
    }

    /// Carry on forwarding, and serve connections accepted meanwhile.
    pub fn resume(&self) -> Instant {
        *self.shared.paused.lock().unwrap() = false;
        self.shared.resumed.notify_all();
        Instant::now()
    }

    pub fn is_paused(&self) -> bool {
        *self.shared.paused.lock().unwrap()
    }

    /// Connections accepted so far (served or not).
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections that were connected to the target.
    pub fn served(&self) -> usize {
        self.shared.served.load(Ordering::SeqCst)
    }

    /// Bytes forwarded client → target.
    pub fn bytes_up(&self) -> u64 {
        self.shared.up.load(Ordering::SeqCst)
    }

    /// Bytes forwarded target → client.
    pub fn bytes_down(&self) -> u64 {
        self.shared.down.load(Ordering::SeqCst)
    }

    /// Close the listener and every connection; joins the acceptor.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _guard = self.shared.paused.lock().unwrap();
            self.shared.resumed.notify_all();
        }
        for s in self.shared.sockets.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        // Wake the blocking accept.
        let _ =
            TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, target: u16, sh: Arc<Shared>) {
    for conn in listener.incoming() {
        if sh.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(client) = conn else { continue };
        sh.accepted.fetch_add(1, Ordering::SeqCst);
        let _ = client.set_nodelay(true);
        sh.keep(&client);
        let sh = sh.clone();
        let _ = thread::Builder::new()
            .name("proxy-conn".into())
            .spawn(move || serve(client, target, sh));
    }
}

/// Wait until running, connect to the target, then pump both ways until either side ends.
fn serve(client: TcpStream, target: u16, sh: Arc<Shared>) {
    if !sh.wait_running() {
        return;
    }
    let upstream = match TcpStream::connect(("127.0.0.1", target)) {
        Ok(s) => s,
        Err(_) => {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    sh.keep(&upstream);
    sh.served.fetch_add(1, Ordering::SeqCst);
    let (c2, u2) = match (client.try_clone(), upstream.try_clone()) {
        (Ok(c), Ok(u)) => (c, u),
        _ => return,
    };
    let sh2 = sh.clone();
    let down = thread::spawn(move || pump(u2, c2, &sh2, false));
    pump(client, upstream, &sh, true);
    let _ = down.join();
}

fn pump(mut from: TcpStream, mut to: TcpStream, sh: &Shared, up: bool) {
    let mut buf = vec![0u8; CHUNK];
    let result = (|| -> io::Result<()> {
        loop {
            if !sh.wait_running() {
                return Ok(());
            }
            let n = from.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            // Paused while this read was blocked: hold the data until resumed.
            if !sh.wait_running() {
                return Ok(());
            }
            to.write_all(&buf[..n])?;
            let counter = if up { &sh.up } else { &sh.down };
            counter.fetch_add(n as u64, Ordering::SeqCst);
        }
    })();
    let _ = result;
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Bytes waiting in the receive queues of the proxy's accepted sockets (`Recv-Q` of the
/// connections whose local port is `port`), from `ss`; None if `ss` is missing.
pub fn held_bytes(port: u16) -> Option<u64> {
    let report = socket_report(port);
    if report.is_empty() {
        return None;
    }
    let local = format!("127.0.0.1:{port}");
    Some(
        report
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 4 && f[2] == local).then(|| f[0].parse::<u64>().ok())?
            })
            .sum(),
    )
}

/// `ss -tnmi` for the TCP connections to or from 127.0.0.1:`port` (queues, socket memory,
/// window): a diagnostic for where data piles up. Empty if `ss` is missing.
pub fn socket_report(port: u16) -> String {
    let filter = format!("( sport = :{port} or dport = :{port} )");
    std::process::Command::new("ss")
        .args(["-tnmi", "state", "established", &filter])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The receive buffer setter std lacks, through `socket2` (no `unsafe` in tests).
mod sockopt {
    use std::io;
    use std::net::TcpListener;

    pub fn set_rcvbuf(socket: &TcpListener, bytes: usize) -> io::Result<()> {
        socket2::SockRef::from(socket).set_recv_buffer_size(bytes)
    }
}
