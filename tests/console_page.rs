//! The operator console at `/console`, in a real browser: Debian's Chromium, driven by
//! playwright-core (`web/test/console.mjs`, which holds the page's checks), against a paced
//! channel with a control API token and a media library, publishing to a real nginx-rtmp and
//! to its built-in HLS output (for the watch page). The page refuses a wrong token, signs in,
//! uploads a clip made here, puts it right after the item on air and skips to it;
//! `/api/v1/now` and the watch page must then name it. The RTMP recording of the whole run,
//! upload, edit and skip included, must be one unbroken session: video frames a frame apart
//! (±1 ms) and no audio hole over 2 ms.
//!
//! Kept as an artefact: `target/test-artifacts/console/console.png`, the console just after
//! the skip.
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::edits::{pid_with_arg, signal};
use common::fixtures::ffmpeg;
use common::hls::wait_for_segments;
use common::timeline::clip;
use common::*;

/// The channel's `http.api_token`, given to playout as `${PLAYOUT_TEST_TOKEN}`.
const TOKEN: &str = "console-test-token-4f1d9c27a0b3";
const STREAM: &str = "console";
/// The clip the page uploads: on the watch page it shows from about 7.5 s after the skip
/// (the channel's ~2.5 s lead, then the page's 5 s delay), for this long.
const CLIP_SECONDS: u32 = 10;

fn web() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// testsrc2 with a 440 Hz tone: nothing like the channel's own clips.
fn make_upload(folder: &Path) -> PathBuf {
    std::fs::create_dir_all(folder).unwrap();
    let out = folder.join("console-clip.mp4");
    let mut args: Vec<String> = [
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=s=320x180:r=30:d={CLIP_SECONDS}"),
        "-f",
        "lavfi",
        "-i",
        &format!("sine=f=440:sample_rate=48000:d={CLIP_SECONDS}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(X264.iter().chain(AAC2).map(|s| s.to_string()));
    args.extend(["-g", "60", "-shortest"].map(String::from));
    ffmpeg(&args, &out, "the clip to upload");
    out
}

#[test]
fn the_console_uploads_a_clip_adds_it_and_skips_to_it_without_a_break() {
    assert!(
        web().join("node_modules/playwright-core").is_dir(),
        "web/node_modules has no playwright-core: run `make deps` (npm ci in web/)"
    );
    let nginx = Nginx::start();
    let dir = tempfile::Builder::new()
        .prefix("playout-console-")
        .tempdir()
        .unwrap();
    let upload = make_upload(&dir.path().join("to-upload"));
    let port = free_port();
    // A long item, so that the page finds one on air with time enough left for its edit.
    let playlist = write_playlist(
        dir.path(),
        &[
            ItemSpec::clip(clip("counted_24s")).title("Counted"),
            ItemSpec::clip(clip("plain_4s")).title("Plain"),
        ],
    );
    let extra = format!(
        "{}http: {{ listen: \"127.0.0.1:{port}\", api_token: \"${{PLAYOUT_TEST_TOKEN}}\" }}\n\
         media: {{ dir: media }}\n",
        output_yaml(&[
            OutputSpec::new("ingest", &nginx.url(STREAM)),
            OutputSpec::new("web", "hls:hls"),
        ])
    );
    let ch = write_channel(dir.path(), STREAM, 320, 180, "30", &playlist, &extra);
    let ch = ch.to_str().unwrap().to_string();
    let mut playout = Playout::spawn(&["run", &ch], &[("PLAYOUT_TEST_TOKEN", TOKEN)]);
    wait_for_segments(&mut playout, &dir.path().join("hls"), 3);

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/console");
    let mut node = Command::new("node")
        .arg(web().join("test/console.mjs"))
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(TOKEN)
        .arg(&upload)
        .arg(&artifacts)
        .current_dir(web())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node (web/test/console.mjs) could not start: is Node.js installed?");
    let mut report = None;
    for line in BufReader::new(node.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        println!("{line}");
        if let Some(json) = line.strip_prefix("CONSOLE_REPORT ") {
            report = Some(serde_json::from_str::<serde_json::Value>(json).unwrap());
        }
    }
    let status = node.wait().unwrap();
    assert!(
        playout.is_running(),
        "playout exited:\n{}",
        tail(&playout.stderr(), 40)
    );

    // Stop as an operator's Ctrl-C does: the RTMP session then ends cleanly.
    let pid = pid_with_arg(&ch).expect("playout's pid");
    signal(pid, "INT");
    let limit = playout.started.elapsed() + Duration::from_secs(30);
    let run = playout.wait(limit);
    assert!(
        run.status.success(),
        "playout exited with {} after SIGINT:\n{}",
        run.status,
        tail(&run.stderr, 40)
    );

    let report = report.expect("console.mjs printed no CONSOLE_REPORT");
    assert!(
        status.success(),
        "the console failed: {}\nplayout stderr:\n{}",
        report["failures"],
        tail(&run.stderr, 30)
    );
    // What console.mjs measured, checked here too so that a report that says nothing fails.
    let ms = |k: &str| {
        report[k]
            .as_f64()
            .unwrap_or_else(|| panic!("no {k} in {report}"))
    };
    assert!(ms("skip_to_api_ms") <= 15000.0, "{report}");
    assert!(ms("skip_to_watch_ms") <= 30000.0, "{report}");
    assert!(
        report["asrun_played"].is_object(),
        "no played as-run row: {report}"
    );
    assert!(
        report["asrun_csv_lines"].as_u64().unwrap_or(0) >= 2,
        "{report}"
    );
    assert!(artifacts.join("console.png").is_file(), "no screenshot");
    let title = report["title"].as_str().expect("the uploaded item's title");
    assert!(
        run.stderr.contains("Media uploaded.") && run.stderr.contains("file=console-clip.mp4"),
        "no upload in playout's log:\n{}",
        tail(&run.stderr, 40)
    );
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("Item started.") && l.contains(&format!("item={title} "))),
        "\"{title}\" never started in the pipeline:\n{}",
        tail(&run.stderr, 40)
    );
    println!("screenshot: {}", artifacts.join("console.png").display());

    // The RTMP recording: one session, unbroken through the upload, the edit and the skip.
    let rec = single_recording(&nginx, STREAM);
    let (r, mut problems) = check_session(&rec, (30, 1), &session_expect(320, 180));
    println!("{r}");
    if r.min_step_ms < r.frame_ms - 1.0 || r.max_step_ms > r.frame_ms + 1.0 {
        problems.push(format!(
            "video steps {:.1}..{:.1} ms, expected {:.3} ± 1 ms",
            r.min_step_ms, r.max_step_ms, r.frame_ms
        ));
    }
    let covered = run.wall.as_secs_f64() - 10.0;
    if r.duration < covered {
        problems.push(format!(
            "the recording is {:.1} s long, but playout ran {:.1} s",
            r.duration,
            run.wall.as_secs_f64()
        ));
    }
    assert!(
        problems.is_empty(),
        "the recording is broken: {problems:#?}"
    );
}
