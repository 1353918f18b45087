//! Guide listings for the scheduled-live tests: slots of the CLI's JSON or
//! `/api/v1/schedule` and their tiling, and XMLTV parsed (and so checked for
//! well-formedness) by python3's `xml.dom.minidom`.

use std::fmt;
use std::io::Write;
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::timeline::{parse_time, rfc3339, secs};

/// One programme of a guide listing (CLI JSON or `/api/v1/schedule`).
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    pub title: String,
    pub kind: String,
    pub start: DateTime<Utc>,
    pub stop: DateTime<Utc>,
}

impl Slot {
    pub fn secs(&self) -> f64 {
        secs(self.start, self.stop)
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} .. {} {:5} {} ({:.3} s)",
            rfc3339(self.start),
            rfc3339(self.stop),
            self.kind,
            self.title,
            self.secs()
        )
    }
}

/// A guide listing: an array of `{title, kind, start, stop}` with RFC 3339 UTC (`Z`) times.
pub fn slots_of(v: &Value) -> Result<Vec<Slot>, String> {
    let a = v.as_array().ok_or_else(|| format!("not an array: {v}"))?;
    a.iter()
        .map(|p| {
            let s = |k: &str| {
                p[k].as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{k} missing or not a string in {p}"))
            };
            let t = |k: &str| -> Result<DateTime<Utc>, String> {
                let v = s(k)?;
                if !v.ends_with('Z') {
                    return Err(format!("{k} {v:?} is not UTC (Z)"));
                }
                parse_time(&v).ok_or_else(|| format!("{k} {v:?} is not RFC 3339"))
            };
            let kind = s("kind")?;
            if !["item", "slate", "event"].contains(&kind.as_str()) {
                return Err(format!("kind {kind:?} in {p}"));
            }
            Ok(Slot {
                title: s("title")?,
                kind,
                start: t("start")?,
                stop: t("stop")?,
            })
        })
        .collect()
}

/// What is wrong with `slots` as a tiling of `[from, to)`: the first must start at or before
/// `from`, the last stop at or after `to`, each start where the previous stopped, none empty.
pub fn tiling_problems(slots: &[Slot], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
    let mut p = Vec::new();
    let (Some(first), Some(last)) = (slots.first(), slots.last()) else {
        return vec!["no slots".into()];
    };
    if first.start > from {
        p.push(format!("first slot starts after the window: {first}"));
    }
    if last.stop < to {
        p.push(format!("last slot stops before the window ends: {last}"));
    }
    for s in slots {
        if s.stop <= s.start {
            p.push(format!("empty or reversed slot: {s}"));
        }
    }
    for w in slots.windows(2) {
        if w[0].stop != w[1].start {
            p.push(format!("gap or overlap between\n  {}\n  {}", w[0], w[1]));
        }
    }
    p
}

/// An XMLTV document as python3's minidom read it.
#[derive(Clone, Debug, Default)]
pub struct Xmltv {
    pub root: String,
    pub channels: Vec<String>,
    /// (start, stop, channel, title) as written.
    pub programmes: Vec<(String, String, String, String)>,
}

const XML_PY: &str = r#"
import json, sys, xml.dom.minidom
d = xml.dom.minidom.parseString(sys.stdin.buffer.read())
r = d.documentElement
t = lambda e, n: "".join(c.data for x in e.getElementsByTagName(n)[:1] for c in x.childNodes if c.nodeType == c.TEXT_NODE)
print(json.dumps({
  "root": r.tagName,
  "channels": [c.getAttribute("id") for c in r.getElementsByTagName("channel")],
  "programmes": [[p.getAttribute("start"), p.getAttribute("stop"), p.getAttribute("channel"), t(p, "title")]
                 for p in r.getElementsByTagName("programme")],
}))
"#;

/// Parse `xml` with python3's `xml.dom.minidom`: Err(parser message) unless well-formed.
pub fn parse_xmltv(xml: &str) -> Result<Xmltv, String> {
    let mut child = Command::new("python3")
        .args(["-c", XML_PY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .expect("write xml to python3");
    let out = child.wait_with_output().expect("python3");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err.lines().last().unwrap_or("python3 failed").to_string());
    }
    let v: Value = serde_json::from_slice(&out.stdout).expect("python3 json");
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap_or("").to_string())
            .collect()
    };
    Ok(Xmltv {
        root: v["root"].as_str().unwrap_or("").into(),
        channels: strs(&v["channels"]),
        programmes: v["programmes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let s = strs(p);
                (s[0].clone(), s[1].clone(), s[2].clone(), s[3].clone())
            })
            .collect(),
    })
}

/// XMLTV's time for an instant: `YYYYMMDDhhmmss +0000` (whole seconds, floored).
pub fn xmltv_time(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%S +0000").to_string()
}

/// `playout schedule CHANNEL --from FROM --for FOR --format FORMAT`: its stdout (panics
/// unless it exits 0).
pub fn schedule(channel: &std::path::Path, from: &str, for_: &str, format: &str) -> String {
    let ch = channel.to_str().expect("utf-8 path");
    let args = [
        "schedule", ch, "--from", from, "--for", for_, "--format", format,
    ];
    let r = super::run_playout_timeout(&args, std::time::Duration::from_secs(60));
    assert!(
        r.status.success(),
        "schedule {from} {for_} {format}: {}\n{}",
        r.status,
        r.stderr
    );
    r.stdout
}
