//! `otlp_load`: an OTLP/HTTP trace load generator and latency probe, for measuring a running
//! dashboard (or any OTLP/HTTP receiver) from outside its process.
//!
//! ```text
//! otlp_load load  [--endpoint URL] [--rate SPANS_PER_SEC] [--batch SPANS] [--connections N]
//!                 [--duration SECS]
//! otlp_load probe [--endpoint URL] [--count N] [--interval-ms MS] [--service NAME]
//! ```
//!
//! `load` posts protobuf `ExportTraceServiceRequest`s (encoded by `telemetry-otlp`) of whole
//! traces of ~10 spans across six services and five root operations, about 3 % of them with
//! an error, paced by a token bucket to `--rate` spans per second over `--connections`
//! keep-alive HTTP/1.1 connections. Once a second it prints what it sent, what the server
//! accepted, what it rejected through `partial_success`, what it refused (a status other than
//! 200: all the request's spans count as refused) and transport errors: a human line on
//! stderr and a JSON line (`"kind":"second"`) on stdout; at the end a `"kind":"total"` line.
//! `behindMs` says how far the sender is behind its schedule: when it grows, the rate the
//! server (or this process) sustains is below the target.
//!
//! `probe` sends one small trace (root span `probe-<n>` of service `--service`, two
//! children) every `--interval-ms` and prints one JSON line per probe:
//! `{"traceId":…,"name":…,"sentMs":<unix ms before the request>,"ackMs":<unix ms at the 200>}`
//! (with `"error"` instead of `ackMs` when the server did not accept it).
//!
//! The default endpoint is `http://127.0.0.1:4318/v1/traces`.

#![allow(
    clippy::print_stdout,
    reason = "a measuring tool: its report is its stdout"
)]

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::json;
use telemetry_context::{SpanContext, TraceFlags, TraceState};
use telemetry_core::{InstrumentationScope, KeyValue, Resource, SpanId, TraceId};
use telemetry_core::{StringValue, Timestamp};
use telemetry_otlp::TraceEncoder;
use telemetry_span::{SpanData, SpanKind, Status};
use tokio::net::TcpStream;

