//! The built-in HLS output, end to end: a paced run writes one-GOP MPEG-TS segments and a
//! live playlist that the HTTP server serves; ffprobe and a frame-by-frame decode check them.
//!
//! - every segment starts on a keyframe and lasts 2.000 s ± 1 frame, as EXTINF says;
//! - video and audio timestamps run on from one segment to the next, with no audio hole;
//! - MEDIA-SEQUENCE keeps counting across a `kill -9` and restart, with one
//!   EXT-X-DISCONTINUITY exactly there;
//! - each programme start of `playout schedule` is within one frame of the program-date-time
//!   of the frame where the picture changes (and, in the first run, of a segment's start);
//! - `/hls/` serves playlists and segments with the right types, caching, CORS, HEAD and
//!   Range, and 404s for anything else, however encoded;
//! - an unwritable folder shows the output as down, is logged once, is retried, and the
//!   channel and its other output play on.
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use common::hls::*;
use common::timeline::*;
use common::*;

const FPS: f64 = 30.0;
const FRAME: f64 = 1.0 / FPS;
/// PDT is written in whole milliseconds.
const MS: f64 = 0.0015;

fn channel(dir: &Path, port: u16, outputs: &str) -> PathBuf {
    let playlist = write_playlist(
        dir,
        &[
            ItemSpec::clip(clip("red_4s")).title("Red"),
            ItemSpec::clip(clip("plain_4s")).title("Plain"),
        ],
    );
    write_channel(
        dir,
        "hls",
        320,
        180,
        "30",
        &playlist,
        &format!("outputs:\n{outputs}http: {{ listen: \"127.0.0.1:{port}\" }}\n"),
    )
}

/// Polls the playlist until `until` says stop (or `timeout`), gathering every segment it
/// ever listed by sequence number.
fn gather(
    folder: &Path,
    seen: &mut BTreeMap<u64, Listed>,
    timeout: Duration,
    mut until: impl FnMut(&BTreeMap<u64, Listed>) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(text) = fs::read_to_string(folder.join("index.m3u8")) {
            for s in parse_playlist(&text).segments {
                seen.insert(s.seq, s);
            }
        }
        if until(seen) {
            return true;
        }
        thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A segment with what ffprobe and a decode say of it.
struct Seg {
    listed: Listed,
    info: SegmentInfo,
    /// Wall-clock time (by its PDT) and redness of each frame.
    frames: Vec<(DateTime<Utc>, bool)>,
}

fn examine(folder: &Path, listed: &[Listed]) -> Vec<Seg> {
    listed
        .iter()
        .map(|l| {
            let path = folder.join(&l.uri);
            let info = segment_info(&path, FPS);
            let frames = grid_frames(&path)
                .iter()
                .map(|f| (at_secs(l.pdt, f.pts - info.video_start), is_red(f)))
                .collect();
            Seg {
                listed: l.clone(),
                info,
                frames,
            }
        })
        .collect()
}

/// Segment shape and continuity within one run; returns the segment durations.
fn check_run(run: &str, segs: &[Seg], last_may_be_short: bool) -> Vec<f64> {
    let mut durations = Vec::new();
    let mut audio: Vec<(f64, f64)> = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        let name = format!("{run} {}", s.listed.uri);
        let d = s.info.video_end - s.info.video_start;
        durations.push(d);
        assert!(s.info.first_is_key, "{name} does not start on a keyframe");
        assert!(
            (d - s.listed.duration).abs() < MS,
            "{name}: holds {d:.4} s of video, EXTINF says {}",
            s.listed.duration
        );
        let last = i + 1 == segs.len();
        if !(last && last_may_be_short) {
            assert!(
                (d - 2.0).abs() <= FRAME + 1e-6,
                "{name} lasts {d:.4} s (expected 2.000 s ± 1 frame)"
            );
        }
        if let Some(prev) = i.checked_sub(1).map(|j| &segs[j]) {
            assert!(
                (s.info.video_start - prev.info.video_end).abs() < 1e-4,
                "{name}: video starts at {:.4}, the previous segment ended at {:.4}",
                s.info.video_start,
                prev.info.video_end
            );
            let pdt_step = secs(prev.listed.pdt, s.listed.pdt);
            assert!(
                (pdt_step - prev.listed.duration).abs() < MS,
                "{name}: program-date-time moved {pdt_step:.4} s after a {:.3} s segment",
                prev.listed.duration
            );
        }
        audio.extend(s.info.audio.iter().copied());
    }
    for w in audio.windows(2) {
        let gap = w[1].0 - (w[0].0 + w[0].1);
        assert!(
            gap.abs() < 1e-4,
            "{run}: audio packet at {:.4} follows one ending at {:.4} (a {:.1} ms hole)",
            w[1].0,
            w[0].0 + w[0].1,
            gap * 1000.0
        );
    }
    durations
}

