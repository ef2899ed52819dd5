//! The OTLP/HTTP receiver: `POST /v1/{traces,metrics,logs}`, protobuf or JSON, identity or
//! gzip, answered per OTLP (conformance.md §2.1, §2.3).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ALLOW, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, ORIGIN,
    RETRY_AFTER, VARY,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use telemetry_otlp::Signal;

use super::body::{BodyError, ResponseBody, gunzip_limited, read_limited};
use super::ingest::{IngestError, decode_and_ingest, signal_for_path};
use super::reply::{Code, Encoding, export_response, status_body};
use super::{Config, Shared, otlp_key_ok};
use crate::backend::{IngestOutcome, IngestSource, Refusal, Transport};

/// The request headers a browser may send on a cross-origin OTLP POST.
const CORS_ALLOWED_HEADERS: &str = "content-type, content-encoding, x-otlp-api-key";

/// Answers one OTLP/HTTP request.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let cors = cors_origin(&shared.config, req.headers());
    let mut response = answer(shared, peer, req).await;
    if let Some(origin) = cors {
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(VARY, HeaderValue::from_static("origin"));
    }
    response
}

async fn answer(
    shared: &Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let Some(signal) = signal_for_path(req.uri().path()) else {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: OTLP/HTTP serves /v1/traces, /v1/metrics and /v1/logs\n",
        );
    };
    if req.method() == Method::OPTIONS {
        return preflight(shared, req.headers());
    }
    if req.method() != Method::POST {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "OTLP/HTTP takes POST\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST, OPTIONS"));
        return response;
    }
    let headers = req.headers();
    // Until the content type is known, errors go out as protobuf, OTLP's default.
    let Some(encoding) = content_encoding_of(headers) else {
        let source = IngestSource {
            transport: Transport::HttpProtobuf,
            peer: Some(peer),
        };
        shared
            .backend
            .record_refusal(signal, Refusal::UnsupportedMediaType, &source);
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::InvalidArgument,
            "Content-Type must be application/x-protobuf or application/json",
            Encoding::Protobuf,
        );
    };
    let source = IngestSource {
        transport: match encoding {
            Encoding::Protobuf => Transport::HttpProtobuf,
            Encoding::Json => Transport::HttpJson,
        },
        peer: Some(peer),
    };
    if !otlp_key_ok(&shared.config, headers) {
        shared
            .backend
            .record_refusal(signal, Refusal::Unauthorized, &source);
        return error(
            StatusCode::UNAUTHORIZED,
            Code::Unauthenticated,
            "missing or wrong x-otlp-api-key header",
            encoding,
        );
    }
    let Some(gzip) = is_gzip(headers) else {
        shared
            .backend
            .record_refusal(signal, Refusal::UnsupportedMediaType, &source);
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::InvalidArgument,
            "Content-Encoding must be gzip or identity",
            encoding,
        );
    };
    let limit = shared.config.max_body_size;
    let body = match read_limited(req.into_body(), limit, shared.config.body_read_timeout).await {
        Ok(body) => body,
        Err(e) => return body_error(shared, signal, &source, &e, encoding, limit),
    };
    let body = if gzip {
        match gunzip_off_thread(body, limit).await {
            Ok(body) => body,
            Err(e) => return body_error(shared, signal, &source, &e, encoding, limit),
        }
    } else {
        body
    };
    match decode_and_ingest(&shared.backend, signal, encoding, body, source).await {
        Ok(IngestOutcome::Accepted { rejected, message }) => {
            let body = export_response(signal, rejected, &message, encoding);
            with_type(Response::new(ResponseBody::full(body)), encoding)
        }
        Ok(IngestOutcome::Backpressure { retry_after }) => {
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                Code::Unavailable,
                "the dashboard is busy; retry later",
                encoding,
            );
            response
                .headers_mut()
                .insert(RETRY_AFTER, retry_after_seconds(retry_after));
            response
        }
        Err(IngestError::Malformed(message)) => {
            shared
                .backend
                .record_refusal(signal, Refusal::Malformed, &source);
            error(
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                &message,
                encoding,
            )
        }
        Err(IngestError::Internal) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            Code::Internal,
            "decoding failed",
            encoding,
        ),
    }
}

/// Inflates on the blocking pool when large, as decoding does.
pub(crate) async fn gunzip_off_thread(body: Vec<u8>, limit: usize) -> Result<Vec<u8>, BodyError> {
    super::offload(body.len(), move || gunzip_limited(&body, limit))
        .await
        .unwrap_or(Err(BodyError::Transport))
}

fn body_error(
    shared: &Shared,
    signal: Signal,
    source: &IngestSource,
    e: &BodyError,
    encoding: Encoding,
    limit: usize,
) -> Response<ResponseBody> {
    match e {
        BodyError::TooLarge => {
            shared
                .backend
                .record_refusal(signal, Refusal::TooLarge, source);
            let message = format!("request body over the limit of {limit} bytes");
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::ResourceExhausted,
                &message,
                encoding,
            )
        }
        BodyError::BadGzip(e) => {
            shared
                .backend
                .record_refusal(signal, Refusal::Malformed, source);
            let message = format!("invalid gzip body: {e}");
            error(
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                &message,
                encoding,
            )
        }
        BodyError::Transport => error(
            StatusCode::BAD_REQUEST,
            Code::InvalidArgument,
            "the request body did not arrive whole",
            encoding,
        ),
        // 408 says what happened: the client was too slow, the request itself may be fine.
        BodyError::Timeout => error(
            StatusCode::REQUEST_TIMEOUT,
            Code::DeadlineExceeded,
            "the request body did not arrive within the body read timeout",
            encoding,
        ),
    }
}