const USAGE: &str = "\
usage: otlp_load load  [--endpoint URL] [--rate SPANS_PER_SEC] [--batch SPANS]
                       [--connections N] [--duration SECS]
       otlp_load probe [--endpoint URL] [--count N] [--interval-ms MS] [--service NAME]

  --endpoint     OTLP/HTTP traces URL [default: http://127.0.0.1:4318/v1/traces]
  --rate         target spans per second [default: 50000]
  --batch        spans per request (whole traces, so a little more) [default: 512]
  --connections  keep-alive connections [default: 2]
  --duration     seconds to run; 0 = until killed [default: 0]
  --count        probes to send [default: 100]
  --interval-ms  time between probes [default: 200]
  --service      service name of the probe traces [default: probe]";

/// How far a sender that fell behind may catch up in one burst: the token bucket's depth.
const BURST: Duration = Duration::from_millis(100);
/// How long a task waits before reconnecting after a transport error, so a dead server is
/// not hammered.
const RECONNECT_DELAY: Duration = Duration::from_millis(200);
/// How much of a refusal's body is printed.
const ERROR_SNIPPET: usize = 200;

// ---------------------------------------------------------------------------------------
// Arguments

/// A command line that cannot be used.
#[derive(Debug)]
enum ArgError {
    /// `-h`/`--help` was given: print the usage and succeed.
    Help,
    /// No subcommand, or an unknown one.
    Command(String),
    /// An option this subcommand does not know.
    UnknownOption(String),
    /// An option without its value.
    MissingValue(&'static str),
    /// A value that does not parse; the text says what was expected.
    Invalid {
        option: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Help => f.write_str("help requested"),
            ArgError::Command(c) if c.is_empty() => f.write_str("a subcommand is required"),
            ArgError::Command(c) => write!(f, "unknown subcommand `{c}`"),
            ArgError::UnknownOption(o) => write!(f, "unknown option `{o}`"),
            ArgError::MissingValue(o) => write!(f, "`{o}` needs a value"),
            ArgError::Invalid {
                option,
                value,
                expected,
            } => write!(f, "`{option} {value}`: expected {expected}"),
        }
    }
}

impl std::error::Error for ArgError {}

/// Where requests go: the socket address, the Host header and the path.
#[derive(Debug, Clone)]
struct Endpoint {
    addr: SocketAddr,
    host: String,
    path: String,
}

impl Endpoint {
    /// Parses `http://host:port/path` (or `host:port`, path `/v1/traces`).
    fn parse(text: &str) -> Option<Endpoint> {
        let rest = text.strip_prefix("http://").unwrap_or(text);
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/v1/traces"),
        };
        let addr = authority.to_socket_addrs().ok()?.next()?;
        Some(Endpoint {
            addr,
            host: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

#[derive(Debug)]
struct LoadArgs {
    endpoint: Endpoint,
    rate: u64,
    batch: usize,
    connections: usize,
    duration: Option<Duration>,
}

#[derive(Debug)]
struct ProbeArgs {
    endpoint: Endpoint,
    count: u64,
    interval: Duration,
    service: String,
}

#[derive(Debug)]
enum Command {
    Load(LoadArgs),
    Probe(ProbeArgs),
}

fn parse_number<T: std::str::FromStr>(
    option: &'static str,
    value: &str,
    expected: &'static str,
) -> Result<T, ArgError> {
    value.parse().map_err(|_| ArgError::Invalid {
        option,
        value: value.to_owned(),
        expected,
    })
}

fn parse_args(args: &[String]) -> Result<Command, ArgError> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return Err(ArgError::Help);
    }
    let command = args.first().map_or("", String::as_str);
    if command != "load" && command != "probe" {
        return Err(ArgError::Command(command.to_owned()));
    }
    let mut endpoint = Endpoint::parse("127.0.0.1:4318").ok_or(ArgError::Invalid {
        option: "--endpoint",
        value: "127.0.0.1:4318".to_owned(),
        expected: "a reachable address",
    })?;
    let mut load = LoadArgs {
        endpoint: endpoint.clone(),
        rate: 50_000,
        batch: 512,
        connections: 2,
        duration: None,
    };
    let mut probe = ProbeArgs {
        endpoint: endpoint.clone(),
        count: 100,
        interval: Duration::from_millis(200),
        service: "probe".to_owned(),
    };
    let mut rest = args[1..].iter();
    while let Some(option) = rest.next() {
        let known: &'static str = match (command, option.as_str()) {
            (_, "--endpoint") => "--endpoint",
            ("load", "--rate") => "--rate",
            ("load", "--batch") => "--batch",
            ("load", "--connections") => "--connections",
            ("load", "--duration") => "--duration",
            ("probe", "--count") => "--count",
            ("probe", "--interval-ms") => "--interval-ms",
            ("probe", "--service") => "--service",
            _ => return Err(ArgError::UnknownOption(option.clone())),
        };
        let value = rest.next().ok_or(ArgError::MissingValue(known))?;
        match known {
            "--endpoint" => {
                endpoint = Endpoint::parse(value).ok_or_else(|| ArgError::Invalid {
                    option: known,
                    value: value.clone(),
                    expected: "http://HOST:PORT/PATH with a resolvable host",
                })?;
            }
            "--rate" => load.rate = parse_number(known, value, "spans per second")?,
            "--batch" => load.batch = parse_number(known, value, "a span count")?,
            "--connections" => load.connections = parse_number(known, value, "a count")?,
            "--duration" => {
                let seconds: u64 = parse_number(known, value, "seconds")?;
                load.duration = (seconds > 0).then(|| Duration::from_secs(seconds));
            }
            "--count" => probe.count = parse_number(known, value, "a count")?,
            "--interval-ms" => {
                probe.interval = Duration::from_millis(parse_number(known, value, "ms")?);
            }
            _ => probe.service.clone_from(value),
        }
    }
    if load.rate == 0 || load.batch == 0 || load.connections == 0 {
        return Err(ArgError::Invalid {
            option: "--rate/--batch/--connections",
            value: "0".to_owned(),
            expected: "a positive number",
        });
    }
    load.endpoint = endpoint.clone();
    probe.endpoint = endpoint;
    Ok(if command == "load" {
        Command::Load(load)
    } else {
        Command::Probe(probe)
    })
}

// ---------------------------------------------------------------------------------------
// The workload: trace shapes

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn unix_ms() -> u64 {
    unix_nanos() / 1_000_000
}

/// splitmix64: a fast, well-mixed sequence for ids and jitter (not for secrets).
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A non-zero id, as OTLP requires.
    fn id64(&mut self) -> u64 {
        self.next() | 1
    }
}

