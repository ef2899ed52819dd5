//! The network side: OTLP receivers, the API and UI port, the live stream.
//!
//! [`DashboardServer`] binds three listeners — OTLP/gRPC, OTLP/HTTP and the UI/API port — in
//! the caller's thread, so a port in use is a [`StartError`] at once, then serves them from
//! its own thread with its own tokio runtime: callers need no runtime, and starting it from
//! inside one works. Both OTLP ports accept both protocols (a request whose content type is
//! `application/grpc` is gRPC, anything else OTLP/HTTP): a program whose
//! `OTEL_EXPORTER_OTLP_PROTOCOL` does not match the port it was given still gets through.
//!
//! Every request is decoded here and handed to a [`Backend`]; the server never keeps data.

mod assets;
mod body;
mod grpc;
mod idle;
mod ingest;
mod live;
mod otlp_http;
mod reply;
mod ui;

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use http::{HeaderMap, Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::backend::Backend;
use body::ResponseBody;

/// Default OTLP/gRPC port (conformance.md OT-1).
pub const DEFAULT_GRPC_PORT: u16 = 4317;
/// Default OTLP/HTTP port (conformance.md OT-1).
pub const DEFAULT_HTTP_PORT: u16 = 4318;
/// Default port of the UI and the JSON API, the standalone Aspire dashboard's.
pub const DEFAULT_UI_PORT: u16 = 18888;
/// Default cap on an OTLP request body after decompression (OTLP's suggested 64 MiB).
pub const DEFAULT_MAX_BODY_SIZE: usize = 64 << 20;
/// Default cap on an `/api/` request body after decompression (room for imports).
pub const DEFAULT_MAX_API_BODY_SIZE: usize = 16 << 20;
/// The header that carries the OTLP ingest API key, when one is configured.
pub const OTLP_API_KEY_HEADER: &str = "x-otlp-api-key";
/// The cookie the UI port sets after a valid `?token=`, so the browser's later requests
/// (an `EventSource` cannot send headers) carry the token.
pub const TOKEN_COOKIE: &str = "telemetry_dashboard_token";

/// Connections served at once per server; one past it is closed at accept, so a flood of
/// idle connections cannot grow memory without bound.
const MAX_CONNECTIONS: usize = 1024;
/// How long a client may take to send request headers, by default.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to send a whole request body, by default.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a connection may go without a byte moved either way, by default: above the live
/// stream's 15 s heartbeat, so a quiet stream is not taken for an idle connection.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest read or idle timeout taken: longer ones would overflow hyper's and tokio's
/// instant arithmetic, and a day is "never" for a connection.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// Which of the three listeners.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Listener {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP.
    OtlpHttp,
    /// The UI and JSON API.
    Ui,
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Listener::Grpc => "OTLP/gRPC",
            Listener::OtlpHttp => "OTLP/HTTP",
            Listener::Ui => "UI/API",
        })
    }
}

/// Why [`DashboardServer::start`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// A listener could not bind its address (port in use, no permission, no such address).
    Bind {
        /// Which listener.
        listener: Listener,
        /// The address it tried.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// The bind address is not loopback and no token was configured: anyone who can reach
    /// the port would read every span (DESIGN.md §6).
    TokenRequired {
        /// The bind address.
        bind: IpAddr,
    },
    /// The token or API key is empty or holds characters it may not: the token goes into
    /// URLs and a cookie, so it is limited to letters, digits and `-._~`; the API key goes
    /// into a header, so it is limited to visible ASCII.
    InvalidSecret {
        /// `"token"` or `"OTLP API key"`.
        which: &'static str,
    },
    /// The server thread or its runtime could not be created.
    Runtime(io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Bind {
                listener,
                addr,
                source,
            } => {
                write!(f, "cannot bind the {listener} listener to {addr}: {source}")
            }
            StartError::TokenRequired { bind } => write!(
                f,
                "binding {bind}, which is not a loopback address, requires a token (--token)"
            ),
            StartError::InvalidSecret { which } if *which == "token" => f.write_str(
                "the token must be non-empty and hold only letters, digits, '-', '.', '_' and '~'",
            ),
            StartError::InvalidSecret { which } => {
                write!(
                    f,
                    "the {which} must be non-empty visible ASCII without spaces"
                )
            }
            StartError::Runtime(e) => write!(f, "cannot start the server thread: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Bind { source, .. } | StartError::Runtime(source) => Some(source),
            _ => None,
        }
    }
}

