//! The RTMP side of the live input: the public listener. It takes one publisher at a time,
//! reads its commands up to the stream name (`rtmp::Sniffer`), checks the key in constant
//! time, and only then lets the stream through to the reader's libavformat server on a
//! loopback port. Everything a refused client sent stays here.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::rtmp::{Refusal, Sniffer};
use super::{LiveError, Shared};
use crate::config::{ApiToken, LiveListen, LiveSettings};
use crate::metrics::Metrics;

/// A publisher must name its stream this soon after connecting.
const NAME_DEADLINE: Duration = Duration::from_secs(10);
/// How long the relay tries to reach the reader's server (it listens again between
/// sessions).
const CONNECT_DEADLINE: Duration = Duration::from_secs(3);
/// How often blocking reads wake up to look at the stop flag and the idle time.
const POLL: Duration = Duration::from_millis(50);

/// Where the reader's server listens (loopback, a port free at start).
pub struct Internal(u16);

impl Internal {
    pub fn port(&self) -> u16 {
        self.0
    }
}

struct Gate {
    app: String,
    key: ApiToken,
    timeout: Duration,
    internal: SocketAddr,
    metrics: Arc<Metrics>,
    shared: Arc<Shared>,
    busy: AtomicBool,
    stop: Arc<AtomicBool>,
}

pub fn start(
    settings: &LiveSettings,
    metrics: Arc<Metrics>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) -> Result<Internal, LiveError> {
    let LiveListen::Rtmp { addr, app, key } = &settings.listen else {
        unreachable!("relay::start is for RTMP listeners");
    };
    let bind = |a: SocketAddr| {
        TcpListener::bind(a).map_err(|e| LiveError::Bind {
            addr: if a == *addr {
                settings.listen.redacted()
            } else {
                format!("the internal port {a}")
            },
            source: e,
        })
    };
    let public = bind(*addr)?;
    public.set_nonblocking(true).map_err(|e| LiveError::Bind {
        addr: settings.listen.redacted(),
        source: e,
    })?;
    // A free loopback port for the reader's server, which binds it itself.
    let internal = bind(SocketAddr::from(([127, 0, 0, 1], 0)))?
        .local_addr()
        .map_err(LiveError::Thread)?;
    let gate = Arc::new(Gate {
        app: app.clone(),
        key: key.clone(),
        timeout: Duration::from_micros(settings.timeout.0.max(0) as u64),
        internal,
        metrics,
        shared,
        busy: AtomicBool::new(false),
        stop,
    });
    std::thread::Builder::new()
        .name("live-listen".into())
        .spawn(move || accept_loop(public, gate))
        .map_err(LiveError::Thread)?;
    Ok(Internal(internal.port()))
}

fn accept_loop(listener: TcpListener, gate: Arc<Gate>) {
    while !gate.stop.load(Ordering::Relaxed) {
        let (client, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "Live input: accept failed.");
                std::thread::sleep(POLL);
                continue;
            }
        };
        if gate.busy.swap(true, Ordering::AcqRel) {
            tracing::warn!(%peer, "Live input: a second publisher was refused; one is already connected.");
            gate.metrics.live.refused("busy");
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let g = gate.clone();
        let spawned = std::thread::Builder::new()
            .name("live-session".into())
            .spawn(move || {
                session(client, peer, &g);
                if g.shared.publisher.swap(false, Ordering::AcqRel) {
                    g.metrics.live.connected.set(0);
                }
                g.busy.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "Live input: cannot start a session thread.");
            gate.busy.store(false, Ordering::Release);
        }
    }
}

fn refuse(gate: &Gate, peer: SocketAddr, r: &Refusal) {
    tracing::warn!(%peer, reason = r.reason, detail = %r.detail, "Live input: publisher refused.");
    gate.metrics.live.refused(r.reason);
}

