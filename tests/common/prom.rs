//! A throwaway Prometheus (Debian's `prometheus` package): its own temp folder for config and
//! TSDB, a free 127.0.0.1 port, one scrape job `playout` over the given targets, optional rule
//! files; queried through its HTTP API. Also `promtool`, and the Grafana dashboard's exprs with
//! their template variables substituted.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::nginx::free_port;
use super::watch::http_get;

pub const PROMETHEUS: &str = "/usr/bin/prometheus";
pub const PROMTOOL: &str = "/usr/bin/promtool";

pub struct Prometheus {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Prometheus {
    /// Start Prometheus scraping `targets` ("127.0.0.1:PORT") as job `playout` every `every`,
    /// evaluating `rule_files` as often; returns once `/-/ready` answers 200 (panics after 20 s).
    pub fn start(targets: &[String], rule_files: &[&Path], every: Duration) -> Prometheus {
        assert!(
            Path::new(PROMETHEUS).exists(),
            "{PROMETHEUS} missing: install Debian's prometheus package"
        );
        let dir = tempfile::Builder::new()
            .prefix("playout-prometheus-")
            .tempdir()
            .expect("prometheus temp dir");
        let secs = format!("{}ms", every.as_millis());
        let rules: Vec<String> = rule_files
            .iter()
            .map(|p| format!("  - {}\n", super::q(&p.display().to_string())))
            .collect();
        let targets: Vec<String> = targets.iter().map(|t| super::q(t)).collect();
        let config = format!(
            "global:
  scrape_interval: {secs}
  scrape_timeout: {secs}
  evaluation_interval: {secs}
rule_files:
{rules}scrape_configs:
  - job_name: playout
    static_configs:
      - targets: [{targets}]
",
            rules = if rules.is_empty() {
                "  []\n".to_string()
            } else {
                rules.concat()
            },
            targets = targets.join(", "),
        );
        let config_path = dir.path().join("prometheus.yml");
        fs::write(&config_path, config).expect("write prometheus.yml");
        let port = free_port();
        let log = fs::File::create(dir.path().join("prometheus.log")).expect("prometheus log");
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        let mut p = Prometheus {
            dir,
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if matches!(http_get(port, "/-/ready"), Some((200, _))) {
                return p;
            }
            if let Some(Ok(Some(status))) = p.child.as_mut().map(|c| c.try_wait()) {
                p.child = None;
                panic!("prometheus exited with {status}\n{}", p.log());
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within 20 s\n{}",
                p.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// GET an API path (`/api/v1/...?...`): the `data` of a `success` answer; panics otherwise.
    pub fn api(&self, path_and_query: &str) -> Value {
        let (status, body) = http_get(self.port, path_and_query)
            .unwrap_or_else(|| panic!("prometheus did not answer {path_and_query}"));
        let v: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path_and_query}: {e}: {body}"));
        assert!(
            status == 200 && v["status"] == "success",
            "{path_and_query}: HTTP {status}: {body}"
        );
        v["data"].clone()
    }

    /// An instant query at `at` (unix seconds) or now: the result vector.
    pub fn query(&self, expr: &str, at: Option<f64>) -> Vec<Value> {
        let mut path = format!("/api/v1/query?query={}", encode(expr));
        if let Some(t) = at {
            path.push_str(&format!("&time={t:.3}"));
        }
        let data = self.api(&path);
        assert_eq!(data["resultType"], "vector", "{expr}: {data}");
        data["result"].as_array().cloned().unwrap_or_default()
    }

    /// The value of a one-series instant query (None when it returns nothing).
    pub fn scalar(&self, expr: &str, at: Option<f64>) -> Option<f64> {
        let r = self.query(expr, at);
        assert!(r.len() <= 1, "{expr} returned {} series: {r:?}", r.len());
        r.first().map(sample_value)
    }

    /// A range query: the result matrix (series with `values`).
    pub fn query_range(&self, expr: &str, start: f64, end: f64, step: f64) -> Vec<Value> {
        let data = self.api(&format!(
            "/api/v1/query_range?query={}&start={start:.3}&end={end:.3}&step={step}",
            encode(expr)
        ));
        assert_eq!(data["resultType"], "matrix", "{expr}: {data}");
        data["result"].as_array().cloned().unwrap_or_default()
    }

    /// Values of `label` on series matching `selector` (what Grafana's `label_values` asks).
    pub fn label_values(&self, label: &str, selector: &str) -> Vec<String> {
        let data = self.api(&format!(
            "/api/v1/label/{label}/values?match[]={}",
            encode(selector)
        ));
        data.as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if thread::panicking() {
            self.dir.disable_cleanup(true);
            eprintln!("kept prometheus folder {}", self.dir.path().display());
        }
    }
}

/// The float of a vector sample (`{"metric":…, "value":[t, "v"]}`).
pub fn sample_value(s: &Value) -> f64 {
    s["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("not a sample: {s}"))
}

/// Now as unix seconds.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// Percent-encode a query-string value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Run `promtool ARGS` with `stdin`: (success, stdout + stderr).
pub fn promtool(args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(PROMTOOL)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool (install Debian's prometheus package)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write promtool stdin");
    let out = child.wait_with_output().expect("promtool output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The repository's `dashboards/` folder.
pub fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

/// One query of one dashboard panel.
#[derive(Clone, Debug)]
pub struct PanelQuery {
    pub panel: String,
    pub panel_type: String,
    pub ref_id: String,
    pub expr: String,
}

/// Every panel of a Grafana dashboard (rows' nested panels included), in order.
pub fn panels(dashboard: &Value) -> Vec<Value> {
    fn walk(list: &Value, out: &mut Vec<Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p.clone());
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Every target `expr` of every panel.
pub fn panel_queries(dashboard: &Value) -> Vec<PanelQuery> {
    panels(dashboard)
        .iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("").to_string();
            let kind = p["type"].as_str().unwrap_or("").to_string();
            p["targets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |t| PanelQuery {
                    panel: title.clone(),
                    panel_type: kind.clone(),
                    ref_id: t["refId"].as_str().unwrap_or("").to_string(),
                    expr: t["expr"].as_str().unwrap_or("").to_string(),
                })
        })
        .collect()
}

/// Grafana's substitutions: `$instance` (and `${instance}`) by `instance`, `$channel` by
/// All (`.*`, which a single channel's series, with no `channel` label, match too),
/// `$__rate_interval` by 5s (4 scrape intervals of 1 s, rounded up), `$__interval` by 1s,
/// `$__range` by `range`.
pub fn substitute(expr: &str, instance: &str, range: &str) -> String {
    expr.replace("${instance}", instance)
        .replace("$instance", instance)
        .replace("${channel}", ".*")
        .replace("$channel", ".*")
        .replace("$__rate_interval", "5s")
        .replace("$__interval", "1s")
        .replace("$__range", range)
}
