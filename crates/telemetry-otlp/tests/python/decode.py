"""A second, independent decoder of our OTLP bytes: the generated classes of the
opentelemetry-proto package, driven by tests/python_proto.rs.

    decode.py KIND PROTO_FILE [JSON_FILE]

KIND is traces, metrics or logs. PROTO_FILE holds a protobuf Export*ServiceRequest; it must
parse, and no message anywhere in it may carry unknown fields (a wrong field number or wire
type would otherwise pass silently). JSON_FILE, when given, holds the OTLP/JSON encoding of
the same request; after its hex ids are turned into the base64 the protobuf JSON mapping
expects (the one difference OTLP/JSON makes), json_format.Parse must accept it with unknown
fields refused and give a message equal to the protobuf one.

On success prints one line of JSON: json_format.MessageToDict of the protobuf message with
proto field names and integer enums, where ids and bytes values are hex. On failure prints
why to stderr and exits 1.
"""

import base64
import json
import sys

from google.protobuf import json_format, unknown_fields
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

REQUESTS = {
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
}

# Fields that OTLP/JSON writes as hex rather than base64 (the spec's one exception).
ID_KEYS_JSON = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
# The same in MessageToDict's output, plus bytes attribute values, turned into hex there.
HEX_KEYS_OUT = {"trace_id", "span_id", "parent_span_id", "bytes_value"}


def fail(message):
    print(f"decode.py: {message}", file=sys.stderr)
    sys.exit(1)


def unknown_field_paths(message, path):
    """Paths of every message at or under `message` that has unknown fields."""
    found = []
    if len(unknown_fields.UnknownFieldSet(message)):
        found.append(path or "<root>")
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if field.is_repeated:
            for index, item in enumerate(value):
                found.extend(unknown_field_paths(item, f"{path}.{field.name}[{index}]"))
        else:
            found.extend(unknown_field_paths(value, f"{path}.{field.name}"))
    return found


def hex_ids_to_base64(node):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ID_KEYS_JSON and isinstance(value, str):
                try:
                    raw = bytes.fromhex(value)
                except ValueError:
                    fail(f"{key} {value!r} is not hex")
                out[key] = base64.b64encode(raw).decode("ascii")
            else:
                out[key] = hex_ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [hex_ids_to_base64(item) for item in node]
    return node


def base64_to_hex(node):
    if isinstance(node, dict):
        return {
            key: base64.b64decode(value).hex()
            if key in HEX_KEYS_OUT and isinstance(value, str)
            else base64_to_hex(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [base64_to_hex(item) for item in node]
    return node


def main(argv):
    if len(argv) not in (3, 4) or argv[1] not in REQUESTS:
        fail(f"usage: decode.py {{{','.join(REQUESTS)}}} PROTO_FILE [JSON_FILE]")
    request_type = REQUESTS[argv[1]]
    with open(argv[2], "rb") as f:
        data = f.read()
    try:
        message = request_type.FromString(data)
    except Exception as error:  # the runtime's DecodeError, whatever the backend
        fail(f"protobuf does not parse: {error}")
    unknown = unknown_field_paths(message, "")
    if unknown:
        fail(f"unknown fields in: {', '.join(unknown)}")
    if message.SerializeToString(deterministic=True) != data:
        # Not an error in itself (field order may differ), but ours writes in field order.
        reencoded = "differs"
    else:
        reencoded = "same"

    summary = {
        "request": base64_to_hex(
            json_format.MessageToDict(
                message,
                preserving_proto_field_name=True,
                use_integers_for_enums=True,
            )
        ),
        "reencoded": reencoded,
    }

    if len(argv) == 4:
        with open(argv[3], "rb") as f:
            otlp_json = json.loads(f.read())
        text = json.dumps(hex_ids_to_base64(otlp_json))
        from_json = request_type()
        try:
            json_format.Parse(text, from_json, ignore_unknown_fields=False)
        except json_format.ParseError as error:
            fail(f"OTLP/JSON does not parse: {error}")
        if from_json != message:
            left = json_format.MessageToJson(from_json, preserving_proto_field_name=True)
            right = json_format.MessageToJson(message, preserving_proto_field_name=True)
            fail(f"OTLP/JSON gives another message than protobuf:\n{left}\nvs\n{right}")
        summary["json_matches_protobuf"] = True

    print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv)
