//! The `live` section of the channel file: where a presenter or a remote feed publishes to
//! take the channel over, and how the channel hands back when they stop.

use std::net::SocketAddr;

use serde::Deserialize;

use super::env::expand_env;
use super::values::{clip, Text};
use super::{ApiToken, Problems};
use crate::time::Micros;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "live settings: a mapping with listen and optionally timeout, rejoin, takeover, \
                 early and title"
)]
pub(super) struct LiveFile {
    listen: Text<4096>,
    timeout: Option<Micros>,
    rejoin: Option<Micros>,
    takeover: Option<Text<16>>,
    early: Option<Micros>,
    title: Option<Text<200>>,
}

/// A validated `live` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveSettings {
    pub listen: LiveListen,
    /// No packets for this long ends the live source (and the bridge after it lasts as long).
    pub timeout: Micros,
    /// A publisher that is back (connected with the right key) within this long of the last
    /// live frame resumes the takeover: the bridge waits for it instead of handing back.
    pub rejoin: Micros,
    pub takeover: Takeover,
    /// With `takeover: auto` and live events: how long before one a publisher may connect
    /// and wait off the air. Earlier, with no live event on, it is refused (`not_scheduled`).
    pub early: Micros,
    /// What `/api/v1/now` and the logs call an unscheduled takeover.
    pub title: String,
}

/// When a publisher goes on air.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takeover {
    /// At once, unless the playlist has live events: then only during them.
    Auto,
    /// At once, always (an early publisher for a live event too).
    Always,
}

impl Takeover {
    pub fn as_str(self) -> &'static str {
        match self {
            Takeover::Auto => "auto",
            Takeover::Always => "always",
        }
    }
}

/// Where the live input listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveListen {
    /// `rtmp://ADDR/APP/KEY`: a publisher must publish to APP with stream name KEY.
    Rtmp {
        addr: SocketAddr,
        app: String,
        key: ApiToken,
    },
    /// `srt://ADDR?passphrase=…` in listener mode (the passphrase is checked by libsrt).
    Srt {
        addr: SocketAddr,
        passphrase: Option<ApiToken>,
        latency_ms: Option<u32>,
    },
}

impl LiveListen {
    /// The address as it may be shown: the key and the passphrase masked.
    pub fn redacted(&self) -> String {
        match self {
            LiveListen::Rtmp { addr, app, .. } => format!("rtmp://{addr}/{app}/****"),
            LiveListen::Srt {
                addr, passphrase, ..
            } => match passphrase {
                Some(_) => format!("srt://{addr}?passphrase=****"),
                None => format!("srt://{addr}"),
            },
        }
    }

    pub fn addr(&self) -> SocketAddr {
        match self {
            LiveListen::Rtmp { addr, .. } | LiveListen::Srt { addr, .. } => *addr,
        }
    }
}

/// Fewer characters than this is too easy to guess for a key that puts anyone on air.
pub const MIN_KEY_CHARS: usize = 8;

pub(super) fn validate_live(
    raw: LiveFile,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Problems,
) -> Option<LiveSettings> {
    // The URL carries a secret: messages name the variable or the rule, never the value.
    let listen = match expand_env(&raw.listen.0, env) {
        Err(e) => {
            p.add("live.listen", format!("the address {e}"));
            None
        }
        Ok(url) => match parse_listen(&url) {
            Ok(l) => Some(l),
            Err(e) => {
                p.add("live.listen", e.to_string());
                None
            }
        },
    };
    let timeout = raw.timeout.unwrap_or(Micros::from_secs(1));
    if timeout < Micros::from_millis(100) || timeout > Micros::from_secs(60) {
        p.add(
            "live.timeout",
            format!("{timeout} is out of range (expected 100ms..=1m)"),
        );
    }
    let rejoin = raw.rejoin.unwrap_or(Micros::from_secs(5));
    if rejoin < Micros::ZERO || rejoin > Micros::from_secs(600) {
        p.add(
            "live.rejoin",
            format!("{rejoin} is out of range (expected 0s..=10m)"),
        );
    }
    let takeover = match raw.takeover.as_ref().map(|t| t.0.as_str()) {
        None | Some("auto") => Takeover::Auto,
        Some("always") => Takeover::Always,
        Some(other) => {
            p.add(
                "live.takeover",
                format!(
                    "{:?} is not a takeover rule (expected auto or always)",
                    clip(other)
                ),
            );
            Takeover::Auto
        }
    };
    let early = raw.early.unwrap_or(Micros::from_secs(3600));
    if early < Micros::ZERO || early > crate::config::MAX_SPAN {
        p.add(
            "live.early",
            format!("{early} is out of range (expected 0s..=24h)"),
        );
    }
    let title = raw.title.map(|t| t.0).unwrap_or_else(|| "Live".into());
    if title.trim().is_empty() || title.chars().any(char::is_control) {
        p.add(
            "live.title",
            "the title is empty or has a control character (expected one line of text)",
        );
    }
    Some(LiveSettings {
        listen: listen?,
        timeout,
        rejoin,
        takeover,
        early,
        title,
    })
}

