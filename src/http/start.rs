//! Starting HTTP for one channel: the listener (loopback, or an API token), the handlers'
//! state from the channel's `ChannelApi`, and serving it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::{bind, serve, ControlState, State};

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "refusing to serve HTTP on {0}, which is not a loopback address, without \
         http.api_token: anyone who can reach it could change the channel. Set \
         http.api_token (e.g. `api_token: ${{PLAYOUT_API_TOKEN}}`) or listen on 127.0.0.1"
    )]
    Open(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// Binds `addr` for a channel, which must have an API token unless `addr` is loopback.
pub async fn listen(addr: SocketAddr, has_token: bool) -> Result<TcpListener, ListenError> {
    if !(addr.ip().is_loopback() || has_token) {
        return Err(ListenError::Open(addr));
    }
    bind(addr).await.map_err(|e| ListenError::Bind(addr, e))
}

/// Serves one channel's `state` on `listener` until the task is dropped, saying where.
pub async fn serve_channel(listener: TcpListener, state: State) {
    let addr = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    if super::hls::folders(&state.outputs.get()).is_empty() {
        tracing::info!(%addr, "Serving http://{addr}/metrics and /healthz.");
    } else {
        tracing::info!(%addr, "Serving the watch page at http://{addr}/, the stream at /hls/index.m3u8, /metrics and /healthz.");
        // For a person at a terminal; a log pipeline has the line above.
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprintln!("open http://{addr}/");
        }
    }
    serve(listener, Arc::new(state)).await;
}

impl State {
    /// What the handlers of one channel read, from its `ChannelApi`; starts the media
    /// library's probe thread.
    pub fn of(api: &crate::channel::ChannelApi) -> std::io::Result<State> {
        let c = &api.config;
        Ok(State {
            metrics: api.metrics.clone(),
            timeline: api.timeline.clone(),
            channel: c.name.clone(),
            reload: api.reload_status.clone(),
            outputs: api.outputs.clone(),
            live: api.live.clone(),
            asrun: crate::asrun::dir_beside(&c.state),
            control: ControlState {
                token: c.http.api_token.clone(),
                playlist: c.playlist.clone(),
                media_dir: c.media.dir.clone(),
                max_upload: c.media.max_upload,
                prober: crate::library::Prober::start(
                    crate::pipeline::ChannelFormat::of(c),
                    api.quarantine.clone(),
                )?,
                skips: api.skips.clone(),
                reload: api.reload.clone(),
                frontier: api.frontier.clone(),
                edits: tokio::sync::Mutex::new(()),
                outputs: api.outputs.clone(),
                lockstep: c.anchor.map(|anchor| super::lockstep::Lockstep {
                    anchor,
                    settle: c.reload.settle,
                    fps: c.video.fps,
                }),
                timeline: api.timeline.clone(),
            },
        })
    }
}
