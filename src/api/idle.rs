//! Connections that say nothing are closed (docs/design.md §6). hyper's
//! header timeout starts with a request's first bytes, so a connection that
//! sends nothing, or goes quiet between requests, would stay open for good:
//! 1,100 of them exhaust a pod's descriptors. `Idle` wraps the socket and
//! fails its reads (hyper then closes it) when nothing was read or written
//! for a while: `first` before the first bytes, `between` after them.
//! `between` is longer than the request time limit, whose 503 is written
//! before it runs out, so a request in progress is never cut.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep, sleep_until};

pub struct Idle<S> {
    inner: S,
    /// Fires at or before the connection's deadline; when it fires, the
    /// deadline is worked out from `last` and the timer set again if it
    /// has moved (so a busy connection costs a clock read per read or
    /// write, not a timer update: the timer wheel is touched once per
    /// `between` at most).
    timer: Pin<Box<Sleep>>,
    /// When bytes last went through, if they ever did.
    last: Option<Instant>,
    first_deadline: Instant,
    between: Duration,
}

impl<S> Idle<S> {
    pub fn new(inner: S, first: Duration, between: Duration) -> Idle<S> {
        let first_deadline = Instant::now() + first;
        Idle {
            inner,
            timer: Box::pin(sleep_until(first_deadline)),
            last: None,
            first_deadline,
            between,
        }
    }

    /// Bytes went through: the connection has `between` more.
    fn touch(&mut self) {
        self.last = Some(Instant::now());
    }

    /// Ready when the connection has been quiet past its deadline.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let deadline = self.last.map_or(self.first_deadline, |last| last + self.between);
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            self.timer.as_mut().reset(deadline);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Idle<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.poll_expired(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection sent nothing in time",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Idle<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
