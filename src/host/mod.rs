//! Many channels behind one front door (issue 29): `playout run DIR` runs every
//! `DIR/NAME.channel.yaml` as its own process, supervised, behind one HTTP port.
//!
//! - `folder`: the folder read and checked whole (ids, each file, conflicts);
//! - `child`: one channel's supervisor (start, watch, restart with backoff, stop);
//! - `registry`: what the host knows of each channel;
//! - `front`: the front door (list page, `/c/{id}/…`, the channels API, M3U, XMLTV, metrics);
//! - `exposition`: the channels' metrics merged into one exposition;
//! - `fetch`: HTTP to a child on loopback.
//!
//! The folder is live: it is looked at every `WATCH_EVERY`; a new channel is started, a
//! removed one stopped (its state file kept), a changed one left to its own reload unless the
//! change needs a restart, and a file that does not validate is listed as failed with the
//! checker's message while every other channel plays on.

mod child;
mod exposition;
mod fetch;
pub mod folder;
mod front;
mod registry;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::ChannelConfig;
use crate::notify::Notifier;

pub use child::{MAX_BACKOFF, MIN_BACKOFF, STEADY, WATCHDOG};
pub use folder::{Folder, FolderError};
pub use registry::ChildState;

use child::{Ask, Supervisor};
use registry::{Registry, View};

/// What a hosted channel prints on stdout, before its port, once it serves HTTP.
pub const HOSTED_READY: &str = "playout-hosted-port";

/// How often the folder is looked at for added, removed and changed files.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

/// How to run a host.
pub struct HostOptions {
    pub dir: PathBuf,
    /// `--http`: overrides host.yaml's `http.listen`.
    pub http: Option<SocketAddr>,
    /// This program, which each channel runs as (`playout run FILE --hosted`).
    pub exe: PathBuf,
    pub notifier: Option<Arc<Notifier>>,
    /// Tests only (`--test-freeze-after` given to the host): each channel's first process
    /// hangs its encoder after this much channel time, for the host's watchdog to find.
    pub freeze_first_start_after: Option<crate::time::Micros>,
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Folder(#[from] FolderError),
    #[error(transparent)]
    Listen(#[from] crate::http::ListenError),
    #[error(
        "{0}: no HTTP address for the front door: set http.listen in host.yaml or give --http"
    )]
    NoListen(PathBuf),
}

/// A channel the host runs: its supervisor and the file as it was last read.
struct Running {
    supervisor: Supervisor,
    config: ChannelConfig,
}

/// The host: everything it keeps between looks at the folder.
struct Host {
    dir: PathBuf,
    exe: PathBuf,
    freeze: Option<crate::time::Micros>,
    registry: Registry,
    running: BTreeMap<String, Running>,
    /// What the folder's files looked like at the last look.
    seen: Stamp,
    /// host.yaml's token, which the front door's gate reads.
    token: Arc<crate::snapshot::Snapshot<Option<crate::config::ApiToken>>>,
    /// host.yaml's `http.listen` as last read (moving the front door needs a restart).
    file_listen: Option<SocketAddr>,
}

/// Each relevant file of the folder: its name, length and modification time.
type Stamp = Vec<(String, u64, Option<SystemTime>)>;

fn stamp(dir: &Path) -> Stamp {
    let mut v: Stamp = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name.ends_with(folder::SUFFIX) || name == folder::HOST_FILE) {
                return None;
            }
            let meta = e.metadata().ok()?;
            Some((name, meta.len(), meta.modified().ok()))
        })
        .collect();
    v.sort();
    v
}

/// Runs the host of `opts.dir` until `stop` ends, then stops every channel cleanly.
pub async fn run(
    opts: HostOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), HostError> {
    let seen = stamp(&opts.dir);
    let folder = read(opts.dir.clone(), BTreeSet::new()).await?;
    let listen = opts
        .http
        .or(folder.host.listen)
        .ok_or_else(|| HostError::NoListen(opts.dir.clone()))?;
    let listener = crate::http::listen(listen, folder.host.api_token.is_some()).await?;
    let listen = listener.local_addr().unwrap_or(listen);
    let token = Arc::new(crate::snapshot::Snapshot::new(
        folder.host.api_token.clone(),
    ));
    let mut host = Host {
        dir: opts.dir.clone(),
        token: token.clone(),
        file_listen: folder.host.listen,
        exe: opts.exe,
        freeze: opts.freeze_first_start_after,
        registry: Registry::default(),
        running: BTreeMap::new(),
        seen,
    };
    host.adopt(folder);
    let front = Arc::new(front::Front {
        registry: host.registry.clone(),
        token,
        listen,
    });
    tokio::spawn(crate::http::serve_with(listener, None, move |req| {
        front::route(req, front.clone())
    }));
    tracing::info!(%listen, dir = %opts.dir.display(), channels = host.running.len(), "Host serving the channel list at http://{listen}/.");
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!("open http://{listen}/");
    }
    if let Some(n) = &opts.notifier {
        n.send("READY=1");
        spawn_watchdog(n.clone(), host.registry.clone());
    }
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(WATCH_EVERY) => host.look(listen).await,
        }
    }
    if let Some(n) = &opts.notifier {
        n.stopping();
    }
    for r in host.running.values() {
        let _ = r.supervisor.asks.send(Ask::Stop);
    }
    for (id, r) in std::mem::take(&mut host.running) {
        if r.supervisor.task.await.is_err() {
            tracing::error!(channel = %id, "A channel's supervisor panicked.");
        }
    }
    tracing::info!("Host stopped: every channel ended.");
    Ok(())
}

