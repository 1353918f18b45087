//! The slate: one picture, repeated with silence wherever the channel has nothing else to
//! show. By default it is made in-process with libavfilter's `color` and `drawtext` (channel
//! name and a line of text on a plain background), and no asset is needed; without a usable
//! font it is the plain background, which still keeps the stream alive. With `slate.image`
//! it is the operator's picture, scaled to fit and letterboxed on the background, with the
//! text over it when the file gives one; a picture that cannot be drawn falls back to the
//! generated slate.

use std::io::Write;

use ffmpeg_next as ff;

use super::ChannelFormat;

/// What the channel looks like beyond the items themselves: the overlay's filters for items
/// (`None`: no logo) and the slate picture with the logo already drawn on it.
pub struct Look {
    pub overlay: Option<String>,
    pub slate: ff::frame::Video,
    /// The lower third for items (`text`), and the channel's name for its `{channel}`.
    pub text: Option<crate::config::TextSettings>,
    pub channel: String,
    /// The slate's background, for the pictures drawn later (a live event's).
    pub background: [u8; 3],
    /// The operator's slate picture, for the pictures drawn later (a live event's).
    pub image: Option<std::path::PathBuf>,
    /// The operator's slate clip (`slate.clip`), looped where slate plays; `slate` is what
    /// plays if it cannot.
    pub clip: Option<std::path::PathBuf>,
}

impl Look {
    pub fn of(
        channel: &crate::config::ChannelConfig,
        fmt: &ChannelFormat,
    ) -> Result<Look, ff::Error> {
        let overlay = channel
            .overlay
            .as_ref()
            .map(super::normalise::overlay_chain);
        let s = &channel.slate;
        let image = s.image.as_ref().map(|i| i.path.clone());
        // Over the operator's picture only the text the file gives; the generated slate
        // shows the channel's name and the (default) text.
        let slate = render(
            fmt,
            &SlateText {
                title: if image.is_some() { "" } else { &channel.name },
                text: if image.is_some() && !s.text_given {
                    ""
                } else {
                    &s.text
                },
                background: s.background,
                image: image.as_deref(),
            },
            overlay.as_deref(),
        )?;
        Ok(Look {
            overlay,
            slate,
            text: channel.text.clone(),
            channel: channel.name.clone(),
            background: channel.slate.background,
            image,
            clip: s.clip.as_ref().map(|c| c.path.clone()),
        })
    }
}

pub struct SlateText<'a> {
    pub title: &'a str,
    pub text: &'a str,
    pub background: [u8; 3],
    /// The operator's picture under the text, if any.
    pub image: Option<&'a std::path::Path>,
}

/// Renders the slate picture once, with the overlay's filters (`normalise::overlay_chain`)
/// when given. Errors only if even the plain background cannot be made.
pub fn render(
    fmt: &ChannelFormat,
    slate: &SlateText,
    overlay: Option<&str>,
) -> Result<ff::frame::Video, ff::Error> {
    if let Some(image) = slate.image {
        let tried = match overlay {
            Some(o) => {
                render_with_text(fmt, slate, o).or_else(|_| render_with_text(fmt, slate, ""))
            }
            None => render_with_text(fmt, slate, ""),
        };
        match tried {
            Ok(f) => return Ok(f),
            Err(e) => {
                tracing::warn!(image = %image.display(), error = %e, "The slate picture cannot be drawn; the generated slate plays.");
            }
        }
        let generated = SlateText {
            image: None,
            ..*slate
        };
        return render(fmt, &generated, overlay);
    }
    if let Some(o) = overlay {
        match render_with_text(fmt, slate, o) {
            Ok(f) => return Ok(f),
            Err(e) => {
                tracing::warn!(error = %e, "The logo could not be drawn on the slate; the slate goes without it.")
            }
        }
    }
    match render_with_text(fmt, slate, "") {
        Ok(f) => Ok(f),
        Err(e) => {
            tracing::warn!(error = %e, "Slate text could not be drawn (no font?); using a plain slate.");
            run(&background(fmt, slate.background))
        }
    }
}

fn background(fmt: &ChannelFormat, rgb: [u8; 3]) -> String {
    format!(
        "color=c=0x{:02x}{:02x}{:02x}:s={}x{}:r=1:d=1",
        rgb[0], rgb[1], rgb[2], fmt.width, fmt.height
    )
}

