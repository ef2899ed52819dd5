//! The OTLP receivers end to end: real sockets on 127.0.0.1, hyper's client for OTLP/HTTP,
//! tonic's client for OTLP/gRPC, and a recording backend that keeps what arrives.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use flate2::Compression;
use flate2::write::GzEncoder;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use telemetry_dashboard::backend::{
    ApiRequest, ApiResponse, Backend, IngestOutcome, IngestSource, Refusal, Transport,
};
use telemetry_dashboard::{DashboardServer, Listener, RunningDashboard, StartError};
use telemetry_otlp::{
    LogsData, MetricsData, Signal, TracesData, decode_logs_json, decode_metrics_json,
    decode_traces_json, encode_logs_data, encode_metrics_data, encode_traces_data,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------
// The recording backend.

#[derive(Debug)]
struct Recorder {
    traces: Mutex<Vec<(TracesData, IngestSource)>>,
    metrics: Mutex<Vec<(MetricsData, IngestSource)>>,
    logs: Mutex<Vec<(LogsData, IngestSource)>>,
    refusals: Mutex<Vec<(Signal, Refusal, Transport)>>,
    outcome: Mutex<IngestOutcome>,
}

impl Recorder {
    fn new() -> Arc<Self> {
        Arc::new(Recorder {
            traces: Mutex::default(),
            metrics: Mutex::default(),
            logs: Mutex::default(),
            refusals: Mutex::default(),
            outcome: Mutex::new(IngestOutcome::Accepted {
                rejected: 0,
                message: String::new(),
            }),
        })
    }

    fn answer(&self, outcome: IngestOutcome) {
        *self.outcome.lock() = outcome;
    }

    fn refusals(&self) -> Vec<(Signal, Refusal, Transport)> {
        self.refusals.lock().clone()
    }
}

impl Backend for Recorder {
    fn ingest_traces(&self, data: TracesData, source: &IngestSource) -> IngestOutcome {
        self.traces.lock().push((data, *source));
        self.outcome.lock().clone()
    }
    fn ingest_metrics(&self, data: MetricsData, source: &IngestSource) -> IngestOutcome {
        self.metrics.lock().push((data, *source));
        self.outcome.lock().clone()
    }
    fn ingest_logs(&self, data: LogsData, source: &IngestSource) -> IngestOutcome {
        self.logs.lock().push((data, *source));
        self.outcome.lock().clone()
    }
    fn record_refusal(&self, signal: Signal, refusal: Refusal, source: &IngestSource) {
        self.refusals
            .lock()
            .push((signal, refusal, source.transport));
    }
    fn api(&self, _request: &ApiRequest<'_>) -> ApiResponse {
        ApiResponse {
            status: StatusCode::NOT_FOUND,
            content_type: "application/json",
            body: b"{}".to_vec(),
        }
    }
    fn live_position(&self) -> u64 {
        0
    }
    fn live_delta(&self, _since: u64) -> Option<(u64, Vec<u8>)> {
        None
    }
}

fn start(recorder: &Arc<Recorder>, max_body: usize) -> RunningDashboard {
    DashboardServer::builder(Arc::clone(recorder) as Arc<dyn Backend>)
        .grpc_port(0)
        .http_port(0)
        .ui_port(0)
        .max_body_size(max_body)
        .shutdown_timeout(Duration::from_secs(2))
        .build()
        .start()
        .expect("the server starts on ephemeral ports")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// Payloads.

const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";

fn traces_json(attributes: usize) -> Vec<u8> {
    let attributes: Vec<_> = (0..attributes)
        .map(|i| serde_json::json!({"key": format!("attr.{i}"), "value": {"intValue": i.to_string()}}))
        .collect();
    serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
        "scopeSpans": [{
            "scope": {"name": "checkout"},
            "spans": [{
                "traceId": TRACE_ID,
                "spanId": "eee19b7ec3c1b174",
                "name": "charge",
                "kind": 2,
                "startTimeUnixNano": "1544712660000000000",
                "endTimeUnixNano": "1544712661000000000",
                "attributes": attributes,
            }]
        }]
    }]})
    .to_string()
    .into_bytes()
}

