//! The few messages the receivers write, by hand: `Export*ServiceResponse` (empty, or with
//! `partial_success`), `google.rpc.Status` and `google.rpc.RetryInfo` — in protobuf and in
//! OTLP/JSON — and the text encodings gRPC puts in trailers (base64, percent-encoding).
//!
//! Field numbers: conformance.md §2.3 and §2.5 (`ExportTracePartialSuccess { int64
//! rejected_spans = 1; string error_message = 2; }`, likewise for data points and log
//! records; the response holds it at field 1).

use std::time::Duration;

use telemetry_otlp::Signal;

/// gRPC status codes the receivers answer with (conformance.md OT-7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    Ok = 0,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    ResourceExhausted = 8,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

/// Request and response encoding of OTLP/HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_len_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, u64::from(field << 3 | 2));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    put_varint(out, u64::from(field << 3));
    put_varint(out, v);
}

/// The JSON name of `rejected_*` for a signal.
fn rejected_json_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "rejectedSpans",
        Signal::Metrics => "rejectedDataPoints",
        _ => "rejectedLogRecords",
    }
}

/// An `Export*ServiceResponse`: empty when nothing was rejected and there is no message,
/// else with `partial_success` (OR-1, OR-2).
pub(crate) fn export_response(
    signal: Signal,
    rejected: u64,
    message: &str,
    encoding: Encoding,
) -> Vec<u8> {
    let partial = rejected != 0 || !message.is_empty();
    match encoding {
        Encoding::Protobuf => {
            let mut out = Vec::new();
            if partial {
                let mut inner = Vec::new();
                if rejected != 0 {
                    put_varint_field(&mut inner, 1, rejected);
                }
                if !message.is_empty() {
                    put_len_field(&mut inner, 2, message.as_bytes());
                }
                put_len_field(&mut out, 1, &inner);
            }
            out
        }
        Encoding::Json => {
            if !partial {
                return b"{}".to_vec();
            }
            let mut inner = serde_json::Map::new();
            if rejected != 0 {
                // int64 fields are decimal strings in OTLP/JSON (OJ-4).
                inner.insert(
                    rejected_json_name(signal).into(),
                    rejected.to_string().into(),
                );
            }
            if !message.is_empty() {
                inner.insert("errorMessage".into(), message.into());
            }
            serde_json::json!({ "partialSuccess": inner })
                .to_string()
                .into_bytes()
        }
    }
}

/// A `google.rpc.RetryInfo` wrapped in a `google.protobuf.Any`, for `Status.details`.
fn retry_info_any(delay: Duration) -> Vec<u8> {
    let mut duration = Vec::new();
    if delay.as_secs() != 0 {
        put_varint_field(&mut duration, 1, delay.as_secs());
    }
    if delay.subsec_nanos() != 0 {
        put_varint_field(&mut duration, 2, u64::from(delay.subsec_nanos()));
    }
    let mut retry_info = Vec::new();
    put_len_field(&mut retry_info, 1, &duration);
    let mut any = Vec::new();
    put_len_field(&mut any, 1, b"type.googleapis.com/google.rpc.RetryInfo");
    put_len_field(&mut any, 2, &retry_info);
    any
}

/// A protobuf `google.rpc.Status`, with a `RetryInfo` detail when `retry` is given.
pub(crate) fn status_proto(code: Code, message: &str, retry: Option<Duration>) -> Vec<u8> {
    let mut out = Vec::new();
    if code != Code::Ok {
        put_varint_field(&mut out, 1, code as u64);
    }
    if !message.is_empty() {
        put_len_field(&mut out, 2, message.as_bytes());
    }
    if let Some(delay) = retry {
        put_len_field(&mut out, 3, &retry_info_any(delay));
    }
    out
}

/// A `google.rpc.Status` in the request's encoding, for OTLP/HTTP error bodies (OR-3).
pub(crate) fn status_body(code: Code, message: &str, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => status_proto(code, message, None),
        Encoding::Json => serde_json::json!({ "code": code as i32, "message": message })
            .to_string()
            .into_bytes(),
    }
}

/// Standard base64 without padding, as gRPC writes binary (`-bin`) metadata.
pub(crate) fn base64_unpadded(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// `grpc-message` encoding: percent-encode everything outside printable ASCII, and `%`
/// (gRPC's PROTOCOL-HTTP2.md, "Percent-Encoded").
pub(crate) fn grpc_percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_response_is_empty_or_braces() {
        assert!(export_response(Signal::Traces, 0, "", Encoding::Protobuf).is_empty());
        assert_eq!(
            export_response(Signal::Traces, 0, "", Encoding::Json),
            b"{}"
        );
    }

    #[test]
    fn partial_success_protobuf_bytes() {
        let got = export_response(Signal::Logs, 3, "no", Encoding::Protobuf);
        // field 1 (len 6) { field 1 varint 3, field 2 "no" }
        assert_eq!(got, [0x0a, 6, 0x08, 3, 0x12, 2, b'n', b'o']);
    }

    #[test]
    fn partial_success_json_names_per_signal() {
        let got = export_response(Signal::Metrics, 300, "too many", Encoding::Json);
        let v: serde_json::Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"partialSuccess": {"rejectedDataPoints": "300", "errorMessage": "too many"}})
        );
        let got = export_response(Signal::Traces, 1, "", Encoding::Json);
        let v: serde_json::Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"partialSuccess": {"rejectedSpans": "1"}})
        );
    }

    #[test]
    fn status_with_retry_info_bytes() {
        let got = status_proto(Code::Unavailable, "busy", Some(Duration::from_millis(1500)));
        let type_url = b"type.googleapis.com/google.rpc.RetryInfo";
        // Duration { seconds: 1, nanos: 500_000_000 }
        let duration = [0x08, 1, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01];
        let mut retry_info = vec![0x0a, duration.len() as u8];
        retry_info.extend(duration);
        let mut any = vec![0x0a, type_url.len() as u8];
        any.extend(type_url);
        any.extend([0x12, retry_info.len() as u8]);
        any.extend(&retry_info);
        let mut want = vec![0x08, 14, 0x12, 4];
        want.extend(b"busy");
        want.extend([0x1a, any.len() as u8]);
        want.extend(any);
        assert_eq!(got, want);
    }

    #[test]
    fn base64_matches_rfc4648_vectors_without_padding() {
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (input, want) in cases {
            assert_eq!(base64_unpadded(input), want);
        }
        assert_eq!(base64_unpadded(&[0xfb, 0xff]), "+/8");
    }

    #[test]
    fn percent_encoding_keeps_printable_ascii() {
        assert_eq!(grpc_percent_encode("bad field: 100%"), "bad field: 100%25");
        assert_eq!(grpc_percent_encode("é\n"), "%C3%A9%0A");
    }
}
