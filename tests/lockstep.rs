//! Two instances of one channel in lockstep (issue 27): the same channel file with `anchor:`,
//! started seconds apart, make the same thing for the same instant.
//!
//! - HLS: every segment number both wrote holds the same span: the same first PTS, frame
//!   count and end, a keyframe first; their playlists give it the same EXTINF and
//!   PROGRAM-DATE-TIME; the numbers are the anchor's grid, not a count from each start;
//! - RTMP (nginx-rtmp recordings, read by ffprobe): the same timestamp for the same frame, and
//!   keyframes at the same timestamps, over everything both sent.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use common::hls::*;
use common::live::Playout;
use common::probe::probe_packets;
use common::timeline::clip;
use common::*;

const ANCHOR: &str = "2026-01-01T00:00:00Z";
const FPS: f64 = 30.0;

/// One instance's channel file: the shared playlist, its own state, HLS folder and stream.
fn instance(dir: &Path, name: &str, playlist: &Path, rtmp: &str, extra: &str) -> PathBuf {
    let hls = dir.join(format!("hls-{name}"));
    ChannelFile::new(name, playlist)
        .extra(&format!(
            "anchor: {ANCHOR}\nstate: {name}.state.json\n{extra}outputs:\n  - url: {}\n  - url: {}\n",
            q(&format!("hls:{}", hls.display())),
            q(rtmp)
        ))
        .write(dir)
}

/// Segment number -> (EXTINF, PDT) of every segment the final playlist lists.
fn listed(folder: &Path) -> BTreeMap<u64, (f64, String)> {
    let text = fs::read_to_string(folder.join("index.m3u8")).expect("playlist");
    parse_playlist(&text)
        .segments
        .into_iter()
        .map(|s| (s.seq, (s.duration, s.pdt.to_rfc3339())))
        .collect()
}

/// The numbers of the segment files in `folder`.
fn segment_files(folder: &Path) -> BTreeSet<u64> {
    fs::read_dir(folder)
        .expect("hls folder")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("seg-")?.strip_suffix(".ts")?.parse().ok()
        })
        .collect()
}

/// (timestamp ms, keyframe) of each video packet of a recording.
fn video_times(path: &Path) -> Vec<(i64, bool)> {
    probe_packets(path)
        .iter()
        .filter(|p| p.codec_type == "video")
        .map(|p| (p.pts.or(p.dts).expect("video timestamp"), p.is_key()))
        .collect()
}

#[test]
fn two_instances_started_apart_write_the_same_segments_and_timestamps() {
    pair(false);
}

/// The same with conformed copies: what is passed through is byte-identical.
#[test]
fn two_instances_playing_copies_write_byte_identical_segments() {
    pair(true);
}

/// Where each stretch went on air in an instance (its log's "On air." lines): (planned
/// instant, kind).
fn on_air(stderr: &str) -> Vec<(chrono::DateTime<chrono::Utc>, String)> {
    stderr
        .lines()
        .filter(|l| l.contains("On air."))
        .filter_map(|l| {
            let field = |k: &str| {
                let v = l.split(&format!(" {k}=")).nth(1)?;
                Some(v.split(' ').next()?.trim_matches('"').to_string())
            };
            let at = chrono::DateTime::parse_from_rfc3339(&field("planned")?).ok()?;
            Some((at.with_timezone(&chrono::Utc), field("kind")?))
        })
        .collect()
}

