//! `run` prepares conformed copies in the background: a paced channel with `prepare:` and no
//! copies plays its first loop through the encoder while the preparer (SCHED_IDLE) makes a
//! copy of each item, and later loops pass them through. A copy damaged while the channel
//! runs is found when it would play: that item is encoded, the copy is made again, and the
//! next loop passes it through. The recording at nginx-rtmp is one continuous session.
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::nginx::{free_port, Nginx};
use common::publish::metric;
use common::timeline::clip;
use common::*;

const FPS: (u32, u32) = (30, 1);

/// The scheduling policy (field 41 of /proc/PID/task/TID/stat; 5 is SCHED_IDLE) of the
/// process's thread called `name`.
fn policy_of_thread(pid: u32, name: &str) -> Option<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    tasks.flatten().find_map(|t| {
        let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
        if comm.trim() != name {
            return None;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(38)?
            .parse()
            .ok()
    })
}

/// The copy in `dir` made from a file whose name holds `part`.
fn copy_of(dir: &Path, part: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let p = e.path();
        let text = std::fs::read_to_string(&p)
            .ok()
            .filter(|_| p.extension().is_some_and(|x| x == "json"))?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["source"]["path"]
            .as_str()?
            .contains(part)
            .then(|| p.with_extension("nut"))
    })
}

