//! Watchers that timestamp what happens during a run: publishes seen by nginx (its log has only
//! 1-second timestamps, so the file is polled every 20 ms), and periodic HTTP scrapes of the
//! playout endpoints. Both run on their own thread until dropped.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::nginx::Nginx;

/// A background poller: `tick` every `every`; stops and joins on drop.
pub struct Poller {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Poller {
    pub fn spawn(every: Duration, mut tick: impl FnMut() + Send + 'static) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                tick();
                thread::sleep(every);
            }
        });
        Poller {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// When nginx saw each new publish of one stream (to within ~20 ms).
pub struct PublishWatch {
    events: Arc<Mutex<Vec<Instant>>>,
    _poller: Poller,
}

impl PublishWatch {
    /// Watch `stream` on `nginx`: publishes already in the log are not events.
    pub fn start(nginx: &Nginx, stream: &str) -> PublishWatch {
        let log: PathBuf = nginx.error_log_path();
        let needle = format!("publish: name='{stream}'");
        let count = move || {
            fs::read_to_string(&log)
                .unwrap_or_default()
                .matches(&needle)
                .count()
        };
        let mut seen = count();
        let events = Arc::new(Mutex::new(Vec::new()));
        let ev = events.clone();
        let poller = Poller::spawn(Duration::from_millis(20), move || {
            let n = count();
            if n > seen {
                let now = Instant::now();
                ev.lock().unwrap().extend((seen..n).map(|_| now));
                seen = n;
            }
        });
        PublishWatch {
            events,
            _poller: poller,
        }
    }

    /// Every publish seen so far.
    pub fn events(&self) -> Vec<Instant> {
        self.events.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.events.lock().unwrap().len()
    }

    /// The first publish at or after `t`.
    pub fn first_after(&self, t: Instant) -> Option<Instant> {
        self.events().into_iter().find(|e| *e >= t)
    }

    /// Wait up to `timeout` for a publish at or after `t`.
    pub fn wait_after(&self, t: Instant, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.first_after(t) {
                return Some(e);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A plain HTTP/1.0 GET against 127.0.0.1:`port`: (status, body); None if it cannot connect
/// or the answer is not HTTP.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let addr = ([127, 0, 0, 1], port).into();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// The value of the sample line `name` (exact, labels included) in a Prometheus scrape.
pub fn sample(scrape: &str, name: &str) -> Option<f64> {
    scrape
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// One answer of a periodic scrape.
#[derive(Clone, Debug)]
pub struct Scrape {
    pub at: Instant,
    pub path: &'static str,
    pub status: u16,
    pub body: String,
}

impl Scrape {
    pub fn sample(&self, name: &str) -> Option<f64> {
        sample(&self.body, name)
    }
}

/// GETs each of `paths` every `every` (answers only: refused connections are skipped).
pub struct Scraper {
    scrapes: Arc<Mutex<Vec<Scrape>>>,
    _poller: Poller,
}

impl Scraper {
    pub fn start(port: u16, paths: &[&'static str], every: Duration) -> Scraper {
        let scrapes = Arc::new(Mutex::new(Vec::new()));
        let sc = scrapes.clone();
        let paths = paths.to_vec();
        let poller = Poller::spawn(every, move || {
            for path in &paths {
                if let Some((status, body)) = http_get(port, path) {
                    sc.lock().unwrap().push(Scrape {
                        at: Instant::now(),
                        path,
                        status,
                        body,
                    });
                }
            }
        });
        Scraper {
            scrapes,
            _poller: poller,
        }
    }

    /// Every answer so far, oldest first.
    pub fn scrapes(&self) -> Vec<Scrape> {
        self.scrapes.lock().unwrap().clone()
    }

    /// (time, value) of metric sample `name` in every /metrics answer that has it.
    pub fn series(&self, name: &str) -> Vec<(Instant, f64)> {
        self.scrapes()
            .iter()
            .filter(|s| s.path == "/metrics")
            .filter_map(|s| Some((s.at, s.sample(name)?)))
            .collect()
    }

    /// The first /metrics answer at or after `t` in which `name` satisfies `pred`.
    pub fn first_where(
        &self,
        name: &str,
        t: Instant,
        pred: impl Fn(f64) -> bool,
    ) -> Option<Instant> {
        self.series(name)
            .into_iter()
            .find(|(at, v)| *at >= t && pred(*v))
            .map(|(at, _)| at)
    }
}
