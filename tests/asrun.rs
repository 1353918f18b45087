//! The as-run record, end to end (issue 26): a paced channel of Alpha (5 s of counted frames)
//! and Red (4 s), recorded by nginx-rtmp, skipped once through the API and stopped by
//! `--for`. Its `NAME.asrun/DAY.csv` must tile the air (each entry's end is the next one's
//! start), say how each ended (played, skipped, stopped), and its boundaries must fall on the
//! recording's own cuts between red and counted frames, to a frame. `/api/v1/asrun` answers
//! the same entries, as JSON and as CSV. A second run is killed with SIGKILL mid-item: its
//! file holds only whole lines that still tile, and loses at most the entry in progress.
mod common;

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::control::call;
use common::edits::signal;
use common::timeline::*;
use common::*;

const TOKEN: &str = "asrun-token-0123456789abcdef";
const AUTH: &str = "Authorization: Bearer asrun-token-0123456789abcdef";
/// One frame at 30 fps, seconds.
const FRAME: f64 = 1.0 / 30.0;
/// The as-run's times are µs; the recording's FLV times whole ms.
const SLACK: f64 = 0.0015;

/// One CSV line of the record (titles and paths here have no commas or quotes).
#[derive(Debug, Clone, PartialEq)]
struct Row {
    start: f64,
    end: f64,
    kind: String,
    title: String,
    planned: f64,
    reason: String,
    line: String,
}

fn unix(s: &str) -> f64 {
    let t = parse_time(s).unwrap_or_else(|| panic!("{s:?} is not RFC 3339"));
    t.timestamp() as f64 + f64::from(t.timestamp_subsec_micros()) / 1e6
}

fn rows(text: &str) -> Vec<Row> {
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("start,end,duration,kind,title,path,planned_start,reason"),
        "the CSV's header"
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 8, "a whole line of 8 fields: {l:?}");
            let (start, end) = (unix(f[0]), unix(f[1]));
            let duration: f64 = f[2].parse().unwrap();
            assert!((end - start - duration).abs() < 1e-5, "{l}");
            Row {
                start,
                end,
                kind: f[3].into(),
                title: f[4].into(),
                planned: unix(f[6]),
                reason: f[7].into(),
                line: l.to_string(),
            }
        })
        .collect()
}

/// Every day file of the channel's record, in order.
fn record(dir: &Path, name: &str) -> Vec<Row> {
    let folder = dir.join(format!("{name}.asrun"));
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|f| f.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| rows(&std::fs::read_to_string(f).unwrap()))
        .collect()
}

fn tiles(rows: &[Row]) -> Vec<String> {
    rows.windows(2)
        .filter(|w| (w[0].end - w[1].start).abs() > 1e-6)
        .map(|w| {
            format!(
                "a gap or overlap between {:?} and {:?}",
                w[0].line, w[1].line
            )
        })
        .collect()
}

/// When the first item, Alpha, came on air.
fn first_on_air(p: &Playout) -> Instant {
    p.wait_line_after(
        p.started,
        &["On air.", "item=Alpha"],
        Duration::from_secs(30),
    )
    .map(|(t, _)| t)
    .expect("Alpha never came on air")
}

fn channel(dir: &Path, port: u16, name: &str) -> std::path::PathBuf {
    let playlist = write_playlist(
        dir,
        &[
            ItemSpec::clip(clip("counted_24s")).title("Alpha").out("5s"),
            ItemSpec::clip(clip("red_4s")).title("Red"),
        ],
    );
    write_channel(
        dir,
        name,
        320,
        180,
        "30",
        &playlist,
        &format!(
            "http: {{ listen: \"127.0.0.1:{port}\", api_token: \"${{PLAYOUT_TEST_TOKEN}}\" }}\n"
        ),
    )
}

