//! Where the stream goes: output URLs, the `${VAR}` expansion that keeps stream keys out of
//! the file, and the redaction that keeps them out of logs and error messages. A URL is a
//! secret from the moment it is expanded, so no message here prints one unredacted.

use std::fmt;
use std::path::PathBuf;

use crate::time::Micros;

/// One destination of the encoded stream.
#[derive(Clone, PartialEq, Eq)]
pub struct OutputConfig {
    /// `[a-z0-9_-]{1,32}`, unique within the channel; used in logs and metric labels.
    pub name: String,
    /// Environment-expanded, so it may hold a stream key: show it only through `redact_url`.
    pub url: String,
    /// A write, connect or handshake that makes no progress for this long is a disconnect.
    pub write_timeout: Micros,
    /// `rtmps://` only: verify the ingest's certificate (and host name).
    pub tls_verify: bool,
    /// `rtmps://` only: trust this CA file instead of the system's store.
    pub ca_file: Option<PathBuf>,
}

/// How long a stalled write may block before the output reconnects.
pub const DEFAULT_WRITE_TIMEOUT: Micros = Micros::from_secs(5);

impl OutputConfig {
    /// An output given outside the channel file (`--output URL`): the same URL rules, no
    /// environment expansion (the shell has done it).
    pub fn from_url(name: impl Into<String>, url: impl Into<String>) -> Result<Self, UrlError> {
        let url = url.into();
        parse_output_url(&url)?;
        Ok(OutputConfig {
            name: name.into(),
            url,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            tls_verify: true,
            ca_file: None,
        })
    }

    /// An `hls:` output whose folder is relative is made absolute against `base` (the channel
    /// file's folder, or the working directory for `--output`).
    pub fn resolve_folder(&mut self, base: &std::path::Path) {
        if let Ok(OutputTarget::Hls(folder)) = self.target() {
            if folder.is_relative() {
                self.url = format!("hls:{}", base.join(folder).display());
            }
        }
    }

    /// Whether this is an RTMP(S) ingest, a local FLV file or an HLS folder.
    pub fn target(&self) -> Result<OutputTarget, UrlError> {
        parse_output_url(&self.url)
    }
}

/// Debug would otherwise print the stream key into any log that formats a `Channel`.
impl fmt::Debug for OutputConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputConfig")
            .field("name", &self.name)
            .field("url", &redact_url(&self.url))
            .field("write_timeout", &self.write_timeout)
            .field("tls_verify", &self.tls_verify)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// What an output URL points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputTarget {
    /// `rtmp://` or `rtmps://`: the URL is handed to libavformat as is.
    Rtmp,
    /// `file:PATH` or a path ending `.flv`: an FLV file written locally, for debugging.
    File(PathBuf),
    /// `hls:FOLDER`: a live HLS playlist and its MPEG-TS segments, written into FOLDER and
    /// served by the HTTP server at `/hls/NAME/index.m3u8`.
    Hls(PathBuf),
}

const URL_EXPECTED: &str =
    "expected rtmp://HOST[:PORT]/APP/KEY, rtmps://…, hls:FOLDER, file:PATH or a path ending .flv";

/// Why an output URL cannot be used. Each shows the URL redacted (`shown`), or not at all
/// where the value may be the key itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the URL is empty ({URL_EXPECTED})")]
    Empty,
    #[error(
        "{0:?} contains a space or control character (expected a URL without them; \
         percent-encode them)"
    )]
    Spaces(String),
    #[error("{0:?} has no folder (expected hls:FOLDER)")]
    NoFolder(String),
    #[error("{0:?} names a host (expected file:PATH or file:///ABSOLUTE/PATH)")]
    FileHost(String),
    #[error("{0:?} has no path (expected file:PATH)")]
    NoPath(String),
    #[error("the value is not an output URL ({URL_EXPECTED})")]
    NotUrl,
    #[error("{shown:?} has the scheme {scheme:?} ({URL_EXPECTED})")]
    Scheme { shown: String, scheme: String },
    #[error("{shown:?} {why} ({URL_EXPECTED})")]
    HostPort { shown: String, why: &'static str },
    #[error("{0:?} has no application path (expected rtmp://HOST[:PORT]/APP/KEY)")]
    NoApp(String),
}

