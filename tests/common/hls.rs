//! The HLS side of the harness: raw HTTP requests that keep the headers, a reader of live
//! media playlists, and what ffprobe says of one MPEG-TS segment.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::probe::{probe_packets, Pkt};
use super::timeline::parse_time;

/// An HTTP answer with its headers (names lowercased).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `METHOD path` over HTTP/1.0 to 127.0.0.1:`port`, with extra header lines; the path is
/// sent exactly as given (no normalisation, so encoded and `..` paths reach the server).
pub fn request(port: u16, method: &str, path: &str, headers: &[&str]) -> Option<Reply> {
    let addr = ([127, 0, 0, 1], port).into();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Reply {
        status,
        headers,
        body: buf[split + 4..].to_vec(),
    })
}

/// One segment as a media playlist lists it.
#[derive(Clone, Debug)]
pub struct Listed {
    pub seq: u64,
    pub uri: String,
    pub duration: f64,
    pub pdt: DateTime<Utc>,
    pub discontinuity: bool,
}

#[derive(Clone, Debug)]
pub struct MediaPlaylist {
    pub target: u64,
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub segments: Vec<Listed>,
}

/// Parses a live media playlist; panics naming the line on anything malformed, and requires
/// a program-date-time on every segment.
pub fn parse_playlist(text: &str) -> MediaPlaylist {
    assert!(text.starts_with("#EXTM3U\n"), "not a playlist: {text}");
    let mut p = MediaPlaylist {
        target: 0,
        media_sequence: 0,
        discontinuity_sequence: 0,
        segments: Vec::new(),
    };
    let (mut pdt, mut dur, mut disc) = (None, None, false);
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            p.target = v.parse().expect("target duration");
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.media_sequence = v.parse().expect("media sequence");
        } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
            p.discontinuity_sequence = v.parse().expect("discontinuity sequence");
        } else if line == "#EXT-X-DISCONTINUITY" {
            disc = true;
        } else if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = Some(parse_time(v).unwrap_or_else(|| panic!("bad date-time {line}")));
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            dur = Some(v.trim_end_matches(',').parse::<f64>().expect("EXTINF"));
        } else if !line.starts_with('#') && !line.is_empty() {
            let seq = p.media_sequence + p.segments.len() as u64;
            p.segments.push(Listed {
                seq,
                uri: line.to_string(),
                duration: dur.take().unwrap_or_else(|| panic!("{line} has no EXTINF")),
                pdt: pdt
                    .take()
                    .unwrap_or_else(|| panic!("{line} has no PROGRAM-DATE-TIME")),
                discontinuity: std::mem::take(&mut disc),
            });
        }
    }
    p
}

/// What one segment holds, from ffprobe (times in seconds of the file's own clock).
#[derive(Clone, Debug)]
pub struct SegmentInfo {
    pub first_is_key: bool,
    pub video_frames: usize,
    pub video_start: f64,
    /// Last video pts plus one frame.
    pub video_end: f64,
    pub audio: Vec<(f64, f64)>,
}

pub fn segment_info(path: &Path, fps: f64) -> SegmentInfo {
    let packets = probe_packets(path);
    let video: Vec<&Pkt> = packets.iter().filter(|p| p.codec_type == "video").collect();
    assert!(!video.is_empty(), "{}: no video", path.display());
    let pts = |p: &Pkt| p.pts_s().expect("pts");
    let first = video.iter().map(|p| pts(p)).fold(f64::MAX, f64::min);
    let last = video.iter().map(|p| pts(p)).fold(f64::MIN, f64::max);
    let mut audio: Vec<(f64, f64)> = packets
        .iter()
        .filter(|p| p.codec_type == "audio")
        .map(|p| (pts(p), p.duration_s().unwrap_or(0.0)))
        .collect();
    audio.sort_by(|a, b| a.0.total_cmp(&b.0));
    SegmentInfo {
        first_is_key: video[0].is_key(),
        video_frames: video.len(),
        video_start: first,
        video_end: last + 1.0 / fps,
        audio,
    }
}

/// Waits until the HLS playlist in `folder` lists `n` segments (a page then starts playing
/// at once); panics with playout's log if it exits or 30 s pass.
pub fn wait_for_segments(p: &mut super::live::Playout, folder: &Path, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let listed = std::fs::read_to_string(folder.join("index.m3u8"))
            .map(|t| parse_playlist(&t).segments.len())
            .unwrap_or(0);
        if listed >= n {
            return;
        }
        assert!(
            p.is_running(),
            "playout exited:\n{}",
            super::tail(&p.stderr(), 40)
        );
        assert!(
            std::time::Instant::now() < deadline,
            "only {listed} segments after 30 s:\n{}",
            super::tail(&p.stderr(), 40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