#[test]
fn the_record_tiles_the_air_and_its_cuts_are_the_recordings_to_a_frame() {
    let nginx = Nginx::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let ch = channel(dir.path(), port, "asrun");
    let url = nginx.url("asrun");
    let p = Playout::spawn(
        &[
            "run",
            ch.to_str().unwrap(),
            "--output",
            &url,
            "--for",
            "20s",
        ],
        &[("PLAYOUT_TEST_TOKEN", TOKEN)],
    );
    let mut failures = Vec::new();
    // Just into the third item (Alpha again, 9-14 s), skip it. The source runs ahead of the
    // air by a couple of seconds and cuts where it is, so the cut airs within the item.
    let first = first_on_air(&p);
    thread::sleep((first + Duration::from_millis(9200)).saturating_duration_since(Instant::now()));
    let r = call(port, "POST", "/api/v1/skip", &[AUTH], b"");
    println!("skip: {} {}", r.status, r.text());
    assert_eq!(r.status, 200, "{}", r.text());
    // Before the end: the API's record so far, as JSON and as CSV.
    thread::sleep(
        (first + Duration::from_millis(18_500)).saturating_duration_since(Instant::now()),
    );
    let json = call(port, "GET", "/api/v1/asrun", &[], b"");
    let csv = call(port, "GET", "/api/v1/asrun?format=csv", &[], b"");
    let bad = call(port, "GET", "/api/v1/asrun?from=yesterday", &[], b"");
    let run = p.wait(Duration::from_secs(60));
    println!("stderr:\n{}", tail(&run.stderr, 25));
    assert!(run.status.success(), "playout failed");
    let on_air = run.stderr.matches("On air.").count();

    let rows = record(dir.path(), "asrun");
    for r in &rows {
        println!("{}", r.line);
    }
    failures.extend(tiles(&rows));
    let t0 = rows.first().map_or(0.0, |r| r.start);
    let titles: Vec<&str> = rows.iter().map(|r| r.title.as_str()).collect();
    let reasons: Vec<&str> = rows.iter().map(|r| r.reason.as_str()).collect();
    // Alpha 0-5, Red 5-9, Alpha from 9 (skipped), then Red, Alpha… on from the skip, to 20 s.
    if titles.len() < 5
        || titles
            .iter()
            .enumerate()
            .any(|(i, t)| *t != ["Alpha", "Red"][i % 2])
        || rows.iter().any(|r| r.kind != "item")
    {
        failures.push(format!(
            "titles {titles:?} (expected Alpha and Red in turn, items)"
        ));
    }
    let want: Vec<&str> = (0..rows.len())
        .map(|i| match i {
            2 => "skipped",
            _ if i + 1 == rows.len() => "stopped",
            _ => "played",
        })
        .collect();
    if reasons != want {
        failures.push(format!("reasons {reasons:?}, expected {want:?}"));
    }
    if let Some(skipped) = rows.get(2) {
        let d = skipped.end - skipped.start;
        if !(0.2..4.9).contains(&d) {
            failures.push(format!("the skipped Alpha lasted {d:.3} s"));
        }
    }
    let span = rows.last().map_or(0.0, |r| r.end) - t0;
    if (span - 20.0).abs() > FRAME + SLACK {
        failures.push(format!("the record spans {span:.3} s of a 20 s run"));
    }
    for r in rows.iter().take(2) {
        if (r.planned - r.start).abs() > 1e-6 {
            failures.push(format!(
                "{:?}: planned {} vs start {}",
                r.title, r.planned, r.start
            ));
        }
    }
    if on_air != rows.len() {
        failures.push(format!(
            "{on_air} \"On air.\" lines for {} entries",
            rows.len()
        ));
    }

    // The recording: every entry's first and last frames are its own (red for Red, counted
    // for Alpha), and the frames either side of each boundary belong to either side.
    let rec = single_recording(&nginx, "asrun");
    let frames = grid_frames(&rec);
    let mut worst: f64 = 0.0;
    for (k, r) in rows.iter().enumerate() {
        let (from, to) = (r.start - t0, r.end - t0);
        let inside: Vec<&GridFrame> = frames
            .iter()
            .filter(|f| f.pts >= from - SLACK && f.pts < to - SLACK)
            .collect();
        let red = r.title == "Red";
        let (Some(a), Some(b)) = (inside.first(), inside.last()) else {
            failures.push(format!("no frame of entry {k} in the recording"));
            continue;
        };
        worst = worst.max((a.pts - from).abs());
        if is_red(a) != red || is_red(b) != red || (!red && counted_index(a).is_none()) {
            failures.push(format!(
                "entry {k} ({}, {from:.3}-{to:.3} s): first frame at {:.3} red {}, last at {:.3} red {}",
                r.title,
                a.pts,
                is_red(a),
                b.pts,
                is_red(b)
            ));
        }
        let expected = ((to - from) / FRAME).round() as usize;
        if inside.len().abs_diff(expected) > 1 {
            failures.push(format!(
                "entry {k}: {} frames, expected {expected}",
                inside.len()
            ));
        }
    }
    println!(
        "{} entries, {} recorded frames; the worst boundary is {:.1} ms from its frame",
        rows.len(),
        frames.len(),
        worst * 1000.0
    );
    if worst > FRAME + SLACK {
        failures.push(format!(
            "a boundary {:.1} ms from its frame",
            worst * 1000.0
        ));
    }

    // The API, asked at 18.5 s: the entries ended by then, the same as the file's.
    let api: Vec<serde_json::Value> = json.json()["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let csv_rows = rows_from(&csv.text());
    println!(
        "API at 18.5 s: {} entries (JSON), {} (CSV)",
        api.len(),
        csv_rows.len()
    );
    if json.status != 200 || csv.status != 200 || api.len() < 4 || api.len() != csv_rows.len() {
        failures.push(format!(
            "/api/v1/asrun: {} with {} entries, CSV {} with {}",
            json.status,
            api.len(),
            csv.status,
            csv_rows.len()
        ));
    }
    if csv_rows.iter().zip(&rows).any(|(a, b)| a.line != b.line) {
        failures.push("the API's CSV differs from the file's".into());
    }
    for (a, r) in api.iter().zip(&rows) {
        if a["title"] != r.title.as_str() || a["reason"] != r.reason.as_str() || a["kind"] != "item"
        {
            failures.push(format!("API entry {a} vs file {:?}", r.line));
        }
    }
    if bad.status != 400 {
        failures.push(format!("from=yesterday: {}", bad.status));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn rows_from(text: &str) -> Vec<Row> {
    if text.is_empty() {
        return Vec::new();
    }
    rows(text)
}

#[test]
fn a_kill_9_loses_at_most_the_entry_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let ch = channel(dir.path(), port, "killed");
    let hls = dir.path().join("hls");
    let out = format!("hls:{}", hls.display());
    let p = Playout::spawn(
        &["run", ch.to_str().unwrap(), "--output", &out],
        &[("PLAYOUT_TEST_TOKEN", TOKEN)],
    );
    let first = first_on_air(&p);
    // Mid-item: 1.5 s into the third stretch (Alpha, 9-14 s).
    thread::sleep(
        (first + Duration::from_millis(10_500)).saturating_duration_since(Instant::now()),
    );
    let killed_at = chrono::Utc::now();
    signal(p.pid().unwrap(), "KILL");
    let run = p.wait(Duration::from_secs(60));
    assert!(!run.status.success());
    let rows = record(dir.path(), "killed");
    for r in &rows {
        println!("{}", r.line);
    }
    let mut failures = tiles(&rows);
    let killed =
        killed_at.timestamp() as f64 + f64::from(killed_at.timestamp_subsec_micros()) / 1e6;
    let last_end = rows.last().map_or(0.0, |r| r.end);
    println!(
        "killed at {killed:.3}; the record ends {:.3} s before",
        killed - last_end
    );
    // Alpha and Red ended before the kill (by about 1.5 s); the third, in progress, is lost.
    if rows.len() != 2 || rows.iter().any(|r| r.reason != "played") {
        failures.push(format!(
            "{} entries; expected Alpha and Red, played",
            rows.len()
        ));
    }
    if !(0.5..3.5).contains(&(killed - last_end)) {
        failures.push(format!(
            "the record ends {:.3} s before the kill",
            killed - last_end
        ));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
