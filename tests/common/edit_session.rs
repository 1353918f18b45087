//! The hot-reload test's session (`tests/reload.rs`): edits made at a slot start of the
//! source, each checked for exactly one reload (log line, counters, `reload_error`) and,
//! at the next slot start, for taking effect as the contract says (the state file's item and
//! `/api/v1/now`'s lineup from then on).

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::edits::*;
use super::live::Playout;
use super::timeline::{get_json, parse_time, secs};

pub type Events = Vec<(String, PathBuf, &'static str)>;

/// A good edit whose effect is not yet seen: after `x`, `y` must come, from `list` on.
pub struct Pending {
    case: &'static str,
    x: usize,
    y: usize,
    list: Vec<usize>,
}

pub struct Session<'a> {
    pub playout: &'a Playout,
    pub states: &'a StateWatch,
    pub port: u16,
    pub playlist: PathBuf,
    pub counted: PathBuf,
    pub anchor: DateTime<Utc>,
    /// Every rotation adopted: (recording pts it took over at, the list).
    pub lists: Vec<(f64, Vec<usize>)>,
    pub pending: Option<Pending>,
    pub failures: Vec<String>,
}

impl Session<'_> {
    pub fn fail(&mut self, m: String) {
        println!("  FAIL: {m}");
        self.failures.push(m);
    }

    pub fn list(&self) -> Vec<usize> {
        self.lists.last().unwrap().1.clone()
    }

    /// Wait for the source's next slot start; check the pending edit took effect there.
    pub fn boundary(&mut self) -> SlotSeen {
        let st = self
            .states
            .wait_after(Instant::now(), Duration::from_secs(8))
            .expect("no slot start for 8 s");
        let Some(p) = self.pending.take() else {
            return st;
        };
        let pts = secs(self.anchor, st.since);
        let (_, now) = get_json(self.port, "/api/v1/now").unwrap_or((0, Value::Null));
        let mut titles = vec![];
        let cur = (&now["current"]["title"], &now["current"]["started_at"]);
        let next = now["next"].as_array().cloned().unwrap_or_default();
        for (t, at) in std::iter::once(cur).chain(next.iter().map(|n| (&n["title"], &n["start"]))) {
            let at = parse_time(at.as_str().unwrap_or("")).map(|a| secs(self.anchor, a));
            if at.is_some_and(|a| a >= pts - 0.001) {
                titles.push(t.as_str().unwrap_or("?").to_string());
            }
        }
        let pos = p.list.iter().position(|&k| k == p.y).unwrap_or(0);
        let want: Vec<String> = (0..titles.len())
            .map(|i| seg_title(p.list[(pos + i) % p.list.len()]))
            .collect();
        println!(
            "  {}: took effect at {pts:.3} s: after {} the source started {} ({} expected); \
             /api/v1/now from then: {titles:?}",
            p.case,
            seg_title(p.x),
            st.on_air,
            seg_title(p.y)
        );
        if st.on_air != seg_title(p.y) {
            self.fail(format!(
                "{}: after {} came {}, expected {}",
                p.case,
                seg_title(p.x),
                st.on_air,
                seg_title(p.y)
            ));
        }
        if titles.len() < 2 || titles != want {
            self.fail(format!(
                "{}: /api/v1/now shows {titles:?} from {pts:.3} s, expected {want:?}",
                p.case
            ));
        }
        self.lists.push((pts, p.list));
        st
    }

    /// Do `act` (an edit or a signal); expect exactly one reload, `ok` or rejected, whose log
    /// line holds `words`, counted once, and `reload_error` holding `words` (or null).
    /// Returns when `act` ended.
    pub fn reload(&mut self, case: &str, ok: bool, words: &[&str], act: impl FnOnce()) -> Instant {
        let (ok0, rej0) = reload_counters(self.port);
        let t = Instant::now();
        act();
        let acted = Instant::now();
        let (what, other) = match ok {
            true => ("Playlist reloaded", "Reload rejected"),
            false => ("Reload rejected", "Playlist reloaded"),
        };
        let Some((at, line)) = self
            .playout
            .wait_line_after(t, &[what], Duration::from_secs(3))
        else {
            let seen = self
                .playout
                .lines()
                .iter()
                .filter(|(a, _)| *a >= t)
                .map(|(_, l)| l.clone())
                .collect::<Vec<_>>();
            self.fail(format!(
                "{case}: no {what:?} line within 3 s; saw {seen:#?}"
            ));
            return acted;
        };
        // A second reload of the same edit would come within a debounce (~0.3 s).
        thread::sleep(Duration::from_millis(700));
        let count = |w: &str| {
            self.playout
                .lines()
                .iter()
                .filter(|(a, l)| *a >= t && l.contains(w))
                .count()
        };
        let (n, n_other) = (count(what), count(other));
        let (ok1, rej1) = reload_counters(self.port);
        let want_err = |v: &Value| match ok {
            true => v.is_null(),
            false => v
                .as_str()
                .is_some_and(|e| words.iter().all(|w| e.contains(w))),
        };
        let deadline = Instant::now() + Duration::from_secs(1);
        let (now_err, health) = loop {
            let now = get_json(self.port, "/api/v1/now").map(|(_, v)| v["reload_error"].clone());
            let health = get_json(self.port, "/healthz").unwrap_or((0, Value::Null));
            let e = now.unwrap_or(Value::String("(no answer)".into()));
            if (want_err(&e) && want_err(&health.1["reload_error"])) || Instant::now() > deadline {
                break (e, health);
            }
            thread::sleep(Duration::from_millis(50));
        };
        println!(
            "{case}: {what} {:.3} s after the edit ended ({:.3} s spent editing): {line}\n  \
             ok {ok0}->{ok1}, rejected {rej0}->{rej1}; {n} {what:?} and {n_other} {other:?} lines; \
             /api/v1/now reload_error={now_err}; /healthz {} {}",
            (at - acted).as_secs_f64(),
            (acted - t).as_secs_f64(),
            health.0,
            health.1
        );
        let (dok, drej) = if ok { (1.0, 0.0) } else { (0.0, 1.0) };
        if n != 1 || n_other != 0 || ok1 - ok0 != dok || rej1 - rej0 != drej {
            self.fail(format!("{case}: expected one {what:?}: {n} such lines, {n_other} {other:?}, ok +{}, rejected +{}", ok1 - ok0, rej1 - rej0));
        }
        if let Some(w) = words.iter().find(|w| !line.contains(**w)) {
            self.fail(format!("{case}: the log line lacks {w:?}: {line}"));
        }
        if !want_err(&now_err) || !want_err(&health.1["reload_error"]) || health.0 != 200 {
            self.fail(format!(
                "{case}: reload_error in /api/v1/now {now_err}, /healthz {} {}",
                health.0, health.1
            ));
        }
        acted
    }

    /// At a slot start of the source (item X), replace the rotation with `make(X, old)`
    /// written by `write`; X must finish and the rotation go on per the contract.
    pub fn edit(
        &mut self,
        case: &'static str,
        make: impl FnOnce(usize, &[usize]) -> Vec<usize>,
        events: impl FnOnce() -> Events,
        write: impl FnOnce(&Path, &str),
    ) -> Instant {
        let st = self.boundary();
        let events = events();
        let x = seg_of(&st.on_air).unwrap_or_else(|| panic!("{case}: source on {}", st.on_air));
        let old = self.list();
        let new = make(x, &old);
        let y = continue_after(&old, &new, x);
        println!(
            "{case}: source on {} since {:.3} s; [{}] -> [{}]; expect {} after it",
            st.on_air,
            secs(self.anchor, st.since),
            show_list(&old),
            show_list(&new),
            seg_title(y)
        );
        let text = playlist_yaml(&self.counted, &new, &events);
        let words = [
            format!("items={}", new.len()),
            format!("events={}", events.len()),
        ];
        let pl = self.playlist.clone();
        let written = self.reload(case, true, &[&words[0], &words[1], "playlist.yaml"], || {
            write(&pl, &text)
        });
        self.pending = Some(Pending {
            case,
            x,
            y,
            list: new,
        });
        written
    }
}

pub fn plain(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
}

/// Reload-related lines of the run, timestamped.
pub fn reload_lines(p: &Playout) -> Vec<(Instant, String)> {
    let keep = ["reload", "Reload", "SIGHUP", "Playlist", "ERROR", "WARN"];
    p.lines()
        .into_iter()
        .filter(|(_, l)| keep.iter().any(|k| l.contains(k)))
        .collect()
}
