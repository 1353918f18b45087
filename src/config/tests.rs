use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

const FILE: &str = "demo.channel.yaml";

fn env(name: &str) -> Option<String> {
    (name == "MUX_STREAM_KEY").then(|| "sk-123".to_string())
}

fn parse(text: &str) -> Result<ChannelConfig, ConfigError> {
    ChannelConfig::parse_with_env(text, Path::new(FILE), &env)
}

fn errors(text: &str) -> Vec<ConfigError> {
    parse_all(text, Path::new(FILE), &env).0.unwrap_err()
}

/// The one error `text` produces, as `place: message` (the file is checked separately).
fn error(text: &str) -> String {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].file, Path::new(FILE));
    format!("{}: {}", e[0].place, e[0].message)
}

/// One error in the `video:` etc. section: `section` is a flow mapping's body.
fn section_error(section: &str, body: &str) -> String {
    error(&format!(
        "name: x\nplaylist: p.yaml\n{section}: {{ {body} }}\n"
    ))
}

const MINIMAL: &str = "name: x\nplaylist: p.yaml\n";

const FULL: &str = r##"
name: demo
playlist: lists/demo.playlist.yaml
video: { width: 1920, height: 1080, fps: 29.97, bitrate: 4500k, maxrate: 5M, bufsize: 9000k, preset: fast, keyframe_interval: 1.5s }
audio: { sample_rate: 44100, channels: 1, bitrate: 96k }
slate: { text: "Back soon\nStay tuned", background: "#FF8000", failure_duration: 500ms }
outputs:
  - url: rtmps://global-live.mux.com:443/app/${MUX_STREAM_KEY}
    name: mux
  - url: /tmp/debug.flv
http: { listen: "127.0.0.1:9100" }
"##;

#[test]
fn minimal_file_gets_every_default() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.name, "x");
    assert!(c.file.is_absolute());
    assert!(c.file.ends_with(FILE));
    assert_eq!(c.playlist, c.file.parent().unwrap().join("p.yaml"));
    assert_eq!(c.video.width, 1280);
    assert_eq!(c.video.height, 720);
    assert_eq!(c.video.fps, Rational::new(30, 1));
    assert_eq!(c.video.bitrate, 3_000_000);
    assert_eq!(c.video.maxrate, 3_000_000);
    assert_eq!(c.video.bufsize, 6_000_000);
    assert_eq!(c.video.preset, "veryfast");
    assert_eq!(c.video.keyframe_interval, Micros::from_secs(2));
    assert_eq!(c.audio.sample_rate, 48_000);
    assert_eq!(c.audio.channels, 2);
    assert_eq!(c.audio.bitrate, 128_000);
    assert_eq!(c.slate.text, "We'll be right back");
    assert_eq!(c.slate.background, [0x1a, 0x1a, 0x2e]);
    assert_eq!(c.slate.failure_duration, Micros::from_secs(2));
    assert!(c.outputs.is_empty());
    assert_eq!(c.http.listen, None);
    assert_eq!(c.video, VideoFormat::default());
    assert_eq!(c.audio, AudioFormat::default());
    assert_eq!(c.slate, SlateSettings::default());
}

#[test]
fn empty_sections_and_nulls_mean_defaults() {
    let c =
        parse("name: x\nplaylist: p.yaml\nvideo: {}\naudio:\nslate: ~\noutputs: []\nhttp: {}\n")
            .unwrap();
    assert_eq!(c, parse(MINIMAL).unwrap());
}

#[test]
fn maxrate_and_bufsize_follow_the_bitrate() {
    let c = parse("name: x\nplaylist: p.yaml\nvideo: { bitrate: 2M }\n").unwrap();
    assert_eq!((c.video.maxrate, c.video.bufsize), (2_000_000, 4_000_000));
}

