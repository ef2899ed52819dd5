"""The sender of tests/python_sdk_e2e.rs: the Python OpenTelemetry SDK, through its own
providers, batch processors and OTLP exporters, sends one known trace (plus the upstream span
it links to), one log record emitted inside a span, and four kinds of metric to a dashboard.

    python sdk_e2e_sender.py http|grpc ENDPOINT SERVICE

ENDPOINT is the receiver's base URL (``http://127.0.0.1:PORT``). On success the last stdout
line is one JSON object: the ids the SDK generated and the values the test must read back.
"""

import json
import logging
import sys
import warnings

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

protocol, endpoint, service = sys.argv[1:4]

if protocol == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    def exporter(cls, _path):
        return cls(endpoint=endpoint, insecure=True, timeout=5)

elif protocol == "http":
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    def exporter(cls, path):
        return cls(endpoint=endpoint + path, timeout=5)

else:
    sys.exit(f"unknown protocol {protocol!r}")

resource = Resource.create({"service.name": service, "deployment.environment.name": "e2e"})

tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(exporter(OTLPSpanExporter, "/v1/traces")))
tracer = tracer_provider.get_tracer("e2e.checkout", "1.2.3")

logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(
    BatchLogRecordProcessor(exporter(OTLPLogExporter, "/v1/logs"))
)
# The SDK's handler is deprecated in favour of a contrib package this venv does not hold; it
# still is the SDK's own bridge from `logging`, which is what this test wants.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
log = logging.getLogger("e2e.payments")
log.setLevel(logging.INFO)
log.propagate = False
log.addHandler(handler)

# An interval far beyond the run: the points leave on force_flush only.
reader = PeriodicExportingMetricReader(
    exporter(OTLPMetricExporter, "/v1/metrics"), export_interval_millis=3_600_000
)
meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
meter = meter_provider.get_meter("e2e.checkout", "1.2.3")
orders = meter.create_counter("e2e.orders", unit="{order}", description="orders placed")
latency = meter.create_histogram("e2e.latency", unit="ms", description="checkout latency")
depth = meter.create_up_down_counter("e2e.queue.depth", unit="{item}")
temperature = meter.create_gauge("e2e.temperature", unit="Cel")

orders.add(3, {"region": "eu"})
orders.add(4, {"region": "eu"})
orders.add(5, {"region": "us"})
for value in (10.0, 20.0, 30.0):
    latency.record(value, {"route": "/checkout"})
depth.add(5)
depth.add(-2)
temperature.set(21.5, {"room": "server"})


def hex_ids(span):
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


# The upstream producer: a trace of its own, which the client span links to.
with tracer.start_as_current_span("enqueue order", kind=SpanKind.PRODUCER) as upstream:
    pass

with tracer.start_as_current_span(
    "GET /checkout",
    kind=SpanKind.SERVER,
    attributes={
        "http.request.method": "GET",
        "http.response.status_code": 200,
        "cache.hit": False,
        "sample.ratio": 0.25,
        "tags": ["web", "eu"],
    },
) as root:
    with tracer.start_as_current_span(
        "charge card",
        kind=SpanKind.CLIENT,
        links=[Link(upstream.get_span_context(), {"link.reason": "batched"})],
    ) as client:
        client.set_attribute("peer.service", "payments")
        client.add_event("retry", {"attempt": 2, "backoff.ms": 12.5})
        with tracer.start_as_current_span("validate card") as grandchild:
            grandchild.set_status(Status(StatusCode.ERROR, "card declined"))
            log.warning("card %s declined", "4242", extra={"order.id": "o-17"})
    with tracer.start_as_current_span("render receipt") as sibling:
        sibling.set_attribute("template", "receipt.html")

flushed = {
    "traces": tracer_provider.force_flush(10_000),
    "logs": logger_provider.force_flush(10_000),
    "metrics": meter_provider.force_flush(10_000),
}

trace_id, root_id = hex_ids(root)
upstream_trace_id, upstream_id = hex_ids(upstream)
print(
    json.dumps(
        {
            "service": service,
            "flushed": flushed,
            "traceId": trace_id,
            "spans": {
                "root": root_id,
                "client": hex_ids(client)[1],
                "grandchild": hex_ids(grandchild)[1],
                "sibling": hex_ids(sibling)[1],
            },
            "upstream": {"traceId": upstream_trace_id, "spanId": upstream_id},
            "log": {"body": "card 4242 declined", "severityNumber": 13, "orderId": "o-17"},
            "metrics": {
                "orders": {"eu": 7, "us": 5},
                "latency": {"count": 3, "sum": 60.0, "min": 10.0, "max": 30.0},
                "queueDepth": 3,
                "temperature": 21.5,
            },
        }
    )
)
sys.stdout.flush()