fn metrics_json() -> Vec<u8> {
    serde_json::json!({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
        "scopeMetrics": [{
            "scope": {"name": "checkout"},
            "metrics": [{
                "name": "orders",
                "unit": "1",
                "sum": {
                    "aggregationTemporality": 2,
                    "isMonotonic": true,
                    "dataPoints": [{
                        "startTimeUnixNano": "1544712660000000000",
                        "timeUnixNano": "1544712661000000000",
                        "asInt": "7"
                    }]
                }
            }]
        }]
    }]})
    .to_string()
    .into_bytes()
}

fn logs_json() -> Vec<u8> {
    serde_json::json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
        "scopeLogs": [{
            "scope": {"name": "checkout"},
            "logRecords": [{
                "timeUnixNano": "1544712660000000000",
                "observedTimeUnixNano": "1544712660000000000",
                "severityNumber": 9,
                "severityText": "INFO",
                "body": {"stringValue": "order placed"},
                "traceId": TRACE_ID,
                "spanId": "eee19b7ec3c1b174"
            }]
        }]
    }]})
    .to_string()
    .into_bytes()
}

fn traces_proto(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_traces_data(&decode_traces_json(json).unwrap(), &mut out);
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A request body sent in pieces without a length, so HTTP/1.1 sends it chunked.
struct Chunks(VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

fn chunks(data: &[u8], size: usize) -> Chunks {
    Chunks(data.chunks(size).map(Bytes::copy_from_slice).collect())
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

async fn send<B>(req: Request<B>) -> Answer
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let client = Client::builder(TokioExecutor::new()).build_http::<B>();
    let response = client.request(req).await.expect("the server answers");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

async fn post(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let mut req =
        Request::post(format!("http://{addr}{path}")).header("content-type", content_type);
    if let Some(encoding) = encoding {
        req = req.header("content-encoding", encoding);
    }
    send(req.body(Full::new(Bytes::from(body))).unwrap()).await
}

/// Reads a protobuf `google.rpc.Status`: its code and message (fields 1 and 2).
fn read_status(mut bytes: &[u8]) -> (u64, String) {
    fn varint(b: &mut &[u8]) -> u64 {
        let mut v = 0;
        for shift in (0..64).step_by(7) {
            let byte = b.get_u8();
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                break;
            }
        }
        v
    }
    let (mut code, mut message) = (0, String::new());
    while bytes.has_remaining() {
        let key = varint(&mut bytes);
        match (key >> 3, key & 7) {
            (1, 0) => code = varint(&mut bytes),
            (field, 2) => {
                let len = varint(&mut bytes) as usize;
                let value = bytes.copy_to_bytes(len);
                if field == 2 {
                    message = String::from_utf8(value.to_vec()).unwrap();
                }
            }
            (_, 0) => {
                varint(&mut bytes);
            }
            other => panic!("unexpected wire type {other:?}"),
        }
    }
    (code, message)
}

// ---------------------------------------------------------------------------------------
// OTLP/HTTP.

#[test]
fn http_protobuf_and_json_arrive_decoded_for_every_signal() {
    let recorder = Recorder::new();
    let server = start(&recorder, 1 << 20);
    let addr = server.http_addr();
    runtime().block_on(async {
        let traces = decode_traces_json(&traces_json(3)).unwrap();
        let metrics = decode_metrics_json(&metrics_json()).unwrap();
        let logs = decode_logs_json(&logs_json()).unwrap();

        let mut proto = Vec::new();
        encode_traces_data(&traces, &mut proto);
        let a = post(addr, "/v1/traces", "application/x-protobuf", None, proto).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.headers["content-type"], "application/x-protobuf");
        assert!(a.body.is_empty(), "an empty ExportTraceServiceResponse");

        let a = post(
            addr,
            "/v1/traces",
            "application/json; charset=utf-8",
            None,
            traces_json(3),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.headers["content-type"], "application/json");
        assert_eq!(&a.body[..], b"{}");

        let mut proto = Vec::new();
        encode_metrics_data(&metrics, &mut proto);
        assert_eq!(
            post(addr, "/v1/metrics", "application/x-protobuf", None, proto)
                .await
                .status,
            200
        );
        assert_eq!(
            post(
                addr,
                "/v1/metrics",
                "application/json",
                None,
                metrics_json()
            )
            .await
            .status,
            200
        );
        let mut proto = Vec::new();
        encode_logs_data(&logs, &mut proto);
        assert_eq!(
            post(addr, "/v1/logs", "application/x-protobuf", None, proto)
                .await
                .status,
            200
        );
        assert_eq!(
            post(addr, "/v1/logs", "application/json", None, logs_json())
                .await
                .status,
            200
        );

        let got = recorder.traces.lock().clone();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, traces);
        assert_eq!(got[0].1.transport, Transport::HttpProtobuf);
        assert_eq!(
            got[0].1.peer.map(|p| p.ip()),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(got[1].0, traces);
        assert_eq!(got[1].1.transport, Transport::HttpJson);
        let got = recorder.metrics.lock().clone();
        assert_eq!(
            got.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(),
            [metrics.clone(), metrics]
        );
        let got = recorder.logs.lock().clone();
        assert_eq!(
            got.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(),
            [logs.clone(), logs]
        );
        assert!(recorder.refusals().is_empty());
    });
    server.shutdown().unwrap();
}

#[test]
fn http_gzip_and_chunked_bodies_arrive_decoded() {
    let recorder = Recorder::new();
    let server = start(&recorder, 1 << 20);
    let addr = server.http_addr();
    let json = traces_json(50);
    let want = decode_traces_json(&json).unwrap();
    runtime().block_on(async {
        let a = post(
            addr,
            "/v1/traces",
            "application/json",
            Some("gzip"),
            gzip(&json),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
        // Chunked, plain and gzipped, in pieces that split the protobuf anywhere.
        for (body, encoding) in [
            (traces_proto(&json), None),
            (gzip(&traces_proto(&json)), Some("gzip")),
        ] {
            let mut req = Request::post(format!("http://{addr}/v1/traces"))
                .header("content-type", "application/x-protobuf");
            if let Some(e) = encoding {
                req = req.header("content-encoding", e);
            }
            let a = send(req.body(chunks(&body, 97)).unwrap()).await;
            assert_eq!(a.status, StatusCode::OK);
        }
    });
    let got = recorder.traces.lock().clone();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|(d, _)| *d == want));
    server.shutdown().unwrap();
}

