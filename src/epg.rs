//! The EPG and the now-playing answer, from the same pure scheduler the pipeline follows:
//! JSON for the API and the CLI, XMLTV for guides, and a text table for people.

use std::fmt::Write;

use serde_json::{json, Value};

use crate::lineup::{Kind, Timeline};
use crate::schedule::rfc3339;
use crate::time::Micros;

/// One programme of the guide: `[start, stop)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Programme {
    pub title: String,
    pub kind: Kind,
    pub start: Micros,
    pub stop: Micros,
}

/// The most programmes one listing holds: a day of 20-second items is 4,320, while a
/// rotation of 1-second clips would otherwise make a 24 h guide of tens of megabytes.
pub const MAX_PROGRAMMES: usize = 5000;

/// The programmes that tile `[from, from + span)`: the first may start before `from` and the
/// last end after the window, each starts where the previous one stopped. At most
/// `MAX_PROGRAMMES`: a window that would hold more is listed from its start.
/// The timeline a guide from `from` follows: the channel's own anchor (its state file) if it
/// was set by now (or by `from`, if later), else the channel assumed to start at `from`.
pub fn guide_timeline(
    channel: &crate::config::ChannelConfig,
    playlist: std::sync::Arc<crate::playlist::Playlist>,
    from: Micros,
) -> Timeline {
    let lineup = std::sync::Arc::new(crate::lineup::build(
        playlist,
        channel.timezone,
        channel.slate.failure_duration,
        &mut crate::lineup::Durations::default(),
    ));
    let now = crate::clock::wall_now().max(from);
    let anchor = crate::state::load(&channel.state, &lineup.fingerprint)
        .filter(|a| a.at <= now)
        .unwrap_or(crate::schedule::Anchor { at: from, index: 0 });
    Timeline::new(lineup, anchor)
}

pub fn programmes(t: &Timeline, from: Micros, span: Micros) -> Vec<Programme> {
    let to = from + span.max(Micros(1));
    t.slots(from, to, MAX_PROGRAMMES)
        .into_iter()
        .filter(|(s, _)| s.end > from && s.start < to)
        .map(|(s, lineup)| {
            let (title, kind) = lineup.describe(s.kind);
            Programme {
                title: title.to_string(),
                kind,
                start: s.start,
                stop: s.end,
            }
        })
        .collect()
}

pub fn to_json(ps: &[Programme]) -> Value {
    Value::Array(
        ps.iter()
            .map(|p| {
                json!({
                    "title": p.title,
                    "kind": p.kind.as_str(),
                    "start": rfc3339(p.start),
                    "stop": rfc3339(p.stop),
                })
            })
            .collect(),
    )
}

