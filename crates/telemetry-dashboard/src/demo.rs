//! `--demo`: a workload of three services that send real OTLP/HTTP to the dashboard's own
//! receiver, as any other program would, so a first run has something live to look at.
//!
//! - `agent` plans tasks: each task is a root span that splits recursively into subtasks
//!   (up to three levels), run concurrently as tokio tasks, some on blocking threads; the
//!   leaves call `tools` over HTTP with `traceparent`.
//! - `tools` serves `POST /tools/{search,compute,fetch}`; `search` asks `knowledge` over HTTP;
//!   `compute` works on a blocking thread; about one call in twenty fails with a 503.
//! - `knowledge` serves `GET /lookup`, with a cache and a little latency.
//!
//! Each service has its own resource (`service.name`), tracer, meter and logger providers and
//! exporters, so the dashboard sees three processes' worth of telemetry, correlated by trace id
//! across the HTTP hops. Nothing here is simulated on the dashboard's side: the spans, metric
//! points and log records are the ones these services really made.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use telemetry_context::{CompositePropagator, Context, FutureExt, TextMapPropagator};
use telemetry_core::{KeyValue, Resource};
use telemetry_logs::{Logger, LoggerProvider, Severity};
use telemetry_metrics::{Counter, Histogram, Meter, MeterProvider, PeriodicReader, UpDownCounter};
use telemetry_otlp::{HttpLogExporter, HttpMetricExporter, HttpSpanExporter};
use telemetry_span::{
    BatchConfig, BatchSpanProcessor, Span, SpanKind, Status, Tracer, TracerProvider,
};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How often a new root task starts, on average.
const TASK_INTERVAL: Duration = Duration::from_millis(400);
/// How long a span or log record may wait before it is sent: the dashboard is live.
const EXPORT_DELAY: Duration = Duration::from_millis(200);
/// How often metrics are collected and sent.
const METRIC_INTERVAL: Duration = Duration::from_secs(1);
/// The deepest level the agent splits a task to.
const MAX_DEPTH: u32 = 3;

/// Why the demo could not start.
#[derive(Debug)]
pub(crate) enum DemoError {
    /// An OTLP exporter could not be built.
    Exporter(telemetry_otlp::ExporterBuildError),
    /// A batch processor could not be started.
    Processor(String),
    /// An instrument name was refused (a bug in this file).
    Instrument(telemetry_metrics::InstrumentError),
    /// A socket or thread could not be opened.
    Io(std::io::Error),
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Exporter(error) => write!(f, "demo exporter: {error}"),
            DemoError::Processor(error) => write!(f, "demo batch processor: {error}"),
            DemoError::Instrument(error) => write!(f, "demo instrument: {error}"),
            DemoError::Io(error) => write!(f, "demo: {error}"),
        }
    }
}

impl std::error::Error for DemoError {}

impl From<telemetry_otlp::ExporterBuildError> for DemoError {
    fn from(error: telemetry_otlp::ExporterBuildError) -> Self {
        DemoError::Exporter(error)
    }
}

impl From<telemetry_metrics::InstrumentError> for DemoError {
    fn from(error: telemetry_metrics::InstrumentError) -> Self {
        DemoError::Instrument(error)
    }
}

impl From<std::io::Error> for DemoError {
    fn from(error: std::io::Error) -> Self {
        DemoError::Io(error)
    }
}

/// The running demo; [`Demo::stop`] (or drop) ends the workload and flushes what it made.
pub(crate) struct Demo {
    stop: watch::Sender<bool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Demo {
    /// Starts the three services on their own thread and runtime, exporting to the OTLP/HTTP
    /// receiver at `otlp_http`.
    pub(crate) fn start(otlp_http: SocketAddr) -> Result<Demo, DemoError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("telemetry-demo")
            .enable_all()
            .build()?;
        let knowledge = Service::new("knowledge", otlp_http)?;
        let tools = Service::new("tools", otlp_http)?;
        let agent = Service::new("agent", otlp_http)?;
        let (stop, stopped) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = thread::Builder::new()
            .name("telemetry-demo".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let started = start_services(knowledge, tools, agent, stopped).await;
                    let result = match started {
                        Ok(running) => {
                            let _ = ready_tx.send(Ok(()));
                            running.await;
                            return;
                        }
                        Err(error) => Err(error),
                    };
                    let _ = ready_tx.send(result);
                });
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Demo {
                stop,
                thread: Some(thread),
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => {
                let _ = thread.join();
                Err(DemoError::Io(std::io::Error::other("the demo thread died")))
            }
        }
    }

    /// Stops the workload, waits for tasks in flight, and flushes every service's telemetry.
    pub(crate) fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Binds the two HTTP services, then runs them and the agent until `stopped` turns true.
