//! The content matrix through one channel: every fixture (good and broken) in one playlist,
//! 60 s of channel time unpaced, and the recording must be one unbroken 320x180@30 stream.
mod common;

use common::*;

/// Words that mark a log line as a failure report.
const FAILURE_WORDS: &[&str] = &[
    "error",
    "fail",
    "warn",
    "invalid",
    "skip",
    "cannot",
    "can't",
    "could not",
    "unable",
    "not found",
    "no such",
];

/// stderr lines naming `file` that read like a failure report.
fn failure_lines<'a>(stderr: &'a str, file: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|l| l.contains(file))
        .filter(|l| {
            let l = l.to_lowercase();
            FAILURE_WORDS.iter().any(|w| l.contains(w))
        })
        .collect()
}

#[test]
fn matrix_plays_as_one_continuous_stream() {
    common::heavy();
    let all = fixtures();
    // Interleave the broken files between good ones, so every failure sits between two items,
    // and put the explicit slate in the middle.
    let (bad, good): (Vec<&Fixture>, Vec<&Fixture>) = all
        .iter()
        .partition(|f| matches!(f.kind, Kind::Broken | Kind::Truncated));
    let mut order: Vec<Fixture> = Vec::new();
    let mut bad_iter = bad.iter();
    for (i, f) in good.iter().enumerate() {
        order.push((*f).clone());
        if i % 4 == 3 {
            if let Some(b) = bad_iter.next() {
                order.push((*b).clone());
            }
        }
    }
    order.extend(bad_iter.map(|b| (*b).clone()));
    let mut items = matrix_items(&order);
    items.insert(items.len() / 2, ItemSpec::slate("1s"));
    for (i, f) in order.iter().enumerate() {
        println!("item {i:>2}: {:<18} {:?}", f.name, f.kind);
    }

    let cr = run_channel("matrix", (320, 180), "30", &items, "60s", true);
    let wall = cr.run.wall.as_secs_f64();
    println!(
        "playout: 60 s of channel time in {wall:.2} s wall = {:.1}x real time",
        60.0 / wall
    );
    cr.assert_success();

    let rec = cr.recording();
    let report = analyse(&rec, 30, 1);
    println!("{report}");
    let errors = decode_errors(&rec);
    println!(
        "decode errors: {}",
        if errors.is_empty() { "none" } else { &errors }
    );

    // Every broken file is reported by name with a reason.
    let mut unreported = Vec::new();
    for f in all
        .iter()
        .filter(|f| matches!(f.kind, Kind::Broken | Kind::Truncated))
    {
        let file = f.path.file_name().unwrap().to_string_lossy().into_owned();
        let lines = failure_lines(&cr.run.stderr, &file);
        println!("{} ({:?}): {lines:#?}", f.name, f.kind);
        // A truncated mkv opens and plays what it has, then is reported as truncated.
        if lines.is_empty() {
            unreported.push(file);
        }
    }

    let mut expect = Expect::new(320, 180);
    expect.duration = Some(60.0);
    expect.keyframe_interval = Some(2.0);
    let problems = report.problems(&expect);
    assert!(problems.is_empty(), "recording problems: {problems:#?}");
    assert_eq!(errors, "", "decode errors in {}", rec.display());
    assert!(
        unreported.is_empty(),
        "stderr does not report these broken files: {unreported:?}\nstderr tail:\n{}",
        tail(&cr.run.stderr, 60)
    );
}
