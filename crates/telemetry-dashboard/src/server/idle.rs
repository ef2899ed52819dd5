//! Noticing connections on which nothing moves, so they can be closed.
//!
//! hyper's header read timeout covers an HTTP/1 request only once the protocol is known, and
//! the auto builder first waits, without a limit, for the bytes that tell HTTP/1 from HTTP/2;
//! an HTTP/2 connection has no timeout at all between requests. A client that connects and
//! says nothing, or opens HTTP/2 and idles, would hold one of the server's connection slots
//! for ever, and enough of them would lock every port, the UI's included. [`Watched`] notes
//! when bytes last moved; the connection task closes the connection once that is too long ago.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// When bytes last moved on one connection.
#[derive(Debug)]
pub(crate) struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last byte read or written, plus one; 0 until the
    /// first byte is read. Written by the connection's reads and writes, read by its
    /// watchdog; both run in the connection's task, so Relaxed is enough (the value orders
    /// nothing else).
    last: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            start: Instant::now(),
            last: AtomicU64::new(0),
        })
    }

    fn moved(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last.store(ms + 1, Ordering::Relaxed);
    }

    /// When the connection has been quiet too long: `first` after it opened while the client
    /// has sent nothing, else `idle` after bytes last moved.
    pub(crate) fn deadline(&self, first: Duration, idle: Duration) -> Instant {
        match self.last.load(Ordering::Relaxed) {
            0 => self.start + first,
            ms => self.start + Duration::from_millis(ms - 1) + idle,
        }
    }
}

/// A stream that reports every byte it moves to its [`Activity`].
#[derive(Debug)]
pub(crate) struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Self {
        Watched { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.moved();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(&polled);
        polled
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

impl<T> Watched<T> {
    /// A write counts once the client has spoken: before that the server has nothing to say,
    /// and a silent client must not be kept alive by it.
    fn wrote(&self, polled: &Poll<io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0)
            && self.activity.last.load(Ordering::Relaxed) != 0
        {
            self.activity.moved();
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const FIRST: Duration = Duration::from_secs(2);
    const IDLE: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn silent_then_reading_then_writing_moves_the_deadline() {
        let (client, server) = tokio::io::duplex(64);
        let activity = Activity::new();
        let opened = Instant::now();
        let mut watched = Watched::new(server, Arc::clone(&activity));
        let mut client = client;
        assert_eq!(activity.deadline(FIRST, IDLE), opened + FIRST);

        // A server write before the client spoke does not count.
        tokio::time::advance(Duration::from_secs(1)).await;
        watched.write_all(b"hello").await.unwrap();
        assert_eq!(activity.deadline(FIRST, IDLE), opened + FIRST);

        client.write_all(b"GET").await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(watched.read(&mut buf).await.unwrap(), 3);
        let read_at = opened + Duration::from_secs(1);
        assert_eq!(activity.deadline(FIRST, IDLE), read_at + IDLE);

        tokio::time::advance(Duration::from_secs(4)).await;
        watched.write_all(b"answer").await.unwrap();
        assert_eq!(
            activity.deadline(FIRST, IDLE),
            read_at + Duration::from_secs(4) + IDLE
        );
    }
}
