//! Supervision by systemd: the sd_notify protocol over `$NOTIFY_SOCKET` (a Unix datagram
//! socket; a name starting with `@` is in the abstract namespace).
//!
//! - `READY=1` once the first frame is encoded or passed through (from a conformed copy);
//! - `WATCHDOG=1` every half `$WATCHDOG_USEC`, but only while frames keep being encoded and
//!   the pacer keeps up with the wall clock, so that a hung pipeline in a live process is
//!   killed (SIGABRT) and restarted by systemd, and resumes on the timeline;
//! - `STATUS=Playing: TITLE` whenever what is on air changes;
//! - `STOPPING=1` on shutdown.
//!
//! Without `$NOTIFY_SOCKET` nothing is started. The notifier only reads the metrics and the
//! timeline: it never waits on a media thread, and a media thread never waits on it.

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::lineup::TimelineCell;
use crate::metrics::Metrics;

/// The shortest time without progress that counts as a hung pipeline: the encoder reports
/// its progress once a second of channel time, so anything shorter would misfire.
const MIN_STALL: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET {0:?} is not a socket path or @abstract name")]
    BadAddress(String),
    #[error("WATCHDOG_USEC {0:?} is not a positive number of microseconds")]
    BadWatchdog(String),
    #[error("cannot open a datagram socket for sd_notify: {0}")]
    Socket(#[source] std::io::Error),
}

/// A connection to the service manager.
pub struct Notifier {
    socket: UnixDatagram,
    /// How often to send `WATCHDOG=1` (half of `WatchdogSec`), when the watchdog is on.
    watchdog: Option<Duration>,
    stopping: AtomicBool,
}

impl Notifier {
    /// The notifier the environment asks for, if any. `WATCHDOG_PID`, when set, must name
    /// this process (systemd sets it for the main process only).
    pub fn from_env() -> Result<Option<Arc<Notifier>>, NotifyError> {
        let Some(addr) = std::env::var_os("NOTIFY_SOCKET") else {
            return Ok(None);
        };
        let addr = addr.to_string_lossy().into_owned();
        let socket = UnixDatagram::unbound().map_err(NotifyError::Socket)?;
        connect(&socket, &addr)?;
        let mine = std::env::var("WATCHDOG_PID")
            .map(|p| p.trim() == std::process::id().to_string())
            .unwrap_or(true);
        let watchdog = match std::env::var("WATCHDOG_USEC") {
            Ok(v) if mine => {
                let us: u64 = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|us| *us > 0)
                    .ok_or_else(|| NotifyError::BadWatchdog(v.clone()))?;
                Some(Duration::from_micros(us) / 2)
            }
            _ => None,
        };
        Ok(Some(Arc::new(Notifier {
            socket,
            watchdog,
            stopping: AtomicBool::new(false),
        })))
    }

    /// Sends one message; a failure is logged, never fatal (the manager may be restarting).
    pub fn send(&self, message: &str) {
        if let Err(e) = self.socket.send(message.as_bytes()) {
            tracing::warn!(error = %e, message, "sd_notify message not delivered.");
        }
    }

    /// Shutdown has begun: `STOPPING=1`, and no more watchdog pings.
    pub fn stopping(&self) {
        if !self.stopping.swap(true, Ordering::Relaxed) {
            self.send("STOPPING=1");
        }
    }

    /// The watchdog interval, if the manager asked for one.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// The notifier thread: READY once the first frame is out, then STATUS on every
    /// change of title and WATCHDOG while healthy, until `stopping`.
    pub fn spawn(
        self: &Arc<Self>,
        metrics: Arc<Metrics>,
        timeline: Arc<TimelineCell>,
    ) -> std::io::Result<()> {
        let me = self.clone();
        std::thread::Builder::new()
            .name("notify".into())
            .spawn(move || me.run(&metrics, &timeline))
            .map(|_| ())
    }

    fn run(&self, metrics: &Metrics, timeline: &TimelineCell) {
        let tick = self.watchdog.map_or(Duration::from_millis(250), |w| {
            w.min(Duration::from_millis(250))
        });
        let limit = self.watchdog.map_or(MIN_STALL, |w| w.max(MIN_STALL));
        let mut ready = false;
        let mut status = String::new();
        let mut last_ping: Option<Instant> = None;
        let mut withheld = false;
        while !self.stopping.load(Ordering::Relaxed) {
            // A channel that starts on a conformed copy sends frames on without encoding one.
            let out = metrics.video_frames_encoded_total.get() > 0
                || metrics.passthrough_seconds_total.get() > 0.0;
            if !ready && out {
                ready = true;
                self.send("READY=1");
                tracing::info!("Told the service manager the channel is ready.");
            }
            if ready {
                let now = crate::clock::wall_now();
                let t = timeline.get();
                let (slot, lineup) = t.resolve(now);
                let title = format!("Playing: {}", lineup.describe(slot.kind).0);
                if title != status {
                    self.send(&format!("STATUS={}", title.replace('\n', " ")));
                    status = title;
                }
            }
            if let (true, Some(every)) = (ready, self.watchdog) {
                if last_ping.map_or(true, |t| t.elapsed() >= every) {
                    match health(metrics, limit) {
                        Ok(()) => {
                            self.send("WATCHDOG=1");
                            last_ping = Some(Instant::now());
                            if withheld {
                                tracing::info!("Pipeline healthy again; watchdog pings resume.");
                                withheld = false;
                            }
                        }
                        Err(why) => {
                            if !withheld {
                                tracing::error!(reason = %why, "Withholding the watchdog ping: the service manager will restart the channel if this goes on.");
                                withheld = true;
                            }
                        }
                    }
                }
            }
            std::thread::sleep(tick);
        }
    }
}