/// `Retry-After` in whole seconds, rounded up and at least 1 (RFC 9110 delta-seconds).
pub(crate) fn retry_after_seconds(delay: Duration) -> HeaderValue {
    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    HeaderValue::from(secs.max(1))
}

/// The body encoding a `Content-Type` names, parameters such as `charset` ignored.
fn content_encoding_of(headers: &HeaderMap) -> Option<Encoding> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let mime = value.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/x-protobuf")
        || mime.eq_ignore_ascii_case("application/protobuf")
    {
        Some(Encoding::Protobuf)
    } else if mime.eq_ignore_ascii_case("application/json") {
        Some(Encoding::Json)
    } else {
        None
    }
}

/// `Some(true)` for gzip, `Some(false)` for identity or no header, `None` for anything else.
fn is_gzip(headers: &HeaderMap) -> Option<bool> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Some(false);
    };
    let value = value.to_str().ok()?.trim();
    if value.eq_ignore_ascii_case("gzip") || value.eq_ignore_ascii_case("x-gzip") {
        Some(true)
    } else if value.is_empty() || value.eq_ignore_ascii_case("identity") {
        Some(false)
    } else {
        None
    }
}

/// The `Origin` to echo back when a browser page may POST to us: loopback pages always,
/// others when configured.
fn cors_origin(config: &Config, headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(ORIGIN)?;
    let text = origin.to_str().ok()?;
    let allowed = is_loopback_origin(text)
        || config
            .allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(text));
    allowed.then(|| origin.clone())
}

/// `http(s)://localhost`, `127.0.0.1` (any 127/8) or `[::1]`, with any port.
pub(crate) fn is_loopback_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, "")) => host,
            Some((host, port)) if port.strip_prefix(':').is_some_and(is_port) => host,
            _ => return false,
        }
    } else {
        match rest.split_once(':') {
            Some((host, port)) if is_port(port) => host,
            Some(_) => return false,
            None => rest,
        }
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_port(s: &str) -> bool {
    !s.starts_with('+') && s.parse::<u16>().is_ok()
}

fn preflight(shared: &Shared, headers: &HeaderMap) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    // Without an allowed origin the browser refuses the POST on its own: no CORS headers.
    if cors_origin(&shared.config, headers).is_some() {
        let h = response.headers_mut();
        h.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, OPTIONS"),
        );
        h.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(CORS_ALLOWED_HEADERS),
        );
        h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    response
}

fn with_type(mut response: Response<ResponseBody>, encoding: Encoding) -> Response<ResponseBody> {
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    response
}

/// An error answer: a `google.rpc.Status` in the request's encoding (OR-3).
fn error(
    status: StatusCode,
    code: Code,
    message: &str,
    encoding: Encoding,
) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(status_body(code, message, encoding)));
    *response.status_mut() = status;
    with_type(response, encoding)
}

/// A plain-text answer, for requests that are not OTLP at all.
fn plain(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins() {
        for yes in [
            "http://localhost",
            "http://localhost:3000",
            "https://127.0.0.1:8443",
            "http://127.9.9.9",
            "http://[::1]:5173",
            "http://[::1]",
        ] {
            assert!(is_loopback_origin(yes), "{yes}");
        }
        for no in [
            "null",
            "http://example.com",
            "http://localhost.evil.com",
            "http://127.0.0.1.evil.com",
            "http://localhost:abc",
            "file://localhost",
            "http://[::2]:80",
            "http://[::1]5173",
            "http://10.0.0.1",
        ] {
            assert!(!is_loopback_origin(no), "{no}");
        }
    }

    #[test]
    fn content_types_with_parameters() {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert_eq!(content_encoding_of(&h), Some(Encoding::Json));
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("Application/X-Protobuf"),
        );
        assert_eq!(content_encoding_of(&h), Some(Encoding::Protobuf));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(content_encoding_of(&h), None);
        h.remove(CONTENT_TYPE);
        assert_eq!(content_encoding_of(&h), None);
    }

    #[test]
    fn content_encodings() {
        let mut h = HeaderMap::new();
        assert_eq!(is_gzip(&h), Some(false));
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("GZIP"));
        assert_eq!(is_gzip(&h), Some(true));
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("identity"));
        assert_eq!(is_gzip(&h), Some(false));
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert_eq!(is_gzip(&h), None);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_seconds(Duration::ZERO), "1");
        assert_eq!(retry_after_seconds(Duration::from_millis(1500)), "2");
        assert_eq!(retry_after_seconds(Duration::from_secs(30)), "30");
    }
}
