//! The few libav fields ffmpeg-next does not expose. Every `unsafe` block of the crate lives
//! here (STYLE rule 15), each reading a plain field of a live, non-null libav struct.
#![allow(unsafe_code)]

use ffmpeg_next as ff;

/// True when the codec parameters say the stream is coded interlaced (any field order other
/// than progressive or unknown).
pub fn is_interlaced(params: &ff::codec::Parameters) -> bool {
    use ff::ffi::AVFieldOrder::*;
    // SAFETY: `params` wraps a valid `AVCodecParameters` for its whole lifetime (ffmpeg-next
    // allocates it in `Parameters::new` or borrows it from a live stream); reading one enum
    // field does not alias any mutable access.
    let order = unsafe { (*params.as_ptr()).field_order };
    matches!(order, AV_FIELD_TT | AV_FIELD_BB | AV_FIELD_TB | AV_FIELD_BT)
}

/// The container's start time in microseconds (`AV_TIME_BASE`), if it has one.
pub fn start_time(input: &ff::format::context::Input) -> Option<i64> {
    // SAFETY: `input` owns a valid, opened `AVFormatContext`; `start_time` is a plain i64
    // set by `avformat_find_stream_info` and only read here.
    let t = unsafe { (*input.as_ptr()).start_time };
    (t != ff::ffi::AV_NOPTS_VALUE).then_some(t)
}

/// A new reference to the same picture (`av_frame_ref`): no pixel copy. Used to hold the last
/// frame of an item and to repeat the slate, where a deep copy per frame would be waste.
pub fn share(src: &ff::frame::Video) -> ff::frame::Video {
    let mut dst = ff::frame::Video::empty();
    // SAFETY: both pointers are valid `AVFrame`s owned by ffmpeg-next wrappers; `dst` is empty
    // (freshly allocated, no buffers), which `av_frame_ref` requires. On failure `dst` stays
    // empty and we fall back to a deep copy below.
    let rc = unsafe { ff::ffi::av_frame_ref(dst.as_mut_ptr(), src.as_ptr()) };
    if rc < 0 {
        return src.clone();
    }
    dst
}

/// A new reference to the same packet data (`av_packet_ref`): no byte copy. ffmpeg-next's
/// `Packet::clone` also calls `av_packet_make_writable`, which copies the payload whenever it
/// is shared; the outputs only read it (muxers and their bitstream filters copy before they
/// write), so fanning a packet out to several outputs and their GOP caches needs no copy.
pub fn share_packet(src: &ff::Packet) -> ff::Packet {
    use ff::packet::{Mut, Ref};
    let mut dst = ff::Packet::empty();
    // SAFETY: both pointers are valid `AVPacket`s owned by ffmpeg-next wrappers; `dst` is
    // empty (no buffer), as `av_packet_ref` expects. On failure `dst` is left blank and we
    // fall back to the copying clone.
    let rc = unsafe { ff::ffi::av_packet_ref(dst.as_mut_ptr(), src.as_ptr()) };
    if rc < 0 {
        return src.clone();
    }
    dst
}

/// An output context whose blocking I/O (TCP connect, TLS and RTMP handshakes, writes)
/// polls a callback and gives up when it says so. ffmpeg-next's `output_as` opens the
/// connection without an interrupt callback, so a peer that stops reading would block a write
/// forever; this opens it with one.
pub struct GuardedOutput {
    /// Declared first so it is dropped (flushed and closed) while the callback still lives.
    pub ctx: ff::format::context::Output,
    _guard: ff::util::interrupt::InterruptGuard,
}

pub fn open_output(
    url: &str,
    format: &str,
    options: ff::Dictionary,
    should_abort: impl FnMut() -> bool + Send + 'static,
) -> Result<GuardedOutput, ff::Error> {
    use std::ffi::CString;
    use std::ptr;
    let url_c = CString::new(url).map_err(|_| ff::Error::InvalidData)?;
    let format_c = CString::new(format).map_err(|_| ff::Error::InvalidData)?;
    let interrupt = ff::util::interrupt::new(Box::new(should_abort));
    let mut ps: *mut ff::ffi::AVFormatContext = ptr::null_mut();
    // SAFETY: `ps` is an out-pointer for a new context; the strings outlive the call.
    let rc = unsafe {
        ff::ffi::avformat_alloc_output_context2(
            &mut ps,
            ptr::null_mut(),
            format_c.as_ptr(),
            url_c.as_ptr(),
        )
    };
    if rc < 0 || ps.is_null() {
        return Err(ff::Error::from(rc));
    }
    // SAFETY: `disown` hands us the raw dictionary; we give it back with `own` below.
    let mut opts = unsafe { options.disown() };
    // SAFETY: `ps` is the valid context allocated above and not yet shared. The callback's
    // opaque pointer stays valid for as long as `interrupt.guard` lives, which is as long as
    // the context (see `GuardedOutput`). `avio_open2` copies the callback into the I/O
    // context it creates; `opts` is a dictionary we own and take back right after.
    let rc = unsafe {
        (*ps).interrupt_callback = interrupt.interrupt;
        ff::ffi::avio_open2(
            &mut (*ps).pb,
            url_c.as_ptr(),
            ff::ffi::AVIO_FLAG_WRITE,
            &(*ps).interrupt_callback,
            &mut opts,
        )
    };
    // SAFETY: `opts` is the dictionary `disown` gave us (or what avio_open2 left of it).
    drop(unsafe { ff::Dictionary::own(opts) });
    if rc < 0 {
        // SAFETY: `ps` has no open I/O (avio_open2 failed) and nothing else refers to it.
        unsafe { ff::ffi::avformat_free_context(ps) };
        return Err(ff::Error::from(rc));
    }
    Ok(GuardedOutput {
        // SAFETY: `ps` is a fully initialised output context with open I/O; ownership moves
        // into the wrapper, whose destructor closes the I/O and frees the context.
        ctx: unsafe { ff::format::context::Output::wrap(ps) },
        _guard: interrupt.guard,
    })
}

