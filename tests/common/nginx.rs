//! A throwaway nginx + RTMP module ingest that records every published stream to FLV.
//!
//! Each `Nginx` runs in its own temp folder on a free 127.0.0.1 port. Started as root, nginx
//! drops its worker to `nobody`, so the folder is made traversable and the recording folder
//! world-writable. A recording is complete once its publisher has disconnected.
//!
//! nginx-rtmp names recordings `STREAM-<unix seconds>.flv` (`record_unique on`) and truncates an
//! existing file of the same name: two publish sessions within one second leave ONE file holding
//! only the second session. `publish_count` (from the error log) is the reliable session count.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Where Debian's `libnginx-mod-rtmp` installs the module.
pub const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

pub struct Nginx {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Nginx {
    /// Start nginx on a free port; panics (with the error log) if it does not listen within 10 s.
    pub fn start() -> Nginx {
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
        let conf = root.join("nginx.conf");
        fs::write(&conf, config(&root, port)).expect("write nginx.conf");
        let stdout = fs::File::create(root.join("stdout.log")).expect("stdout.log");
        let stderr = fs::File::create(root.join("stderr.log")).expect("stderr.log");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&root)
            .arg("-e")
            .arg(root.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn nginx (is it installed?)");
        let mut nginx = Nginx {
            dir,
            port,
            child: Some(child),
        };
        nginx.wait_listening(Duration::from_secs(10));
        nginx
    }

    fn wait_listening(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    panic!(
                        "nginx exited with {status} before listening on {}\n{}",
                        self.port,
                        self.logs()
                    );
                }
            }
            if Instant::now() > deadline {
                let logs = self.logs();
                self.stop();
                panic!(
                    "nginx did not listen on 127.0.0.1:{} within {timeout:?}\n{logs}",
                    self.port
                );
            }
            thread::sleep(Duration::from_millis(50));
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
        fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
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

    /// Wait until no client is connected any more (every `client connected` has its
    /// `disconnect`), so recordings are closed. Returns false on timeout.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.error_log();
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
        let Some(mut child) = self.child.take() else {
            return;
        };
        for (signal, grace) in [("-QUIT", 5), ("-TERM", 5), ("-KILL", 5)] {
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

fn config(root: &Path, port: u16) -> String {
    let root = root.display();
    format!(
        "load_module {RTMP_MODULE};
daemon off;
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
"
    )
}
