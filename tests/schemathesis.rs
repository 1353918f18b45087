//! schemathesis (from PyPI, pinned in the Makefile, installed by `make deps` into
//! target/schemathesis) against the OpenAPI file a running channel serves, with the token:
//! it generates requests for every operation, good and bad, and checks that none is
//! answered with a 5xx and that every answer matches the schema (status code, content
//! type, headers, body). The channel must still be playing at the end.
mod common;

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::live::Playout;
use common::timeline::clip;
use common::*;

const TOKEN: &str = "schema-token-0123456789abcdef";

#[test]
fn the_api_matches_its_openapi_file_and_never_answers_5xx() {
    common::busy();
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/schemathesis/bin/schemathesis");
    assert!(
        tool.exists(),
        "{} is missing: run `make deps` (it installs schemathesis into target/schemathesis)",
        tool.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let playlist = write_playlist(
        dir.path(),
        &[
            ItemSpec::clip(clip("red_4s")).title("Red"),
            ItemSpec::clip(clip("plain_4s")).title("Plain"),
        ],
    );
    let ch = write_channel(
        dir.path(),
        "schema",
        320,
        180,
        "30",
        &playlist,
        &format!(
            "outputs:\n  - name: web\n    url: hls:hls\n\
             http: {{ listen: \"127.0.0.1:{port}\", api_token: \"${{PLAYOUT_TEST_TOKEN}}\" }}\n\
             media: {{ dir: media, max_upload: 10M }}\n"
        ),
    );
    let mut p = Playout::spawn(
        &["run", ch.to_str().unwrap()],
        &[("PLAYOUT_TEST_TOKEN", TOKEN)],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::timeline::get_json(port, "/api/v1/now").is_none() {
        assert!(
            p.is_running() && Instant::now() < deadline,
            "{}",
            p.stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
    let base = format!("http://127.0.0.1:{port}");
    let out = Command::new(&tool)
        .args([
            "run",
            &format!("{base}/api/v1/openapi.json"),
            "--url",
            &base,
        ])
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
        ])
        .args(["--max-time", "60", "--workers", "1", "--no-color"])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        // It keeps a cache folder where it runs.
        .current_dir(dir.path())
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(
        out.status.success(),
        "schemathesis found problems ({}):\n{report}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = report
        .lines()
        .find(|l| l.contains("generated,"))
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(
        summary.contains("passed"),
        "no test-case summary in the report"
    );
    println!("schemathesis: {summary}");
    assert!(
        p.is_running(),
        "playout stopped:\n{}",
        tail(&p.stderr(), 30)
    );
    let (status, _) = common::timeline::get_json(port, "/healthz").unwrap();
    assert_eq!(status, 200);
    assert!(!p.stderr().contains(TOKEN), "the token was logged");
}
