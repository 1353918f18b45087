//! A paced run follows the wall clock: `--for 10s` takes 10 s and records 10 s.
mod common;

use common::*;

#[test]
fn paced_run_follows_the_wall_clock() {
    let items = [
        ItemSpec::clip(&fixture("landscape_25").path),
        ItemSpec::clip(&fixture("fps_2997").path),
    ];
    let cr = run_channel("paced", (320, 180), "30", &items, "10s", false);
    let wall = cr.run.wall.as_secs_f64();
    println!("playout: --for 10s took {wall:.2} s wall");
    cr.assert_success();

    let rec = cr.recording();
    let report = analyse(&rec, 30, 1);
    println!("{report}");

    assert!(
        (wall - 10.0).abs() <= 1.0,
        "a paced 10 s run took {wall:.2} s wall"
    );
    let mut expect = Expect::new(320, 180);
    expect.duration = Some(10.0);
    let problems = report.problems(&expect);
    assert!(problems.is_empty(), "recording problems: {problems:#?}");
}
