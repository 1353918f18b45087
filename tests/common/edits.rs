//! Helpers for the hot-reload test (`tests/reload.rs`):
//!
//! - rotations of 3 s segments `S0`..`S7` of the `counted_24s` clip (`in`/`out`), so every
//!   recorded frame tells which item it belongs to and which of its frames it is;
//! - `StateWatch`: the source's own view, from the state file written at each slot start
//!   (what it started and when, in channel time);
//! - `item_runs`: a recording read back as runs of one item's frames;
//! - `continue_after`: where the rotation goes on after a reload (the contract's rule);
//! - the process id of a running channel (for `kill -HUP`), and reload counters.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::timeline::{band_index, counted_index, is_red, parse_time, GridFrame};
use super::watch::Poller;
use super::{http_get, q, sample};

/// Each segment item plays this many frames (3 s at 30 fps).
pub const SEG_FRAMES: u32 = 90;

pub fn seg_title(k: usize) -> String {
    format!("S{k}")
}

/// The segment a title names (`S3` -> 3).
pub fn seg_of(title: &str) -> Option<usize> {
    title.strip_prefix('S')?.parse().ok()
}

/// Playlist YAML: segments `segs` of `counted` (a 24 s clip), then `events` (at, path, title).
pub fn playlist_yaml(counted: &Path, segs: &[usize], events: &[(String, PathBuf, &str)]) -> String {
    let mut y = String::from("items:\n");
    for &k in segs {
        y += &format!(
            "  - path: {}\n    title: {}\n    in: {}s\n    out: {}s\n",
            q(&counted.display().to_string()),
            q(&seg_title(k)),
            3 * k,
            3 * k + 3
        );
    }
    if !events.is_empty() {
        y += "events:\n";
        for (at, path, title) in events {
            y += &format!(
                "  - at: {}\n    path: {}\n    title: {}\n",
                q(at),
                q(&path.display().to_string()),
                q(title)
            );
        }
    }
    y
}

/// Titles of `segs`, joined for printing.
pub fn show_list(segs: &[usize]) -> String {
    segs.iter()
        .map(|&k| seg_title(k))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The item after `x` in `list` (cyclic).
pub fn succ(list: &[usize], x: usize) -> Option<usize> {
    let p = list.iter().position(|&s| s == x)?;
    Some(list[(p + 1) % list.len()])
}

/// The contract: after `x` (playing from `old`), the item after it in `new`; if `new` lacks
/// it, the item now at its old position (wrapping).
pub fn continue_after(old: &[usize], new: &[usize], x: usize) -> usize {
    succ(new, x).unwrap_or_else(|| {
        let p = old.iter().position(|&s| s == x).unwrap_or(0);
        new[p % new.len()]
    })
}

/// One slot start as the source recorded it in the state file.
#[derive(Clone, Debug)]
pub struct SlotSeen {
    pub seen: Instant,
    pub on_air: String,
    pub since: DateTime<Utc>,
    pub anchor: DateTime<Utc>,
}

/// Polls the state file every 20 ms and keeps every new slot start.
pub struct StateWatch {
    slots: Arc<Mutex<Vec<SlotSeen>>>,
    _poller: Poller,
}

impl StateWatch {
    pub fn start(path: PathBuf) -> StateWatch {
        let slots: Arc<Mutex<Vec<SlotSeen>>> = Arc::new(Mutex::new(Vec::new()));
        let s = slots.clone();
        let poller = Poller::spawn(Duration::from_millis(20), move || {
            let Some(v) = fs::read_to_string(&path)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            else {
                return;
            };
            let field = |k: &str| v[k].as_str().unwrap_or("").to_string();
            let (Some(since), Some(anchor)) = (
                parse_time(&field("on_air_since")),
                parse_time(&field("anchor")),
            ) else {
                return;
            };
            let mut s = s.lock().unwrap();
            if s.last().map(|l| (l.since, &l.on_air)) != Some((since, &field("on_air"))) {
                s.push(SlotSeen {
                    seen: Instant::now(),
                    on_air: field("on_air"),
                    since,
                    anchor,
                });
            }
        });
        StateWatch {
            slots,
            _poller: poller,
        }
    }

    pub fn all(&self) -> Vec<SlotSeen> {
        self.slots.lock().unwrap().clone()
    }

    /// The first slot start seen at or after `t` (None after `timeout`).
    pub fn wait_after(&self, t: Instant, timeout: Duration) -> Option<SlotSeen> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.all().into_iter().find(|s| s.seen >= t) {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// What a run of recorded frames shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shows {
    Seg(usize),
    Red,
    /// Slate or anything else that carries no number.
    Other,
}

/// Consecutive frames of one item: `first`/`last` are the frame numbers they carry (of the
/// segment's clip, or of the red event clip).
#[derive(Clone, Debug)]
pub struct ItemRun {
    pub shows: Shows,
    pub start: f64,
    pub frames: usize,
    pub first: Option<u32>,
    pub last: Option<u32>,
}

impl ItemRun {
    /// Shows every frame of its segment, in order, once.
    pub fn whole_segment(&self) -> bool {
        match self.shows {
            Shows::Seg(k) => {
                let k = k as u32;
                self.first == Some(SEG_FRAMES * k)
                    && self.last == Some(SEG_FRAMES * k + SEG_FRAMES - 1)
                    && self.frames == SEG_FRAMES as usize
            }
            _ => false,
        }
    }
}

impl fmt::Display for ItemRun {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let what = match self.shows {
            Shows::Seg(k) => seg_title(k),
            Shows::Red => "EVENT".into(),
            Shows::Other => "other".into(),
        };
        match (self.first, self.last) {
            (Some(a), Some(b)) => write!(f, "{what}[{a}..={b}]@{:.3}", self.start),
            _ => write!(f, "{what}({} frames)@{:.3}", self.frames, self.start),
        }
    }
}

/// A recording read back as runs: a run breaks where the item changes or the numbers jump.
pub fn item_runs(frames: &[GridFrame]) -> Vec<ItemRun> {
    let mut runs: Vec<ItemRun> = Vec::new();
    for f in frames {
        let (shows, n) = match counted_index(f) {
            Some(n) => (Shows::Seg((n / SEG_FRAMES) as usize), Some(n)),
            None if is_red(f) => (Shows::Red, band_index(f)),
            None => (Shows::Other, None),
        };
        if let Some(r) = runs.last_mut() {
            let follows = match (r.last, n) {
                (Some(a), Some(b)) => b == a + 1,
                _ => true,
            };
            if r.shows == shows && follows {
                r.frames += 1;
                r.last = n.or(r.last);
                continue;
            }
        }
        runs.push(ItemRun {
            shows,
            start: f.pts,
            frames: 1,
            first: n,
            last: n,
        });
    }
    runs
}

/// The pid of the running `playout` whose command line has the argument `arg`.
pub fn pid_with_arg(arg: &str) -> Option<u32> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let is_playout = args.first()?.ends_with(b"playout");
        (is_playout && args.contains(&arg.as_bytes())).then_some(pid)
    })
}

