//! The dashboard: receives OTLP from any process in any language, keeps it in a bounded
//! in-memory store, answers queries over a JSON API and streams live changes to the browser.
//! It runs on its own (the `telemetry-dashboard` binary) or inside a program
//! ([`Dashboard`]), where the program's own pipelines feed it without an OTLP round-trip.
//!
//! - [`Dashboard`] is the whole thing in one value: a [`Store`] and the server in front of
//!   it. [`Dashboard::span_exporter`], [`Dashboard::metric_exporter`] and
//!   [`Dashboard::log_exporter`] plug the program's pipelines straight into the store;
//!   [`Dashboard::register_view`] pins a chart; [`Dashboard::update_display`] pushes the
//!   current state to open pages at once.
//! - [`DashboardServer`] is the network side: OTLP/gRPC (4317) and OTLP/HTTP (4318, protobuf
//!   and JSON, gzip, Content-Length or chunked), and the UI/API port (18888) with the
//!   Server-Sent Events stream at `/api/live`. Both OTLP ports take both protocols. It
//!   decodes with telemetry-otlp's hand-written decoders and answers as OTLP says: an empty
//!   or `partial_success` response in the request's encoding, 400 / `INVALID_ARGUMENT` with
//!   the decoder's message, 413 / `RESOURCE_EXHAUSTED` over the body limit (a gzip body is
//!   cut off at the limit while it inflates), 415 for a content type OTLP does not have,
//!   503 / `UNAVAILABLE` with `Retry-After` / `RetryInfo` when the store pushes back.
//! - [`Store`] is the data side: one memory budget in bytes, split across traces, logs and
//!   metric series, accounted by the heap each item really holds; the oldest data goes
//!   first and every eviction is counted and shown. It keeps the indexes the queries need,
//!   live RED figures per service and root operation, and the registered views. Its JSON
//!   API is documented route by route in `docs/dashboard-api.md`.
//! - [`backend::Backend`] is the seam between the two: the server hands decoded data and
//!   `/api/` requests to it and never keeps data itself, so the server is tested with a
//!   recording backend and the store without sockets.
//!
//! # Example
//!
//! A program showing its own spans; the same dashboard takes OTLP from other processes on
//! [`Dashboard::http_addr`] and [`Dashboard::grpc_addr`].
//!
//! ```
//! use telemetry_dashboard::{ChartType, Dashboard};
//! use telemetry_span::{BatchSpanProcessor, TracerProvider};
//!
//! // Port 0 everywhere picks free ports; `Dashboard::start(18888)` is the usual call.
//! let dashboard = Dashboard::builder().ui_port(0).grpc_port(0).http_port(0).start()?;
//! let provider = TracerProvider::builder()
//!     .with_span_processor(BatchSpanProcessor::new(dashboard.span_exporter())?)
//!     .build();
//! provider.tracer("checkout").in_span("charge card", |_span| {});
//! provider.force_flush()?;
//!
//! dashboard.register_view("http.server.request.duration", ChartType::Heatmap)?;
//! dashboard.update_display();
//! println!("open http://{}/", dashboard.ui_addr());
//! assert!(dashboard.store().used_bytes() > 0);
//! provider.shutdown()?;
//! dashboard.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Security
//!
//! Every listener binds 127.0.0.1 unless told otherwise. A non-loopback bind refuses to
//! start without a token; with one, the UI and API want `Authorization: Bearer <token>`, a
//! `?token=` parameter (which sets an HttpOnly cookie) or that cookie. Without a token the UI
//! port answers only requests whose `Host` is a loopback name, against DNS rebinding. OTLP
//! ingest can require an API key in the `x-otlp-api-key` header.
//!
//! # Untrusted input
//!
//! Everything that arrives is bounded before it is believed: body size (before and while
//! inflating), nesting depth and lengths in the decoders, spans per trace, points per
//! series, series per store, items per live delta, and the memory budget over all of it.
//! Malformed input gets its error code and the server keeps serving; data accepted before
//! stays queryable. Connections are bounded in time too: headers within 30 s, bodies within
//! 60 s, and a connection on which no byte moves for 60 s is closed (the builder's
//! `header_read_timeout`, `body_read_timeout` and `idle_timeout`), so silent or slow clients
//! cannot hold the connection slots. `tests/abuse.rs` runs floods, a thousand connections,
//! slow clients and hostile bodies against the real binary and store.
#![forbid(unsafe_code)]

mod api;
pub mod backend;
mod dashboard;
mod embedded;
mod server;
mod store;

pub use dashboard::{Dashboard, DashboardBuilder};
pub use embedded::{DashboardLogExporter, DashboardMetricExporter, DashboardSpanExporter};
pub use store::{
    ChartType, DEFAULT_MEMORY_BUDGET, LOGS_SHARE_PERCENT, MAX_VIEW_NAME, MAX_VIEWS,
    METRICS_SHARE_PERCENT, MIN_MEMORY_BUDGET, Store, StoreConfig, TRACES_SHARE_PERCENT, View,
    ViewError,
};

pub use server::{
    DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT, DEFAULT_MAX_API_BODY_SIZE, DEFAULT_MAX_BODY_SIZE,
    DEFAULT_UI_PORT, DashboardServer, DashboardServerBuilder, Listener, OTLP_API_KEY_HEADER,
    RunningDashboard, ShutdownError, StartError, TOKEN_COOKIE,
};
