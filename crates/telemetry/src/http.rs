//! HTTP propagation: the context in and out of `http::Request` headers, and tower layers
//! that give every request a server or client span with the HTTP semantic conventions.
//!
//! The layers work with anything built on tower's `Service` and the `http` crate's types:
//! hyper (through `hyper_util::service::TowerToHyperService`), axum, tonic, and clients such
//! as `hyper_util::client::legacy::Client`. They use the installed pipeline
//! ([`global`](crate::global)): its tracer provider and its propagator. Clients that are not
//! tower services (reqwest) call [`inject_current_context`] on the request's headers inside
//! a span of their own.
//!
//! Span names: `{method} {route}` on servers, where the route is an [`HttpRoute`] extension
//! (on the request, put there by an outer layer, or on the response, put there by the
//! handler), and `{method}` alone when there is none (the path would make one name per
//! URL, and names must have low cardinality); `{method}` on clients.
//!
//! Query strings (`url.query` on servers, the query of `url.full` on clients) keep their
//! keys, but the value of every key that looks like a credential is replaced by `REDACTED`,
//! as the semantic conventions recommend: a key is sensitive when, ignoring ASCII case, it
//! contains `token`, `key`, `password`, `passwd`, `pwd`, `secret`, `sig` (so `signature`),
//! `auth`, `credential` or `session`, which covers the conventions' own list
//! (`AWSAccessKeyId`, `Signature`, `sig`, `X-Goog-Signature`). Status: a 5xx
//! response marks a server span ERROR; a 4xx or 5xx marks a client span ERROR; an `Err` from
//! the inner service marks either ERROR with `error.type`; the rest stay UNSET.

use std::any::type_name;
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http::{HeaderMap, Method, Request, Response, Uri, Version};
use pin_project_lite::pin_project;
use telemetry_context::{Context, FutureExt, TextMapPropagator, WithContext};
use telemetry_core::{KeyValue, Value};
use telemetry_span::{Span, SpanKind, Status};
use tower_layer::Layer;
use tower_service::Service;

/// The instrumentation scope of the layers' spans.
pub const HTTP_SCOPE: &str = "telemetry.http";

/// The low-cardinality route of a request (`/users/{id}`), for span names and `http.route`.
/// Put it in the request's or the response's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRoute(pub Cow<'static, str>);

/// The context the headers carry (trace context and baggage, per `OTEL_PROPAGATORS`), on top
/// of the current one. Invalid headers are ignored: the current context comes back.
///
/// ```
/// let request = http::Request::builder()
///     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
///     .body(())?;
/// let cx = telemetry::http::extract_context(request.headers());
/// let parent = cx.span_context().map(|sc| sc.trace_id().to_string());
/// assert_eq!(parent.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn extract_context(headers: &HeaderMap) -> Context {
    crate::global()
        .propagator()
        .extract(&Context::current(), headers)
}

/// Writes `cx`'s trace context and baggage into `headers`, per `OTEL_PROPAGATORS`.
///
/// ```
/// use telemetry::prelude::*;
///
/// let span = telemetry::start_span("outgoing", None);
/// let mut request = http::Request::builder().uri("http://127.0.0.1/").body(())?;
/// telemetry::http::inject_context(&span.context_with(&Context::current()), request.headers_mut());
/// // Without an installed pipeline the span does not record, but its context still travels.
/// assert!(request.headers().contains_key("traceparent"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn inject_context(cx: &Context, headers: &mut HeaderMap) {
    crate::global().propagator().inject(cx, headers);
}

/// [`inject_context`] with the current context.
pub fn inject_current_context(headers: &mut HeaderMap) {
    inject_context(&Context::current(), headers);
}

/// Wraps a server's service: each request gets a SERVER span, child of the context its
/// headers carry, current while the inner service handles it.
///
/// ```
/// use std::convert::Infallible;
/// use std::future::{Ready, ready};
/// use std::task::{Context, Poll};
/// use telemetry::http::HttpServerLayer;
/// use tower_layer::Layer;
/// use tower_service::Service;
///
/// #[derive(Clone)]
/// struct Hello;
///
/// impl Service<http::Request<String>> for Hello {
///     type Response = http::Response<String>;
///     type Error = Infallible;
///     type Future = Ready<Result<Self::Response, Infallible>>;
///     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
///         Poll::Ready(Ok(()))
///     }
///     fn call(&mut self, _: http::Request<String>) -> Self::Future {
///         // The server span is current here.
///         assert!(telemetry::get_current_span().is_some());
///         ready(Ok(http::Response::new("hello".to_owned())))
///     }
/// }
///
/// let mut service = HttpServerLayer::new().layer(Hello);
/// let request = http::Request::builder().uri("/hello").body(String::new())?;
/// let response = futures::executor::block_on(service.call(request))?;
/// assert_eq!(response.body(), "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpServerLayer {
    _private: (),
}

