//! One channel's supervisor: starts `playout run FILE --hosted` as a child process, watches
//! it, and starts it again when it ends or stops making progress, with backoff.
//!
//! - The child reads this start's token from the first line of its stdin, and stops cleanly
//!   when stdin ends. The host keeps the write end: to stop a child it closes it, and if the
//!   host dies (even by `kill -9`) the kernel closes it, so no child outlives its host.
//! - The child answers on a loopback port of its own choosing, which it prints on stdout.
//! - Once a second the supervisor reads the child's `/healthz` (progress: frames encoded or
//!   passed through) and `/api/v1/now` (what is on air). A child that does not answer, or
//!   that sent no frame on, for `WATCHDOG` is killed and started again, as systemd's
//!   watchdog would.
//! - Backoff: `MIN_BACKOFF` doubling to `MAX_BACKOFF`, back to the start once a child stayed
//!   on air for `STEADY`.
//! - A child resumes on its timeline (its state file) and keeps its quarantine: both are the
//!   channel's own files, exactly as under systemd.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use super::registry::{ChildState, Registry};
use super::HOSTED_READY;
use crate::config::ApiToken;
use crate::time::Micros;

/// The first wait before starting a channel again.
pub const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait before starting a channel again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// On air this long, a channel's next restart waits `MIN_BACKOFF` again.
pub const STEADY: Duration = Duration::from_secs(60);
/// No answer, or no frame encoded, for this long: the child is hung.
pub const WATCHDOG: Duration = Duration::from_secs(10);
/// How long a child has to say its port after it is started.
pub const STARTUP: Duration = Duration::from_secs(60);
/// How long a child has to end after its stdin is closed, before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often the child is asked how it is.
const POLL: Duration = Duration::from_secs(1);

/// What the host asks of a supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Start the child again now (its file changed in a way a reload cannot apply).
    Restart,
    /// Stop the child cleanly and end.
    Stop,
}

/// How a run of the child ended.
enum Ended {
    Exited(ExitStatus),
    Hung(String),
    Failed(String),
    Restart,
    Stop,
}

/// A channel's supervisor: the sender of its asks, and its task.
pub struct Supervisor {
    pub asks: mpsc::UnboundedSender<Ask>,
    pub task: tokio::task::JoinHandle<()>,
}