/// `kill -SIGNAL pid`.
pub fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(st.success(), "kill -{sig} {pid} failed");
}

/// (`ok`, `rejected`) of `playout_playlist_reloads_total`.
pub fn reload_counters(port: u16) -> (f64, f64) {
    let body = http_get(port, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let get = |r: &str| {
        sample(
            &body,
            &format!("playout_playlist_reloads_total{{result=\"{r}\"}}"),
        )
        .unwrap_or(f64::NAN)
    };
    (get("ok"), get("rejected"))
}

/// The recorded items against the adopted lists: every transition follows the list in force
/// (at an adoption, the contract's rule), every item plays whole, the event plays whole at
/// its time, and nothing else shows (but slate up to the event).
pub fn check_runs(runs: &[ItemRun], lists: &[(f64, Vec<usize>)], event: f64) -> Vec<String> {
    let mut f = vec![];
    let frame = 1.0 / 30.0;
    for (pts, _) in lists.iter().skip(1) {
        if !runs.iter().any(|r| (r.start - pts).abs() < 0.02) {
            f.push(format!(
                "no item starts at {pts:.3} s, where the state file says one did"
            ));
        }
    }
    let reds: Vec<&ItemRun> = runs.iter().filter(|r| r.shows == Shows::Red).collect();
    match reds[..] {
        [r] => {
            let err = r.start - event;
            println!(
                "event: first red frame at {:.3} s, due {event:.3} s: {:+.1} ms; {r}",
                r.start,
                err * 1000.0
            );
            if err.abs() > frame + 0.0015
                || (r.first, r.last, r.frames) != (Some(0), Some(119), 120)
            {
                f.push(format!(
                    "the event should play frames 0..=119 from {event:.3} s: {r}"
                ));
            }
        }
        _ => f.push(format!(
            "expected one run of event frames, got {}",
            reds.len()
        )),
    }
    let segs: Vec<(usize, &ItemRun)> = runs
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.shows, Shows::Seg(_)))
        .collect();
    for (i, r) in runs.iter().enumerate() {
        let before_event = runs.get(i + 1).is_some_and(|n| n.shows == Shows::Red);
        if r.shows == Shows::Other && !before_event && i + 1 < runs.len() {
            f.push(format!(
                "unexpected frames that are neither an item nor the event: {r}"
            ));
        }
    }
    for w in segs.windows(2) {
        let ((i, a), (j, b)) = (w[0], w[1]);
        let (Shows::Seg(ka), Shows::Seg(kb)) = (a.shows, b.shows) else {
            unreachable!()
        };
        let k = lists
            .iter()
            .rposition(|(p, _)| *p <= b.start + 0.02)
            .unwrap();
        let want = if k > 0 && (lists[k].0 - b.start).abs() < 0.02 {
            continue_after(&lists[k - 1].1, &lists[k].1, ka)
        } else {
            succ(&lists[k].1, ka).unwrap_or(usize::MAX)
        };
        if kb != want {
            f.push(format!(
                "after {a} came {b}; expected {} (list [{}])",
                seg_title(want),
                show_list(&lists[k].1)
            ));
        }
        // Only the event may cut an item short (and then only the one it interrupts).
        let event_between = runs[i + 1..j].iter().any(|r| r.shows == Shows::Red);
        let cut = event_between && a.first == Some(SEG_FRAMES * ka as u32);
        if !(a.whole_segment() || cut) {
            f.push(format!("{a} did not play whole"));
        }
        if b.first != Some(SEG_FRAMES * kb as u32) {
            f.push(format!("{b} does not start at its first frame"));
        }
    }
    f
}
