//! A 29.97 fps channel fed 25 fps, 60 fps and variable-frame-rate clips: the output must step
//! exactly 1001/30000 s per frame throughout, with no audio holes.
mod common;

use common::*;

#[test]
fn ntsc_channel_is_continuous_across_mixed_rates() {
    common::heavy();
    let items = [
        ItemSpec::clip(&fixture("landscape_25").path).title("25 fps"),
        ItemSpec::clip(&fixture("fps_60").path).title("60 fps"),
        ItemSpec::clip(&fixture("vfr").path).title("VFR"),
        ItemSpec::slate("1s"),
    ];
    let cr = run_channel("ntsc", (320, 180), "29.97", &items, "20s", true);
    let wall = cr.run.wall.as_secs_f64();
    println!(
        "playout: 20 s in {wall:.2} s wall = {:.1}x real time",
        20.0 / wall
    );
    cr.assert_success();

    let rec = cr.recording();
    let (num, den) = fps_ratio("29.97");
    let report = analyse(&rec, num, den);
    println!("{report}");
    let errors = decode_errors(&rec);

    let mut expect = Expect::new(320, 180);
    expect.duration = Some(20.0);
    expect.keyframe_interval = Some(2.0);
    let problems = report.problems(&expect);
    assert!(problems.is_empty(), "recording problems: {problems:#?}");
    assert_eq!(errors, "", "decode errors in {}", rec.display());
}
