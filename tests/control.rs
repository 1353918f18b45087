//! The control API against the real binary, paced, with every endpoint and the bad inputs
//! the issue lists: the token gate (absent, wrong, not configured, non-loopback refused),
//! uploads (good, replaced, bad names however encoded, not media, too large sized and
//! chunked, cut off), the library listing and deletes, the playlist with ETag/If-Match,
//! validation errors with `playout check`'s places, item and event helpers, history and
//! undo, skip, play-now (file and slate), outputs with redacted URLs, and the channel playing
//! on through all of it.
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::control::*;
use common::live::Playout;
use common::timeline::clip;
use common::*;

const TOKEN: &str = "test-token-0123456789abcdef";
const AUTH: &str = "Authorization: Bearer test-token-0123456789abcdef";

fn channel(dir: &Path, port: u16, http_extra: &str, media_extra: &str) -> PathBuf {
    let playlist = write_playlist(
        dir,
        &[
            ItemSpec::clip(clip("red_4s")).title("Red"),
            ItemSpec::clip(clip("plain_4s")).title("Plain"),
        ],
    );
    write_channel(
        dir,
        "control",
        320,
        180,
        "30",
        &playlist,
        &format!(
            "outputs:\n  - name: web\n    url: hls:hls\n  - name: ingest\n    url: \
             rtmp://127.0.0.1:9/live/SECRETKEY123\n\
             http: {{ listen: \"127.0.0.1:{port}\"{http_extra} }}\nmedia: {{ dir: media{media_extra} }}\n"
        ),
    )
}

fn wait_http(p: &mut Playout, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::timeline::get_json(port, "/api/v1/now").is_none() {
        assert!(p.is_running(), "playout exited:\n{}", tail(&p.stderr(), 30));
        assert!(Instant::now() < deadline, "no HTTP after 30 s");
        thread::sleep(Duration::from_millis(100));
    }
}

