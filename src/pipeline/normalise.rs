//! Normalise: turns decoded frames of any shape into the channel format with libavfilter.
//!
//! Video: deinterlace (when coded interlaced) → rotate (display matrix) → square pixels →
//! aspect-preserving scale with letterbox/pillarbox → the channel's constant frame grid (`fps`)
//! → yuv420p. Audio: resample to the channel rate, down/up-mix to its layout, planar float.
//! Graphs are built from the first decoded frame (its real size and format, not what the
//! container claims) and rebuilt if a stream changes shape mid-item.
//!
//! `plan()` states the same decisions in words, for `playout probe`.

use ffmpeg_next as ff;

use super::open::{fps_text, MediaInfo};
use super::ChannelFormat;
use crate::config::{Corner, OverlaySettings, TextSettings};
use crate::time::Rational;

/// What the channel will do with a file, decided from its stream info.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<String>,
}

pub fn plan(info: &MediaInfo, fmt: &ChannelFormat) -> Plan {
    let mut actions = Vec::new();
    match &info.video {
        None => actions.push("no video: the slate is shown under the audio".to_string()),
        Some(v) => {
            if v.interlaced {
                actions.push("deinterlace".into());
            }
            if v.rotation != 0 {
                actions.push(format!("rotate {}° clockwise", v.rotation));
            }
            let (mut w, mut h) = (v.width as i64, v.height as i64);
            if v.sar.num != v.sar.den {
                w = w * v.sar.num / v.sar.den;
                actions.push(format!("square the pixels (aspect {})", v.sar));
            }
            if v.rotation == 90 || v.rotation == 270 {
                std::mem::swap(&mut w, &mut h);
            }
            let (cw, ch) = (fmt.width as i64, fmt.height as i64);
            if (w, h) != (cw, ch) && w > 0 && h > 0 {
                // Fit inside the channel frame, keeping the picture's shape.
                let (sw, sh) = if w * ch > h * cw {
                    (cw, (h * cw / w) & !1)
                } else {
                    ((w * ch / h) & !1, ch)
                };
                actions.push(format!("scale {w}x{h} to {sw}x{sh}"));
                if sw < cw {
                    actions.push(format!(
                        "pillarbox ({} px bars left and right)",
                        (cw - sw) / 2
                    ));
                } else if sh < ch {
                    actions.push(format!(
                        "letterbox ({} px bars top and bottom)",
                        (ch - sh) / 2
                    ));
                }
            }
            if info.still {
                actions.push("still image: shown for the item's duration (default 10s)".into());
            } else {
                match v.fps {
                    _ if v.vfr => actions.push(format!(
                        "variable frame rate: placed on the {} fps grid",
                        fps_text(fmt.fps)
                    )),
                    Some(f) if f != fmt.fps && f.num * fmt.fps.den != fmt.fps.num * f.den => {
                        actions.push(format!(
                            "frame rate {} to {} fps",
                            fps_text(f),
                            fps_text(fmt.fps)
                        ))
                    }
                    _ => {}
                }
            }
            if v.pix_fmt != "yuv420p" {
                actions.push(format!("convert pixels {} to yuv420p", v.pix_fmt));
            }
        }
    }
    match &info.audio {
        None => actions.push("no audio: silence".to_string()),
        Some(a) => {
            if a.sample_rate != fmt.sample_rate {
                actions.push(format!(
                    "resample audio {} Hz to {} Hz",
                    a.sample_rate, fmt.sample_rate
                ));
            }
            if a.channels > fmt.channels {
                actions.push(format!(
                    "downmix {} channels to {}",
                    a.channels, fmt.channels
                ));
            } else if a.channels < fmt.channels {
                actions.push(format!("upmix {} channel to {}", a.channels, fmt.channels));
            }
        }
    }
    if actions.is_empty() {
        actions.push("already in the channel format: passes through unchanged".into());
    }
    Plan { actions }
}

/// A libavfilter graph with one input and one output.
pub struct Graph {
    graph: ff::filter::Graph,
    key: (u32, u32, i32),
}

impl Graph {
    pub fn push(&mut self, frame: &ff::frame::Frame) -> Result<(), ff::Error> {
        self.graph
            .get("in")
            .expect("graph has an input")
            .source()
            .add(frame)
    }

    /// Ends the stream at `pts` (the input timebase): filters that need to know how long the
    /// last frame lasts (the frame-rate filter) see it end there.
    pub fn close(&mut self, pts: i64) -> Result<(), ff::Error> {
        self.graph
            .get("in")
            .expect("graph has an input")
            .source()
            .close(pts)
    }

    pub fn flush(&mut self) -> Result<(), ff::Error> {
        self.graph
            .get("in")
            .expect("graph has an input")
            .source()
            .flush()
    }

    /// Pulls one output frame, or `None` when the graph needs more input (or is drained).
    pub fn pull<F: std::ops::DerefMut<Target = ff::frame::Frame>>(
        &mut self,
        out: &mut F,
    ) -> Option<()> {
        self.graph
            .get("out")
            .expect("graph has an output")
            .sink()
            .frame(out)
            .ok()
    }

