use std::path::PathBuf;

use super::writer::{append, prune};
use super::*;
use crate::schedule::parse_instant;

fn at(s: &str) -> Micros {
    parse_instant(s).unwrap()
}

fn entry(start: &str, end: &str, title: &str, reason: Reason) -> Entry {
    Entry {
        start: at(start),
        end: at(end),
        kind: Kind::Item,
        title: title.into(),
        path: Some(PathBuf::from(format!("/media/{title}.mp4"))),
        planned_start: at(start),
        reason,
    }
}

#[test]
fn a_line_reads_back_as_the_entry_it_was() {
    let mut e = entry(
        "2026-12-07T10:00:00.033333Z",
        "2026-12-07T10:00:30.066667Z",
        "News, \"late\" edition",
        Reason::Failed("decode error, at 12 s".into()),
    );
    e.kind = Kind::Copy;
    let line = e.csv_line();
    assert!(line.starts_with("2026-12-07T10:00:00.033333Z,2026-12-07T10:00:30.066667Z,30.033334,copy,\"News, \"\"late\"\" edition\","), "{line}");
    assert_eq!(Entry::parse(&line), Some(e.clone()));
    for r in [
        Reason::Played,
        Reason::Skipped,
        Reason::CutByEvent,
        Reason::PlayNow,
        Reason::Quarantined,
        Reason::Live,
        Reason::LiveEnded,
        Reason::Stopped,
    ] {
        let e = Entry {
            reason: r.clone(),
            path: None,
            ..e.clone()
        };
        assert_eq!(Entry::parse(&e.csv_line()), Some(e));
    }
    // The header and a line cut short by a crash are not entries.
    assert_eq!(Entry::parse(HEADER), None);
    assert_eq!(Entry::parse(&line[..line.len() / 2]), None);
}

#[test]
fn day_files_hold_their_entries_and_a_span_reads_across_midnight() {
    let dir = tempfile::tempdir().unwrap();
    let a = entry(
        "2026-12-06T23:59:00Z",
        "2026-12-07T00:01:00Z",
        "A",
        Reason::Played,
    );
    let b = entry(
        "2026-12-07T00:01:00Z",
        "2026-12-07T00:02:00Z",
        "B",
        Reason::Skipped,
    );
    let c = entry(
        "2026-12-08T09:00:00Z",
        "2026-12-08T09:01:00Z",
        "C",
        Reason::Played,
    );
    for e in [&a, &b, &c] {
        append(dir.path(), day_of(e.start), e).unwrap();
    }
    let day7 = std::fs::read_to_string(file_of(dir.path(), day_of(b.start))).unwrap();
    assert_eq!(day7, format!("{HEADER}\n{}", b.csv_line()));
    let got = read(
        dir.path(),
        at("2026-12-07T00:00:00Z"),
        at("2026-12-08T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(got, [a.clone(), b.clone()]);
    let got = read(
        dir.path(),
        at("2026-12-08T09:00:30Z"),
        at("2026-12-09T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(got, std::slice::from_ref(&c));
    assert_eq!(
        to_csv(std::slice::from_ref(&a)),
        format!("{HEADER}\n{}", a.csv_line())
    );
    // A crash mid-line leaves a torn last line: it is skipped, the rest still reads.
    let path = file_of(dir.path(), day_of(c.start));
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("2026-12-08T09:01:00Z,2026-12-08T09:0");
    std::fs::write(&path, text).unwrap();
    assert_eq!(
        read(
            dir.path(),
            at("2026-12-08T00:00:00Z"),
            at("2026-12-09T00:00:00Z")
        )
        .unwrap(),
        [c]
    );
}

#[test]
fn files_older_than_keep_are_removed_and_others_left() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "2026-09-01.csv",
        "2026-09-08.csv",
        "2026-12-07.csv",
        "notes.txt",
    ] {
        std::fs::write(dir.path().join(name), "x").unwrap();
    }
    let today = day_of(at("2026-12-07T12:00:00Z"));
    prune(dir.path(), today, Micros::from_secs(90 * 86_400));
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["2026-09-08.csv", "2026-12-07.csv", "notes.txt"]);
}

#[test]
fn the_folder_sits_beside_the_state_file() {
    assert_eq!(
        dir_beside(std::path::Path::new("/var/lib/playout/news.state.json")),
        PathBuf::from("/var/lib/playout/news.asrun")
    );
}