#[test]
fn http2_prior_knowledge_is_served() {
    let recorder = Recorder::new();
    let server = start(&recorder, 1 << 20);
    let addr = server.http_addr();
    runtime().block_on(async {
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build_http::<Full<Bytes>>();
        let req = Request::post(format!("http://{addr}/v1/traces"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(traces_json(1))))
            .unwrap();
        let response = client.request(req).await.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert_eq!(response.status(), StatusCode::OK);
    });
    assert_eq!(recorder.traces.lock().len(), 1);
    server.shutdown().unwrap();
}

#[test]
fn http_ten_thousand_attributes_on_one_span() {
    let recorder = Recorder::new();
    let server = start(&recorder, 8 << 20);
    let addr = server.http_addr();
    let json = traces_json(10_000);
    runtime().block_on(async {
        assert_eq!(
            post(addr, "/v1/traces", "application/json", None, json.clone())
                .await
                .status,
            200
        );
        let proto = traces_proto(&json);
        assert_eq!(
            post(addr, "/v1/traces", "application/x-protobuf", None, proto)
                .await
                .status,
            200
        );
    });
    let got = recorder.traces.lock().clone();
    assert_eq!(got.len(), 2);
    for (data, _) in got {
        assert_eq!(
            data.resource_spans[0].scope_spans[0].spans[0]
                .attributes
                .len(),
            10_000
        );
    }
    server.shutdown().unwrap();
}

