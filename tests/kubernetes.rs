//! The Kubernetes manifests (deploy/kubernetes): the base (one channel's lockstep pair) and
//! the second-channel overlay, rendered with `kubectl kustomize`, validated against the
//! Kubernetes 1.33 schemas with `kubernetes-validate --strict` (PyPI, pinned in the Makefile,
//! installed by `make deps` into target/kubernetes-validate), and checked for consistency
//! with each other and with the real binary:
//!
//! - the ConfigMap's channel file, rewritten only where this machine needs it (its HTTP port
//!   on loopback, the pod's volume mounts mapped to temporary folders, the ingest URLs to
//!   local FLV files), passes `playout check` and is played through the container's own
//!   `/bin/sh -c` command with the environment the pod spec gives it (secrets, the downward
//!   API's pod index, `$(VAR)` references resolved as the kubelet does);
//! - every probe path and the ServiceMonitor's path is a route the binary serves (200 or
//!   503, never 404), `/readyz` turns 200 once on air, `/livez` is 200, logs are JSON, and
//!   SIGTERM (what Kubernetes sends) ends the run cleanly within the grace period;
//! - ports, selectors, names, volumes and the pod-ordinal output choice agree across objects,
//!   and the overlay shares no name or selector with the base.
//!
//! kubernetes-validate has no schema for the Prometheus Operator's ServiceMonitor (a CRD): it
//! says "Couldn't find schema" as a warning and still exits 0, even with --strict. So the
//! built-in kinds are validated by the tool, each one required to be reported as passed, and
//! the ServiceMonitor's fields are checked here by hand (`check_service_monitor`).
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_yaml::Value;

use common::edits::signal;
use common::timeline::{clip, get_json};
use common::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The Kubernetes version the manifests are validated against.
const KUBERNETES: &str = "1.33.0";
/// The label the StatefulSet controller puts on each pod (Kubernetes 1.28+).
const POD_INDEX_FIELD: &str = "metadata.labels['apps.kubernetes.io/pod-index']";

/// Checks that are all reported before the test fails, so one run shows every problem.
#[derive(Default)]
struct Checks {
    failed: Vec<String>,
    passed: usize,
}

impl Checks {
    fn check(&mut self, ok: bool, what: impl Into<String>) {
        let what = what.into();
        if ok {
            self.passed += 1;
            println!("ok    {what}");
        } else {
            println!("FAIL  {what}");
            self.failed.push(what);
        }
    }
}

/// One `kubectl kustomize` output: its name (for messages) and its documents.
struct Render {
    name: &'static str,
    text: String,
    docs: Vec<Value>,
}

impl Render {
    fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.docs.iter().filter(|d| d["kind"] == kind).collect()
    }
    /// The only object of `kind` (panics otherwise: the checks below need it).
    fn one(&self, kind: &str) -> &Value {
        let all = self.of_kind(kind);
        assert_eq!(
            all.len(),
            1,
            "{}: expected one {kind}, found {}",
            self.name,
            all.len()
        );
        all[0]
    }
    fn named(&self, kind: &str, name: &str) -> Option<&Value> {
        self.docs
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
    }
    /// (kind, name) of every object.
    fn ids(&self) -> Vec<(String, String)> {
        self.docs.iter().map(|d| (s(&d["kind"]), name(d))).collect()
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn name(v: &Value) -> String {
    s(&v["metadata"]["name"])
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        s(k),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| format!("{v:?}")),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a (non-empty) equality selector selects these labels.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn kustomize(dir: &Path) -> String {
    let out = match Command::new("kubectl").arg("kustomize").arg(dir).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "kubectl is not installed: install it (https://kubernetes.io/docs/tasks/tools/; it \
             carries kustomize) — this test renders deploy/kubernetes with `kubectl kustomize`"
        ),
        Err(e) => panic!("run kubectl: {e}"),
    };
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 render")
}

fn render(name: &'static str, dir: &str) -> Render {
    let text = kustomize(&Path::new(ROOT).join(dir));
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{name}: YAML: {e}")))
        .filter(|v| !v.is_null())
        .collect();
    assert!(!docs.is_empty(), "{name}: the render is empty");
    Render { name, text, docs }
}

/// kubernetes-validate --strict on each render: every built-in object must be reported as
/// passed; the ServiceMonitor (no schema) only as a "Couldn't find schema" warning.
fn validate(c: &mut Checks, renders: &[&Render], dir: &Path) {
    let tool = Path::new(ROOT).join("target/kubernetes-validate/bin/kubernetes-validate");
    assert!(
        tool.exists(),
        "{} is missing: run `make deps` (it installs kubernetes-validate into \
         target/kubernetes-validate)",
        tool.display()
    );
    for r in renders {
        let file = dir.join(format!("{}.yaml", r.name));
        fs::write(&file, &r.text).unwrap();
        let out = Command::new(&tool)
            .args(["--strict", "--kubernetes-version", KUBERNETES])
            .arg(&file)
            .output()
            .expect("run kubernetes-validate");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "kubernetes-validate --strict --kubernetes-version {KUBERNETES} {}:",
            r.name
        );
        for l in report.lines() {
            println!("  {l}");
        }
        c.check(
            out.status.success(),
            format!("{}: kubernetes-validate exits 0 ({})", r.name, out.status),
        );
        c.check(
            !report.contains("ERROR"),
            format!("{}: kubernetes-validate reports no ERROR", r.name),
        );
        for d in &r.docs {
            let kind = s(&d["kind"]);
            if kind == "ServiceMonitor" {
                c.check(
                    report.contains("Couldn't find schema for kind ServiceMonitor"),
                    format!(
                        "{}: the ServiceMonitor is the tool's unknown kind (checked by hand)",
                        r.name
                    ),
                );
            } else {
                let id = format!("{}/{}", kind.to_lowercase(), name(d));
                c.check(
                    report
                        .lines()
                        .any(|l| l.contains(&format!("passed for resource {id} "))),
                    format!("{}: {id} validated strictly against {KUBERNETES}", r.name),
                );
            }
        }
        let unknown: Vec<&str> = report
            .lines()
            .filter(|l| l.contains("Couldn't find schema") && !l.contains("kind ServiceMonitor "))
            .collect();
        c.check(
            unknown.is_empty(),
            format!("{}: no other kind without a schema {unknown:?}", r.name),
        );
    }
}