/// Returns once the sockets are bound, with the future that runs everything.
async fn start_services(
    knowledge: Service,
    tools: Service,
    agent: Service,
    stopped: watch::Receiver<bool>,
) -> Result<impl Future<Output = ()>, DemoError> {
    let knowledge_listener = TcpListener::bind("127.0.0.1:0").await?;
    let tools_listener = TcpListener::bind("127.0.0.1:0").await?;
    let knowledge_addr = knowledge_listener.local_addr()?;
    let tools_addr = tools_listener.local_addr()?;

    let knowledge = Arc::new(Knowledge::new(knowledge)?);
    let tools = Arc::new(Tools::new(tools, knowledge_addr)?);
    let agent = Arc::new(Agent::new(agent, tools_addr)?);

    Ok(async move {
        let knowledge_server = tokio::spawn(serve(knowledge_listener, stopped.clone(), {
            let knowledge = knowledge.clone();
            move |request| {
                let knowledge = knowledge.clone();
                async move { knowledge.handle(request).await }
            }
        }));
        let tools_server = tokio::spawn(serve(tools_listener, stopped.clone(), {
            let tools = tools.clone();
            move |request| {
                let tools = tools.clone();
                async move { tools.handle(request).await }
            }
        }));
        agent.run(stopped).await;
        let _ = knowledge_server.await;
        let _ = tools_server.await;
        // Providers' shutdown blocks while it flushes; off the runtime's worker threads.
        let _ = tokio::task::spawn_blocking(move || {
            agent.service.shutdown();
            tools.service.shutdown();
            knowledge.service.shutdown();
        })
        .await;
    })
}