/// Why [`RunningDashboard::shutdown`] could not finish cleanly.
#[derive(Debug)]
pub struct ShutdownError(());

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the dashboard server thread panicked")
    }
}

impl std::error::Error for ShutdownError {}

/// The settings of a [`DashboardServer`]; see [`DashboardServerBuilder`] for each.
#[derive(Clone, Debug)]
struct Config {
    bind: IpAddr,
    grpc_port: u16,
    http_port: u16,
    ui_port: u16,
    max_body_size: usize,
    max_api_body_size: usize,
    token: Option<String>,
    otlp_api_key: Option<String>,
    allowed_origins: Vec<String>,
    shutdown_timeout: Duration,
    header_read_timeout: Duration,
    body_read_timeout: Duration,
    idle_timeout: Duration,
}

/// The dashboard's network side, configured and not yet started.
///
/// ```
/// use std::sync::Arc;
/// use telemetry_dashboard::{DashboardServer, Store, StoreConfig};
///
/// let store = Arc::new(Store::new(StoreConfig::default()));
/// // Port 0 picks free ports; the defaults are 4317, 4318 and 18888.
/// let running = DashboardServer::builder(store).grpc_port(0).http_port(0).ui_port(0).build().start()?;
/// let ui = format!("http://{}/", running.ui_addr());
/// let otlp = format!("http://{}/v1/traces", running.http_addr());
/// # let _ = (ui, otlp);
/// running.push_now();
/// running.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DashboardServer {
    config: Config,
    backend: Arc<dyn Backend>,
}

impl fmt::Debug for DashboardServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardServer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`DashboardServer`]; every setting has a default.
pub struct DashboardServerBuilder {
    config: Config,
    backend: Arc<dyn Backend>,
}

impl fmt::Debug for DashboardServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardServerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl DashboardServerBuilder {
    /// The address all three listeners bind; default `127.0.0.1`. Anything but loopback
    /// needs a [`token`](Self::token).
    pub fn bind(mut self, addr: IpAddr) -> Self {
        self.config.bind = addr;
        self
    }

    /// The OTLP/gRPC port; default 4317, 0 for any free port.
    pub fn grpc_port(mut self, port: u16) -> Self {
        self.config.grpc_port = port;
        self
    }

    /// The OTLP/HTTP port; default 4318, 0 for any free port.
    pub fn http_port(mut self, port: u16) -> Self {
        self.config.http_port = port;
        self
    }

    /// The UI and API port; default 18888, 0 for any free port.
    pub fn ui_port(mut self, port: u16) -> Self {
        self.config.ui_port = port;
        self
    }

    /// The largest OTLP request body, counted after decompression; default 64 MiB. Larger
    /// requests get HTTP 413 or gRPC `RESOURCE_EXHAUSTED`.
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.config.max_body_size = bytes;
        self
    }

    /// The largest `/api/` request body, counted after decompression; default 16 MiB.
    pub fn max_api_body_size(mut self, bytes: usize) -> Self {
        self.config.max_api_body_size = bytes;
        self
    }

    /// The token the UI and API require, as `Authorization: Bearer <token>`, a `token`
    /// query parameter or the [`TOKEN_COOKIE`] cookie. Required for a non-loopback bind.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.config.token = Some(token.into());
        self
    }

    /// An API key OTLP requests must carry in the [`OTLP_API_KEY_HEADER`] header (gRPC
    /// metadata of the same name); default none.
    pub fn otlp_api_key(mut self, key: impl Into<String>) -> Self {
        self.config.otlp_api_key = Some(key.into());
        self
    }

    /// Lets browser pages from `origin` (such as `https://app.example`) POST OTLP/JSON;
    /// loopback origins (`localhost`, `127.0.0.1`, `[::1]`, any port) are always allowed.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.config.allowed_origins.push(origin.into());
        self
    }

    /// How long shutdown waits for requests in flight; default 5 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// How long an HTTP/1 client may take to send a request's headers before its connection
    /// is closed, and how long any client may stay silent after connecting; default 30 s. A
    /// client that dribbles its headers (slowloris) or sends nothing would otherwise hold one
    /// of the server's connection slots for as long as it likes. At most a day.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.header_read_timeout = timeout.min(MAX_TIMEOUT);
        self
    }

    /// How long a client may take to send a whole request body before the request is
    /// answered 408 (gRPC `DEADLINE_EXCEEDED`) and its connection closed; default 60 s. At
    /// most a day.
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.body_read_timeout = timeout.min(MAX_TIMEOUT);
        self
    }

    /// How long a connection may go without a byte moved either way before it is closed,
    /// gracefully (a request in flight finishes; HTTP/2 gets a GOAWAY); default 60 s. It
    /// bounds idle HTTP/2 connections, which have no header read timeout. Keep it above 15 s,
    /// the live stream's heartbeat, or quiet live streams are closed too. At most a day.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout.min(MAX_TIMEOUT);
        self
    }

    /// The configured server.
    pub fn build(self) -> DashboardServer {
        DashboardServer {
            config: self.config,
            backend: self.backend,
        }
    }
}

