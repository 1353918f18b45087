//! Measuring one process: CPU (user + system) and peak RSS of exactly that child from
//! `wait4`, wall time from spawn to exit; and the time from spawn to the first coded frame
//! at the ingest, read from nginx-rtmp's recording as it grows.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{tail, Nginx};

/// What one process cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// User + system CPU seconds, all threads.
    pub cpu: f64,
    pub wall: f64,
    pub max_rss_kib: u64,
}

/// A process with its output going to files (read after it exits, for errors).
pub struct Spawned {
    child: Child,
    started: Instant,
    logs: tempfile::TempDir,
    what: String,
}

pub fn spawn(cmd: &mut Command) -> Spawned {
    let logs = tempfile::tempdir().expect("log dir");
    let what = format!("{cmd:?}");
    let started = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(logs.path().join("stdout")).expect("stdout file"))
        .stderr(fs::File::create(logs.path().join("stderr")).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    Spawned {
        child,
        started,
        logs,
        what,
    }
}

impl Spawned {
    pub fn since_start(&self) -> Duration {
        self.started.elapsed()
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.logs.path().join("stderr")).unwrap_or_default()
    }

    /// SIGINT, as an operator's Ctrl-C (the `kill` CLI: no second `unsafe`).
    pub fn interrupt(&self) {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
    }

    /// Waits for the exit (SIGKILL after `timeout`) and panics unless it exited 0.
    pub fn reap(mut self, timeout: Duration) -> (Usage, Self) {
        let pid = self.child.id() as i32;
        let (status, usage) = loop {
            if let Some(done) = wait4_nohang(pid) {
                break done;
            }
            if self.started.elapsed() > timeout {
                // Not reaped yet, so the pid is still ours.
                let _ = self.child.kill();
                let (status, _) = wait_blocking(pid);
                panic!(
                    "{} still running after {timeout:?}; killed ({status}). stderr tail:\n{}",
                    self.what,
                    tail(&self.stderr(), 40)
                );
            }
            thread::sleep(Duration::from_millis(2));
        };
        let usage = Usage {
            wall: self.started.elapsed().as_secs_f64(),
            ..usage
        };
        assert!(
            status.success(),
            "{} exited with {status}; stderr tail:\n{}",
            self.what,
            tail(&self.stderr(), 40)
        );
        (usage, self)
    }
}