/// Accepts HTTP/1 connections on `listener` until `stopped` turns true.
async fn serve<H, F>(listener: TcpListener, mut stopped: watch::Receiver<bool>, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    loop {
        tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let handler = handler.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let response = handler(request);
                        async move { Ok::<_, Infallible>(response.await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

/// One service's pipelines: what a real program would set up at start.
struct Service {
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
    logger_provider: LoggerProvider,
    tracer: Tracer,
    meter: Meter,
    logger: Logger,
}

impl Service {
    fn new(name: &'static str, otlp_http: SocketAddr) -> Result<Service, DemoError> {
        let resource = Resource::builder()
            .with_service_name(name)
            .with_attribute(KeyValue::new("service.namespace", "telemetry-demo"))
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .with_attribute(KeyValue::new("deployment.environment.name", "demo"))
            .build();
        let base = format!("http://{otlp_http}");
        let batch = BatchConfig {
            scheduled_delay: EXPORT_DELAY,
            ..BatchConfig::default()
        };

        let spans = HttpSpanExporter::builder()
            .endpoint(format!("{base}/v1/traces"))
            .build()?;
        let processor = BatchSpanProcessor::with_config(spans, batch)
            .map_err(|error| DemoError::Processor(error.to_string()))?;
        let tracer_provider = TracerProvider::builder()
            .with_resource(resource.clone())
            .with_span_processor(processor)
            .build();

        let metrics = HttpMetricExporter::builder()
            .endpoint(format!("{base}/v1/metrics"))
            .build()?;
        let meter_provider = MeterProvider::builder()
            .with_resource(resource.clone())
            .with_reader(
                PeriodicReader::builder(metrics)
                    .with_interval(METRIC_INTERVAL)
                    .build(),
            )
            .build();

        let logs = HttpLogExporter::builder()
            .endpoint(format!("{base}/v1/logs"))
            .build()?;
        let log_processor = telemetry_logs::BatchLogProcessor::with_config(
            logs,
            telemetry_logs::BatchConfig {
                scheduled_delay: EXPORT_DELAY,
                ..telemetry_logs::BatchConfig::default()
            },
        )
        .map_err(|error| DemoError::Processor(error.to_string()))?;
        let logger_provider = LoggerProvider::builder()
            .with_resource(resource)
            .with_processor(log_processor)
            .build();

        Ok(Service {
            tracer: tracer_provider.tracer(name),
            meter: meter_provider.meter(name),
            logger: logger_provider.logger(name),
            tracer_provider,
            meter_provider,
            logger_provider,
        })
    }

    fn log(&self, severity: Severity, body: String, attributes: Vec<KeyValue>) {
        self.logger.emit_with(severity, |record| {
            record.body = body.into();
            record.attributes.extend(attributes);
        });
    }

    fn shutdown(&self) {
        // Each reports its own failures through telemetry-core's diagnostics; at the end of
        // a demo there is nothing more useful to do with them.
        let _ = self.tracer_provider.shutdown();
        let _ = self.meter_provider.shutdown();
        let _ = self.logger_provider.shutdown();
    }
}

/// The context of an incoming request's `traceparent`, with a SERVER span started under it.
fn server_span(service: &Service, name: &str, headers: &HeaderMap) -> (Span, Context) {
    let parent = CompositePropagator::w3c().extract(&Context::new(), headers);
    let span = service
        .tracer
        .span_builder(name.to_owned())
        .with_kind(SpanKind::Server)
        .with_parent_context(parent.clone())
        .start();
    let cx = span.context_with(&parent);
    (span, cx)
}

fn respond(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

/// `knowledge`: answers lookups, from a cache most of the time.
struct Knowledge {
    service: Service,
    lookups: Counter<u64>,
    latency: Histogram<f64>,
    random: Random,
}

impl Knowledge {
    fn new(service: Service) -> Result<Knowledge, DemoError> {
        Ok(Knowledge {
            lookups: service
                .meter
                .u64_counter("knowledge.lookups")
                .with_unit("{lookup}")
                .with_description("Lookups served, by cache outcome")
                .build()?,
            latency: http_server_duration(&service.meter)?,
            random: Random::new(),
            service,
        })
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let (span, cx) = server_span(&self.service, "GET /lookup", request.headers());
        let topic = request
            .uri()
            .query()
            .and_then(|query| query.strip_prefix("topic="))
            .unwrap_or("unknown")
            .to_owned();
        let response = async {
            span.set_attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.path", "/lookup"),
                KeyValue::new("http.route", "/lookup"),
                KeyValue::new("knowledge.topic", topic.clone()),
            ]);
            let hit = self.random.chance(0.7);
            let cache = if hit { "hit" } else { "miss" };
            span.set_attribute(KeyValue::new("cache.outcome", cache));
            self.lookups
                .add(1, &[KeyValue::new("cache.outcome", cache)]);
            let delay = if hit {
                1 + self.random.below(4)
            } else {
                8 + self.random.below(25)
            };
            tokio::time::sleep(Duration::from_millis(delay)).await;
            if self.random.chance(0.02) {
                span.set_status(Status::error("index shard unavailable"));
                self.service.log(
                    Severity::ERROR,
                    format!("lookup of {topic:?} failed: index shard unavailable"),
                    vec![KeyValue::new("knowledge.topic", topic.clone())],
                );
                return respond(StatusCode::INTERNAL_SERVER_ERROR, "index shard unavailable");
            }
            if !hit {
                self.service.log(
                    Severity::DEBUG,
                    format!("cache miss for {topic:?}, read from the index in {delay} ms"),
                    vec![KeyValue::new("knowledge.topic", topic.clone())],
                );
            }
            respond(StatusCode::OK, "found")
        }
        .with_context(cx)
        .await;
        finish_server_span(&span, &self.latency, "/lookup", response.status(), started);
        response
    }
}

fn http_server_duration(meter: &Meter) -> Result<Histogram<f64>, DemoError> {
    Ok(meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_description("Duration of HTTP server requests")
        .with_boundaries(vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
        ])
        .build()?)
}

fn finish_server_span(
    span: &Span,
    latency: &Histogram<f64>,
    route: &'static str,
    status: StatusCode,
    started: Instant,
) {
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    if status.is_server_error() {
        span.set_status(Status::error(format!("HTTP {}", status.as_u16())));
    }
    latency.record(
        started.elapsed().as_secs_f64(),
        &[
            KeyValue::new("http.route", route),
            KeyValue::new("http.response.status_code", i64::from(status.as_u16())),
        ],
    );
    span.end();
}

/// `tools`: the agent's tools, one of which asks `knowledge`.
struct Tools {
    service: Service,
    client: Client<HttpConnector, Empty<Bytes>>,
    knowledge: SocketAddr,
    calls: Counter<u64>,
    latency: Histogram<f64>,
    random: Random,
}

impl Tools {
    fn new(service: Service, knowledge: SocketAddr) -> Result<Tools, DemoError> {
        Ok(Tools {
            client: Client::builder(TokioExecutor::new()).build_http(),
            knowledge,
            calls: service
                .meter
                .u64_counter("tool.calls")
                .with_unit("{call}")
                .with_description("Tool calls, by tool and outcome")
                .build()?,
            latency: http_server_duration(&service.meter)?,
            random: Random::new(),
            service,
        })
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let tool = request
            .uri()
            .path()
            .strip_prefix("/tools/")
            .unwrap_or_default()
            .to_owned();
        let (span, cx) = server_span(&self.service, "POST /tools/{tool}", request.headers());
        let response = async {
            span.set_attributes([
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("url.path", request.uri().path().to_owned()),
                KeyValue::new("http.route", "/tools/{tool}"),
                KeyValue::new("tool.name", tool.clone()),
            ]);
            let outcome = match tool.as_str() {
                "search" => self.search().await,
                "compute" => self.compute().await,
                "fetch" => {
                    tokio::time::sleep(Duration::from_millis(5 + self.random.below(40))).await;
                    Ok(())
                }
                _ => {
                    self.calls
                        .add(1, &[KeyValue::new("tool.outcome", "unknown")]);
                    return respond(StatusCode::NOT_FOUND, "no such tool");
                }
            };
            let outcome = outcome.and_then(|()| {
                if self.random.chance(0.05) {
                    Err("rate limited by the upstream API".to_owned())
                } else {
                    Ok(())
                }
            });
            match outcome {
                Ok(()) => {
                    self.calls.add(
                        1,
                        &[
                            KeyValue::new("tool.name", tool.clone()),
                            KeyValue::new("tool.outcome", "ok"),
                        ],
                    );
                    respond(StatusCode::OK, "done")
                }
                Err(reason) => {
                    self.calls.add(
                        1,
                        &[
                            KeyValue::new("tool.name", tool.clone()),
                            KeyValue::new("tool.outcome", "error"),
                        ],
                    );
                    span.record_exception("ToolError", &reason, None);
                    self.service.log(
                        Severity::WARN,
                        format!("tool {tool} failed: {reason}"),
                        vec![KeyValue::new("tool.name", tool.clone())],
                    );
                    respond(StatusCode::SERVICE_UNAVAILABLE, "tool failed")
                }
            }
        }
        .with_context(cx)
        .await;
        finish_server_span(
            &span,
            &self.latency,
            "/tools/{tool}",
            response.status(),
            started,
        );
        response
    }

    /// Asks `knowledge`, as a CLIENT span with `traceparent`.
    async fn search(&self) -> Result<(), String> {
        let topic =
            ["rust", "otlp", "w3c", "tokio", "hyper", "prost"][self.random.below(6) as usize];
        let uri = format!("http://{}/lookup?topic={topic}", self.knowledge);
        let status = call(&self.service, &self.client, Method::GET, "GET", &uri).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("knowledge answered {status}"))
        }
    }

    /// Heavy work goes to a blocking thread; the span follows it there.
    async fn compute(&self) -> Result<(), String> {
        let cx = Context::current();
        let tracer = self.service.tracer.clone();
        let rounds = 20_000 + self.random.below(200_000);
        tokio::task::spawn_blocking(move || {
            let _guard = cx.attach();
            let span = tracer.start("compute.kernel");
            span.set_attribute(KeyValue::new("compute.rounds", rounds as i64));
            let mut x = rounds;
            for i in 0..rounds {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
            }
            std::hint::black_box(x);
        })
        .await
        .map_err(|error| format!("compute thread failed: {error}"))
    }
}

