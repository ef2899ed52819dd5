"""The Python sender of the browser test (crates/telemetry/tests/browser.rs, driven by
e2e.mjs): the OpenTelemetry SDK, through its own providers, batch processors and OTLP/HTTP
exporters, sends one trace (a server root, a child, a failing grandchild), a log record emitted
inside the grandchild, and a counter and a histogram, to a dashboard.

    python send_python.py ENDPOINT SERVICE TAG

ENDPOINT is the receiver's base URL (``http://127.0.0.1:PORT``). On success the last stdout
line is one JSON object: the ids the SDK generated, the log body, and the unix milliseconds at
which the flush began (``exportMs``, the start of export-to-pixels) and ended (``flushedMs``,
when the receiver had answered every request).
"""

import json
import logging
import sys
import time
import warnings

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

endpoint, service, tag = sys.argv[1:4]

resource = Resource.create({"service.name": service, "deployment.environment.name": "e2e"})

# Delays far beyond the run: everything leaves on force_flush, so its start is the export time.
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(
    BatchSpanProcessor(
        OTLPSpanExporter(endpoint=endpoint + "/v1/traces", timeout=5),
        schedule_delay_millis=3_600_000,
    )
)
tracer = tracer_provider.get_tracer("e2e.browser.python", "1.0.0")

logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(
    BatchLogRecordProcessor(
        OTLPLogExporter(endpoint=endpoint + "/v1/logs", timeout=5),
        schedule_delay_millis=3_600_000,
    )
)
# The SDK's handler is deprecated in favour of a contrib package this venv does not hold; it
# still is the SDK's own bridge from `logging`.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
log = logging.getLogger("e2e.browser.python")
log.setLevel(logging.INFO)
log.propagate = False
log.addHandler(handler)

reader = PeriodicExportingMetricReader(
    OTLPMetricExporter(endpoint=endpoint + "/v1/metrics", timeout=5),
    export_interval_millis=3_600_000,
)
meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
meter = meter_provider.get_meter("e2e.browser.python", "1.0.0")
jobs = meter.create_counter("e2e.python.jobs", unit="{job}", description="jobs run")
duration = meter.create_histogram("e2e.python.duration", unit="ms")


def hex_ids(span):
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def span_json(span, depth, error):
    return {"id": hex_ids(span)[1], "name": span.name, "depth": depth, "error": error}


log_body = f"python job {tag} failed"
with tracer.start_as_current_span(
    f"python job {tag}", kind=SpanKind.SERVER, attributes={"e2e.tag": tag}
) as root:
    with tracer.start_as_current_span("python step", attributes={"step": 1}) as child:
        time.sleep(0.002)
        with tracer.start_as_current_span("python failing step") as grandchild:
            grandchild.set_status(Status(StatusCode.ERROR, "step failed"))
            log.error(log_body)
jobs.add(1, {"outcome": "error"})
duration.record(2.5, {"outcome": "error"})

export_ms = time.time() * 1000
flushed = {
    "traces": tracer_provider.force_flush(10_000),
    "logs": logger_provider.force_flush(10_000),
    "metrics": meter_provider.force_flush(10_000),
}
flushed_ms = time.time() * 1000

trace_id = hex_ids(root)[0]
print(
    json.dumps(
        {
            "service": service,
            "traceId": trace_id,
            # As the waterfall must show them: id, name, depth, error mark.
            "spans": {
                "root": span_json(root, 0, False),
                "child": span_json(child, 1, False),
                "grandchild": span_json(grandchild, 2, True),
            },
            "log": {"body": log_body, "spanId": hex_ids(grandchild)[1]},
            "flushed": flushed,
            "exportMs": export_ms,
            "flushedMs": flushed_ms,
        }
    )
)
sys.stdout.flush()