fn pair(copies: bool) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let nginx = nginx::Nginx::start();
    let playlist = write_playlist(
        d,
        &[
            ItemSpec::clip(clip("red_4s")).title("Red"),
            ItemSpec::slate("3s").title("Break"),
            ItemSpec::clip(clip("plain_4s")).title("Plain"),
        ],
    );
    let extra = if copies {
        "prepare: { folder: copies, background: false }\n"
    } else {
        ""
    };
    let a = instance(d, "a", &playlist, &nginx.url("a"), extra);
    let b = instance(d, "b", &playlist, &nginx.url("b"), extra);
    if copies {
        let (status, out, err, _) = run_playout(&["prepare", a.to_str().unwrap()]);
        assert!(status.success(), "prepare: {out}{err}");
    }
    let pa = Playout::spawn(&["run", a.to_str().unwrap(), "--for", "32s"], &[]);
    // More than one start point (8 s at 30 fps and 48 kHz) apart, and not a whole number of
    // keyframe intervals: b joins mid-segment and mid-item.
    thread::sleep(Duration::from_millis(9300));
    let pb = Playout::spawn(&["run", b.to_str().unwrap(), "--for", "20s"], &[]);
    let rb = pb.wait(Duration::from_secs(90));
    let ra = pa.wait(Duration::from_secs(90));
    println!("a:\n{}\nb:\n{}", tail(&ra.stderr, 15), tail(&rb.stderr, 15));
    assert!(ra.status.success() && rb.status.success());
    assert!(nginx.wait_idle(Duration::from_secs(10)));
    // b's first item boundary: before it b plays the item it joined (encoded, where a may
    // pass it through from its copy's keyframes).
    let air_b = on_air(&rb.stderr);
    println!("on air: a {:?}\n        b {air_b:?}", on_air(&ra.stderr));
    assert!(air_b.len() >= 3, "b went on air too seldom: {air_b:?}");
    let joined_until = air_b[1].0;
    let copy_spans: Vec<_> = air_b
        .windows(2)
        .filter(|w| w[0].1 == "copy")
        .map(|w| (w[0].0, w[1].0))
        .collect();
    if copies {
        assert!(
            copy_spans.len() >= 2,
            "b passed too little through: {air_b:?}"
        );
    }
    // ---- HLS -----------------------------------------------------------------------------
    let (ha, hb) = (d.join("hls-a"), d.join("hls-b"));
    let (fa, fb) = (segment_files(&ha), segment_files(&hb));
    let common: Vec<u64> = fa.intersection(&fb).copied().collect();
    println!("segments: a {fa:?}\n          b {fb:?}");
    assert!(
        common.len() >= 6,
        "too few segments in both: {common:?} (a {fa:?}, b {fb:?})"
    );
    // The numbers are the anchor's grid: 2 s intervals since the anchor.
    let anchor = chrono::DateTime::parse_from_rfc3339(ANCHOR).unwrap();
    let since = (chrono::Utc::now() - anchor.with_timezone(&chrono::Utc)).num_seconds() as u64;
    let last = *fb.iter().max().unwrap();
    assert!(
        last.abs_diff(since / 2) < 30,
        "segment {last} is not the grid's number near now ({})",
        since / 2
    );
    let (la, lb) = (listed(&ha), listed(&hb));
    let mut identical = 0;
    let mut passed = 0;
    let mut compared = 0;
    for seq in &common {
        let name = format!("seg-{seq}.ts");
        // Its span, by the playlists (a lists what b does not any more, and the reverse).
        let Some((dur, pdt)) = la.get(seq).or(lb.get(seq)).cloned() else {
            continue;
        };
        let start = chrono::DateTime::parse_from_rfc3339(&pdt).unwrap();
        let end = start + chrono::Duration::microseconds((dur * 1e6) as i64);
        if copies && start < joined_until {
            continue;
        }
        compared += 1;
        let (sa, sb) = same_segment(&ha, &hb, &name);
        assert!((sa.video_end - sb.video_end).abs() < 1e-6, "{name}: ends");
        if !copies {
            assert_eq!(sa.video_frames, 60, "{name}: one 2 s interval");
        }
        let same = fs::read(ha.join(&name)).unwrap() == fs::read(hb.join(&name)).unwrap();
        identical += usize::from(same);
        // Wholly inside a stretch passed through from a copy: the same bytes.
        if copy_spans.iter().any(|(f, t)| start >= *f && end <= *t) {
            assert!(same, "{name}: passed through, yet not byte-identical");
            passed += 1;
        }
    }
    assert!(compared >= 5, "only {compared} segments compared");
    if copies {
        assert!(passed >= 2, "only {passed} segments wholly from copies");
    }
    let both: Vec<u64> = la.keys().filter(|k| lb.contains_key(k)).copied().collect();
    assert!(both.len() >= 2, "playlists share too little: {la:?} {lb:?}");
    for seq in &both {
        assert_eq!(la[seq], lb[seq], "segment {seq}: EXTINF and PDT");
    }
    println!(
        "LOCKSTEP_HLS copies={copies}: compared {compared} segments (seg-{}..seg-{}): same first PTS, frames, end, keyframe first; {identical} byte-identical, {passed} of them wholly passed through; {} listed in both with the same EXTINF and PDT",
        common[0],
        common[common.len() - 1],
        both.len()
    );

    // ---- RTMP ----------------------------------------------------------------------------
    let (ra, rb) = (single_recording(&nginx, "a"), single_recording(&nginx, "b"));
    let (va, vb) = (video_times(&ra), video_times(&rb));
    let (a0, a1) = (va.first().unwrap().0, va.last().unwrap().0);
    let (b0, b1) = (vb.first().unwrap().0, vb.last().unwrap().0);
    println!(
        "rtmp: a {a0}..{a1} ms ({} frames), b {b0}..{b1} ms ({} frames)",
        va.len(),
        vb.len()
    );
    // Timestamps are channel time since the anchor (modulo the 24-day session limit), not
    // time since each session began; each session starts at a grid point.
    assert!(b0 > 0 && a0 > 0, "timestamps from zero: a {a0}, b {b0}");
    assert!(
        b0 % 2000 == 0 && a0 % 2000 == 0,
        "first frames off the grid: {a0} {b0}"
    );
    // (a's session begins at the first keyframe after it connects: one or more after its
    // first frame.)
    assert!(b0 >= a0, "b starts {} ms after a", b0 - a0);
    // With copies, from b's first boundary on (as for HLS): the item b joined it encodes,
    // with keyframes on the grid where a passes the copy's own through.
    let joined_ms = {
        let anchor = chrono::DateTime::parse_from_rfc3339(ANCHOR).unwrap();
        let since = (joined_until - anchor.with_timezone(&chrono::Utc)).num_milliseconds();
        since.rem_euclid(24 * 24 * 3600 * 1000)
    };
    let from = match copies {
        true => a0.max(b0).max(joined_ms),
        false => a0.max(b0),
    };
    let to = a1.min(b1);
    let span = |v: &[(i64, bool)]| -> Vec<(i64, bool)> {
        v.iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .copied()
            .collect()
    };
    let (sa, sb) = (span(&va), span(&vb));
    // b's first frame is at the first start point (every 8 s) after it was spawned, 8 or
    // 16 s after a's; with copies the span begins at b's first boundary, up to an item (4 s)
    // later. So a's 32 s and b's 20 s share at least 12 s: 360 frames.
    assert!(sa.len() >= 360, "only {} frames in common", sa.len());
    assert_eq!(sa.len(), sb.len(), "frame counts over {from}..{to} ms");
    let differ: Vec<_> = sa.iter().zip(&sb).filter(|(x, y)| x != y).take(5).collect();
    assert!(
        differ.is_empty(),
        "timestamps or keyframes differ: {differ:?}"
    );
    let keys = sa.iter().filter(|(_, k)| *k).count();
    println!(
        "LOCKSTEP_RTMP copies={copies}: {} frames over {from}..{to} ms: same timestamps, {keys} keyframes at the same ones",
        sa.len()
    );
}