const SERVICES: [&str; 6] = [
    "frontend",
    "checkout",
    "payments",
    "inventory",
    "search",
    "users",
];

/// One span of a trace shape: its service (index into `SERVICES`), name, kind, parent
/// (index into the shape; `None` for the root), start offset and duration in µs.
#[derive(Debug)]
struct Node {
    service: usize,
    name: &'static str,
    kind: SpanKind,
    parent: Option<usize>,
    start_us: u64,
    duration_us: u64,
    /// Where an error starts when the trace fails (propagated up to the root).
    fails: bool,
}

const fn node(
    service: usize,
    name: &'static str,
    kind: SpanKind,
    parent: Option<usize>,
    start_us: u64,
    duration_us: u64,
    fails: bool,
) -> Node {
    Node {
        service,
        name,
        kind,
        parent,
        start_us,
        duration_us,
        fails,
    }
}

use SpanKind::{Client, Consumer, Internal, Producer, Server};

/// The root operations and their span trees (~10 spans each, across services).
#[rustfmt::skip]
const SHAPES: [&[Node]; 5] = [
    &[
        node(0, "GET /api/cart", Server, None, 0, 40_000, false),
        node(0, "auth.verify_token", Internal, Some(0), 500, 1_500, false),
        node(0, "GET checkout/cart", Client, Some(0), 2_500, 30_000, false),
        node(1, "GET /cart", Server, Some(2), 3_000, 29_000, false),
        node(1, "SELECT carts", Client, Some(3), 3_500, 5_000, false),
        node(1, "redis GET", Client, Some(3), 9_000, 600, false),
        node(1, "GET inventory/stock", Client, Some(3), 10_000, 20_000, true),
        node(3, "GET /stock", Server, Some(6), 10_500, 19_000, false),
        node(3, "SELECT stock", Client, Some(7), 11_000, 15_000, false),
        node(0, "render.json", Internal, Some(0), 33_000, 4_000, false),
    ],
    &[
        node(0, "POST /api/checkout", Server, None, 0, 180_000, false),
        node(0, "auth.verify_token", Internal, Some(0), 500, 1_500, false),
        node(0, "POST checkout/orders", Client, Some(0), 2_500, 170_000, false),
        node(1, "POST /orders", Server, Some(2), 3_000, 168_000, false),
        node(1, "INSERT orders", Client, Some(3), 4_000, 8_000, false),
        node(1, "POST payments/charge", Client, Some(3), 13_000, 140_000, false),
        node(2, "POST /charge", Server, Some(5), 14_000, 138_000, false),
        node(2, "fraud.score", Internal, Some(6), 15_000, 20_000, false),
        node(2, "POST psp.example/v1/charges", Client, Some(6), 36_000, 110_000, true),
        node(1, "orders.created publish", Producer, Some(3), 155_000, 2_000, false),
        node(1, "UPDATE carts", Client, Some(3), 158_000, 6_000, false),
    ],
    &[
        node(0, "GET /api/search", Server, None, 0, 60_000, false),
        node(0, "GET search/query", Client, Some(0), 1_000, 55_000, false),
        node(4, "GET /query", Server, Some(1), 1_500, 54_000, false),
        node(4, "query.parse", Internal, Some(2), 2_000, 800, false),
        node(4, "index.lookup", Internal, Some(2), 3_000, 30_000, true),
        node(4, "rank.score", Internal, Some(2), 34_000, 15_000, false),
        node(4, "GET inventory/availability", Client, Some(2), 50_000, 4_000, false),
        node(3, "GET /availability", Server, Some(6), 50_500, 3_000, false),
    ],
    &[
        node(5, "GET /users/{id}", Server, None, 0, 12_000, false),
        node(5, "auth.verify_token", Internal, Some(0), 300, 1_200, false),
        node(5, "redis GET", Client, Some(0), 1_800, 500, false),
        node(5, "SELECT users", Client, Some(0), 2_500, 6_000, true),
        node(5, "SELECT user_roles", Client, Some(0), 8_700, 2_000, false),
        node(5, "serialize", Internal, Some(0), 10_900, 900, false),
    ],
    &[
        node(1, "orders.created process", Consumer, None, 0, 90_000, false),
        node(1, "SELECT orders", Client, Some(0), 1_000, 4_000, false),
        node(1, "POST inventory/reserve", Client, Some(0), 6_000, 40_000, false),
        node(3, "POST /reserve", Server, Some(2), 6_500, 39_000, false),
        node(3, "UPDATE stock", Client, Some(3), 7_000, 30_000, true),
        node(1, "POST users/notify", Client, Some(0), 47_000, 35_000, false),
        node(5, "POST /notify", Server, Some(5), 47_500, 34_000, false),
        node(5, "smtp.send", Client, Some(6), 48_000, 30_000, false),
        node(1, "UPDATE orders", Client, Some(0), 83_000, 5_000, false),
    ],
];