fn now_title(port: u16) -> String {
    let Some((_, v)) = common::timeline::get_json(port, "/api/v1/now") else {
        return String::new();
    };
    v["current"]["title"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Files in `dir`, hidden ones too (a partial upload would be one).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn without_a_token_writes_are_off_and_other_addresses_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let ch = channel(dir.path(), port, "", "");
    let ch_s = ch.to_str().unwrap();
    // Not loopback, no token: refused before anything listens.
    let r = run_playout_timeout(
        &[
            "run",
            ch_s,
            "--http",
            &format!("0.0.0.0:{port}"),
            "--for",
            "2s",
        ],
        Duration::from_secs(30),
    );
    assert!(!r.status.success());
    assert!(
        r.stderr
            .contains("not a loopback address, without http.api_token"),
        "{}",
        r.stderr
    );

    let mut p = Playout::spawn(&["run", ch_s], &[]);
    wait_http(&mut p, port);
    for (m, path) in [
        ("PUT", "/api/v1/playlist"),
        ("POST", "/api/v1/skip"),
        ("GET", "/api/v1/media"),
        ("PUT", "/api/v1/media/x.mp4"),
    ] {
        let r = call(port, m, path, &[AUTH], b"{}");
        assert_eq!(r.status, 403, "{m} {path}: {}", r.text());
        assert!(r.text().contains("http.api_token"), "{}", r.text());
    }
    assert!(!dir.path().join("media/x.mp4").exists());
    // The read-only side stays open.
    for path in [
        "/api/v1/now",
        "/api/v1/schedule",
        "/epg.xml",
        "/metrics",
        "/",
        "/api/v1/openapi.json",
    ] {
        assert_eq!(call(port, "GET", path, &[], b"").status, 200, "{path}");
    }
}

#[test]
fn every_control_endpoint_and_its_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let ch = channel(
        dir.path(),
        port,
        ", api_token: \"${PLAYOUT_TEST_TOKEN}\"",
        ", max_upload: 1M",
    );
    let media = dir.path().join("media");
    let mut p = Playout::spawn(
        &["run", ch.to_str().unwrap()],
        &[("PLAYOUT_TEST_TOKEN", TOKEN)],
    );
    wait_http(&mut p, port);
    let api = |m: &str, path: &str, headers: &[&str], body: &[u8]| {
        let mut h = vec![AUTH];
        h.extend_from_slice(headers);
        call(port, m, path, &h, body)
    };

    // --- The gate ---------------------------------------------------------------------------
    let r = call(port, "GET", "/api/v1/playlist", &[], b"");
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    let r = call(
        port,
        "POST",
        "/api/v1/skip",
        &["Authorization: Bearer not-the-token-at-all"],
        b"",
    );
    assert_eq!(r.status, 401);
    assert!(r.text().contains("wrong token"));
    let r = call(
        port,
        "POST",
        "/api/v1/skip",
        &["Authorization: Basic dXNlcjpwYXNz"],
        b"",
    );
    assert_eq!(r.status, 401);
    thread::sleep(Duration::from_millis(200));
    let log = p.stderr();
    assert!(log.contains("Control request refused"), "{log}");
    assert!(
        !log.contains("not-the-token-at-all") && !log.contains(TOKEN),
        "a token was logged"
    );
    let spec: Value = call(port, "GET", "/api/v1/openapi.json", &[], b"").json();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    assert!(spec["paths"]["/api/v1/media/{name}"]["put"].is_object());

    // --- Uploads -----------------------------------------------------------------------------
    let clip_bytes = fs::read(clip("plain_4s")).unwrap();
    assert!(
        clip_bytes.len() < 1 << 20,
        "the fixture must fit max_upload"
    );
    let r = api("PUT", "/api/v1/media/Upload%20Clip.mp4", &[], &clip_bytes);
    assert_eq!(r.status, 201, "{}", r.text());
    let j = r.json();
    assert_eq!(j["name"], "Upload Clip.mp4");
    assert_eq!(j["probe"]["playable"], true, "{j}");
    assert!((j["probe"]["duration_seconds"].as_f64().unwrap() - 4.0).abs() < 0.1);
    assert_eq!(
        api("PUT", "/api/v1/media/Upload%20Clip.mp4", &[], &clip_bytes).status,
        200
    );
    println!(
        "upload of {} bytes: 201, then 200 when replaced",
        clip_bytes.len()
    );

    for bad in [
        "a%2Fb.mp4",
        "a%5Cb.mp4",
        "..",
        "%2E%2E",
        "%2e%2e%2fx.mp4",
        ".hidden.mp4",
        "%2Ehidden.mp4",
        "a%00b.mp4",
        "a..b.mp4",
    ] {
        let r = api("PUT", &format!("/api/v1/media/{bad}"), &[], b"data");
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("expected a plain file name"));
    }
    // A path with a real slash is another route, not a file.
    assert_eq!(
        api("PUT", "/api/v1/media/sub/x.mp4", &[], b"data").status,
        404
    );

    let r = api(
        "PUT",
        "/api/v1/media/notes.mp4",
        &[],
        b"this is not a video\n",
    );
    assert_eq!(r.status, 422, "{}", r.text());
    let j = r.json();
    assert_eq!(j["probe"]["playable"], false);
    assert!(j["error"]
        .as_str()
        .unwrap()
        .contains("is not media the channel can play"));
    println!("not media: 422, {}", j["error"]);

    let big = vec![0u8; (1 << 20) + 1];
    let r = api("PUT", "/api/v1/media/big.mp4", &[], &big);
    assert_eq!(r.status, 413, "{}", r.text());
    let r = call_chunked(port, "PUT", "/api/v1/media/big.mp4", &[AUTH], &big);
    assert_eq!(r.status, 413, "{}", r.text());
    println!("too large: 413 ({})", r.json()["error"]);
    cut_off_upload(
        port,
        "/api/v1/media/cut.mp4",
        AUTH,
        500_000,
        &clip_bytes[..1000],
    );
    thread::sleep(Duration::from_millis(500));
    assert_eq!(
        names(&media),
        ["Upload Clip.mp4"],
        "something partial was left"
    );

    let lib = api("GET", "/api/v1/media", &[], b"").json();
    assert_eq!(lib["files"].as_array().unwrap().len(), 1, "{lib}");
    assert_eq!(lib["files"][0]["in_playlist"], false);
    assert_eq!(lib["max_upload_bytes"], 1 << 20);

    // --- The playlist --------------------------------------------------------------------------
    let r = api("GET", "/api/v1/playlist", &[], b"");
    assert_eq!(r.status, 200);
    let tag = r.header("etag").unwrap().to_string();
    let mut pl = r.json();
    assert_eq!(pl["items"].as_array().unwrap().len(), 2);
    assert_eq!(pl["items"][0]["title"], "Red");
    let playlist_file = dir.path().join("playlist.yaml");
    let on_disk = fs::read_to_string(&playlist_file).unwrap();

    let body = serde_json::to_vec(&pl).unwrap();
    assert_eq!(api("PUT", "/api/v1/playlist", &[], &body).status, 428);
    let r = api(
        "PUT",
        "/api/v1/playlist",
        &["If-Match: \"0000000000000000\""],
        &body,
    );
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(r.header("etag"), Some(tag.as_str()));
    assert_eq!(
        api(
            "PUT",
            "/api/v1/playlist",
            &[&format!("If-Match: {tag}")],
            b"{not json"
        )
        .status,
        400
    );
    let huge = vec![b' '; (1 << 20) + 10];
    assert_eq!(
        api(
            "PUT",
            "/api/v1/playlist",
            &[&format!("If-Match: {tag}")],
            &huge
        )
        .status,
        413
    );
    // Invalid: 422 with the place and message `playout check` gives; nothing changes.
    pl["items"][0]["in"] = json!("3s");
    pl["items"][0]["out"] = json!("1s");
    let r = api(
        "PUT",
        "/api/v1/playlist",
        &[&format!("If-Match: {tag}")],
        &serde_json::to_vec(&pl).unwrap(),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    let j = r.json();
    assert_eq!(j["errors"][0]["place"], "items[0].out");
    assert_eq!(
        j["errors"][0]["message"],
        "1s is not after in 3s (expected out > in)"
    );
    println!("invalid playlist: 422, {}", j["error"]);
    assert_eq!(fs::read_to_string(&playlist_file).unwrap(), on_disk);

    // A good edit: retitle the second item.
    pl["items"][0].as_object_mut().unwrap().remove("in");
    pl["items"][0].as_object_mut().unwrap().remove("out");
    pl["items"][1]["title"] = json!("Plain (edited)");
    let r = api(
        "PUT",
        "/api/v1/playlist",
        &[&format!("If-Match: {tag}")],
        &serde_json::to_vec(&pl).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let tag2 = r.header("etag").unwrap().to_string();
    assert_ne!(tag2, tag);
    assert!(fs::read_to_string(&playlist_file)
        .unwrap()
        .contains("Plain (edited)"));
    let r = api(
        "PUT",
        "/api/v1/playlist",
        &[&format!("If-Match: {tag}")],
        &serde_json::to_vec(&pl).unwrap(),
    );
    assert_eq!(r.status, 412, "a second operator with the old ETag");

    // Item helpers.
    let item = json!({"item": {"path": media.join("Upload Clip.mp4"), "title": "Uploaded"}, "position": 1});
    let r = api(
        "POST",
        "/api/v1/playlist/items",
        &[],
        &serde_json::to_vec(&item).unwrap(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let titles = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["title"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(titles(&r.json()), ["Red", "Uploaded", "Plain (edited)"]);
    let r = api(
        "POST",
        "/api/v1/playlist/items/2/move",
        &[],
        br#"{"to": 0}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(titles(&r.json()), ["Plain (edited)", "Red", "Uploaded"]);
    assert_eq!(
        api(
            "POST",
            "/api/v1/playlist/items/9/move",
            &[],
            br#"{"to": 0}"#
        )
        .status,
        404
    );
    assert_eq!(
        api("DELETE", "/api/v1/playlist/items/x", &[], b"").status,
        400
    );
    let r = api(
        "POST",
        "/api/v1/playlist/items",
        &[],
        br#"{"item": {"slate": "2s", "title": "Break"}}"#,
    );
    assert_eq!(r.status, 201);
    let r = api("DELETE", "/api/v1/playlist/items/3", &[], b"");
    assert_eq!(titles(&r.json()), ["Plain (edited)", "Red", "Uploaded"]);
    let r = api(
        "POST",
        "/api/v1/playlist/items",
        &[],
        br#"{"item": {"slate": "0s"}}"#,
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["errors"][0]["place"], "items[3].slate");

    // The library now knows the file is used; deleting it needs force.
    let lib = api("GET", "/api/v1/media", &[], b"").json();
    assert_eq!(lib["files"][0]["in_playlist"], true, "{lib}");
    let r = api("DELETE", "/api/v1/media/Upload%20Clip.mp4", &[], b"");
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["in_playlist"], true);
    assert!(media.join("Upload Clip.mp4").exists());
    assert_eq!(
        api("DELETE", "/api/v1/media/none.mp4", &[], b"").status,
        404
    );

    // History and undo.
    let h = api("GET", "/api/v1/playlist/history", &[], b"").json();
    assert!(h["versions"].as_array().unwrap().len() >= 5, "{h}");
    let r = api("POST", "/api/v1/playlist/undo", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(
        titles(&r.json()),
        ["Plain (edited)", "Red", "Uploaded", "Break"]
    );
    let r = api("POST", "/api/v1/playlist/undo", &[], b"");
    assert_eq!(titles(&r.json()), ["Plain (edited)", "Red", "Uploaded"]);

    // Events.
    let r = api(
        "POST",
        "/api/v1/events",
        &[],
        br#"{"at": "03:00", "slate": "10s", "title": "Night break"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let ev = api("GET", "/api/v1/events", &[], b"").json();
    assert_eq!(ev["events"][0]["title"], "Night break");
    let r = api(
        "POST",
        "/api/v1/events",
        &[],
        br#"{"at": "25:00", "slate": "10s"}"#,
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["errors"][0]["place"], "events[1].at");
    let r = api("DELETE", "/api/v1/events/0", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["events"], json!([]));
    assert_eq!(api("DELETE", "/api/v1/events/0", &[], b"").status, 404);

    // --- On air ------------------------------------------------------------------------------
    // The reloads of the edits above have been taken in; skip what plays now.
    thread::sleep(Duration::from_secs(1));
    let before = now_title(port);
    let asked = Instant::now();
    let r = api("POST", "/api/v1/skip", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let s = r.json();
    println!("skip: {s}");
    let next = s["next"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = None;
    while Instant::now() < deadline {
        if now_title(port) == next && before != next {
            seen = Some(asked.elapsed());
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let seen = seen.unwrap_or_else(|| {
        panic!(
            "{next} never came on air after skipping {before}:\n{}",
            tail(&p.stderr(), 30)
        )
    });
    println!(
        "skip: {before:?} cut, {next:?} on air (per /api/v1/now) {:.2} s after the request; the answer said {:.2} s",
        seen.as_secs_f64(),
        s["on_air_in_seconds"].as_f64().unwrap()
    );

    let r = api(
        "POST",
        "/api/v1/play-now",
        &[],
        br#"{"path": "Upload Clip.mp4", "title": "Breaking"}"#,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let at = r.json()["on_air_in_seconds"].as_f64().unwrap();
    let asked = Instant::now();
    let deadline = asked + Duration::from_secs_f64(at + 8.0);
    while now_title(port) != "Breaking" {
        assert!(Instant::now() < deadline, "the play-now never came on air");
        thread::sleep(Duration::from_millis(20));
    }
    println!(
        "play-now: on air {:.2} s after the request (announced {at:.2} s)",
        asked.elapsed().as_secs_f64()
    );
    assert_eq!(
        api("POST", "/api/v1/play-now", &[], br#"{"path": "none.mp4"}"#).status,
        404
    );
    assert_eq!(
        api("POST", "/api/v1/play-now", &[], br#"{"path": "../x"}"#).status,
        400
    );
    assert_eq!(api("POST", "/api/v1/play-now", &[], br#"{}"#).status, 400);
    let r = api(
        "POST",
        "/api/v1/play-now",
        &[],
        br#"{"slate": "3s", "title": "Stand by"}"#,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let deadline = Instant::now() + Duration::from_secs(12);
    while now_title(port) != "Stand by" {
        assert!(
            Instant::now() < deadline,
            "the slate play-now never came on air"
        );
        thread::sleep(Duration::from_millis(20));
    }

    // Outputs: state and redacted URLs, never the key.
    let r = api("GET", "/api/v1/outputs", &[], b"");
    let o = r.json();
    assert!(!r.text().contains("SECRETKEY123"), "{}", r.text());
    assert_eq!(o["outputs"][0]["name"], "web");
    assert_eq!(o["outputs"][0]["kind"], "hls");
    assert_eq!(o["outputs"][0]["state"], "up");
    assert_eq!(o["outputs"][1]["url"], "rtmp://127.0.0.1:9/live/****");
    assert_eq!(o["outputs"][1]["state"], "down");

    // Unknown routes and methods.
    assert_eq!(api("GET", "/api/v1/playlist/nope", &[], b"").status, 404);
    assert_eq!(api("DELETE", "/api/v1/playlist", &[], b"").status, 405);

    // Forced delete; the channel plays on through all of it.
    let r = api(
        "DELETE",
        "/api/v1/media/Upload%20Clip.mp4?force=true",
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!media.join("Upload Clip.mp4").exists());
    assert!(p.is_running());
    let (status, _) = common::timeline::get_json(port, "/healthz").unwrap();
    assert_eq!(status, 200);
    assert!(!p.stderr().contains(TOKEN));
}