/// Every change of picture (red ↔ not) is within one frame of a programme start, and every
/// programme start the run covers has one. Returns the largest error in ms.
fn check_against_schedule(run: &str, segs: &[Seg], starts: &[(DateTime<Utc>, String)]) -> f64 {
    let frames: Vec<(DateTime<Utc>, bool)> = segs.iter().flat_map(|s| s.frames.clone()).collect();
    let changes: Vec<DateTime<Utc>> = frames
        .windows(2)
        .filter(|w| w[0].1 != w[1].1)
        .map(|w| w[1].0)
        .collect();
    let (first, last) = (frames[0].0, frames[frames.len() - 1].0);
    let mut worst: f64 = 0.0;
    for c in &changes {
        let (err, title) = starts
            .iter()
            .map(|(s, t)| (secs(*s, *c).abs(), t))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .expect("programmes");
        assert!(
            err <= FRAME + MS,
            "{run}: the picture changes at {} ({:.1} ms from the nearest programme start, \
             {title})",
            rfc3339(*c),
            err * 1000.0
        );
        worst = worst.max(err);
    }
    let covered: Vec<_> = starts
        .iter()
        .filter(|(s, _)| secs(first, *s) > FRAME && secs(*s, last) > FRAME)
        .collect();
    assert!(
        !covered.is_empty(),
        "{run}: no programme start inside the run"
    );
    for (s, title) in covered {
        assert!(
            changes.iter().any(|c| secs(*s, *c).abs() <= FRAME + MS),
            "{run}: {title} starts at {} but the picture does not change there",
            rfc3339(*s)
        );
    }
    worst * 1000.0
}

#[test]
fn segments_playlist_restart_and_program_date_time() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let ch = channel(dir.path(), port, "  - name: web\n    url: hls:hls\n");
    let folder = dir.path().join("hls");
    let ch_s = ch.to_str().unwrap();

    // Run 1, paced, until the playlist has slid past its first segments.
    let mut run1: BTreeMap<u64, Listed> = BTreeMap::new();
    let p = Playout::spawn(&["run", ch_s], &[]);
    let ok = gather(&folder, &mut run1, Duration::from_secs(40), |m| {
        m.len() >= 7
    });
    assert!(
        ok,
        "run 1 listed {} segments; stderr:\n{}",
        run1.len(),
        p.stderr()
    );
    serve_checks(port, dir.path(), &folder, &run1);
    drop(p); // SIGKILL: no chance to tidy up.
    let before_kill = parse_playlist(&fs::read_to_string(folder.join("index.m3u8")).unwrap());

    // Run 2 continues the same folder, then stops cleanly.
    let mut run2: BTreeMap<u64, Listed> = BTreeMap::new();
    let mut p = Playout::spawn(&["run", ch_s, "--for", "8s"], &[]);
    let last1 = *run1.keys().last().unwrap();
    gather(&folder, &mut run2, Duration::from_secs(40), |_| {
        !p.is_running()
    });
    let r = p.wait(Duration::from_secs(60));
    assert!(
        r.status.success(),
        "run 2 exited with {}:\n{}",
        r.status,
        tail(&r.stderr, 40)
    );
    gather(&folder, &mut run2, Duration::ZERO, |_| true);
    run2.retain(|seq, _| *seq > last1);
    let run1: Vec<Listed> = run1.into_values().collect();
    let run2: Vec<Listed> = run2.into_values().collect();
    let final_list = parse_playlist(&fs::read_to_string(folder.join("index.m3u8")).unwrap());
    println!(
        "run 1: segments {}..={}, MEDIA-SEQUENCE {} at the kill; run 2: segments {}..={}, \
         MEDIA-SEQUENCE {} at the end",
        run1[0].seq,
        last1,
        before_kill.media_sequence,
        run2[0].seq,
        run2.last().unwrap().seq,
        final_list.media_sequence
    );
    assert_eq!(
        run2[0].seq,
        last1 + 1,
        "run 2 does not number on from run 1"
    );
    assert!(run2[0].discontinuity, "no discontinuity at the restart");
    assert!(
        final_list.media_sequence > before_kill.media_sequence,
        "MEDIA-SEQUENCE went from {} to {}",
        before_kill.media_sequence,
        final_list.media_sequence
    );
    let discontinuities: Vec<u64> = run1
        .iter()
        .chain(&run2)
        .filter(|s| s.discontinuity)
        .map(|s| s.seq)
        .collect();
    assert_eq!(discontinuities, vec![run2[0].seq], "discontinuities");
    assert_eq!(final_list.target, 2);

    let segs1 = examine(&folder, &run1);
    let segs2 = examine(&folder, &run2);
    let d1 = check_run("run 1", &segs1, false);
    let d2 = check_run("run 2", &segs2, true);
    println!(
        "segment durations (s): run 1 {:?}; run 2 {:?}",
        d1.iter().map(|d| format!("{d:.3}")).collect::<Vec<_>>(),
        d2.iter().map(|d| format!("{d:.3}")).collect::<Vec<_>>()
    );

    // The guide for the whole span, from the same scheduler (and state file) the runs used.
    let from = at_secs(run1[0].pdt, -10.0);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_playout"))
        .args(["schedule", ch_s, "--from", &rfc3339(from), "--for", "2m"])
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let guide: Value = serde_json::from_slice(&out.stdout).unwrap();
    let starts: Vec<(DateTime<Utc>, String)> = guide
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                parse_time(p["start"].as_str().unwrap()).unwrap(),
                p["title"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Run 1 started the timeline, so items begin on segment boundaries.
    let mut aligned = 0;
    for (s, title) in &starts {
        let inside = segs1.iter().find(|g| {
            let off = secs(g.listed.pdt, *s);
            off > -FRAME && off < g.listed.duration - FRAME
        });
        if let Some(g) = inside {
            let off = secs(g.listed.pdt, *s);
            assert!(
                off.abs() <= FRAME + MS,
                "{title} starts {:.1} ms into {} (expected its first segment's PDT within a frame)",
                off * 1000.0,
                g.listed.uri
            );
            aligned += 1;
        }
    }
    assert!(
        aligned >= 2,
        "only {aligned} programme starts fell in run 1"
    );
    let e1 = check_against_schedule("run 1", &segs1, &starts);
    let e2 = check_against_schedule("run 2", &segs2, &starts);
    println!(
        "{aligned} item starts in run 1 fall on a segment PDT; picture changes vs the guide: \
         worst {e1:.1} ms (run 1), {e2:.1} ms (run 2)"
    );
}

