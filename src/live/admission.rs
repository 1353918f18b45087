//! Whether the schedule lets a publisher in now. With `live.takeover: auto` and live events
//! in the playlist, a publisher may connect while a live event is on or up to `live.early`
//! before one (it then waits off the air); at any other time it is refused as
//! `not_scheduled`, with the next live event's time in the log line. With no live events, or
//! `takeover: always`, every publisher with the right key is let in.

use std::sync::Arc;

use crate::config::{LiveSettings, Takeover};
use crate::lineup::TimelineCell;
use crate::schedule::rfc3339;
use crate::time::Micros;

#[derive(Debug)]
pub struct Admission {
    pub timeline: Arc<TimelineCell>,
    pub takeover: Takeover,
    pub early: Micros,
}

impl Admission {
    pub fn new(settings: &LiveSettings, timeline: Arc<TimelineCell>) -> Self {
        Admission {
            timeline,
            takeover: settings.takeover,
            early: settings.early,
        }
    }

    /// `Err` with why not, for the refusal's log line.
    pub fn check(&self, now: Micros) -> Result<(), NotScheduled> {
        if self.takeover == Takeover::Always {
            return Ok(());
        }
        let tl = self.timeline.get();
        let (slot, lineup) = tl.resolve(now);
        // The newest lineup decides what comes (a reload may have added or removed events).
        let newest = &tl.lineup;
        if !newest.has_live_events() || lineup.live_event(slot.kind).is_some() {
            return Ok(());
        }
        match newest.next_live_event(now) {
            Some(next) if next - now <= self.early => Ok(()),
            Some(next) => Err(NotScheduled::Early {
                next,
                early: self.early,
            }),
            None => Err(NotScheduled::NoneScheduled),
        }
    }
}

/// Why a publisher may not connect now (`live.takeover: auto`).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotScheduled {
    #[error(
        "no live event is on; the next starts at {} (publishers may connect from live.early \
         = {early} before it)",
        rfc3339(*next)
    )]
    Early { next: Micros, early: Micros },
    #[error("no live event is on and none is scheduled")]
    NoneScheduled,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse_listen;
    use crate::lineup::{build, Durations, Timeline};
    use crate::playlist::Playlist;
    use crate::schedule::{parse_instant, Anchor};

    fn admission(takeover: Takeover, events: &str) -> Admission {
        let text = format!("items:\n  - slate: 10s\n{events}");
        let p = Playlist::parse(&text, Path::new("/tmp/p.yaml")).unwrap();
        let l = build(
            Arc::new(p),
            chrono_tz::UTC,
            Micros::from_secs(5),
            &mut Durations::default(),
        );
        let anchor = Anchor {
            at: at("2026-12-06T00:00:00Z"),
            index: 0,
        };
        let settings = LiveSettings {
            listen: parse_listen("srt://127.0.0.1:9000").unwrap(),
            timeout: Micros::from_secs(1),
            rejoin: Micros::from_secs(5),
            takeover,
            early: Micros::from_secs(1800),
            title: "Live".into(),
        };
        let cell = TimelineCell::new(Timeline::new(Arc::new(l), anchor));
        Admission::new(&settings, Arc::new(cell))
    }

    fn at(s: &str) -> Micros {
        parse_instant(s).unwrap()
    }

    const EVENT: &str = "events:\n  - at: 2026-12-06T20:00:00Z\n    live: true\n    duration: 1h\n";

    #[test]
    fn auto_lets_publishers_in_during_a_live_event_and_early_before_it() {
        let a = admission(Takeover::Auto, EVENT);
        assert!(a.check(at("2026-12-06T20:30:00Z")).is_ok());
        assert!(a.check(at("2026-12-06T19:30:00Z")).is_ok());
        let e = a.check(at("2026-12-06T19:29:59Z")).unwrap_err().to_string();
        assert!(e.contains("the next starts at 2026-12-06T20:00:00Z"), "{e}");
        assert!(e.contains("live.early = 30m"), "{e}");
        let e = a.check(at("2026-12-06T21:00:00Z")).unwrap_err();
        assert_eq!(e, NotScheduled::NoneScheduled);
        assert_eq!(e.to_string(), "no live event is on and none is scheduled");
    }

    #[test]
    fn always_and_a_playlist_without_live_events_let_everyone_in() {
        let t = at("2026-12-06T12:00:00Z");
        assert!(admission(Takeover::Always, EVENT).check(t).is_ok());
        assert!(admission(Takeover::Auto, "").check(t).is_ok());
    }
}
