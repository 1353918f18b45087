//! The scheduler in simulated time: properties over random rotations and events, and the
//! 2026 daylight-saving changes in Europe/Berlin.

use proptest::prelude::*;

use super::*;

fn at(s: &str) -> Micros {
    parse_instant(s).unwrap()
}

fn entry(i: usize, secs: i64) -> Entry {
    Entry {
        title: format!("item {i}"),
        kind: EntryKind::Media(i),
        duration: Micros::from_secs(secs),
    }
}

fn daily(hms: &str, secs: i64) -> Event {
    Event {
        when: When::Daily(NaiveTime::parse_from_str(hms, "%H:%M:%S").unwrap()),
        title: format!("daily {hms}"),
        duration: Micros::from_secs(secs),
    }
}

fn sched(rotation: Vec<Entry>, events: Vec<Event>, tz: &str) -> Schedule {
    Schedule {
        rotation,
        events,
        tz: tz.parse().unwrap(),
    }
}

fn anchor(s: &str) -> Anchor {
    Anchor {
        at: at(s),
        index: 0,
    }
}

#[test]
fn the_rotation_loops_from_the_anchor() {
    let s = sched(vec![entry(0, 10), entry(1, 20)], vec![], "UTC");
    let a = anchor("2026-01-01T00:00:00Z");
    let r = resolve(&s, a, at("2026-01-01T00:00:25Z"));
    assert_eq!(r.kind, SlotKind::Rotation(1));
    assert_eq!(
        (r.start, r.end),
        (at("2026-01-01T00:00:10Z"), at("2026-01-01T00:00:30Z"))
    );
    // A year later: whole cycles are skipped, not walked, and the answer is still exact.
    let r = resolve(&s, a, at("2027-01-01T00:00:05Z"));
    assert_eq!(r.kind, SlotKind::Rotation(0));
    assert_eq!(r.start, at("2027-01-01T00:00:00Z"));
}

#[test]
fn an_item_that_would_overrun_an_event_is_not_started() {
    let s = sched(vec![entry(0, 40)], vec![daily("00:01:00", 30)], "UTC");
    let a = anchor("2026-01-01T00:00:00Z");
    let v = slots(&s, a, a.at, at("2026-01-01T00:03:00Z"), usize::MAX);
    let kinds: Vec<_> = v.iter().map(|s| (s.kind, rfc3339(s.start))).collect();
    assert_eq!(
        kinds,
        vec![
            (SlotKind::Rotation(0), "2026-01-01T00:00:00Z".to_string()),
            (SlotKind::Gap, "2026-01-01T00:00:40Z".to_string()),
            (SlotKind::Event(0), "2026-01-01T00:01:00Z".to_string()),
            (SlotKind::Rotation(0), "2026-01-01T00:01:30Z".to_string()),
            (SlotKind::Rotation(0), "2026-01-01T00:02:10Z".to_string()),
            (SlotKind::Rotation(0), "2026-01-01T00:02:50Z".to_string()),
        ]
    );
}

#[test]
fn after_an_event_the_rotation_resumes_with_the_next_item() {
    let s = sched(
        vec![entry(0, 25), entry(1, 25), entry(2, 25)],
        vec![daily("00:01:00", 10)],
        "UTC",
    );
    let a = anchor("2026-01-01T00:00:00Z");
    // 0 [0,25) 1 [25,50) gap [50,60) event [60,70) then 2, not 0.
    let r = resolve(&s, a, at("2026-01-01T00:01:10Z"));
    assert_eq!(r.kind, SlotKind::Rotation(2));
}

#[test]
fn listings_stop_at_their_cap() {
    let s = sched(vec![entry(0, 1)], vec![], "UTC");
    let a = anchor("2026-01-01T00:00:00Z");
    let v = slots(&s, a, a.at, at("2026-01-02T00:00:00Z"), 100);
    assert_eq!(v.len(), 100);
    assert_eq!(v[99].end, at("2026-01-01T00:01:40Z"));
}

#[test]
fn a_channel_started_during_an_event_joins_it() {
    let s = sched(vec![entry(0, 10)], vec![daily("20:00:00", 3600)], "UTC");
    let a = anchor("2026-05-01T20:10:00Z");
    let r = resolve(&s, a, a.at);
    assert_eq!(r.kind, SlotKind::Event(0));
    assert_eq!(r.start, at("2026-05-01T20:00:00Z"));
    assert_eq!(r.end, at("2026-05-01T21:00:00Z"));
}

#[test]
fn a_later_event_cuts_an_earlier_one_short() {
    let s = sched(
        vec![entry(0, 10)],
        vec![daily("10:00:00", 3600), daily("10:30:00", 60)],
        "UTC",
    );
    let a = anchor("2026-05-01T09:59:00Z");
    let v = slots(
        &s,
        a,
        at("2026-05-01T10:00:00Z"),
        at("2026-05-01T10:32:00Z"),
        usize::MAX,
    );
    assert_eq!(v[0].kind, SlotKind::Event(0));
    assert_eq!(v[0].end, at("2026-05-01T10:30:00Z"));
    assert_eq!(v[1].kind, SlotKind::Event(1));
}