#[test]
fn full_file() {
    let c = parse(FULL).unwrap();
    assert_eq!(
        c.playlist,
        c.file.parent().unwrap().join("lists/demo.playlist.yaml")
    );
    let v = &c.video;
    assert_eq!((v.width, v.height), (1920, 1080));
    assert_eq!(v.fps, Rational::new(30000, 1001));
    assert_eq!(
        (v.bitrate, v.maxrate, v.bufsize),
        (4_500_000, 5_000_000, 9_000_000)
    );
    assert_eq!(v.preset, "fast");
    assert_eq!(v.keyframe_interval, Micros::from_millis(1500));
    assert_eq!(
        c.audio,
        AudioFormat {
            sample_rate: 44_100,
            channels: 1,
            bitrate: 96_000,
            loudness: None,
        }
    );
    assert_eq!(c.slate.text, "Back soon\nStay tuned");
    assert_eq!(c.slate.background, [0xff, 0x80, 0x00]);
    assert_eq!(c.slate.failure_duration, Micros::from_millis(500));
    assert_eq!(c.outputs.len(), 2);
    assert_eq!(c.outputs[0].name, "mux");
    assert_eq!(
        c.outputs[0].url,
        "rtmps://global-live.mux.com:443/app/sk-123"
    );
    assert_eq!(c.outputs[1].name, "output1");
    assert_eq!(
        c.outputs[1].target(),
        Ok(OutputTarget::File("/tmp/debug.flv".into()))
    );
    assert_eq!(c.http.listen, Some("127.0.0.1:9100".parse().unwrap()));
}

#[test]
fn error_display_names_file_place_and_expectation() {
    let e = errors("name: x\nplaylist: p.yaml\nvideo: {width: 17}\n");
    assert_eq!(
        e[0].to_string(),
        "demo.channel.yaml: video.width: 17 is odd (expected an even number 16..=7680)"
    );
}

#[test]
fn playlist_path_absolute_stays() {
    let c = parse("name: x\nplaylist: /srv/p.yaml\n").unwrap();
    assert_eq!(c.playlist, Path::new("/srv/p.yaml"));
    let c = ChannelConfig::parse_with_env(
        "name: x\nplaylist: p.yaml\n",
        Path::new("/etc/tv/c.yaml"),
        &env,
    )
    .unwrap();
    assert_eq!(c.playlist, Path::new("/etc/tv/p.yaml"));
}