/// The codec's out-of-band headers (`extradata`: H.264's SPS/PPS in avcC form, AAC's
/// AudioSpecificConfig), copied out; empty when there are none.
pub fn extradata(params: &ff::codec::Parameters) -> Vec<u8> {
    // SAFETY: `params` wraps a valid `AVCodecParameters`; `extradata` is either null or points
    // to `extradata_size` readable bytes that libav owns for the parameters' lifetime, and we
    // copy them out before returning without keeping the pointer.
    unsafe {
        let p = params.as_ptr();
        let (data, size) = ((*p).extradata, (*p).extradata_size);
        if data.is_null() || size <= 0 {
            return Vec::new();
        }
        std::slice::from_raw_parts(data, size as usize).to_vec()
    }
}

/// The encoder's reorder delay in frames (`video_delay`, which libavcodec copies from the
/// encoder's `has_b_frames`: 2 for x264 with pyramid B-frames, 1 without pyramid, 0 with
/// none).
pub fn video_delay(params: &ff::codec::Parameters) -> i64 {
    // SAFETY: `params` wraps a valid `AVCodecParameters`; `video_delay` is a plain int field
    // that is only read here.
    i64::from(unsafe { (*params.as_ptr()).video_delay }.max(0))
}

/// Sends libav's log lines to `avlog::line` (its warnings and errors; the rest is dropped
/// there) instead of stderr.
pub fn route_log() {
    ff::util::log::set_level(ff::util::log::Level::Warning);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `log_line` has the exact signature libav's callback takes on this target, and
    // stays valid for the life of the process (a plain function).
    unsafe {
        ff::ffi::av_log_set_callback(Some(log_line));
    }
}

/// libav's log callback: the component's name and the formatted line, to `avlog::line`.
/// Called from any thread that libav logs on, so it only formats and hands over.
#[cfg(target_arch = "x86_64")]
unsafe extern "C" fn log_line(
    avcl: *mut std::ffi::c_void,
    level: std::ffi::c_int,
    fmt: *const std::ffi::c_char,
    vl: *mut ff::ffi::__va_list_tag,
) {
    use std::ffi::{c_char, c_int, CStr};
    if level > ff::ffi::AV_LOG_WARNING || fmt.is_null() {
        return;
    }
    // A longer line is cut at 1 KiB.
    let mut buf = [0 as c_char; 1024];
    let mut prefix: c_int = 0;
    // SAFETY: libav hands us a valid format string and the va_list that goes with it, which
    // we pass on untouched; `buf` is writable for its length and `prefix` (0: no
    // "[component @ 0x…]" prefix) is a valid int. libav NUL-terminates what it writes.
    let message = unsafe {
        ff::ffi::av_log_format_line2(
            avcl,
            level,
            fmt,
            vl,
            buf.as_mut_ptr(),
            buf.len() as c_int,
            &mut prefix,
        );
        CStr::from_ptr(buf.as_ptr()).to_string_lossy()
    };
    // SAFETY: a non-null `avcl` is a libav context whose first field is a pointer to its
    // `AVClass` (that is what av_log requires of it); `item_name`, when set, takes that
    // context and returns a static or context-owned NUL-terminated name, read at once.
    let component = unsafe {
        let class = if avcl.is_null() {
            std::ptr::null()
        } else {
            *(avcl as *const *const ff::ffi::AVClass)
        };
        if class.is_null() {
            std::borrow::Cow::Borrowed("libav")
        } else {
            let name = match (*class).item_name {
                Some(f) => f(avcl),
                None => (*class).class_name,
            };
            if name.is_null() {
                std::borrow::Cow::Borrowed("libav")
            } else {
                CStr::from_ptr(name).to_string_lossy()
            }
        }
    };
    crate::avlog::line(level, &component, fmt as usize, &message);
}
