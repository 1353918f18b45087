use super::*;

fn journal(on_air: Option<&Path>, busy: &[(&Path, During)], strikes: Vec<Strike>) -> Journal {
    Journal {
        pid: 1,
        started: "t".into(),
        ended: false,
        on_air: on_air.map(Path::to_path_buf),
        busy: busy
            .iter()
            .map(|(f, d)| InHand {
                file: f.to_path_buf(),
                during: *d,
            })
            .collect(),
        strikes,
    }
}

#[test]
fn two_abnormal_ends_in_a_row_quarantine_the_file_in_hand() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.mp4"), dir.path().join("b.mp4"));
    fs::write(&a, b"aaaa").unwrap();
    fs::write(&b, b"bb").unwrap();

    // A clean end, or no journal: nobody is blamed.
    let mut clean = journal(Some(&a), &[], Vec::new());
    clean.ended = true;
    assert_eq!(judge(Some(&clean), "now"), (Vec::new(), Vec::new()));
    assert_eq!(judge(None, "now"), (Vec::new(), Vec::new()));

    // First crash with `a` on air: one strike, no quarantine.
    let (s1, q1) = judge(Some(&journal(Some(&a), &[], Vec::new())), "now");
    assert_eq!((s1.len(), s1[0].crashes, q1.len()), (1, 1, 0));
    assert_eq!(s1[0].file, a);
    // Second crash with `a` on air: quarantined.
    let (s2, q2) = judge(Some(&journal(Some(&a), &[], s1.clone())), "now");
    assert!(s2.is_empty());
    assert_eq!(q2.len(), 1);
    assert_eq!(
        (q2[0].file.as_path(), q2[0].crashes, q2[0].during),
        (a.as_path(), 2, During::Play)
    );
    assert!(q2[0].applies());

    // A crash while `b` was being opened blames `b`, not `a` on air; and breaks `a`'s run.
    let (s3, q3) = judge(
        Some(&journal(Some(&a), &[(&b, During::Open)], s1.clone())),
        "now",
    );
    assert!(q3.is_empty());
    assert_eq!(s3.len(), 1);
    assert_eq!(
        (s3[0].file.as_path(), s3[0].during),
        (b.as_path(), During::Open)
    );

    // A crash on slate blames nobody.
    assert_eq!(
        judge(Some(&journal(None, &[], s1.clone())), "now").0,
        Vec::new()
    );

    // A file changed since its strike starts again from one.
    fs::write(&a, b"changed!").unwrap();
    let (s4, q4) = judge(Some(&journal(Some(&a), &[], s1)), "now");
    assert!(q4.is_empty());
    assert_eq!(s4[0].crashes, 1);
    // ...and an entry for the old file no longer applies.
    assert!(!q2[0].applies());
}

#[test]
fn list_round_trip_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ch.quarantine.json");
    assert_eq!(load(&path).unwrap(), Vec::new());
    let e = Entry {
        file: dir.path().join("x.mp4"),
        identity: Identity {
            size: 3,
            mtime_ns: 7,
        },
        since: "2026-12-06T00:00:00Z".into(),
        crashes: 2,
        during: During::Open,
    };
    save(&path, std::slice::from_ref(&e)).unwrap();
    assert_eq!(load(&path).unwrap(), vec![e.clone()]);
    assert!(e
        .reason()
        .contains("2 times in a row while the file was opened"));
    fs::write(&path, "{\"quarantined\": 3}").unwrap();
    let err = load(&path).unwrap_err().to_string();
    assert!(
        err.contains("ch.quarantine.json: not a quarantine list"),
        "{err}"
    );
    let p = Paths::beside(Path::new("/var/lib/playout/news.state.json"));
    assert_eq!(p.journal, Path::new("/var/lib/playout/news.journal.json"));
    assert_eq!(p.list, Path::new("/var/lib/playout/news.quarantine.json"));
}
