//! A throwaway nginx + RTMP module ingest that records every published stream to FLV.
//!
//! Each `Nginx` runs in its own temp folder on a free 127.0.0.1 port. Started as root, nginx
//! drops its worker to `nobody`, so the folder is made traversable and the recording folder
//! world-writable. A recording is complete once its publisher has disconnected.
//!
//! nginx-rtmp names recordings `STREAM-<unix seconds>.flv` (`record_unique on`) and truncates an
//! existing file of the same name: two publish sessions within one second leave ONE file holding
//! only the second session. `publish_count` (from the error log) is the reliable session count.
//!
//! `kill_ingest` / `start_again` / `restart` stop and restart the same nginx (same port, folder,
//! config, recordings; the error log is appended to). `start_with_tls` adds a TLS front: nginx's
//! `stream` module terminating TLS on a second port and proxying to the RTMP port.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::tls::{self, TlsFront};

/// Where Debian's `libnginx-mod-rtmp` installs the module.
pub const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
/// Debian's nginx `stream` module (package `libnginx-mod-stream`).
pub const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

pub struct Nginx {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    tls: Option<TlsFront>,
    /// Length of error.log when the running instance started: `wait_idle` looks after it.
    log_offset: usize,
}

impl Nginx {
    /// Start nginx on a free port; panics (with the error log) if it does not listen within 10 s.
    pub fn start() -> Nginx {
        Nginx::start_inner(false)
    }

    /// Start nginx with a TLS front too: a throwaway self-signed certificate for 127.0.0.1
    /// (made with the openssl CLI) on a second free port, proxied to the RTMP port.
    pub fn start_with_tls() -> Nginx {
        Nginx::start_inner(true)
    }

    fn start_inner(with_tls: bool) -> Nginx {
        assert!(
            Path::new(RTMP_MODULE).exists(),
            "{RTMP_MODULE} missing: install libnginx-mod-rtmp"
        );
        let dir = tempfile::Builder::new()
            .prefix("playout-nginx-")
            .tempdir()
            .expect("create nginx temp dir");
        let root = dir.path().to_path_buf();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod nginx dir");
        let rec = root.join("rec");
        fs::create_dir(&rec).expect("create rec dir");
        fs::set_permissions(&rec, fs::Permissions::from_mode(0o777)).expect("chmod rec dir");

        let port = free_port();
        let tls = with_tls.then(|| {
            assert!(
                Path::new(STREAM_MODULE).exists(),
                "{STREAM_MODULE} missing: install libnginx-mod-stream"
            );
            tls::make_front(&root, free_port())
        });
        let conf = root.join("nginx.conf");
        fs::write(&conf, config(&root, port, tls.as_ref())).expect("write nginx.conf");
        let mut nginx = Nginx {
            dir,
            port,
            child: None,
            tls,
            log_offset: 0,
        };
        nginx.start_again();
        nginx
    }

    /// Spawn nginx (again) with the same config; returns the Instant at which the RTMP port
    /// first accepted a TCP connection (polled every 2 ms). Panics if already running.
    pub fn start_again(&mut self) -> Instant {
        assert!(self.child.is_none(), "nginx is already running");
        let root = self.dir.path().to_path_buf();
        self.log_offset = self.error_log().len();
        let append = |n: &str| {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(root.join(n))
                .expect("nginx log file")
        };
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&root)
            .arg("-e")
            .arg(root.join("error.log"))
            .arg("-c")
            .arg(root.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(append("stdout.log"))
            .stderr(append("stderr.log"))
            .spawn()
            .expect("spawn nginx (is it installed?)");
        self.child = Some(child);
        let at = self.wait_listening(self.port, Duration::from_secs(10));
        if let Some(t) = self.tls.as_ref().map(|t| t.port) {
            self.wait_listening(t, Duration::from_secs(10));
        }
        at
    }

    /// Stop nginx at once (SIGTERM: connections are closed, recordings finalised), as an ingest
    /// outage. Returns when the master has exited, i.e. the port no longer accepts.
    pub fn kill_ingest(&mut self) -> Instant {
        self.stop_with(&[("-TERM", 5), ("-KILL", 5)]);
        Instant::now()
    }