/// Every `(seq, first PTS, frames, keyframe first)` both folders hold: asserted equal; the
/// number compared.
fn same_segments(ha: &Path, hb: &Path) -> usize {
    let (fa, fb) = (segment_files(ha), segment_files(hb));
    let mut n = 0;
    for seq in fa.intersection(&fb) {
        same_segment(ha, hb, &format!("seg-{seq}.ts"));
        n += 1;
    }
    n
}

/// Segment `name` of both folders, asserted to start with a keyframe, at the same PTS, and
/// to hold the same number of frames.
fn same_segment(ha: &Path, hb: &Path, name: &str) -> (SegmentInfo, SegmentInfo) {
    let (sa, sb) = (
        segment_info(&ha.join(name), FPS),
        segment_info(&hb.join(name), FPS),
    );
    assert!(
        sa.first_is_key && sb.first_is_key,
        "{name}: no keyframe first"
    );
    assert_eq!(sa.video_frames, sb.video_frames, "{name}: frame counts");
    assert!(
        (sa.video_start - sb.video_start).abs() < 1e-6,
        "{name}: first PTS {} vs {}",
        sa.video_start,
        sb.video_start
    );
    (sa, sb)
}

/// The as-run entries of a running instance (its API), as JSON objects.
fn asrun(port: u16) -> Vec<serde_json::Value> {
    let r = common::control::call(port, "GET", "/api/v1/asrun", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["entries"].as_array().cloned().unwrap_or_default()
}

/// The entry whose title is `title` (the first), with its start and why it ended.
fn entry<'a>(entries: &'a [serde_json::Value], title: &str) -> Option<&'a serde_json::Value> {
    entries.iter().find(|e| e["title"] == title)
}