impl DashboardServer {
    /// A builder with the defaults: 127.0.0.1, ports 4317, 4318 and 18888, 64 MiB bodies,
    /// no token.
    pub fn builder(backend: Arc<dyn Backend>) -> DashboardServerBuilder {
        DashboardServerBuilder {
            config: Config {
                bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
                grpc_port: DEFAULT_GRPC_PORT,
                http_port: DEFAULT_HTTP_PORT,
                ui_port: DEFAULT_UI_PORT,
                max_body_size: DEFAULT_MAX_BODY_SIZE,
                max_api_body_size: DEFAULT_MAX_API_BODY_SIZE,
                token: None,
                otlp_api_key: None,
                allowed_origins: Vec::new(),
                shutdown_timeout: Duration::from_secs(5),
                header_read_timeout: HEADER_READ_TIMEOUT,
                body_read_timeout: BODY_READ_TIMEOUT,
                idle_timeout: IDLE_TIMEOUT,
            },
            backend,
        }
    }

    /// Binds the three listeners and starts serving them on a new thread.
    pub fn start(self) -> Result<RunningDashboard, StartError> {
        let config = self.config;
        let url_safe = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
        let header_safe = |b: u8| b.is_ascii_graphic();
        for (which, secret, allowed) in [
            ("token", &config.token, &url_safe as &dyn Fn(u8) -> bool),
            ("OTLP API key", &config.otlp_api_key, &header_safe),
        ] {
            if let Some(s) = secret
                && (s.is_empty() || !s.bytes().all(allowed))
            {
                return Err(StartError::InvalidSecret { which });
            }
        }
        if !config.bind.is_loopback() && config.token.is_none() {
            return Err(StartError::TokenRequired { bind: config.bind });
        }
        let bind = |listener: Listener, port: u16| {
            let addr = SocketAddr::new(config.bind, port);
            let socket = StdTcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|source| StartError::Bind {
                    listener,
                    addr,
                    source,
                })?;
            let local = socket.local_addr().map_err(StartError::Runtime)?;
            Ok::<_, StartError>((socket, local))
        };
        let (grpc, grpc_addr) = bind(Listener::Grpc, config.grpc_port)?;
        let (http, http_addr) = bind(Listener::OtlpHttp, config.http_port)?;
        let (ui, ui_addr) = bind(Listener::Ui, config.ui_port)?;

