//! A service in the shape the W3C Trace Context test suite drives.
//!
//! `cargo run --example w3c_service -- --port 5000` listens on 127.0.0.1:5000. On
//! `POST /test` with a JSON array of `{"url": ..., "arguments": ...}` it extracts the
//! incoming context, and for each element makes a new child span id, POSTs `arguments` as
//! JSON to `url` carrying the propagated `traceparent`, `tracestate` and `baggage`, and
//! answers 200 once every callback has returned.
//!
//! Without a valid incoming `traceparent` it starts a new trace (random trace id, sampled,
//! `random` flag set). `--port 0` picks a free port; the first line on stdout names the
//! address. `--exit-on-stdin-eof` stops the service when its standard input closes, so a
//! test that spawns it never leaves it running.
#![allow(clippy::print_stdout)]

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use telemetry_context::{
    CompositePropagator, Context, SpanContext, TextMapPropagator, TraceFlags, TraceState,
};
use telemetry_core::{SpanId, TraceId};

/// Largest request body accepted.
const MAX_BODY: usize = 1 << 20;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Options {
    port: u16,
    exit_on_stdin_eof: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        port: 5000,
        exit_on_stdin_eof: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().ok_or("--port needs a value")?;
                options.port = value
                    .parse()
                    .map_err(|_| format!("invalid port {value:?}"))?;
            }
            "--exit-on-stdin-eof" => options.exit_on_stdin_eof = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: w3c_service [--port N] [--exit-on-stdin-eof]"
                ));
            }
        }
    }
    Ok(options)
}

/// The context for outgoing calls: the incoming one, or a new sampled trace.
fn parent_for_outgoing(incoming: &Context) -> SpanContext {
    match incoming.span_context().filter(|sc| sc.is_valid()) {
        Some(remote) => remote.clone(),
        None => SpanContext::new(
            TraceId::random(),
            SpanId::random(),
            TraceFlags::SAMPLED | TraceFlags::RANDOM,
            false,
            TraceState::EMPTY,
        ),
    }
}

async fn call_back(
    client: &HttpClient,
    cx: &Context,
    url: &str,
    arguments: &serde_json::Value,
) -> Result<(), String> {
    let body = serde_json::to_vec(arguments).map_err(|e| e.to_string())?;
    let mut request = Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("bad callback url {url:?}: {e}"))?;
    CompositePropagator::w3c().inject(cx, request.headers_mut());
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("callback to {url} failed: {e}"))?;
    // Drain the body so the connection can be reused.
    let _ = response.into_body().collect().await;
    Ok(())
}

async fn handle_test(client: HttpClient, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let incoming = CompositePropagator::w3c().extract(&Context::new(), request.headers());
    let body = match http_body_util::Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body rejected: {error}"),
            );
        }
    };
    let calls: Vec<serde_json::Value> = match serde_json::from_slice(&body) {
        Ok(serde_json::Value::Array(calls)) => calls,
        Ok(_) => return reply(StatusCode::BAD_REQUEST, "expected a JSON array".into()),
        Err(error) => return reply(StatusCode::BAD_REQUEST, format!("invalid JSON: {error}")),
    };
    let parent = parent_for_outgoing(&incoming);
    for call in &calls {
        let Some(url) = call.get("url").and_then(serde_json::Value::as_str) else {
            return reply(
                StatusCode::BAD_REQUEST,
                "each element needs a string \"url\"".into(),
            );
        };
        let arguments = call
            .get("arguments")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        // Each outgoing call is its own child span: same trace, new span id.
        let child = SpanContext::new(
            parent.trace_id(),
            SpanId::random(),
            parent.flags(),
            false,
            parent.trace_state().clone(),
        );
        let cx = incoming.with_span_context(child);
        if let Err(error) = call_back(&client, &cx, url, &arguments).await {
            return reply(StatusCode::BAD_GATEWAY, error);
        }
    }
    reply(StatusCode::OK, String::new())
}

fn reply(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message)));
    *response.status_mut() = status;
    response
}

async fn route(
    client: HttpClient,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match (request.method(), request.uri().path()) {
        (&Method::POST, "/test") => handle_test(client, request).await,
        (_, "/test") => reply(StatusCode::METHOD_NOT_ALLOWED, "use POST".into()),
        _ => reply(StatusCode::NOT_FOUND, "not found".into()),
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port))).await?;
        println!("listening on http://{}", listener.local_addr()?);
        std::io::stdout().flush()?;
        if options.exit_on_stdin_eof {
            std::thread::spawn(|| {
                let mut sink = [0u8; 64];
                while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
                std::process::exit(0);
            });
        }
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        loop {
            let (stream, _) = listener.accept().await?;
            let client = client.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| route(client.clone(), request));
                if let Err(error) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    eprintln!("connection error: {error}");
                }
            });
        }
    })
}
