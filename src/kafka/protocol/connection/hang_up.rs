//! Whether the broker has hung up a connection: its end of the stream, or a read that failed;
//! or we gave up on it (a request unanswered in time).
//!
//! A broker closes a connection that has been idle for `connections.max.idle.ms` (10 minutes by
//! default): a quiet service's Produce connection, between two registrations. rskafka's
//! messenger reads every connection all the time, so it sees the end of the stream at once and
//! fails every later request on it, but it does not say so until one is made. The stream under
//! the messenger notes it here, so that a connection is replaced before a request is made on
//! it ([`super::Connection::is_closed`]), rather than that request failing and being retried.
use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Set once the stream it watches has ended or failed; never cleared.
#[derive(Debug, Clone, Default)]
pub(super) struct HangUp(Arc<AtomicBool>);

impl HangUp {
    /// Whether the stream has ended or failed.
    pub(super) fn happened(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn note(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Sets it for a connection given up on while its stream still looks open (a request that
    /// got no answer in time).
    pub(in crate::kafka::protocol) fn give_up(&self) {
        self.note();
    }
}

/// A stream that sets its [`HangUp`] when a read ends it (zero bytes into room for more) or
/// fails, or a write fails.
pub(super) struct Watched<T> {
    inner: T,
    hang_up: HangUp,
}

impl<T> Watched<T> {
    pub(super) fn new(inner: T, hang_up: HangUp) -> Self {
        Self { inner, hang_up }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let room = buf.remaining();
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let ended =
            matches!(polled, Poll::Ready(Ok(()))) && room > 0 && buf.filled().len() == before;
        if ended || matches!(polled, Poll::Ready(Err(_))) {
            self.hang_up.note();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Err(_))) {
            self.hang_up.note();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        if matches!(polled, Poll::Ready(Err(_))) {
            self.hang_up.note();
        }
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    #[tokio::test]
    async fn data_leaves_it_unset_and_the_end_of_the_stream_sets_it() {
        let (near, mut far) = duplex(64);
        let hang_up = HangUp::default();
        let mut watched = Watched::new(near, hang_up.clone());
        far.write_all(b"abc").await.unwrap();
        let mut got = [0u8; 3];
        watched.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"abc");
        assert!(!hang_up.happened(), "a read that brought bytes");
        // A read into no room returns nothing without being the end.
        let mut none = [0u8; 0];
        assert_eq!(watched.read(&mut none).await.unwrap(), 0);
        assert!(!hang_up.happened(), "a read into no room");
        drop(far);
        let mut more = [0u8; 8];
        assert_eq!(watched.read(&mut more).await.unwrap(), 0);
        assert!(hang_up.happened(), "the end of the stream");
    }

    #[tokio::test]
    async fn a_failed_write_sets_it() {
        let (near, far) = duplex(64);
        let hang_up = HangUp::default();
        let mut watched = Watched::new(near, hang_up.clone());
        drop(far);
        assert!(watched.write_all(b"abc").await.is_err());
        assert!(hang_up.happened());
    }
}
