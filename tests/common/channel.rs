//! Channel `outputs:` blocks, and what every publish session of a run with outages must be.

use std::path::Path;

use super::expect::Expect;
use super::probe::decode_errors;
use super::q;
use super::recording::{analyse, Report};

/// One entry of a channel file's `outputs:`.
#[derive(Clone, Debug, Default)]
pub struct OutputSpec {
    pub name: Option<String>,
    pub url: String,
    pub write_timeout: Option<String>,
    pub tls_verify: Option<bool>,
    pub ca_file: Option<String>,
}

impl OutputSpec {
    pub fn new(name: &str, url: &str) -> OutputSpec {
        OutputSpec {
            name: Some(name.into()),
            url: url.into(),
            ..OutputSpec::default()
        }
    }
    pub fn write_timeout(mut self, d: &str) -> OutputSpec {
        self.write_timeout = Some(d.into());
        self
    }
    pub fn tls_verify(mut self, v: bool) -> OutputSpec {
        self.tls_verify = Some(v);
        self
    }
    pub fn ca_file(mut self, f: &str) -> OutputSpec {
        self.ca_file = Some(f.into());
        self
    }
}

/// `outputs:` as top-level YAML for `write_channel`'s `extra` (the URL is written as is, so
/// `${VAR}` stays for playout to expand).
pub fn output_yaml(outputs: &[OutputSpec]) -> String {
    let mut y = String::from("outputs:\n");
    for o in outputs {
        y.push_str(&format!("  - url: {}\n", q(&o.url)));
        if let Some(n) = &o.name {
            y.push_str(&format!("    name: {}\n", q(n)));
        }
        if let Some(t) = &o.write_timeout {
            y.push_str(&format!("    write_timeout: {}\n", q(t)));
        }
        if let Some(v) = o.tls_verify {
            y.push_str(&format!("    tls_verify: {v}\n"));
        }
        if let Some(f) = &o.ca_file {
            y.push_str(&format!("    ca_file: {}\n", q(f)));
        }
    }
    y
}

/// What one session of a run with outages must look like: the checks of `Expect` that hold
/// for a session cut short (frame size, frame steps, audio holes ≤ 2 ms, A/V end ≤ 50 ms),
/// without duration or GOP regularity; `check_session` adds the rest.
pub fn session_expect(width: u32, height: u32) -> Expect {
    let mut e = Expect::new(width, height);
    e.keyframe_interval = None;
    e.duration = None;
    e
}

/// Analyse one session's recording: `Report::problems(expect)`, plus its first video packet
/// must be a keyframe, its timestamps must start near 0 (< 0.5 s) and it must decode cleanly.
pub fn check_session(rec: &Path, fps: (u32, u32), expect: &Expect) -> (Report, Vec<String>) {
    let report = analyse(rec, fps.0, fps.1);
    let mut p = report.problems(expect);
    match &report.first_video {
        Some(v) if v.is_key() => {}
        Some(v) => p.push(format!("the first video packet is not a keyframe: {v:?}")),
        None => {}
    }
    if report.start.abs() > 0.5 {
        p.push(format!(
            "timestamps start at {:.3} s, not near 0",
            report.start
        ));
    }
    let errors = decode_errors(rec);
    if !errors.is_empty() {
        p.push(format!("decode errors: {}", super::tail(&errors, 5)));
    }
    (report, p)
}