impl Supervisor {
    /// Starts supervising `id` (already in `registry`), whose file is `file`.
    pub fn spawn(
        id: String,
        file: PathBuf,
        exe: PathBuf,
        freeze: Option<Micros>,
        registry: Registry,
    ) -> Supervisor {
        let (asks, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(supervise(id, file, exe, freeze, registry, rx));
        Supervisor { asks, task }
    }
}

async fn supervise(
    id: String,
    file: PathBuf,
    exe: PathBuf,
    mut freeze: Option<Micros>,
    registry: Registry,
    mut asks: mpsc::UnboundedReceiver<Ask>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let token = match new_token() {
            Ok(t) => t,
            Err(e) => {
                // Without randomness there is no token the host can trust; say so and stop.
                registry.update(&id, |v| {
                    v.set_state(ChildState::Failed);
                    v.error = Some(format!("cannot make a token for the channel: {e}"));
                });
                return;
            }
        };
        let started = Instant::now();
        let run = Run {
            id: &id,
            file: &file,
            exe: &exe,
            token: &token,
            freeze: freeze.take(),
        };
        let (ended, on_air_for) = run_once(run, &registry, &mut asks).await;
        registry.update(&id, |v| {
            v.pid = None;
            v.port = None;
            v.token = None;
        });
        let why = match ended {
            Ended::Stop => {
                registry.update(&id, |v| v.set_state(ChildState::Stopped));
                tracing::info!(channel = %id, "Channel stopped.");
                return;
            }
            Ended::Restart => {
                registry.update(&id, |v| {
                    v.set_state(ChildState::Starting);
                    v.restarts += 1;
                });
                tracing::info!(channel = %id, "Channel restarted: its file changed in a way a reload cannot apply.");
                backoff = MIN_BACKOFF;
                continue;
            }
            Ended::Exited(status) => format!("its process ended ({status})"),
            Ended::Hung(why) => format!("it was killed: {why}"),
            Ended::Failed(why) => why,
        };
        if on_air_for >= STEADY {
            backoff = MIN_BACKOFF;
        }
        tracing::warn!(channel = %id, reason = %why, after_s = started.elapsed().as_secs_f64(), backoff_s = backoff.as_secs_f64(), "Channel down; starting it again after the backoff.");
        registry.update(&id, |v| {
            v.set_state(ChildState::Restarting);
            v.restarts += 1;
            v.last_restart = Some((crate::clock::wall_now(), why.clone()));
            v.error = Some(why);
        });
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            ask = asks.recv() => match ask {
                Some(Ask::Restart) => {}
                Some(Ask::Stop) | None => {
                    registry.update(&id, |v| v.set_state(ChildState::Stopped));
                    return;
                }
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// What one start of a child is.
struct Run<'a> {
    id: &'a str,
    file: &'a std::path::Path,
    exe: &'a std::path::Path,
    token: &'a str,
    /// Tests only: its encoder hangs after this much channel time.
    freeze: Option<Micros>,
}

/// One run of the child, from its start to its end; and how long it was on air.
async fn run_once(
    run: Run<'_>,
    registry: &Registry,
    asks: &mut mpsc::UnboundedReceiver<Ask>,
) -> (Ended, Duration) {
    let Run {
        id,
        file,
        exe,
        token,
        freeze,
    } = run;
    let mut command = Command::new(exe);
    command.arg("run").arg(file).arg("--hosted");
    if let Some(f) = freeze {
        command.arg("--test-freeze-after").arg(f.to_string());
    }
    let mut child = match command
        // The host speaks to systemd; a child that did too would be taken for the host.
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return (
                Ended::Failed(format!("cannot start {}: {e}", exe.display())),
                Duration::ZERO,
            )
        }
    };
    let pid = child.id();
    registry.update(id, |v| v.pid = pid);
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return (
            Ended::Failed("the child's pipes were not made".into()),
            Duration::ZERO,
        );
    };
    if let Err(e) = async {
        stdin.write_all(format!("{token}\n").as_bytes()).await?;
        stdin.flush().await
    }
    .await
    {
        let status = end(&mut child, stdin).await;
        return (
            Ended::Failed(format!(
                "the channel did not take its token ({e}); it ended: {status}"
            )),
            Duration::ZERO,
        );
    }
    let mut lines = BufReader::new(stdout).lines();
    let port = tokio::select! {
        line = tokio::time::timeout(STARTUP, lines.next_line()) => match line {
            Ok(Ok(Some(l))) => l
                .strip_prefix(HOSTED_READY)
                .and_then(|p| p.trim().parse::<u16>().ok()),
            _ => None,
        },
        ask = asks.recv() => {
            end(&mut child, stdin).await;
            return (match ask { Some(Ask::Restart) => Ended::Restart, _ => Ended::Stop }, Duration::ZERO);
        }
    };
    let Some(port) = port else {
        let status = end(&mut child, stdin).await;
        return (
            Ended::Failed(format!(
                "the channel did not start within {} s (its log says why): {status}",
                STARTUP.as_secs()
            )),
            Duration::ZERO,
        );
    };
    // Nothing else comes on stdout; read it to its end so the child never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let secret = ApiToken::new(token.to_string());
    registry.update(id, |v| {
        v.port = Some(port);
        v.token = Some(secret);
    });
    tracing::info!(channel = %id, pid, port, "Channel process started.");
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_ok = Instant::now();
    let mut on_air_at: Option<Instant> = None;
    let on_air_for = |at: Option<Instant>| at.map_or(Duration::ZERO, |t| t.elapsed());
    loop {
        tokio::select! {
            status = child.wait() => {
                let ended = match status {
                    Ok(s) => Ended::Exited(s),
                    Err(e) => Ended::Failed(format!("cannot wait for the channel's process: {e}")),
                };
                return (ended, on_air_for(on_air_at));
            }
            ask = asks.recv() => {
                let status = end(&mut child, stdin).await;
                tracing::info!(channel = %id, %status, "Channel process ended on request.");
                let ended = match ask { Some(Ask::Restart) => Ended::Restart, _ => Ended::Stop };
                return (ended, on_air_for(on_air_at));
            }
            _ = tick.tick() => {
                match poll(port).await {
                    Ok(p) => {
                        let started = p.frames > 0 || p.seconds_out > 0.0;
                        let stalled = Duration::from_secs_f64(p.stalled_s.max(0.0));
                        if !started || stalled < WATCHDOG {
                            last_ok = Instant::now();
                        }
                        if started && on_air_at.is_none() {
                            on_air_at = Some(Instant::now());
                            tracing::info!(channel = %id, "Channel on air.");
                        }
                        registry.update(id, |v| {
                            if started {
                                v.set_state(ChildState::OnAir);
                            }
                            v.on_air = p.on_air;
                            v.error = p.reload_error;
                        });
                    }
                    Err(e) => tracing::debug!(channel = %id, error = %e, "Channel did not answer."),
                }
                // Starting counts against the same clock: a child that never makes a
                // frame is as hung as one that stopped making them.
                let limit = if on_air_at.is_some() { WATCHDOG } else { STARTUP };
                if last_ok.elapsed() > limit {
                    let why = format!(
                        "no answer and no frame encoded for {} s",
                        last_ok.elapsed().as_secs()
                    );
                    let _ = child.kill().await;
                    return (Ended::Hung(why), on_air_for(on_air_at));
                }
            }
        }
    }
}

/// Closes the child's stdin (it stops cleanly at its next frame) and waits `STOP_GRACE`
/// for it to end, then kills it.
async fn end(child: &mut Child, stdin: ChildStdin) -> String {
    drop(stdin);
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(Ok(status)) => status.to_string(),
        Ok(Err(e)) => format!("cannot wait for it: {e}"),
        Err(_) => {
            let _ = child.kill().await;
            format!("killed: it did not end within {} s", STOP_GRACE.as_secs())
        }
    }
}

/// What one poll of a child found.
struct Poll {
    frames: u64,
    /// Channel seconds encoded or passed through.
    seconds_out: f64,
    stalled_s: f64,
    on_air: Option<(String, String)>,
    reload_error: Option<String>,
}

async fn poll(port: u16) -> Result<Poll, super::fetch::FetchError> {
    let health = super::fetch::get(port, "/healthz", POLL).await?;
    let h: serde_json::Value = serde_json::from_slice(&health.body).unwrap_or_default();
    let progress = &h["progress"];
    let now = super::fetch::get(port, "/api/v1/now", POLL).await?;
    let n: serde_json::Value = serde_json::from_slice(&now.body).unwrap_or_default();
    let on_air = n["current"]["title"].as_str().map(|t| {
        (
            t.to_string(),
            n["current"]["kind"].as_str().unwrap_or("").to_string(),
        )
    });
    Ok(Poll {
        frames: progress["frames_encoded"].as_u64().unwrap_or(0),
        seconds_out: progress["seconds_out"].as_f64().unwrap_or(0.0),
        stalled_s: progress["stalled_seconds"].as_f64().unwrap_or(0.0),
        on_air,
        reload_error: n["reload_error"].as_str().map(str::to_string),
    })
}

/// 32 hex digits from the kernel's random source.
fn new_token() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}
