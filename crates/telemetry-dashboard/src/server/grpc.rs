//! The OTLP/gRPC receiver, written by hand over hyper's HTTP/2 server.
//!
//! Why not tonic's server: OTLP export is three unary methods whose messages our own
//! decoders read from bytes, so tonic would contribute its tower stack and router, a
//! raw-bytes codec to sidestep its prost integration, and a second HTTP/2 server beside the
//! hyper one the other ports need. What remains of gRPC for unary calls is small and
//! specified (conformance.md OT-6): one length-prefixed message in, one out, the status in
//! trailers. Done here, one hyper server runs all three ports, so either OTLP port takes
//! either protocol, and gRPC shares the HTTP receiver's body limit, gzip inflation bounded
//! while it runs, API key check, refusal counting and back-pressure mapping; the
//! `google.rpc.Status` with `RetryInfo` would have been encoded by hand with tonic too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use telemetry_otlp::Signal;

use super::body::{BodyError, ResponseBody, read_limited};
use super::ingest::{IngestError, decode_and_ingest};
use super::otlp_http::gunzip_off_thread;
use super::reply::{
    Code, Encoding, base64_unpadded, export_response, grpc_percent_encode, status_proto,
};
use super::{Shared, otlp_key_ok};
use crate::backend::{IngestOutcome, IngestSource, Refusal, Transport};

/// The length prefix of a gRPC message: a compressed flag and a big-endian length.
const PREFIX_LEN: usize = 5;
/// Message encodings we read, for `grpc-accept-encoding`.
const ACCEPT_ENCODING: &str = "identity, gzip";

/// Whether a request is gRPC: its content type is `application/grpc` or a `+` variant.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.as_bytes().get(..16))
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"application/grpc"))
}

/// The signal an OTLP/gRPC method carries.
fn signal_for_method(path: &str) -> Option<Signal> {
    match path {
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export" => Some(Signal::Traces),
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export" => Some(Signal::Metrics),
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export" => Some(Signal::Logs),
        _ => None,
    }
}

/// Answers one gRPC call.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    if req.method() != Method::POST {
        let mut response = Response::new(ResponseBody::empty());
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return response;
    }
    let Some(signal) = signal_for_method(req.uri().path()) else {
        let message = format!("unknown method {}", req.uri().path());
        return status_only(Code::Unimplemented, &message, None);
    };
    let source = IngestSource {
        transport: Transport::Grpc,
        peer: Some(peer),
    };
    let headers = req.headers();
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if !(content_type.eq_ignore_ascii_case(b"application/grpc")
        || content_type.eq_ignore_ascii_case(b"application/grpc+proto"))
    {
        shared
            .backend
            .record_refusal(signal, Refusal::UnsupportedMediaType, &source);
        return status_only(
            Code::Unimplemented,
            "only application/grpc+proto is served",
            None,
        );
    }
    if !otlp_key_ok(&shared.config, headers) {
        shared
            .backend
            .record_refusal(signal, Refusal::Unauthorized, &source);
        return status_only(
            Code::Unauthenticated,
            "missing or wrong x-otlp-api-key",
            None,
        );
    }
    let gzip = match headers.get("grpc-encoding").map(HeaderValue::as_bytes) {
        None => false,
        Some(e) if e.eq_ignore_ascii_case(b"identity") => false,
        Some(e) if e.eq_ignore_ascii_case(b"gzip") => true,
        Some(_) => {
            shared
                .backend
                .record_refusal(signal, Refusal::UnsupportedMediaType, &source);
            return status_only(
                Code::Unimplemented,
                "grpc-encoding must be gzip or identity",
                None,
            );
        }
    };
    let limit = shared.config.max_body_size;
    let too_large = || {
        shared
            .backend
            .record_refusal(signal, Refusal::TooLarge, &source);
        let message = format!("message over the limit of {limit} bytes");
        status_only(Code::ResourceExhausted, &message, None)
    };
    let malformed = |message: &str| {
        shared
            .backend
            .record_refusal(signal, Refusal::Malformed, &source);
        status_only(Code::InvalidArgument, message, None)
    };
    let body = match read_limited(
        req.into_body(),
        limit.saturating_add(PREFIX_LEN),
        shared.config.body_read_timeout,
    )
    .await
    {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return too_large(),
        // DEADLINE_EXCEEDED, not INTERNAL: nothing failed on this side, and an OTLP client
        // retries it (conformance.md OR-5) once its network lets the message through in time.
        Err(BodyError::Timeout) => {
            return status_only(
                Code::DeadlineExceeded,
                "the message did not arrive within the body read timeout",
                None,
            );
        }
        Err(_) => return status_only(Code::Internal, "the request did not arrive whole", None),
    };
    let (compressed, message) = match split_message(&body) {
        Ok(Some(parts)) => parts,
        Ok(None) => return malformed("the request holds no message"),
        Err(message) => return malformed(message),
    };
    if message.len() > limit {
        return too_large();
    }
    let message = match (compressed, gzip) {
        (false, _) => message.to_vec(),
        (true, false) => return malformed("compressed flag set without grpc-encoding"),
        (true, true) => match gunzip_off_thread(message.to_vec(), limit).await {
            Ok(inflated) => inflated,
            Err(BodyError::TooLarge) => return too_large(),
            Err(BodyError::BadGzip(e)) => return malformed(&format!("invalid gzip message: {e}")),
            Err(BodyError::Transport | BodyError::Timeout) => {
                return status_only(Code::Internal, "inflating failed", None);
            }
        },
    };
    drop(body);
    match decode_and_ingest(&shared.backend, signal, Encoding::Protobuf, message, source).await {
        Ok(IngestOutcome::Accepted { rejected, message }) => ok(&export_response(
            signal,
            rejected,
            &message,
            Encoding::Protobuf,
        )),
        Ok(IngestOutcome::Backpressure { retry_after }) => status_only(
            Code::Unavailable,
            "the dashboard is busy; retry later",
            Some(retry_after),
        ),
        Err(IngestError::Malformed(message)) => malformed(&message),
        Err(IngestError::Internal) => status_only(Code::Internal, "decoding failed", None),
    }
}

