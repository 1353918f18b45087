//! `playout` running in the background: stdout/stderr go to files, a thread timestamps every
//! stderr line as it appears (to within ~20 ms), and the test can poll, wait or kill it.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{tail, Run};

pub struct Playout {
    child: Option<Child>,
    logs: tempfile::TempDir,
    pub started: Instant,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    _tail: super::watch::Poller,
}

impl Playout {
    /// Spawn `playout ARGS` with `NO_COLOR=1` and the extra environment `envs`.
    pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Playout {
        let logs = tempfile::tempdir().expect("log dir");
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_playout"))
            .args(args)
            .env("NO_COLOR", "1")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(fs::File::create(logs.path().join("stdout")).expect("stdout file"))
            .stderr(fs::File::create(logs.path().join("stderr")).expect("stderr file"))
            .spawn()
            .expect("spawn playout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (l, path) = (lines.clone(), logs.path().join("stderr"));
        let mut done = 0usize;
        let tailer = super::watch::Poller::spawn(Duration::from_millis(20), move || {
            let text = fs::read_to_string(&path).unwrap_or_default();
            // Only whole lines.
            let end = text.rfind('\n').map_or(0, |i| i + 1);
            if end > done {
                let now = Instant::now();
                let mut l = l.lock().unwrap();
                for line in text[done..end].lines() {
                    l.push((now, line.to_string()));
                }
                done = end;
            }
        });
        Playout {
            child: Some(child),
            logs,
            started,
            lines,
            _tail: tailer,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.logs.path().join(name)
    }

    /// Still running?
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.path("stderr")).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(self.path("stdout")).unwrap_or_default()
    }

    /// Every stderr line seen so far with when it was seen.
    pub fn lines(&self) -> Vec<(Instant, String)> {
        self.lines.lock().unwrap().clone()
    }

    /// The first stderr line at or after `t` containing every one of `parts`.
    pub fn line_after(&self, t: Instant, parts: &[&str]) -> Option<(Instant, String)> {
        self.lines()
            .into_iter()
            .find(|(at, l)| *at >= t && parts.iter().all(|p| l.contains(p)))
    }

    /// The first line at or after `t` holding every part, waiting up to `timeout` for it.
    pub fn wait_line_after(
        &self,
        t: Instant,
        parts: &[&str],
        timeout: Duration,
    ) -> Option<(Instant, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.line_after(t, parts);
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait for the process to exit (killed, and the test panics, after `timeout` from start).
    pub fn wait(mut self, timeout: Duration) -> Run {
        let mut child = self.child.take().expect("child");
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait playout") {
                break status;
            }
            if self.started.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "playout still running after {timeout:?}; killed. stderr tail:\n{}",
                    tail(&self.stderr(), 40)
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        self.say_underruns();
        Run {
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
            wall: self.started.elapsed(),
        }
    }

    /// Says, on the test's stderr, how often the air ran dry in this run (nextest shows it
    /// with `--success-output`): what the lead is for, measured across the suite.
    fn say_underruns(&self) {
        let n = self.stderr().matches("Underrun:").count();
        if n > 0 {
            eprintln!("PLAYOUT_UNDERRUNS {n}");
        }
    }
}

impl Drop for Playout {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            self.say_underruns();
        }
    }
}
