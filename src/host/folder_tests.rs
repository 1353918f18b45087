//! The folder read and checked: ids, each file, `host.yaml`, and what two channels share.

use std::fs;

use super::*;

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).unwrap();
}

/// A folder with a playlist and a slate item, so that every channel file checks.
fn folder() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "p.yaml", "items:\n  - slate: 10s\n");
    d
}

fn channel(name: &str, extra: &str) -> String {
    format!("name: {name}\nplaylist: p.yaml\noutputs:\n  - url: hls:hls-{name}\n{extra}")
}

fn errors(f: &Folder) -> Vec<(String, String)> {
    f.members
        .iter()
        .filter_map(|m| m.checked.as_ref().err().map(|e| (m.id.clone(), e.clone())))
        .collect()
}

#[test]
fn ids_are_lower_case_letters_digits_and_dashes() {
    for good in ["a", "news-1", "0", &"x".repeat(63)] {
        assert!(is_id(good), "{good}");
    }
    for bad in [
        "",
        "-a",
        "A",
        "news_1",
        "n.ws",
        "ünï",
        "a b",
        &"x".repeat(64),
    ] {
        assert!(!is_id(bad), "{bad}");
    }
}

#[test]
fn every_channel_file_is_a_channel_named_by_its_file() {
    let d = folder();
    write(d.path(), "news.channel.yaml", &channel("News", ""));
    write(d.path(), "movies-2.channel.yaml", &channel("Movies", ""));
    // Not channel files: the playlist, another YAML file, a folder so named.
    write(d.path(), "notes.yaml", "name: x\n");
    fs::create_dir(d.path().join("dir.channel.yaml")).unwrap();
    let f = Folder::read(d.path()).unwrap();
    let ids: Vec<&str> = f.members.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["movies-2", "news"]);
    assert_eq!(errors(&f), []);
    assert_eq!(f.host, HttpSettings::default());
    let (text, ok) = f.report();
    assert!(ok, "{text}");
    assert!(
        text.contains("news.channel.yaml: ok: news channel News:"),
        "{text}"
    );
}

#[test]
fn a_bad_id_or_a_bad_file_fails_that_channel_only() {
    let d = folder();
    write(d.path(), "good.channel.yaml", &channel("Good", ""));
    write(d.path(), "Bad_Name.channel.yaml", &channel("Bad", ""));
    write(
        d.path(),
        "broken.channel.yaml",
        &channel("Broken", "video: { width: 641 }\n"),
    );
    let f = Folder::read(d.path()).unwrap();
    let e = errors(&f);
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0].0, "Bad_Name");
    assert!(
        e[0].1.contains("the channel id \"Bad_Name\"")
            && e[0].1.contains("[a-z0-9][a-z0-9-]{0,62}"),
        "{}",
        e[0].1
    );
    assert_eq!(e[1].0, "broken");
    assert!(
        e[1].1.contains("broken.channel.yaml") && e[1].1.contains("video.width"),
        "{}",
        e[1].1
    );
    assert!(f
        .members
        .iter()
        .any(|m| m.id == "good" && m.checked.is_ok()));
    let (text, ok) = f.report();
    assert!(!ok);
    assert!(text.contains("good.channel.yaml: ok:"), "{text}");
}

#[test]
fn what_two_channels_would_share_refuses_the_later_naming_both() {
    let d = folder();
    write(
        d.path(),
        "a.channel.yaml",
        "name: A\nplaylist: p.yaml\nstate: shared.state.json\noutputs:\n  - url: hls:web\n  - url: rtmp://127.0.0.1/live/SECRETKEY1\n",
    );
    // Same state file.
    write(
        d.path(),
        "b.channel.yaml",
        "name: B\nplaylist: p.yaml\nstate: shared.state.json\noutputs:\n  - url: hls:web-b\n",
    );
    // Same HLS folder and RTMP URL.
    write(
        d.path(),
        "c.channel.yaml",
        "name: C\nplaylist: p.yaml\noutputs:\n  - url: hls:web\n  - url: rtmp://127.0.0.1/live/SECRETKEY1\n",
    );
    // Its own of everything: fine.
    write(d.path(), "d.channel.yaml", &channel("D", ""));
    let f = Folder::read(d.path()).unwrap();
    let e = errors(&f);
    let ids: Vec<&str> = e.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["b", "c"], "{e:?}");
    assert!(
        e[0].1
            .contains("channels \"a\" and \"b\" would both use the state file"),
        "{}",
        e[0].1
    );
    assert!(e[1].1.contains("the HLS folder"), "{}", e[1].1);
    assert!(
        e[1].1.contains("the RTMP URL rtmp://127.0.0.1/live/****"),
        "{}",
        e[1].1
    );
    assert!(!e[1].1.contains("SECRETKEY1"), "a stream key in {}", e[1].1);
}

#[test]
fn a_channel_on_air_keeps_what_a_newcomer_claims() {
    let d = folder();
    write(d.path(), "zed.channel.yaml", &channel("Zed", ""));
    // Sorts first and wants Zed's HLS folder.
    write(d.path(), "abc.channel.yaml", &channel("Zed", ""));
    let f = Folder::read(d.path()).unwrap();
    assert_eq!(
        errors(&f)
            .iter()
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>(),
        ["zed"]
    );
    let keep = std::collections::BTreeSet::from(["zed".to_string()]);
    let f = Folder::read_keeping(d.path(), &keep).unwrap();
    let e = errors(&f);
    assert_eq!(
        e.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        ["abc"],
        "{e:?}"
    );
    assert!(
        e[0].1.contains("channels \"zed\" and \"abc\""),
        "{}",
        e[0].1
    );
}

#[test]
fn host_yaml_is_checked_as_a_channels_http() {
    let d = folder();
    write(d.path(), "one.channel.yaml", &channel("One", ""));
    write(
        d.path(),
        HOST_FILE,
        "http: { listen: \"127.0.0.1:9300\", api_token: \"0123456789abcdef0123\" }\n",
    );
    let f = Folder::read(d.path()).unwrap();
    assert_eq!(f.host.listen, Some("127.0.0.1:9300".parse().unwrap()));
    assert!(f.host.api_token.is_some());
    let (text, _) = f.report();
    assert!(
        text.contains("host http on 127.0.0.1:9300, control API on"),
        "{text}"
    );
    assert!(
        !text.contains("0123456789abcdef0123"),
        "the token in {text}"
    );

    write(
        d.path(),
        HOST_FILE,
        "http: { listen: nowhere, api_token: abc123 }\n",
    );
    let e = Folder::read(d.path()).unwrap_err().to_string();
    assert!(
        e.contains("http.listen") && e.contains("http.api_token"),
        "{e}"
    );
    assert!(!e.contains("abc123"), "the token in {e}");
    write(d.path(), HOST_FILE, "outputs: []\n");
    let e = Folder::read(d.path()).unwrap_err().to_string();
    assert!(e.contains("host.yaml") && e.contains("outputs"), "{e}");
}

#[test]
fn an_empty_folder_has_nothing_to_run() {
    let d = folder();
    let f = Folder::read(d.path()).unwrap();
    let (text, ok) = f.report();
    assert!(!ok);
    assert!(
        text.contains("no channel files (expected NAME.channel.yaml)"),
        "{text}"
    );
    assert!(Folder::read(&d.path().join("missing")).is_err());
}
