//! The byte stream under the messenger: it notes when the broker hangs up ([`HangUp`]) and
//! checks that answers come in the order their requests were written ([`AnswerOrder`]).
use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{answer_order::AnswerOrder, hang_up::HangUp};

/// A stream that sets its [`HangUp`] when a read ends it (zero bytes into room for more) or
/// fails, or a write fails; and fails a read that brings an answer out of order.
pub(super) struct Watched<T> {
    inner: T,
    hang_up: HangUp,
    order: AnswerOrder,
}

impl<T> Watched<T> {
    pub(super) fn new(inner: T, hang_up: HangUp) -> Self {
        Self {
            inner,
            hang_up,
            order: AnswerOrder::default(),
        }
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
        if matches!(polled, Poll::Ready(Ok(())))
            && let Err(out_of_order) = self.order.read(&buf.filled()[before..])
        {
            self.hang_up.note();
            return Poll::Ready(Err(out_of_order));
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
        if let Poll::Ready(Ok(n)) = polled
            && let Err(unframed) = self.order.written(&buf[..n.min(buf.len())])
        {
            self.hang_up.note();
            return Poll::Ready(Err(unframed));
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
    async fn an_answer_out_of_order_fails_the_read_and_sets_it() {
        let (near, mut far) = duplex(256);
        let hang_up = HangUp::default();
        let mut watched = Watched::new(near, hang_up.clone());
        // Two requests (size 8: api key, version, correlation ids 1 and 2)...
        for id in [1i32, 2] {
            let mut frame = vec![0, 0, 0, 8, 0, 0, 0, 9];
            frame.extend_from_slice(&id.to_be_bytes());
            watched.write_all(&frame).await.unwrap();
        }
        // ...and the second's answer first.
        far.write_all(&[0, 0, 0, 4, 0, 0, 0, 2]).await.unwrap();
        let mut got = [0u8; 8];
        let err = watched.read_exact(&mut got).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(hang_up.happened());
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