/// Splits a unary request body into its one message: `Ok(None)` when empty, `Err` when the
/// framing is broken or there is more than one message.
fn split_message(body: &[u8]) -> Result<Option<(bool, &[u8])>, &'static str> {
    if body.is_empty() {
        return Ok(None);
    }
    let Some((prefix, rest)) = body.split_first_chunk::<PREFIX_LEN>() else {
        return Err("truncated gRPC message prefix");
    };
    let compressed = match prefix[0] {
        0 => false,
        1 => true,
        _ => return Err("invalid gRPC compressed flag"),
    };
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    match rest.len().cmp(&len) {
        std::cmp::Ordering::Less => Err("truncated gRPC message"),
        std::cmp::Ordering::Greater => Err("more than one message in a unary call"),
        std::cmp::Ordering::Equal => Ok(Some((compressed, rest))),
    }
}

fn grpc_headers(response: &mut Response<ResponseBody>) {
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    h.insert(
        "grpc-accept-encoding",
        HeaderValue::from_static(ACCEPT_ENCODING),
    );
}

/// A successful reply: the message, then `grpc-status: 0`.
fn ok(message: &[u8]) -> Response<ResponseBody> {
    let mut framed = Vec::with_capacity(PREFIX_LEN + message.len());
    framed.push(0);
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let mut response = Response::new(ResponseBody::WithTrailers {
        data: Some(Bytes::from(framed)),
        trailers: Some(trailers),
    });
    grpc_headers(&mut response);
    response
}

/// A Trailers-Only reply carrying an error status, with `RetryInfo` when `retry` is given.
fn status_only(code: Code, message: &str, retry: Option<Duration>) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::empty());
    grpc_headers(&mut response);
    let h = response.headers_mut();
    h.insert("grpc-status", HeaderValue::from(code as u16));
    if let Ok(v) = HeaderValue::from_str(&grpc_percent_encode(message)) {
        h.insert("grpc-message", v);
    }
    if retry.is_some() {
        let details = base64_unpadded(&status_proto(code, message, retry));
        if let Ok(v) = HeaderValue::from_str(&details) {
            h.insert("grpc-status-details-bin", v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing() {
        assert_eq!(split_message(b""), Ok(None));
        assert_eq!(split_message(&[0, 0, 0, 0, 0]), Ok(Some((false, &[][..]))));
        assert_eq!(
            split_message(&[1, 0, 0, 0, 2, 7, 8]),
            Ok(Some((true, &[7, 8][..])))
        );
        assert!(split_message(&[0, 0, 0]).is_err());
        assert!(split_message(&[0, 0, 0, 0, 3, 1]).is_err());
        assert!(split_message(&[0, 0, 0, 0, 1, 1, 0]).is_err());
        assert!(split_message(&[2, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn grpc_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_grpc(&h));
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+proto"),
        );
        assert!(is_grpc(&h));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(!is_grpc(&h));
    }

    #[test]
    fn methods() {
        assert_eq!(
            signal_for_method("/opentelemetry.proto.collector.logs.v1.LogsService/Export"),
            Some(Signal::Logs)
        );
        assert_eq!(
            signal_for_method("/opentelemetry.proto.collector.logs.v1.LogsService/X"),
            None
        );
    }
}