fn session(mut client: TcpStream, peer: SocketAddr, gate: &Gate) {
    let _ = client.set_nodelay(true);
    let _ = client.set_nonblocking(false);
    let _ = client.set_read_timeout(Some(POLL));
    let Some(mut server) = connect(gate) else {
        tracing::error!(%peer, "Live input: the reader is not listening; publisher dropped.");
        return;
    };
    let (Ok(server_read), Ok(client_write)) = (server.try_clone(), client.try_clone()) else {
        return;
    };
    let back = std::thread::Builder::new()
        .name("live-relay".into())
        .spawn(move || copy_back(server_read, client_write));
    if back.is_err() {
        return;
    }
    let started = Instant::now();
    let mut sniffer = Some(Sniffer::default());
    let mut held: Vec<u8> = Vec::new();
    let mut forwarded = 0u64;
    let mut last_data = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if gate.stop.load(Ordering::Relaxed) {
            break;
        }
        let n = match client.read(&mut buf) {
            Ok(0) => {
                if sniffer.is_none() {
                    tracing::info!(%peer, "Live input: the publisher closed the connection.");
                }
                break;
            }
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if let Some(refusal) = late(sniffer.is_some(), started, last_data, gate.timeout) {
                    match refusal {
                        Some(r) => refuse(gate, peer, &r),
                        None => {
                            tracing::warn!(%peer, timeout = ?gate.timeout, "Live input: no data from the publisher; closing.")
                        }
                    }
                    break;
                }
                continue;
            }
            Err(e) => {
                tracing::info!(%peer, error = %e, "Live input: publisher connection lost.");
                break;
            }
        };
        last_data = Instant::now();
        let data = &buf[..n];
        let Some(s) = sniffer.as_mut() else {
            if server.write_all(data).is_err() {
                break;
            }
            continue;
        };
        held.extend_from_slice(data);
        let seen = match s.feed(data) {
            Ok(seen) => seen,
            Err(r) => {
                refuse(gate, peer, &r);
                break;
            }
        };
        let upto = match &seen {
            Some(p) => {
                let app_ok = p.app == gate.app;
                if !(gate.key.matches(p.name.as_bytes()) && app_ok) {
                    refuse(
                        gate,
                        peer,
                        &Refusal {
                            reason: "wrong_key",
                            detail: if app_ok {
                                "wrong stream key (****)".into()
                            } else {
                                format!("wrong application {:?}", p.app)
                            },
                        },
                    );
                    break;
                }
                if let Err(why) = gate.shared.admit() {
                    refuse(
                        gate,
                        peer,
                        &Refusal {
                            reason: "not_scheduled",
                            detail: why.to_string(),
                        },
                    );
                    break;
                }
                tracing::info!(%peer, "Live input: publisher connected with the right key.");
                gate.shared.publisher.store(true, Ordering::Release);
                gate.metrics.live.connected.set(1);
                sniffer = None;
                forwarded + held.len() as u64
            }
            None => s.safe(),
        };
        let go = (upto - forwarded) as usize;
        if go > 0 {
            if server.write_all(&held[..go]).is_err() {
                break;
            }
            held.drain(..go);
            forwarded = upto;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}

/// Whether the session must end now for lack of data: `Some(Some(_))` a publisher that
/// never named its stream, `Some(None)` one that stopped sending.
fn late(
    naming: bool,
    started: Instant,
    last: Instant,
    timeout: Duration,
) -> Option<Option<Refusal>> {
    if naming && started.elapsed() > NAME_DEADLINE {
        return Some(Some(Refusal {
            reason: "protocol",
            detail: format!("no stream named within {NAME_DEADLINE:?}"),
        }));
    }
    (!naming && last.elapsed() > timeout).then_some(None)
}

fn connect(gate: &Gate) -> Option<TcpStream> {
    let until = Instant::now() + CONNECT_DEADLINE;
    loop {
        match TcpStream::connect_timeout(&gate.internal, Duration::from_millis(500)) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Some(s);
            }
            Err(_) if Instant::now() < until && !gate.stop.load(Ordering::Relaxed) => {
                std::thread::sleep(POLL)
            }
            Err(_) => return None,
        }
    }
}

/// The server's answers, back to the publisher, until either side closes.
fn copy_back(mut server: TcpStream, mut client: TcpStream) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if client.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}
