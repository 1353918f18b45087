//! Hot reload: the channel and playlist files are watched (and SIGHUP asks too); a burst of
//! changes ends in one reload of the final content. Each reload parses and validates the files
//! and builds a new lineup off the media path; a good one is handed to the source thread,
//! which adopts it at its next boundary. A bad one is rejected: the playlist on air plays on
//! untouched, and the error stays visible (log, metric, API) until a good edit clears it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::config::ChannelConfig;
use crate::lineup::{self, Durations};
use crate::metrics::Metrics;
use crate::output::manager::Manager;
use crate::pipeline::follow::Update;
use crate::pipeline::slate::Look;

mod poll;
use crate::pipeline::ChannelFormat;
use crate::playlist::{Item, Playlist};
use crate::snapshot::Snapshot;
pub use poll::{signature, LastRead, Poller, Signature};

/// Quiet time after the last change before reloading: editors write in bursts, and
/// rename-over and delete-then-create are two events for one save.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// What the reloader last did, as it publishes it (`/api/v1/now`, `/healthz`, `/metrics`).
#[derive(Clone, Debug, Default)]
pub struct ReloadStatus {
    /// Why the last reload was rejected, until a good one clears it.
    pub last_error: Option<String>,
}

/// Why a reload was rejected. The playlist on air plays on.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{}: {field} changed, which cannot change on air (restart playout to apply it)", .file.display())]
    NeedsRestart { file: PathBuf, field: &'static str },
    #[error("{}: overlay: the logo cannot be drawn: {source}", .file.display())]
    Logo {
        file: PathBuf,
        source: ffmpeg_next::Error,
    },
    #[error("{}: outputs: the list is empty; a channel needs at least one output", .file.display())]
    NoOutputs { file: PathBuf },
    #[error("{}: {source}", .file.display())]
    Outputs {
        file: PathBuf,
        source: crate::output::manager::ApplyError,
    },
}

pub struct Reloader {
    pub channel: ChannelConfig,
    pub durations: Durations,
    pub updates: Sender<Update>,
    pub metrics: Arc<Metrics>,
    pub status: Arc<Snapshot<ReloadStatus>>,
    /// The outputs the channel started, which a reload changes.
    pub outputs: Arc<Mutex<Manager>>,
    /// The outputs came from `--output`: the file's `outputs:` is not applied.
    pub outputs_fixed: bool,
    /// Run by a host (`playout run DIR`): its front door applies the file's `http`, so a
    /// change there is not this channel's to refuse.
    pub http_from_host: bool,
    /// The watched files as each reload found them, for the poller: a change a reload has
    /// already read (told by inotify) is not read again.
    pub last_read: LastRead,
}

impl Reloader {
    /// Reloads both files; returns whether the new lineup was sent.
    pub fn reload(&mut self) -> bool {
        self.last_read.read_now();
        match self.prepare() {
            Ok(update) => {
                let playlist = &update.lineup.playlist;
                let (items, events) = (playlist.items.len(), playlist.events.len());
                let file = playlist.file.display().to_string();
                if self.updates.send(update).is_err() {
                    return false;
                }
                self.metrics
                    .playlist_reloads_total
                    .with_label_values(&["ok"])
                    .inc();
                self.metrics.playlist_items.set(items as i64);
                self.status.set(ReloadStatus::default());
                tracing::info!(%file, items, events, "Playlist reloaded.");
                true
            }
            Err(e) => {
                self.metrics
                    .playlist_reloads_total
                    .with_label_values(&["rejected"])
                    .inc();
                tracing::error!(error = %e, "Reload rejected; the playlist on air is unchanged.");
                self.status.set(ReloadStatus {
                    last_error: Some(e.to_string()),
                });
                false
            }
        }
    }

    fn prepare(&mut self) -> Result<Update, ReloadError> {
        let mut channel = ChannelConfig::load(&self.channel.file)?;
        if self.http_from_host {
            channel.http = self.channel.http.clone();
        }
        if let Some(field) = restart_needed(&self.channel, &channel) {
            return Err(ReloadError::NeedsRestart {
                file: channel.file.clone(),
                field,
            });
        }
        let playlist = Playlist::load_named(&channel.playlist, &channel.file)?;
        warn_missing(&playlist);
        warn_live(&channel, &playlist);
        // A new logo is drawn here, off the media path; one that cannot be drawn rejects the
        // reload and the logo on air stays.
        let look = if channel.overlay != self.channel.overlay
            || channel.text != self.channel.text
            || channel.slate.image != self.channel.slate.image
            || channel.slate.clip != self.channel.slate.clip
        {
            let look = Look::of(&channel, &ChannelFormat::of(&channel)).map_err(|source| {
                ReloadError::Logo {
                    file: channel.file.clone(),
                    source,
                }
            })?;
            Some(look)
        } else {
            None
        };
        let lineup = lineup::build(
            Arc::new(playlist),
            channel.timezone,
            channel.slate.failure_duration,
            &mut self.durations,
        );
        if channel.outputs != self.channel.outputs && !self.outputs_fixed {
            self.apply_outputs(&channel)?;
        }
        self.channel = channel;
        if look.is_some() {
            tracing::info!(logo = ?self.channel.overlay.as_ref().map(|o| o.image.display().to_string()), "Overlay changed; it shows from the next item.");
        }
        // When the edit was made, as the files say (the same for every instance that
        // shares them): in lockstep a hand edit takes effect from `reload.settle` after it.
        let edited = [&self.channel.file, &self.channel.playlist]
            .iter()
            .filter_map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
            .max()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or_else(crate::clock::wall_now, |d| {
                crate::time::Micros(d.as_micros() as i64)
            });
        Ok(Update {
            lineup: Arc::new(lineup),
            look,
            edited,
        })
    }
}