/// What one service needs to encode its spans.
#[derive(Debug)]
struct ServiceMeta {
    resource: Resource,
    scope: InstrumentationScope,
}

fn service_metas() -> Vec<ServiceMeta> {
    SERVICES
        .iter()
        .enumerate()
        .map(|(i, name)| ServiceMeta {
            resource: Resource::builder()
                .with_service_name(*name)
                .with_attribute(KeyValue::new("service.version", "1.8.2"))
                .with_attribute(KeyValue::new("deployment.environment.name", "bench"))
                .with_attribute(KeyValue::new("host.name", format!("{name}-{i}")))
                .build(),
            scope: InstrumentationScope::builder(format!("{name}.handlers"))
                .with_version("0.3.1")
                .build(),
        })
        .collect()
}

/// Builds whole traces, grouped by service, and encodes them as one request.
#[derive(Debug)]
struct Generator {
    rng: Rng,
    metas: Vec<ServiceMeta>,
    /// Spans of the batch being built, per service.
    per_service: Vec<Vec<SpanData>>,
    encoder: TraceEncoder,
    traces: u64,
}

impl Generator {
    fn new(seed: u64) -> Generator {
        let metas = service_metas();
        Generator {
            rng: Rng(seed),
            per_service: metas.iter().map(|_| Vec::new()).collect(),
            metas,
            encoder: TraceEncoder::new(),
            traces: 0,
        }
    }

    /// Adds one trace of a shape picked at random, ending now; returns its span count.
    fn push_trace(&mut self) -> usize {
        let shape = SHAPES[(self.rng.next() % SHAPES.len() as u64) as usize];
        let failed = self.rng.unit() < 0.03;
        // A long-tailed scale, so the scatter plot and the percentiles have a shape.
        let u = self.rng.unit();
        let scale = 0.5 + 6.0 * u * u * u * u;
        let trace_id =
            TraceId::from_int(u128::from(self.rng.next()) << 64 | u128::from(self.rng.id64()));
        let ids: Vec<u64> = shape.iter().map(|_| self.rng.id64()).collect();
        let total_us = (shape[0].duration_us as f64 * scale) as u64;
        let start = unix_nanos().saturating_sub(total_us * 1_000);
        // Which spans carry the error: the failing node and its ancestors.
        let mut in_error = vec![false; shape.len()];
        if failed && let Some(mut at) = shape.iter().position(|n| n.fails) {
            loop {
                in_error[at] = true;
                match shape[at].parent {
                    Some(parent) => at = parent,
                    None => break,
                }
            }
        }
        self.traces += 1;
        for (i, n) in shape.iter().enumerate() {
            let parent = n.parent.map_or(0, |p| ids[p]);
            let remote = n.parent.is_some_and(|p| shape[p].service != n.service);
            let begin = start + (n.start_us as f64 * scale) as u64 * 1_000;
            let end = begin + (n.duration_us as f64 * scale) as u64 * 1_000;
            let mut attributes = vec![KeyValue::new("bench.trace", self.traces as i64)];
            match n.kind {
                Server => {
                    attributes.push(KeyValue::new("http.route", n.name));
                    attributes.push(KeyValue::new(
                        "http.response.status_code",
                        if in_error[i] { 500i64 } else { 200 },
                    ));
                }
                Client => {
                    attributes.push(KeyValue::new("server.address", "10.0.3.17"));
                    attributes.push(KeyValue::new("network.peer.port", 5432i64));
                }
                _ => attributes.push(KeyValue::new("code.function", n.name)),
            }
            let status = if in_error[i] {
                Status::Error {
                    description: StringValue::from(if n.fails {
                        "upstream timed out"
                    } else {
                        "child failed"
                    }),
                }
            } else {
                Status::Unset
            };
            self.per_service[n.service].push(SpanData {
                span_context: SpanContext::new(
                    trace_id,
                    SpanId::from_int(ids[i]),
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::EMPTY,
                ),
                parent_span_id: SpanId::from_int(parent),
                parent_is_remote: remote,
                name: StringValue::from(n.name),
                kind: n.kind,
                start_time: Timestamp::from_unix_nanos(begin),
                end_time: Timestamp::from_unix_nanos(end),
                attributes,
                dropped_attributes_count: 0,
                events: Vec::new(),
                dropped_events_count: 0,
                links: Vec::new(),
                dropped_links_count: 0,
                status,
                scope: self.metas[n.service].scope.clone(),
            });
        }
        shape.len()
    }

