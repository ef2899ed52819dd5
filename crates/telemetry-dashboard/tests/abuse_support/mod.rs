//! What the load and abuse tests share: the real binary as a child process, a bare HTTP/1.1
//! client that does exactly what it is told (no pooling, no retries, no header fix-ups), an
//! HTTP/2 gRPC caller that reads trailers, OTLP payload builders, and hand-written protobuf
//! for the bodies no well-behaved encoder would produce.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use telemetry_context::{SpanContext, TraceFlags, TraceState};
use telemetry_core::{InstrumentationScope, KeyValue, Resource, SpanId, Timestamp, TraceId};
use telemetry_logs::{LogRecord, Severity};
use telemetry_otlp::{
    LogsData, ResourceLogs, ResourceSpans, ScopeLogs, ScopeSpans, TracesData, encode_logs_data,
    encode_traces_data,
};
use telemetry_span::{SpanData, SpanKind, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) const MIB: usize = 1 << 20;

// ---------------------------------------------------------------------------------------
// The binary as a child process.

/// The `telemetry-dashboard` binary, started on ephemeral ports; killed (by its pid, through
/// `Child::kill`) when dropped, so a failing test leaves no server behind.
pub(crate) struct ChildDashboard {
    child: Child,
    pub(crate) http: SocketAddr,
    pub(crate) grpc: SocketAddr,
    pub(crate) ui: SocketAddr,
}