/// The ServiceMonitor's fields, by hand (monitoring.coreos.com/v1, the Prometheus Operator's
/// CRD): only fields the CRD has, a label selector, endpoints with a port name and a path.
fn check_service_monitor(c: &mut Checks, r: &Render) {
    let sm = r.one("ServiceMonitor");
    let n = r.name;
    c.check(
        sm["apiVersion"] == "monitoring.coreos.com/v1",
        format!("{n}: ServiceMonitor apiVersion monitoring.coreos.com/v1"),
    );
    let top: Vec<String> = sm.as_mapping().unwrap().keys().map(s).collect();
    c.check(
        top.iter()
            .all(|k| ["apiVersion", "kind", "metadata", "spec"].contains(&k.as_str())),
        format!("{n}: ServiceMonitor top-level fields {top:?}"),
    );
    const SPEC: &[&str] = &[
        "attachMetadata",
        "bodySizeLimit",
        "endpoints",
        "fallbackScrapeProtocol",
        "jobLabel",
        "keepDroppedTargets",
        "labelLimit",
        "labelNameLengthLimit",
        "labelValueLengthLimit",
        "namespaceSelector",
        "nativeHistogramBucketLimit",
        "nativeHistogramMinBucketFactor",
        "podTargetLabels",
        "sampleLimit",
        "scrapeClass",
        "scrapeClassicHistograms",
        "scrapeProtocols",
        "selector",
        "selectorMechanism",
        "targetLabels",
        "targetLimit",
    ];
    const ENDPOINT: &[&str] = &[
        "authorization",
        "basicAuth",
        "bearerTokenFile",
        "bearerTokenSecret",
        "enableHttp2",
        "filterRunning",
        "followRedirects",
        "honorLabels",
        "honorTimestamps",
        "interval",
        "metricRelabelings",
        "noProxy",
        "oauth2",
        "params",
        "path",
        "port",
        "proxyConnectHeader",
        "proxyFromEnvironment",
        "proxyUrl",
        "relabelings",
        "scheme",
        "scrapeTimeout",
        "targetPort",
        "tlsConfig",
        "trackTimestampsStaleness",
    ];
    let spec: Vec<String> = sm["spec"]
        .as_mapping()
        .map(|m| m.keys().map(s).collect())
        .unwrap_or_default();
    c.check(
        !spec.is_empty() && spec.iter().all(|k| SPEC.contains(&k.as_str())),
        format!("{n}: ServiceMonitor spec fields {spec:?} are the CRD's"),
    );
    let sel = sm["spec"]["selector"].as_mapping();
    c.check(
        sel.is_some_and(|m| {
            m.keys()
                .all(|k| k == "matchLabels" || k == "matchExpressions")
        }) && sm["spec"]["selector"]["matchLabels"]
            .as_mapping()
            .is_some_and(|m| !m.is_empty() && m.values().all(Value::is_string)),
        format!("{n}: ServiceMonitor selector.matchLabels is a non-empty map of strings"),
    );
    let eps = sm["spec"]["endpoints"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    c.check(
        !eps.is_empty(),
        format!("{n}: ServiceMonitor has endpoints"),
    );
    for (i, ep) in eps.iter().enumerate() {
        let keys: Vec<String> = ep
            .as_mapping()
            .map(|m| m.keys().map(s).collect())
            .unwrap_or_default();
        c.check(
            keys.iter().all(|k| ENDPOINT.contains(&k.as_str())),
            format!("{n}: ServiceMonitor endpoints[{i}] fields {keys:?} are the CRD's"),
        );
        let interval = ep["interval"].as_str().map(seconds);
        let timeout = ep["scrapeTimeout"].as_str().map(seconds);
        c.check(
            !matches!(interval, Some(None)) && !matches!(timeout, Some(None)),
            format!(
                "{n}: ServiceMonitor endpoints[{i}] durations parse ({interval:?}, {timeout:?})"
            ),
        );
        if let (Some(Some(i)), Some(Some(t))) = (interval, timeout) {
            c.check(
                t <= i,
                format!("{n}: scrapeTimeout {t} s <= interval {i} s"),
            );
        }
    }
}

/// A Prometheus duration of one unit ("15s", "1m") in seconds.
fn seconds(d: &str) -> Option<f64> {
    let (num, unit) = d.split_at(d.find(|c: char| !c.is_ascii_digit())?);
    let n: f64 = num.parse().ok()?;
    Some(match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    })
}

