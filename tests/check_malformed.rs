//! `playout check` against malformed channel and playlist files: every one exits 1 within a
//! second, names the file and the place (a line or a field), and never panics; a good channel
//! and its playlist pass.
mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::timeline::clip;
use common::*;

/// A channel file's required head, pointing at the good playlist beside it.
const HEAD: &str = "name: c\nplaylist: good.playlist.yaml\n";

/// (file name, content, words stdout must contain besides the file name).
type Case = (&'static str, Vec<u8>, Vec<&'static str>);

fn playlist_cases() -> Vec<Case> {
    let t = |s: &str| s.as_bytes().to_vec();
    // Billion laughs with top-level anchors, and one hidden in item titles.
    let mut bomb = String::from("a0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
    let mut title_bomb = String::from("items:\n  - path: a.mp4\n    title: &t0 [lol,lol,lol]\n");
    for i in 1..12 {
        bomb += &format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 10].join(",")
        );
        title_bomb += &format!(
            "  - path: a.mp4\n    title: &t{i} [{}]\n",
            vec![format!("*t{}", i - 1); 10].join(",")
        );
    }
    bomb += "items: *a11\n";
    // Deterministic garbage that is not UTF-8.
    let mut x: u32 = 0x1234_5678;
    let garbage: Vec<u8> = std::iter::once(0xff)
        .chain((0..4096).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        }))
        .collect();
    let huge: String = std::iter::once("items:\n".to_string())
        .chain(
            (0..9000).map(|i| format!("  - path: a{i}.mp4\n    title: \"{}\"\n", "x".repeat(100))),
        )
        .collect();
    let deep = format!("items: {}{}\n", "[".repeat(5000), "]".repeat(5000));
    let ev = |at: &str| {
        t(&format!(
            "items:\n  - path: a.mp4\nevents:\n  - at: \"{at}\"\n    path: a.mp4\n"
        ))
    };
    vec![
        (
            "syntax_flow.yaml",
            t("items: [\n  - path: a.mp4\n"),
            vec!["line 2"],
        ),
        (
            "syntax_indent.yaml",
            t("items:\n  - path: a.mp4\n title: x\n  - path: b.mp4\n"),
            vec!["line 3"],
        ),
        (
            "syntax_tab.yaml",
            t("items:\n\t- path: a.mp4\n"),
            vec!["line 2"],
        ),
        (
            "unknown_item_field.yaml",
            t("items:\n  - path: a.mp4\n    colour: red\n"),
            vec!["items[0]", "colour"],
        ),
        (
            "unknown_top_field.yaml",
            t("item:\n  - path: a.mp4\n"),
            vec!["line 1"],
        ),
        ("type_items.yaml", t("items: 5\n"), vec!["items"]),
        (
            "type_title.yaml",
            t("items:\n  - path: a.mp4\n    title: [1, 2]\n"),
            vec!["items[0].title"],
        ),
        (
            "type_in.yaml",
            t("items:\n  - path: a.mp4\n    in: {a: 1}\n"),
            vec!["items[0].in"],
        ),
        (
            "type_path.yaml",
            t("items:\n  - path: [a.mp4]\n"),
            vec!["items[0].path"],
        ),
        (
            "in_after_out.yaml",
            t("items:\n  - path: a.mp4\n    in: 10s\n    out: 5s\n"),
            vec!["items[0].out"],
        ),
        (
            "negative_slate.yaml",
            t("items:\n  - slate: -5s\n"),
            vec!["items[0].slate"],
        ),
        (
            "negative_in.yaml",
            t("items:\n  - path: a.mp4\n    in: -3s\n"),
            vec!["items[0].in"],
        ),
        (
            "negative_duration.yaml",
            t("items:\n  - path: a.png\n    duration: -1\n"),
            vec!["items[0].duration"],
        ),
        (
            "zero_duration.yaml",
            t("items:\n  - path: a.png\n    duration: 0s\n"),
            vec!["items[0].duration"],
        ),
        ("impossible_time.yaml", ev("25:61:00"), vec!["events[0].at"]),
        (
            "impossible_date.yaml",
            ev("2026-02-30T10:00:00Z"),
            vec!["events[0].at"],
        ),
        ("alias_bomb.yaml", t(&bomb), vec![]),
        (
            "alias_bomb_titles.yaml",
            t(&title_bomb),
            vec!["items[0].title"],
        ),
        ("binary_garbage.yaml", garbage, vec!["line"]),
        (
            "control_chars.yaml",
            t("items:\n  - path: a\0.mp4\n"),
            vec!["line"],
        ),
        (
            "duplicate_key.yaml",
            t("items:\n  - path: a.mp4\n  - path: a.mp4\n    path: b.mp4\n"),
            vec!["items[1]", "duplicate"],
        ),
        (
            "path_and_slate.yaml",
            t("items:\n  - path: a.mp4\n    slate: 5s\n"),
            vec!["items[0]"],
        ),
        ("no_items.yaml", t("items: []\n"), vec!["items"]),
        ("empty.yaml", vec![], vec!["empty"]),
        (
            "deep_nesting.yaml",
            t(&deep),
            vec!["line 1 column 136", "nested too deeply"],
        ),
        ("huge.yaml", t(&huge), vec!["1 MiB"]),
        (
            "list_document.yaml",
            t("- path: a.mp4\n- path: b.mp4\n"),
            vec![],
        ),
    ]
}

