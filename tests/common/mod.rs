//! End-to-end test harness shared by the test binaries (`mod common;`).
//!
//! - `nginx`: a throwaway nginx-rtmp ingest recording every publish to FLV.
//! - `probe`: ffprobe/ffmpeg CLI wrappers (streams, packets, frame sizes, decode errors).
//! - `prom`: a throwaway Prometheus (scrape job `playout`, rule files) queried over its HTTP
//!   API, `promtool`, and the dashboard's panel queries with Grafana's variables substituted.
//! - `recording`: analysis of a recording (`analyse` -> `Report`, printable).
//! - `expect`: `Expect` and `Report::problems`, the continuity checks.
//! - `fixtures`: the content matrix generated with the ffmpeg CLI.
//! - `channel`: `outputs:` YAML and the checks of one publish session of a multi-session run.
//! - `tls`: a throwaway certificate for nginx's TLS front (`Nginx::start_with_tls`).
//! - `proxy`: a loopback TCP proxy that can stop forwarding (`pause`/`resume`).
//! - `timeline`: clips whose frames carry their number, frame grids, times, the state file
//!   and `events:` for the scheduled-live tests (events, resume, epg); `guide`: their
//!   guide listings (slots, tiling) and XMLTV.
//! - `watch`: timestamped publish events (`PublishWatch`) and HTTP scrapes (`Scraper`).
//! - `edits`: numbered segment rotations, the state file's slot starts and recorded item runs
//!   for the hot-reload test; `edit_session`: its edits and their checks.
//! - `soak`: the soak test's instruments: continuity of a day-long recording streamed from
//!   ffprobe and frame grids of a window of it; `sampler`: RSS/fd/metrics sampling and the
//!   RSS slope.
//! - `hls`: HTTP requests that keep headers, live media playlists, MPEG-TS segment probes.
//! - `live`: `Playout`, the binary running in the background with timestamped stderr lines;
//!   `publish`: live publishers (`ffmpeg -re`), the `/api/v1/now` kinds over time, colour runs.
//! - here: YAML writers for channel and playlist files, and `run_playout`.
#![allow(dead_code, unused_imports)]

pub mod channel;
pub mod control;
pub mod edit_session;
pub mod edits;
pub mod expect;
pub mod fixtures;
pub mod guide;
pub mod hls;
pub mod live;
pub mod nginx;
pub mod probe;
pub mod prom;
pub mod proxy;
pub mod publish;
pub mod recording;
pub mod sampler;
pub mod soak;
pub mod soak_run;
pub mod timeline;
pub mod tls;
pub mod watch;

pub use channel::{check_session, output_yaml, session_expect, OutputSpec};
pub use expect::Expect;
pub use fixtures::{fixture, fixtures, Fixture, Kind, AAC2, X264};
pub use live::Playout;
pub use nginx::{free_port, Nginx};
pub use probe::{decode_errors, frame_sizes, probe_packets, probe_streams, Pkt, StreamInfo};
pub use proxy::Proxy;
pub use recording::{analyse, Report};
pub use watch::{http_get, sample, PublishWatch, Scrape, Scraper};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A YAML double-quoted scalar (JSON strings are valid YAML).
pub fn q(s: &str) -> String {
    serde_json::to_string(s).expect("json string")
}

/// Write `DIR/NAME.yaml`: a channel of `width`x`height` at `fps` (e.g. "30", "29.97",
/// "30000/1001"), ultrafast 400k video with a 2 s GOP, 48 kHz stereo 64k audio, a text slate,
/// and no outputs (pass `--output`). `extra` is appended verbatim as top-level YAML.
pub fn write_channel(
    dir: &Path,
    name: &str,
    width: u32,
    height: u32,
    fps: &str,
    playlist: &Path,
    extra: &str,
) -> PathBuf {
    let video = format!(
        "width: {width}, height: {height}, fps: {fps}, bitrate: 400k, preset: ultrafast, \
         keyframe_interval: 2s"
    );
    write_channel_video(dir, name, &video, playlist, extra)
}

/// `write_channel` with the `video:` mapping's content given verbatim (e.g.
/// `"width: 640, height: 360, fps: 30, bitrate: 2000k, preset: ultrafast"`).
pub fn write_channel_video(
    dir: &Path,
    name: &str,
    video: &str,
    playlist: &Path,
    extra: &str,
) -> PathBuf {
    ChannelFile::new(name, playlist)
        .video(video)
        .extra(extra)
        .write(dir)
}