        let (push_tx, push_rx) = watch::channel(0u64);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shutdown_timeout = config.shutdown_timeout;
        let shared = Arc::new(Shared {
            backend: self.backend,
            addrs: Addresses {
                grpc: grpc_addr,
                http: http_addr,
                ui: ui_addr,
            },
            config,
            push: push_rx,
            shutdown: shutdown_rx,
            live_streams: Arc::new(Semaphore::new(live::MAX_STREAMS)),
        });
        // The runtime is built, and dropped, on the server thread only: dropping a runtime
        // inside another one panics, and the caller may well be inside one.
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<io::Result<()>>(1);
        let thread = std::thread::Builder::new()
            .name("telemetry-dashboard".into())
            .spawn(move || {
                let started = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("telemetry-dashboard-worker")
                    .enable_all()
                    .build()
                    .and_then(|runtime| {
                        // Registering a socket with tokio needs the runtime's context.
                        let context = runtime.enter();
                        let listeners = [
                            (TcpListener::from_std(grpc)?, Role::Otlp),
                            (TcpListener::from_std(http)?, Role::Otlp),
                            (TcpListener::from_std(ui)?, Role::Ui),
                        ];
                        drop(context);
                        Ok((runtime, listeners))
                    });
                let (runtime, listeners) = match started {
                    Ok(started) => started,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                runtime.block_on(serve(shared, listeners, shutdown_timeout));
                // Blocking decodes still running get a moment; then the runtime goes.
                runtime.shutdown_timeout(Duration::from_millis(200));
            })
            .map_err(StartError::Runtime)?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(StartError::Runtime(e));
            }
            Err(_) => {
                let _ = thread.join();
                return Err(StartError::Runtime(io::Error::other(
                    "the server thread died",
                )));
            }
        }
        Ok(RunningDashboard {
            grpc_addr,
            http_addr,
            ui_addr,
            push: push_tx,
            shutdown: shutdown_tx,
            thread: Some(thread),
        })
    }
}

/// A started server. Dropping it shuts it down, as [`shutdown`](Self::shutdown) does.
#[derive(Debug)]
pub struct RunningDashboard {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    ui_addr: SocketAddr,
    push: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl RunningDashboard {
    /// The address the OTLP/gRPC listener is bound to.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The address the OTLP/HTTP listener is bound to.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The address the UI and API listener is bound to.
    pub fn ui_addr(&self) -> SocketAddr {
        self.ui_addr
    }

    /// Wakes every live stream to send what changed now, without waiting for its next
    /// 250 ms tick (the embedded dashboard's `update_display()`).
    pub fn push_now(&self) {
        self.push
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// Stops accepting, lets requests in flight finish (bounded by the shutdown timeout),
    /// ends the live streams, and releases the ports before returning.
    pub fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ShutdownError> {
        self.shutdown.send_replace(true);
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| ShutdownError(())),
            None => Ok(()),
        }
    }
}

impl Drop for RunningDashboard {
    fn drop(&mut self) {
        // A panicked server thread has nothing left to release; drop cannot report it.
        let _ = self.stop();
    }
}

/// The bound addresses, for the index page.
#[derive(Clone, Copy, Debug)]
struct Addresses {
    grpc: SocketAddr,
    http: SocketAddr,
    ui: SocketAddr,
}

/// What every request handler reads.
struct Shared {
    backend: Arc<dyn Backend>,
    config: Config,
    addrs: Addresses,
    /// The push generation; [`RunningDashboard::push_now`] bumps it.
    push: watch::Receiver<u64>,
    /// Becomes `true` once at shutdown.
    shutdown: watch::Receiver<bool>,
    /// Permits for live streams, so clients cannot open unbounded many.
    live_streams: Arc<Semaphore>,
}

/// What a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// OTLP/gRPC and OTLP/HTTP, told apart by content type.
    Otlp,
    /// The UI and the API.
    Ui,
}

/// Serves the listeners until shutdown, then waits (bounded) for connections to finish.
async fn serve(shared: Arc<Shared>, listeners: [(TcpListener, Role); 3], grace: Duration) {
    // Each connection task holds a clone of `alive`; when all are gone `recv` yields `None`.
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    for (listener, role) in listeners {
        tokio::spawn(accept_loop(
            listener,
            role,
            Arc::clone(&shared),
            Arc::clone(&builder),
            Arc::clone(&permits),
            alive.clone(),
        ));
    }
    drop(alive);
    let mut shutdown = shared.shutdown.clone();
    stopped(&mut shutdown).await;
    let _ = tokio::time::timeout(grace, all_done.recv()).await;
}

