//! A loopback OTLP collector whose misbehaviour a test switches while the pipeline runs.
//!
//! It listens on 127.0.0.1 and takes OTLP/HTTP protobuf requests on `/v1/traces`,
//! `/v1/metrics` and `/v1/logs` (HTTP/1.1) and OTLP/gRPC `Export` calls (HTTP/2 without TLS)
//! on the same port. It decodes each request with telemetry-otlp's decoders and records what
//! it accepted: span ids, the `seq` attribute of log records, and the sum data points of
//! metrics (and the sum data points it rejected through `partial_success`). What it does with a request is the current [`Fault`], switched at any time with
//! [`FaultServer::set_fault`].
//!
//! Being down is real: [`FaultServer::down`] closes the listener and resets every open
//! connection, so nothing listens on the port until [`FaultServer::up`] binds the same port
//! again. Every accepted socket has `SO_LINGER` 0, so a connection the server drops is reset
//! (RST), never closed politely.
//!
//! The server runs on a thread of its own with a current-thread tokio runtime and stops,
//! connections and all, when dropped. (A gRPC call's handler runs as a task hyper spawns;
//! a stalled one outlives its connection until then, which holds nothing but memory.)

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use telemetry_core::{SpanId, Timestamp, Value};
use telemetry_metrics::data::{MetricData, Temporality};
use telemetry_otlp::{decode_logs, decode_metrics, decode_traces};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle as TaskHandle, JoinSet};

/// The header each exporter of a test names itself with, recorded in [`Seen::exporter`].
pub(crate) const EXPORTER_HEADER: &str = "x-fault-exporter";

/// How long [`FaultServer::up`] keeps trying to bind its port again: an exporter's
/// connection elsewhere may hold the same local port number for a moment.
const REBIND_FOR: Duration = Duration::from_secs(5);