/// `GET /api/v1/now`: what is on at `now` and what follows.
pub fn now(t: &Timeline, now: Micros, following: usize) -> Value {
    let (cur, lineup) = t.resolve(now);
    let (title, kind) = lineup.describe(cur.kind);
    let mut next = Vec::new();
    let mut at = cur.end;
    for _ in 0..following {
        let (s, lineup) = t.resolve(at);
        let (title, kind) = lineup.describe(s.kind);
        next.push(json!({
            "title": title,
            "kind": kind.as_str(),
            "start": rfc3339(s.start),
            "duration_seconds": s.duration().as_secs_f64(),
        }));
        at = s.end;
    }
    json!({
        "server_time": rfc3339(now),
        "current": {
            "title": title,
            "kind": kind.as_str(),
            "started_at": rfc3339(cur.start),
            "position_seconds": (now - cur.start).as_secs_f64(),
            "duration_seconds": cur.duration().as_secs_f64(),
        },
        "next": next,
    })
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// XMLTV's time format: `20261124183000 +0000`.
fn xmltv_time(t: Micros) -> String {
    let s = rfc3339(Micros(t.0 - t.0.rem_euclid(1_000_000)));
    // "2026-11-24T18:30:00Z" -> "20261124183000 +0000"
    let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    format!("{} +0000", &digits[..14.min(digits.len())])
}

/// A channel id that XMLTV readers accept: lowercase letters, digits, dots and dashes.
fn channel_id(name: &str) -> String {
    let id: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{}.playout", id.trim_matches('-'))
}

pub fn to_xmltv(channel: &str, ps: &[Programme]) -> String {
    let id = xml_escape(&channel_id(channel));
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x += "<!DOCTYPE tv SYSTEM \"xmltv.dtd\">\n";
    x += "<tv generator-info-name=\"playout\">\n";
    let _ = writeln!(
        x,
        "  <channel id=\"{id}\">\n    <display-name>{}</display-name>\n  </channel>",
        xml_escape(channel)
    );
    for p in ps {
        let _ = writeln!(
            x,
            "  <programme start=\"{}\" stop=\"{}\" channel=\"{id}\">\n    <title>{}</title>\n    <category>{}</category>\n  </programme>",
            xmltv_time(p.start),
            xmltv_time(p.stop),
            xml_escape(&p.title),
            p.kind.as_str(),
        );
    }
    x += "</tv>\n";
    x
}

pub fn to_text(ps: &[Programme]) -> String {
    let mut out = String::new();
    for p in ps {
        let _ = writeln!(
            out,
            "{}  {}  {:<5}  {}",
            rfc3339(p.start),
            rfc3339(p.stop),
            p.kind.as_str(),
            p.title
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineup::Lineup;
    use crate::playlist::{EventItem, Item, MediaItem, Playlist, SlateItem};
    use crate::schedule::{parse_instant, Anchor, Entry, EntryKind, Event, Schedule, When};
    use std::sync::Arc;

    fn timeline() -> Timeline {
        let media = |t: &str| MediaItem::whole(format!("/m/{t}.mp4"), t);
        let playlist = Playlist {
            file: "/p.yaml".into(),
            items: vec![
                Item::Media(media("Cats & <Dogs>")),
                Item::Slate(SlateItem {
                    duration: Micros::from_secs(5),
                    title: "Break".into(),
                }),
            ],
            events: vec![EventItem {
                at: When::Once(parse_instant("2026-01-01T00:01:00Z").unwrap()),
                item: Item::Media(media("News")),
            }],
            takes_effect: None,
        };
        let schedule = Schedule {
            rotation: vec![
                Entry {
                    title: "Cats & <Dogs>".into(),
                    kind: EntryKind::Media(0),
                    duration: Micros::from_secs(20),
                },
                Entry {
                    title: "Break".into(),
                    kind: EntryKind::Slate(1),
                    duration: Micros::from_secs(5),
                },
            ],
            events: vec![Event {
                when: When::Once(parse_instant("2026-01-01T00:01:00Z").unwrap()),
                title: "News".into(),
                duration: Micros::from_secs(30),
            }],
            tz: chrono_tz::UTC,
        };
        Timeline::new(
            Arc::new(Lineup {
                playlist: Arc::new(playlist),
                schedule,
                fingerprint: "x".into(),
            }),
            Anchor {
                at: parse_instant("2026-01-01T00:00:00Z").unwrap(),
                index: 0,
            },
        )
    }

    #[test]
    fn guide_json_tiles_and_names_kinds() {
        let t = timeline();
        let from = parse_instant("2026-01-01T00:00:10Z").unwrap();
        let ps = programmes(&t, from, Micros::from_secs(120));
        let j = to_json(&ps);
        let a = j.as_array().unwrap();
        assert_eq!(a[0]["start"], "2026-01-01T00:00:00Z");
        for w in a.windows(2) {
            assert_eq!(w[0]["stop"], w[1]["start"]);
        }
        let kinds: Vec<&str> = a.iter().map(|p| p["kind"].as_str().unwrap()).collect();
        // item 0-20, slate 20-25, item 25-45, break 45-50, gap 50-60, event 60-90, …
        assert_eq!(
            &kinds[..6],
            ["item", "slate", "item", "slate", "slate", "event"]
        );
        assert_eq!(a[5]["start"], "2026-01-01T00:01:00Z");
    }

    #[test]
    fn now_reports_position_and_what_follows() {
        let t = timeline();
        let j = now(&t, parse_instant("2026-01-01T00:01:10.5Z").unwrap(), 3);
        assert_eq!(j["current"]["kind"], "event");
        assert_eq!(j["current"]["title"], "News");
        assert_eq!(j["current"]["started_at"], "2026-01-01T00:01:00Z");
        assert_eq!(j["current"]["position_seconds"], 10.5);
        assert_eq!(j["current"]["duration_seconds"], 30.0);
        assert_eq!(j["next"].as_array().unwrap().len(), 3);
        assert_eq!(j["next"][0]["start"], "2026-01-01T00:01:30Z");
    }

    #[test]
    fn xmltv_escapes_and_has_one_programme_per_slot() {
        let t = timeline();
        let ps = programmes(&t, t.anchor.at, Micros::from_secs(100));
        let x = to_xmltv("My \"TV\" & co", &ps);
        assert!(x.contains("<title>Cats &amp; &lt;Dogs&gt;</title>"));
        assert!(x.contains("<display-name>My &quot;TV&quot; &amp; co</display-name>"));
        assert!(x.contains("start=\"20260101000000 +0000\""));
        assert_eq!(x.matches("<programme ").count(), ps.len());
        assert!(x.trim_end().ends_with("</tv>"));
    }
}