/// An outgoing HTTP request as a CLIENT span under the current context, with `traceparent`.
async fn call(
    service: &Service,
    client: &Client<HttpConnector, Empty<Bytes>>,
    method: Method,
    span_name: &'static str,
    uri: &str,
) -> Result<StatusCode, String> {
    let span = service
        .tracer
        .span_builder(span_name)
        .with_kind(SpanKind::Client)
        .start();
    span.set_attributes([
        KeyValue::new("http.request.method", method.as_str().to_owned()),
        KeyValue::new("url.full", uri.to_owned()),
    ]);
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Empty::<Bytes>::new())
        .map_err(|error| format!("bad request: {error}"))?;
    let cx = span.context_with(&Context::current());
    CompositePropagator::w3c().inject(&cx, request.headers_mut());
    let result = match client.request(request).await {
        Ok(response) => {
            let status = response.status();
            // Read the body so the connection goes back to the pool.
            let _ = response.into_body().collect().await;
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status.as_u16()),
            ));
            if status.is_client_error() || status.is_server_error() {
                span.set_status(Status::error(format!("HTTP {}", status.as_u16())));
            }
            Ok(status)
        }
        Err(error) => {
            let message = format!("request failed: {error}");
            span.set_status(Status::error(message.clone()));
            Err(message)
        }
    };
    span.end();
    result
}