/// The folder read and checked on the blocking pool (checking probes media files), the
/// channels in `keep` winning any conflict.
async fn read(dir: PathBuf, keep: BTreeSet<String>) -> Result<Folder, FolderError> {
    match tokio::task::spawn_blocking(move || Folder::read_keeping(&dir, &keep)).await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

impl Host {
    /// Looks at the folder; reads and adopts it if any file changed.
    async fn look(&mut self, listen_now: SocketAddr) {
        let now = stamp(&self.dir);
        if now == self.seen {
            return;
        }
        self.seen = now;
        let keep: BTreeSet<String> = self.running.keys().cloned().collect();
        match read(self.dir.clone(), keep).await {
            Ok(folder) => {
                if folder.host.api_token != *self.token.get() {
                    tracing::info!(
                        "host.yaml's api_token changed: the front door's gate takes the new one."
                    );
                    self.token.set(folder.host.api_token.clone());
                }
                if folder.host.listen != self.file_listen {
                    tracing::warn!(%listen_now, "host.yaml's http.listen changed: restart the host to move the front door.");
                    self.file_listen = folder.host.listen;
                }
                self.adopt(folder)
            }
            Err(e) => {
                tracing::error!(error = %e, "The channel folder changed but cannot be read; every channel plays on.")
            }
        }
    }

    /// Makes the channels running match `folder`.
    fn adopt(&mut self, folder: Folder) {
        let listed: BTreeSet<String> = folder.members.iter().map(|m| m.id.clone()).collect();
        for m in folder.members {
            match (m.checked, self.running.get_mut(&m.id)) {
                (Ok((config, _)), Some(r)) => {
                    let mut same_http = config.clone();
                    same_http.http = r.config.http.clone();
                    if let Some(field) = crate::reload::restart_needed(&r.config, &same_http) {
                        tracing::info!(channel = %m.id, field, "Channel file changed in a way a reload cannot apply: restarting that channel.");
                        let _ = r.supervisor.asks.send(Ask::Restart);
                    }
                    self.registry.update(&m.id, |v| v.configure(&config));
                    r.config = config;
                }
                (Ok((config, _)), None) => {
                    tracing::info!(channel = %m.id, file = %m.file.display(), "Starting channel.");
                    self.registry.insert(View::new(&m.id, Some(&config)));
                    let supervisor = Supervisor::spawn(
                        m.id.clone(),
                        m.file.clone(),
                        self.exe.clone(),
                        self.freeze,
                        self.registry.clone(),
                    );
                    self.running.insert(m.id, Running { supervisor, config });
                }
                (Err(why), Some(_)) => {
                    // Its process refuses the same file on reload and plays on; say why here.
                    tracing::error!(channel = %m.id, error = %why, "Channel file does not validate; the channel plays on as it was.");
                    self.registry.update(&m.id, |v| v.error = Some(why));
                }
                (Err(why), None) => {
                    tracing::error!(channel = %m.id, error = %why, "Channel file does not validate; not started.");
                    let mut v = View::new(&m.id, None);
                    v.set_state(ChildState::Failed);
                    v.error = Some(why);
                    self.registry.insert(v);
                }
            }
        }
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|id| !listed.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(r) = self.running.remove(&id) {
                tracing::info!(channel = %id, "Channel file removed: stopping the channel (its state file is kept).");
                let _ = r.supervisor.asks.send(Ask::Stop);
                let registry = self.registry.clone();
                tokio::spawn(async move {
                    let _ = r.supervisor.task.await;
                    registry.remove(&id);
                });
            }
        }
        for v in self.registry.all() {
            if !listed.contains(&v.id) && v.state == ChildState::Failed {
                self.registry.remove(&v.id);
            }
        }
    }
}

/// The host's own watchdog: pings while its runtime runs, with the channels' states as
/// STATUS.
fn spawn_watchdog(n: Arc<Notifier>, registry: Registry) {
    let every = n.watchdog_interval().unwrap_or(Duration::from_secs(5));
    tokio::spawn(async move {
        let mut last = String::new();
        loop {
            let all = registry.all();
            let on = all.iter().filter(|v| v.state == ChildState::OnAir).count();
            let status = format!("STATUS={on} of {} channels on air", all.len());
            if status != last {
                n.send(&status);
                last = status;
            }
            if n.watchdog_interval().is_some() {
                n.send("WATCHDOG=1");
            }
            tokio::time::sleep(every.min(Duration::from_secs(5))).await;
        }
    });
}
