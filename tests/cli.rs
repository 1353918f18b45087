//! `playout check` and `playout probe` as an operator runs them.
mod common;

use std::fs;

use common::*;

#[test]
fn check_accepts_good_files_and_names_the_problem_in_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let playlist = write_playlist(dir.path(), &[ItemSpec::clip(&fixture("landscape_25").path)]);
    let channel = write_channel(dir.path(), "good", 320, 180, "30", &playlist, "");
    let (status, stdout, _, _) = run_playout(&[
        "check",
        channel.to_str().unwrap(),
        playlist.to_str().unwrap(),
    ]);
    assert!(status.success(), "{stdout}");
    assert!(stdout.contains("ok"), "{stdout}");

    let bad = dir.path().join("bad.playlist.yaml");
    fs::write(&bad, "items:\n  - path: a.mp4\n    in: 10s\n    out: 5s\n").unwrap();
    let odd = dir.path().join("odd.yaml");
    fs::write(
        &odd,
        format!(
            "name: x\nplaylist: {}\nvideo: {{ width: 17 }}\n",
            playlist.display()
        ),
    )
    .unwrap();
    let broken = dir.path().join("broken.yaml");
    fs::write(&broken, "items: [\n  - path: a.mp4\n").unwrap();
    for (file, words) in [
        (&bad, vec!["bad.playlist.yaml", "items[0]", "out"]),
        (&odd, vec!["odd.yaml", "video.width", "17"]),
        (&broken, vec!["broken.yaml", "line"]),
    ] {
        let (status, stdout, stderr, wall) = run_playout(&["check", file.to_str().unwrap()]);
        println!("{stdout}{stderr}");
        assert_eq!(
            status.code(),
            Some(1),
            "{} must be rejected",
            file.display()
        );
        for w in words {
            assert!(stdout.contains(w), "{w:?} not in {stdout:?}");
        }
        assert!(wall.as_secs() < 5);
    }
}

#[test]
fn probe_says_what_the_channel_will_do() {
    let cases = [
        ("mpeg2_interlaced", "deinterlace"),
        ("rotated_90", "rotate"),
        ("surround_51", "downmix 6 channels to 2"),
        ("mono_44k", "resample audio 44100 Hz to 48000 Hz"),
        ("vertical", "pillarbox"),
        ("no_audio", "no audio: silence"),
        ("audio_only", "slate is shown under the audio"),
        ("h264_10bit", "to yuv420p"),
        ("fps_60", "frame rate 60 to 30"),
        ("still", "still image"),
    ];
    for (name, words) in cases {
        let f = fixture(name);
        let (status, stdout, _, _) = run_playout(&["probe", f.path.to_str().unwrap()]);
        println!("{stdout}");
        assert!(status.success(), "{name}: {stdout}");
        assert!(stdout.contains(words), "{name}: {words:?} not in\n{stdout}");
    }
    let broken = fixture("random");
    let (status, stdout, _, _) = run_playout(&["probe", broken.path.to_str().unwrap()]);
    println!("{stdout}");
    assert_eq!(status.code(), Some(1));
    assert!(
        stdout.contains("will be replaced by slate because"),
        "{stdout}"
    );
}
