//! Live events in the playlist file: `live: true` with a duration, and what it refuses.

use std::path::Path;

use super::*;
use crate::playlist::{parse_all, Playlist};
use crate::schedule::When;

const FILE: &str = "/srv/tv/demo.playlist.yaml";

fn errors(text: &str) -> Vec<String> {
    parse_all(text, Path::new(FILE))
        .unwrap_err()
        .iter()
        .map(|e| format!("{}: {}", e.place, e.message))
        .collect()
}

#[test]
fn a_live_event_has_a_time_a_duration_and_a_title() {
    let p = Playlist::parse(
        "items:\n  - slate: 10s\nevents:\n  - at: \"20:00\"\n    live: true\n    duration: 1h\n    title: Evening show\n  - at: 2026-12-24T20:00:00Z\n    live: true\n    duration: 90s\n",
        Path::new(FILE),
    )
    .unwrap();
    assert_eq!(p.events.len(), 2);
    let l = p.events[0].live().expect("a live event");
    assert_eq!(l.duration, Micros::from_secs(3600));
    assert_eq!(l.title, "Evening show");
    assert_eq!(
        p.events[0].at,
        When::Daily(chrono::NaiveTime::from_hms_opt(20, 0, 0).unwrap())
    );
    assert!(p.events[0].media().is_none());
    // No title: "Live".
    let l = p.events[1].live().unwrap();
    assert_eq!(
        (l.title.as_str(), l.duration),
        ("Live", Micros::from_secs(90))
    );
}

#[test]
fn a_live_event_without_duration_or_with_media_fields_is_refused_by_place() {
    let e = errors("items:\n  - slate: 1s\nevents:\n  - at: \"20:00\"\n    live: true\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("events[0]: the live event has no `duration`"),
        "{e:?}"
    );
    let e = errors(
        "items:\n  - slate: 1s\nevents:\n  - at: \"20:00\"\n    live: true\n    duration: 1h\n    path: a.mp4\n    gain_db: 3\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("events[0].path: a live event takes no `path`"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("events[0].gain_db: a live event takes no `gain_db`"),
        "{e:?}"
    );
    let e = errors(
        "items:\n  - slate: 1s\nevents:\n  - at: \"20:00\"\n    live: true\n    duration: 0s\n",
    );
    assert!(
        e[0].starts_with("events[0].duration: 0s is out of range"),
        "{e:?}"
    );
    let e = errors("items:\n  - slate: 1s\nevents:\n  - at: \"8pm\"\n    live: true\n    duration: 1h\n    title: \"\"\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e.iter()
            .any(|m| m.starts_with("events[0].at: \"8pm\" is not a time")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("events[0].title: the title is empty")),
        "{e:?}"
    );
}

#[test]
fn only_an_event_can_be_live() {
    let e = errors("items:\n  - live: true\n    duration: 1h\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("live"), "{e:?}");
    // `live: false` is an ordinary event, which needs its media or slate.
    let e = errors(
        "items:\n  - slate: 1s\nevents:\n  - at: \"20:00\"\n    live: false\n    duration: 1h\n",
    );
    assert!(e[0].contains("neither `path` nor `slate`"), "{e:?}");
}