/// Checks an (already expanded) output URL. The error message shows the URL redacted.
pub fn parse_output_url(url: &str) -> Result<OutputTarget, UrlError> {
    let shown = redact_url(url);
    if url.is_empty() {
        return Err(UrlError::Empty);
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::Spaces(shown));
    }
    if let Some(folder) = url.strip_prefix("hls:") {
        if folder.is_empty() {
            return Err(UrlError::NoFolder(shown));
        }
        return Ok(OutputTarget::Hls(PathBuf::from(folder)));
    }
    if let Some(rest) = url.strip_prefix("file:") {
        // `file:///tmp/x.flv` is the URL spelling of `file:/tmp/x.flv`.
        let path = match rest.strip_prefix("//") {
            Some(p) if p.starts_with('/') => p,
            Some(_) => return Err(UrlError::FileHost(shown)),
            None => rest,
        };
        if path.is_empty() {
            return Err(UrlError::NoPath(shown));
        }
        return Ok(OutputTarget::File(PathBuf::from(path)));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        if url.to_ascii_lowercase().ends_with(".flv") {
            return Ok(OutputTarget::File(PathBuf::from(url)));
        }
        // Not shown even redacted: a bare value here may well be the key itself.
        return Err(UrlError::NotUrl);
    };
    if !scheme.eq_ignore_ascii_case("rtmp") && !scheme.eq_ignore_ascii_case("rtmps") {
        return Err(UrlError::Scheme {
            shown,
            scheme: crate::config::values::clip(scheme),
        });
    }
    let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Err(why) = check_host_port(host_port) {
        return Err(UrlError::HostPort { shown, why });
    }
    let app = path
        .strip_prefix('/')
        .map(|p| p.split(['/', '?', '#']).next().unwrap_or(""))
        .unwrap_or("");
    if app.is_empty() {
        return Err(UrlError::NoApp(shown));
    }
    Ok(OutputTarget::Rtmp)
}

fn check_host_port(host_port: &str) -> Result<(), &'static str> {
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("has an unclosed [ in its host")?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or("has junk after its host")?),
            ),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err("has no host");
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err("has a port that is not 1..=65535"),
        }
    }
    Ok(())
}

/// The URL with its secrets replaced by `****`: the user info, everything after the first
/// path segment (the app; the rest is the stream key) and the query collapse into one
/// `/****`. Scheme, host, port and app are kept, because they are what an operator needs
/// to tell outputs apart. A file path (`file:…` or anything without a scheme) is shown as
/// is; something that looks like a broken URL (`rtmp:/host/key`) keeps only its scheme.
pub fn redact_url(url: &str) -> String {
    if url.starts_with("file:") || url.starts_with("hls:") {
        return url.to_string();
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return match url.split_once(':') {
            Some((scheme, _)) if !scheme.is_empty() && !scheme.contains('/') => {
                format!("{scheme}:****")
            }
            _ => url.to_string(),
        };
    };
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return "****".to_string();
    }
    let (authority, after) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    // An `@` past the authority means user info with an unescaped `/`, `?` or `#` in it (or a
    // key with `@`): the boundaries are ambiguous, so nothing but the scheme is safe to show.
    if after.contains('@') {
        return format!("{scheme}://****");
    }
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((_, h)) => (true, h),
        None => (false, authority),
    };
    let (path, query) = after.split_at(after.find(['?', '#']).unwrap_or(after.len()));
    let (app, key) = match path.strip_prefix('/') {
        Some(p) => {
            let end = p.find('/').map_or(path.len(), |i| i + 1);
            path.split_at(end)
        }
        None => ("", path),
    };
    let secret = userinfo || !key.trim_matches('/').is_empty() || !query.is_empty();
    format!(
        "{scheme}://{host_port}{app}{}",
        if secret { "/****" } else { "" }
    )
}

/// `output0`, `output1`… by index when a name is not given.
pub(crate) fn default_name(index: usize) -> String {
    format!("output{index}")
}