    /// Whether frames of this shape can go through the graph as built.
    pub fn fits(&self, key: (u32, u32, i32)) -> bool {
        self.key == key
    }
}

/// The source-side properties a video graph is built for.
pub struct VideoSource {
    pub width: u32,
    pub height: u32,
    pub format: ff::format::Pixel,
    pub sar: Rational,
    pub time_base: Rational,
    pub interlaced: bool,
    pub rotation: i32,
}

impl VideoSource {
    /// The shape of a decoded frame whose timestamps count in `time_base`; interlaced when
    /// the frame says so or the stream (`interlaced`) does.
    pub fn of(
        f: &ff::frame::Video,
        time_base: Rational,
        interlaced: bool,
        rotation: i32,
    ) -> VideoSource {
        let r = f.aspect_ratio();
        VideoSource {
            width: f.width(),
            height: f.height(),
            format: f.format(),
            sar: Rational::new(r.numerator() as i64, r.denominator() as i64),
            time_base,
            interlaced: interlaced || f.is_interlaced(),
            rotation,
        }
    }

    pub fn key(&self) -> (u32, u32, i32) {
        (
            self.width,
            self.height,
            ff::ffi::AVPixelFormat::from(self.format) as i32,
        )
    }
}

/// The filter chain (libavfilter syntax) from a source shape to the channel format.
///
/// Only the steps the source needs: a source already at the channel's size with square
/// pixels gets no scale or pad, one already in yuv420p no format conversion. The `fps`
/// filter always stays: it places every frame on the channel's grid, whatever the container
/// claims.
pub fn video_chain(src: &VideoSource, fmt: &ChannelFormat) -> String {
    let mut f = Vec::new();
    if src.interlaced {
        f.push("bwdif=mode=send_frame:parity=auto:deint=interlaced".to_string());
    }
    let square = !(src.sar.num > 0 && src.sar.den > 0 && src.sar.num != src.sar.den);
    if !square {
        f.push("scale=trunc(iw*sar/2)*2:ih,setsar=1".to_string());
    }
    match src.rotation {
        90 => f.push("transpose=clock".into()),
        180 => f.push("hflip,vflip".into()),
        270 => f.push("transpose=cclock".into()),
        _ => {}
    }
    let (w, h) = (fmt.width, fmt.height);
    let (dw, dh) = if src.rotation == 90 || src.rotation == 270 {
        (src.height, src.width)
    } else {
        (src.width, src.height)
    };
    if !square || (dw, dh) != (w, h) {
        f.push(format!(
            "scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2:flags=bicubic"
        ));
        f.push(format!("pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black"));
    }
    f.push("setsar=1".into());
    f.push(format!(
        "fps=fps={}/{}:round=near",
        fmt.fps.num, fmt.fps.den
    ));
    if src.format != ff::format::Pixel::YUV420P {
        f.push("format=pix_fmts=yuv420p".into());
    }
    f.join(",")
}

/// The audio chain: resample to the channel rate and mix to its layout, planar float.
pub fn audio_chain(fmt: &ChannelFormat) -> String {
    let layout_name = if fmt.channels == 1 { "mono" } else { "stereo" };
    format!(
        "aresample={rate},aformat=sample_fmts=fltp:sample_rates={rate}:channel_layouts={layout_name}",
        rate = fmt.sample_rate
    )
}

/// `audio_chain` with the item's loudness filters (`loudness::chain`) after it, and the
/// channel format asserted again at the end (the limiter works in double, `loudnorm` at
/// 192 kHz).
pub fn audio_chain_with(fmt: &ChannelFormat, gain: Option<&str>) -> String {
    match gain {
        None => audio_chain(fmt),
        Some(g) => format!("{},{g},{}", audio_chain(fmt), audio_chain(fmt)),
    }
}

/// The overlay's filters, to follow a chain that ends on the channel's frame: the logo
/// (`movie`, one still frame, repeated by `overlay`) scaled, made translucent and drawn at
/// its corner; the result back in yuv420p.
pub fn overlay_chain(o: &OverlaySettings) -> String {
    let m = o.margin;
    let (x, y) = match o.position {
        Corner::TopLeft => (format!("{m}"), format!("{m}")),
        Corner::TopRight => (format!("main_w-overlay_w-{m}"), format!("{m}")),
        Corner::BottomLeft => (format!("{m}"), format!("main_h-overlay_h-{m}")),
        Corner::BottomRight => (
            format!("main_w-overlay_w-{m}"),
            format!("main_h-overlay_h-{m}"),
        ),
    };
    format!(
        "[base];movie=filename={file},format=rgba,scale={w}:{h}:flags=bicubic,\
         colorchannelmixer=aa={alpha:.3}[logo];\
         [base][logo]overlay=x={x}:y={y}:eof_action=repeat:format=auto,format=pix_fmts=yuv420p",
        file = filter_path(&o.image),
        w = o.width,
        h = o.height,
        alpha = o.opacity_milli as f64 / 1000.0,
    )
}