/// Whether the pipeline is alive: frames encoded within `limit`, and the pacer no further
/// than `limit` behind the wall clock.
fn health(metrics: &Metrics, limit: Duration) -> Result<(), Unhealthy> {
    let stalled = metrics.stalled_for();
    if stalled > limit {
        return Err(Unhealthy::Stalled(stalled.as_secs_f64()));
    }
    let drift = metrics.wallclock_drift_seconds.get();
    if drift < -limit.as_secs_f64() {
        return Err(Unhealthy::Behind(-drift));
    }
    Ok(())
}

/// Why the watchdog is not fed.
#[derive(Debug, PartialEq, thiserror::Error)]
enum Unhealthy {
    #[error("no frame encoded for {0:.1} s")]
    Stalled(f64),
    #[error("output is {0:.1} s behind the wall clock")]
    Behind(f64),
}

fn connect(socket: &UnixDatagram, addr: &str) -> Result<(), NotifyError> {
    let bad = || NotifyError::BadAddress(addr.to_string());
    if let Some(name) = addr.strip_prefix('@') {
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let a = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                .map_err(|_| bad())?;
            return socket.connect_addr(&a).map_err(NotifyError::Socket);
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = name;
            return Err(bad());
        }
    }
    if !addr.starts_with('/') {
        return Err(bad());
    }
    socket.connect(addr).map_err(NotifyError::Socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaks_to_a_path_and_an_abstract_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        connect(&client, path.to_str().unwrap()).unwrap();
        client.send(b"READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("playout-test-{}", std::process::id());
        let a = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&a).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        connect(&client, &format!("@{name}")).unwrap();
        client.send(b"WATCHDOG=1").unwrap();
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");

        assert!(matches!(
            connect(&client, "relative.sock"),
            Err(NotifyError::BadAddress(_))
        ));
    }

    #[test]
    fn health_needs_progress_and_a_pacer_that_keeps_up() {
        let m = Metrics::new();
        let limit = Duration::from_millis(50);
        m.add_encoded_frames(1, crate::time::Rational::new(30, 1));
        assert_eq!(health(&m, limit), Ok(()));
        m.wallclock_drift_seconds.set(-0.5);
        assert!(health(&m, limit)
            .unwrap_err()
            .to_string()
            .contains("behind the wall clock"));
        m.wallclock_drift_seconds.set(0.2);
        std::thread::sleep(Duration::from_millis(80));
        assert!(health(&m, limit)
            .unwrap_err()
            .to_string()
            .contains("no frame encoded"));
    }
}
