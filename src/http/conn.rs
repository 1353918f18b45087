//! What one HTTP connection may cost: the server holds at most `MAX_CONNECTIONS` at once
//! (more wait in the kernel's backlog until one ends), a request's head must arrive within
//! `HEADER_TIMEOUT` and be at most `MAX_HEAD` bytes (else 431), an idle keep-alive
//! connection is closed after `HEADER_TIMEOUT` without a new request, and a read or write
//! that makes no progress for `STALL_TIMEOUT` (a body that stops coming, a viewer that stops
//! reading) ends the connection. Slowloris and slow readers cost a slot for seconds, not
//! for ever.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep, Sleep};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// For a request's head to arrive, and for an idle keep-alive connection to send another.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// For a read or a write to make any progress at all.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest request head (request line and headers) read.
pub const MAX_HEAD: usize = 32 * 1024;

/// A stream whose reads and writes fail with `TimedOut` once one has been pending, with no
/// progress, for `limit`.
pub struct Deadline<S> {
    inner: S,
    limit: Duration,
    read: Option<Pin<Box<Sleep>>>,
    write: Option<Pin<Box<Sleep>>>,
}

impl<S> Deadline<S> {
    pub fn new(inner: S, limit: Duration) -> Self {
        Deadline {
            inner,
            limit,
            read: None,
            write: None,
        }
    }
}

/// After a poll of the stream: disarms on progress; on `Pending`, arms the timer (once) and
/// turns its expiry into an error.
fn check<T>(
    timer: &mut Option<Pin<Box<Sleep>>>,
    limit: Duration,
    cx: &mut Context<'_>,
    polled: Poll<io::Result<T>>,
    what: &str,
) -> Poll<io::Result<T>> {
    match polled {
        Poll::Ready(r) => {
            *timer = None;
            Poll::Ready(r)
        }
        Poll::Pending => {
            let t = timer.get_or_insert_with(|| Box::pin(sleep(limit)));
            match t.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    *timer = None;
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no {what} progress for {} s", limit.as_secs()),
                    )))
                }
                Poll::Pending => Poll::Pending,
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = &mut *self;
        let polled = Pin::new(&mut me.inner).poll_read(cx, buf);
        check(&mut me.read, me.limit, cx, polled, "read")
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = &mut *self;
        let polled = Pin::new(&mut me.inner).poll_write(cx, buf);
        check(&mut me.write, me.limit, cx, polled, "write")
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = &mut *self;
        let polled = Pin::new(&mut me.inner).poll_flush(cx);
        check(&mut me.write, me.limit, cx, polled, "write")
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = &mut *self;
        let polled = Pin::new(&mut me.inner).poll_write_vectored(cx, bufs);
        check(&mut me.write, me.limit, cx, polled, "write")
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_read_with_no_progress_times_out_and_progress_resets_it() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut d = Deadline::new(a, Duration::from_secs(5));
        let mut buf = [0u8; 8];
        b.write_all(b"hi").await.unwrap();
        assert_eq!(d.read(&mut buf).await.unwrap(), 2);
        let started = tokio::time::Instant::now();
        let err = d.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_nobody_reads_times_out() {
        let (a, _b) = tokio::io::duplex(16);
        let mut d = Deadline::new(a, Duration::from_secs(3));
        let err = d.write_all(&[0u8; 64]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