/// The video every test channel has unless it says otherwise: 320x180 at 30 fps,
/// ultrafast 400k with a 2 s GOP.
pub const VIDEO_320: &str =
    "width: 320, height: 180, fps: 30, bitrate: 400k, preset: ultrafast, keyframe_interval: 2s";

/// A channel file, the one way the tests write one: `name`, `playlist` (relative to the
/// folder it is written to when inside it), and the `video:`, `audio:` and `slate:` mappings'
/// contents, with `extra` top-level YAML after them. Unless `extra` has a `prepare:` of its
/// own the file says `prepare: false`: a channel plays conformed copies by default, and a
/// test of what the encode path makes must not find its second loop passed through.
#[derive(Clone, Debug)]
pub struct ChannelFile {
    name: String,
    playlist: PathBuf,
    video: String,
    audio: String,
    slate: String,
    extra: String,
}

impl ChannelFile {
    pub fn new(name: &str, playlist: &Path) -> ChannelFile {
        ChannelFile {
            name: name.into(),
            playlist: playlist.into(),
            video: VIDEO_320.into(),
            audio: "sample_rate: 48000, channels: 2, bitrate: 64k".into(),
            slate: "text: \"Back soon\"".into(),
            extra: String::new(),
        }
    }
    pub fn video(mut self, v: &str) -> ChannelFile {
        self.video = v.into();
        self
    }
    pub fn audio(mut self, a: &str) -> ChannelFile {
        self.audio = a.into();
        self
    }
    pub fn slate(mut self, s: &str) -> ChannelFile {
        self.slate = s.into();
        self
    }
    /// Top-level YAML after the rest (each line ending in a newline).
    pub fn extra(mut self, e: &str) -> ChannelFile {
        self.extra = e.into();
        self
    }

    /// The file's text, for a test that writes it again with a change (a reload).
    pub fn text(&self, dir: &Path) -> String {
        let playlist = match self.playlist.strip_prefix(dir) {
            Ok(rel) => rel.display().to_string(),
            Err(_) => self.playlist.display().to_string(),
        };
        let prepare = match self.extra.contains("prepare:") {
            true => "",
            false => "prepare: false\n",
        };
        format!(
            "name: {}\nplaylist: {}\nvideo: {{ {} }}\naudio: {{ {} }}\nslate: {{ {} }}\n{}{prepare}",
            q(&self.name),
            q(&playlist),
            self.video,
            self.audio,
            self.slate,
            self.extra
        )
    }

    /// Writes `DIR/NAME.yaml`; its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("{}.yaml", self.name));
        fs::write(&path, self.text(dir)).expect("write channel file");
        path
    }
}

/// `write_channel` (320x180 at 30 fps) with one HLS output, `web` into `DIR/hls`, and the
/// HTTP server on `port`; `http_extra` goes inside `http: { … }` (e.g. `, api_token: "…"`),
/// `extra` after it as top-level YAML.
pub fn web_channel(
    dir: &Path,
    name: &str,
    playlist: &Path,
    port: u16,
    http_extra: &str,
    extra: &str,
) -> PathBuf {
    let yaml = format!(
        "outputs:\n  - name: web\n    url: hls:hls\n\
         http: {{ listen: \"127.0.0.1:{port}\"{http_extra} }}\n{extra}"
    );
    write_channel(dir, name, 320, 180, "30", playlist, &yaml)
}

/// One playlist entry.
#[derive(Clone, Debug)]
pub enum ItemSpec {
    Clip {
        path: PathBuf,
        title: Option<String>,
        inpoint: Option<String>,
        out: Option<String>,
    },
    /// `slate: DURATION`
    Slate(String),
}

impl ItemSpec {
    pub fn clip(path: impl Into<PathBuf>) -> ItemSpec {
        ItemSpec::Clip {
            path: path.into(),
            title: None,
            inpoint: None,
            out: None,
        }
    }
    pub fn slate(duration: &str) -> ItemSpec {
        ItemSpec::Slate(duration.into())
    }
    pub fn title(mut self, t: &str) -> ItemSpec {
        if let ItemSpec::Clip { title, .. } = &mut self {
            *title = Some(t.into());
        }
        self
    }
    /// `in:` point.
    pub fn inpoint(mut self, d: &str) -> ItemSpec {
        if let ItemSpec::Clip { inpoint, .. } = &mut self {
            *inpoint = Some(d.into());
        }
        self
    }
    pub fn out(mut self, d: &str) -> ItemSpec {
        if let ItemSpec::Clip { out, .. } = &mut self {
            *out = Some(d.into());
        }
        self
    }
}

