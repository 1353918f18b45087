//! `overlay`: a logo over every item and the slate, at one place on the channel's frame
//! whatever the source's shape, translucent as configured; `overlay: false` per item; and a
//! new logo by reload, shown from the next item without a restart; and the lower third
//! (`text`) 0.5..2.0 s into each item.
//!
//! A paced run into nginx-rtmp of a 2.35:1 item (letterboxed), a 9:16 item (pillarboxed),
//! a slate and an item with `overlay: false`, looped; 12 s in the channel file is pointed at a
//! red logo. The recording is sampled twice a second at the logo's centre and beside it.
mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::fixtures::{ffmpeg, generated_once, lavfi_clip};
use common::*;

const W: u32 = 640;
const H: u32 = 360;
/// The slate's background.
const SLATE: [f64; 3] = [32.0, 32.0, 32.0];
const OPACITY: f64 = 0.8;
/// Logo: 0.12 × 640 = 76.8 → 76 px wide, 100x50 → 38 px tall; top-right, margin 24:
/// x 540..616, y 24..62. Sampled at its centre-ish (576, 28) inside the letterbox bar (the
/// 2.35:1 picture starts at y 44), and beside it: (532, 28) and (576, 18).
const CROP: (u32, u32, u32, u32) = (100, 50, 520, 10);
const LOGO_AT: (u32, u32) = (576, 28);
const BESIDE: [(u32, u32); 2] = [(532, 28), (576, 18)];
/// The loop: wide 3 s, tall 3 s, slate 2 s, plain (no logo) 2 s.
const LOOP: [(f64, &str); 4] = [(3.0, "wide"), (3.0, "tall"), (2.0, "slate"), (2.0, "plain")];
const RUN_S: f64 = 30.0;

fn media() -> std::path::PathBuf {
    generated_once("overlay-media", "v1", |dir| {
        let clip = |name: &str, size: &str| {
            lavfi_clip(
                &dir.join(name),
                &format!("testsrc2=size={size}:rate=30:duration=3"),
                "sine=frequency=440:sample_rate=48000:duration=3",
                "aac",
            )
        };
        clip("wide.mp4", "752x320");
        clip("tall.mp4", "180x320");
        for (name, colour) in [("green.png", "0x00ff00"), ("red.png", "0xff0000")] {
            ffmpeg(
                &[
                    "-f".into(),
                    "lavfi".into(),
                    "-i".into(),
                    format!("color=c={colour}:s=100x50,format=rgba"),
                    "-frames:v".into(),
                    "1".into(),
                ],
                &dir.join(name),
                name,
            );
        }
    })
}

fn channel_yaml(logo: &Path) -> String {
    ChannelFile::new("overlay", Path::new("overlay.playlist.yaml"))
        .video(&format!(
            "width: {W}, height: {H}, fps: 30, bitrate: 800k, preset: ultrafast, keyframe_interval: 2s"
        ))
        .slate("text: \"Back soon\", background: \"#202020\"")
        .extra(&format!(
            "overlay: {{ image: {}, position: top-right, margin: 24, opacity: {OPACITY}, scale: 0.12 }}\n\
             text: {{ template: \"{{title}} on {{channel}}\", position: bottom-left, from: 500ms, for: 1500ms }}\n",
            q(&logo.display().to_string())
        ))
        .text(Path::new("."))
}

/// The lower third's corner (bottom-left, inside the letterbox bar and the pillarbox).
const TEXT_CROP: (u32, u32, u32, u32) = (100, 24, 20, 320);

