//! A layer between tonic's client and its channel that removes a `grpc-status-details-bin`
//! tonic could not decode.
//!
//! tonic 0.14 decodes that header (or trailer) with `.expect`, so a server sending one that
//! is not base64 makes the exporter panic: the panic is printed, and under `panic = "abort"`
//! it ends the program being observed. The header carries only optional details (the
//! `RetryInfo` of a throttled call), so dropping a bad one costs nothing but that delay;
//! it is reported once per exporter.
//!
//! The check mirrors tonic's decoder exactly (the standard alphabet, padding optional but
//! canonical when present, no stray bits in the last symbol); a unit test compares the two
//! on every short string over a telling alphabet.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use hyper::body::{Body, Frame, SizeHint};
use telemetry_core::diagnostic;
use tonic::transport::Channel;
use tower_service::Service;

/// The header tonic decodes with `.expect`.
const STATUS_DETAILS: &str = "grpc-status-details-bin";

/// A [`Channel`] whose responses never carry a `grpc-status-details-bin` tonic cannot read.
#[derive(Clone, Debug)]
pub(crate) struct StatusDetailsFilter {
    inner: Channel,
    /// Set by the first removal, so that a server sending bad details on every call is
    /// reported once, not per call. Written and read only by the exporter's thread;
    /// Relaxed, as it orders nothing.
    reported: Arc<AtomicBool>,
}

