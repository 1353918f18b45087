//! The as-run record: what aired, to the frame, taken from the output side. The source marks
//! where each stretch begins on the channel timeline (`pipeline::starts`); the pacer, as the
//! stretch's first packet leaves for the outputs, closes the one before it into an `Entry`
//! and hands it to the writer thread (`writer`), which appends it to one CSV per UTC day
//! beside the state file (`NAME.asrun/YYYY-MM-DD.csv`), each line written whole and fsynced.
//! Entries tile time within a run: each one's `end` is the next one's `start`. A `kill -9`
//! loses only the entry in progress.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

use crate::time::Micros;

pub mod writer;

/// What aired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A playlist item, decoded and encoded.
    Item,
    /// A playlist item passed through from its conformed copy.
    Copy,
    /// Slate: a gap, a slate entry, a live event waiting for its publisher, or what stood in
    /// for an item that could not play.
    Slate,
    /// A fixed-time event.
    Event,
    /// The live input.
    Live,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Item => "item",
            Kind::Copy => "copy",
            Kind::Slate => "slate",
            Kind::Event => "event",
            Kind::Live => "live",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        [Kind::Item, Kind::Copy, Kind::Slate, Kind::Event, Kind::Live]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Why an entry ended as it did (or, for slate standing in for an item, why it aired).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// It played to the end of its slot.
    Played,
    /// An operator skipped it.
    Skipped,
    /// A fixed-time event began.
    CutByEvent,
    /// A play-now began.
    PlayNow,
    /// It could not play (slate stood in), or stopped part way.
    Failed(String),
    /// The quarantine kept its file off air (slate stood in).
    Quarantined,
    /// A live publisher took the air.
    Live,
    /// A live stretch ended: the publisher stopped or went silent.
    LiveEnded,
    /// The channel stopped (a signal, `--for`).
    Stopped,
}

impl Reason {
    pub fn text(&self) -> String {
        match self {
            Reason::Played => "played".into(),
            Reason::Skipped => "skipped".into(),
            Reason::CutByEvent => "cut_by_event".into(),
            Reason::PlayNow => "play_now".into(),
            Reason::Failed(why) => format!("failed: {why}"),
            Reason::Quarantined => "quarantined".into(),
            Reason::Live => "live".into(),
            Reason::LiveEnded => "live_ended".into(),
            Reason::Stopped => "stopped".into(),
        }
    }

    fn parse(s: &str) -> Reason {
        match s {
            "played" => Reason::Played,
            "skipped" => Reason::Skipped,
            "cut_by_event" => Reason::CutByEvent,
            "play_now" => Reason::PlayNow,
            "quarantined" => Reason::Quarantined,
            "live" => Reason::Live,
            "live_ended" => Reason::LiveEnded,
            "stopped" => Reason::Stopped,
            other => Reason::Failed(other.strip_prefix("failed: ").unwrap_or(other).to_string()),
        }
    }
}

/// One stretch that aired. Times are Unix µs of channel time (the time a viewer sees it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub start: Micros,
    pub end: Micros,
    pub kind: Kind,
    pub title: String,
    /// The file, for media.
    pub path: Option<PathBuf>,
    /// When the schedule had it begin (before a skip, a late start or a live stretch moved
    /// it); for a live stretch, when it began.
    pub planned_start: Micros,
    pub reason: Reason,
}

/// The CSV's header line (without its newline).
pub const HEADER: &str = "start,end,duration,kind,title,path,planned_start,reason";

/// RFC 3339 in UTC to the microsecond: a frame's time exactly.
pub fn instant(t: Micros) -> String {
    match DateTime::<Utc>::from_timestamp_micros(t.0) {
        Some(d) => d.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => t.0.to_string(),
    }
}

fn field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

impl Entry {
    pub fn duration(&self) -> Micros {
        self.end - self.start
    }

    /// The entry as one CSV line, with its newline.
    pub fn csv_line(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "{},{},{:.6},{},",
            instant(self.start),
            instant(self.end),
            self.duration().as_secs_f64(),
            self.kind.as_str()
        );
        field(&mut out, &self.title);
        out.push(',');
        field(
            &mut out,
            &self
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        );
        out.push(',');
        out.push_str(&instant(self.planned_start));
        out.push(',');
        field(&mut out, &self.reason.text());
        out.push('\n');
        out
    }

    /// The entry as the API's JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "start": instant(self.start),
            "end": instant(self.end),
            "duration": self.duration().as_secs_f64(),
            "kind": self.kind.as_str(),
            "title": self.title,
            "path": self.path.as_ref().map(|p| p.display().to_string()),
            "planned_start": instant(self.planned_start),
            "reason": self.reason.text(),
        })
    }

    /// An entry from one line of the CSV (None for the header or a line cut short).
    pub fn parse(line: &str) -> Option<Entry> {
        let f = split(line)?;
        let [start, end, _, kind, title, path, planned, reason] = f.as_slice() else {
            return None;
        };
        let at = |s: &str| crate::schedule::parse_instant(s);
        Some(Entry {
            start: at(start)?,
            end: at(end)?,
            kind: Kind::parse(kind)?,
            title: title.clone(),
            path: (!path.is_empty()).then(|| PathBuf::from(path)),
            planned_start: at(planned)?,
            reason: Reason::parse(reason),
        })
    }
}

/// The fields of one CSV line; None if a quote is left open (a line cut short).
fn split(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.trim_end_matches(['\n', '\r']).chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if cur.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut cur)),
            (_, c) => cur.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(cur);
    Some(fields)
}

/// The folder of a channel's as-run files: `NAME.asrun` beside its state file
/// `NAME.state.json`, as its other files are (`state::sibling`).
pub fn dir_beside(state: &Path) -> PathBuf {
    state.with_file_name(format!("{}.asrun", crate::state::stem(state)))
}

/// The UTC day a time falls in.
pub fn day_of(t: Micros) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_micros(t.0)
        .map(|d| d.date_naive())
        .unwrap_or_default()
}

/// The file of one UTC day.
pub fn file_of(dir: &Path, day: NaiveDate) -> PathBuf {
    dir.join(format!("{}.csv", day.format("%Y-%m-%d")))
}

/// The longest span the API reads at once.
pub const MAX_SPAN: Micros = Micros::from_secs(31 * 24 * 3600);

/// The entries of `dir` that overlap `[from, to)`, in order. An entry is filed under the day
/// it starts, so the day before `from` is read too (an entry that began before midnight).
pub fn read(dir: &Path, from: Micros, to: Micros) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut day = day_of(from).pred_opt().unwrap_or_default();
    let last = day_of(to);
    while day <= last {
        match std::fs::read_to_string(file_of(dir, day)) {
            Ok(text) => out.extend(
                text.lines()
                    .filter_map(Entry::parse)
                    .filter(|e| e.end > from && e.start < to),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match day.succ_opt() {
            Some(d) => day = d,
            None => break,
        }
    }
    out.sort_by_key(|e| e.start);
    Ok(out)
}

/// Entries as the CSV the files hold: the header, then one line each.
pub fn to_csv(entries: &[Entry]) -> String {
    let mut out = format!("{HEADER}\n");
    for e in entries {
        out.push_str(&e.csv_line());
    }
    out
}

#[cfg(test)]
mod tests;