#[test]
fn http_malformed_bodies_get_400_with_a_status_and_the_server_keeps_serving() {
    let recorder = Recorder::new();
    let server = start(&recorder, 1 << 20);
    let addr = server.http_addr();
    runtime().block_on(async {
        // Protobuf: a length prefix longer than the body.
        let a = post(
            addr,
            "/v1/traces",
            "application/x-protobuf",
            None,
            vec![0x0a, 0x05, 0x01],
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.headers["content-type"], "application/x-protobuf");
        let (code, message) = read_status(&a.body);
        assert_eq!(code, 3, "INVALID_ARGUMENT");
        assert!(!message.is_empty());

        // JSON: the error is JSON and names what was wrong.
        let a = post(
            addr,
            "/v1/logs",
            "application/json",
            None,
            b"{\"resourceLogs\": [".to_vec(),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.headers["content-type"], "application/json");
        let status: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(status["code"], 3);
        assert!(status["message"].as_str().is_some_and(|m| !m.is_empty()));

        // Nesting past the decoders' limit, in an attribute value.
        let mut value = serde_json::json!({"stringValue": "leaf"});
        for _ in 0..300 {
            value = serde_json::json!({"arrayValue": {"values": [value]}});
        }
        let mut deep: serde_json::Value = serde_json::from_slice(&traces_json(0)).unwrap();
        deep["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] =
            serde_json::json!([{"key": "deep", "value": value}]);
        let a = post(
            addr,
            "/v1/traces",
            "application/json",
            None,
            deep.to_string().into_bytes(),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);

        // Corrupt gzip.
        let a = post(
            addr,
            "/v1/traces",
            "application/json",
            Some("gzip"),
            b"not gzip".to_vec(),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);

        // Still serving.
        assert_eq!(
            post(addr, "/v1/traces", "application/json", None, traces_json(1))
                .await
                .status,
            200
        );
    });
    assert_eq!(recorder.traces.lock().len(), 1);
    let refusals = recorder.refusals();
    assert_eq!(refusals.len(), 4);
    assert!(refusals.iter().all(|(_, r, _)| *r == Refusal::Malformed));
    assert_eq!(refusals[1].0, Signal::Logs);
    assert_eq!(refusals[1].2, Transport::HttpJson);
    server.shutdown().unwrap();
}

#[test]
fn http_wrong_method_type_or_encoding() {
    let recorder = Recorder::new();
    let server = start(&recorder, 1 << 20);
    let addr = server.http_addr();
    runtime().block_on(async {
        let req = Request::get(format!("http://{addr}/v1/traces"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let a = send(req).await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(a.headers["allow"], "POST, OPTIONS");

        let a = post(addr, "/v1/traces", "text/plain", None, traces_json(1)).await;
        assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(read_status(&a.body).0, 3);

        let a = post(
            addr,
            "/v1/traces",
            "application/json",
            Some("br"),
            traces_json(1),
        )
        .await;
        assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let status: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert!(
            status["message"]
                .as_str()
                .unwrap()
                .contains("Content-Encoding")
        );

        let a = post(addr, "/v1/spans", "application/json", None, traces_json(1)).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
    });
    assert!(recorder.traces.lock().is_empty());
    assert_eq!(
        recorder.refusals(),
        [
            (
                Signal::Traces,
                Refusal::UnsupportedMediaType,
                Transport::HttpProtobuf
            ),
            (
                Signal::Traces,
                Refusal::UnsupportedMediaType,
                Transport::HttpJson
            ),
        ]
    );
    server.shutdown().unwrap();
}

#[test]
fn http_body_limit_413_for_length_chunked_and_gzip_bomb() {
    let recorder = Recorder::new();
    let limit = 64 << 10;
    let server = start(&recorder, limit);
    let addr = server.http_addr();
    runtime().block_on(async {
        // Content-Length over the limit: refused before the body is sent.
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /v1/traces HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
            1u64 << 40
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 413"), "{text}");

        // Chunked past the limit: counted while reading.
        let big = vec![b' '; limit + 1];
        let req = Request::post(format!("http://{addr}/v1/traces"))
            .header("content-type", "application/json")
            .body(chunks(&big, 4096))
            .unwrap();
        let a = send(req).await;
        assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
        let status: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert!(status["message"].as_str().unwrap().contains("limit"));

        // A gzip bomb: 32 members of 1 MiB of zeroes each, about 32 KiB on the wire.
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        enc.write_all(&vec![0u8; 1 << 20]).unwrap();
        let member = enc.finish().unwrap();
        let bomb = member.repeat(32);
        assert!(bomb.len() < limit);
        let a = post(addr, "/v1/traces", "application/x-protobuf", Some("gzip"), bomb).await;
        assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);

        // Exactly at the limit after inflating is accepted as far as size goes (it then
        // fails to decode: spaces alone are no JSON request).
        let at_limit = gzip(&vec![b' '; limit]);
        let a = post(addr, "/v1/traces", "application/json", Some("gzip"), at_limit).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    });
    let refusals: Vec<_> = recorder.refusals().into_iter().map(|(_, r, _)| r).collect();
    assert_eq!(
        refusals,
        [
            Refusal::TooLarge,
            Refusal::TooLarge,
            Refusal::TooLarge,
            Refusal::Malformed
        ]
    );
    server.shutdown().unwrap();
}

#[test]
fn http_partial_success_and_backpressure() {
    let recorder = Recorder::new();
    let server = start(&recorder, 1 << 20);
    let addr = server.http_addr();
    runtime().block_on(async {
        recorder.answer(IngestOutcome::Accepted { rejected: 2, message: "over the span limit".into() });
        let a = post(addr, "/v1/traces", "application/json", None, traces_json(1)).await;
        assert_eq!(a.status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"partialSuccess": {"rejectedSpans": "2", "errorMessage": "over the span limit"}})
        );
        let a = post(addr, "/v1/traces", "application/x-protobuf", None, traces_proto(&traces_json(1))).await;
        let mut want = vec![0x0a, 23, 0x08, 2, 0x12, 19];
        want.extend(b"over the span limit");
        assert_eq!(&a.body[..], want);

        recorder.answer(IngestOutcome::Backpressure { retry_after: Duration::from_millis(2500) });
        let a = post(addr, "/v1/logs", "application/x-protobuf", None, Vec::new()).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(a.headers["retry-after"], "3");
        assert_eq!(read_status(&a.body).0, 14, "UNAVAILABLE");
    });
    server.shutdown().unwrap();
}

