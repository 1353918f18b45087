//! A throwaway TLS identity for the nginx TLS front: a self-signed certificate for 127.0.0.1
//! (CN and subjectAltName IP), made at test time with the `openssl` CLI. The certificate is its
//! own CA: pass it as `ca_file` to trust it.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Clone, Debug)]
pub struct TlsFront {
    pub port: u16,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Write `DIR/tls/cert.pem` and `DIR/tls/key.pem` (P-256, valid for a day).
pub fn make_front(dir: &Path, port: u16) -> TlsFront {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).expect("create tls dir");
    let cert = tls.join("cert.pem");
    let key = tls.join("key.pem");
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl (is it installed?)");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    TlsFront { port, cert, key }
}