impl HttpServerLayer {
    /// The layer.
    pub fn new() -> Self {
        HttpServerLayer::default()
    }
}

impl<S> Layer<S> for HttpServerLayer {
    type Service = HttpServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpServerService { inner }
    }
}

/// The service [`HttpServerLayer`] makes.
#[derive(Clone, Debug)]
pub struct HttpServerService<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for HttpServerService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = HttpFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let parent = extract_context(request.headers());
        let (method, original) = method_name(request.method());
        let route = request.extensions().get::<HttpRoute>().cloned();
        let uri = request.uri();
        let name = match &route {
            Some(route) => format!("{} {}", span_method(method), route.0),
            None => span_method(method).to_owned(),
        };
        let mut attributes = vec![
            KeyValue::new("http.request.method", method),
            KeyValue::new("url.path", uri.path().to_owned()),
            KeyValue::new("url.scheme", uri.scheme_str().unwrap_or("http").to_owned()),
            KeyValue::new(
                "network.protocol.version",
                protocol_version(request.version()),
            ),
        ];
        if let Some(original) = original {
            attributes.push(KeyValue::new("http.request.method_original", original));
        }
        if let Some(query) = uri.query() {
            attributes.push(KeyValue::new("url.query", redact_query(query).into_owned()));
        }
        if let Some(route) = route {
            attributes.push(KeyValue::new("http.route", Value::String(route.0.into())));
        }
        if let Some((host, port)) = server_address(uri, request.headers()) {
            attributes.push(KeyValue::new("server.address", host));
            if let Some(port) = port {
                attributes.push(KeyValue::new("server.port", i64::from(port)));
            }
        }
        let span = telemetry_span::global::with_tracer(HTTP_SCOPE, |tracer| {
            tracer
                .span_builder(name)
                .with_kind(SpanKind::Server)
                .with_parent_context(parent.clone())
                .with_attributes(attributes)
                .start()
        });
        start(
            &mut self.inner,
            request,
            span,
            &parent,
            SpanKind::Server,
            method,
        )
    }
}

/// Wraps a client: each request gets a CLIENT span, child of the current context, whose
/// context is injected into the request's headers.
///
/// ```
/// use std::convert::Infallible;
/// use std::future::{Ready, ready};
/// use std::task::{Context, Poll};
/// use telemetry::http::HttpClientLayer;
/// use tower_layer::Layer;
/// use tower_service::Service;
///
/// /// A stand-in for a real client: answers with the traceparent it was sent.
/// struct Echo;
///
/// impl Service<http::Request<()>> for Echo {
///     type Response = http::Response<String>;
///     type Error = Infallible;
///     type Future = Ready<Result<Self::Response, Infallible>>;
///     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
///         Poll::Ready(Ok(()))
///     }
///     fn call(&mut self, request: http::Request<()>) -> Self::Future {
///         let sent = request.headers().get("traceparent").and_then(|v| v.to_str().ok());
///         ready(Ok(http::Response::new(sent.unwrap_or_default().to_owned())))
///     }
/// }
///
/// let mut client = HttpClientLayer::new().layer(Echo);
/// let request = http::Request::builder().uri("http://127.0.0.1:8080/items").body(())?;
/// let response = futures::executor::block_on(client.call(request))?;
/// assert!(response.body().starts_with("00-"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpClientLayer {
    _private: (),
}

impl HttpClientLayer {
    /// The layer.
    pub fn new() -> Self {
        HttpClientLayer::default()
    }
}

impl<S> Layer<S> for HttpClientLayer {
    type Service = HttpClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpClientService { inner }
    }
}