async fn accept_loop(
    listener: TcpListener,
    role: Role,
    shared: Arc<Shared>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    permits: Arc<Semaphore>,
    alive: mpsc::Sender<()>,
) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut shutdown) => return,
        };
        let Ok((stream, peer)) = accepted else {
            // Out of file descriptors and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            continue; // over the connection limit: closed by dropping `stream`
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let builder = Arc::clone(&builder);
        let alive = alive.clone();
        let (first_wait, idle_wait) = (
            shared.config.header_read_timeout,
            shared.config.idle_timeout,
        );
        tokio::spawn(async move {
            let mut shutdown = shared.shutdown.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(route(&shared, role, peer, req).await) }
            });
            let activity = idle::Activity::new();
            let io = TokioIo::new(idle::Watched::new(stream, Arc::clone(&activity)));
            let conn = builder.serve_connection(io, service);
            tokio::pin!(conn);
            // Once asked to close (shutdown, or quiet too long), a connection finishes what is
            // in flight; one still quiet a whole idle period after that is dropped.
            let mut closing = false;
            loop {
                let deadline = activity.deadline(first_wait, idle_wait);
                tokio::select! {
                    _ = conn.as_mut() => break,
                    () = stopped(&mut shutdown), if !closing => {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    () = tokio::time::sleep_until(deadline) => {
                        if tokio::time::Instant::now() < activity.deadline(first_wait, idle_wait) {
                            continue; // bytes moved while the timer ran
                        }
                        if closing {
                            break;
                        }
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(permit);
            drop(alive);
        });
    }
}

async fn route(
    shared: &Arc<Shared>,
    role: Role,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    match role {
        Role::Otlp if grpc::is_grpc(req.headers()) => grpc::handle(shared, peer, req).await,
        Role::Otlp => otlp_http::handle(shared, peer, req).await,
        Role::Ui => ui::handle(shared, req).await,
    }
}

/// Resolves once shutdown has begun. The `Ref` that `wait_for` returns is dropped here, not
/// held across the caller's next await (it is not `Send`).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Compares a secret without an early exit, so timing does not reveal a matching prefix.
fn secret_matches(expected: &str, given: &[u8]) -> bool {
    let expected = expected.as_bytes();
    if expected.len() != given.len() {
        return false;
    }
    expected
        .iter()
        .zip(given)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// Whether an OTLP request carries the configured API key (always, when none is set).
fn otlp_key_ok(config: &Config, headers: &HeaderMap) -> bool {
    match &config.otlp_api_key {
        None => true,
        Some(key) => headers
            .get(OTLP_API_KEY_HEADER)
            .is_some_and(|given| secret_matches(key, given.as_bytes())),
    }
}

/// Whether the request should run its CPU-heavy decode on the blocking pool rather than on a
/// runtime worker, which would stall the live streams and other requests meanwhile.
fn is_heavy(len: usize) -> bool {
    len > 256 << 10
}

/// Runs `f` inline for small inputs and on the blocking pool for large ones.
async fn offload<T: Send + 'static>(
    len: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    if is_heavy(len) {
        tokio::task::spawn_blocking(f).await.ok()
    } else {
        Some(f())
    }
}

/// A [`Shared`] for unit tests, with the senders of its push and shutdown channels.
#[cfg(test)]
fn shared_for_tests(
    backend: Arc<dyn Backend>,
) -> (Arc<Shared>, watch::Sender<u64>, watch::Sender<bool>) {
    let (push_tx, push) = watch::channel(0);
    let (shutdown_tx, shutdown) = watch::channel(false);
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let shared = Shared {
        config: DashboardServer::builder(Arc::clone(&backend))
            .build()
            .config,
        backend,
        addrs: Addresses {
            grpc: addr,
            http: addr,
            ui: addr,
        },
        push,
        shutdown,
        live_streams: Arc::new(Semaphore::new(live::MAX_STREAMS)),
    };
    (Arc::new(shared), push_tx, shutdown_tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_capped_so_instant_arithmetic_cannot_overflow() {
        let backend = Arc::new(crate::Store::default()) as Arc<dyn Backend>;
        let config = DashboardServer::builder(backend)
            .header_read_timeout(Duration::MAX)
            .body_read_timeout(Duration::MAX)
            .idle_timeout(Duration::MAX)
            .build()
            .config;
        assert_eq!(config.header_read_timeout, MAX_TIMEOUT);
        assert_eq!(config.body_read_timeout, MAX_TIMEOUT);
        assert_eq!(config.idle_timeout, MAX_TIMEOUT);
        let activity = idle::Activity::new();
        let _ = activity.deadline(config.header_read_timeout, config.idle_timeout);
    }

    #[test]
    fn secret_comparison() {
        assert!(secret_matches("abc", b"abc"));
        assert!(!secret_matches("abc", b"abd"));
        assert!(!secret_matches("abc", b"ab"));
        assert!(!secret_matches("abc", b""));
    }
}
