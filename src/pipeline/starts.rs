//! Where each slot began on the channel timeline, told by the source as it starts them, so
//! that a stage downstream can name what a packet belongs to when it reports a problem (an
//! output's timestamp error). The source is the only writer; the last `KEPT` starts are kept,
//! far more than the outputs lag behind it.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::time::Micros;

/// How many starts are remembered.
const KEPT: usize = 64;

#[derive(Debug, Default)]
pub struct ItemStarts(Mutex<VecDeque<(Micros, String)>>);

impl ItemStarts {
    /// The slot titled `title` starts at channel time `at` (since the first frame).
    pub fn begin(&self, at: Micros, title: &str) {
        let mut q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() == KEPT {
            q.pop_front();
        }
        q.push_back((at, title.to_string()));
    }

    /// The title of the slot playing at channel time `at`, if it is still remembered.
    pub fn at(&self, at: Micros) -> Option<String> {
        let q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        q.iter()
            .rev()
            .find(|(start, _)| *start <= at)
            .map(|(_, t)| t.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_slot_a_time_falls_in() {
        let s = ItemStarts::default();
        assert_eq!(s.at(Micros(5)), None);
        s.begin(Micros(0), "A");
        s.begin(Micros(1_000), "B");
        assert_eq!(s.at(Micros(999)).as_deref(), Some("A"));
        assert_eq!(s.at(Micros(1_000)).as_deref(), Some("B"));
        for k in 0..KEPT as i64 {
            s.begin(Micros(2_000 + k), "C");
        }
        // A's and B's starts are forgotten: a time before the oldest kept has no name.
        assert_eq!(s.at(Micros(1_500)), None);
        assert_eq!(s.at(Micros(9_999)).as_deref(), Some("C"));
    }
}
