//! When a waiting publisher goes on air: `live.takeover` against the playlist's live events.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::config::{parse_listen, LiveSettings};
use crate::lineup::{build, Durations};
use crate::live::{LiveAir, Shared};
use crate::playlist::Playlist;
use crate::schedule::{parse_instant, resolve, Anchor, SlotKind};

fn feed(takeover: Takeover) -> LiveFeed {
    let (_tx, rx) = crossbeam_channel::bounded(1);
    let settings = LiveSettings {
        listen: parse_listen("srt://127.0.0.1:9000").unwrap(),
        timeout: Micros::from_secs(1),
        rejoin: Micros::from_secs(5),
        takeover,
        early: Micros::from_secs(3600),
        title: "Studio".into(),
    };
    let input = LiveInput {
        settings,
        units: rx,
        shared: Arc::new(Shared::default()),
        air: Arc::new(LiveAir::default()),
    };
    LiveFeed::new(input, Micros::ZERO, Instant::now())
}

fn lineup(events: &str) -> Lineup {
    let text = format!("items:\n  - slate: 10s\n    title: Filler\n{events}");
    let p = Playlist::parse(&text, Path::new("/tmp/p.yaml")).unwrap();
    build(
        Arc::new(p),
        chrono_tz::UTC,
        Micros::from_secs(5),
        &mut Durations::default(),
    )
}

const EVENTS: &str = "events:\n  - at: 2026-12-06T20:00:00Z\n    live: true\n    duration: 1h\n    title: Evening show\n  - at: 2026-12-06T22:00:00Z\n    slate: 5m\n    title: Notice\n";

fn at(s: &str) -> Micros {
    parse_instant(s).unwrap()
}

fn slot_at(l: &Lineup, t: &str) -> Slot {
    let anchor = Anchor {
        at: at("2026-12-06T00:00:00Z"),
        index: 0,
    };
    resolve(&l.schedule, anchor, at(t))
}

#[test]
fn auto_with_no_live_events_takes_over_at_once_for_as_long_as_the_publisher() {
    let (f, l) = (feed(Takeover::Auto), lineup(""));
    let a = f.admit(&l, &slot_at(&l, "2026-12-06T19:00:03Z")).unwrap();
    assert_eq!((a.title, a.until), ("Studio", None));
}

#[test]
fn auto_with_live_events_airs_only_during_them_and_until_their_end() {
    let (f, l) = (feed(Takeover::Auto), lineup(EVENTS));
    assert!(l.has_live_events());
    // Early: the rotation plays, the publisher waits.
    let before = slot_at(&l, "2026-12-06T19:59:58Z");
    assert!(matches!(before.kind, SlotKind::Gap | SlotKind::Rotation(_)));
    assert!(f.admit(&l, &before).is_none());
    let during = slot_at(&l, "2026-12-06T20:30:00Z");
    assert_eq!(l.live_event(during.kind), Some("Evening show"));
    let a = f.admit(&l, &during).unwrap();
    assert_eq!(
        (a.title, a.until),
        ("Evening show", Some(at("2026-12-06T21:00:00Z")))
    );
    // After it, and in an ordinary event: off the air.
    assert!(f.admit(&l, &slot_at(&l, "2026-12-06T21:00:01Z")).is_none());
    let notice = slot_at(&l, "2026-12-06T22:01:00Z");
    assert_eq!(l.describe(notice.kind).0, "Notice");
    assert!(f.admit(&l, &notice).is_none());
    // A one-off event: none after it has started.
    assert_eq!(l.next_live_event(at("2026-12-06T20:00:01Z")), None);
    assert_eq!(
        l.next_live_event(at("2026-12-06T19:00:00Z")),
        Some(at("2026-12-06T20:00:00Z"))
    );
}

#[test]
fn always_takes_over_at_once_and_outlasts_the_event() {
    let (f, l) = (feed(Takeover::Always), lineup(EVENTS));
    let early = f.admit(&l, &slot_at(&l, "2026-12-06T19:59:58Z")).unwrap();
    assert_eq!((early.title, early.until), ("Studio", None));
    let during = f.admit(&l, &slot_at(&l, "2026-12-06T20:10:00Z")).unwrap();
    assert_eq!((during.title, during.until), ("Evening show", None));
}

#[test]
fn a_daily_live_event_comes_round_again() {
    let l = lineup("events:\n  - at: \"20:00\"\n    live: true\n    duration: 30m\n");
    assert_eq!(
        l.next_live_event(at("2026-12-06T20:00:01Z")),
        Some(at("2026-12-07T20:00:00Z"))
    );
    let s = slot_at(&l, "2026-12-07T20:29:59Z");
    assert_eq!(l.describe(s.kind), ("Live", crate::lineup::Kind::Live));
}