/// Write `DIR/playlist.yaml` with `items` (absolute clip paths stay absolute).
pub fn write_playlist(dir: &Path, items: &[ItemSpec]) -> PathBuf {
    write_playlist_named(dir, "playlist.yaml", items)
}

pub fn write_playlist_named(dir: &Path, file: &str, items: &[ItemSpec]) -> PathBuf {
    let mut y = String::from("items:\n");
    for item in items {
        match item {
            ItemSpec::Slate(d) => y.push_str(&format!("  - slate: {}\n", q(d))),
            ItemSpec::Clip {
                path,
                title,
                inpoint,
                out,
            } => {
                y.push_str(&format!("  - path: {}\n", q(&path.display().to_string())));
                for (key, v) in [("title", title), ("in", inpoint), ("out", out)] {
                    if let Some(v) = v {
                        y.push_str(&format!("    {key}: {}\n", q(v)));
                    }
                }
            }
        }
    }
    let path = dir.join(file);
    fs::write(&path, y).expect("write playlist");
    path
}

/// Items for every fixture of the matrix (stills get `out: 2s`), titled by fixture name.
pub fn matrix_items(fixtures: &[Fixture]) -> Vec<ItemSpec> {
    fixtures
        .iter()
        .map(|f| {
            let item = ItemSpec::clip(&f.path).title(f.name);
            if f.kind == Kind::Still {
                item.out("2s")
            } else {
                item
            }
        })
        .collect()
}

/// The result of a `playout` run.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
}

/// Run the `playout` binary with `args`; killed (and the test panics) after 5 minutes.
pub fn run_playout(args: &[&str]) -> (ExitStatus, String, String, Duration) {
    let r = run_playout_timeout(args, Duration::from_secs(300));
    (r.status, r.stdout, r.stderr, r.wall)
}

pub fn run_playout_timeout(args: &[&str], timeout: Duration) -> Run {
    run_playout_with(args, &[], timeout)
}

/// `run_playout` with these environment variables set.
#[allow(dead_code)]
pub fn run_playout_env(args: &[&str], envs: &[(&str, &str)]) -> Run {
    run_playout_with(args, envs, Duration::from_secs(300))
}

fn run_playout_with(args: &[&str], envs: &[(&str, &str)], timeout: Duration) -> Run {
    let logs = tempfile::tempdir().expect("log dir");
    let out_path = logs.path().join("stdout");
    let err_path = logs.path().join("stderr");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_playout"))
        .args(args)
        .envs(envs.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("stdout file"))
        .stderr(fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawn playout");
    let status = wait_or_kill(
        &mut child,
        started + timeout,
        &format!("playout {args:?}"),
        &err_path,
    );
    let wall = started.elapsed();
    let stderr = fs::read_to_string(&err_path).unwrap_or_default();
    // As `Playout` does: a paced run's underruns, counted across the suite.
    let underruns = stderr.matches("Underrun:").count();
    if underruns > 0 {
        eprintln!("PLAYOUT_UNDERRUNS {underruns}");
    }
    Run {
        status,
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr,
        wall,
    }
}

/// Waits for `child` to exit; at `deadline` kills it and panics, naming `what` and the tail of
/// its stderr (in `err_path`).
pub fn wait_or_kill(
    child: &mut Child,
    deadline: Instant,
    what: &str,
    err_path: &Path,
) -> ExitStatus {
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} still running at its deadline; killed. stderr tail:\n{}",
                tail(&fs::read_to_string(err_path).unwrap_or_default(), 40)
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A channel run against a fresh nginx: keeps the ingest and the channel folder alive.
pub struct ChannelRun {
    pub nginx: Nginx,
    pub dir: tempfile::TempDir,
    pub channel: PathBuf,
    pub stream: String,
    pub run: Run,
}

impl ChannelRun {
    /// Panic with the stderr tail unless playout exited 0.
    pub fn assert_success(&self) {
        assert!(
            self.run.status.success(),
            "playout exited with {}; stderr tail:\n{}",
            self.run.status,
            tail(&self.run.stderr, 60)
        );
    }

    /// The one recording of this run (see `single_recording`).
    pub fn recording(&self) -> PathBuf {
        single_recording(&self.nginx, &self.stream)
    }
}

impl Drop for ChannelRun {
    /// Keep the channel folder (channel and playlist files) when the test is failing.
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dir.disable_cleanup(true);
            eprintln!("kept channel folder {}", self.dir.path().display());
        }
    }
}

