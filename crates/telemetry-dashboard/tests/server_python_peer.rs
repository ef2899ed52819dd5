//! A real sender: the Python OpenTelemetry SDK and its OTLP exporters (HTTP/protobuf and
//! gRPC, with and without gzip) export a span, a counter and a log record to the receivers,
//! and must report SUCCESS; the recording backend must hold what they sent.
//!
//! The interpreter is `$TELEMETRY_PYTHON`, else `<workspace>/target/python-peers/bin/python`
//! (made by `scripts/python-peers.sh`). Without either the test prints why and passes, unless
//! `TELEMETRY_REQUIRE_PEERS=1`, when it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use parking_lot::Mutex;
use telemetry_core::Value;
use telemetry_dashboard::DashboardServer;
use telemetry_dashboard::backend::{
    ApiRequest, ApiResponse, Backend, IngestOutcome, IngestSource, Refusal, Transport,
};
use telemetry_otlp::{LogsData, MetricsData, Signal, TracesData};

/// Makes one span, one counter point and one log record in memory, then exports each with
/// the OTLP exporter for the protocol, and prints the three export results.
const SENDER: &str = r#"
import logging, sys
protocol, endpoint, compression = sys.argv[1:4]
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor, InMemoryLogRecordExporter

resource = Resource.create({"service.name": "py-shop"})
spans = InMemorySpanExporter()
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
with tracer_provider.get_tracer("checkout").start_as_current_span("charge") as span:
    span.set_attribute("amount", 42)
reader = InMemoryMetricReader()
meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
meter_provider.get_meter("checkout").create_counter("orders").add(7, {"region": "eu"})
logs = InMemoryLogRecordExporter()
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
log = logging.getLogger("checkout")
log.propagate = False
log.addHandler(LoggingHandler(logger_provider=logger_provider))
log.warning("order placed")

if protocol == "grpc":
    import grpc
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    comp = grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression
    make = lambda cls, path: cls(endpoint=endpoint, insecure=True, compression=comp, timeout=5)
else:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    comp = Compression.Gzip if compression == "gzip" else Compression.NoCompression
    make = lambda cls, path: cls(endpoint=endpoint + path, compression=comp, timeout=5)
results = [
    make(OTLPSpanExporter, "/v1/traces").export(spans.get_finished_spans()),
    make(OTLPMetricExporter, "/v1/metrics").export(reader.get_metrics_data()),
    make(OTLPLogExporter, "/v1/logs").export(logs.get_finished_logs()),
]
print(" ".join(r.name for r in results))
"#;

/// The interpreter to use, or `None` (after saying why) when the test should skip.
fn python() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var_os("TELEMETRY_PYTHON").map(PathBuf::from),
        Some(workspace.join("target/python-peers/bin/python")),
    ];
    if let Some(found) = candidates.into_iter().flatten().find(|path| path.exists()) {
        return Some(found);
    }
    let message = "no Python peer: set TELEMETRY_PYTHON or run scripts/python-peers.sh";
    if std::env::var("TELEMETRY_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
        panic!("{message} (TELEMETRY_REQUIRE_PEERS=1)");
    }
    eprintln!("skipping: {message}");
    None
}

#[derive(Debug, Default)]
struct Recorder {
    traces: Mutex<Vec<(TracesData, Transport)>>,
    metrics: Mutex<Vec<(MetricsData, Transport)>>,
    logs: Mutex<Vec<(LogsData, Transport)>>,
    refusals: Mutex<Vec<(Signal, Refusal)>>,
}

const STORED: IngestOutcome = IngestOutcome::Accepted {
    rejected: 0,
    message: String::new(),
};

impl Backend for Recorder {
    fn ingest_traces(&self, data: TracesData, source: &IngestSource) -> IngestOutcome {
        self.traces.lock().push((data, source.transport));
        STORED
    }
    fn ingest_metrics(&self, data: MetricsData, source: &IngestSource) -> IngestOutcome {
        self.metrics.lock().push((data, source.transport));
        STORED
    }
    fn ingest_logs(&self, data: LogsData, source: &IngestSource) -> IngestOutcome {
        self.logs.lock().push((data, source.transport));
        STORED
    }
    fn record_refusal(&self, signal: Signal, refusal: Refusal, _: &IngestSource) {
        self.refusals.lock().push((signal, refusal));
    }
    fn api(&self, _: &ApiRequest<'_>) -> ApiResponse {
        ApiResponse {
            status: StatusCode::NOT_FOUND,
            content_type: "text/plain",
            body: Vec::new(),
        }
    }
    fn live_position(&self) -> u64 {
        0
    }
    fn live_delta(&self, _: u64) -> Option<(u64, Vec<u8>)> {
        None
    }
}

#[test]
fn the_python_sdk_exports_over_http_and_grpc() {
    let Some(python) = python() else {
        return;
    };
    let recorder = Arc::new(Recorder::default());
    let server = DashboardServer::builder(Arc::clone(&recorder) as Arc<dyn Backend>)
        .grpc_port(0)
        .http_port(0)
        .ui_port(0)
        .shutdown_timeout(Duration::from_secs(2))
        .build()
        .start()
        .unwrap();
    let runs = [
        (
            "http",
            format!("http://{}", server.http_addr()),
            "none",
            Transport::HttpProtobuf,
        ),
        (
            "http",
            format!("http://{}", server.http_addr()),
            "gzip",
            Transport::HttpProtobuf,
        ),
        (
            "grpc",
            format!("http://{}", server.grpc_addr()),
            "none",
            Transport::Grpc,
        ),
        (
            "grpc",
            format!("http://{}", server.grpc_addr()),
            "gzip",
            Transport::Grpc,
        ),
    ];
    for (protocol, endpoint, compression, transport) in &runs {
        let output = Command::new(&python)
            .args(["-c", SENDER, protocol, endpoint, compression])
            .output()
            .expect("the Python peer runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{protocol} {compression}: {stderr}"
        );
        assert_eq!(
            stdout.trim(),
            "SUCCESS SUCCESS SUCCESS",
            "{protocol} {compression}: {stderr}"
        );

        let (traces, got) = recorder.traces.lock().pop().expect("the span arrived");
        assert_eq!(got, *transport);
        let resource_spans = &traces.resource_spans[0];
        assert_eq!(resource_spans.resource.service_name(), Some("py-shop"));
        let span = &resource_spans.scope_spans[0].spans[0];
        assert_eq!(span.name.as_str(), "charge");
        assert!(
            span.attributes
                .iter()
                .any(|kv| kv.key.as_str() == "amount" && kv.value == Value::I64(42))
        );

        let (metrics, got) = recorder.metrics.lock().pop().expect("the counter arrived");
        assert_eq!(got, *transport);
        let metric = &metrics.resource_metrics[0].scope_metrics[0].metrics[0];
        assert_eq!(metric.name, "orders");

        let (logs, got) = recorder.logs.lock().pop().expect("the log record arrived");
        assert_eq!(got, *transport);
        let record = &logs.resource_logs[0].scope_logs[0].records[0];
        assert_eq!(record.body.as_str(), Some("order placed"));
    }
    assert!(recorder.refusals.lock().is_empty());
    server.shutdown().unwrap();
}