#[test]
fn http_cors_for_loopback_pages() {
    let recorder = Recorder::new();
    let server = start(&recorder, 1 << 20);
    let addr = server.http_addr();
    runtime().block_on(async {
        let preflight = |origin: &'static str| {
            Request::builder()
                .method(Method::OPTIONS)
                .uri(format!("http://{addr}/v1/traces"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .body(Full::new(Bytes::new()))
                .unwrap()
        };
        let a = send(preflight("http://localhost:5173")).await;
        assert_eq!(a.status, StatusCode::NO_CONTENT);
        assert_eq!(
            a.headers["access-control-allow-origin"],
            "http://localhost:5173"
        );
        assert!(
            a.headers["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("POST")
        );
        assert!(
            a.headers["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .contains("content-type")
        );

        let a = send(preflight("https://evil.example")).await;
        assert!(a.headers.get("access-control-allow-origin").is_none());

        let req = Request::post(format!("http://{addr}/v1/traces"))
            .header("origin", "http://127.0.0.1:8080")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(traces_json(1))))
            .unwrap();
        let a = send(req).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(
            a.headers["access-control-allow-origin"],
            "http://127.0.0.1:8080"
        );
    });
    server.shutdown().unwrap();
}

#[test]
fn otlp_api_key_is_required_when_configured() {
    let recorder = Recorder::new();
    let server = DashboardServer::builder(Arc::clone(&recorder) as Arc<dyn Backend>)
        .grpc_port(0)
        .http_port(0)
        .ui_port(0)
        .otlp_api_key("k3y")
        .build()
        .start()
        .unwrap();
    let addr = server.http_addr();
    runtime().block_on(async {
        let a = post(addr, "/v1/traces", "application/json", None, traces_json(1)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        let req = Request::post(format!("http://{addr}/v1/traces"))
            .header("content-type", "application/json")
            .header("x-otlp-api-key", "k3y")
            .body(Full::new(Bytes::from(traces_json(1))))
            .unwrap();
        assert_eq!(send(req).await.status, StatusCode::OK);
        let proto = traces_proto(&traces_json(1));
        let status = grpc_call(
            server.grpc_addr(),
            TRACES_METHOD,
            proto.clone(),
            false,
            Some("k3z"),
        )
        .await
        .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        grpc_call(server.grpc_addr(), TRACES_METHOD, proto, false, Some("k3y"))
            .await
            .unwrap();
    });
    assert_eq!(recorder.traces.lock().len(), 2);
    assert_eq!(
        recorder.refusals(),
        vec![
            (Signal::Traces, Refusal::Unauthorized, Transport::HttpJson),
            (Signal::Traces, Refusal::Unauthorized, Transport::Grpc),
        ]
    );
    server.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------
// OTLP/gRPC, with tonic as the client.

const TRACES_METHOD: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const METRICS_METHOD: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
const LOGS_METHOD: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// Passes message bytes through unchanged, both ways.
#[derive(Clone, Copy, Debug, Default)]
struct RawCodec;

#[derive(Debug)]
struct RawCoder;

impl tonic::codec::Encoder for RawCoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCoder;
    type Decoder = RawCoder;
    fn encoder(&mut self) -> RawCoder {
        RawCoder
    }
    fn decoder(&mut self) -> RawCoder {
        RawCoder
    }
}

async fn grpc_export(
    addr: SocketAddr,
    method: &'static str,
    message: Vec<u8>,
    gzip: bool,
) -> Result<Vec<u8>, tonic::Status> {
    grpc_call(addr, method, message, gzip, None).await
}

async fn grpc_call(
    addr: SocketAddr,
    method: &'static str,
    message: Vec<u8>,
    gzip: bool,
    api_key: Option<&'static str>,
) -> Result<Vec<u8>, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("tonic connects");
    let mut client = tonic::client::Grpc::new(channel).max_decoding_message_size(1 << 20);
    if gzip {
        client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
    }
    client.ready().await.unwrap();
    let mut request = tonic::Request::new(message);
    if let Some(key) = api_key {
        request
            .metadata_mut()
            .insert("x-otlp-api-key", key.parse().unwrap());
    }
    let path = http::uri::PathAndQuery::from_static(method);
    client
        .unary(request, path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

#[test]
fn grpc_exports_of_every_signal_arrive_decoded() {
    let recorder = Recorder::new();
    let server = start(&recorder, 1 << 20);
    let traces = decode_traces_json(&traces_json(5)).unwrap();
    let metrics = decode_metrics_json(&metrics_json()).unwrap();
    let logs = decode_logs_json(&logs_json()).unwrap();
    runtime().block_on(async {
        let addr = server.grpc_addr();
        let reply = grpc_export(addr, TRACES_METHOD, traces_proto(&traces_json(5)), false)
            .await
            .unwrap();
        assert!(reply.is_empty());
        // gzip-compressed, and to the OTLP/HTTP port, which serves gRPC as well.
        let reply = grpc_export(
            server.http_addr(),
            TRACES_METHOD,
            traces_proto(&traces_json(5)),
            true,
        )
        .await;
        assert!(reply.unwrap().is_empty());
        let mut proto = Vec::new();
        encode_metrics_data(&metrics, &mut proto);
        grpc_export(addr, METRICS_METHOD, proto, true)
            .await
            .unwrap();
        let mut proto = Vec::new();
        encode_logs_data(&logs, &mut proto);
        grpc_export(addr, LOGS_METHOD, proto, false).await.unwrap();
    });
    let got = recorder.traces.lock().clone();
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .all(|(d, s)| *d == traces && s.transport == Transport::Grpc)
    );
    assert_eq!(recorder.metrics.lock()[0].0, metrics);
    assert_eq!(recorder.logs.lock()[0].0, logs);
    server.shutdown().unwrap();
}

#[test]
fn grpc_error_codes_partial_success_and_retry_info() {
    let recorder = Recorder::new();
    let limit = 64 << 10;
    let server = start(&recorder, limit);
    let addr = server.grpc_addr();
    runtime().block_on(async {
        let status = grpc_export(addr, TRACES_METHOD, vec![0x0a, 0x05, 0x01], false)
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(!status.message().is_empty());

        let big = traces_proto(&traces_json(5000));
        assert!(big.len() > limit);
        let status = grpc_export(addr, TRACES_METHOD, big, false)
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);

        // Small on the wire, over the limit inflated.
        let zeroes = vec![0u8; limit + 1];
        let status = grpc_export(addr, TRACES_METHOD, zeroes, true)
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);

        let status = grpc_export(
            addr,
            "/opentelemetry.proto.collector.trace.v1.TraceService/Nope",
            Vec::new(),
            false,
        )
        .await
        .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unimplemented);

        recorder.answer(IngestOutcome::Accepted {
            rejected: 4,
            message: "dropped".into(),
        });
        let reply = grpc_export(addr, LOGS_METHOD, Vec::new(), false)
            .await
            .unwrap();
        let mut want = vec![0x0a, 11, 0x08, 4, 0x12, 7];
        want.extend(b"dropped");
        assert_eq!(reply, want);

        recorder.answer(IngestOutcome::Backpressure {
            retry_after: Duration::from_secs(7),
        });
        let status = grpc_export(addr, METRICS_METHOD, Vec::new(), false)
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        // google.rpc.Status { code 14, message, details [Any { type_url, RetryInfo { 7 s } }] }
        let details = status.details();
        let (code, _) = read_status(details);
        assert_eq!(code, 14);
        let type_url = b"type.googleapis.com/google.rpc.RetryInfo";
        let retry_info = [0x0a, 2, 0x08, 7];
        assert!(details.windows(type_url.len()).any(|w| w == type_url));
        assert!(details.ends_with(&[&[0x12, retry_info.len() as u8][..], &retry_info].concat()));
    });
    let refusals: Vec<_> = recorder
        .refusals()
        .into_iter()
        .map(|(_, r, t)| (r, t))
        .collect();
    assert_eq!(
        refusals,
        [
            (Refusal::Malformed, Transport::Grpc),
            (Refusal::TooLarge, Transport::Grpc),
            (Refusal::TooLarge, Transport::Grpc),
        ]
    );
    server.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------
