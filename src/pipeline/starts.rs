//! Where each stretch of the channel begins on its timeline, told by the source as it begins
//! them: what it is (for the as-run record and the "On air." line the pacer writes when the
//! stretch's first packet leaves), and its title (so that an output can name what a packet
//! belongs to when it reports a problem). The source is the only writer; the last `KEPT`
//! are kept, far more than the outputs lag behind it.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::asrun::{Kind, Reason};
use crate::time::Micros;

/// How many starts are remembered.
const KEPT: usize = 64;

/// One stretch as the source begins it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stretch {
    /// Channel time of its first frame, since the run's first frame.
    pub at: Micros,
    pub kind: Kind,
    pub title: String,
    /// The file, for media.
    pub path: Option<PathBuf>,
    /// When the schedule had it begin (Unix µs).
    pub planned: Micros,
    /// Why it airs, when that says more than how it ends: slate standing in for an item
    /// that failed or is quarantined.
    pub why: Option<Reason>,
    /// How the stretch before it ended.
    pub ended: Reason,
}

impl Stretch {
    /// A stretch known only by its title (what the outputs' guard needs).
    pub fn titled(at: Micros, title: &str) -> Stretch {
        Stretch {
            at,
            kind: Kind::Item,
            title: title.to_string(),
            path: None,
            planned: at,
            why: None,
            ended: Reason::Played,
        }
    }
}

#[derive(Debug, Default)]
pub struct ItemStarts(Mutex<Starts>);

#[derive(Debug, Default)]
struct Starts {
    kept: VecDeque<Stretch>,
    /// How many were ever begun: the sequence number of the next.
    count: u64,
}

impl ItemStarts {
    /// A stretch begins.
    pub fn begin(&self, s: Stretch) {
        let mut q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if q.kept.len() == KEPT {
            q.kept.pop_front();
        }
        q.kept.push_back(s);
        q.count += 1;
    }

    /// Stretches beginning at or after `at` never aired: a cut at the air took them back
    /// before their first packet left (so the pacer has not taken them either).
    pub fn take_back(&self, at: Micros) {
        let mut q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        while q.kept.back().is_some_and(|s| s.at >= at) {
            q.kept.pop_back();
            q.count -= 1;
        }
    }

    /// The last stretch begun.
    pub fn last(&self) -> Option<Stretch> {
        let q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        q.kept.back().cloned()
    }

    /// The title of the stretch playing at channel time `at`, if it is still remembered.
    pub fn at(&self, at: Micros) -> Option<String> {
        let q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        q.kept
            .iter()
            .rev()
            .find(|s| s.at <= at)
            .map(|s| s.title.clone())
    }

    /// The stretches from number `next` on that begin at or before `upto`, in order;
    /// `next` moves past them. One forgotten before it was taken is skipped.
    pub fn due(&self, next: &mut u64, upto: Micros) -> Vec<Stretch> {
        let q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let first = q.count - q.kept.len() as u64;
        let mut out = Vec::new();
        for (i, s) in q.kept.iter().enumerate() {
            let n = first + i as u64;
            if n < *next {
                continue;
            }
            if s.at > upto {
                break;
            }
            out.push(s.clone());
            *next = n + 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_slot_a_time_falls_in() {
        let s = ItemStarts::default();
        assert_eq!(s.at(Micros(5)), None);
        s.begin(Stretch::titled(Micros(0), "A"));
        s.begin(Stretch::titled(Micros(1_000), "B"));
        assert_eq!(s.at(Micros(999)).as_deref(), Some("A"));
        assert_eq!(s.at(Micros(1_000)).as_deref(), Some("B"));
        for k in 0..KEPT as i64 {
            s.begin(Stretch::titled(Micros(2_000 + k), "C"));
        }
        // A's and B's starts are forgotten: a time before the oldest kept has no name.
        assert_eq!(s.at(Micros(1_500)), None);
        assert_eq!(s.at(Micros(9_999)).as_deref(), Some("C"));
    }

    #[test]
    fn each_stretch_falls_due_once_when_its_time_comes() {
        let s = ItemStarts::default();
        let mut next = 0;
        assert!(s.due(&mut next, Micros(100)).is_empty());
        s.begin(Stretch::titled(Micros(0), "A"));
        s.begin(Stretch::titled(Micros(1_000), "B"));
        let titles = |v: Vec<Stretch>| v.into_iter().map(|s| s.title).collect::<Vec<_>>();
        assert_eq!(titles(s.due(&mut next, Micros(999))), ["A"]);
        assert!(s.due(&mut next, Micros(999)).is_empty());
        s.begin(Stretch::titled(Micros(2_000), "C"));
        assert_eq!(titles(s.due(&mut next, Micros(5_000))), ["B", "C"]);
        assert_eq!(next, 3);
        // D and E are begun, then taken back by a cut at 3_000 (E at 3_500, D at 3_000).
        s.begin(Stretch::titled(Micros(3_000), "D"));
        s.begin(Stretch::titled(Micros(3_500), "E"));
        s.take_back(Micros(3_000));
        assert_eq!(s.last().map(|s| s.title).as_deref(), Some("C"));
        s.begin(Stretch::titled(Micros(3_000), "F"));
        assert_eq!(titles(s.due(&mut next, Micros(5_000))), ["F"]);
    }
}