    /// `kill_ingest`, wait `outage`, `start_again`: returns (down at, accepting again at).
    pub fn restart(&mut self, outage: Duration) -> (Instant, Instant) {
        let down = self.kill_ingest();
        thread::sleep(outage.saturating_sub(down.elapsed()));
        let up = self.start_again();
        (down, up)
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn wait_listening(&mut self, port: u16, timeout: Duration) -> Instant {
        let deadline = Instant::now() + timeout;
        loop {
            let addr = ([127, 0, 0, 1], port).into();
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Instant::now();
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    panic!(
                        "nginx exited with {status} before listening on {port}\n{}",
                        self.logs()
                    );
                }
            }
            if Instant::now() > deadline {
                let logs = self.logs();
                self.stop();
                panic!("nginx did not listen on 127.0.0.1:{port} within {timeout:?}\n{logs}");
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn rec_dir(&self) -> PathBuf {
        self.dir.path().join("rec")
    }

    /// `rtmp://127.0.0.1:PORT/live/STREAM`
    pub fn url(&self, stream: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{stream}", self.port)
    }

    fn front(&self) -> &TlsFront {
        self.tls
            .as_ref()
            .expect("nginx started without TLS: use Nginx::start_with_tls")
    }

    /// The TLS front's port.
    pub fn tls_port(&self) -> u16 {
        self.front().port
    }

    /// `rtmps://127.0.0.1:TLSPORT/live/STREAM` (through the TLS front).
    pub fn tls_url(&self, stream: &str) -> String {
        format!("rtmps://127.0.0.1:{}/live/{stream}", self.tls_port())
    }

    /// The TLS front's self-signed certificate (PEM): also the CA file that trusts it.
    pub fn cert_path(&self) -> PathBuf {
        self.front().cert.clone()
    }

    /// error.log's path (appended to across restarts).
    pub fn error_log_path(&self) -> PathBuf {
        self.dir.path().join("error.log")
    }

    /// The `.flv` recordings, oldest first (by mtime, then name).
    pub fn recordings(&self) -> Vec<PathBuf> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(self.rec_dir())
            .expect("read rec dir")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "flv"))
            .map(|p| {
                let mtime = fs::metadata(&p)
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (mtime, p)
            })
            .collect();
        files.sort();
        files.into_iter().map(|(_, p)| p).collect()
    }

    /// The recordings of one stream name (`STREAM-<time>.flv`).
    pub fn recordings_of(&self, stream: &str) -> Vec<PathBuf> {
        let prefix = format!("{stream}-");
        self.recordings()
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix))
            })
            .collect()
    }

    /// How many times a publisher started publishing `stream` (one per RTMP session).
    pub fn publish_count(&self, stream: &str) -> usize {
        let needle = format!("publish: name='{stream}'");
        self.error_log().matches(&needle).count()
    }

    pub fn error_log(&self) -> String {
        fs::read_to_string(self.error_log_path()).unwrap_or_default()
    }

    /// error.log plus nginx's own stdout/stderr, for panic messages.
    pub fn logs(&self) -> String {
        let read = |n: &str| fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!(
            "--- nginx error.log ---\n{}--- nginx stderr ---\n{}--- nginx stdout ---\n{}",
            self.error_log(),
            read("stderr.log"),
            read("stdout.log")
        )
    }

    /// Wait until no client of the running instance is connected any more (every
    /// `client connected` since it started has its `disconnect`), so recordings are closed.
    /// Returns false on timeout.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let full = self.error_log();
            let log = full.get(self.log_offset..).unwrap_or("");
            let connected = log.matches("client connected").count();
            let gone = log.matches(" disconnect, client").count();
            if gone >= connected {
                // Let the worker finish closing the recording files.
                thread::sleep(Duration::from_millis(200));
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Graceful stop (SIGQUIT), then SIGTERM, then SIGKILL; waits for the master to exit.
    pub fn stop(&mut self) {
        self.stop_with(&[("-QUIT", 5), ("-TERM", 5), ("-KILL", 5)]);
    }

    fn stop_with(&mut self, signals: &[(&str, u64)]) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        for &(signal, grace) in signals {
            let _ = Command::new("kill")
                .arg(signal)
                .arg(child.id().to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(grace);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.wait();
    }
}

impl Drop for Nginx {
    /// Stops nginx. The folder (config, logs, recordings) is kept for inspection when the test
    /// is failing or `PLAYOUT_KEEP_TEST_DIRS` is set.
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() || std::env::var_os("PLAYOUT_KEEP_TEST_DIRS").is_some() {
            self.dir.disable_cleanup(true);
            eprintln!("kept nginx folder {}", self.dir.path().display());
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

fn config(root: &Path, port: u16, tls: Option<&TlsFront>) -> String {
    let stream = match tls {
        None => String::new(),
        Some(t) => format!(
            "stream {{
    server {{
        listen 127.0.0.1:{tport} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        proxy_pass 127.0.0.1:{port};
    }}
}}
",
            tport = t.port,
            cert = t.cert.display(),
            key = t.key.display(),
        ),
    };
    let load_stream = match tls {
        None => String::new(),
        Some(_) => format!("load_module {STREAM_MODULE};\n"),
    };
    let root = root.display();
    format!(
        "load_module {RTMP_MODULE};
{load_stream}daemon off;
master_process on;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{}}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
        application live {{
            live on;
            record all;
            record_path {root}/rec;
            record_unique on;
        }}
    }}
}}
{stream}"
    )
}