/// What is wrong with a `live.listen` address: the part and the rule, never the key or the
/// passphrase.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ListenUrlError(String);

/// `rtmp://IP:PORT/APP/KEY` or `srt://IP:PORT[?passphrase=…&latency=MS]`. Errors never
/// quote the key or the passphrase.
pub fn parse_listen(url: &str) -> Result<LiveListen, ListenUrlError> {
    listen_of(url.trim()).map_err(ListenUrlError)
}

fn listen_of(url: &str) -> Result<LiveListen, String> {
    let addr = |hostport: &str, default: u16| -> Result<SocketAddr, String> {
        let with_port =
            if hostport.starts_with('[') && hostport.ends_with(']') || !hostport.contains(':') {
                format!("{hostport}:{default}")
            } else {
                hostport.to_string()
            };
        with_port.parse::<SocketAddr>().map_err(|_| {
            format!(
                "{:?} is not an address to listen on (expected an IP address and port, e.g. \
                 127.0.0.1:1936 or 0.0.0.0:1936)",
                clip(hostport)
            )
        })
    };
    if let Some(rest) = url.strip_prefix("rtmp://") {
        let (hostport, path) = rest.split_once('/').ok_or(
            "the address has no application and stream key (expected rtmp://IP:PORT/APP/KEY)",
        )?;
        let addr = addr(hostport, 1935)?;
        let (app, key) = path
            .split_once('/')
            .ok_or("the address has no stream key (expected rtmp://IP:PORT/APP/KEY)")?;
        let bad = |s: &str| {
            s.is_empty()
                || s.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#'))
        };
        if bad(app) {
            return Err(format!(
                "{:?} is not an application name (expected one path segment, e.g. live)",
                clip(app)
            ));
        }
        if bad(key) {
            return Err(
                "the stream key is empty or has a space, `/`, `?` or `#` (expected one word \
                 after the application)"
                    .into(),
            );
        }
        if key.chars().count() < MIN_KEY_CHARS {
            return Err(format!(
                "the stream key is too short (expected at least {MIN_KEY_CHARS} characters; e.g. \
                 `openssl rand -hex 16`)"
            ));
        }
        return Ok(LiveListen::Rtmp {
            addr,
            app: app.to_string(),
            key: ApiToken::new(key.to_string()),
        });
    }
    if let Some(rest) = url.strip_prefix("srt://") {
        let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
        let addr = addr(hostport.trim_end_matches('/'), 9000)?;
        let (mut passphrase, mut latency_ms) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("passphrase", v)) => {
                    // libsrt takes 10 to 79 characters.
                    if !(10..=79).contains(&v.chars().count()) {
                        return Err(
                            "the passphrase must be 10 to 79 characters (SRT's rule)".into()
                        );
                    }
                    passphrase = Some(ApiToken::new(v.to_string()));
                }
                Some(("latency", v)) => match v.parse::<u32>() {
                    Ok(ms) if ms <= 10_000 => latency_ms = Some(ms),
                    _ => {
                        return Err(format!(
                            "latency={:?} is not a latency (expected milliseconds, 0..=10000)",
                            clip(v)
                        ))
                    }
                },
                _ => {
                    let name = pair.split_once('=').map_or(pair, |(k, _)| k);
                    return Err(format!(
                        "{:?} is not an SRT option here (expected passphrase and latency)",
                        clip(name)
                    ));
                }
            }
        }
        return Ok(LiveListen::Srt {
            addr,
            passphrase,
            latency_ms,
        });
    }
    let scheme = url.split_once("://").map_or("", |(s, _)| s);
    Err(format!(
        "{:?} is not a live input scheme (expected rtmp://IP:PORT/APP/KEY or srt://IP:PORT)",
        clip(scheme)
    ))
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