#[test]
fn events_only_is_a_daily_schedule_with_slate_between() {
    let s = sched(
        vec![],
        vec![daily("08:00:00", 600), daily("20:00:00", 600)],
        "UTC",
    );
    let a = anchor("2026-05-01T00:00:00Z");
    let v = slots(&s, a, a.at, at("2026-05-02T00:00:00Z"), usize::MAX);
    let kinds: Vec<_> = v.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            SlotKind::Gap,
            SlotKind::Event(0),
            SlotKind::Gap,
            SlotKind::Event(1),
            SlotKind::Gap
        ]
    );
}

#[test]
fn daily_events_keep_their_local_time_across_both_2026_berlin_changes() {
    // Summer time starts 2026-03-29 (02:00 → 03:00) and ends 2026-10-25 (03:00 → 02:00).
    let s = sched(
        vec![entry(0, 7)],
        vec![daily("20:00:00", 60)],
        "Europe/Berlin",
    );
    let a = anchor("2026-03-27T00:00:00Z");
    for (day, utc) in [
        ("2026-03-28", "2026-03-28T19:00:00Z"),
        ("2026-03-29", "2026-03-29T18:00:00Z"),
        ("2026-10-24", "2026-10-24T18:00:00Z"),
        ("2026-10-25", "2026-10-25T19:00:00Z"),
    ] {
        let r = resolve(&s, a, at(utc));
        assert_eq!(r.kind, SlotKind::Event(0), "{day}");
        assert_eq!(rfc3339(r.start), utc, "{day}: 20:00 Berlin");
    }
    // 02:30 does not exist on 2026-03-29: the event happens at 03:00 local, 01:00 UTC.
    let s = sched(
        vec![entry(0, 7)],
        vec![daily("02:30:00", 60)],
        "Europe/Berlin",
    );
    let when = occurrence_at_or_after(s.events[0].when, s.tz, at("2026-03-29T00:00:00Z"));
    assert_eq!(rfc3339(when.unwrap()), "2026-03-29T01:00:00Z");
    // 02:30 happens twice on 2026-10-25: the first one counts (00:30 UTC).
    let when = occurrence_at_or_after(s.events[0].when, s.tz, at("2026-10-25T00:00:00Z"));
    assert_eq!(rfc3339(when.unwrap()), "2026-10-25T00:30:00Z");
}

fn arb_schedule() -> impl Strategy<Value = Schedule> {
    let rotation = prop::collection::vec(1i64..600, 0..6);
    let events = prop::collection::vec((0u32..86_400, 1i64..7200, any::<bool>()), 0..4);
    let tz = prop::sample::select(vec![
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Asia/Kolkata",
    ]);
    (rotation, events, tz).prop_map(|(rot, ev, tz)| {
        let rotation = rot.iter().enumerate().map(|(i, d)| entry(i, *d)).collect();
        let events = ev
            .iter()
            .map(|(secs, dur, once)| Event {
                when: if *once {
                    When::Once(Micros(
                        at("2026-03-28T00:00:00Z").0 + *secs as i64 * 3_000_000,
                    ))
                } else {
                    When::Daily(NaiveTime::from_num_seconds_from_midnight_opt(*secs, 0).unwrap())
                },
                title: "e".into(),
                duration: Micros::from_secs(*dur),
            })
            .collect();
        sched(rotation, events, tz)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn slots_tile_time_and_events_start_on_time(s in arb_schedule(),
                                                 start_off in 0i64..86_400,
                                                 span_h in 1i64..72) {
        let a = Anchor { at: Micros(at("2026-03-27T00:00:00Z").0 + start_off * 1_000_000), index: 0 };
        let from = Micros(a.at.0 + 3_600_000_000);
        let to = Micros(from.0 + span_h * 3_600_000_000);
        let v = slots(&s, a, from, to, usize::MAX);
        prop_assert!(v[0].start <= from && v[0].end > from);
        prop_assert!(v.last().unwrap().end >= to);
        for w in v.windows(2) {
            prop_assert_eq!(w[0].end, w[1].start, "slots tile: no gap, no overlap");
        }
        for slot in &v {
            prop_assert!(slot.end > slot.start, "no empty or negative slot: {:?}", slot);
        }
        // Every event occurrence inside the window starts a slot exactly on time.
        for (i, e) in s.events.iter().enumerate() {
            let mut t = from;
            while let Some(o) = occurrence_at_or_after(e.when, s.tz, t) {
                if o >= to { break; }
                let hit = v.iter().any(|sl| sl.start == o && matches!(sl.kind, SlotKind::Event(_)));
                prop_assert!(hit, "event {} at {} has no slot", i, rfc3339(o));
                t = Micros(o.0 + 1);
            }
        }
        // resolve agrees with the listing at random points, and gives the same answer twice.
        for k in 0..8 {
            let now = Micros(from.0 + (to.0 - from.0) / 8 * k);
            let r = resolve(&s, a, now);
            prop_assert_eq!(r, resolve(&s, a, now));
            prop_assert!(r.start <= now && now < r.end);
            let listed = v.iter().find(|sl| sl.start <= now && now < sl.end).unwrap();
            prop_assert_eq!(r.start, listed.start);
            prop_assert_eq!(r.kind, listed.kind);
        }
    }
}