// Lifecycle.

#[test]
fn port_in_use_is_a_typed_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let recorder = Recorder::new();
    let err = DashboardServer::builder(recorder as Arc<dyn Backend>)
        .grpc_port(0)
        .http_port(port)
        .ui_port(0)
        .build()
        .start()
        .unwrap_err();
    match &err {
        StartError::Bind {
            listener,
            addr,
            source,
        } => {
            assert_eq!(*listener, Listener::OtlpHttp);
            assert_eq!(addr.port(), port);
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("OTLP/HTTP"));
}

#[test]
fn non_loopback_bind_requires_a_token() {
    let err = DashboardServer::builder(Recorder::new() as Arc<dyn Backend>)
        .bind("0.0.0.0".parse().unwrap())
        .grpc_port(0)
        .http_port(0)
        .ui_port(0)
        .build()
        .start()
        .unwrap_err();
    assert!(matches!(err, StartError::TokenRequired { .. }), "{err:?}");
    let err = DashboardServer::builder(Recorder::new() as Arc<dyn Backend>)
        .token("has space")
        .build()
        .start()
        .unwrap_err();
    assert!(
        matches!(err, StartError::InvalidSecret { which: "token" }),
        "{err:?}"
    );
    // The token goes into URLs and a cookie: `;` would end the cookie.
    let err = DashboardServer::builder(Recorder::new() as Arc<dyn Backend>)
        .token("a;b")
        .build()
        .start()
        .unwrap_err();
    assert!(matches!(err, StartError::InvalidSecret { which: "token" }));
    let server = DashboardServer::builder(Recorder::new() as Arc<dyn Backend>)
        .grpc_port(0)
        .http_port(0)
        .ui_port(0)
        .token("Az09-._~")
        .otlp_api_key("k;e,y")
        .build()
        .start()
        .unwrap();
    server.shutdown().unwrap();
}

