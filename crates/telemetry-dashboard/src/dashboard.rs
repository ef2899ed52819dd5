//! The dashboard in one value: a [`Store`] and the server in front of it, as a program
//! embeds it (`start_dashboard_server`) or the binary runs it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::backend::Backend;
use crate::embedded::{DashboardLogExporter, DashboardMetricExporter, DashboardSpanExporter};
use crate::server::{
    DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT, DashboardServer, Listener, RunningDashboard,
    ShutdownError, StartError,
};
use crate::store::{ChartType, Store, StoreConfig, ViewError};

/// Settings of a [`Dashboard`]; [`Dashboard::builder`] starts from the defaults.
#[derive(Clone, Debug)]
pub struct DashboardBuilder {
    store: StoreConfig,
    bind: IpAddr,
    ui_port: u16,
    grpc_port: u16,
    http_port: u16,
    otlp_fallback: bool,
    token: Option<String>,
}

impl DashboardBuilder {
    /// The store's settings (memory budget and limits).
    pub fn store_config(mut self, config: StoreConfig) -> Self {
        self.store = config;
        self
    }

    /// The total memory budget of the store, in bytes.
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.store.memory_budget_bytes = bytes;
        self
    }

    /// The address every listener binds (default 127.0.0.1; any other needs a token).
    pub fn bind(mut self, addr: IpAddr) -> Self {
        self.bind = addr;
        self
    }

    /// The port of the pages and the JSON API (0 picks a free one).
    pub fn ui_port(mut self, port: u16) -> Self {
        self.ui_port = port;
        self
    }

    /// The OTLP/gRPC port (default 4317).
    pub fn grpc_port(mut self, port: u16) -> Self {
        self.grpc_port = port;
        self
    }

    /// The OTLP/HTTP port (default 4318).
    pub fn http_port(mut self, port: u16) -> Self {
        self.http_port = port;
        self
    }

    /// When an OTLP port is taken (a collector or another dashboard already runs on this
    /// machine), listen on a free port instead of failing; [`Dashboard::http_addr`] and
    /// [`Dashboard::grpc_addr`] tell which. On by default for an embedded dashboard, whose
    /// own data does not need the OTLP ports; the UI port never falls back.
    pub fn otlp_port_fallback(mut self, fallback: bool) -> Self {
        self.otlp_fallback = fallback;
        self
    }

    /// The token the UI and API require (needed for a non-loopback bind).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Starts the store and the server on their own threads.
    pub fn start(self) -> Result<Dashboard, StartError> {
        let store = Arc::new(Store::new(self.store.clone()));
        let (mut grpc, mut http) = (self.grpc_port, self.http_port);
        // Each failed try names the listener whose port was taken; that one moves to a free
        // port (0) and the next try keeps the other. Two moves cover both OTLP listeners, so
        // a third try cannot fail for a taken OTLP port, even when another process grabs a
        // port between the tries.
        let mut tries_left = 3;
        loop {
            tries_left -= 1;
            match self.server(&store, grpc, http).start() {
                Ok(server) => return Ok(Dashboard { store, server }),
                Err(StartError::Bind {
                    listener,
                    ref source,
                    ..
                }) if self.otlp_fallback
                    && tries_left > 0
                    && source.kind() == io::ErrorKind::AddrInUse
                    && matches!(listener, Listener::Grpc | Listener::OtlpHttp) =>
                {
                    if listener == Listener::Grpc {
                        grpc = 0;
                    } else {
                        http = 0;
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn server(&self, store: &Arc<Store>, grpc_port: u16, http_port: u16) -> DashboardServer {
        let backend: Arc<dyn Backend> = store.clone();
        let mut builder = DashboardServer::builder(backend)
            .bind(self.bind)
            .ui_port(self.ui_port)
            .grpc_port(grpc_port)
            .http_port(http_port);
        if let Some(token) = &self.token {
            builder = builder.token(token.clone());
        }
        builder.build()
    }
}

/// A running dashboard: the store, its receivers, the pages and the API.
///
/// Embedded in a program, its exporters ([`Dashboard::span_exporter`] and the others) feed
/// the store straight from the program's own pipelines, with no OTLP round-trip, while other
/// processes can still send OTLP to [`Dashboard::http_addr`] and [`Dashboard::grpc_addr`].
/// Dropping it stops the server.
#[derive(Debug)]
pub struct Dashboard {
    store: Arc<Store>,
    server: RunningDashboard,
}

impl Dashboard {
    /// The settings, starting from the defaults: a 256 MiB store, 127.0.0.1, UI on port
    /// 18888, OTLP on 4317 and 4318 (falling back to free ports when those are taken).
    pub fn builder() -> DashboardBuilder {
        DashboardBuilder {
            store: StoreConfig::default(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ui_port: crate::server::DEFAULT_UI_PORT,
            grpc_port: DEFAULT_GRPC_PORT,
            http_port: DEFAULT_HTTP_PORT,
            otlp_fallback: true,
            token: None,
        }
    }

    /// Starts a dashboard with its pages on 127.0.0.1:`ui_port`, on the defaults otherwise.
    pub fn start(ui_port: u16) -> Result<Dashboard, StartError> {
        Dashboard::builder().ui_port(ui_port).start()
    }

    /// The store behind the dashboard.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// An exporter of this program's spans into the store; put it under a batch processor.
    pub fn span_exporter(&self) -> DashboardSpanExporter {
        DashboardSpanExporter::new(self.store.clone())
    }

    /// An exporter of this program's metrics into the store, for a periodic reader.
    pub fn metric_exporter(&self) -> DashboardMetricExporter {
        DashboardMetricExporter::new(self.store.clone())
    }

    /// An exporter of this program's log records into the store.
    pub fn log_exporter(&self) -> DashboardLogExporter {
        DashboardLogExporter::new(self.store.clone())
    }

    /// Pins a chart of `metric_name` on the overview page.
    pub fn register_view(&self, metric_name: &str, chart: ChartType) -> Result<(), ViewError> {
        self.store.register_view(metric_name, chart)
    }

    /// Sends what changed to every open page now, instead of at the next 250 ms tick.
    pub fn update_display(&self) {
        self.server.push_now();
    }

    /// Where the pages and the JSON API are.
    pub fn ui_addr(&self) -> SocketAddr {
        self.server.ui_addr()
    }

    /// Where OTLP/HTTP is received.
    pub fn http_addr(&self) -> SocketAddr {
        self.server.http_addr()
    }

    /// Where OTLP/gRPC is received.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.server.grpc_addr()
    }

    /// Stops the server, waiting (boundedly) for requests in flight.
    pub fn shutdown(self) -> Result<(), ShutdownError> {
        self.server.shutdown()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback_ports_free() -> DashboardBuilder {
        Dashboard::builder().ui_port(0).grpc_port(0).http_port(0)
    }

    #[test]
    fn taken_otlp_ports_fall_back_to_free_ones() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let port = taken.local_addr().expect("its address").port();
        let dashboard = loopback_ports_free()
            .http_port(port)
            .start()
            .expect("start with a fallback");
        assert_ne!(dashboard.http_addr().port(), port);
        assert_ne!(dashboard.http_addr().port(), 0);
        dashboard.shutdown().expect("shut down");
    }

    #[test]
    fn both_taken_otlp_ports_fall_back() {
        let grpc = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let http = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let (grpc_port, http_port) = (
            grpc.local_addr().expect("its address").port(),
            http.local_addr().expect("its address").port(),
        );
        let dashboard = loopback_ports_free()
            .grpc_port(grpc_port)
            .http_port(http_port)
            .start()
            .expect("start with two fallbacks");
        assert_ne!(dashboard.grpc_addr().port(), grpc_port);
        assert_ne!(dashboard.http_addr().port(), http_port);
        dashboard.shutdown().expect("shut down");
    }

    #[test]
    fn without_fallback_a_taken_port_is_an_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let port = taken.local_addr().expect("its address").port();
        let error = loopback_ports_free()
            .grpc_port(port)
            .otlp_port_fallback(false)
            .start()
            .expect_err("the port is taken");
        assert!(
            matches!(
                error,
                StartError::Bind {
                    listener: Listener::Grpc,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn a_taken_ui_port_never_falls_back() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let port = taken.local_addr().expect("its address").port();
        let error = loopback_ports_free()
            .ui_port(port)
            .start()
            .expect_err("the UI port is taken");
        assert!(matches!(error, StartError::Bind { .. }), "{error}");
    }

    #[test]
    fn the_exporters_feed_the_store_and_views_register() {
        use telemetry_span::{SimpleSpanProcessor, TracerProvider};
        let dashboard = loopback_ports_free().start().expect("start");
        let provider = TracerProvider::builder()
            .with_span_processor(SimpleSpanProcessor::new(dashboard.span_exporter()))
            .build();
        provider.tracer("test").in_span("embedded work", |_| {});
        provider.shutdown().expect("flush the span");
        assert!(dashboard.store().used_bytes() > 0);
        dashboard
            .register_view("requests", ChartType::Line)
            .expect("a valid view");
        assert_eq!(dashboard.store().views().len(), 1);
        dashboard.update_display();
        dashboard.shutdown().expect("shut down");
    }
}
