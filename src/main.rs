//! The `playout` binary: command line, logging, signals and wiring. Thin by design; the
//! library does the work, and this is the only place `anyhow` is used.

mod cli;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

use cli::{exit, init_libav, Cli, Command};
use playout::channel::{Channel, RunOptions};
use playout::config::ChannelConfig;
use playout::time::Micros;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A host's channel says which it is on every line: the host's children share its stderr.
    let prefix = match &cli.command {
        Command::Run {
            channel,
            hosted: true,
            ..
        } => channel.file_name().and_then(|n| n.to_str()).map(|n| {
            n.trim_end_matches(playout::host::folder::SUFFIX)
                .to_string()
        }),
        _ => None,
    };
    let json = cli.log_format == cli::LogFormat::Json;
    if json {
        // A host's channels inherit the format (they log to the host's stderr). Set here,
        // before any thread exists.
        std::env::set_var("PLAYOUT_LOG_FORMAT", "json");
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let writer = cli::LinePrefix { prefix, json };
    if json {
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(writer)
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(std::io::stderr().is_terminal())
            .with_env_filter(filter)
            .init();
    }
    let result = match cli.command {
        Command::Run {
            channel,
            outputs,
            http,
            for_,
            unpaced,
            test_freeze_after,
            test_flv_start,
            hosted,
        } => {
            let opts = RunOptions {
                outputs,
                stop_after: for_,
                paced: !unpaced,
                freeze_after: test_freeze_after,
                flv_start: test_flv_start.unwrap_or(Micros::ZERO),
                hosted,
            };
            if !hosted && channel.is_dir() {
                host(channel, http, opts)
            } else {
                run(channel, http, opts)
            }
        }
        Command::Check { files } => Ok(cli::check(&files)),
        Command::Schedule {
            channel,
            from,
            for_,
            format,
        } => cli::schedule(channel, from, for_, format),
        Command::Probe { media, channel } => cli::probe(&media, channel),
        Command::Prepare { channel } => cli::prepare(&channel),
        Command::Quarantine { action } => cli::quarantine(action),
    };
    match result {
        Ok(code) => code,
        Err(e) if json => {
            tracing::error!("playout: {e:#}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("playout: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    channel_path: PathBuf,
    http: Option<SocketAddr>,
    opts: RunOptions,
) -> anyhow::Result<ExitCode> {
    let hosted = opts.hosted;
    let notifier = playout::notify::Notifier::from_env().context("sd_notify")?;
    let mut config = ChannelConfig::load(&channel_path)?;
    let http = match hosted {
        // The host is the edge: its gate has checked the operator's token, and it hands on
        // this one, made for this start, which never leaves it.
        true => {
            config.http.api_token = Some(read_host_token()?);
            Some(http.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))))
        }
        false => http,
    };
    init_libav()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tokio")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let listener = match http.or(config.http.listen) {
        Some(addr) => {
            Some(runtime.block_on(playout::http::listen(addr, config.http.api_token.is_some()))?)
        }
        None => None,
    };
    let channel = Channel::start(config, opts)?;
    let api = channel.api();
    if hosted {
        let port = match &listener {
            Some(l) => l.local_addr().context("the HTTP listener's port")?.port(),
            None => 0,
        };
        host_told_ready(port)?;
        let stop = channel.stop_handle();
        std::thread::Builder::new()
            .name("host-pipe".into())
            .spawn(move || {
                wait_for_eof();
                tracing::info!(
                    "Stopping: the host closed the pipe (it stops this channel, or is gone)."
                );
                stop.stop();
            })
            .context("starting the host pipe thread")?;
    }
    if let Some(listener) = listener {
        let state =
            playout::http::State::of(&api).context("starting the library's probe thread")?;
        runtime.spawn(playout::http::serve_channel(listener, state));
    }
    #[cfg(unix)]
    {
        let reload = api.reload.clone();
        runtime.spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            if let Ok(mut hup) = signal(SignalKind::hangup()) {
                while hup.recv().await.is_some() {
                    tracing::info!("Reloading: SIGHUP received.");
                    let _ = reload.try_send(());
                }
            }
        });
    }
    let stop = channel.stop_handle();
    let n = notifier.clone();
    runtime.spawn(async move {
        wait_for_signal().await;
        tracing::info!("Stopping: signal received.");
        if let Some(n) = &n {
            n.stopping();
        }
        stop.stop();
    });
    if let Some(n) = &notifier {
        n.spawn(api.metrics.clone(), api.timeline.clone())
            .context("starting the sd_notify thread")?;
        tracing::info!(
            watchdog_ms = n.watchdog_interval().map(|d| d.as_millis() as u64),
            "Speaking sd_notify to the service manager."
        );
    }
    let ok = channel.join();
    if let Some(n) = &notifier {
        n.stopping();
    }
    tracing::info!("Channel stopped.");
    runtime.shutdown_background();
    Ok(exit(ok))
}

/// `playout run DIR`: the host of a folder of channels, until SIGTERM or Ctrl-C.
fn host(dir: PathBuf, http: Option<SocketAddr>, opts: RunOptions) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        opts.outputs.is_empty() && opts.paced,
        "{}: --output and --unpaced apply to one channel file, not a folder of channels (each \
         channel's file says its outputs)",
        dir.display()
    );
    let (for_, freeze_first_start_after) = (opts.stop_after, opts.freeze_after);
    let exe = std::env::current_exe().context("finding this program to start the channels")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tokio")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let notifier = playout::notify::Notifier::from_env().context("sd_notify")?;
    runtime.block_on(async move {
        let stop = async move {
            match for_ {
                Some(d) => {
                    tokio::select! {
                        _ = wait_for_signal() => {}
                        _ = tokio::time::sleep(d.to_std()) => {}
                    }
                }
                None => wait_for_signal().await,
            }
            tracing::info!("Stopping every channel.");
        };
        playout::host::run(
            playout::host::HostOptions {
                dir,
                http,
                exe,
                notifier,
                freeze_first_start_after,
            },
            stop,
        )
        .await
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(ExitCode::SUCCESS)
}

/// The host's token for this start: the first line of stdin.
fn read_host_token() -> anyhow::Result<playout::config::ApiToken> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the host's token from stdin")?;
    let token = line.trim();
    anyhow::ensure!(
        token.len() >= playout::config::MIN_TOKEN_CHARS,
        "--hosted: stdin's first line must be the host's token (is playout run DIR running this?)"
    );
    Ok(playout::config::ApiToken::new(token.to_string()))
}

/// Tells the host the channel's port: one line on stdout.
fn host_told_ready(port: u16) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} {port}", playout::host::HOSTED_READY)
        .and_then(|_| out.flush())
        .context("telling the host the channel's port")
}

/// Returns once stdin ends: the host closed it, or died.
fn wait_for_eof() {
    use std::io::Read as _;
    let mut buf = [0u8; 64];
    let mut stdin = std::io::stdin();
    while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
