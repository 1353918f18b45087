//! A folder of channels (`playout check DIR`, and the host of issue 29): every
//! `DIR/*.channel.yaml` is a channel whose id is the file's name before `.channel.yaml`, and
//! `DIR/host.yaml`, when there is one, holds the host's `http: { listen, api_token }`.
//!
//! The folder is read whole and checked whole: each id, each channel file as `playout check`
//! checks it (its playlist too), and what two channels would both write: the same state file,
//! HLS folder or RTMP URL, or the same live input to listen on. Of two such channels the one
//! whose id sorts later is refused, naming both (a host keeps the one already on air).
//! Conformed copies are not a conflict: a copy's key is what changes its bytes, so channels
//! share one copy folder by design.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{ChannelConfig, ConfigError, HttpSettings, OutputTarget};

/// What names a channel file in the folder.
pub const SUFFIX: &str = ".channel.yaml";

/// The host's own file in the folder.
pub const HOST_FILE: &str = "host.yaml";

/// Whether `id` is a channel id: `[a-z0-9][a-z0-9-]{0,62}`.
pub fn is_id(id: &str) -> bool {
    let b = id.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty() && b.len() <= 63 && ok(&b[0]) && b[1..].iter().all(|c| ok(c) || *c == b'-')
}

/// One channel file of the folder.
#[derive(Debug)]
pub struct Member {
    pub id: String,
    pub file: PathBuf,
    /// The channel and `playout check`'s summary of it, or why it cannot run (the checker's
    /// messages, one a line).
    pub checked: Result<(ChannelConfig, String), String>,
}

/// The folder as read: the host's settings and the channels, by id.
#[derive(Debug)]
pub struct Folder {
    pub dir: PathBuf,
    /// `host.yaml`'s `http` (none of it when there is no such file).
    pub host: HttpSettings,
    pub members: Vec<Member>,
}

#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("{}: cannot read the folder: {source}", dir.display())]
    Unreadable {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Host(Vec<ConfigError>),
}

impl Folder {
    /// Reads and checks `dir` (see the module's text). Only an unreadable folder or a
    /// `host.yaml` that does not validate is an error; a channel that does not validate is
    /// a member whose `checked` says why.
    pub fn read(dir: &Path) -> Result<Folder, FolderError> {
        Folder::read_keeping(dir, &std::collections::BTreeSet::new())
    }

    /// `read`, where of two channels in conflict one in `keep` (a host's channels on air)
    /// wins over one that is not, whatever their ids.
    pub fn read_keeping(
        dir: &Path,
        keep: &std::collections::BTreeSet<String>,
    ) -> Result<Folder, FolderError> {
        let unreadable = |source| FolderError::Unreadable {
            dir: dir.to_path_buf(),
            source,
        };
        let host_file = dir.join(HOST_FILE);
        let host = match host_file.exists() {
            true => crate::config::load_host(&host_file).map_err(FolderError::Host)?,
            false => HttpSettings::default(),
        };
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(unreadable)? {
            let path = entry.map_err(unreadable)?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(id) = name.strip_suffix(SUFFIX) {
                if path.is_file() {
                    files.push((id.to_string(), path.clone()));
                }
            }
        }
        files.sort();
        let mut members: Vec<Member> = files
            .into_iter()
            .map(|(id, file)| {
                let checked = check(&id, &file);
                Member { id, file, checked }
            })
            .collect();
        refuse_conflicts(&mut members, keep);
        Ok(Folder {
            dir: dir.to_path_buf(),
            host,
            members,
        })
    }

