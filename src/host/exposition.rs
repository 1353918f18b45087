//! The host's `/metrics`: every channel's exposition with `channel="ID"` on each sample,
//! merged into one valid exposition (each family's HELP and TYPE once, its samples from
//! every channel together), then the host's own `playout_host_*` families.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One metric family across channels.
#[derive(Default)]
struct Family {
    help: Option<String>,
    kind: Option<String>,
    samples: Vec<String>,
}

/// Families in the order first seen.
#[derive(Default)]
pub struct Merged {
    order: Vec<String>,
    families: BTreeMap<String, Family>,
}

impl Merged {
    /// Adds one channel's exposition (text format 0.0.4), labelling every sample.
    pub fn add(&mut self, channel: &str, text: &str) {
        let label = format!("channel=\"{}\"", escape(channel));
        let mut current: Option<String> = None;
        for line in text.lines() {
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                self.family(name)
                    .help
                    .get_or_insert_with(|| help.to_string());
                current = Some(name.to_string());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
                self.family(name)
                    .kind
                    .get_or_insert_with(|| kind.to_string());
                current = Some(name.to_string());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = &line[..name_end];
            // A histogram's `_bucket`, `_sum` and `_count` belong to the family above them.
            let family = match &current {
                Some(f) if name.starts_with(f.as_str()) => f.clone(),
                _ => name.to_string(),
            };
            let rest = &line[name_end..];
            let sample = match rest.strip_prefix('{') {
                Some(labels) if labels.starts_with('}') => {
                    format!("{name}{{{label}}}{}", &labels[1..])
                }
                Some(labels) => format!("{name}{{{label},{labels}"),
                None => format!("{name}{{{label}}}{rest}"),
            };
            self.family(&family).samples.push(sample);
        }
    }

    /// Adds a family of the host's own.
    pub fn own(&mut self, name: &str, kind: &str, help: &str, samples: Vec<String>) {
        let f = self.family(name);
        f.help = Some(help.to_string());
        f.kind = Some(kind.to_string());
        f.samples.extend(samples);
    }

    fn family(&mut self, name: &str) -> &mut Family {
        if !self.families.contains_key(name) {
            self.order.push(name.to_string());
        }
        self.families.entry(name.to_string()).or_default()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for name in &self.order {
            let f = &self.families[name];
            if let Some(h) = &f.help {
                let _ = writeln!(out, "# HELP {name} {h}");
            }
            if let Some(k) = &f.kind {
                let _ = writeln!(out, "# TYPE {name} {k}");
            }
            for s in &f.samples {
                out.push_str(s);
                out.push('\n');
            }
        }
        out
    }
}

/// A label value as the text format writes it.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "# HELP playout_x_total Things.\n# TYPE playout_x_total counter\nplayout_x_total 3\n# HELP playout_h Seconds.\n# TYPE playout_h histogram\nplayout_h_bucket{le=\"0.5\"} 1\nplayout_h_bucket{le=\"+Inf\"} 2\nplayout_h_sum 0.7\nplayout_h_count 2\n";

    #[test]
    fn every_sample_is_labelled_and_families_stay_together() {
        let mut m = Merged::default();
        m.add("news", A);
        m.add("films", A);
        m.own(
            "playout_host_channels",
            "gauge",
            "Channels by state.",
            vec!["playout_host_channels{state=\"on_air\"} 2".into()],
        );
        let text = m.render();
        assert_eq!(text.matches("# TYPE playout_x_total counter").count(), 1);
        assert_eq!(text.matches("# TYPE playout_h histogram").count(), 1);
        assert!(text.contains(
            "playout_x_total{channel=\"news\"} 3\nplayout_x_total{channel=\"films\"} 3\n"
        ));
        assert!(text.contains("playout_h_bucket{channel=\"films\",le=\"+Inf\"} 2"));
        assert!(text.contains("playout_h_sum{channel=\"news\"} 0.7"));
        // The histogram's samples come before the next family's HELP.
        let h = text.find("# TYPE playout_h histogram").unwrap();
        let last = text.rfind("playout_h_count{channel=\"films\"} 2").unwrap();
        let host = text.find("# HELP playout_host_channels").unwrap();
        assert!(h < last && last < host, "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(
                line.contains("channel=\"") || line.starts_with("playout_host_"),
                "{line}"
            );
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
