//! The `live` section: defaults, the listen address forms, and errors that never quote the
//! key or the passphrase.

use std::path::Path;

use super::*;
use crate::config::{parse_all, ChannelConfig, ConfigError};

fn env(name: &str) -> Option<String> {
    match name {
        "LIVE_KEY" => Some("k3y-abcdef-123".into()),
        "SHORT" => Some("abc".into()),
        _ => None,
    }
}

fn parse(body: &str) -> Result<ChannelConfig, Vec<ConfigError>> {
    let text = format!("name: x\nplaylist: p.yaml\nlive: {{ {body} }}\n");
    parse_all(&text, Path::new("c.yaml"), &env).0
}

fn error(body: &str) -> String {
    let e = parse(body).unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    format!("{}: {}", e[0].place, e[0].message)
}

#[test]
fn defaults_and_an_rtmp_key_from_the_environment() {
    let c = parse(r#"listen: "rtmp://127.0.0.1:1936/live/${LIVE_KEY}""#).unwrap();
    let l = c.live.expect("live");
    assert_eq!(l.timeout, Micros::from_secs(1));
    assert_eq!(l.rejoin, Micros::from_secs(5));
    assert_eq!(l.takeover, Takeover::Auto);
    assert_eq!(l.early, Micros::from_secs(3600));
    assert_eq!(l.title, "Live");
    match &l.listen {
        LiveListen::Rtmp { addr, app, key } => {
            assert_eq!(addr.to_string(), "127.0.0.1:1936");
            assert_eq!(app, "live");
            assert!(key.matches(b"k3y-abcdef-123"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(l.listen.redacted(), "rtmp://127.0.0.1:1936/live/****");
    assert!(!format!("{l:?}").contains("k3y-abcdef-123"), "{l:?}");
}

#[test]
fn srt_with_passphrase_and_latency() {
    let c = parse(r#"listen: "srt://0.0.0.0:9000?passphrase=0123456789ab&latency=200", timeout: 2s, rejoin: 0s, takeover: always, early: 10m, title: Studio"#).unwrap();
    let l = c.live.unwrap();
    assert_eq!(l.early, Micros::from_secs(600));
    assert_eq!(
        (l.timeout, l.rejoin, l.takeover, l.title.as_str()),
        (
            Micros::from_secs(2),
            Micros::ZERO,
            Takeover::Always,
            "Studio"
        )
    );
    assert!(matches!(
        l.listen,
        LiveListen::Srt {
            latency_ms: Some(200),
            passphrase: Some(_),
            ..
        }
    ));
    assert_eq!(l.listen.redacted(), "srt://0.0.0.0:9000?passphrase=****");
}

#[test]
fn mistakes_are_named_and_secrets_never_quoted() {
    let cases = [
        (
            r#"listen: "rtmp://127.0.0.1:1936/live/${SHORT}""#,
            "live.listen: the stream key is too short",
            "abc",
        ),
        (
            r#"listen: "rtmp://127.0.0.1:1936/live""#,
            "live.listen: the address has no stream key",
            "",
        ),
        (
            r#"listen: "rtmp://localhost:1936/live/k3y-abcdef-123""#,
            "is not an address to listen on",
            "k3y-abcdef-123",
        ),
        (
            r#"listen: "rtmp://127.0.0.1:1936/live/${NOPE}""#,
            "live.listen: the address",
            "",
        ),
        (
            r#"listen: "srt://127.0.0.1:9000?passphrase=short""#,
            "10 to 79 characters",
            "short",
        ),
        (
            r#"listen: "srt://127.0.0.1:9000?mode=caller""#,
            "\"mode\" is not an SRT option",
            "",
        ),
        (r#"listen: "http://127.0.0.1:80/x/y""#, "live.listen:", ""),
        (
            r#"listen: "rtmp://127.0.0.1:1936/live/${LIVE_KEY}", timeout: 10ms"#,
            "live.timeout: 0.01s is out of range",
            "",
        ),
        (
            r#"listen: "rtmp://127.0.0.1:1936/live/${LIVE_KEY}", rejoin: 11m"#,
            "live.rejoin:",
            "",
        ),
        (
            r#"listen: "rtmp://127.0.0.1:1936/live/${LIVE_KEY}", takeover: sometimes"#,
            "live.takeover: \"sometimes\" is not a takeover rule",
            "",
        ),
        (
            r#"listen: "rtmp://127.0.0.1:1936/live/${LIVE_KEY}", early: 25h"#,
            "is out of range (expected 0s..=24h)",
            "",
        ),
    ];
    for (body, want, secret) in cases {
        let e = error(body);
        assert!(e.contains(want), "{body}: {e}");
        if !secret.is_empty() && !want.contains(secret) {
            assert!(
                !e.contains(secret),
                "{body}: the error quotes the secret: {e}"
            );
        }
    }
}