/// RGB of every `fps=2` sample of the crop: (time, pixels of the crop, row-major).
fn samples(rec: &Path, crop: (u32, u32, u32, u32)) -> Vec<(f64, Vec<u8>)> {
    let (cw, ch, cx, cy) = crop;
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(rec)
        .args(["-an", "-vf"])
        .arg(format!("fps=2,crop={cw}:{ch}:{cx}:{cy},format=rgb24"))
        .args(["-f", "rawvideo", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let size = (cw * ch * 3) as usize;
    o.stdout
        .chunks_exact(size)
        .enumerate()
        .map(|(i, f)| (i as f64 * 0.5, f.to_vec()))
        .collect()
}

/// The mean RGB of the 3x3 pixels around (x, y) (channel coordinates) in a crop.
fn rgb(frame: &[u8], (x, y): (u32, u32)) -> [f64; 3] {
    let (cw, _, cx, cy) = CROP;
    let mut sum = [0.0; 3];
    for dy in 0..3 {
        for dx in 0..3 {
            let (px, py) = (x - cx + dx - 1, y - cy + dy - 1);
            let i = ((py * cw + px) * 3) as usize;
            for c in 0..3 {
                sum[c] += frame[i + c] as f64;
            }
        }
    }
    sum.map(|s| s / 9.0)
}

fn near(a: [f64; 3], b: [f64; 3], tol: f64) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

fn blend(logo: [f64; 3], under: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|c| OPACITY * logo[c] + (1.0 - OPACITY) * under[c])
}

/// What plays at recording time `t` (the loop from channel time 0): its name, how far into
/// it `t` is and how much of it is left.
fn slot(t: f64) -> (&'static str, f64, f64) {
    let period: f64 = LOOP.iter().map(|(d, _)| d).sum();
    let mut at = t % period;
    for (d, name) in LOOP {
        if at < d {
            return (name, at, d - at);
        }
        at -= d;
    }
    ("plain", 0.0, 0.0)
}

#[test]
fn the_logo_sits_at_one_place_over_every_shape_and_changes_by_reload() {
    let media = media();
    let dir = tempfile::tempdir().unwrap();
    let clip = |n: &str| q(&media.join(n).display().to_string());
    fs::write(
        dir.path().join("overlay.playlist.yaml"),
        format!(
            "items:\n  - path: {}\n    title: wide\n  - path: {}\n    title: tall\n  - slate: 2s\n  - path: {}\n    title: plain\n    out: 2s\n    overlay: false\n",
            clip("wide.mp4"),
            clip("tall.mp4"),
            clip("wide.mp4"),
        ),
    )
    .unwrap();
    let ch = dir.path().join("overlay.yaml");
    fs::write(&ch, channel_yaml(&media.join("green.png"))).unwrap();
    let nginx = Nginx::start();
    let url = nginx.url("overlay");
    let ch_arg = ch.display().to_string();
    let for_ = format!("{RUN_S}s");
    let p = Playout::spawn(&["run", &ch_arg, "--output", &url, "--for", &for_], &[]);
    let (opened, _) = wait_line(&p, "Encoders open.", Duration::from_secs(20));
    // 12 s of channel time in: the second loop's wide item is on air.
    thread::sleep(Duration::from_secs(12).saturating_sub(opened.elapsed()));
    fs::write(&ch, channel_yaml(&media.join("red.png"))).unwrap();
    let edited = Instant::now();
    let (took, _) = wait_line(&p, "New overlay takes effect.", Duration::from_secs(10));
    println!(
        "reload: the red logo took effect {:.2} s after the edit",
        took.duration_since(edited).as_secs_f64()
    );
    let run = p.wait(Duration::from_secs(90));
    assert!(run.status.success(), "{}", tail(&run.stderr, 40));
    let rec = single_recording(&nginx, "overlay");

    let green = [0.0, 255.0, 0.0];
    let red = [255.0, 0.0, 0.0];
    let black = [0.0, 0.0, 0.0];
    let mut problems = Vec::new();
    let mut colours = Vec::new();
    let mut checked = 0;
    let mut shown = Vec::new();
    for (t, frame) in samples(&rec, CROP) {
        // A sample within a frame or two of a boundary may show either side.
        let (name, into, left) = slot(t);
        if left < 0.1 || into < 0.1 {
            continue;
        }
        let under = if name == "slate" { SLATE } else { black };
        let at = rgb(&frame, LOGO_AT);
        for b in BESIDE {
            let px = rgb(&frame, b);
            if !near(px, under, 14.0) {
                problems.push(format!("{t:.1} s ({name}): beside the logo at {b:?} is {px:?}, not the background {under:?}"));
            }
        }
        checked += 1;
        if name == "plain" {
            if !near(at, black, 14.0) {
                problems.push(format!(
                    "{t:.1} s (overlay: false): {at:?} where the logo would be"
                ));
            }
            continue;
        }
        let colour = if near(at, blend(green, under), 14.0) {
            "green"
        } else if near(at, blend(red, under), 14.0) {
            "red"
        } else {
            problems.push(format!(
                "{t:.1} s ({name}): {at:?} at the logo, expected {:?} or {:?}",
                blend(green, under),
                blend(red, under)
            ));
            continue;
        };
        colours.push((t, name, colour));
        if !shown.contains(&(name, colour)) {
            shown.push((name, colour));
            println!("{t:.1} s {name}: logo pixel {at:.0?} ({colour}; expected {:.0?}), beside it {:.0?}", blend(if colour == "red" { red } else { green }, under), rgb(&frame, BESIDE[0]));
        }
    }
    let first_red = colours
        .iter()
        .find(|(_, _, c)| *c == "red")
        .map(|(t, n, _)| (*t, *n));
    let last_green = colours
        .iter()
        .rev()
        .find(|(_, _, c)| *c == "green")
        .map(|(t, n, _)| (*t, *n));
    println!("{checked} samples checked; last green {last_green:?}, first red {first_red:?}");
    for shape in ["wide", "tall", "slate"] {
        let seen: Vec<_> = colours.iter().filter(|(_, n, _)| *n == shape).collect();
        println!(
            "{shape}: {} samples, logo {:?}",
            seen.len(),
            seen.iter()
                .map(|(_, _, c)| *c)
                .collect::<std::collections::BTreeSet<_>>()
        );
    }
    match (last_green, first_red) {
        (Some((g, gn)), Some((r, rn))) => {
            if g > r {
                problems.push(format!("green again at {g:.1} s after red at {r:.1} s"));
            }
            if gn == rn && r - g < 1.0 {
                problems.push(format!(
                    "the logo changed inside the {gn} item ({g:.1} → {r:.1} s)"
                ));
            }
            if !(10.0..=20.0).contains(&r) {
                problems.push(format!(
                    "the red logo first shows at {r:.1} s, not in the second loop"
                ));
            }
        }
        other => problems.push(format!("no change from green to red: {other:?}")),
    }
    assert!(checked >= 40, "only {checked} samples");

    // The lower third: white text in its box 0.5..2.0 s into each item with the overlay, none
    // after, none on the slate or the item with `overlay: false`.
    let (mut shown_in, mut absent_in) = (0, 0);
    for (t, frame) in samples(&rec, TEXT_CROP) {
        let (name, into, left) = slot(t);
        let brightest = frame.iter().copied().max().unwrap_or(0);
        let want = match name {
            "wide" | "tall" if (0.6..=1.9).contains(&into) => Some(true),
            "wide" | "tall" if into >= 2.1 && left > 0.1 => Some(false),
            "slate" | "plain" if into > 0.1 && left > 0.1 => Some(false),
            _ => None,
        };
        match want {
            Some(true) if brightest < 150 => problems.push(format!(
                "{t:.1} s ({name}, {into:.1} s in): no lower third (brightest {brightest})"
            )),
            Some(false) if brightest > 60 => problems.push(format!(
                "{t:.1} s ({name}, {into:.1} s in): text where there should be none (brightest {brightest})"
            )),
            Some(true) => shown_in += 1,
            Some(false) => absent_in += 1,
            None => {}
        }
    }
    println!("lower third: shown in {shown_in} samples where due, absent in {absent_in} where not");
    assert!(
        shown_in >= 10 && absent_in >= 10,
        "{shown_in} / {absent_in}"
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

fn wait_line(p: &Playout, text: &str, timeout: Duration) -> (Instant, String) {
    p.wait_line_after(p.started, &[text], timeout)
        .unwrap_or_else(|| panic!("no {text:?} in:\n{}", tail(&p.stderr(), 30)))
}