/// The service [`HttpClientLayer`] makes.
#[derive(Clone, Debug)]
pub struct HttpClientService<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for HttpClientService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = HttpFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let parent = Context::current();
        let (method, original) = method_name(request.method());
        let uri = request.uri();
        let mut attributes = vec![
            KeyValue::new("http.request.method", method),
            KeyValue::new("url.full", full_url(uri)),
            KeyValue::new(
                "network.protocol.version",
                protocol_version(request.version()),
            ),
        ];
        if let Some(original) = original {
            attributes.push(KeyValue::new("http.request.method_original", original));
        }
        if let Some((host, port)) = server_address(uri, request.headers()) {
            attributes.push(KeyValue::new("server.address", host));
            let default_port = match uri.scheme_str() {
                Some("https") => Some(443),
                Some("http") => Some(80),
                _ => None,
            };
            if let Some(port) = port.or(default_port) {
                attributes.push(KeyValue::new("server.port", i64::from(port)));
            }
        }
        let span = telemetry_span::global::with_tracer(HTTP_SCOPE, |tracer| {
            tracer
                .span_builder(span_method(method))
                .with_kind(SpanKind::Client)
                .with_attributes(attributes)
                .start()
        });
        inject_context(&span.context_with(&parent), request.headers_mut());
        start(
            &mut self.inner,
            request,
            span,
            &parent,
            SpanKind::Client,
            method,
        )
    }
}

/// Calls `inner` with `span` current, and wraps its future so the span stays current on
/// every poll and ends with the response.
fn start<S, B, R>(
    inner: &mut S,
    request: Request<B>,
    span: Span,
    parent: &Context,
    kind: SpanKind,
    method: &'static str,
) -> HttpFuture<S::Future>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    let cx = span.context_with(parent);
    let future = {
        let _current = cx.clone().attach();
        inner.call(request)
    };
    HttpFuture {
        inner: future.with_context(cx),
        span: Some(span),
        kind,
        method,
    }
}

pin_project! {
    /// The response future of the HTTP layers' services: the inner future with the span
    /// current while it runs; the span ends when it completes (or is dropped, for a
    /// cancelled request, which is not an error).
    pub struct HttpFuture<F> {
        #[pin]
        inner: WithContext<F>,
        span: Option<Span>,
        kind: SpanKind,
        method: &'static str,
    }
}

impl<F> std::fmt::Debug for HttpFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFuture")
            .field("span", &self.span)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<F, R, E> Future for HttpFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = ready!(this.inner.poll(cx));
        if let Some(span) = this.span.take() {
            finish(&span, *this.kind, this.method, &output);
        }
        Poll::Ready(output)
    }
}

/// Records the outcome on the span (which then ends as it drops).
fn finish<R, E>(
    span: &Span,
    kind: SpanKind,
    method: &'static str,
    output: &Result<Response<R>, E>,
) {
    match output {
        Ok(response) => {
            let status = response.status().as_u16();
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            if kind == SpanKind::Server
                && let Some(route) = response.extensions().get::<HttpRoute>()
            {
                // The handler knew the route only once it matched: rename the span after it.
                span.update_name(format!("{} {}", span_method(method), route.0));
                span.set_attribute(KeyValue::new(
                    "http.route",
                    Value::String(route.0.clone().into()),
                ));
            }
            let error = match kind {
                SpanKind::Client => status >= 400,
                _ => status >= 500,
            };
            if error {
                span.set_attribute(KeyValue::new("error.type", status.to_string()));
                // No description: the status code says it (semantic conventions).
                span.set_status(Status::error(""));
            }
        }
        Err(_) => {
            span.set_attribute(KeyValue::new("error.type", type_name::<E>()));
            span.set_status(Status::error(""));
        }
    }
}

/// The method as the semantic conventions want it, and the original when it is not a
/// known one (`_OTHER`).
fn method_name(method: &Method) -> (&'static str, Option<String>) {
    let known = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ if method.as_str() == "QUERY" => "QUERY",
        _ => return ("_OTHER", Some(method.as_str().to_owned())),
    };
    (known, None)
}

