//! The host's list of channels: one entry an id, each with what `/api/v1/channels` shows and
//! what the front door needs to reach the child (its port and this start's token).
//!
//! Who writes what: an entry's `view` is written only by that channel's supervisor task (and
//! by the folder watcher for a channel that never started); entries come and go only with
//! the folder watcher. The front door and `/metrics` read copies.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::clock::wall_now;
use crate::config::{ApiToken, ChannelConfig};
use crate::time::Micros;

/// Where a channel is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChildState {
    /// Its process is starting, or has not yet encoded its first frame.
    Starting,
    OnAir,
    /// Its process ended or stopped making progress; it is started again after a backoff.
    Restarting,
    /// Its file does not validate, or conflicts with another channel's: nothing runs.
    Failed,
    /// Stopped by the host (its file was removed, or the host stops).
    Stopped,
}

impl ChildState {
    pub const ALL: [ChildState; 5] = [
        ChildState::Starting,
        ChildState::OnAir,
        ChildState::Restarting,
        ChildState::Failed,
        ChildState::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChildState::Starting => "starting",
            ChildState::OnAir => "on_air",
            ChildState::Restarting => "restarting",
            ChildState::Failed => "failed",
            ChildState::Stopped => "stopped",
        }
    }
}

/// One channel as the host sees it.
#[derive(Clone, Debug)]
pub struct View {
    pub id: String,
    /// The channel's `name` (the id while its file does not validate).
    pub name: String,
    pub state: ChildState,
    /// When `state` last changed (wall clock).
    pub since: Micros,
    pub pid: Option<u32>,
    /// How often its process was started again after ending or stalling.
    pub restarts: u64,
    /// (title, kind) of what is on air, from the child's `/api/v1/now`.
    pub on_air: Option<(String, String)>,
    /// What is wrong now: why it failed, why it is restarting, or (on air) its last
    /// rejected reload.
    pub error: Option<String>,
    /// When and why its process was last started again after ending or hanging.
    pub last_restart: Option<(Micros, String)>,
    /// Whether the channel has an HLS output (then `/c/ID/hls/index.m3u8` plays it).
    pub hls: bool,
    /// The child's loopback HTTP port, while it runs.
    pub port: Option<u16>,
    /// This start's token: the child's control routes take it and nothing else.
    pub token: Option<ApiToken>,
    /// The channel file's own `http.api_token`: it opens this channel's control routes at
    /// the front door.
    pub own_token: Option<ApiToken>,
}

impl View {
    pub fn new(id: &str, config: Option<&ChannelConfig>) -> View {
        let mut v = View {
            id: id.to_string(),
            name: id.to_string(),
            state: ChildState::Starting,
            since: wall_now(),
            pid: None,
            restarts: 0,
            on_air: None,
            error: None,
            last_restart: None,
            hls: false,
            port: None,
            token: None,
            own_token: None,
        };
        if let Some(c) = config {
            v.configure(c);
        }
        v
    }

    /// What the channel file says that the host shows or checks.
    pub fn configure(&mut self, c: &ChannelConfig) {
        self.name = c.name.clone();
        self.own_token = c.http.api_token.clone();
        self.hls = c
            .outputs
            .iter()
            .any(|o| matches!(o.target(), Ok(crate::config::OutputTarget::Hls(_))));
    }

    /// Moves to `state` (and stamps `since` if that is a change).
    pub fn set_state(&mut self, state: ChildState) {
        if self.state != state {
            self.state = state;
            self.since = wall_now();
        }
    }

    /// The entry of `/api/v1/channels`.
    pub fn to_json(&self) -> serde_json::Value {
        let base = format!("/c/{}", self.id);
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "state": self.state.as_str(),
            "since": crate::schedule::rfc3339(self.since),
            "pid": self.pid,
            "restarts": self.restarts,
            "on_air": self.on_air.as_ref().map(|(title, kind)| serde_json::json!({"title": title, "kind": kind})),
            "error": self.error,
            "last_restart": self.last_restart.as_ref().map(|(at, why)| serde_json::json!({
                "at": crate::schedule::rfc3339(*at),
                "reason": why,
            })),
            "watch": format!("{base}/"),
            "console": format!("{base}/console"),
            "hls": self.hls.then(|| format!("{base}/hls/index.m3u8")),
        })
    }
}

/// Every channel of the host, by id.
#[derive(Clone, Default)]
pub struct Registry(Arc<Mutex<BTreeMap<String, View>>>);

impl Registry {
    pub fn insert(&self, view: View) {
        self.lock().insert(view.id.clone(), view);
    }

    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    pub fn get(&self, id: &str) -> Option<View> {
        self.lock().get(id).cloned()
    }

    /// Changes `id`'s view, if it is still listed.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut View)) {
        if let Some(v) = self.lock().get_mut(id) {
            f(v);
        }
    }

    /// Every view, by id.
    pub fn all(&self) -> Vec<View> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, View>> {
        // A panic while holding the lock leaves plain data behind: still good to read.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