impl Reloader {
    /// Starts, stops and restarts outputs to match `channel`'s, at once (not at a boundary):
    /// the others and the timeline are untouched.
    fn apply_outputs(&mut self, channel: &ChannelConfig) -> Result<(), ReloadError> {
        let file = || channel.file.clone();
        if channel.outputs.is_empty() {
            return Err(ReloadError::NoOutputs { file: file() });
        }
        let mut m = self.outputs.lock().unwrap_or_else(|e| e.into_inner());
        let changes = m
            .apply(channel.outputs.clone())
            .map_err(|source| ReloadError::Outputs {
                file: file(),
                source,
            })?;
        if !changes.is_empty() {
            tracing::info!(added = ?changes.added, removed = ?changes.removed, restarted = ?changes.restarted, "Outputs changed by reload.");
        }
        Ok(())
    }
}

/// The first channel setting that differs and needs a restart: the encoders, the slate
/// picture and the HTTP listener are built once at start. Outputs change on reload (see
/// `output::manager`), unless they came from `--output`, when the file's are not applied at
/// all.
pub fn restart_needed(old: &ChannelConfig, new: &ChannelConfig) -> Option<&'static str> {
    let checks: [(&'static str, bool); 13] = [
        ("name", old.name != new.name),
        ("playlist", old.playlist != new.playlist),
        ("video", old.video != new.video),
        ("audio", old.audio != new.audio),
        ("slate.text", old.slate.text != new.slate.text),
        (
            "slate.background",
            old.slate.background != new.slate.background,
        ),
        ("http", old.http != new.http),
        ("media", old.media != new.media),
        ("state", old.state != new.state),
        ("prepare", old.prepare != new.prepare),
        ("asrun", old.asrun != new.asrun),
        ("anchor", old.anchor != new.anchor),
        ("reload", old.reload != new.reload),
    ];
    checks.iter().find(|(_, changed)| *changed).map(|(f, _)| *f)
}

/// Media that does not exist (yet) is not an error: it may be uploaded later.
fn warn_missing(p: &Playlist) {
    let missing: Vec<String> = p
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Media(m) => Some(&m.path),
            Item::Slate(_) | Item::Live(_) => None,
        })
        .chain(p.events.iter().filter_map(|e| e.media().map(|m| &m.path)))
        .filter(|path| !path.exists())
        .map(|path| path.display().to_string())
        .collect();
    if !missing.is_empty() {
        tracing::warn!(files = ?missing, "Media files do not exist yet; they play as slate until they do.");
    }
}

/// The reload thread: waits for requests, lets a burst settle, reloads once.
pub fn run(mut r: Reloader, requests: Receiver<()>) {
    while requests.recv().is_ok() {
        loop {
            match requests.recv_timeout(DEBOUNCE) {
                Ok(()) => continue,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        r.reload();
    }
}

/// Watches the folders of `files` and asks for a reload when one of the files is written,
/// created, removed or renamed onto. Keep the returned watcher alive.
pub fn watch(
    files: &[PathBuf],
    requests: Sender<()>,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    let names: Vec<PathBuf> = files.to_vec();
    let wanted = move |p: &Path| {
        names
            .iter()
            .any(|f| f.file_name() == p.file_name() && same_dir(f, p))
    };
    let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if !matches!(ev.kind, notify::EventKind::Access(_))
                && ev.paths.iter().any(|p| wanted(p))
            {
                let _ = requests.try_send(());
            }
        }
    })?;
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        w.watch(&d, notify::RecursiveMode::NonRecursive)?;
    }
    Ok(w)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| p.parent().and_then(|d| d.canonicalize().ok());
    canon(a) == canon(b)
}

/// Live events in a channel with no live input play only their starting-soon slate: said once
/// per load, as `playout check` says it.
pub fn warn_live(channel: &ChannelConfig, playlist: &Playlist) {
    let w = crate::playlist::live_without_input(channel, playlist);
    if let Some(w) = w.strip_prefix("; ") {
        tracing::warn!(file = %playlist.file.display(), "{w}.");
    }
}