/// Frames since the anchor at an RFC 3339 instant (exact on the 30 fps grid).
fn frame_of(at: &str) -> f64 {
    let anchor = chrono::DateTime::parse_from_rfc3339(ANCHOR).unwrap();
    let t = chrono::DateTime::parse_from_rfc3339(at).unwrap();
    (t - anchor).num_microseconds().unwrap() as f64 * FPS / 1e6
}

#[test]
fn an_edit_and_a_skip_through_either_instance_switch_both_at_the_same_frame() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let playlist = write_playlist(
        d,
        &[
            ItemSpec::clip(clip("red_4s")).title("Red"),
            ItemSpec::clip(clip("plain_4s")).title("Plain"),
            ItemSpec::slate("6s").title("Long break"),
        ],
    );
    let token = "lockstep-token-0123456789";
    let (port_a, port_b) = (free_port(), free_port());
    let http = |port: u16| {
        format!("http: {{ listen: \"127.0.0.1:{port}\", api_token: \"${{TOKEN}}\" }}\n")
    };
    let flv = |n: &str| format!("file:{}", d.join(n).display());
    let a = instance(d, "a", &playlist, &flv("a.flv"), &http(port_a));
    let b = instance(d, "b", &playlist, &flv("b.flv"), &http(port_b));
    let env = [("TOKEN", token)];
    let pa = Playout::spawn(&["run", a.to_str().unwrap(), "--for", "50s"], &env);
    thread::sleep(Duration::from_millis(2300));
    let pb = Playout::spawn(&["run", b.to_str().unwrap(), "--for", "47s"], &env);
    let auth = format!("Authorization: Bearer {token}");
    let ready = |port: u16| {
        (0..100).any(|_| {
            let ok = hls::request(port, "GET", "/readyz", &[]).is_some_and(|r| r.status == 200);
            if !ok {
                thread::sleep(Duration::from_millis(100));
            }
            ok
        })
    };
    assert!(ready(port_a) && ready(port_b), "not on air");
    thread::sleep(Duration::from_secs(3));

    // An item inserted through a's API: stamped into the shared file for the first boundary
    // 5 s (reload.settle) ahead.
    let body = serde_json::json!({ "item": { "slate": "2s", "title": "Inserted" }, "position": 0 });
    let r = common::control::call(
        port_a,
        "POST",
        "/api/v1/playlist/items",
        &[&auth, "Content-Type: application/json"],
        body.to_string().as_bytes(),
    );
    assert!(r.status < 300, "insert: {} {}", r.status, r.text());
    let text = fs::read_to_string(&playlist).unwrap();
    println!("the playlist after the edit:\n{text}");
    let stamped: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let edit_at = stamped["takes_effect"]["at"]
        .as_str()
        .expect("takes_effect.at")
        .to_string();
    let item = stamped["takes_effect"]["item"]
        .as_u64()
        .expect("takes_effect.item") as usize;
    // What starts there: the item after the one that ends at the boundary.
    let titles: Vec<String> = stamped["items"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap_or("Slate").to_string())
        .collect();
    let first = titles[item].clone();

    // Later, a skip through b's API, of whatever is on air 5 s from then.
    thread::sleep(Duration::from_secs(12));
    let r = common::control::call(port_b, "POST", "/api/v1/skip", &[&auth], b"");
    assert_eq!(r.status, 200, "skip: {}", r.text());
    let skip = r.json();
    println!("skip: {skip}");
    let skip_at = skip["at"].as_str().unwrap().to_string();
    let (skipped, next) = (
        skip["skipped"].as_str().unwrap().to_string(),
        skip["next"].as_str().unwrap().to_string(),
    );
    // Long enough for the longest item (6 s) that may start at the skip to end: the
    // record has an entry once it ends.
    thread::sleep(Duration::from_secs(14));
    let (ea, eb) = (asrun(port_a), asrun(port_b));
    let ra = pa.wait(Duration::from_secs(90));
    let rb = pb.wait(Duration::from_secs(90));
    println!("a:\n{}\nb:\n{}", tail(&ra.stderr, 20), tail(&rb.stderr, 20));
    for (name, entries) in [("a", &ea), ("b", &eb)] {
        for e in entries.iter() {
            println!(
                "{name}: {} {} {} {}",
                e["start"], e["title"], e["kind"], e["reason"]
            );
        }
    }
    assert!(ra.status.success() && rb.status.success());

    // The edit: at the stamped instant the edited list takes over, in both at that frame.
    let at_edit = |entries: &[serde_json::Value]| {
        entries
            .iter()
            .find(|e| (frame_of(e["start"].as_str().unwrap()) - frame_of(&edit_at)).abs() < 1e-6)
            .cloned()
    };
    let ia = at_edit(&ea).unwrap_or_else(|| panic!("a: nothing started at {edit_at}"));
    let ib = at_edit(&eb).unwrap_or_else(|| panic!("b: nothing started at {edit_at}"));
    assert_eq!(ia["title"], first.as_str(), "a: {ia}");
    assert_eq!(ib["title"], first.as_str(), "b: {ib}");
    let start = ia["start"].as_str().unwrap().to_string();
    // The inserted item plays, at the same instant in both.
    let (xa, xb) = (entry(&ea, "Inserted"), entry(&eb, "Inserted"));
    assert!(xa.is_some(), "a never played the inserted item");
    assert_eq!(xa.map(|e| &e["start"]), xb.map(|e| &e["start"]));
    // Stamped at a boundary, the edit cut nothing short.
    for (name, entries) in [("a", &ea), ("b", &eb)] {
        let before = entries
            .iter()
            .find(|e| e["end"] == ia["start"])
            .unwrap_or_else(|| panic!("{name}: nothing ended where the inserted item began"));
        assert_eq!(before["reason"], "played", "{name}: {before}");
    }
    // The skip: what was on air ends at the skip's instant in both, and the next item
    // starts there.
    let at_frame = frame_of(&skip_at);
    for (name, entries) in [("a", &ea), ("b", &eb)] {
        let cut = entries
            .iter()
            .filter(|e| e["title"] == skipped.as_str())
            .find(|e| (frame_of(e["end"].as_str().unwrap()) - at_frame).abs() < 1e-6)
            .unwrap_or_else(|| panic!("{name}: {skipped:?} did not end at {skip_at}"));
        assert_eq!(cut["reason"], "skipped", "{name}: {cut}");
        assert!(
            entries.iter().any(|e| e["title"] == next.as_str()
                && (frame_of(e["start"].as_str().unwrap()) - at_frame).abs() < 1e-6),
            "{name}: {next:?} did not start at {skip_at}"
        );
    }
    let compared = same_segments(&d.join("hls-a"), &d.join("hls-b"));
    assert!(compared >= 6, "only {compared} segments in both");
    println!(
        "LOCKSTEP_EDIT the edit took effect at frame {:.0} since the anchor in both ({start}, {first:?} first); the inserted item at {} in both; the skip of {skipped:?} at frame {:.0} in both ({skip_at}); {compared} segments still the same",
        frame_of(&start),
        xa.map_or(String::new(), |e| e["start"].to_string()),
        at_frame
    );
}