/// The lower third: the line in `file` (read as is: no expansion, no escaping needed) in a
/// translucent box at its corner, between `from` and `from + for` of the item.
pub fn text_chain(t: &TextSettings, file: &std::path::Path, fmt: &ChannelFormat) -> String {
    let size = (fmt.height / 18).max(8);
    let m = (fmt.height / 15).max(4);
    let (x, y) = match t.position {
        Corner::TopLeft => (format!("{m}"), format!("{m}")),
        Corner::TopRight => (format!("w-text_w-{m}"), format!("{m}")),
        Corner::BottomLeft => (format!("{m}"), format!("h-text_h-{m}")),
        Corner::BottomRight => (format!("w-text_w-{m}"), format!("h-text_h-{m}")),
    };
    let secs = |v: crate::time::Micros| v.0 as f64 / 1e6;
    format!(
        ",drawtext=textfile={file}:expansion=none:fontcolor=white:fontsize={size}:box=1:\
         boxcolor=black@0.6:boxborderw={pad}:x={x}:y={y}:\
         enable='between(t,{from:.3},{to:.3})'",
        file = filter_path(file),
        pad = (size / 3).max(2),
        from = secs(t.from),
        to = secs(t.from + t.duration),
    )
}

/// A path as a filter option value inside a filtergraph: escaped for the option parser
/// (`\`, `'`, `:`) and then for the graph parser (`\`, `'`, `[`, `]`, `,`, `;`).
pub fn filter_path(p: &std::path::Path) -> String {
    let escape = |s: &str, special: &[char]| {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            if special.contains(&c) {
                out.push('\\');
            }
            out.push(c);
        }
        out
    };
    let once = escape(&p.to_string_lossy(), &['\\', '\'', ':']);
    escape(&once, &['\\', '\'', '[', ']', ',', ';'])
}

pub fn video_graph(
    src: &VideoSource,
    fmt: &ChannelFormat,
    overlay: Option<&str>,
) -> Result<Graph, ff::Error> {
    let mut graph = ff::filter::Graph::new();
    let pix = src
        .format
        .descriptor()
        .map(|d| d.name())
        .unwrap_or("yuv420p");
    let sar = if src.sar.num > 0 && src.sar.den > 0 {
        src.sar
    } else {
        Rational::new(1, 1)
    };
    let args = format!(
        "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
        src.width, src.height, pix, src.time_base.num, src.time_base.den, sar.num, sar.den
    );
    graph.add(
        &ff::filter::find("buffer").ok_or(ff::Error::FilterNotFound)?,
        "in",
        &args,
    )?;
    graph.add(
        &ff::filter::find("buffersink").ok_or(ff::Error::FilterNotFound)?,
        "out",
        "",
    )?;
    graph.output("in", 0)?.input("out", 0)?.parse(&format!(
        "{}{}",
        video_chain(src, fmt),
        overlay.unwrap_or("")
    ))?;
    graph.validate()?;
    Ok(Graph {
        graph,
        key: src.key(),
    })
}

/// The source-side properties an audio graph is built for.
pub struct AudioSource {
    pub rate: u32,
    pub format: ff::format::Sample,
    pub layout: ff::ChannelLayout,
    pub channels: u16,
}

impl AudioSource {
    /// The shape of a decoded frame.
    pub fn of(f: &ff::frame::Audio) -> AudioSource {
        AudioSource {
            rate: f.rate(),
            format: f.format(),
            layout: f.channel_layout(),
            channels: f.channels(),
        }
    }

    pub fn key(&self) -> (u32, u32, i32) {
        (self.rate, self.channels as u32, self.layout.bits() as i32)
    }
}

pub fn audio_graph(
    src: &AudioSource,
    fmt: &ChannelFormat,
    gain: Option<&str>,
) -> Result<Graph, ff::Error> {
    audio_graph_with(src, &audio_chain_with(fmt, gain))
}

/// An audio graph from frames of `src` through `chain` (libavfilter syntax).
pub fn audio_graph_with(src: &AudioSource, chain: &str) -> Result<Graph, ff::Error> {
    let mut graph = ff::filter::Graph::new();
    let layout = if src.layout.is_empty() || src.layout.channels() != src.channels as i32 {
        ff::ChannelLayout::default(src.channels as i32)
    } else {
        src.layout
    };
    let args = format!(
        "time_base=1/{}:sample_rate={}:sample_fmt={}:channel_layout=0x{:x}",
        src.rate,
        src.rate,
        src.format.name(),
        layout.bits()
    );
    graph.add(
        &ff::filter::find("abuffer").ok_or(ff::Error::FilterNotFound)?,
        "in",
        &args,
    )?;
    graph.add(
        &ff::filter::find("abuffersink").ok_or(ff::Error::FilterNotFound)?,
        "out",
        "",
    )?;
    graph.output("in", 0)?.input("out", 0)?.parse(chain)?;
    graph.validate()?;
    Ok(Graph {
        graph,
        key: src.key(),
    })
}

#[cfg(test)]
#[path = "normalise_tests.rs"]
mod tests;
