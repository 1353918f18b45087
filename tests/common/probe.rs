//! ffprobe / ffmpeg CLI wrappers: stream info, packets, decoded frame sizes, decode errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// One demuxed packet, as ffprobe reports it (timestamps in stream time base ticks).
#[derive(Clone, Debug)]
pub struct Pkt {
    pub stream_index: usize,
    pub codec_type: String,
    pub pts: Option<i64>,
    pub dts: Option<i64>,
    pub duration: Option<i64>,
    pub flags: String,
    pub size: u64,
    /// Seconds per tick of the stream's time base (1/1000 for FLV).
    pub tick: f64,
}

impl Pkt {
    pub fn pts_s(&self) -> Option<f64> {
        self.pts.or(self.dts).map(|t| t as f64 * self.tick)
    }
    pub fn duration_s(&self) -> Option<f64> {
        self.duration.map(|d| d as f64 * self.tick)
    }
    pub fn is_key(&self) -> bool {
        self.flags.contains('K')
    }
}

/// Stream parameters from `ffprobe -show_streams`.
#[derive(Clone, Debug, Default)]
pub struct StreamInfo {
    pub index: usize,
    pub codec_type: String,
    pub codec_name: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub pix_fmt: Option<String>,
    pub field_order: Option<String>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
    pub channel_layout: Option<String>,
    /// Display matrix rotation in degrees, if any side data carries one.
    pub rotation: Option<i64>,
    pub time_base: String,
    pub r_frame_rate: String,
    pub duration_s: Option<f64>,
}

fn ffprobe_json(path: &Path, args: &[&str]) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {args:?} {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe json")
}

fn num(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// `"1/1000"` -> 0.001
pub fn ratio(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/')?;
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (d != 0.0).then_some(n / d)
}

/// Stream info for every stream of `path` (panics if ffprobe cannot open it).
pub fn probe_streams(path: &Path) -> Vec<StreamInfo> {
    let v = ffprobe_json(path, &["-show_streams"]);
    let streams = v["streams"].as_array().cloned().unwrap_or_default();
    streams
        .iter()
        .map(|s| {
            let rotation = s["side_data_list"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|sd| num(&sd["rotation"]));
            StreamInfo {
                index: num(&s["index"]).unwrap_or(0) as usize,
                codec_type: string(&s["codec_type"]).unwrap_or_default(),
                codec_name: string(&s["codec_name"]).unwrap_or_default(),
                width: num(&s["width"]).map(|x| x as u32),
                height: num(&s["height"]).map(|x| x as u32),
                pix_fmt: string(&s["pix_fmt"]),
                field_order: string(&s["field_order"]),
                sample_rate: num(&s["sample_rate"]).map(|x| x as u32),
                channels: num(&s["channels"]).map(|x| x as u32),
                channel_layout: string(&s["channel_layout"]),
                rotation,
                time_base: string(&s["time_base"]).unwrap_or_default(),
                r_frame_rate: string(&s["r_frame_rate"]).unwrap_or_default(),
                duration_s: string(&s["duration"]).and_then(|d| d.parse().ok()),
            }
        })
        .collect()
}

/// Every packet of `path`, in file order.
pub fn probe_packets(path: &Path) -> Vec<Pkt> {
    let streams = probe_streams(path);
    let v = ffprobe_json(
        path,
        &[
            "-show_entries",
            "packet=stream_index,codec_type,pts,dts,duration,flags,size",
        ],
    );
    let packets = v["packets"].as_array().cloned().unwrap_or_default();
    packets
        .iter()
        .map(|p| {
            let stream_index = num(&p["stream_index"]).unwrap_or(0) as usize;
            let tick = streams
                .iter()
                .find(|s| s.index == stream_index)
                .and_then(|s| ratio(&s.time_base))
                .unwrap_or(0.001);
            Pkt {
                stream_index,
                codec_type: string(&p["codec_type"]).unwrap_or_default(),
                pts: num(&p["pts"]),
                dts: num(&p["dts"]),
                duration: num(&p["duration"]),
                flags: string(&p["flags"]).unwrap_or_default(),
                size: num(&p["size"]).unwrap_or(0) as u64,
                tick,
            }
        })
        .collect()
}

/// Decoded size of every video frame of the first video stream, in order.
pub fn frame_sizes(path: &Path) -> Vec<(u32, u32)> {
    let v = ffprobe_json(
        path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=width,height",
        ],
    );
    let frames = v["frames"].as_array().cloned().unwrap_or_default();
    frames
        .iter()
        .map(|f| {
            (
                num(&f["width"]).unwrap_or(0) as u32,
                num(&f["height"]).unwrap_or(0) as u32,
            )
        })
        .collect()
}

/// stderr of a full decode (`ffmpeg -v error -i REC -f null -`); empty when the file is clean.
pub fn decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let mut err = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() && err.is_empty() {
        err = format!("ffmpeg exited with {}", out.status);
    }
    err
}