    /// One request of at least `spans` spans (whole traces); returns it and its span count.
    fn request(&mut self, spans: usize) -> (Bytes, usize) {
        let mut count = 0;
        while count < spans {
            count += self.push_trace();
        }
        let mut out = Vec::with_capacity(count * 220);
        // Requests of several resources are concatenated `resource_spans` entries: protobuf
        // appends repeated fields, so this is one valid ExportTraceServiceRequest.
        for (meta, spans) in self.metas.iter().zip(&mut self.per_service) {
            if !spans.is_empty() {
                self.encoder.encode(&meta.resource, spans, &mut out);
                spans.clear();
            }
        }
        (Bytes::from(out), count)
    }
}

/// One probe trace: root `probe-<n>` (server) with two children, in service `service`.
fn probe_request(service: &str, n: u64, rng: &mut Rng) -> (Bytes, String, String) {
    let name = format!("probe-{n}");
    let trace = u128::from(rng.next()) << 64 | u128::from(rng.id64());
    let trace_id = TraceId::from_int(trace);
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    let scope = InstrumentationScope::builder("otlp_load.probe").build();
    let root = rng.id64();
    let end = unix_nanos();
    let span = |id: u64, parent: u64, name: StringValue, kind, start: u64| SpanData {
        span_context: SpanContext::new(
            trace_id,
            SpanId::from_int(id),
            TraceFlags::SAMPLED,
            false,
            TraceState::EMPTY,
        ),
        parent_span_id: SpanId::from_int(parent),
        parent_is_remote: false,
        name,
        kind,
        start_time: Timestamp::from_unix_nanos(start),
        end_time: Timestamp::from_unix_nanos(end),
        attributes: vec![KeyValue::new("probe.n", n as i64)],
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: Status::Unset,
        scope: scope.clone(),
    };
    let spans = [
        span(root, 0, name.clone().into(), Server, end - 3_000_000),
        span(
            root + 2,
            root,
            "probe.step".into(),
            Internal,
            end - 2_000_000,
        ),
        span(root + 4, root, "probe.call".into(), Client, end - 1_000_000),
    ];
    let mut out = Vec::new();
    TraceEncoder::new().encode(&resource, &spans, &mut out);
    (Bytes::from(out), format!("{trace:032x}"), name)
}

// ---------------------------------------------------------------------------------------
// HTTP

/// Why a request did not end in a 200.
#[derive(Debug)]
enum SendError {
    /// Connecting, writing or reading failed.
    Transport(String),
    /// The server answered with another status.
    Status(u16, String),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Transport(e) => write!(f, "transport: {e}"),
            SendError::Status(code, body) => write!(f, "HTTP {code}: {body}"),
        }
    }
}

impl std::error::Error for SendError {}

async fn connect(endpoint: &Endpoint) -> Result<SendRequest<Full<Bytes>>, SendError> {
    let stream = TcpStream::connect(endpoint.addr)
        .await
        .map_err(|e| SendError::Transport(e.to_string()))?;
    // Requests are small and latency is measured: do not let Nagle hold them.
    stream
        .set_nodelay(true)
        .map_err(|e| SendError::Transport(e.to_string()))?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| SendError::Transport(e.to_string()))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Posts one request; on a 200 returns the spans rejected through `partial_success` and