    /// `playout check DIR`: a line for each good channel, the messages of each bad one, and
    /// whether all were good.
    pub fn report(&self) -> (String, bool) {
        let mut text = String::new();
        let host = self.dir.join(HOST_FILE);
        if host.exists() {
            text.push_str(&format!(
                "{}: ok: host http {}, control API {}\n",
                host.display(),
                self.host
                    .listen
                    .map_or("off".to_string(), |a| format!("on {a}")),
                if self.host.api_token.is_some() {
                    "on"
                } else {
                    "off (no api_token)"
                }
            ));
        }
        if self.members.is_empty() {
            text.push_str(&format!(
                "{}: no channel files (expected NAME{SUFFIX})\n",
                self.dir.display()
            ));
            return (text, false);
        }
        let mut ok = true;
        for m in &self.members {
            match &m.checked {
                Ok((_, summary)) => {
                    text.push_str(&format!("{}: ok: {} {summary}\n", m.file.display(), m.id))
                }
                Err(why) => {
                    ok = false;
                    text.push_str(&format!("{why}\n"));
                }
            }
        }
        (text, ok)
    }
}

/// One channel file: its id, then what `playout check` says of it.
fn check(id: &str, file: &Path) -> Result<(ChannelConfig, String), String> {
    if !is_id(id) {
        return Err(format!(
            "{}: the channel id {id:?} (the name before {SUFFIX}) is not an id (expected \
             [a-z0-9][a-z0-9-]{{0,62}}: lower-case letters, digits and dashes, 63 at most)",
            file.display()
        ));
    }
    let summary = crate::playlist::check_file(file).map_err(|errors| {
        errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let channel = ChannelConfig::load(file).map_err(|e| e.to_string())?;
    Ok((channel, summary))
}

/// What a channel writes or holds that no other channel may: (what, value).
fn claims(channel: &ChannelConfig) -> Vec<(&'static str, String)> {
    let mut v = vec![(
        "state file",
        crate::config::absolute(&channel.state)
            .display()
            .to_string(),
    )];
    for o in &channel.outputs {
        match o.target() {
            Ok(OutputTarget::Hls(folder)) => v.push((
                "HLS folder",
                crate::config::absolute(&folder).display().to_string(),
            )),
            Ok(OutputTarget::Rtmp) => v.push(("RTMP URL", o.url.clone())),
            Ok(OutputTarget::File(path)) => v.push((
                "output file",
                crate::config::absolute(&path).display().to_string(),
            )),
            Err(_) => {}
        }
    }
    if let Some(live) = &channel.live {
        let addr = match &live.listen {
            crate::config::LiveListen::Rtmp { addr, .. } => addr,
            crate::config::LiveListen::Srt { addr, .. } => addr,
        };
        v.push(("live input address", addr.to_string()));
    }
    v
}

/// Refuses the later of two channels that claim the same thing, naming both; those in
/// `keep` come first.
fn refuse_conflicts(members: &mut [Member], keep: &std::collections::BTreeSet<String>) {
    let mut owner: BTreeMap<(&'static str, String), String> = BTreeMap::new();
    let mut order: Vec<&mut Member> = members.iter_mut().collect();
    order.sort_by_key(|m| (!keep.contains(&m.id), m.id.clone()));
    for m in order {
        let Ok((channel, _)) = &m.checked else {
            continue;
        };
        let claimed = claims(channel);
        let clash: Vec<String> = claimed
            .iter()
            .filter_map(|claim| {
                let first = owner.get(claim)?;
                Some(format!(
                    "{}: channels {first:?} and {:?} would both use the {} {} (expected one \
                     channel each; {:?} is refused)",
                    m.file.display(),
                    m.id,
                    claim.0,
                    redact(claim.0, &claim.1),
                    m.id
                ))
            })
            .collect();
        if clash.is_empty() {
            for claim in claimed {
                owner.insert(claim, m.id.clone());
            }
        } else {
            m.checked = Err(clash.join("\n"));
        }
    }
}

/// A URL as it may be shown: stream keys and passphrases are secrets.
fn redact(what: &str, value: &str) -> String {
    match what {
        "RTMP URL" => crate::config::redact_url(value),
        _ => value.to_string(),
    }
}

#[cfg(test)]
#[path = "folder_tests.rs"]
mod tests;