fn wait_blocking(pid: i32) -> (ExitStatus, Usage) {
    loop {
        if let Some(done) = wait4_nohang(pid) {
            return done;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// Reaps `pid` if it has exited: its status, CPU and peak RSS. std's `Child::wait` gives no
/// resource usage, and `getrusage(RUSAGE_CHILDREN)` would mix every child this process reaped.
#[allow(unsafe_code)]
fn wait4_nohang(pid: i32) -> Option<(ExitStatus, Usage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain integers, for which all-zero bytes are a valid value; both
    // pointers are to locals that outlive the call; `pid` is a child of this process that no
    // one else waits for (its `Child` is never waited on through std).
    let (r, ru) = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        let r = libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru);
        (r, ru)
    };
    assert!(r >= 0, "wait4({pid}): {}", std::io::Error::last_os_error());
    if r == 0 {
        return None;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some((
        ExitStatus::from_raw(status),
        Usage {
            cpu: secs(ru.ru_utime) + secs(ru.ru_stime),
            wall: 0.0,
            max_rss_kib: ru.ru_maxrss as u64,
        },
    ))
}

/// `playout run CHANNEL --unpaced --for FOR_MS ms --output OUTPUT`, measured.
pub fn playout_unpaced(channel: &Path, for_ms: i64, output: &str) -> Usage {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_playout"));
    cmd.arg("run")
        .arg(channel)
        .args([
            "--unpaced",
            "--for",
            &format!("{for_ms}ms"),
            "--output",
            output,
        ])
        .env("NO_COLOR", "1");
    spawn(&mut cmd).reap(Duration::from_secs(900)).0
}

/// `playout prepare CHANNEL`: the conformed copies of every item, made once.
pub fn playout_prepare(channel: &Path) -> Usage {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_playout"));
    cmd.arg("prepare").arg(channel).env("NO_COLOR", "1");
    spawn(&mut cmd).reap(Duration::from_secs(1800)).0
}

/// What the floor needs to transcode one clip as playout would.
pub struct FloorJob {
    pub clip: PathBuf,
    pub vf: String,
    pub af: String,
}

/// The encoder settings of src/pipeline/encode.rs as ffmpeg CLI options.
pub struct Encoding {
    pub preset: String,
    pub bitrate_k: u32,
    pub gop: u32,
    pub audio_k: u32,
}

/// The ffmpeg CLI transcoding one clip alone to FLV, thrown away: the floor. Returns its cost
/// and the video frames it encoded (from `-progress`).
///
/// The same as playout: decoder, filter chains (from `playout probe`), x264 and AAC settings,
/// FLV muxing. Different: ffmpeg's own decoder and filter threading defaults, one process per
/// clip (start-up paid per clip, nothing carried across), no splicing, no pacing, no reconnect
/// logic, and each clip's encoders start fresh (an IDR at each clip's start, which playout
/// does only every GOP).
pub fn floor(job: &FloorJob, enc: &Encoding, out: &Path) -> (Usage, u64) {
    let logs = tempfile::tempdir().expect("progress dir");
    let progress = logs.path().join("progress");
    let (b, buf) = (enc.bitrate_k, 2 * enc.bitrate_k);
    let x264 = format!(
        "keyint={g}:min-keyint={g}:scenecut=0:open-gop=0:vbv-maxrate={b}:vbv-bufsize={buf}",
        g = enc.gop
    );
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-noautorotate", "-i"])
        .arg(&job.clip)
        .args(["-vf", &job.vf, "-af", &job.af])
        .args(["-c:v", "libx264", "-preset", &enc.preset])
        .args(["-b:v", &format!("{b}k"), "-maxrate", &format!("{b}k")])
        .args(["-bufsize", &format!("{buf}k"), "-g", &enc.gop.to_string()])
        .args([
            "-x264-params",
            &x264,
            "-forced-idr",
            "1",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-b:a", &format!("{}k", enc.audio_k)])
        .args(["-ar", "48000", "-ac", "2", "-flags", "+global_header"])
        .args(["-fps_mode", "passthrough", "-progress"])
        .arg(&progress)
        .args(["-f", "flv", "-y"])
        .arg(out);
    let (usage, _) = spawn(&mut cmd).reap(Duration::from_secs(900));
    let text = fs::read_to_string(&progress).unwrap_or_default();
    let frames = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("frame=")?.trim().parse().ok())
        .unwrap_or(0);
    (usage, frames)
}

/// Times from spawn to the first coded frames at the ingest.
#[derive(Clone, Copy, Debug)]
pub struct FirstPacket {
    /// First audio or video tag carrying a coded frame (not a sequence header).
    pub media_ms: f64,
    /// First video keyframe (x264's first frame is one, so usually the first video tag).
    pub keyframe_ms: f64,
}

/// Runs the channel paced into `nginx` as `stream`, polling the recording every 2 ms until it
/// holds a coded frame and a keyframe (or `timeout`), then stops it with SIGINT.
pub fn first_packet(
    channel: &Path,
    nginx: &Nginx,
    stream: &str,
    timeout: Duration,
) -> Option<FirstPacket> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_playout"));
    cmd.arg("run")
        .arg(channel)
        .args(["--output", &nginx.url(stream)])
        .env("NO_COLOR", "1");
    let run = spawn(&mut cmd);
    let (mut media, mut key) = (None, None);
    while run.since_start() < timeout && key.is_none() {
        if let Some(rec) = nginx.recordings_of(stream).first() {
            let bytes = fs::read(rec).unwrap_or_default();
            let tags = flv_tags(&bytes);
            let ms = run.since_start().as_secs_f64() * 1e3;
            if media.is_none() && tags.iter().any(|t| t.coded) {
                media = Some(ms);
            }
            if tags.iter().any(|t| t.coded && t.key) {
                key = Some(ms);
            }
        }
        thread::sleep(Duration::from_millis(2));
    }
    run.interrupt();
    run.reap(Duration::from_secs(30));
    Some(FirstPacket {
        media_ms: media?,
        keyframe_ms: key?,
    })
}

struct Tag {
    /// Audio or video carrying a coded frame (AACPacketType / AVCPacketType 1).
    coded: bool,
    key: bool,
}

/// The complete tags of an FLV byte prefix: a 9-byte header and a 4-byte previous-tag size,
/// then tags of 11 header bytes (type, 24-bit size, timestamps, stream id), data and 4 bytes.
fn flv_tags(b: &[u8]) -> Vec<Tag> {
    let mut tags = Vec::new();
    if b.len() < 13 || &b[..3] != b"FLV" {
        return tags;
    }
    let mut at = 13;
    while at + 11 <= b.len() {
        let kind = b[at];
        let size = u32::from_be_bytes([0, b[at + 1], b[at + 2], b[at + 3]]) as usize;
        let data = at + 11;
        if data + size > b.len() {
            break;
        }
        let d = &b[data..data + size];
        let (coded, key) = match kind {
            // SoundFormat 10 (AAC) in the high nibble, then AACPacketType.
            8 => (d.len() > 2 && d[0] >> 4 == 10 && d[1] == 1, false),
            // FrameType (1 = key) and CodecID 7 (AVC), then AVCPacketType.
            9 => {
                let coded = d.len() > 5 && d[0] & 0x0f == 7 && d[1] == 1;
                (coded, coded && d[0] >> 4 == 1)
            }
            _ => (false, false),
        };
        tags.push(Tag { coded, key });
        at = data + size + 4;
    }
    tags
}
