//! The fuzz targets' bodies: each takes arbitrary bytes, runs one parser, and panics if an
//! invariant breaks. The coverage-guided fuzzer (`tests/fuzz/`, `make fuzz`) calls them, and
//! `tests/fuzz_corpus.rs` replays the committed seed corpus through them on every
//! `make test`, so a finding stays fixed.
//!
//! The invariants: no panic; a value that parses prints back to a string that parses to the
//! same value; every rejection of a file is a `ConfigError` that names the file and a place
//! in it (`line L column C`, a field path, or nothing for the file as a whole) and says
//! what is wrong.

use std::path::Path;
use std::str::FromStr;

use crate::config::{self, ConfigError};
use crate::time::Micros;

/// A target's body.
pub type Target = fn(&[u8]);

/// The targets, by name (the folder names under `tests/fuzz/corpus/`).
pub const TARGETS: [(&str, Target); 7] = [
    ("duration", duration),
    ("instant", instant),
    ("fps", fps),
    ("url", url),
    ("env", env),
    ("channel", channel),
    ("playlist", playlist),
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The duration notation (`90s`, `1m30s`, `01:30:00.250`, …).
pub fn duration(data: &[u8]) {
    let s = text(data);
    match Micros::from_str(&s) {
        Ok(d) => {
            assert!(d >= Micros::ZERO, "{s:?} parsed to a negative {d:?}");
            let shown = d.to_string();
            assert_eq!(
                Micros::from_str(&shown).ok(),
                Some(d),
                "{s:?} -> {d:?} prints as {shown:?}, which does not parse back"
            );
        }
        Err(e) => assert!(e.to_string().contains("is not a duration"), "{e}"),
    }
}

/// Event times: RFC 3339 instants and daily `HH:MM[:SS]`.
pub fn instant(data: &[u8]) {
    let s = text(data);
    if let Some(t) = crate::schedule::parse_instant(&s) {
        let shown = crate::schedule::rfc3339(t);
        if let Some(back) = crate::schedule::parse_instant(&shown) {
            // Printed to the millisecond.
            assert!(
                (back.0 - t.0).abs() < 1000,
                "{s:?} -> {t:?} prints as {shown:?} -> {back:?}"
            );
        }
    }
    let _ = crate::playlist::parse_when(&s);
}

/// Frame rates: integers, `29.97`-style decimals, `30000/1001`. A rate parses to a reduced
/// fraction that its exact `N/D` form gives back; the display form (`format_fps`, for
/// messages) never panics. The range check is the channel file's (see `channel`).
pub fn fps(data: &[u8]) {
    let s = text(data);
    if let Some(r) = config::parse_fps_text(&s) {
        assert!(r.num >= 0 && r.den > 0, "{s:?} parsed to {r:?}");
        let exact = format!("{}/{}", r.num, r.den);
        assert_eq!(
            config::parse_fps_text(&exact),
            Some(r),
            "{s:?} -> {r:?}, whose exact form {exact:?} does not parse back"
        );
        let _ = config::format_fps(r);
    }
}

/// Output URLs, and their redaction: the stream key (what follows the application in an
/// `rtmp(s)://` URL) never shows, unless the same text is also the host or the app.
pub fn url(data: &[u8]) {
    let s = text(data);
    // A refusal is a `UrlError`, whose every variant says what was expected.
    if config::parse_output_url(&s).is_ok() {
        let shown = config::redact_url(&s);
        if let Some((kept, key)) = rtmp_key(&s) {
            // A "key" of mask characters only (`****`) is not a secret to look for.
            let secret = key.len() >= 4 && key.chars().any(|c| c.is_ascii_alphanumeric());
            if secret && !kept.contains(key) && shown.contains(key) {
                // The key's text may also be what the redaction itself writes (a key
                // `rtmp://****`): it leaks only if it shows because of its value, that is
                // if the same URL with another key of the same shape does not show it.
                let other = format!("{kept}{}{}", rotate(key), &s[kept.len() + key.len()..]);
                let shown_other = config::redact_url(&other);
                assert!(
                    shown_other.contains(key),
                    "{s:?} redacts to {shown:?} (with another key: {shown_other:?})"
                );
            }
        }
    }
}

/// Each ASCII letter and digit replaced by the next one (z to a, 9 to 0): another text of
/// the same shape that shares no letter or digit with `s` in the same place.
fn rotate(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'z' => 'a',
            'Z' => 'A',
            '9' => '0',
            c if c.is_ascii_alphanumeric() => (c as u8 + 1) as char,
            c => c,
        })
        .collect()
}

/// (scheme, host and app, key) of `rtmp[s]://host/app/key[?…]`.
fn rtmp_key(s: &str) -> Option<(&str, &str)> {
    let rest = s
        .strip_prefix("rtmp://")
        .or_else(|| s.strip_prefix("rtmps://"))?;
    let start = s.len() - rest.len();
    let app = start + rest.find('/')? + 1;
    let key = app + s[app..].find('/')? + 1;
    let end = s[key..].find(['?', '#']).map_or(s.len(), |i| key + i);
    Some((&s[..key], &s[key..end]))
}

/// `${VAR}` expansion. Variables named `SET…` are set (to a value with `$` and braces in
/// it, which must come through verbatim), all others unset.
pub fn env(data: &[u8]) {
    let s = text(data);
    let lookup = |v: &str| v.starts_with("SET").then(|| "v${x}$".to_string());
    // A refusal is an `EnvError`, which names the variable and nothing else.
    if let Ok(out) = config::expand_env(&s, &lookup) {
        if !s.contains('$') {
            assert_eq!(out, s, "text without `$` changed");
        }
    }
}

/// Well-formed: names `file`, says something, and its place is a line and column, a field
/// path, or nothing.
pub fn check_error(e: &ConfigError, file: &Path) {
    assert_eq!(e.file, file, "an error naming another file: {e}");
    assert!(
        !e.message.trim().is_empty(),
        "an error with no message: {e:?}"
    );
    let p = &e.place;
    let line_col = p.strip_prefix("line ").is_some_and(|r| {
        let mut w = r.split(' ');
        matches!(
            (w.next(), w.next(), w.next(), w.next()),
            (Some(l), Some("column"), Some(c), None)
                if l.parse::<u64>().is_ok() && c.parse::<u64>().is_ok()
        )
    });
    let field = !p.is_empty()
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'));
    assert!(
        p.is_empty() || line_col || field,
        "an error whose place is neither a line nor a field: {e:?}"
    );
}

/// The channel file loader (every error at once, as `playout check` gives them).
pub fn channel(data: &[u8]) {
    let file = Path::new("/fuzz/channel.yaml");
    let s = text(data);
    if s.len() > config::MAX_FILE_BYTES {
        return;
    }
    let env = |v: &str| v.starts_with("SET").then(|| "value".to_string());
    let (parsed, _) = config::parse_all(&s, file, &env);
    if let Err(errors) = parsed {
        assert!(!errors.is_empty(), "rejected with no error");
        for e in &errors {
            check_error(e, file);
        }
    }
}

/// The playlist loader.
pub fn playlist(data: &[u8]) {
    let file = Path::new("/fuzz/playlist.yaml");
    let s = text(data);
    if s.len() > config::MAX_FILE_BYTES {
        return;
    }
    if let Err(errors) = crate::playlist::parse_all(&s, file) {
        assert!(!errors.is_empty(), "rejected with no error");
        for e in &errors {
            check_error(e, file);
        }
    }
}
