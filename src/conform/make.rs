//! Making a conformed copy: the item played once, unpaced, through the channel's own source
//! (normalise, loudness gain, logo, lower third), encoders opened with the channel's settings,
//! and the packets written to NUT, which keeps the encoders' timebases exactly. The copy is
//! written beside its final name and renamed into place with its sidecar; an item that fails
//! on the way (a decode error, a file that is not media) makes no copy.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crossbeam_channel::bounded;
use ffmpeg_next as ff;

use super::{copy_path, format_hash, hex, io, key, sidecar_path, ConformError, Sidecar, SourceId};
use crate::config::ChannelConfig;
use crate::files::{temp_path, write_atomic, Temp};
use crate::lineup::{build, Durations, Timeline};
use crate::loudness::Meter;
use crate::metrics::Metrics;
use crate::pipeline::context::PlayContext;
use crate::pipeline::encode::{self, Kind};
use crate::pipeline::slate::Look;
use crate::pipeline::source::{self, Inbox, Outbox, SourceSettings};
use crate::pipeline::ChannelFormat;
use crate::playlist::{Item, MediaItem, Playlist};
use crate::quarantine::Quarantine;
use crate::schedule::Anchor;
use crate::time::{frames_in, samples_at_frame, Micros};

/// Makes the copy of `item` in `dir` (unless a whole one is there already) and returns its
/// sidecar, and whether it was made now. `meter` is the channel's loudness meter when
/// `audio.loudness` is on: the item is measured first, so the copy carries the gain live
/// playback would give it. `threads` caps x264's threads (the background preparer's share);
/// None lets it take the machine.
pub fn make(
    channel: &ChannelConfig,
    item: &MediaItem,
    dir: &Path,
    meter: Option<&Arc<Meter>>,
    threads: Option<usize>,
    quarantine: &Quarantine,
) -> Result<(Sidecar, bool), ConformError> {
    let fmt = ChannelFormat::of(channel);
    let threads = threads.unwrap_or_else(crate::pipeline::encoder_threads);
    let (encoders, params) =
        encode::open_with_threads(&fmt, &channel.video, &channel.audio, threads)?;
    let (ve, ae) = (
        crate::libav::extradata(&params.video),
        crate::libav::extradata(&params.audio),
    );
    let source = SourceId::stat(&item.path)?.with_hash()?;
    let playlist = Arc::new(Playlist {
        file: channel.playlist.clone(),
        items: vec![Item::Media(item.clone())],
        events: Vec::new(),
        takes_effect: None,
    });
    if let Some(m) = meter {
        wait_measured(m, &playlist, item);
    }
    let gain = meter.and_then(|m| m.gain(item).1);
    let format = format_hash(channel, &ve, &ae, item, gain.as_deref());
    let key = key(&source, item, &format);
    if let Ok(s) = super::verify(dir, &key, &source, &ve, &ae, true) {
        return Ok((s, false));
    }
    crate::pipeline::open::probe_info(&item.path, quarantine).map_err(|e| ConformError::Media {
        path: item.path.clone(),
        detail: e.detail,
    })?;
    let lineup = Arc::new(build(
        playlist,
        channel.timezone,
        channel.slate.failure_duration,
        &mut Durations::new(quarantine.clone()),
    ));
    let length = lineup.schedule.rotation[0].duration;
    let frames = frames_in(length, fmt.fps);
    let look = Look::of(channel, &fmt).map_err(ConformError::Look)?;
    let metrics = Arc::new(Metrics::new());
    let timeline = Timeline::new(
        lineup,
        Anchor {
            at: Micros::ZERO,
            index: 0,
        },
    );
    // Nothing reloads, skips or goes live here.
    let outbox = Outbox::new(&timeline);
    let settings = SourceSettings {
        ctx: PlayContext {
            fmt: fmt.clone(),
            look,
            loudness: meter.cloned(),
            metrics: metrics.clone(),
            stop: Arc::new(AtomicBool::new(false)),
            quarantine: quarantine.clone(),
        },
        timeline,
        t0: Micros::ZERO,
        grid: None,
        lockstep: None,
        state_file: None,
        stop_after: Some(length),
        live: None,
        passthrough: None,
        recall: None,
    };
    let (frame_tx, tee_rx) = bounded(crate::pipeline::FRAME_QUEUE);
    let (tee_tx, frame_rx) = bounded(crate::pipeline::FRAME_QUEUE);
    // The last picture, kept beside the copy: a slot a frame longer than the copy (frame
    // rounding against the channel's start) holds it, as the encoder would hold the item's.
    // Its threads log where `make` is called from: nowhere for the background preparer, whose
    // copy's item starts are not the channel's.
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    let tee = std::thread::Builder::new()
        .name("prepare-last".into())
        .spawn(move || {
            let mut last: Option<ff::frame::Video> = None;
            for m in tee_rx.iter() {
                if let crate::pipeline::Media::Video(f) = &m {
                    last = Some(crate::libav::share(f));
                }
                if tee_tx.send(m).is_err() {
                    break;
                }
            }
            last
        })
        .map_err(ConformError::Thread)?;
    let (packet_tx, packet_rx) = bounded(crate::pipeline::FRAME_QUEUE * 4);
    let d = dispatch.clone();
    let src = std::thread::Builder::new()
        .name("prepare-source".into())
        .spawn(move || {
            tracing::dispatcher::with_default(&d, || {
                source::run(settings, Inbox::silent(), outbox, frame_tx)
            })
        })
        .map_err(ConformError::Thread)?;
    let m = metrics.clone();
    let enc = std::thread::Builder::new()
        .name("prepare-encode".into())
        .spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                crate::pipeline::encoding::run(
                    encoders,
                    frame_rx,
                    packet_tx,
                    crossbeam_channel::never(),
                    m,
                    None,
                )
            })
        })
        .map_err(ConformError::Thread)?;

    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let copy = copy_path(dir, &key);
    let tmp = Temp::new(temp_path(&copy));
    let written = write_nut(tmp.path(), &params, packet_rx.iter());
    // A write that failed stops reading: the encoder and the source see the channel close.
    drop(packet_rx);
    let _ = src.join();
    let last = tee.join().ok().flatten();
    let _ = enc.join();
    let w = written.map_err(|e| ConformError::Media {
        path: copy.clone(),
        detail: format!("cannot write the copy: {e}"),
    })?;
    let failures: f64 = prometheus::core::Collector::collect(&metrics.item_failures_total)
        .iter()
        .flat_map(|f| f.get_metric().iter().map(|m| m.get_counter().get_value()))
        .sum();
    if failures > 0.0 || w.video_packets != frames as u64 {
        return Err(ConformError::Media {
            path: item.path.clone(),
            detail: format!(
                "the item did not play whole ({} of {frames} frames, {failures} failures): no copy",
                w.video_packets
            ),
        });
    }
    std::fs::File::open(tmp.path())
        .and_then(|f| f.sync_all())
        .map_err(io(tmp.path()))?;
    let bytes = std::fs::metadata(tmp.path()).map_err(io(tmp.path()))?.len();
    let hash = super::hash_file(tmp.path())?;
    let Some(last) = last else {
        return Err(ConformError::Media {
            path: item.path.clone(),
            detail: "no picture came out of the item: no copy".into(),
        });
    };
    let last_path = super::last_picture_path(dir, &key);
    write_atomic(&last_path, &super::picture_bytes(&last)).map_err(io(&last_path))?;
    tmp.commit(&copy).map_err(io(&copy))?;
    let sidecar = Sidecar {
        version: super::SIDECAR_VERSION,
        key: key.clone(),
        source,
        in_us: item.in_point.0,
        out_us: item.out_point.map(|o| o.0),
        duration_us: item.duration.map(|d| d.0),
        format,
        video_extradata: hex(&ve),
        audio_extradata: hex(&ae),
        frames,
        samples: samples_at_frame(frames, fmt.fps, i64::from(fmt.sample_rate)),
        video_packets: w.video_packets,
        audio_packets: w.audio_packets,
        keyframes: w.keyframes,
        video_delay: w.video_delay,
        shift_frames: SHIFT_FRAMES,
        bytes,
        hash,
    };
    let side = sidecar_path(dir, &key);
    let text = serde_json::to_string_pretty(&sidecar).expect("a sidecar serialises");
    write_atomic(&side, text.as_bytes()).map_err(io(&side))?;
    Ok((sidecar, true))
}