/// `agent`: plans tasks, splits them recursively, and calls tools at the leaves.
struct Agent {
    service: Service,
    client: Client<HttpConnector, Empty<Bytes>>,
    tools: SocketAddr,
    tasks: Counter<u64>,
    active: UpDownCounter<i64>,
    duration: Histogram<f64>,
    next_task: AtomicU64,
    random: Random,
}

const GOALS: [&str; 6] = [
    "summarize the incident",
    "plan the release",
    "triage new issues",
    "answer a customer",
    "refactor the parser",
    "write the weekly report",
];
const TOOLS: [&str; 3] = ["search", "compute", "fetch"];

impl Agent {
    fn new(service: Service, tools: SocketAddr) -> Result<Agent, DemoError> {
        Ok(Agent {
            client: Client::builder(TokioExecutor::new()).build_http(),
            tools,
            tasks: service
                .meter
                .u64_counter("agent.tasks")
                .with_unit("{task}")
                .with_description("Tasks finished, by depth and outcome")
                .build()?,
            active: service
                .meter
                .i64_up_down_counter("agent.tasks.active")
                .with_unit("{task}")
                .with_description("Tasks in progress")
                .build()?,
            duration: service
                .meter
                .f64_histogram("agent.task.duration")
                .with_unit("ms")
                .with_description("Task duration, by depth")
                .build()?,
            next_task: AtomicU64::new(1),
            random: Random::new(),
            service,
        })
    }

