//! RTMPS through nginx's `stream` module terminating TLS with a throwaway self-signed
//! certificate: trusted through `ca_file` it records continuously; untrusted (no `ca_file`,
//! `tls_verify` on by default) it never connects but the channel runs on; `tls_verify: false`
//! connects.
mod common;

use std::time::Duration;

use common::*;

struct TlsRun {
    nginx: Nginx,
    run: Run,
    _dir: tempfile::TempDir,
}

/// A paced `--for FOR_` run of a 320x180@30 channel with one output `tls` to the TLS front,
/// stream `stream`; `ca` copies the certificate next to the channel file as `ca.pem` and
/// names it relatively.
fn tls_run(stream: &str, verify: Option<bool>, ca: bool, for_: &str) -> TlsRun {
    let nginx = Nginx::start_with_tls();
    let dir = tempfile::tempdir().unwrap();
    let playlist = write_playlist(
        dir.path(),
        &[
            ItemSpec::clip(&fixture("landscape_25").path),
            ItemSpec::clip(&fixture("fps_2997").path),
        ],
    );
    let mut out = OutputSpec::new("tls", &nginx.tls_url(stream));
    if let Some(v) = verify {
        out = out.tls_verify(v);
    }
    if ca {
        std::fs::copy(nginx.cert_path(), dir.path().join("ca.pem")).unwrap();
        out = out.ca_file("ca.pem");
    }
    let channel = write_channel(
        dir.path(),
        stream,
        320,
        180,
        "30",
        &playlist,
        &output_yaml(&[out]),
    );
    let playout = Playout::spawn(&["run", channel.to_str().unwrap(), "--for", for_], &[]);
    let run = playout.wait(Duration::from_secs(60));
    println!(
        "[{stream}] playout --for {for_}: {} in {:.2} s; stderr tail:\n{}",
        run.status,
        run.wall.as_secs_f64(),
        tail(&run.stderr, 12)
    );
    TlsRun {
        nginx,
        run,
        _dir: dir,
    }
}

#[test]
fn rtmps_with_ca_file_records_continuously() {
    let t = tls_run("tlsca", None, true, "8s");
    assert!(t.run.status.success(), "playout failed");
    assert!(t.run.stderr.contains("Output connected"));
    let rec = single_recording(&t.nginx, "tlsca");
    let report = analyse(&rec, 30, 1);
    println!("{report}");
    let mut expect = Expect::new(320, 180);
    expect.duration = Some(8.0);
    let problems = report.problems(&expect);
    assert!(problems.is_empty(), "recording problems: {problems:#?}");
    assert_eq!(decode_errors(&rec), "");
}

#[test]
fn rtmps_untrusted_certificate_never_connects_and_the_channel_runs_on() {
    let t = tls_run("tlsnoca", None, false, "5s");
    let wall = t.run.wall.as_secs_f64();
    let cannot = t
        .run
        .stderr
        .lines()
        .filter(|l| l.contains("Output cannot connect"))
        .collect::<Vec<_>>();
    println!(
        "{} 'cannot connect' lines in {wall:.2} s; first: {}",
        cannot.len(),
        cannot.first().unwrap_or(&"-")
    );
    assert!(t.run.status.success(), "playout must exit 0");
    assert!(
        wall >= 4.5,
        "a paced 5 s run ended after {wall:.2} s: the channel did not run on"
    );
    assert!(!cannot.is_empty(), "no 'Output cannot connect' log");
    assert!(
        !t.run.stderr.contains("Output connected"),
        "connected to an untrusted certificate"
    );
    assert!(t.nginx.wait_idle(Duration::from_secs(5)));
    assert_eq!(t.nginx.publish_count("tlsnoca"), 0, "no publish expected");
    assert!(t.nginx.recordings_of("tlsnoca").is_empty());
}

#[test]
fn rtmps_without_verification_connects() {
    let t = tls_run("tlsnoverify", Some(false), false, "5s");
    assert!(t.run.status.success(), "playout failed");
    let rec = single_recording(&t.nginx, "tlsnoverify");
    let report = analyse(&rec, 30, 1);
    println!("{report}");
    let mut expect = Expect::new(320, 180);
    expect.duration = Some(5.0);
    let problems = report.problems(&expect);
    assert!(problems.is_empty(), "recording problems: {problems:#?}");
}