/// `/hls/` while run 1 plays.
fn serve_checks(port: u16, dir: &Path, folder: &Path, seen: &BTreeMap<u64, Listed>) {
    let get = |path: &str, headers: &[&str]| {
        request(port, "GET", path, headers).unwrap_or_else(|| panic!("GET {path}: no answer"))
    };
    for path in ["/hls/index.m3u8", "/hls/web/index.m3u8"] {
        let r = get(path, &[]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.apple.mpegurl")
        );
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
        let p = parse_playlist(&r.text());
        assert!(!p.segments.is_empty(), "{path}");
    }
    let seg = seen.values().last().unwrap();
    let file = fs::read(folder.join(&seg.uri)).unwrap();
    let len = file.len();
    for path in [format!("/hls/web/{}", seg.uri), format!("/hls/{}", seg.uri)] {
        let r = get(&path, &[]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("video/mp2t"), "{path}");
        assert!(
            r.header("cache-control").unwrap().contains("max-age"),
            "{path}"
        );
        assert_eq!(r.header("accept-ranges"), Some("bytes"), "{path}");
        assert_eq!(r.body, file, "{path}");
    }
    let path = format!("/hls/web/{}", seg.uri);
    let r = get(&path, &["Range: bytes=188-375"]);
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(&*format!("bytes 188-375/{len}"))
    );
    assert_eq!(r.body, file[188..376]);
    assert_eq!(
        r.body[0], 0x47,
        "an MPEG-TS packet starts with the sync byte"
    );
    let r = get(&path, &[&format!("Range: bytes={len}-")]);
    assert_eq!(r.status, 416);
    let r = request(port, "HEAD", &path, &[]).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some(&*len.to_string()));
    assert!(r.body.is_empty());
    let r = request(
        port,
        "OPTIONS",
        "/hls/index.m3u8",
        &["Origin: http://example.test"],
    )
    .unwrap();
    assert_eq!(r.status, 204);
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("GET"));
    assert_eq!(
        request(port, "POST", "/hls/index.m3u8", &[])
            .unwrap()
            .status,
        405
    );

    // Nothing but playlists and segments, and nothing outside the folder.
    fs::write(folder.join("seg-1.ts.tmp"), b"half a segment").unwrap();
    fs::write(folder.join("notes.txt"), b"private").unwrap();
    assert!(dir.join("hls.yaml").exists());
    for path in [
        "/hls/web/seg-999999.ts",
        "/hls/web/seg-1.ts.tmp",
        "/hls/web/index.m3u8.tmp",
        "/hls/web/notes.txt",
        "/hls/web/",
        "/hls/web/../hls.yaml",
        "/hls/../hls.yaml",
        "/hls/web/%2e%2e/hls.yaml",
        "/hls/web/..%2fhls.yaml",
        "/hls/web/%2E%2E%2Fhls.yaml",
        "/hls/%2e%2e/hls.yaml",
        "/hls/web/seg-1%2ets",
        "/hls/nope/index.m3u8",
        "/hls/web/index.m3u8/",
    ] {
        let r = get(path, &[]);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
    }
    fs::remove_file(folder.join("seg-1.ts.tmp")).unwrap();

    // The page, and what plays at a segment's program-date-time.
    let r = get("/", &[]);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let at = rfc3339(at_secs(seg.pdt, 0.5));
    let (status, now) = get_json(port, &format!("/api/v1/now?at={at}")).unwrap();
    assert_eq!(status, 200, "{now}");
    assert!(now["server_time_ms"].as_i64().is_some(), "{now}");
    let title = now["current"]["title"].as_str().unwrap();
    assert!(title == "Red" || title == "Plain", "{now}");
    let (status, _) = get_json(port, "/api/v1/now?at=yesterday").unwrap();
    assert_eq!(status, 400);
}

