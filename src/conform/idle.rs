//! Idle priority for the background preparer's thread, without `unsafe` (and for the test
//! suite's CPU-heavy tests, which take only the CPU the others leave).

/// SCHED_IDLE for this thread, and so for every thread it starts (Linux threads inherit the
/// policy): the decoder's, the encoder's and x264's own. `chrt` (util-linux, on every
/// Debian) sets it by thread id, which `/proc/thread-self` gives without any `unsafe`.
pub fn idle_priority() -> Result<(), IdleError> {
    let link = std::fs::read_link("/proc/thread-self").map_err(IdleError::ThreadId)?;
    let tid = link
        .file_name()
        .map(|t| t.to_string_lossy().into_owned())
        .ok_or(IdleError::NoThreadId)?;
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
                .map_err(IdleError::Spawn)?;
            if renice.success() {
                Ok(())
            } else {
                Err(IdleError::Refused)
            }
        }
    }
}

/// Why the thread could not be given idle priority (it runs at its normal priority).
#[derive(Debug, thiserror::Error)]
pub enum IdleError {
    #[error("cannot read /proc/thread-self: {0}")]
    ThreadId(std::io::Error),
    #[error("no thread id in /proc/thread-self")]
    NoThreadId,
    #[error("chrt and renice: {0}")]
    Spawn(std::io::Error),
    #[error("chrt --idle and renice both failed")]
    Refused,
}
