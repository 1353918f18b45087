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
    let run = run_playout_timeout(
        &[
            "run",
            ch.to_str().unwrap(),
            "--unpaced",
            "--for",
            "3s",
            "--output",
            &format!("file:{}", out.display()),
        ],
        Duration::from_secs(60),
    );
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
    assert!((3.0..8.0).contains(&at), "changed at {at:.3} s");
}