/// its message.
async fn post(
    sender: &mut SendRequest<Full<Bytes>>,
    endpoint: &Endpoint,
    body: Bytes,
) -> Result<(u64, String), SendError> {
    sender
        .ready()
        .await
        .map_err(|e| SendError::Transport(e.to_string()))?;
    let request = Request::builder()
        .method(Method::POST)
        .uri(endpoint.path.as_str())
        .header(header::HOST, endpoint.host.as_str())
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .body(Full::new(body))
        .map_err(|e| SendError::Transport(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| SendError::Transport(e.to_string()))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| SendError::Transport(e.to_string()))?
        .to_bytes();
    if status != 200 {
        let text = String::from_utf8_lossy(&body[..body.len().min(ERROR_SNIPPET)]).into_owned();
        return Err(SendError::Status(status, text));
    }
    Ok(partial_success(&body).unwrap_or((0, String::new())))
}

/// Reads a protobuf varint at `*at`.
fn varint(body: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *body.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Calls `field(number, wire_type, value_or_len, payload)` for each field of a message;
/// `None` if it does not parse.
fn fields<'a>(body: &'a [u8], mut field: impl FnMut(u64, u64, &'a [u8], u64)) -> Option<()> {
    let mut at = 0;
    while at < body.len() {
        let key = varint(body, &mut at)?;
        match key & 7 {
            0 => field(key >> 3, 0, &[], varint(body, &mut at)?),
            1 => at = at.checked_add(8).filter(|&end| end <= body.len())?,
            2 => {
                let len = usize::try_from(varint(body, &mut at)?).ok()?;
                let end = at.checked_add(len).filter(|&end| end <= body.len())?;
                field(key >> 3, 2, &body[at..end], 0);
                at = end;
            }
            5 => at = at.checked_add(4).filter(|&end| end <= body.len())?,
            _ => return None,
        }
    }
    Some(())
}

/// `partial_success { rejected_spans = 1; error_message = 2 }` of an
/// `ExportTraceServiceResponse` (field 1); zeros when absent.
fn partial_success(body: &[u8]) -> Option<(u64, String)> {
    let mut partial: &[u8] = &[];
    fields(body, |number, wire, bytes, _| {
        if number == 1 && wire == 2 {
            partial = bytes;
        }
    })?;
    let (mut rejected, mut message) = (0, String::new());
    fields(partial, |number, wire, bytes, value| match (number, wire) {
        (1, 0) => rejected = value,
        (2, 2) => message = String::from_utf8_lossy(bytes).into_owned(),
        _ => {}
    })?;
    Some((rejected, message))
}

// ---------------------------------------------------------------------------------------
// load

/// The token bucket, as a schedule (GCRA): each batch takes the next slot, `spans / rate`
/// after the previous one; a sender that fell behind may catch up by at most `BURST`.
#[derive(Debug)]
struct Pacer {
    next: Instant,
    nanos_per_span: f64,
}

impl Pacer {
    fn slot(&mut self, spans: usize) -> Instant {
        let now = Instant::now();
        if self.next + BURST < now {
            self.next = now - BURST;
        }
        let at = self.next;
        self.next += Duration::from_nanos((spans as f64 * self.nanos_per_span) as u64);
        at
    }

    /// How far the schedule is behind now (0 when on time).
    fn behind(&self) -> Duration {
        Instant::now().saturating_duration_since(self.next)
    }
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    refused: AtomicU64,
    errors: AtomicU64,
    requests: AtomicU64,
    max_request_us: AtomicU64,
    last_problem: Mutex<Option<String>>,
}

impl Counters {
    fn problem(&self, text: String) {
        if let Ok(mut last) = self.last_problem.lock() {
            *last = Some(text);
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Snapshot {
    sent: u64,
    accepted: u64,
    rejected: u64,
    refused: u64,
    errors: u64,
    requests: u64,
}

impl Snapshot {
    fn take(c: &Counters) -> Snapshot {
        Snapshot {
            sent: c.sent.load(Ordering::Relaxed),
            accepted: c.accepted.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
        }
    }

    fn minus(self, o: Snapshot) -> Snapshot {
        Snapshot {
            sent: self.sent - o.sent,
            accepted: self.accepted - o.accepted,
            rejected: self.rejected - o.rejected,
            refused: self.refused - o.refused,
            errors: self.errors - o.errors,
            requests: self.requests - o.requests,
        }
    }
}

async fn sender_task(
    args: Arc<LoadArgs>,
    pacer: Arc<Mutex<Pacer>>,
    counters: Arc<Counters>,
    seed: u64,
) {
    let mut generator = Generator::new(seed);
    let mut connection: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        let (body, spans) = generator.request(args.batch);
        let at = match pacer.lock() {
            Ok(mut pacer) => pacer.slot(spans),
            Err(_) => return,
        };
        tokio::time::sleep_until(at.into()).await;
        let mut sender = match connection.take() {
            Some(sender) => sender,
            None => match connect(&args.endpoint).await {
                Ok(sender) => sender,
                Err(e) => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    counters.problem(e.to_string());
                    tokio::time::sleep(RECONNECT_DELAY).await;
                    continue;
                }
            },
        };
        let started = Instant::now();
        counters.sent.fetch_add(spans as u64, Ordering::Relaxed);
        counters.requests.fetch_add(1, Ordering::Relaxed);
        let outcome = post(&mut sender, &args.endpoint, body).await;
        let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        counters.max_request_us.fetch_max(took, Ordering::Relaxed);
        match outcome {
            Ok((rejected, message)) => {
                let rejected = rejected.min(spans as u64);
                counters
                    .accepted
                    .fetch_add(spans as u64 - rejected, Ordering::Relaxed);
                if rejected > 0 {
                    counters.rejected.fetch_add(rejected, Ordering::Relaxed);
                    counters.problem(format!("partial_success: {rejected} rejected: {message}"));
                }
                connection = Some(sender);
            }
            Err(e @ SendError::Status(..)) => {
                counters.refused.fetch_add(spans as u64, Ordering::Relaxed);
                counters.problem(e.to_string());
                connection = Some(sender);
            }
            Err(e @ SendError::Transport(_)) => {
                // The spans of a request whose answer never came count as errors, not as
                // accepted: the connection is replaced.
                counters.errors.fetch_add(1, Ordering::Relaxed);
                counters.problem(e.to_string());
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
        }
    }
}

fn report_line(kind: &str, seconds: f64, d: Snapshot, max_ms: f64, behind_ms: f64) -> String {
    let per_s = |n: u64| {
        if seconds > 0.0 {
            n as f64 / seconds
        } else {
            0.0
        }
    };
    json!({
        "kind": kind,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "sentSpans": d.sent,
        "acceptedSpans": d.accepted,
        "rejectedSpans": d.rejected,
        "refusedSpans": d.refused,
        "transportErrors": d.errors,
        "requests": d.requests,
        "sentPerSec": per_s(d.sent).round(),
        "acceptedPerSec": per_s(d.accepted).round(),
        "maxRequestMs": max_ms,
        "behindMs": behind_ms,
    })
    .to_string()
}

async fn run_load(args: LoadArgs) {
    let args = Arc::new(args);
    let pacer = Arc::new(Mutex::new(Pacer {
        next: Instant::now(),
        nanos_per_span: 1e9 / args.rate as f64,
    }));
    let counters = Arc::new(Counters::default());
    let seed = unix_nanos();
    eprintln!(
        "otlp_load: {} spans/s in requests of ~{} spans over {} connection(s) to http://{}{}",
        args.rate, args.batch, args.connections, args.endpoint.host, args.endpoint.path
    );
    for c in 0..args.connections {
        tokio::spawn(sender_task(
            Arc::clone(&args),
            Arc::clone(&pacer),
            Arc::clone(&counters),
            seed ^ (c as u64).wrapping_mul(0xa076_1d64_78bd_642f),
        ));
    }
    let started = Instant::now();
    let mut previous = Snapshot::default();
    let mut last_tick = started;
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let snapshot = Snapshot::take(&counters);
        let delta = snapshot.minus(previous);
        let max_ms = counters.max_request_us.swap(0, Ordering::Relaxed) as f64 / 1000.0;
        let behind_ms = pacer
            .lock()
            .map_or(0.0, |p| p.behind().as_secs_f64() * 1000.0);
        let seconds = now.duration_since(last_tick).as_secs_f64();
        let problem = counters.last_problem.lock().ok().and_then(|mut p| p.take());
        eprintln!(
            "t={:>4.0}s sent {:>7.0}/s accepted {:>7.0}/s rejected {} refused {} errors {} requests {} max {:.1} ms behind {:.0} ms{}",
            now.duration_since(started).as_secs_f64(),
            delta.sent as f64 / seconds,
            delta.accepted as f64 / seconds,
            delta.rejected,
            delta.refused,
            delta.errors,
            delta.requests,
            max_ms,
            behind_ms,
            problem.map_or(String::new(), |p| format!("  last problem: {p}")),
        );
        println!(
            "{}",
            report_line("second", seconds, delta, max_ms, behind_ms)
        );
        previous = snapshot;
        last_tick = now;
        if args
            .duration
            .is_some_and(|d| now.duration_since(started) >= d)
        {
            break;
        }
    }
    let total = Snapshot::take(&counters);
    let seconds = started.elapsed().as_secs_f64();
    println!("{}", report_line("total", seconds, total, 0.0, 0.0));
}

// ---------------------------------------------------------------------------------------
// probe

async fn run_probe(args: ProbeArgs) -> Result<(), SendError> {
    let mut rng = Rng(unix_nanos() ^ 0x5bd1_e995);
    let mut sender = connect(&args.endpoint).await?;
    let mut tick = tokio::time::interval(args.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for n in 1..=args.count {
        tick.tick().await;
        let (body, trace_id, name) = probe_request(&args.service, n, &mut rng);
        let sent_ms = unix_ms();
        let line = match post(&mut sender, &args.endpoint, body).await {
            Ok((0, _)) => {
                json!({"traceId": trace_id, "name": name, "sentMs": sent_ms, "ackMs": unix_ms()})
            }
            Ok((rejected, message)) => json!({"traceId": trace_id, "name": name,
                "sentMs": sent_ms, "error": format!("{rejected} spans rejected: {message}")}),
            Err(e) => {
                if matches!(e, SendError::Transport(_)) {
                    sender = connect(&args.endpoint).await?;
                }
                json!({"traceId": trace_id, "name": name, "sentMs": sent_ms,
                    "error": e.to_string()})
            }
        };
        println!("{line}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_args(&args) {
        Ok(command) => command,
        Err(ArgError::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("otlp_load: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // One thread: the generator must not take CPU the server under test needs more than
    // encoding ~50k spans/s takes.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("otlp_load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Load(args) => {
            runtime.block_on(run_load(args));
            ExitCode::SUCCESS
        }
        Command::Probe(args) => match runtime.block_on(run_probe(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("otlp_load probe: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_success_is_read_and_unknown_fields_skipped() {
        // partial_success { rejected_spans: 300, error_message: "full" }, then field 9 (varint).
        let body = [
            0x0a, 0x09, 0x08, 0xac, 0x02, 0x12, 0x04, b'f', b'u', b'l', b'l', 0x48, 0x01,
        ];
        assert_eq!(partial_success(&body), Some((300, "full".to_owned())));
        assert_eq!(partial_success(&[]), Some((0, String::new())));
        assert_eq!(partial_success(&[0x0a, 0x05, 0x08]), None);
    }

    #[test]
    fn requests_hold_whole_traces_that_decode() {
        let mut generator = Generator::new(7);
        let (body, spans) = generator.request(100);
        assert!((100..112).contains(&spans), "{spans}");
        let data = telemetry_otlp::decode_traces(&body).expect("a valid request");
        let decoded: usize = data
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        assert_eq!(decoded, spans);
        assert!(data.resource_spans.len() > 1, "several services");
    }

    #[test]
    fn endpoint_and_arguments_parse() {
        let e = Endpoint::parse("http://127.0.0.1:9/x/v1/traces").expect("parses");
        assert_eq!((e.addr.port(), e.path.as_str()), (9, "/x/v1/traces"));
        let args: Vec<String> = ["load", "--rate", "1000", "--duration", "3"]
            .map(String::from)
            .to_vec();
        match parse_args(&args) {
            Ok(Command::Load(l)) => {
                assert_eq!((l.rate, l.duration), (1000, Some(Duration::from_secs(3))));
            }
            other => panic!("{other:?}"),
        }
        let bad: Vec<String> = ["probe", "--rate", "1"].map(String::from).to_vec();
        assert!(matches!(parse_args(&bad), Err(ArgError::UnknownOption(_))));
    }

    #[test]
    fn pacer_spaces_batches_by_rate_and_bounds_catch_up() {
        let mut pacer = Pacer {
            next: Instant::now(),
            nanos_per_span: 1e9 / 1000.0,
        };
        let a = pacer.slot(100);
        let b = pacer.slot(100);
        assert_eq!(b - a, Duration::from_millis(100));
        pacer.next = Instant::now() - Duration::from_secs(10);
        let c = pacer.slot(1);
        assert!(Instant::now() - c <= BURST + Duration::from_millis(50));
    }
}
