//! A value one thread publishes whole and others read whole: the timeline the source adopted,
//! the reloader's status. A reader gets the last value set, never half of one, and never
//! holds the lock while it looks.

use std::sync::{Arc, RwLock};

#[derive(Debug, Default)]
pub struct Snapshot<T>(RwLock<Arc<T>>);

impl<T> Snapshot<T> {
    pub fn new(value: T) -> Self {
        Snapshot(RwLock::new(Arc::new(value)))
    }

    /// The value last set.
    pub fn get(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Publishes `value` in place of the last.
    pub fn set(&self, value: T) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(value);
    }
}

#[cfg(test)]
mod tests {
    use super::Snapshot;

    #[test]
    fn a_reader_sees_the_last_value_set_and_keeps_the_one_it_took() {
        let s = Snapshot::new(1);
        let before = s.get();
        s.set(2);
        assert_eq!((*before, *s.get()), (1, 2));
    }
}
