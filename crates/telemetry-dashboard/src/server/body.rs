//! Request bodies read within a limit, gzip inflated within the same limit, and the one
//! response body type every handler answers with.
//!
//! The limit holds at every step: a `Content-Length` over it is refused before a byte is read,
//! a chunked body is counted frame by frame, and a gzip body is inflated through a reader that
//! stops one byte past the limit, so a small bomb never expands beyond it in memory or CPU.

use std::convert::Infallible;
use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use flate2::read::MultiGzDecoder;
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use tokio::sync::mpsc;

/// Why a request body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// More bytes than the limit, compressed or after inflating.
    TooLarge,
    /// The gzip stream is corrupt.
    BadGzip(std::io::Error),
    /// The connection failed.
    Transport,
    /// The client did not send the whole body within the body read timeout.
    Timeout,
}

/// Reads a whole body, refusing it as soon as more than `limit` bytes arrived. A sender that
/// takes longer than `timeout` for the whole body is cut off (`Timeout`), so that it cannot
/// hold a connection slot and a buffer forever.
pub(crate) async fn read_limited(
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, BodyError> {
    // Content-Length (or the HTTP/2 equivalent) is checked before anything is read.
    if let Some(len) = body.size_hint().exact()
        && len > limit as u64
    {
        return Err(BodyError::TooLarge);
    }
    let reading = async move {
        let mut body = body;
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| BodyError::Transport)?;
            if let Ok(data) = frame.into_data() {
                if out.len() + data.len() > limit {
                    return Err(BodyError::TooLarge);
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(out)
    };
    tokio::time::timeout(timeout, reading)
        .await
        .unwrap_or(Err(BodyError::Timeout))
}

/// Inflates a gzip body (one or more members), refusing it once it passes `limit` bytes.
pub(crate) fn gunzip_limited(input: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    gunzip_from(input, limit)
}

fn gunzip_from(input: impl Read, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it" without inflating more.
    let mut reader = MultiGzDecoder::new(input).take(limit as u64 + 1);
    reader.read_to_end(&mut out).map_err(BodyError::BadGzip)?;
    if out.len() > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(out)
}

/// The response body of every handler.
#[derive(Debug)]
pub(crate) enum ResponseBody {
    /// A complete body, sent at once (`None` once sent).
    Full(Option<Bytes>),
    /// A gRPC reply: one data frame, then trailers.
    WithTrailers {
        /// The data frame, `None` once sent.
        data: Option<Bytes>,
        /// The trailers, `None` once sent.
        trailers: Option<HeaderMap>,
    },
    /// A stream that ends when its sender is dropped (Server-Sent Events).
    Stream(mpsc::Receiver<Bytes>),
}

impl ResponseBody {
    /// A complete body.
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        ResponseBody::Full((!bytes.is_empty()).then_some(bytes))
    }

    /// No body.
    pub(crate) fn empty() -> Self {
        ResponseBody::Full(None)
    }
}

impl hyper::body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ResponseBody::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            ResponseBody::WithTrailers { data, trailers } => {
                if let Some(d) = data.take() {
                    return Poll::Ready(Some(Ok(Frame::data(d))));
                }
                Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t))))
            }
            ResponseBody::Stream(rx) => rx.poll_recv(cx).map(|d| d.map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(data) => data.is_none(),
            ResponseBody::WithTrailers { data, trailers } => data.is_none() && trailers.is_none(),
            ResponseBody::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(data) => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gunzip_within_limit_round_trips() {
        let data = b"hello dashboard".repeat(100);
        assert_eq!(gunzip_limited(&gzip(&data), data.len()).unwrap(), data);
    }

    #[test]
    fn gunzip_one_byte_over_the_limit_is_too_large() {
        let data = vec![7u8; 1000];
        assert!(matches!(
            gunzip_limited(&gzip(&data), 999),
            Err(BodyError::TooLarge)
        ));
    }

    #[test]
    fn gunzip_concatenated_members() {
        let mut both = gzip(b"abc");
        both.extend(gzip(b"def"));
        assert_eq!(gunzip_limited(&both, 100).unwrap(), b"abcdef");
    }

    #[test]
    fn gunzip_garbage_is_bad_gzip() {
        assert!(matches!(
            gunzip_limited(b"not gzip at all", 100),
            Err(BodyError::BadGzip(_))
        ));
    }

    #[test]
    fn gunzip_bomb_stops_at_the_limit() {
        // 256 members of 1 MiB of zeroes each: about 256 KiB that would inflate to 256 MiB.
        let member = gzip(&vec![0u8; 1 << 20]);
        let bomb = member.repeat(256);
        let mut rest = bomb.as_slice();
        assert!(matches!(
            gunzip_from(&mut rest, 1 << 20),
            Err(BodyError::TooLarge)
        ));
        // Inflating stopped just past the limit: most of the compressed input was never read.
        assert!(
            rest.len() > bomb.len() / 2,
            "read {} of {}",
            bomb.len() - rest.len(),
            bomb.len()
        );
    }
}