fn render_with_text(
    fmt: &ChannelFormat,
    slate: &SlateText,
    overlay: &str,
) -> Result<ff::frame::Video, ff::Error> {
    // Text goes through files so that any characters (quotes, colons, emoji) need no escaping
    // in the filtergraph syntax.
    let dir = tempfile::tempdir().map_err(|_| ff::Error::Unknown)?;
    let title = dir.path().join("title.txt");
    let text = dir.path().join("text.txt");
    for (p, s) in [(&title, slate.title), (&text, slate.text)] {
        let mut f = std::fs::File::create(p).map_err(|_| ff::Error::Unknown)?;
        f.write_all(s.as_bytes()).map_err(|_| ff::Error::Unknown)?;
    }
    let big = (fmt.height / 10).max(8);
    let small = (fmt.height / 18).max(6);
    let gap = (fmt.height / 40).max(2);
    let spec = match slate.image {
        None => format!(
            "{bg},drawtext=textfile={t}:expansion=none:fontcolor=white:fontsize={big}:x=(w-text_w)/2:y=(h/2)-text_h-{gap},\
             drawtext=textfile={x}:expansion=none:fontcolor=0xd0d0d0:fontsize={small}:x=(w-text_w)/2:y=(h/2)+{gap}{overlay}",
            bg = background(fmt, slate.background),
            t = title.display(),
            x = text.display(),
        ),
        Some(image) => {
            // Text over a picture sits in a translucent box, low in the frame.
            let boxed = format!("box=1:boxcolor=black@0.55:boxborderw={gap}");
            let mut spec = picture(fmt, image, slate.background);
            if !slate.title.is_empty() {
                spec.push_str(&format!(
                    ",drawtext=textfile={}:expansion=none:fontcolor=white:fontsize={big}:{boxed}:x=(w-text_w)/2:y=h*2/3-text_h-{gap}",
                    title.display()
                ));
            }
            if !slate.text.is_empty() {
                spec.push_str(&format!(
                    ",drawtext=textfile={}:expansion=none:fontcolor=white:fontsize={small}:{boxed}:x=(w-text_w)/2:y=h*2/3+{gap}",
                    text.display()
                ));
            }
            spec + overlay
        }
    };
    run(&spec)
}

/// The operator's picture, scaled to fit the frame and letterboxed on `rgb`.
fn picture(fmt: &ChannelFormat, image: &std::path::Path, rgb: [u8; 3]) -> String {
    let (w, h) = (fmt.width, fmt.height);
    format!(
        "{bg}[bg];movie=filename={file},format=rgba,scale={w}:{h}:force_original_aspect_ratio=decrease:flags=bicubic[pic];\
         [bg][pic]overlay=x=(W-w)/2:y=(H-h)/2:format=auto,setsar=1",
        bg = background(fmt, rgb),
        file = super::normalise::filter_path(image),
    )
}

fn run(spec: &str) -> Result<ff::frame::Video, ff::Error> {
    let mut graph = ff::filter::Graph::new();
    graph.add(
        &ff::filter::find("buffersink").ok_or(ff::Error::FilterNotFound)?,
        "out",
        "",
    )?;
    graph
        .input("out", 0)?
        .parse(&format!("{spec},format=pix_fmts=yuv420p"))?;
    graph.validate()?;
    let mut frame = ff::frame::Video::empty();
    graph
        .get("out")
        .expect("sink was added")
        .sink()
        .frame(&mut frame)?;
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Rational;

    #[test]
    fn slate_has_the_channel_size_and_shows_text() {
        ff::init().unwrap();
        let fmt = ChannelFormat {
            width: 320,
            height: 180,
            fps: Rational::new(30, 1),
            sample_rate: 48000,
            channels: 2,
        };
        let plain = run(&background(&fmt, [0x10, 0x10, 0x10])).unwrap();
        let slate = render(
            &fmt,
            &SlateText {
                title: "demo: it's \"on\"",
                text: "We'll be right back",
                background: [0x10, 0x10, 0x10],
                image: None,
            },
            None,
        )
        .unwrap();
        assert_eq!((slate.width(), slate.height()), (320, 180));
        assert_eq!(slate.format(), ff::format::Pixel::YUV420P);
        // White text raises the luma of some rows above the plain background's.
        let bright = |f: &ff::frame::Video| {
            let (s, y) = (f.stride(0), f.data(0));
            (0..180)
                .map(|r| y[r * s..r * s + 320].iter().map(|&v| v as u64).sum::<u64>())
                .max()
                .unwrap()
        };
        assert!(bright(&slate) > bright(&plain) + 320 * 20, "no text drawn");
    }
}