impl StatusDetailsFilter {
    /// Wraps `inner`.
    pub(crate) fn new(inner: Channel) -> Self {
        StatusDetailsFilter {
            inner,
            reported: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Service<http::Request<tonic::body::Body>> for StatusDetailsFilter {
    type Response = http::Response<FilteredBody>;
    type Error = tonic::transport::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let response = self.inner.call(request);
        let reported = Arc::clone(&self.reported);
        Box::pin(async move {
            let mut response = response.await?;
            // A trailers-only response (how servers answer failed calls) has the status
            // in its headers.
            strip_bad_details(response.headers_mut(), &reported);
            Ok(response.map(|inner| FilteredBody { inner, reported }))
        })
    }
}

/// A response body whose trailers pass through [`strip_bad_details`].
#[derive(Debug)]
pub(crate) struct FilteredBody {
    inner: tonic::body::Body,
    reported: Arc<AtomicBool>,
}

impl Body for FilteredBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
        Poll::Ready(frame.map(|frame| {
            frame.map(|frame| match frame.into_trailers() {
                Ok(mut trailers) => {
                    strip_bad_details(&mut trailers, &this.reported);
                    Frame::trailers(trailers)
                }
                Err(frame) => frame,
            })
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Removes every `grpc-status-details-bin` in `headers` that tonic would fail to decode,
/// reporting the first removal through `reported`.
fn strip_bad_details(headers: &mut HeaderMap, reported: &AtomicBool) {
    let bad = headers
        .get_all(STATUS_DETAILS)
        .iter()
        .any(|value| !is_tonic_base64(value.as_bytes()));
    if !bad {
        return;
    }
    headers.remove(STATUS_DETAILS);
    if !reported.swap(true, Ordering::Relaxed) {
        diagnostic::report(
            "otlp grpc exporter",
            format_args!(
                "the server sent a {STATUS_DETAILS} that is not base64; ignoring it (further \
                 ones are ignored silently)"
            ),
        );
    }
}

/// The 6-bit value of a symbol of the standard base64 alphabet.
fn sextet(symbol: u8) -> Option<u8> {
    match symbol {
        b'A'..=b'Z' => Some(symbol - b'A'),
        b'a'..=b'z' => Some(symbol - b'a' + 26),
        b'0'..=b'9' => Some(symbol - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Whether tonic's base64 decoder (the `base64` crate's standard alphabet, padding
/// indifferent, trailing bits refused) accepts `value`: every quad but the last is four
/// symbols; the last holds at least two symbols, then optional `=`s up to four bytes in all;
/// the bits the last symbol carries past the final byte are zero.
fn is_tonic_base64(value: &[u8]) -> bool {
    if value.is_empty() {
        return true;
    }
    let last_len = match value.len() % 4 {
        0 => 4,
        rem => rem,
    };
    let (quads, last) = value.split_at(value.len() - last_len);
    if !quads.iter().all(|&symbol| sextet(symbol).is_some()) {
        return false;
    }
    let mut sextets = [0u8; 4];
    let mut count = 0;
    let mut padded = false;
    for (index, &symbol) in last.iter().enumerate() {
        if symbol == b'=' {
            if index < 2 {
                return false;
            }
            padded = true;
            continue;
        }
        if padded {
            return false;
        }
        let Some(value) = sextet(symbol) else {
            return false;
        };
        sextets[count] = value;
        count += 1;
    }
    if count < 2 {
        return false;
    }
    let bits = u32::from(sextets[0]) << 18
        | u32::from(sextets[1]) << 12
        | u32::from(sextets[2]) << 6
        | u32::from(sextets[3]);
    // 2, 3 or 4 symbols make 1, 2 or 3 bytes; the bits below them must be zero.
    let unused = 24 - count * 6 / 8 * 8;
    bits & ((1u32 << unused) - 1) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What tonic's own decoder says, through its public metadata API (the same engine
    /// `Status::from_header_map` uses, without the panic).
    fn tonic_accepts(value: &[u8]) -> bool {
        let Ok(header) = http::HeaderValue::from_bytes(value) else {
            return false;
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-bin", header);
        let metadata = tonic::metadata::MetadataMap::from_headers(headers);
        metadata
            .get_bin("x-bin")
            .is_some_and(|value| value.to_bytes().is_ok())
    }

    #[test]
    fn the_check_agrees_with_tonic_on_every_short_string() {
        // Symbols with zero and non-zero low bits, padding, URL-safe and foreign bytes.
        let alphabet = b"AQBg/=-!";
        let mut strings: Vec<Vec<u8>> = vec![Vec::new()];
        let mut checked = 0;
        for _ in 0..6 {
            let mut longer = Vec::new();
            for string in &strings {
                for &symbol in alphabet {
                    let mut next = string.clone();
                    next.push(symbol);
                    assert_eq!(
                        is_tonic_base64(&next),
                        tonic_accepts(&next),
                        "{:?}",
                        String::from_utf8_lossy(&next)
                    );
                    checked += 1;
                    longer.push(next);
                }
            }
            strings = longer;
        }
        assert!(checked > 250_000);
        assert!(is_tonic_base64(b""));
        for valid in ["QQ", "QQ==", "QQ=", "QUI", "QUI=", "QUJD", "QUJDRA"] {
            assert!(is_tonic_base64(valid.as_bytes()), "{valid}");
        }
        for invalid in ["Q", "QR", "QQ==QQ", "not base64!", "QUJD=", "a-_b", "QQ==="] {
            assert!(!is_tonic_base64(invalid.as_bytes()), "{invalid}");
        }
    }

    #[test]
    fn bad_details_are_removed_and_good_ones_kept() {
        let reported = AtomicBool::new(false);
        let mut headers = HeaderMap::new();
        headers.insert(STATUS_DETAILS, http::HeaderValue::from_static("CAE"));
        strip_bad_details(&mut headers, &reported);
        assert!(headers.contains_key(STATUS_DETAILS));
        assert!(!reported.load(Ordering::Relaxed));
        headers.append(STATUS_DETAILS, http::HeaderValue::from_static("%%%"));
        headers.insert("grpc-status", http::HeaderValue::from_static("14"));
        strip_bad_details(&mut headers, &reported);
        assert!(!headers.contains_key(STATUS_DETAILS));
        assert!(headers.contains_key("grpc-status"));
        assert!(reported.load(Ordering::Relaxed));
        // What is left cannot make tonic panic.
        assert!(tonic::Status::from_header_map(&headers).is_some());
    }
}
