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