#[test]
fn an_unwritable_folder_is_down_then_retried_while_the_channel_plays_on() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let flv = dir.path().join("rec.flv");
    // A file where the folder should be: nothing can be written under it, even as root.
    let folder = dir.path().join("blocked");
    fs::write(&folder, b"not a folder").unwrap();
    let ch = channel(
        dir.path(),
        port,
        &format!(
            "  - name: web\n    url: hls:blocked\n  - name: rec\n    url: {}\n",
            q(&format!("file:{}", flv.display()))
        ),
    );
    let p = Playout::spawn(&["run", ch.to_str().unwrap()], &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    // Three segments' worth of failures.
    while p
        .lines()
        .iter()
        .filter(|(_, l)| l.contains("cannot write"))
        .count()
        < 1
        || p.started.elapsed() < Duration::from_secs(8)
    {
        assert!(
            Instant::now() < deadline,
            "no write failure reported: {}",
            p.stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
    let warned = p.stderr().matches("HLS output cannot write").count();
    assert_eq!(
        warned,
        1,
        "the failure is logged once, not per segment:\n{}",
        p.stderr()
    );
    let (status, health) = get_json(port, "/healthz").unwrap();
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["outputs"]["web"], "down", "{health}");
    assert_eq!(health["outputs"]["rec"], "up", "{health}");
    let (_, metrics) = http_get(port, "/metrics").unwrap();
    assert_eq!(
        sample(&metrics, "playout_output_connected{output=\"web\"}"),
        Some(0.0)
    );
    assert!(
        sample(
            &metrics,
            "playout_output_dropped_packets_total{output=\"web\"}"
        )
        .unwrap()
            > 0.0,
        "dropped segments are counted"
    );
    let size_before = fs::metadata(&flv).unwrap().len();

    // Fixed: the next segment is written, the output is up, and the channel never stopped.
    let fixed = Instant::now();
    fs::remove_file(&folder).unwrap();
    fs::create_dir(&folder).unwrap();
    let mut seen = BTreeMap::new();
    let ok = gather(&folder, &mut seen, Duration::from_secs(10), |m| {
        !m.is_empty()
    });
    assert!(ok, "no segment after the folder was fixed:\n{}", p.stderr());
    println!(
        "first segment {:.1} s after the fix",
        fixed.elapsed().as_secs_f64()
    );
    // The segment can be on disk a moment before the log line is (the tailer reads stderr
    // every 20 ms): give the line two seconds.
    let logged = (0..100).any(|_| {
        let seen = p.line_after(fixed, &["HLS output writing again"]).is_some();
        if !seen {
            std::thread::sleep(Duration::from_millis(20));
        }
        seen
    });
    assert!(logged, "{}", p.stderr());
    thread::sleep(Duration::from_millis(700));
    let (_, health) = get_json(port, "/healthz").unwrap();
    assert_eq!(health["outputs"]["web"], "up", "{health}");
    assert!(
        fs::metadata(&flv).unwrap().len() > size_before,
        "the FLV output stopped"
    );
    let (_, metrics) = http_get(port, "/metrics").unwrap();
    assert_eq!(
        sample(&metrics, "playout_output_connected{output=\"web\"}"),
        Some(1.0)
    );
}