    /// Starts a root task every [`TASK_INTERVAL`] or so, until `stopped`; then waits for the
    /// tasks in flight.
    async fn run(self: &Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut in_flight = tokio::task::JoinSet::new();
        loop {
            let pause = TASK_INTERVAL / 2 + Duration::from_millis(self.random.below(400));
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => break,
                () = tokio::time::sleep(pause) => {}
            }
            let agent = self.clone();
            in_flight.spawn(async move { agent.root_task().await });
            // Forget the finished ones so the set stays small.
            while in_flight.try_join_next().is_some() {}
        }
        while in_flight.join_next().await.is_some() {}
    }

    async fn root_task(self: Arc<Self>) {
        let goal = GOALS[self.random.below(GOALS.len() as u64) as usize];
        let id = self.next_task.fetch_add(1, Ordering::Relaxed);
        let span = self
            .service
            .tracer
            .span_builder("agent.run")
            .as_root()
            .start();
        span.set_attributes([
            KeyValue::new("agent.goal", goal),
            KeyValue::new("agent.task.id", id as i64),
        ]);
        let cx = span.context_with(&Context::new());
        let result = async {
            self.service.log(
                Severity::INFO,
                format!("task {id}: {goal}"),
                vec![KeyValue::new("agent.task.id", id as i64)],
            );
            self.clone().task(goal, 0).await
        }
        .with_context(cx)
        .await;
        if let Err(failed) = result {
            span.set_status(Status::error(format!("{failed} subtasks failed")));
        }
        span.end();
    }

    /// One task at `depth`: split into subtasks run concurrently, or, at a leaf, a tool call.
    /// The error is how many leaves failed beneath it.
    fn task(
        self: Arc<Self>,
        goal: &'static str,
        depth: u32,
    ) -> Pin<Box<dyn Future<Output = Result<(), u64>> + Send>> {
        Box::pin(async move {
            let started = Instant::now();
            let name = if depth == 0 {
                "agent.plan"
            } else {
                "agent.subtask"
            };
            let span = self.service.tracer.start(name);
            span.set_attribute(KeyValue::new("agent.depth", i64::from(depth)));
            let cx = span.context_with(&Context::current());
            self.active.add(1, &[]);
            let split = depth < MAX_DEPTH && (depth == 0 || self.random.chance(0.6));
            let result = async {
                if split {
                    let parts = 2 + self.random.below(2);
                    span.set_attribute(KeyValue::new("agent.subtasks", parts as i64));
                    if depth == 0 {
                        self.service.log(
                            Severity::DEBUG,
                            format!("split {goal:?} into {parts} subtasks"),
                            vec![KeyValue::new("agent.depth", i64::from(depth))],
                        );
                    }
                    let mut children = tokio::task::JoinSet::new();
                    for _ in 0..parts {
                        let child = self.clone().task(goal, depth + 1);
                        children.spawn(child.with_context(Context::current()));
                    }
                    let mut failed = 0;
                    while let Some(joined) = children.join_next().await {
                        match joined {
                            Ok(Ok(())) => {}
                            Ok(Err(leaves)) => failed += leaves,
                            Err(_) => failed += 1,
                        }
                    }
                    if failed > 0 {
                        span.add_event(
                            "subtasks.failed",
                            vec![KeyValue::new("count", failed as i64)],
                        );
                        Err(failed)
                    } else {
                        Ok(())
                    }
                } else {
                    self.leaf().await
                }
            }
            .with_context(cx)
            .await;
            let outcome = if result.is_ok() { "ok" } else { "error" };
            if let Err(failed) = result {
                span.set_status(Status::error(format!("{failed} tool calls failed")));
            }
            self.active.add(-1, &[]);
            let depth_attribute = KeyValue::new("agent.depth", i64::from(depth));
            self.tasks.add(
                1,
                &[
                    depth_attribute.clone(),
                    KeyValue::new("agent.outcome", outcome),
                ],
            );
            self.duration
                .record(started.elapsed().as_secs_f64() * 1e3, &[depth_attribute]);
            span.end();
            result
        })
    }

    async fn leaf(&self) -> Result<(), u64> {
        let tool = TOOLS[self.random.below(TOOLS.len() as u64) as usize];
        let uri = format!("http://{}/tools/{tool}", self.tools);
        match call(&self.service, &self.client, Method::POST, "POST", &uri).await {
            Ok(status) if status.is_success() => Ok(()),
            Ok(status) => {
                self.service.log(
                    Severity::WARN,
                    format!("tool {tool} answered {status}; giving up on this subtask"),
                    vec![KeyValue::new("tool.name", tool)],
                );
                Err(1)
            }
            Err(error) => {
                self.service.log(
                    Severity::ERROR,
                    format!("tool {tool} unreachable: {error}"),
                    vec![KeyValue::new("tool.name", tool)],
                );
                Err(1)
            }
        }
    }
}

/// A small shared pseudo-random source for the workload's choices (xorshift64*), seeded
/// from the clock: the demo needs variety, not statistical quality.
struct Random(AtomicU64);

impl Random {
    fn new() -> Random {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |since| since.as_nanos() as u64);
        Random(AtomicU64::new(seed | 1))
    }

    fn next(&self) -> u64 {
        let mut x = self.0.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        // Racing threads may draw the same number now and then; harmless here.
        self.0.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..bound` (`bound` > 0).
    fn below(&self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    fn chance(&self, probability: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < probability
    }
}