#[test]
fn shutdown_releases_the_ports_and_drop_shuts_down() {
    let recorder = Recorder::new();
    let server = start(&recorder, 1 << 20);
    let addrs = [server.grpc_addr(), server.http_addr(), server.ui_addr()];
    // A keep-alive connection open at shutdown must not hold it up.
    runtime().block_on(async {
        assert_eq!(
            post(
                addrs[1],
                "/v1/traces",
                "application/json",
                None,
                traces_json(1)
            )
            .await
            .status,
            200
        );
    });
    let started = std::time::Instant::now();
    server.shutdown().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    for addr in addrs {
        drop(std::net::TcpListener::bind(addr).expect("the port is free again"));
    }
    // Dropping the handle shuts down too; started inside a tokio runtime, which works.
    let addr = runtime().block_on(async {
        let server = start(&recorder, 1 << 20);
        let addr = server.http_addr();
        drop(server);
        addr
    });
    drop(std::net::TcpListener::bind(addr).expect("dropped server freed its port"));
}

// ---------------------------------------------------------------------------------------
// telemetry-otlp's own OTLP/HTTP exporter as the client.

#[test]
fn the_workspace_http_exporter_delivers_and_sees_partial_success() {
    use telemetry_core::Resource;
    use telemetry_otlp::{Compression as Gz, HttpSpanExporter, Protocol};
    use telemetry_span::{InMemorySpanExporter, SpanExporter, TracerProvider};

    let recorder = Recorder::new();
    let server = start(&recorder, 1 << 20);
    let memory = InMemorySpanExporter::new();
    let provider = TracerProvider::builder()
        .with_simple_exporter(memory.clone())
        .build();
    provider.tracer("checkout").in_span("charge", |_| {});
    provider.shutdown().unwrap();
    let spans = memory.finished_spans();
    let resource = Resource::builder().with_service_name("shop").build();

    for (protocol, compression, transport) in [
        (Protocol::HttpProtobuf, Gz::Gzip, Transport::HttpProtobuf),
        (Protocol::HttpJson, Gz::None, Transport::HttpJson),
    ] {
        recorder.answer(IngestOutcome::Accepted {
            rejected: 0,
            message: String::new(),
        });
        let mut exporter = HttpSpanExporter::builder()
            .endpoint(format!("http://{}/v1/traces", server.http_addr()))
            .protocol(protocol)
            .compression(compression)
            .timeout(Some(Duration::from_secs(5)))
            .build()
            .unwrap();
        exporter.set_resource(&resource);
        exporter.export(&spans).unwrap();
        let (data, source) = recorder.traces.lock().last().cloned().unwrap();
        assert_eq!(source.transport, transport);
        assert_eq!(data.resource_spans[0].resource.service_name(), Some("shop"));
        assert_eq!(data.resource_spans[0].scope_spans[0].spans, spans);

        recorder.answer(IngestOutcome::Accepted {
            rejected: 1,
            message: "full".into(),
        });
        exporter.export(&spans).unwrap();
        assert_eq!(exporter.stats().rejected_spans(), 1);
        exporter.shutdown().unwrap();
    }
    server.shutdown().unwrap();
}