/// What the copies in `dir` take (not the channels' claims files, `.named-*.txt`: a few
/// bytes of keys each).
fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with(".named-"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn copies_are_made_in_the_background_and_a_damaged_one_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_port();
    let (red, plain) = (clip("red_4s"), clip("plain_4s"));
    let playlist = write_playlist(
        d,
        &[
            ItemSpec::clip(&red).title("Red"),
            ItemSpec::Slate("2s".into()),
            ItemSpec::clip(&plain).title("Plain"),
        ],
    );
    let extra =
        format!("prepare: {{ folder: copies }}\nhttp: {{ listen: \"127.0.0.1:{port}\" }}\n");
    let ch = write_channel(d, "background", 320, 180, "30", &playlist, &extra);
    let nginx = Nginx::start();
    let url = nginx.url("background");
    let p = Playout::spawn(
        &[
            "run",
            ch.to_str().unwrap(),
            "--output",
            &url,
            "--for",
            "44s",
        ],
        &[],
    );
    let pid = p.pid().unwrap();
    let copies = d.join("copies");
    let mut failures = Vec::new();

    // The preparer's thread, at idle priority.
    let until = Instant::now() + Duration::from_secs(10);
    let mut policy = None;
    while policy.is_none() && Instant::now() < until {
        policy = policy_of_thread(pid, "prepare");
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("the prepare thread's scheduling policy: {policy:?} (5 is SCHED_IDLE)");
    if policy != Some(5) {
        failures.push(format!("prepare thread policy {policy:?}, not SCHED_IDLE"));
    }

    // The first pass-through: then the copy of the item not on air is damaged (a byte
    // flipped in the middle, same size), before it plays from it again.
    let until = Instant::now() + Duration::from_secs(30);
    let mut damaged = None;
    while damaged.is_none() && Instant::now() < until {
        if metric(port, "playout_passthrough_seconds_total", "") > 0.0 {
            let now = http_get(port, "/api/v1/now")
                .map(|(_, b)| b)
                .unwrap_or_default();
            let (part, title) = if now.contains("\"Red\"") {
                ("plain", "Plain")
            } else {
                ("red", "Red")
            };
            let path = copy_of(&copies, part).expect("the copy of the other item");
            let mut bytes = std::fs::read(&path).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x55;
            std::fs::write(&path, &bytes).unwrap();
            println!(
                "damaged the copy of {title} at {:.1} s",
                p.started.elapsed().as_secs_f64()
            );
            damaged = Some(title);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let Some(damaged) = damaged else {
        panic!("nothing passed through in 30 s\n{}", tail(&p.stderr(), 40));
    };
    // Read the metrics near the end, while it still runs.
    while p.started.elapsed() < Duration::from_secs(42) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let m = |name: &str, labels: &str| metric(port, name, labels);
    let made = m("playout_prepare_copies_total", "{result=\"made\"}");
    let failed = m("playout_prepare_copies_total", "{result=\"failed\"}");
    let hits = m("playout_conform_cache_hits_total", "");
    let missing = m("playout_conform_cache_misses_total", "{reason=\"missing\"}");
    let broken = m("playout_conform_cache_misses_total", "{reason=\"damaged\"}");
    let queue = m("playout_prepare_queue", "");
    let bytes = m("playout_conform_cache_bytes", "");
    let on_disk = folder_bytes(&copies);
    println!(
        "made {made}, failed {failed}, hits {hits}, misses missing {missing} damaged {broken}, \
         queue {queue}, cache bytes {bytes} (folder {on_disk})"
    );
    let run = p.wait(Duration::from_secs(60));
    assert!(run.status.success(), "{}", tail(&run.stderr, 40));
    let lines: Vec<&str> = run.stderr.lines().collect();
    let count = |s: &str| lines.iter().filter(|l| l.contains(s)).count();
    let passed_of = |t: &str| {
        lines
            .iter()
            .filter(|l| l.contains("Item passed through") && l.contains(&format!("item={t}")))
            .count()
    };
    let encoded_of = |t: &str| {
        lines
            .iter()
            .filter(|l| l.contains("Item started.") && l.contains(&format!("item={t}")))
            .count()
    };
    let background = count("Conformed copy made in the background.");
    let warned = count("The conformed copy is damaged");
    println!(
        "background copies {background}; damaged warnings {warned}; Red passed {} encoded {}; \
         Plain passed {} encoded {}",
        passed_of("Red"),
        encoded_of("Red"),
        passed_of("Plain"),
        encoded_of("Plain")
    );
    // 44 s of a 10 s rotation: Red five times, Plain four.
    if passed_of("Red") + encoded_of("Red") != 5 || passed_of("Plain") + encoded_of("Plain") != 4 {
        failures.push("not every item started as often as the schedule says".into());
    }
    // An item is encoded only when it has no usable copy: Red's first play (the copy is
    // made while it airs), Plain's first if its copy was not made in time, and the damaged
    // copy's next play. The copy made again passes through from its next play on.
    let encoded = encoded_of("Red") + encoded_of("Plain");
    let passed = passed_of("Red") + passed_of("Plain");
    if encoded as f64 != missing + broken || !(1.0..=2.0).contains(&missing) || broken != 1.0 {
        failures.push(format!(
            "{encoded} plays encoded against {missing} misses for a missing copy and {broken} \
             for a damaged one (expected 1 or 2, and 1)"
        ));
    }
    let last = lines
        .iter()
        .rfind(|l| {
            l.contains(&format!("item={damaged} "))
                && !l.contains("Conformed copy")
                && !l.contains("On air.")
        })
        .copied()
        .unwrap_or("");
    if !last.contains("Item passed through") {
        failures.push(format!(
            "the damaged item's last play was not from its copy made again: {last}"
        ));
    }
    if (background, warned) != (3, 1) || made != 3.0 || failed != 0.0 {
        failures.push(format!(
            "{background} copies made in the background (expected 3), {warned} damage \
             warnings (1); made {made}, failed {failed}"
        ));
    }
    if hits != passed as f64 {
        failures.push(format!("hits {hits} against {passed} plays passed through"));
    }
    if queue != 0.0 || bytes != on_disk as f64 {
        failures.push(format!(
            "queue {queue}; cache bytes {bytes} against {on_disk} in the folder"
        ));
    }
    let rec = single_recording(&nginx, "background");
    let mut expect = Expect::new(320, 180);
    expect.max_av_end_diff_ms = 1000.0 / 30.0;
    let (report, problems) = check_session(&rec, FPS, &expect);
    println!(
        "recording: {:.3} s, {} frames, {} irregular steps, largest audio hole {:.2} ms, A/V \
         end {:+.1} ms, keyframe gaps {:?}",
        report.duration,
        report.video_packets,
        report.bad_steps.len(),
        report.max_audio_hole_ms,
        report.av_end_diff_ms,
        {
            let mut k: Vec<String> = report
                .keyframe_intervals()
                .iter()
                .map(|g| format!("{g:.3}"))
                .collect();
            k.dedup();
            k
        }
    );
    failures.extend(problems);
    assert!(
        failures.is_empty(),
        "{failures:#?}\n{}",
        tail(&run.stderr, 40)
    );
}

/// `playout run CHANNEL` paced for `secs` into `DIR/NAME.flv`, metrics on `port`: the
/// running process, the recording's path.
fn spawn_paced(d: &Path, ch: &Path, secs: u32) -> (Playout, PathBuf) {
    let rec = d.join(format!("{}.flv", ch.file_stem().unwrap().to_string_lossy()));
    let p = Playout::spawn(
        &[
            "run",
            ch.to_str().unwrap(),
            "--output",
            rec.to_str().unwrap(),
            "--for",
            &format!("{secs}s"),
        ],
        &[],
    );
    (p, rec)
}

fn wait_until(p: &Playout, at: Duration) {
    while p.started.elapsed() < at {
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_folder_stays_under_max_size_by_removing_copies_the_playlist_does_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_port();
    let (red, plain) = (clip("red_4s"), clip("plain_4s"));
    // A copy of an item no longer in the playlist (Red from 1 s), last played an hour ago.
    let seed_list =
        write_playlist_named(d, "seed-list.yaml", &[ItemSpec::clip(&red).inpoint("1s")]);
    let seed = write_channel(
        d,
        "seed",
        320,
        180,
        "30",
        &seed_list,
        "prepare: { folder: copies }\n",
    );
    let r = run_playout_timeout(
        &["prepare", seed.to_str().unwrap()],
        Duration::from_secs(120),
    );
    assert!(r.status.success(), "{}", r.stderr);
    let copies = d.join("copies");
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    let seeded: Vec<PathBuf> = std::fs::read_dir(&copies)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    for f in &seeded {
        std::fs::File::options()
            .append(true)
            .open(f)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    }
    let seeded_bytes = folder_bytes(&copies);

    // 400K holds Red's copy (about 140K with its last picture) and the old one, but not
    // Plain's (about 350K) as well, even once the old one is gone.
    let playlist = write_playlist(
        d,
        &[
            ItemSpec::clip(&red).title("Red"),
            ItemSpec::Slate("2s".into()),
            ItemSpec::clip(&plain).title("Plain"),
        ],
    );
    let extra = format!(
        "prepare: {{ folder: copies, max_size: 400K }}\nhttp: {{ listen: \"127.0.0.1:{port}\" }}\n"
    );
    let ch = write_channel(d, "capped", 320, 180, "30", &playlist, &extra);
    let (p, _) = spawn_paced(d, &ch, 24);
    wait_until(&p, Duration::from_secs(22));
    let m = |name: &str, labels: &str| metric(port, name, labels);
    let made = m("playout_prepare_copies_total", "{result=\"made\"}");
    let too_big = m("playout_prepare_copies_total", "{result=\"too_big\"}");
    let evicted = m("playout_conform_evicted_total", "");
    let bytes = m("playout_conform_cache_bytes", "");
    let run = p.wait(Duration::from_secs(60));
    assert!(run.status.success(), "{}", tail(&run.stderr, 40));
    let on_disk = folder_bytes(&copies);
    let count = |s: &str| run.stderr.lines().filter(|l| l.contains(s)).count();
    let passed = |t: &str| {
        run.stderr
            .lines()
            .filter(|l| l.contains("Item passed through") && l.contains(&format!("item={t} ")))
            .count()
    };
    let warned = count("does not fit under prepare.max_size");
    let gone = seeded.iter().all(|f| !f.exists());
    println!(
        "seeded {seeded_bytes} bytes; made {made}, too_big {too_big}, evicted {evicted}; cache \
         bytes {bytes} (folder {on_disk}); old copy removed {gone}; warnings {warned}; Red \
         passed {}, Plain passed {}",
        passed("Red"),
        passed("Plain")
    );
    let mut failures = Vec::new();
    if !gone || evicted != 1.0 {
        failures.push(format!("the old copy was not removed (evicted {evicted})"));
    }
    if made != 1.0 || too_big != 1.0 || warned != 1 {
        failures.push(format!(
            "made {made}, too_big {too_big}, warned {warned} (expected 1, 1, 1)"
        ));
    }
    if on_disk > 400 * 1024 || bytes != on_disk as f64 {
        failures.push(format!("{on_disk} bytes in the folder, metric {bytes}"));
    }
    // Red airs at 0, 10 and 20 s: from its copy after the first; Plain never.
    if passed("Red") != 2 || passed("Plain") != 0 {
        failures.push("Red should pass through twice and Plain never".into());
    }
    assert!(
        failures.is_empty(),
        "{failures:#?}\n{}",
        tail(&run.stderr, 40)
    );
}

#[test]
fn a_folder_that_cannot_be_written_is_said_once_and_the_channel_plays_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_port();
    // The folder's parent is a file: nothing can be written there.
    std::fs::write(d.join("blocker"), b"a file, not a folder").unwrap();
    let playlist = write_playlist(
        d,
        &[
            ItemSpec::clip(clip("red_4s")).title("Red"),
            ItemSpec::Slate("2s".into()),
            ItemSpec::clip(clip("plain_4s")).title("Plain"),
        ],
    );
    let extra = format!(
        "prepare: {{ folder: blocker/copies }}\nhttp: {{ listen: \"127.0.0.1:{port}\" }}\n"
    );
    let ch = write_channel(d, "blocked", 320, 180, "30", &playlist, &extra);
    let (p, rec) = spawn_paced(d, &ch, 14);
    wait_until(&p, Duration::from_secs(12));
    let failed = metric(port, "playout_prepare_copies_total", "{result=\"failed\"}");
    let queue = metric(port, "playout_prepare_queue", "");
    let run = p.wait(Duration::from_secs(60));
    assert!(run.status.success(), "{}", tail(&run.stderr, 40));
    let count = |s: &str| run.stderr.lines().filter(|l| l.contains(s)).count();
    let (said, started, passed) = (
        count("Cannot write conformed copies"),
        count("Item started."),
        count("Item passed through"),
    );
    println!(
        "said {said} time(s); failed attempts {failed}; queue {queue}; items encoded {started}, \
         passed through {passed}"
    );
    // Red, Plain, Red in 14 s; one attempt, then nothing for ten minutes.
    assert!(
        said == 1 && failed == 1.0 && queue == 2.0 && started == 3 && passed == 0,
        "{}",
        tail(&run.stderr, 40)
    );
    let mut expect = Expect::new(320, 180);
    expect.max_av_end_diff_ms = 1000.0 / 30.0;
    let (_, problems) = check_session(&rec, FPS, &expect);
    assert!(problems.is_empty(), "{problems:#?}");
}