#[test]
fn video_rules() {
    let v = |body: &str| section_error("video", body);
    assert_eq!(
        v("width: 17"),
        "video.width: 17 is odd (expected an even number 16..=7680)"
    );
    assert_eq!(
        v("width: 7682"),
        "video.width: 7682 is out of range (expected an even number 16..=7680)"
    );
    assert_eq!(
        v("width: 8"),
        "video.width: 8 is out of range (expected an even number 16..=7680)"
    );
    assert_eq!(
        v("height: 4322"),
        "video.height: 4322 is out of range (expected an even number 16..=4320)"
    );
    assert_eq!(
        v("height: 99999999999999"),
        "video.height: 99999999999999 is out of range (expected an even number 16..=4320)"
    );
    assert_eq!(
        v("fps: 0"),
        "video.fps: 0 is out of range (expected 1..=120 frames per second)"
    );
    assert_eq!(
        v("fps: 121"),
        "video.fps: 121 is out of range (expected 1..=120 frames per second)"
    );
    assert_eq!(
        v("fps: 0.5"),
        "video.fps: 0.5 is out of range (expected 1..=120 frames per second)"
    );
    assert_eq!(
        v("fps: 1/2"),
        "video.fps: 0.5 is out of range (expected 1..=120 frames per second)"
    );
    assert_eq!(
        v("bitrate: 50k"),
        "video.bitrate: 50k is out of range (expected 100k..=100M)"
    );
    assert_eq!(
        v("bitrate: 101M"),
        "video.bitrate: 101M is out of range (expected 100k..=100M)"
    );
    assert_eq!(
        v("bitrate: 3M, maxrate: 2M"),
        "video.maxrate: 2M is below the bitrate 3M (expected maxrate ≥ bitrate)"
    );
    assert_eq!(
        v("maxrate: 2M"),
        "video.maxrate: 2M is below the bitrate 3M (expected maxrate ≥ bitrate)"
    );
    assert_eq!(
        v("maxrate: 2000M"),
        "video.maxrate: 2000M is out of range (expected bitrate..=1000M)"
    );
    assert_eq!(
        v("bufsize: 0"),
        "video.bufsize: 0 is out of range (expected 1..=2000M bits)"
    );
    assert_eq!(
        v("bufsize: 3000M"),
        "video.bufsize: 3000M is out of range (expected 1..=2000M bits)"
    );
    assert_eq!(
        v("preset: turbo"),
        "video.preset: \"turbo\" is not an x264 preset (expected one of ultrafast, superfast, \
         veryfast, faster, fast, medium, slow, slower, veryslow, placebo)"
    );
    assert_eq!(
        v("keyframe_interval: 50ms"),
        "video.keyframe_interval: 0.05s is out of range (expected 0.1s..=10s)"
    );
    assert_eq!(
        v("keyframe_interval: 11"),
        "video.keyframe_interval: 11s is out of range (expected 0.1s..=10s)"
    );
    for ok in [
        "width: 16",
        "width: 7680, height: 4320",
        "fps: 1",
        "fps: 120",
        "fps: 119.88",
        "bitrate: 100k",
        "bitrate: 100M",
        "keyframe_interval: 0.1",
        "keyframe_interval: 10s",
        "bufsize: 1",
        "preset: placebo",
    ] {
        parse(&format!("name: x\nplaylist: p.yaml\nvideo: {{ {ok} }}\n"))
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn fps_forms_in_the_file() {
    for (written, num, den) in [
        ("23.976", 24000, 1001),
        ("\"29.97\"", 30000, 1001),
        ("59.94", 60000, 1001),
        ("47.952", 48000, 1001),
        ("119.88", 120000, 1001),
        ("12.5", 25, 2),
        ("30000/1001", 30000, 1001),
        ("25", 25, 1),
    ] {
        let c = parse(&format!(
            "name: x\nplaylist: p.yaml\nvideo: {{ fps: {written} }}\n"
        ))
        .unwrap();
        assert_eq!(c.video.fps, Rational::new(num, den), "{written}");
    }
}

#[test]
fn form_errors_have_line_column_and_field() {
    let e = errors("name: x\nplaylist: p.yaml\nvideo:\n  fps: 29.9701\n");
    assert_eq!(e[0].place, "line 4 column 8");
    assert_eq!(e[0].message, "video.fps: \"29.9701\" is not a frame rate (expected e.g. 30, 29.97, 12.5 or \"30000/1001\")");
    let e = errors("name: x\nplaylist: p.yaml\nvideo:\n  bitrate: 3 Mbps\n");
    assert_eq!(e[0].to_string(), "demo.channel.yaml: line 4 column 12: video.bitrate: \"3 Mbps\" is not a bit rate (expected e.g. 3000k, 3M or 3000000 bits per second)");
    let e = errors("name: x\nplaylist: p.yaml\nslate:\n  failure_duration: soon\n");
    assert_eq!(e[0].place, "line 4 column 21");
    assert!(
        e[0].message
            .starts_with("slate.failure_duration: \"soon\" is not a duration"),
        "{}",
        e[0]
    );
}

#[test]
fn audio_rules() {
    let a = |body: &str| section_error("audio", body);
    assert_eq!(
        a("sample_rate: 22050"),
        "audio.sample_rate: 22050 is not supported (expected 44100 or 48000)"
    );
    assert_eq!(
        a("channels: 6"),
        "audio.channels: 6 is not supported (expected 1 for mono or 2 for stereo)"
    );
    assert_eq!(
        a("channels: 0"),
        "audio.channels: 0 is not supported (expected 1 for mono or 2 for stereo)"
    );
    assert_eq!(
        a("bitrate: 16k"),
        "audio.bitrate: 16k is out of range (expected 32k..=512k)"
    );
    assert_eq!(
        a("bitrate: 640k"),
        "audio.bitrate: 640k is out of range (expected 32k..=512k)"
    );
}

#[test]
fn slate_rules() {
    let s = |body: &str| section_error("slate", body);
    assert_eq!(s("background: red"), "slate.background: \"red\" is not a colour (expected \"#rrggbb\" in quotes, e.g. \"#1a1a2e\")");
    assert_eq!(s("background: '#12345'"), "slate.background: \"#12345\" is not a colour (expected \"#rrggbb\" in quotes, e.g. \"#1a1a2e\")");
    assert_eq!(
        s("failure_duration: 61s"),
        "slate.failure_duration: 1m1s is out of range (expected 0s..=60s)"
    );
    assert_eq!(s("text: \"a\\tb\""), "slate.text: the text contains a control character (expected printable text and line breaks)");
    // The comment trap: unquoted, `#1a1a2e` is a comment and the value is null.
    let e = error("name: x\nplaylist: p.yaml\nslate:\n  background: #1a1a2e\n");
    assert_eq!(e, "slate.background: no colour given (expected \"#rrggbb\" in quotes: an unquoted # starts a YAML comment)");
    let c = parse("name: x\nplaylist: p.yaml\nslate: { text: '', failure_duration: 0 }\n").unwrap();
    assert_eq!(
        (c.slate.text.as_str(), c.slate.failure_duration),
        ("", Micros::ZERO)
    );
}

#[test]
fn name_and_playlist_rules() {
    assert_eq!(
        error("name: ''\nplaylist: p.yaml\n"),
        "name: the name is empty (expected 1..=100 characters)"
    );
    assert_eq!(
        error("name: \"a\\u0007\"\nplaylist: p.yaml\n"),
        "name: the name contains a control character (expected one line of text)"
    );
    assert_eq!(
        error("name: x\nplaylist: ''\n"),
        "playlist: the path is empty (expected the playlist file's path)"
    );
    let long = "n".repeat(101);
    assert_eq!(
        error(&format!("name: {long}\nplaylist: p.yaml\n")),
        "line 1 column 7: name: the text is too long (expected at most 100 characters)"
    );
    assert!(parse(&format!("name: {}\nplaylist: p.yaml\n", "é".repeat(100))).is_ok());
    let e = error("playlist: p.yaml\n");
    assert!(e.contains("missing field `name`"), "{e}");
}

#[test]
fn output_rules() {
    let o = |outputs: &str| error(&format!("name: x\nplaylist: p.yaml\noutputs: {outputs}\n"));
    assert_eq!(
        o("[{url: 'rtmp://h/app/${NOPE}'}]"),
        "outputs[0].url: the URL environment variable NOPE is not set (expected it to hold the value for ${NOPE})"
    );
    assert_eq!(o("[{url: 'http://h/app/KEY'}]"), "outputs[0].url: \"http://h/app/****\" has the scheme \"http\" (expected rtmp://HOST[:PORT]/APP/KEY, rtmps://…, hls:FOLDER, file:PATH or a path ending .flv)");
    assert_eq!(o("[{url: 'rtmp://h'}]"), "outputs[0].url: \"rtmp://h\" has no application path (expected rtmp://HOST[:PORT]/APP/KEY)");
    assert_eq!(o("[{url: 'rtmp://h/a/k', name: Mux}]"), "outputs[0].name: \"Mux\" is not a valid output name (expected 1..=32 characters of a-z, 0-9, _ and -)");
    assert_eq!(
        o("[{url: a.flv, name: x}, {url: b.flv, name: x}]"),
        "outputs[1].name: \"x\" is already the name of outputs[0] (expected unique names)"
    );
    assert_eq!(
        o("[{url: a.flv}, {url: b.flv, name: output0}]"),
        "outputs[1].name: \"output0\" is already the name of outputs[0] (expected unique names)"
    );
    let e = o("[{url: a.flv, nmae: x}]");
    assert!(
        e.starts_with(
            "line 3 column 24: outputs[0]: unknown field `nmae`, expected one of `url`, `name`, \
             `write_timeout`, `tls_verify`, `ca_file`"
        ),
        "{e}"
    );
    let c = parse(
        "name: x\nplaylist: p.yaml\noutputs:\n  - url: rtmps://h/app/k\n    write_timeout: 2s\n    \
         tls_verify: false\n    ca_file: certs/ca.pem\n  - url: rtmp://h/app/k\n",
    )
    .unwrap();
    assert_eq!(c.outputs[0].write_timeout, Micros::from_secs(2));
    assert!(!c.outputs[0].tls_verify);
    assert!(c.outputs[0]
        .ca_file
        .as_ref()
        .unwrap()
        .ends_with("certs/ca.pem"));
    assert!(c.outputs[0].ca_file.as_ref().unwrap().is_absolute());
    assert_eq!(c.outputs[1].write_timeout, Micros::from_secs(5));
    assert!(
        c.outputs[1].tls_verify,
        "verification is on unless turned off"
    );
    assert_eq!(
        o("[{url: 'rtmp://h/a/k', tls_verify: false}]"),
        "outputs[0]: tls_verify and ca_file apply to rtmps:// URLs only (expected an rtmps:// URL or neither setting)"
    );
    assert_eq!(
        o("[{url: 'rtmp://h/a/k', write_timeout: 0.1s}]"),
        "outputs[0].write_timeout: 0.1s is out of range (expected 0.5s..=120s)"
    );
    let many: String = (0..33).map(|i| format!("{{url: o{i}.flv}},")).collect();
    let e = o(&format!("[{many}]"));
    assert!(
        e.contains("outputs: the list is too long (expected at most 32 entries)"),
        "{e}"
    );
}

#[test]
fn env_expansion_is_only_in_output_urls_and_never_leaks() {
    let c = parse("name: ${MUX_STREAM_KEY}\nplaylist: p.yaml\noutputs: [{url: 'rtmp://h/app/${MUX_STREAM_KEY}'}]\n").unwrap();
    assert_eq!(c.name, "${MUX_STREAM_KEY}");
    assert_eq!(c.outputs[0].url, "rtmp://h/app/sk-123");
    // A wrong expanded URL is shown redacted, never with the key.
    let e =
        errors("name: x\nplaylist: p.yaml\noutputs: [{url: 'rtmpx://h/app/${MUX_STREAM_KEY}'}]\n");
    assert!(!e[0].to_string().contains("sk-123"), "{}", e[0]);
    assert!(!format!("{c:?}").contains("sk-123"));
}

#[test]
fn http_rules() {
    let h = |body: &str| section_error("http", body);
    assert_eq!(h("listen: 'localhost:9100'"), "http.listen: \"localhost:9100\" is not a socket address (expected IP:PORT, e.g. 127.0.0.1:9100 or [::1]:9100)");
    assert_eq!(h("listen: 9100"), "http.listen: \"9100\" is not a socket address (expected IP:PORT, e.g. 127.0.0.1:9100 or [::1]:9100)");
    let c = parse("name: x\nplaylist: p.yaml\nhttp: { listen: '[::1]:0' }\n").unwrap();
    assert_eq!(c.http.listen, Some("[::1]:0".parse().unwrap()));
    let c = parse("name: x\nplaylist: p.yaml\nhttp:\n  listen: 0.0.0.0:80\n").unwrap();
    assert_eq!(c.http.listen.unwrap().port(), 80);
}

#[test]
fn all_semantic_errors_are_collected() {
    let e = errors(
        "name: ''\nplaylist: p.yaml\nvideo: {width: 17, height: 15}\naudio: {channels: 3}\n",
    );
    let places: Vec<&str> = e.iter().map(|e| e.place.as_str()).collect();
    assert_eq!(
        places,
        ["name", "video.width", "video.height", "audio.channels"]
    );
}

#[test]
fn syntax_and_type_errors() {
    let e = errors("name: x\nplaylist: p.yaml\nvideo: { width: 1280\n");
    assert!(e[0].place.starts_with("line "), "{}", e[0]);
    assert!(
        e[0].to_string().starts_with("demo.channel.yaml: line "),
        "{}",
        e[0]
    );
    assert_eq!(
        error("name: x\nplaylist: p.yaml\nvideo:\n  width: wide\n"),
        "line 4 column 10: video.width: invalid type: string \"wide\", expected u64"
    );
    assert_eq!(error("name: x\nplaylist: p.yaml\nvideo: 1080p\n"), "line 3 column 8: video: invalid type: string \"1080p\", expected video settings: a mapping with width, height, fps, bitrate, maxrate, bufsize, preset and keyframe_interval");
    assert_eq!(
        error("name: x\nplaylist: p.yaml\nvideo: {width: -2}\n"),
        "line 3 column 16: video.width: invalid type: integer `-2`, expected u64"
    );
    assert_eq!(error("name: x\nplaylist: [p.yaml]\n"), "line 2 column 11: playlist: invalid type: sequence, expected text of at most 4096 characters");
    assert_eq!(error("- name: x\n"), "line 1 column 1: invalid type: sequence, expected a channel file: a mapping with name, playlist and optionally video, audio, slate, outputs, http, media, timezone, state, overlay, text, live, prepare, asrun, anchor and reload");
    assert_eq!(error("name: x\nplaylist: p.yaml\nvideo: {fsp: 30}\n"), "line 3 column 9: video: unknown field `fsp`, expected one of `width`, `height`, `fps`, `bitrate`, `maxrate`, `bufsize`, `preset`, `keyframe_interval`");
    assert!(error("name: x\nplaylist: p.yaml\nextra: 1\n").contains("unknown field `extra`"));
}

#[test]
fn timezone_and_state_file() {
    let c = parse("name: x\nplaylist: p.yaml\n").unwrap();
    assert_eq!(c.timezone, chrono_tz::UTC);
    assert_eq!(c.state, c.file.with_file_name("demo.channel.state.json"));
    let c =
        parse("name: x\nplaylist: p.yaml\ntimezone: Europe/Berlin\nstate: run/x.json\n").unwrap();
    assert_eq!(c.timezone, chrono_tz::Europe::Berlin);
    assert_eq!(c.state, c.file.with_file_name("run/x.json"));
    assert_eq!(
        error("name: x\nplaylist: p.yaml\ntimezone: Mars/Olympus\n"),
        "timezone: \"Mars/Olympus\" is not a time zone (expected an IANA name such as Europe/Berlin or UTC)"
    );
}

#[test]
fn anchor_and_reload_take_an_instant_and_bounded_durations() {
    let c = parse("name: x\nplaylist: p.yaml\n").unwrap();
    assert_eq!(c.anchor, None);
    assert_eq!(c.reload, crate::config::ReloadSettings::default());
    assert_eq!(c.reload.poll, Micros::from_secs(2));
    assert_eq!(c.reload.settle, Micros::from_secs(5));
    let c = parse(
        "name: x\nplaylist: p.yaml\nanchor: 2026-01-01T01:00:00+01:00\nreload: { poll: 500ms, settle: 0s }\n",
    )
    .unwrap();
    assert_eq!(c.anchor, Some(Micros::from_secs(1_767_225_600)));
    assert_eq!(c.reload.poll, Micros::from_millis(500));
    assert_eq!(c.reload.settle, Micros::ZERO);
    assert_eq!(
        error("name: x\nplaylist: p.yaml\nanchor: yesterday\n"),
        "anchor: \"yesterday\" is not an instant (expected RFC 3339 with an offset, e.g. 2026-01-01T00:00:00Z, not before 1970)"
    );
    assert!(
        error("name: x\nplaylist: p.yaml\nanchor: 2026-01-01T00:00:00\n").starts_with("anchor: ")
    );
    assert_eq!(
        error("name: x\nplaylist: p.yaml\nreload: { poll: 1h }\n"),
        "reload.poll: 1h0m0s is out of range (expected 0.1s to 10m0s)"
    );
    assert!(error("name: x\nplaylist: p.yaml\nreload: { every: 1s }\n")
        .contains("unknown field `every`"));
}

#[test]
fn duplicate_keys_are_rejected() {
    assert_eq!(
        error("name: x\nname: y\nplaylist: p.yaml\n"),
        "line 1 column 1: duplicate field `name`"
    );
    let e = error("name: x\nplaylist: p.yaml\nvideo: {width: 640, width: 320}\n");
    assert!(e.contains("video: duplicate field `width`"), "{e}");
}

#[test]
fn empty_and_garbage_files() {
    for empty in ["", "   \n", "# just a comment\n", "~\n", "---\n"] {
        assert_eq!(
            error(empty),
            ": the file is empty (expected a channel file with at least `name` and `playlist`)"
        );
    }
    let e = errors("\u{0}\u{1}\u{2}binary\u{7f}");
    assert_eq!(e.len(), 1);
    let e = errors("name: x\nplaylist: p\n---\nname: y\nplaylist: p\n");
    assert!(
        e[0].message.contains("more than one YAML document"),
        "{}",
        e[0]
    );
}

#[test]
fn load_reads_files_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, "name: x\nplaylist: sub/p.yaml\nvideo: {width: 17}\n").unwrap();
    let e = ChannelConfig::load_with_env(&path, &env).unwrap_err();
    assert_eq!(e.file, path);
    assert_eq!(
        e.to_string(),
        format!(
            "{}: video.width: 17 is odd (expected an even number 16..=7680)",
            path.display()
        )
    );
    std::fs::write(&path, "name: x\nplaylist: sub/p.yaml\n").unwrap();
    let c = ChannelConfig::load_with_env(&path, &env).unwrap();
    assert_eq!(c.playlist, dir.path().join("sub/p.yaml"));
    std::fs::write(&path, vec![b' '; 2 * 1024 * 1024]).unwrap();
    let e = ChannelConfig::load(&path).unwrap_err();
    assert!(e.message.contains("larger than 1 MiB"), "{e}");
    std::fs::write(&path, b"name: \xc3\x28\n").unwrap();
    assert_eq!(
        ChannelConfig::load(&path).unwrap_err().place,
        "line 1 column 7"
    );
}