/// A size in bytes: Kubernetes quantities (`50Gi`, `40G`) and playout's sizes (`40G`, read
/// as binary here: the larger, so the check errs on the safe side).
fn bytes(q: &str, playout: bool) -> Option<f64> {
    let i = q
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(q.len());
    let n: f64 = q[..i].parse().ok()?;
    let k: f64 = match (&q[i..], playout) {
        ("", _) => 1.0,
        ("K" | "k", true) | ("Ki", _) => 1024.0,
        ("M", true) | ("Mi", _) => 1024f64.powi(2),
        ("G", true) | ("Gi", _) => 1024f64.powi(3),
        ("T", true) | ("Ti", _) => 1024f64.powi(4),
        ("k", false) => 1e3,
        ("M", false) => 1e6,
        ("G", false) => 1e9,
        ("T", false) => 1e12,
        _ => return None,
    };
    Some(n * k)
}

/// What the checks of one render found, for the run and the base/overlay comparison.
struct Facts {
    pod_labels: BTreeMap<String, String>,
    selectors: Vec<(String, BTreeMap<String, String>)>,
    monitor_selector: BTreeMap<String, String>,
    service_labels: BTreeMap<String, String>,
    channel: String,
    secrets: Vec<String>,
    sts_name: String,
}

fn container(sts: &Value) -> &Value {
    let cs = sts["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("containers");
    assert_eq!(cs.len(), 1, "the pod has one container");
    &cs[0]
}

fn check_render(c: &mut Checks, r: &Render) -> Facts {
    let n = r.name;
    let sts = r.one("StatefulSet");
    let spec = &sts["spec"];
    let pod = &spec["template"]["spec"];
    let ct = container(sts);
    let pod_labels = labels(&spec["template"]["metadata"]["labels"]);

    // The pair.
    c.check(
        spec["replicas"] == 2,
        format!("{n}: StatefulSet replicas 2"),
    );
    c.check(
        spec["podManagementPolicy"] == "Parallel",
        format!("{n}: StatefulSet podManagementPolicy Parallel"),
    );
    let sts_selector = labels(&spec["selector"]["matchLabels"]);
    c.check(
        selects(&sts_selector, &pod_labels),
        format!("{n}: the StatefulSet's selector matches its pod template"),
    );
    let anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    c.check(
        anti.iter().any(|t| {
            t["topologyKey"] == "kubernetes.io/hostname"
                && selects(&labels(&t["labelSelector"]["matchLabels"]), &pod_labels)
        }),
        format!("{n}: required pod anti-affinity on kubernetes.io/hostname against its own pods"),
    );

    // Services.
    let services = r.of_kind("Service");
    let headless: Vec<&Value> = services
        .iter()
        .copied()
        .filter(|v| v["spec"]["clusterIP"] == "None")
        .collect();
    let plain: Vec<&Value> = services
        .iter()
        .copied()
        .filter(|v| v["spec"]["clusterIP"] != "None")
        .collect();
    c.check(
        headless.len() == 1 && plain.len() == 1,
        format!(
            "{n}: one headless Service and one Service ({} and {})",
            headless.len(),
            plain.len()
        ),
    );
    let (svc, peers) = (plain[0], headless[0]);
    c.check(
        spec["serviceName"].as_str() == Some(name(peers).as_str()),
        format!(
            "{n}: serviceName {:?} is the headless Service {:?}",
            spec["serviceName"],
            name(peers)
        ),
    );
    let ports: Vec<&Value> = ct["ports"]
        .as_sequence()
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    let http_port = ports
        .iter()
        .find(|p| p["name"] == "http")
        .and_then(|p| p["containerPort"].as_u64());
    c.check(
        http_port.is_some(),
        format!("{n}: the container has a port named http ({http_port:?})"),
    );
    let resolve = |target: &Value| -> Option<u64> {
        match target {
            Value::String(t) => {
                ports.iter().find(|p| p["name"] == t.as_str())?["containerPort"].as_u64()
            }
            v => v.as_u64(),
        }
    };
    for svc in &services {
        let sp = svc["spec"]["ports"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        let http = sp.iter().find(|p| p["name"] == "http");
        c.check(
            http.is_some_and(|p| {
                resolve(&p["targetPort"]).is_some() && resolve(&p["targetPort"]) == http_port
            }),
            format!(
                "{n}: Service {}: port http targets the container's http port",
                name(svc)
            ),
        );
        c.check(
            selects(&labels(&svc["spec"]["selector"]), &pod_labels),
            format!("{n}: Service {} selects the pods", name(svc)),
        );
    }

    // The ServiceMonitor scrapes the Service, once per pod (not the headless one too).
    check_service_monitor(c, r);
    let sm = r.one("ServiceMonitor");
    let monitor_selector = labels(&sm["spec"]["selector"]["matchLabels"]);
    let service_labels = labels(&svc["metadata"]["labels"]);
    c.check(
        selects(&monitor_selector, &service_labels),
        format!("{n}: the ServiceMonitor selects the Service {}", name(svc)),
    );
    c.check(
        !selects(&monitor_selector, &labels(&peers["metadata"]["labels"])),
        format!("{n}: the ServiceMonitor does not also select the headless Service"),
    );
    let ep = &sm["spec"]["endpoints"][0];
    let svc_port_names: Vec<String> = svc["spec"]["ports"]
        .as_sequence()
        .map(|p| p.iter().map(|p| s(&p["name"])).collect())
        .unwrap_or_default();
    c.check(
        ep["port"] == "http" && svc_port_names.contains(&"http".to_string()),
        format!("{n}: the ServiceMonitor's endpoint is the Service's port http"),
    );
    c.check(
        ep["path"] == "/metrics",
        format!("{n}: the ServiceMonitor scrapes /metrics"),
    );

    // The PDB keeps one of the pair.
    let pdb = r.one("PodDisruptionBudget");
    c.check(
        pdb["spec"]["minAvailable"] == 1,
        format!("{n}: PodDisruptionBudget minAvailable 1"),
    );
    c.check(
        selects(
            &labels(&pdb["spec"]["selector"]["matchLabels"]),
            &pod_labels,
        ),
        format!("{n}: the PodDisruptionBudget selects the pods"),
    );

    // Probes on routes of the port named http.
    for (probe, path) in [
        ("livenessProbe", Some("/livez")),
        ("readinessProbe", Some("/readyz")),
        ("startupProbe", None),
    ] {
        let g = &ct[probe]["httpGet"];
        c.check(
            g["port"] == "http" && path.map_or(true, |p| g["path"] == p) && g["path"].is_string(),
            format!("{n}: {probe} httpGet {:?} on port http", g["path"]),
        );
    }

    // Resources and environment.
    let res = &ct["resources"];
    c.check(
        res["requests"]["cpu"] == "500m"
            && res["requests"]["memory"] == "320Mi"
            && res["limits"]["memory"] == "768Mi",
        format!("{n}: resources requests cpu 500m memory 320Mi, limits memory 768Mi"),
    );
    let env = ct["env"].as_sequence().cloned().unwrap_or_default();
    c.check(
        env.iter()
            .any(|e| e["name"] == "PLAYOUT_LOG_FORMAT" && e["value"] == "json"),
        format!("{n}: env PLAYOUT_LOG_FORMAT=json"),
    );
    let secrets: Vec<String> = env
        .iter()
        .filter_map(|e| {
            e["valueFrom"]["secretKeyRef"]["name"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    c.check(
        !secrets.is_empty(),
        format!("{n}: stream keys come from a Secret ({secrets:?})"),
    );

    // Volumes: the ConfigMap and the library PVC are in the render; every claim template is
    // mounted.
    let volumes = pod["volumes"].as_sequence().cloned().unwrap_or_default();
    let mounts = ct["volumeMounts"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    let mounted = |v: &str| mounts.iter().any(|m| m["name"] == v);
    let vcts = spec["volumeClaimTemplates"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    c.check(
        !vcts.is_empty(),
        format!("{n}: volumeClaimTemplates ({})", vcts.len()),
    );
    for t in &vcts {
        c.check(
            mounted(&name(t)),
            format!("{n}: claim template {} is mounted", name(t)),
        );
    }
    let cm_vol = volumes.iter().find(|v| v["configMap"].is_mapping());
    let cm = cm_vol.and_then(|v| r.named("ConfigMap", &s(&v["configMap"]["name"])));
    c.check(
        cm.is_some() && cm_vol.is_some_and(|v| mounted(&s(&v["name"]))),
        format!("{n}: the channel ConfigMap volume names the render's ConfigMap and is mounted"),
    );
    let channel = cm
        .map(|cm| s(&cm["data"]["channel.yaml"]))
        .unwrap_or_default();
    c.check(
        !channel.is_empty(),
        format!("{n}: the ConfigMap holds channel.yaml"),
    );
    for v in volumes
        .iter()
        .filter(|v| v["persistentVolumeClaim"].is_mapping())
    {
        let claim = s(&v["persistentVolumeClaim"]["claimName"]);
        let pvc = r.named("PersistentVolumeClaim", &claim);
        c.check(
            pvc.is_some_and(|p| {
                p["spec"]["accessModes"]
                    .as_sequence()
                    .is_some_and(|m| m.iter().any(|m| m == "ReadWriteMany"))
            }) && mounted(&s(&v["name"])),
            format!(
                "{n}: volume {} is the render's ReadWriteMany PVC {claim}, mounted",
                s(&v["name"])
            ),
        );
    }

    let mut selectors = vec![
        (format!("StatefulSet {}", name(sts)), sts_selector),
        (
            format!("PodDisruptionBudget {}", name(pdb)),
            labels(&pdb["spec"]["selector"]["matchLabels"]),
        ),
    ];
    for svc in &services {
        selectors.push((
            format!("Service {}", name(svc)),
            labels(&svc["spec"]["selector"]),
        ));
    }
    for t in &anti {
        selectors.push((
            "anti-affinity".into(),
            labels(&t["labelSelector"]["matchLabels"]),
        ));
    }
    Facts {
        pod_labels,
        selectors,
        monitor_selector,
        service_labels,
        channel,
        secrets,
        sts_name: name(sts),
    }
}

/// The pod's environment as the kubelet makes it: values with `$(VAR)` references to
/// earlier variables expanded, secrets from `secret(name, key)`, the pod index label.
fn pod_env(
    c: &mut Checks,
    n: &str,
    ct: &Value,
    index: &str,
    secret: &dyn Fn(&str, &str) -> String,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for e in ct["env"].as_sequence().cloned().unwrap_or_default() {
        let var = s(&e["name"]);
        let value = if let Some(v) = e["value"].as_str() {
            let mut text = String::new();
            let mut rest = v;
            while let Some(i) = rest.find("$(") {
                text.push_str(&rest[..i]);
                let end = rest[i..].find(')').map(|j| i + j);
                let Some(end) = end else { break };
                let r = &rest[i + 2..end];
                match out.iter().find(|(k, _)| k == r) {
                    Some((_, v)) => text.push_str(v),
                    None => {
                        c.check(
                            false,
                            format!("{n}: env {var} refers to $({r}), not defined before it"),
                        );
                        text.push_str(&rest[i..=end]);
                    }
                }
                rest = &rest[end + 1..];
            }
            text.push_str(rest);
            text
        } else if e["valueFrom"]["secretKeyRef"].is_mapping() {
            secret(
                e["valueFrom"]["secretKeyRef"]["name"]
                    .as_str()
                    .unwrap_or_default(),
                e["valueFrom"]["secretKeyRef"]["key"]
                    .as_str()
                    .unwrap_or_default(),
            )
        } else if e["valueFrom"]["fieldRef"]["fieldPath"] == POD_INDEX_FIELD {
            index.to_string()
        } else {
            c.check(
                false,
                format!("{n}: env {var}: a source this test does not know: {e:?}"),
            );
            String::new()
        };
        out.push((var, value));
    }
    out
}

/// `${NAME}` references in a channel file.
fn channel_vars(text: &str) -> Vec<String> {
    text.split("${")
        .skip(1)
        .filter_map(|t| t.split_once('}').map(|(v, _)| v.to_string()))
        .collect()
}

/// Shell variables a script reads: `$NAME` and `${NAME…}`.
fn script_reads(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in script.split('$').skip(1) {
        let part = part.strip_prefix('{').unwrap_or(part);
        let v: String = part
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !v.is_empty() && !v.starts_with(|c: char| c.is_ascii_digit()) && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The channel file with every absolute path mapped from the pod's mounts to `DIR/VOLUME`,
/// and the HTTP listener moved to loopback `port`; the paths found, by key.
fn rewrite_channel(
    text: &str,
    mounts: &[(String, String)],
    dir: &Path,
    port: u16,
) -> (String, Vec<(String, String, Option<String>)>) {
    fn walk(
        v: &mut Value,
        key: &str,
        mounts: &[(String, String)],
        dir: &Path,
        found: &mut Vec<(String, String, Option<String>)>,
    ) {
        match v {
            Value::Mapping(m) => {
                for (k, v) in m.iter_mut() {
                    let k = format!("{key}{}{}", if key.is_empty() { "" } else { "." }, s(k));
                    walk(v, &k, mounts, dir, found);
                }
            }
            Value::Sequence(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    walk(v, &format!("{key}[{i}]"), mounts, dir, found);
                }
            }
            Value::String(p) if p.starts_with('/') => {
                let m = mounts
                    .iter()
                    .filter(|(path, _)| Path::new(p.as_str()).starts_with(path))
                    .max_by_key(|(path, _)| path.len());
                found.push((key.to_string(), p.clone(), m.map(|(_, vol)| vol.clone())));
                if let Some((path, vol)) = m {
                    let rest = Path::new(p.as_str()).strip_prefix(path).unwrap();
                    *p = dir.join(vol).join(rest).display().to_string();
                }
            }
            _ => {}
        }
    }
    let mut v: Value = serde_yaml::from_str(text).expect("the channel file is YAML");
    let mut found = Vec::new();
    walk(&mut v, "", mounts, dir, &mut found);
    v["http"]["listen"] = Value::String(format!("127.0.0.1:{port}"));
    (serde_yaml::to_string(&v).unwrap(), found)
}

fn listen_port(channel: &str) -> Option<u64> {
    let v: Value = serde_yaml::from_str(channel).ok()?;
    v["http"]["listen"]
        .as_str()?
        .rsplit(':')
        .next()?
        .parse()
        .ok()
}

/// The channel of one render, on this machine: its file rewritten into `dir` (mounts as
/// folders), its playlist written where the pod would find it on the library volume.
struct Local {
    file: PathBuf,
    script: Vec<String>,
    env: Vec<(String, String)>,
    port: u16,
    grace: u64,
}

fn local_channel(c: &mut Checks, r: &Render, f: &Facts, dir: &Path, index: &str) -> Local {
    let n = r.name;
    let sts = r.one("StatefulSet");
    let ct = container(sts);
    let pod = &sts["spec"]["template"]["spec"];
    let volumes = pod["volumes"].as_sequence().cloned().unwrap_or_default();
    let mounts: Vec<(String, String)> = ct["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| (s(&m["mountPath"]), s(&m["name"])))
        .collect();
    let port = free_port();
    let (text, found) = rewrite_channel(&f.channel, &mounts, dir, port);
    let vct: Vec<String> = sts["spec"]["volumeClaimTemplates"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(name)
        .collect();
    let pvc_volumes: Vec<String> = volumes
        .iter()
        .filter(|v| v["persistentVolumeClaim"].is_mapping())
        .map(|v| s(&v["name"]))
        .collect();
    for (key, path, vol) in &found {
        c.check(
            vol.is_some(),
            format!("{n}: channel {key} {path} is on a mounted volume ({vol:?})"),
        );
    }
    let on = |key: &str| {
        found
            .iter()
            .find(|(k, _, _)| k == key)
            .and_then(|(_, _, v)| v.clone())
    };
    for key in ["state", "prepare.folder"] {
        c.check(
            on(key).is_some_and(|v| vct.contains(&v)),
            format!(
                "{n}: channel {key} is on a claim template of its own pod ({:?})",
                on(key)
            ),
        );
    }
    for key in ["playlist", "media.dir"] {
        c.check(
            on(key).is_some_and(|v| pvc_volumes.contains(&v)),
            format!(
                "{n}: channel {key} is on the shared library PVC ({:?})",
                on(key)
            ),
        );
    }
    // The copies' cap fits their volume.
    let ch: Value = serde_yaml::from_str(&f.channel).unwrap();
    let cap = ch["prepare"]["max_size"]
        .as_str()
        .and_then(|q| bytes(q, true));
    let copies = on("prepare.folder").and_then(|v| {
        let t = sts["spec"]["volumeClaimTemplates"]
            .as_sequence()?
            .iter()
            .find(|t| name(t) == v)?;
        bytes(
            t["spec"]["resources"]["requests"]["storage"].as_str()?,
            false,
        )
    });
    c.check(
        matches!((cap, copies), (Some(a), Some(b)) if a < b),
        format!("{n}: prepare.max_size {cap:?} B is under the copies' volume {copies:?} B"),
    );
    let http_port = ct["ports"]
        .as_sequence()
        .and_then(|p| p.iter().find(|p| p["name"] == "http"))
        .and_then(|p| p["containerPort"].as_u64());
    c.check(
        listen_port(&f.channel).is_some() && listen_port(&f.channel) == http_port,
        format!(
            "{n}: http.listen's port {:?} is the container port http {http_port:?}",
            listen_port(&f.channel)
        ),
    );

    // The folders the volumes would be; the ConfigMap's files in its mount's place.
    for (_, vol) in &mounts {
        fs::create_dir_all(dir.join(vol)).unwrap();
    }
    let cm_mount = mounts
        .iter()
        .find(|(_, vol)| {
            volumes
                .iter()
                .any(|v| v["name"] == vol.as_str() && v["configMap"].is_mapping())
        })
        .expect("the ConfigMap is mounted")
        .clone();
    let file = dir.join(&cm_mount.1).join("channel.yaml");
    fs::write(&file, &text).unwrap();

    // The playlist, on the library volume, with media in media.dir.
    let rewritten: Value = serde_yaml::from_str(&text).unwrap();
    let media = PathBuf::from(s(&rewritten["media"]["dir"]));
    fs::create_dir_all(&media).unwrap();
    let mut items = Vec::new();
    for (clip_name, title) in [("red_4s", "Red"), ("plain_4s", "Plain")] {
        let m = media.join(format!("{clip_name}.mp4"));
        fs::copy(clip(clip_name), &m).unwrap();
        items.push(ItemSpec::clip(m).title(title));
    }
    let playlist = PathBuf::from(s(&rewritten["playlist"]));
    fs::create_dir_all(playlist.parent().unwrap()).unwrap();
    write_playlist_named(
        playlist.parent().unwrap(),
        playlist.file_name().unwrap().to_str().unwrap(),
        &items,
    );

    // The container's command, with the channel file's path mapped like the rest.
    let mut script: Vec<String> = ct["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .chain(ct["args"].as_sequence().into_iter().flatten())
        .map(s)
        .collect();
    let in_pod = format!("{}/channel.yaml", cm_mount.0);
    let body = script.last().cloned().unwrap_or_default();
    c.check(
        script.first().map(String::as_str) == Some("/bin/sh")
            && body.contains(&format!("exec playout run {in_pod}")),
        format!("{n}: the container runs /bin/sh -c '… exec playout run {in_pod}'"),
    );
    c.check(
        !body.contains("$("),
        format!("{n}: the script has no $(…), which the kubelet would expand as a reference"),
    );
    let last = script.len() - 1;
    script[last] = body.replace(&in_pod, &file.display().to_string());

    // Every variable the channel file and the script read is in the pod's environment (or
    // set by the script, or HOSTNAME, which the container runtime sets).
    let secret = |sname: &str, key: &str| format!("{sname}-{key}-0123456789abcdef");
    let env = pod_env(c, n, ct, index, &secret);
    let defined = |v: &str| {
        env.iter().any(|(k, _)| k == v) || v == "HOSTNAME" || body.contains(&format!("{v}="))
    };
    let vars = channel_vars(&f.channel);
    c.check(
        !vars.is_empty(),
        format!("{n}: the channel file reads {vars:?} from the environment"),
    );
    for v in &vars {
        c.check(
            env.iter().any(|(k, _)| k == v) || body.contains(&format!("export {v}")),
            format!("{n}: channel ${{{v}}} is defined by the pod's env or its command"),
        );
    }
    for v in script_reads(&body) {
        c.check(defined(&v), format!("{n}: the command's ${v} is defined"));
    }
    let grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap_or(30);
    Local {
        file,
        script,
        env,
        port,
        grace,
    }
}

fn value_of<'a>(env: &'a [(String, String)], k: &str) -> &'a str {
    env.iter()
        .rev()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// The pod's command with its environment: PATH gets `bin` first (its `playout`).
fn pod_command(l: &Local, bin: &Path, hostname: &str, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(&l.script[0]);
    cmd.args(&l.script[1..])
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        )
        .env("HOSTNAME", hostname)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    cmd
}

fn output(mut cmd: Command) -> Output {
    cmd.output().expect("run the pod's command")
}

#[test]
fn the_kubernetes_manifests_render_validate_and_fit_the_binary() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut c = Checks::default();

    let base = render("base", "deploy/kubernetes");
    let overlay = render(
        "second-channel",
        "deploy/kubernetes/overlays/second-channel",
    );
    validate(&mut c, &[&base, &overlay], dir.path());
    let fb = check_render(&mut c, &base);
    let fo = check_render(&mut c, &overlay);

    // The overlay is a second channel: no shared name, selector, Secret or channel name.
    let base_ids = base.ids();
    for id in overlay.ids() {
        c.check(
            !base_ids.contains(&id),
            format!("overlay: {} {} is not a name of the base", id.0, id.1),
        );
    }
    for (what, sel) in &fo.selectors {
        c.check(
            !selects(sel, &fb.pod_labels),
            format!("overlay: {what} does not select the base's pods"),
        );
    }
    for (what, sel) in &fb.selectors {
        c.check(
            !selects(sel, &fo.pod_labels),
            format!("base: {what} does not select the overlay's pods"),
        );
    }
    c.check(
        !selects(&fo.monitor_selector, &fb.service_labels)
            && !selects(&fb.monitor_selector, &fo.service_labels),
        "the ServiceMonitors select only their own channel's Service",
    );
    c.check(
        fo.secrets.iter().all(|s| !fb.secrets.contains(s)),
        format!(
            "the overlay's Secret {:?} is not the base's {:?}",
            fo.secrets, fb.secrets
        ),
    );
    let ch_name = |f: &Facts| {
        serde_yaml::from_str::<Value>(&f.channel)
            .map(|v| s(&v["name"]))
            .unwrap_or_default()
    };
    c.check(
        ch_name(&fb) != ch_name(&fo),
        format!(
            "the channels' names differ ({:?}, {:?})",
            ch_name(&fb),
            ch_name(&fo)
        ),
    );

    // Both channel files pass `playout check`, with the primary ingest URL the pod makes.
    let real_bin = dir.path().join("bin");
    fs::create_dir_all(&real_bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_playout"), real_bin.join("playout")).unwrap();
    let mut locals = Vec::new();
    for (r, f) in [(&base, &fb), (&overlay, &fo)] {
        let l = local_channel(&mut c, r, f, &dir.path().join(r.name), "0");
        let primary = value_of(&l.env, "PLAYOUT_PRIMARY_URL").to_string();
        let key = value_of(&l.env, "PLAYOUT_PRIMARY_KEY").to_string();
        c.check(
            (primary.starts_with("rtmps://") || primary.starts_with("rtmp://"))
                && !key.is_empty()
                && primary.ends_with(&key),
            format!(
                "{}: PLAYOUT_PRIMARY_URL is an RTMP(S) URL ending in the Secret's key ({primary})",
                r.name
            ),
        );
        let mut env: Vec<(&str, &str)> = l
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.push(("PLAYOUT_OUTPUT_URL", &primary));
        let run = run_playout_env(&["check", l.file.to_str().unwrap()], &env);
        println!(
            "playout check ({}): {}{}",
            r.name,
            run.stdout.trim(),
            tail(&run.stderr, 10)
        );
        c.check(
            run.status.success(),
            format!(
                "{}: `playout check` passes on the ConfigMap's channel file",
                r.name
            ),
        );
        locals.push(l);
    }

    // The ordinal picks the output: label first, the pod's name when the label is missing.
    let fake_bin = dir.path().join("fake-bin");
    fs::create_dir_all(&fake_bin).unwrap();
    let fake = fake_bin.join("playout");
    fs::write(
        &fake,
        "#!/bin/sh\nprintf '%s\\n' \"$PLAYOUT_OUTPUT_URL\" \"$*\"\n",
    )
    .unwrap();
    fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let lb = &locals[0];
    let (primary, backup) = (
        value_of(&lb.env, "PLAYOUT_PRIMARY_URL"),
        value_of(&lb.env, "PLAYOUT_BACKUP_URL"),
    );
    c.check(
        !primary.is_empty() && !backup.is_empty() && primary != backup,
        "primary and backup URLs differ",
    );
    for (label, host, want) in [
        ("0", "0", Some(primary)),
        ("1", "1", Some(backup)),
        ("", "0", Some(primary)),
        ("", "1", Some(backup)),
        ("2", "2", None),
    ] {
        let mut env = lb.env.clone();
        env.retain(|(k, _)| k != "PLAYOUT_POD_INDEX");
        env.push(("PLAYOUT_POD_INDEX".into(), label.into()));
        let out = output(pod_command(
            lb,
            &fake_bin,
            &format!("{}-{host}", fb.sts_name),
            &env,
        ));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let got = stdout.lines().next();
        let ok = match want {
            Some(url) => {
                out.status.success()
                    && got == Some(url)
                    && stdout.lines().nth(1).is_some_and(|l| l.starts_with("run "))
            }
            None => !out.status.success() && stdout.is_empty(),
        };
        c.check(
            ok,
            format!(
                "pod index label {label:?}, name {}-{host}: output {} ({}, {got:?})",
                fb.sts_name,
                if want == Some(primary) {
                    "primary"
                } else if want.is_some() {
                    "backup"
                } else {
                    "none, exits non-zero"
                },
                out.status
            ),
        );
    }

    // Pod 0 of the base for real: its command, its env, the ingests as local FLV files.
    let flv = |which: &str| dir.path().join(format!("{which}.flv"));
    let mut env = lb.env.clone();
    env.push((
        "PLAYOUT_PRIMARY_URL".into(),
        format!("file:{}", flv("primary").display()),
    ));
    env.push((
        "PLAYOUT_BACKUP_URL".into(),
        format!("file:{}", flv("backup").display()),
    ));
    let logs = dir.path().join("pod-0.log");
    let mut cmd = pod_command(lb, &real_bin, &format!("{}-0", fb.sts_name), &env);
    cmd.stdout(Stdio::null())
        .stderr(fs::File::create(&logs).unwrap());
    let mut child = cmd.spawn().expect("start the pod's command");
    let pid = child.id();
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let guard = Kill(&mut child);
    let log = || fs::read_to_string(&logs).unwrap_or_default();
    let port = lb.port;
    let deadline = Instant::now() + Duration::from_secs(15);
    while get_json(port, "/livez").is_none() {
        assert!(
            Instant::now() < deadline && guard.0.try_wait().unwrap().is_none(),
            "the pod's command did not serve HTTP on {port}:\n{}",
            tail(&log(), 30)
        );
        thread::sleep(Duration::from_millis(100));
    }
    let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
    c.check(
        exe.as_deref().and_then(|e| e.canonicalize().ok())
            == Path::new(env!("CARGO_BIN_EXE_playout")).canonicalize().ok(),
        format!("the shell execs playout (PID {pid} is {exe:?}: it gets the kubelet's SIGTERM)"),
    );
    let sts = base.one("StatefulSet");
    let ct = container(sts);
    let mut paths: Vec<String> = ["startupProbe", "livenessProbe", "readinessProbe"]
        .iter()
        .map(|p| s(&ct[*p]["httpGet"]["path"]))
        .collect();
    paths.push(s(
        &base.one("ServiceMonitor")["spec"]["endpoints"][0]["path"]
    ));
    for p in &paths {
        let status = get_json(port, p).map(|(st, _)| st);
        c.check(
            matches!(status, Some(200 | 503)),
            format!("GET {p} answers 200 or 503 as soon as HTTP is up ({status:?})"),
        );
    }
    let ready_path = s(&ct["readinessProbe"]["httpGet"]["path"]);
    let live_path = s(&ct["livenessProbe"]["httpGet"]["path"]);
    let t_http = Instant::now();
    let mut ready = None;
    while t_http.elapsed() < Duration::from_secs(30) {
        if let Some((200, _)) = get_json(port, &ready_path) {
            ready = Some(t_http.elapsed());
            break;
        }
        thread::sleep(Duration::from_millis(200));
    }
    c.check(
        ready.is_some(),
        format!("GET {ready_path} turns 200 once on air ({ready:?} after HTTP)"),
    );
    let live = get_json(port, &live_path);
    c.check(
        matches!(live, Some((200, _))),
        format!("GET {live_path} is 200 on air ({live:?})"),
    );
    let metrics = http_get(port, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default();
    c.check(
        metrics.contains("playout_build_info"),
        "the ServiceMonitor's path serves the Prometheus text",
    );
    thread::sleep(Duration::from_secs(2));
    let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    c.check(
        size(&flv("primary")) > 0 && !flv("backup").exists(),
        format!(
            "pod 0 plays to the primary ingest only ({} bytes; backup written: {})",
            size(&flv("primary")),
            flv("backup").exists()
        ),
    );

    // SIGTERM, as the kubelet stops a pod: a clean end within the grace period.
    signal(pid, "TERM");
    let t_term = Instant::now();
    let status = loop {
        if let Some(st) = guard.0.try_wait().unwrap() {
            break Some(st);
        }
        if t_term.elapsed() > Duration::from_secs(lb.grace) {
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    c.check(
        status.is_some_and(|s| s.success()),
        format!(
            "SIGTERM ends the run cleanly within terminationGracePeriodSeconds {} ({status:?} after {:.1} s)",
            lb.grace,
            t_term.elapsed().as_secs_f64()
        ),
    );
    drop(guard);
    let text = log();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let not_json: Vec<&&str> = lines
        .iter()
        .filter(|l| !serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v.is_object()))
        .collect();
    c.check(
        !lines.is_empty() && not_json.is_empty(),
        format!(
            "PLAYOUT_LOG_FORMAT=json: each of the {} log lines is a JSON object (not: {:?})",
            lines.len(),
            not_json.iter().take(3).collect::<Vec<_>>()
        ),
    );

    println!(
        "{} checks passed, {} failed, in {:.1} s",
        c.passed,
        c.failed.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(
        c.failed.is_empty(),
        "{} checks failed:\n  {}\npod 0's log (tail):\n{}",
        c.failed.len(),
        c.failed.join("\n  "),
        tail(&text, 20)
    );
}
