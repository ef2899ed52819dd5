//! The tower layers end to end over real HTTP on 127.0.0.1: a hyper server behind
//! `HttpServerLayer`, a hyper client behind `HttpClientLayer`, one process, one installed
//! pipeline (hence this file of its own).

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::{Ready, poll_fn, ready};
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use telemetry::Value;
use telemetry::http::{HttpClientLayer, HttpRoute, HttpServerLayer};
use telemetry::prelude::*;
use telemetry::span::{InMemorySpanExporter, SpanData};
use tower_layer::Layer;
use tower_service::Service;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Answers by path, with the current span's id in `x-span-id`.
#[derive(Clone, Copy)]
struct Handler;

impl Service<Request<Incoming>> for Handler {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let current = telemetry::get_current_span()
            .map(|span| span.span_context().span_id().to_string())
            .unwrap_or_default();
        let (status, route) = match request.uri().path() {
            "/items/7" => (StatusCode::OK, Some("/items/{id}")),
            "/boom" => (StatusCode::INTERNAL_SERVER_ERROR, None),
            _ => (StatusCode::NOT_FOUND, None),
        };
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = status;
        if let Ok(value) = http::HeaderValue::from_str(&current) {
            response.headers_mut().insert("x-span-id", value);
        }
        if let Some(route) = route {
            response
                .extensions_mut()
                .insert(HttpRoute(Cow::Borrowed(route)));
        }
        ready(Ok(response))
    }
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

#[test]
fn server_and_client_spans_join_one_trace_with_http_attributes_and_status() -> TestResult {
    let spans = InMemorySpanExporter::new();
    let telemetry = Telemetry::builder()
        .with_exporters([])
        .with_span_exporter(spans.clone())
        .build()?;
    let _installed = telemetry.install();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let port = listener.local_addr()?.port();
    let server = runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = TowerToHyperService::new(HttpServerLayer::new().layer(Handler));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let root = telemetry.start_span("test.root", None);
    let cx = root.context_with(&Context::current());
    let answers = runtime.block_on(
        async move {
            let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
            let mut client = HttpClientLayer::new().layer(client);
            let mut answers = Vec::new();
            for path in ["/items/7", "/nothing", "/boom"] {
                // A credential in the query: recorded with its key, never its value.
                let request = Request::get(format!(
                    "http://127.0.0.1:{port}{path}?page=2&access_token=abc"
                ))
                .body(Empty::new())?;
                poll_fn(|cx| client.poll_ready(cx)).await?;
                let response = client.call(request).await?;
                let span_id = response
                    .headers()
                    .get("x-span-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let status = response.status();
                response.into_body().collect().await?;
                answers.push((path, status, span_id));
            }
            Ok::<_, Box<dyn std::error::Error>>(answers)
        }
        .with_context(cx),
    )?;
    server.abort();
    drop(root);
    drop(runtime);
    telemetry.force_flush()?;

    let finished = spans.finished_spans();
    let root = finished
        .iter()
        .find(|s| s.name.as_str() == "test.root")
        .ok_or("no root span")?;
    let trace_id = root.span_context.trace_id();
    let clients: Vec<&SpanData> = finished
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .collect();
    let servers: Vec<&SpanData> = finished
        .iter()
        .filter(|s| s.kind == SpanKind::Server)
        .collect();
    assert_eq!((clients.len(), servers.len()), (3, 3), "{finished:#?}");

    for (path, status, handler_span) in answers {
        let server = servers
            .iter()
            .find(|s| attribute(s, "url.path").and_then(Value::as_str) == Some(path))
            .ok_or_else(|| format!("no server span for {path}"))?;
        let client = clients
            .iter()
            .find(|c| c.span_context.span_id() == server.parent_span_id)
            .ok_or_else(|| format!("the server span of {path} has no client parent"))?;
        // One trace: root -> client (this process's context) -> server (remote parent).
        assert_eq!(client.parent_span_id, root.span_context.span_id());
        assert_eq!(client.span_context.trace_id(), trace_id);
        assert_eq!(server.span_context.trace_id(), trace_id);
        assert!(server.parent_is_remote);
        // The server span was current while the handler ran.
        assert_eq!(handler_span, server.span_context.span_id().to_string());

        let code = i64::from(status.as_u16());
        for span in [client, *server] {
            assert_eq!(
                attribute(span, "http.response.status_code").and_then(Value::as_i64),
                Some(code)
            );
            assert_eq!(
                attribute(span, "http.request.method").and_then(Value::as_str),
                Some("GET")
            );
            assert_eq!(
                attribute(span, "server.address").and_then(Value::as_str),
                Some("127.0.0.1")
            );
            assert_eq!(
                attribute(span, "server.port").and_then(Value::as_i64),
                Some(i64::from(port))
            );
            assert_eq!(
                attribute(span, "network.protocol.version").and_then(Value::as_str),
                Some("1.1")
            );
        }
        assert_eq!(client.name.as_str(), "GET");
        assert_eq!(
            attribute(client, "url.full").and_then(Value::as_str),
            Some(format!("http://127.0.0.1:{port}{path}?page=2&access_token=REDACTED").as_str())
        );
        assert_eq!(
            attribute(server, "url.query").and_then(Value::as_str),
            Some("page=2&access_token=REDACTED")
        );
        assert_eq!(
            attribute(server, "url.scheme").and_then(Value::as_str),
            Some("http")
        );
        match code {
            200 => {
                assert_eq!(server.name.as_str(), "GET /items/{id}");
                assert_eq!(
                    attribute(server, "http.route").and_then(Value::as_str),
                    Some("/items/{id}")
                );
                assert_eq!(client.status, Status::Unset);
                assert_eq!(server.status, Status::Unset);
            }
            404 => {
                // No route known: the method alone, never the (unbounded) path.
                assert_eq!(server.name.as_str(), "GET");
                assert!(attribute(server, "http.route").is_none());
                // 4xx: the client's error, not the server's.
                assert_eq!(client.status, Status::error(""));
                assert_eq!(server.status, Status::Unset);
                assert_eq!(
                    attribute(client, "error.type").and_then(Value::as_str),
                    Some("404")
                );
                assert!(attribute(server, "error.type").is_none());
            }
            500 => {
                assert_eq!(server.name.as_str(), "GET");
                assert_eq!(client.status, Status::error(""));
                assert_eq!(server.status, Status::error(""));
                assert_eq!(
                    attribute(server, "error.type").and_then(Value::as_str),
                    Some("500")
                );
            }
            other => return Err(format!("unexpected status {other}").into()),
        }
    }
    Ok(())
}
