//! The operator's slate (issue 26): `slate: { image: PATH }` is the picture wherever slate
//! plays, scaled to fit and letterboxed on `background`; `playout check` names the place and
//! the problem for a missing file, a file that is not a picture and a video; and a reload
//! takes in a new picture, while a reload whose picture is broken keeps the one on air.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::timeline::*;
use common::*;

/// A 4:3 picture of one colour (`0xRRGGBB`), 120x90: on a 16:9 channel it is pillarboxed.
fn picture(path: &Path, colour: &str) {
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c={colour}:s=120x90:d=1"))
        .args(["-frames:v", "1"])
        .arg(path)
        .status()
        .expect("ffmpeg");
    assert!(st.success(), "ffmpeg could not write {}", path.display());
}

/// Runs the channel `ch` unpaced for `secs` into the FLV file `out`.
fn unpaced_to_file(ch: &Path, secs: &str, out: &Path) -> Run {
    let out = format!("file:{}", out.display());
    let args = [
        "run",
        ch.to_str().unwrap(),
        "--unpaced",
        "--for",
        secs,
        "--output",
        &out,
    ];
    run_playout_timeout(&args, Duration::from_secs(120))
}

fn near(c: [u8; 3], want: [u8; 3]) -> bool {
    c.iter().zip(want).all(|(a, b)| a.abs_diff(b) < 40)
}

const GREEN: [u8; 3] = [0, 200, 0];
const RED: [u8; 3] = [220, 0, 0];
const BLUE: [u8; 3] = [0, 0, 200];

/// Where a frame shows the picture (the middle) and where the background (the left and
/// right edges: 40 of 320 pixels each side are pillarbox).
fn looks(f: &GridFrame) -> ([u8; 3], [u8; 3], [u8; 3]) {
    let row = 5 * 16;
    (f.cells[row], f.cells[row + 8], f.cells[row + 15])
}

fn slate_channel(dir: &Path, image: &Path, extra: &str) -> PathBuf {
    let playlist = write_playlist(dir, &[ItemSpec::slate("2s")]);
    ChannelFile::new("slate", &playlist)
        .slate(&format!(
            "image: {}, background: \"#0000c8\"",
            q(&image.display().to_string())
        ))
        .extra(extra)
        .write(dir)
}

#[test]
fn the_operators_picture_is_the_slate_letterboxed_on_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("break.png");
    picture(&image, "0x00c800");
    let ch = slate_channel(dir.path(), &image, "");
    let out = dir.path().join("out.flv");
    let run = unpaced_to_file(&ch, "3s", &out);
    assert!(run.status.success(), "{}", tail(&run.stderr, 30));
    let frames = grid_frames(&out);
    assert_eq!(frames.len(), 90, "3 s at 30 fps");
    let wrong: Vec<String> = frames
        .iter()
        .filter(|f| {
            let (l, m, r) = looks(f);
            !(near(l, BLUE) && near(m, GREEN) && near(r, BLUE))
        })
        .map(|f| format!("{:.3} s: {:?}", f.pts, looks(f)))
        .collect();
    println!("middle {:?}", frames.first().map(looks));
    assert!(
        wrong.is_empty(),
        "frames not green in a blue pillarbox: {wrong:?}"
    );
}

#[test]
fn check_names_the_place_and_the_problem_with_a_slate_picture() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.png");
    std::fs::write(&text, "not a picture at all").unwrap();
    let video = clip("red_4s");
    for (image, said) in [
        (dir.path().join("gone.png"), "cannot be read"),
        (text, "is not an image"),
        (video, "is not a still image"),
    ] {
        let ch = slate_channel(dir.path(), &image, "");
        let (status, out, err, _) = run_playout(&["check", ch.to_str().unwrap()]);
        let all = format!("{out}{err}");
        println!("{all}");
        assert!(!status.success(), "{} passed the check", image.display());
        assert!(
            all.contains("slate.image")
                && all.contains(&image.display().to_string())
                && all.contains(said)
                && all.contains("expected a PNG or JPEG file"),
            "{all}"
        );
    }
}

#[test]
fn a_reload_takes_a_new_picture_and_a_broken_one_keeps_the_slate_on_air() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("break.png");
    picture(&image, "0x00c800");
    let ch = slate_channel(dir.path(), &image, "");
    let out = dir.path().join("out.flv");
    let p = Playout::spawn(
        &[
            "run",
            ch.to_str().unwrap(),
            "--for",
            "14s",
            "--output",
            &format!("file:{}", out.display()),
        ],
        &[],
    );
    let on = p
        .wait_line_after(
            p.started,
            &["On air.", "item=Slate"],
            Duration::from_secs(30),
        )
        .map(|(t, _)| t)
        .unwrap_or_else(|| panic!("the slate never came on air:\n{}", tail(&p.stderr(), 20)));
    // A new picture at 3 s: red from the next slate slot on.
    thread::sleep((on + Duration::from_secs(3)).saturating_duration_since(Instant::now()));
    let fresh = dir.path().join("fresh.png");
    picture(&fresh, "0xdc0000");
    std::fs::rename(&fresh, &image).unwrap();
    let t_new = Instant::now();
    let taken = p.wait_line_after(t_new, &["Playlist reloaded."], Duration::from_secs(5));
    // A broken picture at 8 s: the reload is rejected, red stays.
    thread::sleep((on + Duration::from_secs(8)).saturating_duration_since(Instant::now()));
    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, "not a picture").unwrap();
    std::fs::rename(&broken, &image).unwrap();
    let t_bad = Instant::now();
    let refused = p.wait_line_after(
        t_bad,
        &["Reload rejected", "slate.image"],
        Duration::from_secs(5),
    );
    let run = p.wait(Duration::from_secs(60));
    println!("stderr:\n{}", tail(&run.stderr, 20));
    assert!(run.status.success());
    assert!(taken.is_some(), "the new picture was not reloaded");
    assert!(refused.is_some(), "the broken picture was not refused");
    let frames = grid_frames(&out);
    let middle: Vec<&str> = frames
        .iter()
        .map(|f| {
            let m = looks(f).1;
            if near(m, GREEN) {
                "green"
            } else if near(m, RED) {
                "red"
            } else {
                "other"
            }
        })
        .collect();
    let first_red = middle.iter().position(|c| *c == "red");
    println!(
        "{} frames; first red at {:?} s; others {}",
        frames.len(),
        first_red.map(|i| frames[i].pts),
        middle.iter().filter(|c| **c == "other").count()
    );
    let Some(i) = first_red else {
        panic!("the new picture never aired")
    };
    // Green until a slot boundary after the edit, then red to the end (the broken picture
    // changed nothing): one change, at a boundary.
    assert!(middle[..i].iter().all(|c| *c == "green"), "{middle:?}");
    assert!(middle[i..].iter().all(|c| *c == "red"), "{middle:?}");
    let at = frames[i].pts;
    assert!(
        (at / 2.0 - (at / 2.0).round()).abs() < 0.02,
        "changed at {at:.3} s, not at a 2 s slot boundary"
    );
    // The edit is at 3 s of air; the source, running ahead, adopts it at its next boundary.
    assert!((3.0..=10.5).contains(&at), "changed at {at:.3} s");
}

