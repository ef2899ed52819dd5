//! Two services in two processes, one trace across both.
//!
//! `cargo run -p telemetry --example http_services` starts the front; the front starts the
//! back by running this same program again with the argument `backend`. The back listens on
//! an ephemeral port of 127.0.0.1 and says which on its standard output; the front calls it
//! with hyper through [`HttpClientLayer`], which starts a CLIENT span and injects
//! `traceparent`; the back's [`HttpServerLayer`] extracts it and starts a SERVER span in the
//! same trace. Both print the trace id they see; the front checks that they agree.
#![allow(
    clippy::print_stdout,
    reason = "an example reports to its user on stdout"
)]

use std::borrow::Cow;
use std::convert::Infallible;
use std::error::Error;
use std::future::{Ready, poll_fn, ready};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use telemetry::http::{HttpClientLayer, HttpRoute, HttpServerLayer};
use telemetry::prelude::*;
use telemetry::{ExporterKind, TelemetryBuilder};
use tower_layer::Layer;
use tower_service::Service;

/// How long the back waits for the front's request before giving up.
const BACKEND_DEADLINE: Duration = Duration::from_secs(20);

fn main() -> Result<(), Box<dyn Error>> {
    let backend = std::env::args().nth(1).as_deref() == Some("backend");
    let service = if backend { "backend" } else { "frontend" };
    let _guard = TelemetryBuilder::from_env()
        .with_service_name(service)
        .with_traces_exporters([ExporterKind::Console])
        .with_metrics_exporters([])
        .with_logs_exporters([])
        .init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if backend {
        runtime.block_on(run_backend())
    } else {
        runtime.block_on(run_frontend())
    }
}

/// The back: answers one request with the trace id of its server span, then exits.
async fn run_backend() -> Result<(), Box<dyn Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("backend listening port={}", listener.local_addr()?.port());
    let (stream, _) = tokio::time::timeout(BACKEND_DEADLINE, listener.accept()).await??;
    let service = TowerToHyperService::new(HttpServerLayer::new().layer(Backend));
    hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await?;
    Ok(())
}

/// The back's handler: runs with the server span current.
#[derive(Clone, Copy)]
struct Backend;

impl Service<Request<Incoming>> for Backend {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let work = telemetry::start_span("backend.lookup", None);
        let trace_id = work.span_context().trace_id().to_string();
        println!(
            "backend trace_id={trace_id} path={} traceparent={}",
            request.uri().path(),
            request
                .headers()
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
        );
        let mut response = Response::new(Full::new(Bytes::from(trace_id)));
        // The route the handler matched names the server span (`GET /inventory`); without
        // one the span would be named after the method alone.
        response
            .extensions_mut()
            .insert(HttpRoute(Cow::Borrowed("/inventory")));
        ready(Ok(response))
    }
}

/// The front: starts the back, calls it once inside its own span, compares trace ids.
async fn run_frontend() -> Result<(), Box<dyn Error>> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("backend")
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("the backend has no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let port: u16 = loop {
        let line = lines
            .next()
            .ok_or("the backend exited before listening")??;
        if let Some(port) = line.strip_prefix("backend listening port=") {
            break port.parse()?;
        }
    };

    let root = telemetry::start_span("frontend.checkout", None);
    let front_trace_id = root.span_context().trace_id().to_string();
    println!("frontend trace_id={front_trace_id}");
    let call = async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let mut client = HttpClientLayer::new().layer(client);
        let request =
            Request::get(format!("http://127.0.0.1:{port}/inventory")).body(Empty::new())?;
        poll_fn(|cx| client.poll_ready(cx)).await?;
        let response = client.call(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok::<_, Box<dyn Error>>((status, String::from_utf8_lossy(&body).into_owned()))
    };
    let (status, back_trace_id) = call
        .with_context(root.context_with(&Context::current()))
        .await?;
    drop(root);
    println!("frontend got status={status} backend_trace_id={back_trace_id}");

    // The back's own output, after its span lines are flushed at exit.
    for line in lines {
        println!("  [backend] {}", line?);
    }
    let exit = child.wait()?;
    let same = back_trace_id == front_trace_id;
    println!("same trace: {same} (backend exit: {exit})");
    if !same || !exit.success() {
        return Err("the two services did not share one trace".into());
    }
    Ok(())
}