/// What the server does with each request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Records the request and answers 200 with an empty `Export*ServiceResponse`.
    Accept,
    /// Answers `status` (503, 429) with `Retry-After: seconds` when given; records nothing.
    /// Over gRPC: `UNAVAILABLE` for 503, `RESOURCE_EXHAUSTED` for anything else, without
    /// `RetryInfo`.
    Refuse {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` header, in seconds.
        retry_after: Option<u64>,
    },
    /// Reads the request and never answers; records nothing.
    Stall,
    /// Reads the request, then resets the connection without answering. With
    /// `after_recording` the request is recorded first: the collector took the data and
    /// the answer was lost, which only the exporter's retry can turn into a duplicate.
    Reset {
        /// Whether the request is recorded before the reset.
        after_recording: bool,
    },
    /// Answers 200 with a `partial_success` rejecting the last `rejected` items of each
    /// request (spans, data points or log records), and records only the rest.
    PartialSuccess {
        /// Items rejected per request, at most the request's items.
        rejected: usize,
    },
}

/// The signal of a request, from its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Signal {
    /// `/v1/traces`, or gRPC `TraceService/Export`.
    Traces,
    /// `/v1/metrics`, or gRPC `MetricsService/Export`.
    Metrics,
    /// `/v1/logs`, or gRPC `LogsService/Export`.
    Logs,
}

/// A sum data point as it arrived.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SumPoint {
    /// The metric's name.
    pub(crate) name: String,
    /// Delta or cumulative.
    pub(crate) temporality: Temporality,
    /// The value, as a float.
    pub(crate) value: f64,
    /// The start of its interval: for a delta point, the collection before it.
    pub(crate) start: Timestamp,
    /// Its collection time.
    pub(crate) time: Timestamp,
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    /// When its body had been read.
    pub(crate) at: Instant,
    /// The fault in force when it came.
    pub(crate) fault: Fault,
    /// The exporter that sent it, from its [`EXPORTER_HEADER`].
    pub(crate) exporter: String,
}

/// What arrived, all requests together.
#[derive(Debug, Default)]
pub(crate) struct Arrived {
    /// Span ids recorded, in arrival order, repeats included.
    pub(crate) span_ids: Vec<SpanId>,
    /// The `seq` attribute of log records recorded, in arrival order, repeats included.
    pub(crate) log_seqs: Vec<i64>,
    /// Sum data points recorded, in arrival order.
    pub(crate) sums: Vec<SumPoint>,
    /// Sum data points rejected through `partial_success`, in arrival order: what the
    /// collector received but did not keep.
    pub(crate) rejected_sums: Vec<SumPoint>,
    /// Every request, whatever its fate.
    pub(crate) seen: Vec<Seen>,
    /// Items rejected through `partial_success`, per signal.
    pub(crate) rejected: HashMap<Signal, u64>,
    /// Requests recorded and then answered with a reset.
    pub(crate) recorded_then_reset: u64,
    /// The items of those requests: the only ones a retry can duplicate.
    pub(crate) recorded_then_reset_items: u64,
    /// Requests whose body did not decode (always a test failure).
    pub(crate) undecodable: u64,
}

impl Arrived {
    /// Items rejected through `partial_success` for `signal`.
    pub(crate) fn rejected(&self, signal: Signal) -> u64 {
        self.rejected.get(&signal).copied().unwrap_or(0)
    }
}

/// State shared by the handle and the server's tasks.
#[derive(Debug)]
struct Shared {
    fault: Mutex<Fault>,
    arrived: Mutex<Arrived>,
}

/// Orders to the server's runtime.
enum Control {
    /// Serve this freshly bound listener.
    Up(StdListener),
    /// Close the listener and reset every connection, then answer.
    Down(std::sync::mpsc::SyncSender<()>),
}

/// The loopback collector; see the module docs.
#[derive(Debug)]
pub(crate) struct FaultServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    control: Option<mpsc::UnboundedSender<Control>>,
    thread: Option<JoinHandle<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FaultServer {
    /// A server listening on an ephemeral port, accepting.
    pub(crate) fn start() -> std::io::Result<Self> {
        let listener = StdListener::bind("127.0.0.1:0")?;
        let server = Self::with_port(listener.local_addr()?)?;
        server.serve(listener)?;
        Ok(server)
    }

    /// A server that is down from the start: it has a port, and nothing listens on it
    /// until [`up`](Self::up).
    pub(crate) fn start_down() -> std::io::Result<Self> {
        // Bound only to be given a free port, then closed at once.
        let addr = StdListener::bind("127.0.0.1:0")?.local_addr()?;
        Self::with_port(addr)
    }

    fn with_port(addr: SocketAddr) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            fault: Mutex::new(Fault::Accept),
            arrived: Mutex::new(Arrived::default()),
        });
        let (control, orders) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let state = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("fault-server".to_owned())
            .spawn(move || runtime.block_on(run(orders, state)))?;
        Ok(FaultServer {
            addr,
            shared,
            control: Some(control),
            thread: Some(thread),
        })
    }

    /// The URL of `path` on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Switches what the server does with the requests that come from now on.
    pub(crate) fn set_fault(&self, fault: Fault) {
        *lock(&self.shared.fault) = fault;
    }

    /// Binds the port again and serves it; fails if the port stays taken.
    pub(crate) fn up(&self) -> std::io::Result<()> {
        let started = Instant::now();
        let listener = loop {
            match StdListener::bind(self.addr) {
                Ok(listener) => break listener,
                Err(error) if started.elapsed() > REBIND_FOR => return Err(error),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        self.serve(listener)
    }

    /// Closes the listener and resets every open connection; returns once nothing
    /// listens on the port.
    pub(crate) fn down(&self) {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        if self.send(Control::Down(done)) {
            let _ = wait.recv();
        }
    }

    /// Calls `read` with what has arrived so far.
    pub(crate) fn arrived<T>(&self, read: impl FnOnce(&Arrived) -> T) -> T {
        read(&lock(&self.shared.arrived))
    }

    fn serve(&self, listener: StdListener) -> std::io::Result<()> {
        listener.set_nonblocking(true)?;
        self.send(Control::Up(listener));
        Ok(())
    }

    fn send(&self, order: Control) -> bool {
        self.control
            .as_ref()
            .is_some_and(|control| control.send(order).is_ok())
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        // Closing the channel ends the runtime's loop; dropping the runtime ends every task.
        self.control = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The runtime's loop: one accept task while up, its connections in a set.
async fn run(mut orders: mpsc::UnboundedReceiver<Control>, shared: Arc<Shared>) {
    let connections = Arc::new(Mutex::new(JoinSet::new()));
    let mut accepting: Option<TaskHandle<()>> = None;
    while let Some(order) = orders.recv().await {
        match order {
            Control::Up(listener) => {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    continue;
                };
                let (shared, connections) = (Arc::clone(&shared), Arc::clone(&connections));
                accepting = Some(tokio::spawn(accept(listener, shared, connections)));
            }
            Control::Down(done) => {
                if let Some(task) = accepting.take() {
                    task.abort();
                    // Resolves once the task, and the listener it owns, are dropped.
                    let _ = task.await;
                }
                let mut open = std::mem::take(&mut *lock(&connections));
                open.shutdown().await;
                let _ = done.send(());
            }
        }
    }
}

async fn accept(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    connections: Arc<Mutex<JoinSet<()>>>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // Dropping the socket then sends RST: a reset, or a collector going down, is abrupt.
        let _ = stream.set_zero_linger();
        let shared = Arc::clone(&shared);
        let mut set = lock(&connections);
        // Finished connections leave the set here, so it does not grow with them.
        while set.try_join_next().is_some() {}
        set.spawn(connection(stream, shared));
    }
}

/// Serves one connection until it closes, or until a request asks for a reset.
async fn connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let (reset, mut resets) = mpsc::unbounded_channel::<()>();
    let service = service_fn(move |request| answer(Arc::clone(&shared), reset.clone(), request));
    let builder = auto::Builder::new(TokioExecutor::new());
    let serving = builder.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = serving => {}
        // Dropping the connection drops the socket, which SO_LINGER 0 turns into RST.
        _ = resets.recv() => {}
    }
}

/// The body of every response.
type Body = BoxBody<Bytes, Infallible>;

/// How a request came: OTLP/HTTP, or OTLP/gRPC (whose answers are framed, with trailers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wire {
    Http,
    Grpc,
}

async fn answer(
    shared: Arc<Shared>,
    reset: mpsc::UnboundedSender<()>,
    request: Request<Incoming>,
) -> Result<Response<Body>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let fault = *lock(&shared.fault);
    let (wire, signal) = match parts.uri.path() {
        "/v1/traces" => (Wire::Http, Signal::Traces),
        "/v1/metrics" => (Wire::Http, Signal::Metrics),
        "/v1/logs" => (Wire::Http, Signal::Logs),
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export" => {
            (Wire::Grpc, Signal::Traces)
        }
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export" => {
            (Wire::Grpc, Signal::Metrics)
        }
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export" => (Wire::Grpc, Signal::Logs),
        _ => return Ok(reply(StatusCode::NOT_FOUND, Bytes::new())),
    };
    let message = match wire {
        Wire::Http => Some(body),
        Wire::Grpc => unframe(&body),
    };
    let Some(mut decoded) = message.and_then(|message| Decoded::read(signal, &message)) else {
        lock(&shared.arrived).undecodable += 1;
        return Ok(reply(StatusCode::BAD_REQUEST, Bytes::new()));
    };
    let items = decoded.len();
    {
        let mut arrived = lock(&shared.arrived);
        let exporter = parts.headers.get(EXPORTER_HEADER);
        arrived.seen.push(Seen {
            at: Instant::now(),
            fault,
            exporter: exporter
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        });
        match fault {
            Fault::Accept
            | Fault::Reset {
                after_recording: true,
            } => {
                decoded.record(&mut arrived);
                if fault != Fault::Accept {
                    arrived.recorded_then_reset += 1;
                    arrived.recorded_then_reset_items += items as u64;
                }
            }
            Fault::PartialSuccess { rejected } => {
                let rejected = rejected.min(items);
                let refused = decoded.split_off(items - rejected);
                decoded.record(&mut arrived);
                if let Decoded::Metrics(points) = refused {
                    arrived.rejected_sums.extend(points.into_iter().flatten());
                }
                *arrived.rejected.entry(signal).or_default() += rejected as u64;
            }
            Fault::Refuse { .. } | Fault::Stall | Fault::Reset { .. } => {}
        }
    }
    match fault {
        Fault::Accept => Ok(success(wire, Bytes::new())),
        Fault::PartialSuccess { rejected } => {
            Ok(success(wire, partial_success(rejected.min(items))))
        }
        Fault::Refuse {
            status,
            retry_after,
        } => Ok(refusal(wire, status, retry_after)),
        Fault::Stall => std::future::pending().await,
        Fault::Reset { .. } => {
            let _ = reset.send(());
            std::future::pending().await
        }
    }
}

/// The message of a gRPC request: one uncompressed length-prefixed frame.
fn unframe(body: &Bytes) -> Option<Bytes> {
    let (&[compressed, a, b, c, d], _) = body.split_first_chunk::<5>()?;
    let length = usize::try_from(u32::from_be_bytes([a, b, c, d])).ok()?;
    (compressed == 0 && body.len() == 5 + length).then(|| body.slice(5..))
}

/// A success carrying `message` (an `Export*ServiceResponse`).
fn success(wire: Wire, message: Bytes) -> Response<Body> {
    match wire {
        Wire::Http => reply(StatusCode::OK, message),
        Wire::Grpc => {
            let mut frame = Vec::with_capacity(5 + message.len());
            frame.push(0);
            frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
            frame.extend_from_slice(&message);
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            let frames = [Frame::data(Bytes::from(frame)), Frame::trailers(trailers)];
            let stream = futures::stream::iter(frames.map(Ok::<_, Infallible>));
            grpc_response(StreamBody::new(stream).boxed())
        }
    }
}

/// A refusal: `status` with `Retry-After`, or over gRPC a trailers-only status.
fn refusal(wire: Wire, status: u16, retry_after: Option<u64>) -> Response<Body> {
    match wire {
        Wire::Http => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = reply(status, Bytes::new());
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, seconds.into());
            }
            response
        }
        Wire::Grpc => {
            // UNAVAILABLE (14) for 503; RESOURCE_EXHAUSTED (8) otherwise.
            let code = if status == 503 { "14" } else { "8" };
            let mut response = grpc_response(Full::new(Bytes::new()).boxed());
            let headers = response.headers_mut();
            headers.insert("grpc-status", HeaderValue::from_static(code));
            headers.insert("grpc-message", HeaderValue::from_static("fault%20server"));
            response
        }
    }
}

fn grpc_response(body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    response
}

fn reply(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    response
}

/// An `Export*ServiceResponse` whose `partial_success` (field 1) rejects `rejected` items
/// (its field 1, the same number for every signal) with a message (its field 2).
fn partial_success(rejected: usize) -> Bytes {
    let message = b"rejected by the fault server";
    let mut inner = vec![0x08];
    let mut count = rejected as u64;
    loop {
        let byte = (count & 0x7f) as u8;
        count >>= 7;
        if count == 0 {
            inner.push(byte);
            break;
        }
        inner.push(byte | 0x80);
    }
    inner.push(0x12);
    inner.push(message.len() as u8);
    inner.extend_from_slice(message);
    let mut body = vec![0x0a, inner.len() as u8];
    body.extend_from_slice(&inner);
    Bytes::from(body)
}

/// The items of one request, in the order they came.
enum Decoded {
    Traces(Vec<SpanId>),
    Logs(Vec<i64>),
    /// Every data point, as the sum point it is or `None` for another kind.
    Metrics(Vec<Option<SumPoint>>),
}

impl Decoded {
    fn read(signal: Signal, body: &[u8]) -> Option<Self> {
        Some(match signal {
            Signal::Traces => Decoded::Traces(
                decode_traces(body)
                    .ok()?
                    .resource_spans
                    .iter()
                    .flat_map(|resource| &resource.scope_spans)
                    .flat_map(|scope| &scope.spans)
                    .map(|span| span.span_context.span_id())
                    .collect(),
            ),
            Signal::Logs => Decoded::Logs(
                decode_logs(body)
                    .ok()?
                    .resource_logs
                    .iter()
                    .flat_map(|resource| &resource.scope_logs)
                    .flat_map(|scope| &scope.records)
                    .map(|record| {
                        let seq = record.attributes.iter().find(|kv| kv.key.as_str() == "seq");
                        match seq.map(|kv| &kv.value) {
                            Some(Value::I64(seq)) => *seq,
                            // A record without its seq is counted, as an impossible one.
                            _ => -1,
                        }
                    })
                    .collect(),
            ),
            Signal::Metrics => {
                let data = decode_metrics(body).ok()?;
                let mut points = Vec::new();
                let metrics = data
                    .resource_metrics
                    .iter()
                    .flat_map(|resource| &resource.scope_metrics)
                    .flat_map(|scope| &scope.metrics);
                for metric in metrics {
                    match &metric.data {
                        MetricData::Sum(sum) => {
                            points.extend(sum.points.iter().map(|point| {
                                Some(SumPoint {
                                    name: metric.name.clone(),
                                    temporality: sum.temporality,
                                    value: point.value.as_f64(),
                                    start: point.start_time,
                                    time: point.time,
                                })
                            }));
                        }
                        MetricData::Gauge(gauge) => {
                            points.extend(gauge.points.iter().map(|_| None));
                        }
                        MetricData::Histogram(histogram) => {
                            points.extend(histogram.points.iter().map(|_| None));
                        }
                        MetricData::ExponentialHistogram(histogram) => {
                            points.extend(histogram.points.iter().map(|_| None));
                        }
                        // A kind added later counts as one point, unrecorded.
                        _ => points.push(None),
                    }
                }
                Decoded::Metrics(points)
            }
        })
    }

    fn len(&self) -> usize {
        match self {
            Decoded::Traces(ids) => ids.len(),
            Decoded::Logs(seqs) => seqs.len(),
            Decoded::Metrics(points) => points.len(),
        }
    }

    /// Keeps the first `keep` items and returns the rest.
    fn split_off(&mut self, keep: usize) -> Self {
        match self {
            Decoded::Traces(ids) => Decoded::Traces(ids.split_off(keep)),
            Decoded::Logs(seqs) => Decoded::Logs(seqs.split_off(keep)),
            Decoded::Metrics(points) => Decoded::Metrics(points.split_off(keep)),
        }
    }

    fn record(self, arrived: &mut Arrived) {
        match self {
            Decoded::Traces(ids) => arrived.span_ids.extend(ids),
            Decoded::Logs(seqs) => arrived.log_seqs.extend(seqs),
            Decoded::Metrics(points) => arrived.sums.extend(points.into_iter().flatten()),
        }
    }
}