/// `clip`'s `slate.clip` channel: slate slots of `slot` each.
fn clip_channel(dir: &Path, clip: &Path, slot: &str) -> PathBuf {
    let playlist = write_playlist(dir, &[ItemSpec::slate(slot)]);
    ChannelFile::new("looped", &playlist)
        .slate(&format!("clip: {}", q(&clip.display().to_string())))
        .write(dir)
}

#[test]
fn a_slate_clip_loops_frame_by_frame_with_its_sound() {
    let dir = tempfile::tempdir().unwrap();
    let red = clip("red_4s");
    let ch = clip_channel(dir.path(), &red, "10s");
    let out = dir.path().join("out.flv");
    let run = unpaced_to_file(&ch, "10s", &out);
    assert!(run.status.success(), "{}", tail(&run.stderr, 30));
    let report = analyse(&out, 30, 1);
    println!("{report}");
    let mut expect = Expect::new(320, 180);
    expect.duration = Some(10.0);
    let mut failures = report.problems(&expect);
    let frames = grid_frames(&out);
    let shown: Vec<Option<u32>> = frames.iter().map(band_index).collect();
    let want: Vec<Option<u32>> = (0..300u32).map(|i| Some(i % 120)).collect();
    println!("slate clip frames: {}", runs(&frames, band_index));
    if shown != want {
        failures.push(format!(
            "expected the 4 s clip's frames 0..119, twice, then 0..59; got {}",
            runs(&frames, band_index)
        ));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_slate_clip_that_fails_on_air_gives_way_to_the_picture_and_says_so_once() {
    let dir = tempfile::tempdir().unwrap();
    // The red clip with its index first, cut to a third: it opens, then ends 2.7 s short.
    let whole = dir.path().join("whole.mp4");
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(clip("red_4s"))
        .args(["-c", "copy", "-movflags", "+faststart"])
        .arg(&whole)
        .status()
        .unwrap();
    assert!(st.success());
    let bytes = std::fs::read(&whole).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let ch = clip_channel(dir.path(), &cut, "3s");
    let out = dir.path().join("out.flv");
    let run = unpaced_to_file(&ch, "9s", &out);
    println!("{}", tail(&run.stderr, 30));
    assert!(run.status.success());
    let said = run.stderr.matches("The slate clip failed").count();
    let frames = grid_frames(&out);
    let red = frames.iter().filter(|f| is_red(f)).count();
    println!("{said} failure lines; {red} red frames of {}", frames.len());
    assert_eq!(said, 1, "the failure is said once");
    assert_eq!(frames.len(), 270, "9 s at 30 fps, unbroken");
    // The clip's first part aired, then the picture for the rest of the run.
    assert!((10..90).contains(&red), "{red} red frames");
    assert!(frames[frames.len() - 90..].iter().all(|f| !is_red(f)));
}

#[test]
fn check_names_the_problem_with_a_slate_clip_and_refuses_both_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not media at all").unwrap();
    let still = dir.path().join("still.png");
    picture(&still, "0x00c800");
    for (file, said) in [
        (dir.path().join("gone.mp4"), "cannot be read"),
        (text, "is not media"),
        (still.clone(), "has no video"),
    ] {
        let ch = clip_channel(dir.path(), &file, "2s");
        let (status, out, err, _) = run_playout(&["check", ch.to_str().unwrap()]);
        let all = format!("{out}{err}");
        println!("{all}");
        assert!(!status.success(), "{} passed the check", file.display());
        assert!(
            all.contains("slate.clip")
                && all.contains(&file.display().to_string())
                && all.contains(said),
            "{all}"
        );
    }
    let playlist = write_playlist(dir.path(), &[ItemSpec::slate("2s")]);
    let both = ChannelFile::new("both", &playlist)
        .slate(&format!(
            "image: {}, clip: {}",
            q(&still.display().to_string()),
            q(&clip("red_4s").display().to_string())
        ))
        .write(dir.path());
    let (status, out, err, _) = run_playout(&["check", both.to_str().unwrap()]);
    let all = format!("{out}{err}");
    assert!(
        !status.success() && all.contains("both image and clip are given"),
        "{all}"
    );
}
