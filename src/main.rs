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
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let result = match cli.command {
        Command::Run {
            channel,
            outputs,
            http,
            for_,
            unpaced,
            test_freeze_after,
            test_flv_start,
        } => run(
            channel,
            http,
            RunOptions {
                outputs,
                stop_after: for_,
                paced: !unpaced,
                freeze_after: test_freeze_after,
                flv_start: test_flv_start.unwrap_or(Micros::ZERO),
            },
        ),
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
    let notifier = playout::notify::Notifier::from_env().context("sd_notify")?;
    let config = ChannelConfig::load(&channel_path)?;
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