/// Nine levels of ten aliases: a billion `lol`s if expanded.
pub(crate) fn billion_laughs(top_key: &str) -> String {
    let mut s = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..=9 {
        let p = i - 1;
        s += &format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        );
    }
    s + &format!("{top_key}: *a9\n")
}

#[test]
fn alias_bomb_is_rejected_quickly() {
    // Every known field is typed, so a bomb can only sit under an unknown key or in a field
    // of the wrong type: both are refused before anything is expanded.
    let start = Instant::now();
    let e = errors(&billion_laughs("name"));
    assert!(e[0].message.contains("unknown field `a0`"), "{}", e[0]);
    let typed = "name: x\nplaylist: p.yaml\noutputs: &o [{url: a.flv}]\nhttp: *o\n";
    assert!(errors(typed)[0].message.contains("expected http settings"));
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn large_string_aliased_many_times_is_bounded() {
    // 30 kB of slate text referenced 25 000 times would be 750 MB if copied each time; the
    // list cap stops it after 32 outputs and the text cap refuses a long URL before copying.
    let big = "k".repeat(30_000);
    let aliases = "*u, ".repeat(25_000);
    let text =
        format!("name: x\nplaylist: p.yaml\nslate: {{text: &u {big}}}\noutputs: [{aliases}]\n");
    let start = Instant::now();
    let e = errors(&text);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(!e.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics(text in "\\PC{0,200}") {
        let _ = parse_all(&text, Path::new(FILE), &env);
    }

    #[test]
    fn valid_dimensions_round_trip(w in 8u32..=3840, h in 8u32..=2160) {
        let (w, h) = (w * 2, h * 2);
        let c = parse(&format!("name: x\nplaylist: p.yaml\nvideo: {{width: {w}, height: {h}}}\n")).unwrap();
        prop_assert_eq!((c.video.width, c.video.height), (w, h));
    }
}

#[test]
fn loudness_target_defaults_and_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let load = |audio: &str| {
        let f = dir.path().join("c.yaml");
        std::fs::write(&f, format!("name: c\nplaylist: p.yaml\naudio: {audio}\n")).unwrap();
        ChannelConfig::load(&f)
    };
    let c = load("{ loudness: {} }").unwrap();
    let l = c.audio.loudness.unwrap();
    assert_eq!((l.lufs_milli, l.true_peak_milli), (-23_000, -1_000));
    let c = load("{ loudness: { target_lufs: -14, true_peak_dbtp: -1.5 } }").unwrap();
    let l = c.audio.loudness.unwrap();
    assert_eq!((l.lufs(), l.true_peak()), (-14.0, -1.5));
    let e = load("{ loudness: { target_lufs: -10 } }").unwrap_err();
    assert!(
        e.to_string()
            .contains("audio.loudness.target_lufs: -10 is out of range (expected -31..=-14 LUFS"),
        "{e}"
    );
    let e = load("{ loudness: { true_peak_dbtp: 2 } }").unwrap_err();
    assert!(
        e.to_string()
            .contains("audio.loudness.true_peak_dbtp: 2 is out of range"),
        "{e}"
    );
    let e = load("{ loudness: { target: -23 } }").unwrap_err();
    assert!(e.to_string().contains("unknown field `target`"), "{e}");
    assert!(load("{}").unwrap().audio.loudness.is_none());
}

#[test]
fn text_overlay_defaults_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let load = |text: &str| {
        let f = dir.path().join("c.yaml");
        std::fs::write(&f, format!("name: c\nplaylist: p.yaml\ntext: {text}\n")).unwrap();
        ChannelConfig::load(&f)
    };
    let t = load("{ template: \"{title} on {channel}\" }")
        .unwrap()
        .text
        .unwrap();
    assert_eq!(t.position, Corner::BottomLeft);
    assert_eq!(
        (t.from, t.duration),
        (Micros::from_secs(5), Micros::from_secs(8))
    );
    assert_eq!(t.line("News", "TV"), "News on TV");
    let e = load("{ template: x, position: centre }").unwrap_err();
    assert!(
        e.to_string()
            .contains("text.position: \"centre\" is not a position"),
        "{e}"
    );
    let e = load("{ template: x, for: 0s }").unwrap_err();
    assert!(
        e.to_string().contains("text.for: 0s is out of range"),
        "{e}"
    );
    let e = load("{ template: \"  \" }").unwrap_err();
    assert!(
        e.to_string()
            .contains("text.template: the template is empty"),
        "{e}"
    );
}

#[test]
fn asrun_keep_takes_days_or_a_duration_and_at_least_a_day() {
    let base = "name: x\nplaylist: p.yaml\n";
    let keep = |extra: &str| parse(&format!("{base}{extra}")).map(|c| c.asrun.keep);
    let day = Micros::from_secs(86_400);
    assert_eq!(keep(""), Ok(Micros(90 * day.0)));
    assert_eq!(keep("asrun: { keep: 30d }\n"), Ok(Micros(30 * day.0)));
    assert_eq!(keep("asrun: { keep: 48h }\n"), Ok(Micros(2 * day.0)));
    assert_eq!(
        error(&format!("{base}asrun: {{ keep: 12h }}\n")),
        "asrun.keep: 12h0m0s keeps less than today's file (expected at least 1d, e.g. 90d)"
    );
    assert!(error(&format!("{base}asrun: {{ keep: soon }}\n"))
        .contains("\"soon\" is not a length of time (expected days such as 90d"));
    assert!(error(&format!("{base}asrun: {{ kept: 1d }}\n")).contains("unknown field `kept`"));
}