fn channel_cases() -> Vec<Case> {
    let c = |s: &str| format!("{HEAD}{s}").into_bytes();
    let mut bomb = String::from("x0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
    for i in 1..12 {
        bomb += &format!(
            "x{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 10].join(",")
        );
    }
    vec![
        ("odd_width.yaml", c("video: { width: 641, height: 360 }\n"), vec!["video.width"]),
        ("odd_height.yaml", c("video: { width: 640, height: 361 }\n"), vec!["video.height"]),
        ("zero_height.yaml", c("video: { width: 640, height: 0 }\n"), vec!["video.height"]),
        ("fps_zero.yaml", c("video: { fps: 0 }\n"), vec!["video.fps"]),
        ("fps_word.yaml", c("video: { fps: fast }\n"), vec!["video.fps"]),
        ("scheme_ftp.yaml", c("outputs:\n  - url: \"ftp://host/live/key\"\n"), vec!["outputs[0].url"]),
        ("scheme_udp.yaml", c("outputs:\n  - url: \"udp://127.0.0.1:1234\"\n"), vec!["outputs[0].url"]),
        ("scheme_http.yaml", c("outputs:\n  - url: \"http://127.0.0.1/live\"\n"), vec!["outputs[0].url"]),
        ("unknown_channel_field.yaml", c("vidoe: { width: 640 }\n"), vec!["line 3"]),
        ("duplicate_name.yaml", c("name: d\n"), vec!["name"]),
        ("duplicate_url.yaml", c("outputs:\n  - url: \"rtmp://127.0.0.1/live/x\"\n    url: \"rtmp://127.0.0.1/live/y\"\n"), vec!["outputs[0]"]),
        ("type_video.yaml", c("video: 5\n"), vec!["video"]),
        ("unset_env.yaml", c("outputs:\n  - url: \"rtmp://127.0.0.1/live/${PLAYOUT_SURELY_UNSET_VAR}\"\n"), vec!["outputs[0].url", "PLAYOUT_SURELY_UNSET_VAR"]),
        ("negative_keyframe.yaml", c("video: { keyframe_interval: -2s }\n"), vec!["video.keyframe_interval"]),
        ("bad_bitrate.yaml", c("video: { bitrate: fast }\n"), vec!["video.bitrate"]),
        ("negative_sample_rate.yaml", c("audio: { sample_rate: -48000 }\n"), vec!["audio.sample_rate"]),
        ("bad_timezone.yaml", c("timezone: Mars/Olympus_Mons\n"), vec!["timezone"]),
        ("bad_listen.yaml", c("http: { listen: \"not an address\" }\n"), vec!["http.listen"]),
        ("unquoted_colour.yaml", c("slate: { text: hi, background: #1a1a2e }\n"), vec!["line"]),
        ("bad_output_name.yaml", c("outputs:\n  - url: \"rtmp://127.0.0.1/live/x\"\n    name: \"Bad Name!\"\n"), vec!["outputs[0].name"]),
        ("channel_alias_bomb.yaml", format!("{HEAD}{bomb}").into_bytes(), vec![]),
    ]
}

/// What is wrong with `playout check` on `path` (empty when it behaved).
fn misbehaviour(path: &Path, words: &[&str], content_len: usize) -> (Vec<String>, String) {
    let run = run_playout_timeout(&["check", path.to_str().unwrap()], Duration::from_secs(10));
    let name = path.file_name().unwrap().to_str().unwrap();
    let mut p = Vec::new();
    if run.status.code() != Some(1) {
        p.push(format!("exit status {}, expected 1", run.status));
    }
    if run.wall > Duration::from_secs(1) {
        p.push(format!("took {:.2} s (limit 1 s)", run.wall.as_secs_f64()));
    }
    if !run.stdout.contains(name) {
        p.push(format!("stdout does not name {name}"));
    }
    for w in words {
        if !run.stdout.contains(w) {
            p.push(format!("stdout does not say {w:?}"));
        }
    }
    if content_len > 0 && run.stdout.contains("is empty") {
        p.push("a non-empty file is reported as empty".into());
    }
    if (run.stderr.clone() + &run.stdout).contains("panicked") {
        p.push(format!("panicked: {}", tail(&run.stderr, 5)));
    }
    let shown = format!(
        "{:.0} ms, {}: {}",
        run.wall.as_secs_f64() * 1000.0,
        run.status,
        tail(run.stdout.trim(), 3)
            .chars()
            .take(300)
            .collect::<String>()
    );
    (p, shown)
}

#[test]
fn check_rejects_malformed_files_quickly_naming_file_and_place() {
    let dir = tempfile::tempdir().unwrap();
    let media = clip("plain_4s");
    let good_playlist = write_playlist_named(
        dir.path(),
        "good.playlist.yaml",
        &[ItemSpec::clip(&media).title("Plain"), ItemSpec::slate("2s")],
    );
    let good_channel = write_channel(dir.path(), "good", 320, 180, "30", &good_playlist, "");

    let mut cases = playlist_cases();
    cases.extend(channel_cases());
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for (file, content, words) in &cases {
        let path = dir.path().join(file);
        fs::write(&path, content).unwrap();
        let (p, shown) = misbehaviour(&path, words, content.len());
        println!("{file}: {shown}");
        failures.extend(p.into_iter().map(|m| format!("{file}: {m}")));
    }

    for good in [&good_channel, &good_playlist] {
        let run = run_playout_timeout(&["check", good.to_str().unwrap()], Duration::from_secs(10));
        println!("{}: {} {}", good.display(), run.status, run.stdout.trim());
        if !run.status.success() || !run.stdout.contains("ok") {
            failures.push(format!(
                "good file {} rejected: {}{}",
                good.display(),
                run.stdout,
                run.stderr
            ));
        }
    }
    println!("{} malformed files checked", cases.len());
    assert!(failures.is_empty(), "failures: {failures:#?}");
}