impl ChildDashboard {
    /// Starts the binary with `--memory-budget` and reads its bound addresses off the banner
    /// it prints (port 0 everywhere, so the banner is the only place they show).
    pub(crate) fn start(memory_budget: &str) -> ChildDashboard {
        let mut child = Command::new(env!("CARGO_BIN_EXE_telemetry-dashboard"))
            .args([
                "--grpc-port",
                "0",
                "--http-port",
                "0",
                "--ui-port",
                "0",
                "--memory-budget",
                memory_budget,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the dashboard binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut http, mut grpc, mut ui) = (None, None, None);
        let address = |line: &str, label: &str| -> Option<SocketAddr> {
            let rest = line.trim_start().strip_prefix(label)?.trim_start();
            let rest = rest.strip_prefix("http://")?;
            let end = rest.find(['/', ' ']).unwrap_or(rest.len());
            rest[..end].parse().ok()
        };
        for line in lines.by_ref() {
            let line = line.expect("the banner is text");
            http = http.or_else(|| address(&line, "OTLP/HTTP:"));
            grpc = grpc.or_else(|| address(&line, "OTLP/gRPC:"));
            ui = ui.or_else(|| address(&line, "UI:"));
            if line.starts_with("Press Ctrl-C") {
                break;
            }
        }
        let mut started = ChildDashboard {
            child,
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            grpc: SocketAddr::from(([127, 0, 0, 1], 0)),
            ui: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        match (http, grpc, ui) {
            (Some(h), Some(g), Some(u)) => {
                (started.http, started.grpc, started.ui) = (h, g, u);
            }
            other => panic!("the banner did not name the three addresses: {other:?}"),
        }
        // Nothing else is printed on stdout without --demo; the rest of the pipe is drained
        // on a thread anyway, so a future line cannot block the server on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        started
    }

    /// The child's `/proc/<pid>/status` figure `field` (`VmRSS`, `VmHWM`), in bytes.
    pub(crate) fn status_bytes(&self, field: &str) -> usize {
        proc_status_bytes(self.child.id(), field)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child is still running (it never exits by itself).
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ChildDashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kB` figure of `/proc/<pid>/status`, in bytes.
pub(crate) fn proc_status_bytes(pid: u32, field: &str) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("procfs");
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            let kb: usize = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// The soft limit on open files of this process, from `/proc/self/limits`.
pub(crate) fn open_files_soft_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("procfs");
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(u64::MAX) // "unlimited"
}

pub(crate) fn mib(bytes: usize) -> f64 {
    bytes as f64 / MIB as f64
}

// ---------------------------------------------------------------------------------------
// A bare HTTP/1.1 client.

/// One answer: status, headers (names lowercased) and body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }

    /// The message of the `google.rpc.Status` an OTLP error carries, in either encoding.
    pub(crate) fn status_message(&self) -> String {
        if self.header("content-type") == Some("application/json") {
            let json = self.json();
            json["message"].as_str().unwrap_or_default().to_owned()
        } else {
            status_message_proto(&self.body)
        }
    }
}

/// One HTTP/1.1 connection, kept alive across requests.
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    addr: SocketAddr,
    buf: Vec<u8>,
}

impl Conn {
    pub(crate) async fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            addr,
            buf: Vec::new(),
        })
    }

    /// Sends a request with a `Content-Length` body and reads the answer.
    pub(crate) async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Reply> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n",
            self.addr,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut message = head.into_bytes();
        message.extend_from_slice(body);
        // A server may answer before the body is all sent (413 on the length alone) and
        // close: the answer is still there to read.
        if let Err(e) = self.stream.write_all(&message).await {
            return self.read_reply().await.map_err(|_| e);
        }
        self.read_reply().await
    }

    pub(crate) async fn get(&mut self, path: &str) -> std::io::Result<Reply> {
        self.request("GET", path, &[], b"").await
    }

    pub(crate) async fn post(
        &mut self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> std::io::Result<Reply> {
        self.request("POST", path, &[("content-type", content_type)], body)
            .await
    }

    /// Reads one answer: `Content-Length`, chunked, or (neither) up to the close.
    pub(crate) async fn read_reply(&mut self) -> std::io::Result<Reply> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let value = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let body = if let Some(len) = value("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| std::io::Error::other("bad content-length"))?;
            while self.buf.len() < len {
                self.fill().await?;
            }
            self.buf.drain(..len).collect()
        } else if value("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            let mut body = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf, b"\r\n") {
                        break i;
                    }
                    self.fill().await?;
                };
                let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
                let size =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| std::io::Error::other("bad chunk size"))?;
                self.buf.drain(..line_end + 2);
                while self.buf.len() < size + 2 {
                    self.fill().await?;
                }
                body.extend(self.buf.drain(..size));
                self.buf.drain(..2);
                if size == 0 {
                    break body;
                }
            }
        } else {
            loop {
                match self.fill().await {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        break std::mem::take(&mut self.buf);
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 16 << 10];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One request on a fresh connection.
pub(crate) async fn once(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut conn = Conn::connect(addr).await.expect("connects");
    conn.request(method, path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

// ---------------------------------------------------------------------------------------
// gRPC over HTTP/2, by hand, so the framing can be wrong on purpose.

/// What a gRPC call came back with: the HTTP status, `grpc-status` (from the headers of a
/// Trailers-Only answer or from the trailers) and `grpc-message`.
#[derive(Debug)]
pub(crate) struct GrpcReply {
    pub(crate) http_status: u16,
    pub(crate) grpc_status: Option<u32>,
    pub(crate) message: String,
}

pub(crate) const TRACES_METHOD: &str =
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
pub(crate) const LOGS_METHOD: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// A length-prefixed gRPC message.
pub(crate) fn grpc_frame(compressed: bool, message: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::from(compressed)];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// Sends `body` as-is (already framed) to `method` over a new HTTP/2 connection.
pub(crate) async fn grpc_raw(
    addr: SocketAddr,
    method: &str,
    gzip: bool,
    body: Vec<u8>,
) -> GrpcReply {
    let stream = TcpStream::connect(addr).await.expect("connects");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    let mut request = http::Request::post(format!("http://{addr}{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if gzip {
        request = request.header("grpc-encoding", "gzip");
    }
    let request = request.body(Full::new(Bytes::from(body))).unwrap();
    let response = sender.send_request(request).await.expect("an answer");
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.expect("the whole answer");
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let pick = |name: &str| {
        parts
            .headers
            .get(name)
            .or_else(|| trailers.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    GrpcReply {
        http_status: parts.status.as_u16(),
        grpc_status: pick("grpc-status").and_then(|s| s.parse().ok()),
        message: pick("grpc-message").unwrap_or_default(),
    }
}

/// A request body that hands out one byte every `interval`, for ever.
struct Dribble {
    interval: Duration,
    next: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl hyper::body::Body for Dribble {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let interval = self.interval;
        let sleep = self
            .next
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(interval)));
        match sleep.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.next = None;
                Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from_static(&[0])))))
            }
        }
    }
}

/// A gRPC call whose request body arrives one byte every `interval` and never ends; returns
/// the answer and how long after the start it came.
pub(crate) async fn grpc_dribble(addr: SocketAddr, interval: Duration) -> (GrpcReply, Duration) {
    let started = Instant::now();
    let stream = TcpStream::connect(addr).await.expect("connects");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    let request = http::Request::post(format!("http://{addr}{TRACES_METHOD}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Dribble {
            interval,
            next: None,
        })
        .unwrap();
    let response = sender.send_request(request).await.expect("an answer");
    let (parts, body) = response.into_parts();
    let trailers = match body.collect().await {
        Ok(collected) => collected.trailers().cloned().unwrap_or_default(),
        Err(_) => http::HeaderMap::new(),
    };
    let pick = |name: &str| {
        parts
            .headers
            .get(name)
            .or_else(|| trailers.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let reply = GrpcReply {
        http_status: parts.status.as_u16(),
        grpc_status: pick("grpc-status").and_then(|s| s.parse().ok()),
        message: pick("grpc-message").unwrap_or_default(),
    };
    (reply, started.elapsed())
}

// ---------------------------------------------------------------------------------------
// Realistic payloads, through the workspace's own encoders.

pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("abuse-tests")
        .with_version("1.0")
        .build()
}

pub(crate) fn resource(service: &str) -> Resource {
    Resource::builder()
        .with_service_name(service.to_owned())
        .with_attribute(KeyValue::new("deployment.environment.name", "load-test"))
        .with_attribute(KeyValue::new("host.name", "abuse-host-01"))
        .with_attribute(KeyValue::new("telemetry.sdk.language", "rust"))
        .build()
}

/// A span of an HTTP service with the attributes such a span carries.
pub(crate) fn http_span(trace: u128, id: u64, parent: u64, start: u64) -> SpanData {
    let route = format!("/api/v1/orders/{}", id % 17);
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_int(trace),
            SpanId::from_int(id),
            TraceFlags::SAMPLED,
            false,
            TraceState::EMPTY,
        ),
        parent_span_id: SpanId::from_int(parent),
        parent_is_remote: false,
        name: format!("GET {route}").into(),
        kind: if parent == 0 {
            SpanKind::Server
        } else {
            SpanKind::Client
        },
        start_time: Timestamp::from_unix_nanos(start),
        end_time: Timestamp::from_unix_nanos(start + 1_500_000 + id * 10_000),
        attributes: vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.route", route.clone()),
            KeyValue::new("url.full", format!("https://shop.example{route}?page=2")),
            KeyValue::new("http.response.status_code", 200i64),
            KeyValue::new("server.address", "shop.example"),
            KeyValue::new("server.port", 443i64),
            KeyValue::new(
                "user_agent.original",
                "Mozilla/5.0 (X11; Linux x86_64) AbuseTest/1.0",
            ),
            KeyValue::new("network.protocol.version", "1.1"),
        ],
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: Status::Unset,
        scope: scope(),
    }
}

pub(crate) fn traces_data(service: &str, spans: Vec<SpanData>) -> TracesData {
    TracesData {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            resource_dropped_attributes_count: 0,
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                scope_dropped_attributes_count: 0,
                spans,
            }],
        }],
    }
}

pub(crate) fn log_record(trace: u128, span: u64, body: String, time: u64) -> LogRecord {
    let mut record = LogRecord::new(Severity::INFO).with_body(body);
    record.timestamp = Some(Timestamp::from_unix_nanos(time));
    record.observed_timestamp = Timestamp::from_unix_nanos(time);
    record.trace_id = TraceId::from_int(trace);
    record.span_id = SpanId::from_int(span);
    record.attributes = vec![
        KeyValue::new("http.route", "/api/v1/orders/{id}"),
        KeyValue::new("code.function.name", "orders::handler::list"),
        KeyValue::new("thread.name", "tokio-runtime-worker"),
    ]
    .into();
    record.scope = scope();
    record
}

pub(crate) fn logs_data(service: &str, records: Vec<LogRecord>) -> LogsData {
    LogsData {
        resource_logs: vec![ResourceLogs {
            resource: resource(service),
            resource_dropped_attributes_count: 0,
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                scope_dropped_attributes_count: 0,
                records,
            }],
        }],
    }
}

/// One small trace (a root and a child), encoded.
pub(crate) fn small_traces_proto(service: &str, trace: u128, start: u64) -> Vec<u8> {
    let spans = vec![
        http_span(trace, 1, 0, start),
        http_span(trace, 2, 1, start + 1000),
    ];
    let mut out = Vec::new();
    encode_traces_data(&traces_data(service, spans), &mut out);
    out
}

/// The 16-byte trace id the payload templates carry for trace `index`, found and replaced
/// in the encoded bytes to make every batch's traces distinct without encoding again.
fn template_trace_id(index: u64) -> u128 {
    (0x7e57_a5a5_c3c3_5a5a_u128 << 64) | u128::from(index)
}

/// An encoded batch and where each trace id sits in it.
pub(crate) struct Template {
    pub(crate) bytes: Vec<u8>,
    /// (offset of a 16-byte trace id, index of its trace within the batch).
    id_offsets: Vec<(usize, u64)>,
    pub(crate) traces: u64,
}

impl Template {
    fn new(bytes: Vec<u8>, traces: u64) -> Template {
        let mut id_offsets = Vec::new();
        for index in 0..traces {
            let id = template_trace_id(index).to_be_bytes();
            let mut from = 0;
            while let Some(at) = find(&bytes[from..], &id) {
                id_offsets.push((from + at, index));
                from += at + id.len();
            }
        }
        assert!(!id_offsets.is_empty());
        Template {
            bytes,
            id_offsets,
            traces,
        }
    }

    /// The batch with trace `i` renamed `batch_id(batch, i)`.
    pub(crate) fn batch(&self, batch: u64) -> Vec<u8> {
        let mut out = self.bytes.clone();
        for &(offset, index) in &self.id_offsets {
            out[offset..offset + 16].copy_from_slice(&batch_trace_id(batch, index).to_be_bytes());
        }
        out
    }
}

/// The trace id of trace `index` of batch `batch` of a flood.
pub(crate) fn batch_trace_id(batch: u64, index: u64) -> u128 {
    (u128::from(batch + 1) << 64) | u128::from(index + 1)
}

/// `traces` traces of `spans_per_trace` spans each, as one OTLP/HTTP request.
pub(crate) fn traces_template(traces: u64, spans_per_trace: u64, start: u64) -> Template {
    let spans = (0..traces)
        .flat_map(|t| {
            (1..=spans_per_trace).map(move |s| {
                http_span(template_trace_id(t), s, s - 1, start + t * 1_000 + s * 100)
            })
        })
        .collect();
    let mut out = Vec::new();
    encode_traces_data(&traces_data("flood-api", spans), &mut out);
    Template::new(out, traces)
}

/// `records` log records spread over `traces` traces, as one OTLP/HTTP request.
pub(crate) fn logs_template(traces: u64, records: u64, start: u64) -> Template {
    let records = (0..records)
        .map(|i| {
            log_record(
                template_trace_id(i % traces),
                i % 8 + 1,
                format!(
                    "served GET /api/v1/orders/{} in {} ms for customer {:08x}",
                    i % 17,
                    i % 250,
                    i * 7919
                ),
                start + i * 1_000,
            )
        })
        .collect();
    let mut out = Vec::new();
    encode_logs_data(&logs_data("flood-api", records), &mut out);
    Template::new(out, traces)
}

// ---------------------------------------------------------------------------------------
// Hand-written protobuf.

pub(crate) fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    let mut out = Vec::new();
    varint(v, &mut out);
    out.len()
}

/// A length-delimited field.
pub(crate) fn len_field(field: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    varint(u64::from(field << 3 | 2), &mut out);
    varint(value.len() as u64, &mut out);
    out.extend_from_slice(value);
    out
}

fn fixed64_field(field: u32, value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(field << 3 | 1), &mut out);
    out.extend_from_slice(&value.to_le_bytes());
    out
}

/// A `KeyValue` with a string `AnyValue`.
pub(crate) fn kv_string(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut kv = len_field(1, key);
    kv.extend(len_field(2, &len_field(1, value)));
    kv
}

/// A `KeyValue` with an int `AnyValue`.
pub(crate) fn kv_int(key: &[u8], value: u64) -> Vec<u8> {
    let mut any = Vec::new();
    varint(3 << 3, &mut any);
    varint(value, &mut any);
    let mut kv = len_field(1, key);
    kv.extend(len_field(2, &any));
    kv
}

/// The parts of a hand-written span, each one open to abuse.
pub(crate) struct RawSpan {
    pub(crate) trace_id: Vec<u8>,
    pub(crate) span_id: Vec<u8>,
    pub(crate) parent_span_id: Vec<u8>,
    pub(crate) name: Vec<u8>,
    /// Encoded `KeyValue` messages.
    pub(crate) attributes: Vec<Vec<u8>>,
    /// Encoded `KeyValue` messages of the resource.
    pub(crate) resource_attributes: Vec<Vec<u8>>,
}

impl RawSpan {
    /// A valid root span of trace `trace`.
    pub(crate) fn valid(trace: u128) -> RawSpan {
        RawSpan {
            trace_id: trace.to_be_bytes().to_vec(),
            span_id: 0x0102_0304_0506_0708_u64.to_be_bytes().to_vec(),
            parent_span_id: Vec::new(),
            name: b"hand-written".to_vec(),
            attributes: vec![kv_string(b"http.route", b"/raw")],
            resource_attributes: vec![kv_string(b"service.name", b"raw")],
        }
    }

    /// An `ExportTraceServiceRequest` holding this span.
    pub(crate) fn request(&self, start: u64) -> Vec<u8> {
        let mut span = len_field(1, &self.trace_id);
        span.extend(len_field(2, &self.span_id));
        if !self.parent_span_id.is_empty() {
            span.extend(len_field(4, &self.parent_span_id));
        }
        span.extend(len_field(5, &self.name));
        span.extend([6 << 3, 2]); // kind = SERVER
        span.extend(fixed64_field(7, start));
        span.extend(fixed64_field(8, start + 1_000_000));
        for attribute in &self.attributes {
            span.extend(len_field(9, attribute));
        }
        let mut resource = Vec::new();
        for attribute in &self.resource_attributes {
            resource.extend(len_field(1, attribute));
        }
        let mut scope_spans = len_field(1, &len_field(1, b"raw-scope"));
        scope_spans.extend(len_field(2, &span));
        let mut resource_spans = len_field(1, &resource);
        resource_spans.extend(len_field(2, &scope_spans));
        len_field(1, &resource_spans)
    }
}

/// An `ExportLogsServiceRequest` with one record whose body and trace id are given raw.
pub(crate) fn raw_log_request(body: &[u8], trace_id: &[u8], time: u64) -> Vec<u8> {
    let mut record = fixed64_field(1, time);
    record.extend([2 << 3, 9]); // severity_number = INFO
    record.extend(len_field(5, &len_field(1, body)));
    if !trace_id.is_empty() {
        record.extend(len_field(9, trace_id));
    }
    let mut scope_logs = len_field(1, &len_field(1, b"raw-scope"));
    scope_logs.extend(len_field(2, &record));
    let mut resource_logs = len_field(1, &len_field(1, &kv_string(b"service.name", b"raw")));
    resource_logs.extend(len_field(2, &scope_logs));
    len_field(1, &resource_logs)
}

/// An `AnyValue` holding a key-value list holding a key-value list ... `depth` deep, written
/// outside-in with every length computed first, so a deep one costs linear time to build.
pub(crate) fn nested_kvlist_value(depth: usize) -> Vec<u8> {
    let leaf = len_field(1, b"leaf"); // AnyValue.string_value
    // sizes[d] = size of the AnyValue at depth d counted from the leaf.
    let mut sizes = vec![leaf.len()];
    for _ in 0..depth {
        let inner = *sizes.last().unwrap();
        let kv = 3 + 1 + varint_len(inner as u64) + inner; // key "k", then value
        let list = 1 + varint_len(kv as u64) + kv; // KeyValueList.values
        sizes.push(1 + varint_len(list as u64) + list); // AnyValue.kvlist_value
    }
    let mut out = Vec::with_capacity(*sizes.last().unwrap());
    for d in (1..=depth).rev() {
        let inner = sizes[d - 1];
        let kv = 3 + 1 + varint_len(inner as u64) + inner;
        let list = 1 + varint_len(kv as u64) + kv;
        varint(6 << 3 | 2, &mut out);
        varint(list as u64, &mut out);
        varint(1 << 3 | 2, &mut out);
        varint(kv as u64, &mut out);
        out.extend(len_field(1, b"k"));
        varint(2 << 3 | 2, &mut out);
        varint(inner as u64, &mut out);
    }
    out.extend(leaf);
    assert_eq!(out.len(), *sizes.last().unwrap());
    out
}

/// The message of an encoded `google.rpc.Status` (field 2), or empty.
pub(crate) fn status_message_proto(mut bytes: &[u8]) -> String {
    fn read_varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }
    let mut message = String::new();
    while let Some(key) = read_varint(&mut bytes) {
        match key & 7 {
            0 => {
                if read_varint(&mut bytes).is_none() {
                    break;
                }
            }
            2 => {
                let Some(len) = read_varint(&mut bytes) else {
                    break;
                };
                let len = (len as usize).min(bytes.len());
                if key >> 3 == 2 {
                    message = String::from_utf8_lossy(&bytes[..len]).into_owned();
                }
                bytes = &bytes[len..];
            }
            _ => break,
        }
    }
    message
}

/// Waits until `f` holds, polling; false when `timeout` passes first.
pub(crate) fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
