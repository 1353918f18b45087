//! Polling the watched files (issue 27): a write made by another machine to a shared volume
//! (NFS, a Kubernetes ReadWriteMany volume), which is how two instances of a channel share one
//! playlist, reaches no inotify. Every `reload.poll` the poller compares the files' size and
//! modification time with what the last reload read, and asks for a reload when they differ.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};

/// Each watched file's size and modification time (`None`: not there).
pub type Signature = Vec<Option<(u64, std::time::SystemTime)>>;

pub fn signature(files: &[PathBuf]) -> Signature {
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).ok()?;
            Some((m.len(), m.modified().ok()?))
        })
        .collect()
}

/// The watched files and their signature when a reload last read them, shared by the reload
/// thread (which writes it as each reload begins) and the poller (which compares).
#[derive(Clone)]
pub struct LastRead {
    files: Arc<Vec<PathBuf>>,
    seen: Arc<Mutex<Signature>>,
}

impl LastRead {
    pub fn new(files: &[PathBuf]) -> LastRead {
        LastRead {
            files: Arc::new(files.to_vec()),
            seen: Arc::new(Mutex::new(signature(files))),
        }
    }

    /// Notes the files as they are now (a reload is about to read them).
    pub(super) fn read_now(&self) {
        let now = signature(&self.files);
        if let Ok(mut s) = self.seen.lock() {
            *s = now;
        }
    }

    /// Whether the files differ from what the last reload read.
    fn changed(&self) -> bool {
        let now = signature(&self.files);
        self.seen.lock().map_or(true, |s| *s != now)
    }
}

/// Asks for a reload when a watched file's size or modification time differs from what the
/// last reload read, looking every `every`: inotify does not see a write made by another
/// machine to a shared volume (NFS, a Kubernetes ReadWriteMany volume), which is how two
/// instances share one playlist. A change inotify has already told is not read twice. Ends
/// when dropped (at once) or when the reloader is gone.
pub struct Poller {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Poller {
    /// Looks at `last_read`'s files every `every` and asks for a reload when they differ from
    /// what the last reload read.
    pub fn start(last_read: LastRead, every: Duration, requests: Sender<()>) -> Poller {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("reload-poll".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    if last_read.changed() {
                        if let Err(crossbeam_channel::TrySendError::Disconnected(_)) =
                            requests.try_send(())
                        {
                            break;
                        }
                    }
                }
            })
            .ok();
        Poller {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The poller asks for a reload of a change no reload has read (a write from another
    /// machine, which inotify never tells), and not again for one a reload has read.
    #[test]
    fn the_poller_asks_once_for_a_change_no_reload_has_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        std::fs::write(&file, "items: []\n").unwrap();
        let last = LastRead::new(std::slice::from_ref(&file));
        let (tx, rx) = crossbeam_channel::bounded(1);
        let poller = Poller::start(last.clone(), Duration::from_millis(50), tx);
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "nothing changed"
        );
        // Another size: a change.
        std::fs::write(&file, "items: [] # edited\n").unwrap();
        rx.recv_timeout(Duration::from_secs(5))
            .expect("the change was not seen");
        // A reload reads it: no more asking.
        last.read_now();
        while rx.try_recv().is_ok() {}
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "asked again for what was read"
        );
        drop(poller);
    }
}
