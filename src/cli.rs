//! The command line (`clap`) and the commands that run apart from a channel: `check`,
//! `schedule`, `prepare`, `probe` and `quarantine`. Part of the binary, not the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use playout::config::ChannelConfig;
use playout::epg;
use playout::playlist::{check_files, Playlist};
use playout::time::Micros;

#[derive(Parser)]
#[command(
    name = "playout",
    version,
    about = "A 24/7 linear channel: a YAML playlist in, one unbroken RTMP stream out."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How log lines are written to stderr: text, or one JSON object a line (time, level,
    /// target, message and fields) for a log pipeline.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "PLAYOUT_LOG_FORMAT",
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Xmltv,
}

#[derive(Subcommand)]
pub enum Command {
    /// Play a channel until stopped (or for --for of channel time); given a folder, host
    /// every NAME.channel.yaml in it, each as its own supervised process, behind one HTTP
    /// front door (host.yaml's http, or --http).
    Run {
        channel: PathBuf,
        /// Send to this URL instead of the channel file's outputs (repeatable): rtmp://…,
        /// rtmps://…, hls:FOLDER or file:PATH.
        #[arg(long = "output", value_name = "URL")]
        outputs: Vec<String>,
        /// Serve /metrics and /healthz here (overrides http.listen).
        #[arg(long, value_name = "ADDR")]
        http: Option<SocketAddr>,
        /// Stop cleanly after this much channel time, e.g. 90s, 1m30s, 01:30:00.
        #[arg(long = "for", value_name = "DURATION")]
        for_: Option<Micros>,
        /// Do not pace to the wall clock: run as fast as the machine allows.
        #[arg(long)]
        unpaced: bool,
        /// Tests only: the encoder hangs after this much channel time (a fault switch for
        /// the watchdog test).
        #[arg(long, value_name = "DURATION", hide = true)]
        test_freeze_after: Option<Micros>,
        /// Tests only: each FLV publish session's timestamps start here instead of 0 (e.g.
        /// a minute short of the 24-day session limit, to see the planned republish).
        #[arg(long, value_name = "DURATION", hide = true)]
        test_flv_start: Option<Micros>,
        /// Run as a host's channel (`playout run DIR` starts its children so): the first line
        /// of stdin is the control token, HTTP listens on a loopback port of its own whose
        /// number goes to stdout, and the end of stdin stops the channel cleanly.
        #[arg(long, hide = true)]
        hosted: bool,
    },
    /// Validate channel or playlist files, or a folder of channels (every NAME.channel.yaml
    /// and host.yaml); exit 1 if any is invalid.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the programme guide: what plays when, from the same scheduler the channel uses.
    Schedule {
        channel: PathBuf,
        /// Start of the window (RFC 3339; default now). Without a state file the channel is
        /// assumed to start here.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Length of the window (default 24h).
        #[arg(long = "for", value_name = "DURATION", default_value = "24h")]
        for_: Micros,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List, or clear, the files kept off air for crashing the process twice in a row.
    Quarantine {
        #[command(subcommand)]
        action: QuarantineAction,
    },
    /// Make a conformed copy (the channel's exact format) of every media item and media
    /// event, in the cache folder beside the state file; whole copies are kept.
    Prepare { channel: PathBuf },
    /// Tell what the channel would do with each media file.
    Probe {
        #[arg(required = true)]
        media: Vec<PathBuf>,
        /// The channel whose format to compare against (default 1280x720 30 fps, 48 kHz stereo).
        #[arg(long)]
        channel: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum QuarantineAction {
    /// Print each quarantined file, since when and why.
    List { channel: PathBuf },
    /// Bring quarantined files back on air: the FILEs given, or all of them.
    Clear {
        channel: PathBuf,
        files: Vec<PathBuf>,
    },
}

pub fn schedule(
    channel_path: PathBuf,
    from: Option<String>,
    span: Micros,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let channel = ChannelConfig::load(&channel_path)?;
    let playlist = Arc::new(Playlist::load_named(&channel.playlist, &channel.file)?);
    let from = match from {
        Some(f) => playout::schedule::parse_instant(&f)
            .with_context(|| format!("--from {f:?} is not an RFC 3339 time"))?,
        None => playout::clock::wall_now(),
    };
    anyhow::ensure!(span > Micros::ZERO, "--for must be more than 0s");
    init_libav()?;
    let timeline = epg::guide_timeline(&channel, playlist, from);
    let ps = epg::programmes(&timeline, from, span);
    match format {
        Format::Text => print!("{}", epg::to_text(&ps)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&epg::to_json(&ps))?),
        Format::Xmltv => print!("{}", epg::to_xmltv(&channel.name, &ps)),
    }
    Ok(ExitCode::SUCCESS)
}

/// `playout check FILE|DIR…`: a folder is checked as the host reads it (every
/// `*.channel.yaml`, `host.yaml`, and what two channels would share).
pub fn check(paths: &[PathBuf]) -> ExitCode {
    let mut all = true;
    for p in paths {
        let (text, ok) = match p.is_dir() {
            true => match playout::host::folder::Folder::read(p) {
                Ok(f) => f.report(),
                Err(e) => (format!("{e}\n"), false),
            },
            false => check_files(std::slice::from_ref(p)),
        };
        print!("{text}");
        all &= ok;
    }
    exit(all)
}

pub fn prepare(channel_path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let channel = ChannelConfig::load(channel_path)?;
    let playlist = Playlist::load_named(&channel.playlist, &channel.file)?;
    match &channel.prepare {
        None => eprintln!(
            "playout: warning: {} says prepare: false, so `run` plays none of these copies \
             (leave prepare out, or give its settings, to pass them through)",
            channel_path.display()
        ),
        Some(p) if !p.enabled => eprintln!(
            "playout: warning: {} says prepare.enabled: false, so `run` plays none of these \
             copies (set it to true to pass them through)",
            channel_path.display()
        ),
        Some(_) => {}
    }
    init_libav()?;
    let sum = playout::conform::prepare::prepare(&channel, &playlist, |i, n, item, done| {
        println!("[{i}/{n}] {}: {}", item.title, done.describe());
    });
    println!("{}", sum.describe());
    Ok(exit(sum.failed == 0))
}

pub fn probe(media: &[PathBuf], channel: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let channel = match channel {
        Some(c) => {
            let ch = ChannelConfig::load(&c)?;
            let playlist = Playlist::load_named(&ch.playlist, &ch.file)?;
            Some((ch, playlist))
        }
        None => None,
    };
    init_libav()?;
    let (text, ok) = playout::probe::report_all(media, channel.as_ref().map(|(c, p)| (c, p)));
    print!("{text}");
    Ok(exit(ok))
}

pub fn quarantine(action: QuarantineAction) -> anyhow::Result<ExitCode> {
    use playout::quarantine::{clear, list, Paths};
    let (channel_path, files) = match &action {
        QuarantineAction::List { channel } => (channel, None),
        QuarantineAction::Clear { channel, files } => (channel, Some(files)),
    };
    let paths = Paths::beside(&ChannelConfig::load(channel_path)?.state);
    let lines = match files {
        None => list(&paths)?,
        Some(files) => clear(&paths, files)?,
    };
    for l in lines {
        println!("{l}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn init_libav() -> anyhow::Result<()> {
    ffmpeg_next::init().context("initialising libav")?;
    // libav's warnings and errors, as events of the target `libav`, rate-limited per message.
    playout::libav::route_log();
    Ok(())
}

pub fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Log lines to stderr, each after `ID| ` when a prefix is given (a host's channel). A JSON
/// line carries the id as its first field, `"channel_id":"ID"`, so that it stays one object.
pub struct LinePrefix {
    pub prefix: Option<String>,
    pub json: bool,
}

/// One log event's text, written to stderr in one piece (after the prefix) when dropped.
pub struct PrefixedLine<'a> {
    prefix: Option<&'a str>,
    json: bool,
    buf: Vec<u8>,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LinePrefix {
    type Writer = PrefixedLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        PrefixedLine {
            prefix: self.prefix.as_deref(),
            json: self.json,
            buf: Vec::new(),
        }
    }
}

impl std::io::Write for PrefixedLine<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for PrefixedLine<'_> {
    fn drop(&mut self) {
        use std::io::Write as _;
        let mut line = Vec::with_capacity(self.buf.len() + 16);
        match self.prefix {
            Some(p) if self.json && self.buf.first() == Some(&b'{') => {
                line.extend_from_slice(b"{\"channel_id\":");
                line.extend_from_slice(serde_json::Value::from(p).to_string().as_bytes());
                line.push(b',');
                line.extend_from_slice(&self.buf[1..]);
            }
            Some(p) => {
                line.extend_from_slice(p.as_bytes());
                line.extend_from_slice(b"| ");
                line.append(&mut self.buf);
            }
            None => line.append(&mut self.buf),
        }
        // A log line that cannot be written (the host gone) is dropped, never a panic.
        let _ = std::io::stderr().lock().write_all(&line);
    }
}