pub(crate) fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn redacts_keys_userinfo_and_queries() {
        let cases = [
            (
                "rtmp://user:pw@host:1935/app/streamkey?x=y",
                "rtmp://host:1935/app/****",
            ),
            (
                "rtmps://global-live.mux.com:443/app/abc-123",
                "rtmps://global-live.mux.com:443/app/****",
            ),
            (
                "rtmp://a.rtmp.youtube.com/live2/xxxx-yyyy",
                "rtmp://a.rtmp.youtube.com/live2/****",
            ),
            ("rtmp://host/app/key/more", "rtmp://host/app/****"),
            ("rtmp://host/app?key=1", "rtmp://host/app/****"),
            ("rtmp://u:p@host/app", "rtmp://host/app/****"),
            ("rtmp://host/app", "rtmp://host/app"),
            ("rtmp://host/app/", "rtmp://host/app"),
            ("rtmp://host:1935", "rtmp://host:1935"),
            ("rtmp://[::1]:1935/live/k", "rtmp://[::1]:1935/live/****"),
            ("rtmp://host?secret", "rtmp://host/****"),
            ("/tmp/out.flv", "/tmp/out.flv"),
            ("out.flv", "out.flv"),
            ("file:/tmp/out.flv", "file:/tmp/out.flv"),
            ("rtmp:/host/app/key", "rtmp:****"),
            ("rtmp://u:p/w@host/app/key", "rtmp://****"),
            ("rtmp://u:p?w@host/app/key", "rtmp://****"),
            ("a/b://x/y/z", "****"),
            ("", ""),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn output_urls() {
        use OutputTarget::*;
        assert_eq!(
            parse_output_url("rtmp://127.0.0.1:1935/live/test"),
            Ok(Rtmp)
        );
        assert_eq!(parse_output_url("RTMPS://h:443/app/k"), Ok(Rtmp));
        assert_eq!(parse_output_url("rtmp://h/app"), Ok(Rtmp));
        assert_eq!(parse_output_url("rtmp://[::1]:1935/live/k"), Ok(Rtmp));
        assert_eq!(parse_output_url("out.flv"), Ok(File("out.flv".into())));
        assert_eq!(
            parse_output_url("/tmp/A.FLV"),
            Ok(File("/tmp/A.FLV".into()))
        );
        assert_eq!(
            parse_output_url("file:/tmp/x.flv"),
            Ok(File("/tmp/x.flv".into()))
        );
        assert_eq!(parse_output_url("file:///tmp/x"), Ok(File("/tmp/x".into())));
        assert_eq!(parse_output_url("file:rel.flv"), Ok(File("rel.flv".into())));
        assert_eq!(parse_output_url("hls:out/web"), Ok(Hls("out/web".into())));
        assert_eq!(parse_output_url("hls:/srv/hls"), Ok(Hls("/srv/hls".into())));
        assert_eq!(redact_url("hls:/srv/hls"), "hls:/srv/hls");
        let err = |u: &str| parse_output_url(u).unwrap_err().to_string();
        assert!(err("hls:").contains("no folder"));
        assert!(err("").contains("empty"));
        assert!(err("http://h/app/KEY").contains("\"http://h/app/****\" has the scheme \"http\""));
        assert!(err("rtmp://h/").contains("no application path"));
        assert!(err("rtmp://h").contains("no application path"));
        assert!(err("rtmp:///app/KEY").contains("has no host"));
        assert!(err("rtmp://h:0/app/KEY").contains("port"));
        assert!(err("rtmp://h:99999/app/KEY").contains("port"));
        assert!(err("rtmp://h:+1/app/KEY").contains("port"));
        assert!(err("rtmp://[::1/app/KEY").contains("unclosed"));
        assert!(err("rtmp://h/app/KEY KEY").contains("space"));
        assert!(err("out.ts").contains("not an output URL"));
        assert!(!err("SECRETKEY").contains("SECRETKEY"));
        assert!(err("file:").contains("no path"));
        assert!(err("file://host/x.flv").contains("names a host"));
        for u in [
            "http://h/app/SECRETKEY",
            "rtmp://h:0/app/SECRETKEY",
            "rtmp://h/a/SECRETKEY x",
        ] {
            assert!(!err(u).contains("SECRETKEY"), "{u}");
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let o = OutputConfig::from_url("mux", "rtmps://h:443/app/SECRETKEY").unwrap();
        let shown = format!("{o:?}");
        assert!(!shown.contains("SECRETKEY"), "{shown}");
        assert!(shown.contains("rtmps://h:443/app/****"), "{shown}");
    }

    #[test]
    fn names() {
        assert!(valid_name("mux"));
        assert!(valid_name("yt_backup-2"));
        assert!(!valid_name(""));
        assert!(!valid_name("Mux"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"a".repeat(33)));
    }

    proptest! {
        #[test]
        fn redaction_never_shows_a_key(
            host in "[a-z]{1,10}", app in "[a-z]{1,8}", key in "[A-Z0-9]{8,20}",
            port in proptest::option::of(1u16..), user in proptest::option::of("[A-Z]{8}"),
        ) {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let user = user.map(|u| format!("{u}:{u}@")).unwrap_or_default();
            let url = format!("rtmp://{user}{host}{port}/{app}/{key}?t={key}");
            let shown = redact_url(&url);
            prop_assert!(!shown.contains(&key));
            prop_assert_eq!(shown, format!("rtmp://{host}{port}/{app}/****"));
        }

        #[test]
        fn urls_never_panic(s in "\\PC{0,40}") {
            let _ = redact_url(&s);
            let _ = parse_output_url(&s);
        }
    }
}