/// Waits (up to ten minutes) until the meter knows `item`'s loudness.
fn wait_measured(m: &Arc<Meter>, playlist: &Arc<Playlist>, item: &MediaItem) {
    m.want(playlist);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while m.lookup(item).is_none() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The copy's timestamps are this many frames late (`Sidecar::shift_frames`): more than
/// any reorder delay or AAC priming.
const SHIFT_FRAMES: i64 = 64;

struct Written {
    video_delay: i64,
    video_packets: u64,
    audio_packets: u64,
    keyframes: Vec<i64>,
}

fn write_nut(
    path: &Path,
    params: &encode::StreamParams,
    packets: impl Iterator<Item = encode::Encoded>,
) -> Result<Written, ff::Error> {
    let mut out = crate::libav::open_output(
        &path.to_string_lossy(),
        "nut",
        ff::Dictionary::new(),
        || false,
    )?;
    for (p, tb) in [
        (&params.video, params.video_tb),
        (&params.audio, params.audio_tb),
    ] {
        let mut st = out.ctx.add_stream(ff::encoder::find(p.id()))?;
        st.set_parameters(p.clone());
        st.set_time_base(ff::Rational::from(tb));
    }
    // Timestamps as they are: x264's first dts is negative, and NUT would otherwise shift
    // every timestamp of the copy by the reorder delay.
    let mut header = ff::Dictionary::new();
    header.set("avoid_negative_ts", "disabled");
    out.ctx.write_header_with(header)?;
    let tbs = [
        out.ctx.stream(0).expect("added").time_base(),
        out.ctx.stream(1).expect("added").time_base(),
    ];
    let shift = [
        SHIFT_FRAMES,
        samples_at_frame(
            SHIFT_FRAMES,
            params.video_tb.invert(),
            params.audio_tb.den / params.audio_tb.num.max(1),
        ),
    ];
    let mut w = Written {
        video_delay: 0,
        video_packets: 0,
        audio_packets: 0,
        keyframes: Vec::new(),
    };
    for mut e in packets {
        let (i, tb) = match e.kind {
            Kind::Video => {
                if w.video_packets == 0 {
                    w.video_delay = -e.packet.dts().unwrap_or(0).min(0);
                }
                w.video_packets += 1;
                if e.packet.is_key() {
                    w.keyframes.extend(e.packet.pts());
                }
                (0, params.video_tb)
            }
            Kind::Audio => {
                w.audio_packets += 1;
                (1, params.audio_tb)
            }
        };
        e.packet.set_stream(i);
        e.packet.set_pts(e.packet.pts().map(|t| t + shift[i]));
        e.packet.set_dts(e.packet.dts().map(|t| t + shift[i]));
        e.packet.rescale_ts(ff::Rational::from(tb), tbs[i]);
        e.packet.write_interleaved(&mut out.ctx)?;
    }
    out.ctx.write_trailer()?;
    w.keyframes.sort_unstable();
    Ok(w)
}
