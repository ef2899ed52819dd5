//! The `/metrics` endpoint: HTTP/1.1 on its own thread, driven by a current-thread tokio
//! runtime that the thread owns, so the caller needs no runtime and a caller inside one
//! cannot deadlock it.

use std::convert::Infallible;
use std::fmt;
use std::io::{self, Write as _};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};

use crate::exporter::{Format, PrometheusExporter, accepts_gzip};

/// The path the server answers on unless configured otherwise.
pub const DEFAULT_PATH: &str = "/metrics";
/// How many connections the server serves at once unless configured otherwise; later ones
/// are closed on accept, so memory stays bounded whatever clients do.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// A client that has not sent its request headers within this time is disconnected.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong starting or stopping a [`PrometheusServer`].
#[derive(Debug)]
pub struct ServerError {
    kind: ServerErrorKind,
    source: Option<io::Error>,
}

/// The kinds of [`ServerError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerErrorKind {
    /// The address could not be bound (in use, not local, no permission).
    Bind,
    /// The runtime or the server thread could not be started.
    Start,
    /// The server thread panicked.
    ThreadPanicked,
}

impl ServerError {
    /// What went wrong.
    pub fn kind(&self) -> ServerErrorKind {
        self.kind
    }

    fn io(kind: ServerErrorKind, source: io::Error) -> Self {
        ServerError {
            kind,
            source: Some(source),
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            ServerErrorKind::Bind => "binding the Prometheus endpoint's address failed",
            ServerErrorKind::Start => "starting the Prometheus endpoint's thread failed",
            ServerErrorKind::ThreadPanicked => "the Prometheus endpoint's thread panicked",
        })
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A small HTTP server exposing a [`PrometheusExporter`] on `GET /metrics`.
///
/// It answers 404 on other paths and 405 for other methods, negotiates the format from
/// `Accept` ([`Format::negotiate`]) and gzips the body when `Accept-Encoding` allows. It runs
/// on its own thread until [`shutdown`](PrometheusServer::shutdown) or drop. Collections
/// run on that thread one at a time, so observable callbacks never run concurrently with
/// themselves because of overlapping scrapes.
#[derive(Debug)]
pub struct PrometheusServer {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Configures a [`PrometheusServer`].
#[derive(Debug)]
pub struct PrometheusServerBuilder {
    exporter: PrometheusExporter,
    path: String,
    max_connections: usize,
    openmetrics: bool,
}

#[derive(Debug)]
struct State {
    exporter: PrometheusExporter,
    path: String,
    openmetrics: bool,
}

impl PrometheusServer {
    /// Starts configuring a server for `exporter`.
    pub fn builder(exporter: PrometheusExporter) -> PrometheusServerBuilder {
        PrometheusServerBuilder {
            exporter,
            path: DEFAULT_PATH.to_owned(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            openmetrics: true,
        }
    }

    /// Serves `exporter` on `addr` with the defaults; port 0 picks a free port (see
    /// [`local_addr`](PrometheusServer::local_addr)).
    pub fn bind(addr: SocketAddr, exporter: PrometheusExporter) -> Result<Self, ServerError> {
        PrometheusServer::builder(exporter).bind(addr)
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes open connections and joins the thread. Later calls do
    /// nothing.
    pub fn shutdown(&mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            // The thread may already have ended; then there is nobody to tell.
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| ServerError {
                kind: ServerErrorKind::ThreadPanicked,
                source: None,
            }),
            None => Ok(()),
        }
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        if self.shutdown().is_err() {
            telemetry_core::diagnostic::report(
                "prometheus",
                format_args!("the endpoint's thread panicked before shutdown"),
            );
        }
    }
}

impl PrometheusServerBuilder {
    /// The path to serve on (default [`DEFAULT_PATH`]); a missing leading `/` is added.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        self
    }

    /// How many connections are served at once (default [`DEFAULT_MAX_CONNECTIONS`];
    /// at least 1).
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Whether OpenMetrics is served to clients that ask for it (default: yes). Off, every
    /// response is the text format 0.0.4, for scrapers whose OpenMetrics parsing misbehaves.
    pub fn with_openmetrics(mut self, on: bool) -> Self {
        self.openmetrics = on;
        self
    }

    /// Binds `addr` and starts serving on a new thread.
    pub fn bind(self, addr: SocketAddr) -> Result<PrometheusServer, ServerError> {
        // Bound here, not on the thread, so that a taken port is the caller's error and the
        // chosen port is known on return.
        let listener =
            StdListener::bind(addr).map_err(|e| ServerError::io(ServerErrorKind::Bind, e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| ServerError::io(ServerErrorKind::Bind, e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| ServerError::io(ServerErrorKind::Bind, e))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| ServerError::io(ServerErrorKind::Start, e))?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let state = Arc::new(State {
            exporter: self.exporter,
            path: self.path,
            openmetrics: self.openmetrics,
        });
        let max_connections = self.max_connections;
        let thread = std::thread::Builder::new()
            .name("telemetry-prometheus".to_owned())
            .spawn(move || {
                runtime.block_on(serve(listener, state, max_connections, stop_rx));
                // Dropping the runtime cancels the connection tasks still running.
                drop(runtime);
            })
            .map_err(|e| ServerError::io(ServerErrorKind::Start, e))?;
        Ok(PrometheusServer {
            local_addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

async fn serve(
    listener: StdListener,
    state: Arc<State>,
    max_connections: usize,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            telemetry_core::diagnostic::report(
                "prometheus",
                format_args!("the endpoint could not register its socket: {e}"),
            );
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            // Out of descriptors or a connection reset before accept: back off briefly
            // instead of spinning on the error.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let response = respond(&state, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            // A client that goes away mid-request is its own problem, not ours.
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(slot);
        });
    }
}

fn respond<B>(state: &State, request: &Request<B>) -> Response<Full<Bytes>> {
    if request.uri().path() != state.path {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    if request.method() != Method::GET {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET is allowed\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    let header_str = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let format = if state.openmetrics {
        Format::negotiate(header_str(header::ACCEPT))
    } else {
        Format::Text
    };
    let body = match state.exporter.render(format) {
        Ok(body) => body,
        Err(e) => {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("{e}: {}\n", e.metric_error()),
            );
        }
    };
    let zipped = if accepts_gzip(header_str(header::ACCEPT_ENCODING)) {
        gzip_bytes(&body)
    } else {
        None
    };
    let compressed = zipped.is_some();
    let body = zipped.unwrap_or(body);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if compressed {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    response
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::copy_from_slice(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The body gzipped; `None` only if the encoder failed, which writing to memory does not.
fn gzip_bytes(body: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}
