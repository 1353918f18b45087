//! `playout check` and `playout probe` as an operator runs them.
mod common;

use std::fs;
use std::path::Path;

use common::*;

#[test]
fn check_accepts_good_files_and_names_the_problem_in_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let playlist = write_playlist(dir.path(), &[ItemSpec::clip(&fixture("landscape_25").path)]);
    let channel = write_channel(dir.path(), "good", 320, 180, "30", &playlist, "");
    let (status, stdout, _, _) = run_playout(&[
        "check",
        channel.to_str().unwrap(),
        playlist.to_str().unwrap(),
    ]);
    assert!(status.success(), "{stdout}");
    assert!(stdout.contains("ok"), "{stdout}");

    let bad = dir.path().join("bad.playlist.yaml");
    fs::write(&bad, "items:\n  - path: a.mp4\n    in: 10s\n    out: 5s\n").unwrap();
    let odd = dir.path().join("odd.yaml");
    fs::write(
        &odd,
        format!(
            "name: x\nplaylist: {}\nvideo: {{ width: 17 }}\n",
            playlist.display()
        ),
    )
    .unwrap();
    let broken = dir.path().join("broken.yaml");
    fs::write(&broken, "items: [\n  - path: a.mp4\n").unwrap();
    for (file, words) in [
        (&bad, vec!["bad.playlist.yaml", "items[0]", "out"]),
        (&odd, vec!["odd.yaml", "video.width", "17"]),
        (&broken, vec!["broken.yaml", "line"]),
    ] {
        let (status, stdout, stderr, wall) = run_playout(&["check", file.to_str().unwrap()]);
        println!("{stdout}{stderr}");
        assert_eq!(
            status.code(),
            Some(1),
            "{} must be rejected",
            file.display()
        );
        for w in words {
            assert!(stdout.contains(w), "{w:?} not in {stdout:?}");
        }
        assert!(wall.as_secs() < 5);
    }
}

/// `playout prepare` says so when the channel file turns pass-through off.
#[test]
fn prepare_warns_when_the_channel_plays_no_copies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("p.yaml"), "items:\n  - slate: 2s\n").unwrap();
    for (prepare, warned) in [("prepare: false\n", true), ("", false)] {
        let file = d.join("c.yaml");
        fs::write(&file, format!("name: c\nplaylist: p.yaml\n{prepare}")).unwrap();
        let r = run_playout(&["prepare", file.to_str().unwrap()]);
        assert!(r.0.success(), "{}{}", r.1, r.2);
        assert_eq!(
            r.2.contains("warning: ") && r.2.contains("says prepare: false"),
            warned,
            "{prepare:?}: {}",
            r.2
        );
    }
}

/// The demo host `make run` plays checks clean: three channels, none in another's way.
#[test]
fn the_demo_host_folder_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("playlists/demo-host");
    let r = run_playout_env(
        &["check", dir.to_str().unwrap()],
        &[("PLAYOUT_API_TOKEN", "a-token-for-the-demo-check")],
    );
    assert!(r.status.success(), "{}{}", r.stdout, r.stderr);
    for id in ["demo", "copies", "vertical"] {
        assert!(
            r.stdout.contains(&format!("{id}.channel.yaml: ok: {id} ")),
            "{id}: {}",
            r.stdout
        );
    }
}

/// `playout check DIR`: the folder as a host reads it (issue 29).
#[test]
fn check_takes_a_folder_of_channels_and_names_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("p.yaml"), "items:\n  - slate: 10s\n").unwrap();
    let ch = |name: &str, state: &str| {
        format!("name: {name}\nplaylist: p.yaml\nstate: {state}\noutputs:\n  - url: hls:{name}\n")
    };
    fs::write(d.join("news.channel.yaml"), ch("news", "news.state.json")).unwrap();
    fs::write(
        d.join("sport.channel.yaml"),
        ch("sport", "sport.state.json"),
    )
    .unwrap();
    fs::write(
        d.join("host.yaml"),
        "http: { listen: \"127.0.0.1:9300\", api_token: \"${HOST_TOKEN}\" }\n",
    )
    .unwrap();
    let dir_arg = d.to_str().unwrap();
    let r = run_playout_env(
        &["check", dir_arg],
        &[("HOST_TOKEN", "host-token-0123456789")],
    );
    println!("{}{}", r.stdout, r.stderr);
    assert!(r.status.success(), "{}", r.stdout);
    for w in [
        "news.channel.yaml: ok: news",
        "sport.channel.yaml: ok: sport",
        "host.yaml: ok",
    ] {
        assert!(r.stdout.contains(w), "{w:?} not in {:?}", r.stdout);
    }
    assert!(!r.stdout.contains("host-token-0123456789"));

    // A bad id, and a channel that would share a state file: each named, the rest ok.
    fs::write(d.join("Weather.channel.yaml"), ch("w", "w.state.json")).unwrap();
    fs::write(d.join("tv.channel.yaml"), ch("tv", "news.state.json")).unwrap();
    let r = run_playout_env(
        &["check", dir_arg],
        &[("HOST_TOKEN", "host-token-0123456789")],
    );
    println!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.status.code(), Some(1));
    for w in [
        "the channel id \"Weather\"",
        "channels \"news\" and \"tv\" would both use the state file",
        "sport.channel.yaml: ok: sport",
    ] {
        assert!(r.stdout.contains(w), "{w:?} not in {:?}", r.stdout);
    }
    // host.yaml that does not validate: the folder is refused with the place named.
    let r = run_playout_env(&["check", dir_arg], &[]);
    assert_eq!(r.status.code(), Some(1));
    assert!(r.stdout.contains("http.api_token"), "{}", r.stdout);
}

