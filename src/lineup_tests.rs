use super::*;
use crate::playlist::SlateItem;
use crate::schedule::parse_instant;

fn media(t: &str) -> Item {
    Item::Media(MediaItem {
        path: format!("/m/{t}.mp4").into(),
        title: t.into(),
        in_point: Micros::ZERO,
        out_point: None,
        duration: Some(Micros::from_secs(10)),
        gain_mdb: None,
        loudness: true,
        overlay: true,
    })
}

fn lineup(items: Vec<Item>) -> Lineup {
    let playlist = Arc::new(Playlist {
        file: "/p.yaml".into(),
        items,
        events: vec![],
        takes_effect: None,
    });
    build(
        playlist,
        chrono_tz::UTC,
        Micros::from_secs(2),
        &mut Durations::default(),
    )
}

fn title_at(l: &Lineup, i: usize) -> &str {
    &l.schedule.rotation[i].title
}

#[test]
fn after_a_reload_the_rotation_follows_the_new_list() {
    let old = lineup(vec![media("A"), media("B"), media("C")]);
    // Reordered: after A comes C in the new list.
    let new = lineup(vec![media("A"), media("C"), media("B")]);
    assert_eq!(title_at(&new, continue_index(&old, &new, Some(0))), "C");
    // B (on air) deleted: the item now at B's position.
    let new = lineup(vec![media("A"), media("C")]);
    assert_eq!(title_at(&new, continue_index(&old, &new, Some(1))), "C");
    // C (last) deleted: wraps to the start.
    let new = lineup(vec![media("A"), media("B")]);
    assert_eq!(title_at(&new, continue_index(&old, &new, Some(2))), "A");
    // A new item after A.
    let new = lineup(vec![media("A"), media("X"), media("B"), media("C")]);
    assert_eq!(title_at(&new, continue_index(&old, &new, Some(0))), "X");
    // Slates match by length and title.
    let s = |d| {
        Item::Slate(SlateItem {
            duration: Micros::from_secs(d),
            title: "Break".into(),
        })
    };
    let old = lineup(vec![media("A"), s(5), media("B")]);
    let new = lineup(vec![s(5), media("B"), media("A")]);
    assert_eq!(title_at(&new, continue_index(&old, &new, Some(1))), "B");
    assert_eq!(continue_index(&old, &new, None), 0);
}

#[test]
fn a_succeeded_timeline_keeps_the_past_and_tiles_across_the_handover() {
    let at = |s| parse_instant(s).unwrap();
    let old = Timeline::new(
        Arc::new(lineup(vec![media("A"), media("B")])),
        Anchor {
            at: at("2026-01-01T00:00:00Z"),
            index: 0,
        },
    );
    let new = old.succeed(
        Arc::new(lineup(vec![media("X")])),
        Anchor {
            at: at("2026-01-01T00:00:25Z"),
            index: 0,
        },
    );
    // The files do not exist, so each item holds the 2 s failure slate: A B A B …
    // Before the handover the old lineup answers, cut at the handover.
    let (slot, l) = new.resolve(at("2026-01-01T00:00:24.5Z"));
    assert_eq!(l.describe(slot.kind).0, "A");
    assert_eq!(slot.start, at("2026-01-01T00:00:24Z"));
    assert_eq!(slot.end, at("2026-01-01T00:00:25Z"));
    let (slot, l) = new.resolve(at("2026-01-01T00:00:26Z"));
    assert_eq!(l.describe(slot.kind).0, "X");
    let v = new.slots(at("2026-01-01T00:00:21Z"), at("2026-01-01T00:00:30Z"), 100);
    for w in v.windows(2) {
        assert_eq!(w[0].0.end, w[1].0.start, "tiles across the handover");
    }
    let titles: Vec<&str> = v.iter().map(|(s, l)| l.describe(s.kind).0).collect();
    assert_eq!(titles, ["A", "B", "A", "X", "X", "X"]);
    assert_eq!(v[3].0.start, at("2026-01-01T00:00:25Z"));
}

#[test]
fn a_second_handover_at_the_same_instant_keeps_the_first_past() {
    // A reload adopted at a frame, then a skip at that same frame: the skip's timeline must
    // still answer for the time before it from the timeline before the reload.
    let at = |s| parse_instant(s).unwrap();
    let old = Timeline::new(
        Arc::new(lineup(vec![media("A"), media("B")])),
        Anchor {
            at: at("2026-01-01T00:00:00Z"),
            index: 0,
        },
    );
    let handover = Anchor {
        at: at("2026-01-01T00:00:25Z"),
        index: 0,
    };
    let reloaded = old.succeed(Arc::new(lineup(vec![media("X"), media("Y")])), handover);
    let skipped = reloaded.succeed(
        reloaded.lineup.clone(),
        Anchor {
            index: 1,
            ..handover
        },
    );
    let (slot, l) = skipped.resolve(at("2026-01-01T00:00:24.5Z"));
    assert_eq!(l.describe(slot.kind).0, "A");
    assert_eq!(slot.start, at("2026-01-01T00:00:24Z"));
    let (slot, l) = skipped.resolve(at("2026-01-01T00:00:25.5Z"));
    assert_eq!(l.describe(slot.kind).0, "Y");
    // A later handover keeps the one before it, as always.
    let later = skipped.succeed(
        skipped.lineup.clone(),
        Anchor {
            at: at("2026-01-01T00:00:27Z"),
            index: 0,
        },
    );
    let (slot, l) = later.resolve(at("2026-01-01T00:00:26Z"));
    assert_eq!(l.describe(slot.kind).0, "Y");
}

#[test]
fn two_handovers_back_still_answer_for_their_spans() {
    // A reload adopted at 25 s, and the next one published (for 35 s) while the air is still
    // before 25 s: each span is answered by the timeline that scheduled it.
    let at = |s: &str| parse_instant(s).unwrap();
    let first = Timeline::new(
        Arc::new(lineup(vec![media("A"), media("B")])),
        Anchor {
            at: at("2026-01-01T00:00:00Z"),
            index: 0,
        },
    );
    let second = first.succeed(
        Arc::new(lineup(vec![media("X")])),
        Anchor {
            at: at("2026-01-01T00:00:25Z"),
            index: 0,
        },
    );
    let third = second.succeed(
        Arc::new(lineup(vec![media("Y")])),
        Anchor {
            at: at("2026-01-01T00:00:35Z"),
            index: 0,
        },
    );
    let title = |t: &str| {
        let (slot, l) = third.resolve(at(t));
        (l.describe(slot.kind).0.to_string(), slot.start <= at(t))
    };
    assert_eq!(title("2026-01-01T00:00:24.5Z"), ("A".into(), true));
    assert_eq!(title("2026-01-01T00:00:30Z"), ("X".into(), true));
    assert_eq!(title("2026-01-01T00:00:36Z"), ("Y".into(), true));
    let v = third.slots(at("2026-01-01T00:00:23Z"), at("2026-01-01T00:00:38Z"), 100);
    for w in v.windows(2) {
        assert_eq!(w[0].0.end, w[1].0.start, "tiles across both handovers");
    }
    let titles: Vec<&str> = v.iter().map(|(s, l)| l.describe(s.kind).0).collect();
    assert_eq!(titles, ["B", "A", "X", "X", "X", "X", "X", "Y", "Y"]);
    // The chain is bounded.
    let mut t = third;
    for k in 0..20 {
        t = t.succeed(
            t.lineup.clone(),
            Anchor {
                at: at("2026-01-01T00:01:00Z") + Micros::from_secs(k),
                index: 0,
            },
        );
    }
    assert_eq!(t.chain().len(), HANDOVERS + 1);
}