/// A protobuf field with a length-delimited value.
fn len_field(field: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![field << 3 | 2];
    let mut len = value.len();
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(value);
    out
}

/// An `ExportTraceServiceRequest` whose one span has an attribute value nested `depth`
/// arrays deep.
fn deeply_nested_traces_proto(depth: usize) -> Vec<u8> {
    let mut value = len_field(1, b"leaf"); // AnyValue.string_value
    for _ in 0..depth {
        let array = len_field(1, &value); // ArrayValue.values
        value = len_field(5, &array); // AnyValue.array_value
    }
    let mut attribute = len_field(1, b"deep"); // KeyValue.key
    attribute.extend(len_field(2, &value)); // KeyValue.value
    let mut span = len_field(1, &[0x5b; 16]); // trace_id
    span.extend(len_field(2, &[0xee; 8])); // span_id
    span.extend(len_field(5, b"charge")); // name
    span.extend(len_field(9, &attribute)); // attributes
    let scope_spans = len_field(2, &span); // ScopeSpans.spans
    let resource_spans = len_field(2, &scope_spans); // ResourceSpans.scope_spans
    len_field(1, &resource_spans) // ExportTraceServiceRequest.resource_spans
}

#[test]
fn deep_protobuf_nesting_is_refused_over_http_and_grpc_and_serving_goes_on() {
    let recorder = Recorder::new();
    let server = start(&recorder, 1 << 20);
    runtime().block_on(async {
        // Shallow nesting of the same shape decodes: the refusal below is about depth.
        let shallow = deeply_nested_traces_proto(3);
        let a = post(
            server.http_addr(),
            "/v1/traces",
            "application/x-protobuf",
            None,
            shallow,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);

        let deep = deeply_nested_traces_proto(2000);
        let a = post(
            server.http_addr(),
            "/v1/traces",
            "application/x-protobuf",
            None,
            deep.clone(),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert!(!read_status(&a.body).1.is_empty());
        let status = grpc_export(server.grpc_addr(), TRACES_METHOD, deep, false)
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);

        let again = traces_proto(&traces_json(1));
        grpc_export(server.grpc_addr(), TRACES_METHOD, again, false)
            .await
            .unwrap();
    });
    assert_eq!(recorder.traces.lock().len(), 2);
    server.shutdown().unwrap();
}