/// Start nginx, write a `width`x`height`@`fps` channel called `name` playing `items`, and run
/// `playout run CHANNEL --output URL --for FOR_ [--unpaced]` against it.
pub fn run_channel(
    name: &str,
    (width, height): (u32, u32),
    fps: &str,
    items: &[ItemSpec],
    for_: &str,
    unpaced: bool,
) -> ChannelRun {
    let nginx = Nginx::start();
    let mut dir = tempfile::Builder::new()
        .prefix("playout-channel-")
        .tempdir()
        .expect("channel dir");
    if std::env::var_os("PLAYOUT_KEEP_TEST_DIRS").is_some() {
        dir.disable_cleanup(true);
    }
    let playlist = write_playlist(dir.path(), items);
    let channel = write_channel(dir.path(), name, width, height, fps, &playlist, "");
    let url = nginx.url(name);
    let channel_arg = channel.display().to_string();
    let mut args = vec!["run", &channel_arg, "--output", &url, "--for", for_];
    if unpaced {
        args.push("--unpaced");
    }
    let run = run_playout_timeout(&args, Duration::from_secs(300));
    eprintln!(
        "playout {args:?}: {} in {:.2} s; stderr tail:\n{}",
        run.status,
        run.wall.as_secs_f64(),
        tail(&run.stderr, 25)
    );
    ChannelRun {
        nginx,
        dir,
        channel,
        stream: name.to_string(),
        run,
    }
}

/// Wait for the ingest to see every publisher gone, then return the only recording of
/// `stream`; panics (with nginx logs) if there is not exactly one publish session and file.
pub fn single_recording(nginx: &Nginx, stream: &str) -> PathBuf {
    assert!(
        nginx.wait_idle(Duration::from_secs(10)),
        "publisher still connected to nginx\n{}",
        nginx.logs()
    );
    let files = nginx.recordings_of(stream);
    let sessions = nginx.publish_count(stream);
    assert!(
        files.len() == 1 && sessions == 1,
        "expected one publish session and one recording of {stream}, got {sessions} sessions, \
         files {files:?}\n{}",
        tail(&nginx.logs(), 60)
    );
    files.into_iter().next().unwrap()
}

/// Parse "30", "29.97", "30000/1001" into (num, den) the way a channel means them:
/// 23.976 / 29.97 / 59.94 are the NTSC rates n*1000/1001.
pub fn fps_ratio(fps: &str) -> (u32, u32) {
    if let Some((n, d)) = fps.split_once('/') {
        return (n.trim().parse().unwrap(), d.trim().parse().unwrap());
    }
    let f: f64 = fps.trim().parse().expect("fps");
    if (f - f.round()).abs() < 1e-9 {
        return (f.round() as u32, 1);
    }
    let ntsc = (f * 1.001).round();
    assert!((ntsc / 1.001 - f).abs() < 0.01, "unsupported fps {fps}");
    (ntsc as u32 * 1000, 1001)
}

/// For a test that keeps the cores busy (an unpaced channel, a soak): this thread, and so
/// every process and thread it starts from now on (playout, ffmpeg, ffprobe), runs at idle
/// priority (SCHED_IDLE, as the background preparer does), taking only the CPU the tests
/// beside it leave (.config/nextest.toml): the paced ones keep to the wall clock, and a
/// preparer at idle priority shares the rest. What such a test checks never depends on how
/// fast it runs.
pub fn heavy() {
    if let Err(e) = playout::conform::idle_priority() {
        eprintln!("cannot lower this test's priority: {e}");
    }
}

/// For a test that is busy but paced (a fuzzer against a paced channel): this thread and what
/// it starts run at nice 10, below the paced tests beside it but above the idle ones.
pub fn busy() {
    let tid = fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse::<u32>().ok());
    if let Some(tid) = tid {
        let _ = Command::new("renice")
            .args(["-n", "10", "-p", &tid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