/// `HTTP` stands for an unknown method in span names.
fn span_method(method: &'static str) -> &'static str {
    if method == "_OTHER" { "HTTP" } else { method }
}

fn protocol_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// The host and port from the URI's authority, else from the `Host` header.
fn server_address(uri: &Uri, headers: &HeaderMap) -> Option<(String, Option<u16>)> {
    if let Some(host) = uri.host() {
        return Some((host.to_owned(), uri.port_u16()));
    }
    let host = headers.get(http::header::HOST)?.to_str().ok()?;
    let authority: http::uri::Authority = host.parse().ok()?;
    Some((authority.host().to_owned(), authority.port_u16()))
}

/// The URL without any user information, which must not be recorded, and with the values
/// of sensitive query keys redacted.
fn full_url(uri: &Uri) -> String {
    // As `Uri`'s Display writes it, minus the user information, plus the redaction.
    let mut url = String::new();
    if let Some(scheme) = uri.scheme_str() {
        url.push_str(scheme);
        url.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        let host_port = authority
            .as_str()
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, rest)| rest);
        url.push_str(host_port);
    }
    url.push_str(uri.path());
    if let Some(query) = uri.query() {
        url.push('?');
        url.push_str(&redact_query(query));
    }
    url
}

/// The parts of a query key that mark its value as a credential (see the module docs).
const SENSITIVE_KEY_PARTS: [&str; 10] = [
    "token",
    "key",
    "password",
    "passwd",
    "pwd",
    "secret",
    "sig",
    "auth",
    "credential",
    "session",
];

/// The value that stands for a redacted one, as the semantic conventions name it.
const REDACTED: &str = "REDACTED";

/// Whether the values of query key `key` must not be recorded.
fn is_sensitive_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SENSITIVE_KEY_PARTS.iter().any(|part| key.contains(part))
}

/// `query` with the value of each sensitive key replaced by `REDACTED`; keys, other values,
/// separators and order stay as they were. Borrowed when nothing needs redacting.
fn redact_query(query: &str) -> Cow<'_, str> {
    let sensitive = |pair: &str| {
        pair.split_once('=')
            .is_some_and(|(key, _)| is_sensitive_key(key))
    };
    if !query.split('&').any(sensitive) {
        return Cow::Borrowed(query);
    }
    let mut redacted = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            redacted.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if is_sensitive_key(key) => {
                redacted.push_str(key);
                redacted.push('=');
                redacted.push_str(REDACTED);
            }
            _ => redacted.push_str(pair),
        }
    }
    Cow::Owned(redacted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_follow_the_semantic_conventions() {
        assert_eq!(method_name(&Method::GET), ("GET", None));
        let custom = Method::from_bytes(b"PURGE").map_err(|e| e.to_string());
        let custom = custom.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(method_name(&custom), ("_OTHER", Some("PURGE".to_owned())));
        assert_eq!(span_method("_OTHER"), "HTTP");
        assert_eq!(protocol_version(Version::HTTP_2), "2");
    }

    #[test]
    fn addresses_come_from_the_uri_or_the_host_header() {
        let uri: Uri = "http://user:secret@example.com:8080/a?b=c"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(full_url(&uri), "http://example.com:8080/a?b=c");
        let signed: Uri = "https://bucket.example.com/obj?X-Goog-Signature=abc&v=1"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            full_url(&signed),
            "https://bucket.example.com/obj?X-Goog-Signature=REDACTED&v=1"
        );
        let relative: Uri = "/a?token=t".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(full_url(&relative), "/a?token=REDACTED");
        assert_eq!(
            server_address(&uri, &HeaderMap::new()),
            Some(("example.com".to_owned(), Some(8080)))
        );
        let path_only: Uri = "/a".parse().unwrap_or_else(|e| panic!("{e}"));
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, http::HeaderValue::from_static("svc:81"));
        assert_eq!(
            server_address(&path_only, &headers),
            Some(("svc".to_owned(), Some(81)))
        );
        assert_eq!(server_address(&path_only, &HeaderMap::new()), None);
    }

    #[test]
    fn sensitive_query_values_are_redacted_and_keys_kept() {
        assert_eq!(redact_query("page=2&sort=asc"), "page=2&sort=asc");
        assert!(matches!(redact_query("page=2"), Cow::Borrowed(_)));
        assert_eq!(
            redact_query("access_token=abc&page=2&API_KEY=k&password=p&sig=s"),
            "access_token=REDACTED&page=2&API_KEY=REDACTED&password=REDACTED&sig=REDACTED"
        );
        assert_eq!(
            redact_query("AWSAccessKeyId=id&Signature=s&secret=&flag"),
            "AWSAccessKeyId=REDACTED&Signature=REDACTED&secret=REDACTED&flag"
        );
        // A value that merely contains a sensitive word is not a sensitive key.
        assert_eq!(redact_query("q=token"), "q=token");
        assert_eq!(redact_query(""), "");
    }
}
