//! Idle priority for the background preparer's thread, without `unsafe` (and for the test
//! suite's CPU-heavy tests, which take only the CPU the others leave).

/// SCHED_IDLE for this thread, and so for every thread it starts (Linux threads inherit the
/// policy): the decoder's, the encoder's and x264's own. `chrt` (util-linux, on every
/// Debian) sets it by thread id, which `/proc/thread-self` gives without any `unsafe`.
pub fn idle_priority() -> Result<(), String> {
    let link = std::fs::read_link("/proc/thread-self").map_err(|e| e.to_string())?;
    let tid = link
        .file_name()
        .map(|t| t.to_string_lossy().into_owned())
        .ok_or("no thread id in /proc/thread-self")?;
    let chrt = std::process::Command::new("chrt")
        .args(["--idle", "--pid", "0", &tid])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match chrt {
        Ok(s) if s.success() => Ok(()),
        _ => {
            let renice = std::process::Command::new("renice")
                .args(["-n", "19", "-p", &tid])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .map_err(|e| format!("chrt and renice: {e}"))?;
            if renice.success() {
                Ok(())
            } else {
                Err("chrt --idle and renice both failed".into())
            }
        }
    }
}