#[test]
fn probe_says_what_the_channel_will_do() {
    let cases = [
        ("mpeg2_interlaced", "deinterlace"),
        ("rotated_90", "rotate"),
        ("surround_51", "downmix 6 channels to 2"),
        ("mono_44k", "resample audio 44100 Hz to 48000 Hz"),
        ("vertical", "pillarbox"),
        ("no_audio", "no audio: silence"),
        ("audio_only", "slate is shown under the audio"),
        ("h264_10bit", "to yuv420p"),
        ("fps_60", "frame rate 60 to 30"),
        ("still", "still image"),
    ];
    for (name, words) in cases {
        let f = fixture(name);
        let (status, stdout, _, _) = run_playout(&["probe", f.path.to_str().unwrap()]);
        println!("{stdout}");
        assert!(status.success(), "{name}: {stdout}");
        assert!(stdout.contains(words), "{name}: {words:?} not in\n{stdout}");
    }
    let broken = fixture("random");
    let (status, stdout, _, _) = run_playout(&["probe", broken.path.to_str().unwrap()]);
    println!("{stdout}");
    assert_eq!(status.code(), Some(1));
    assert!(
        stdout.contains("will be replaced by slate because"),
        "{stdout}"
    );
}

/// Every stderr line is one JSON object with time, level, target and message.
fn json_lines(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}"));
            for key in ["timestamp", "level", "target", "message"] {
                assert!(v.get(key).is_some(), "no {key:?} in {l}");
            }
            v
        })
        .collect()
}

/// `--log-format json` and `PLAYOUT_LOG_FORMAT=json` (issue 27): one JSON object a line,
/// fields included, never a secret; a host's channels say which they are in a field.
#[test]
fn json_logs_are_one_object_a_line_and_never_show_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("p.yaml"), "items:\n  - slate: 10s\n").unwrap();
    // An ingest that refuses: its key must not reach the log, nor the API token.
    let closed = free_port();
    let key = "sEcReT-sTrEaM-kEy-4711";
    let token = "tOkEn-0123456789abcdef";
    fs::write(
        d.join("news.channel.yaml"),
        format!(
            "name: news\nplaylist: p.yaml\nprepare: false\n\
             video: {{ {VIDEO_320} }}\n\
             http: {{ listen: \"127.0.0.1:{}\", api_token: \"${{TOKEN}}\" }}\n\
             outputs:\n  - url: rtmp://127.0.0.1:{closed}/live/${{KEY}}\n",
            free_port()
        ),
    )
    .unwrap();
    let file = d.join("news.channel.yaml");
    let r = run_playout_env(
        &["run", file.to_str().unwrap(), "--for", "3s"],
        &[
            ("PLAYOUT_LOG_FORMAT", "json"),
            ("KEY", key),
            ("TOKEN", token),
        ],
    );
    println!("{}", r.stderr);
    assert!(r.status.success(), "{}", r.stderr);
    let lines = json_lines(&r.stderr);
    assert!(!r.stderr.contains(key) && !r.stderr.contains(token));
    let has = |msg: &str| {
        lines
            .iter()
            .find(|v| v["message"].as_str().is_some_and(|m| m.contains(msg)))
            .cloned()
    };
    let start = has("Channel starting.").expect("the start line");
    assert_eq!(start["level"], "INFO");
    assert_eq!(start["channel"], "news", "fields are top-level: {start}");
    let out = has("Output configured.").expect("the output line");
    assert!(
        out["url"].as_str().is_some_and(|u| u.contains("****")),
        "{out}"
    );
    // The ingest's refusal is logged as a warning, a line like the others.
    assert!(
        lines.iter().any(|v| v["level"] == "WARN"),
        "no warning for the refused output"
    );

    // The flag does the same, and an error that ends the program is a JSON line too.
    let r = run_playout(&["run", "--log-format", "json", "no-such.channel.yaml"]);
    let (status, stderr) = (r.0, r.2);
    println!("{stderr}");
    assert!(!status.success());
    let lines = json_lines(&stderr);
    assert!(
        lines.iter().any(|v| v["level"] == "ERROR"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.contains("no-such.channel.yaml"))),
        "{stderr}"
    );

    // A host: its channels' lines carry "channel_id": ID instead of the text prefix.
    fs::write(
        d.join("host.yaml"),
        format!("http: {{ listen: \"127.0.0.1:{}\" }}\n", free_port()),
    )
    .unwrap();
    let r = run_playout_env(
        &[
            "run",
            "--log-format",
            "json",
            d.to_str().unwrap(),
            "--for",
            "6s",
        ],
        &[("KEY", key), ("TOKEN", token)],
    );
    println!("{}", r.stderr);
    let lines = json_lines(&r.stderr);
    assert!(!r.stderr.contains(key) && !r.stderr.contains(token));
    assert!(
        lines.iter().any(
            |v| v["channel_id"] == "news" && v["message"].as_str() == Some("Channel starting.")
        ),
        "no line of the hosted channel with its id"
    );
}
