#!/usr/bin/env bash
# Creates the Python venv holding the peers our tests check against (opentelemetry-proto as
# a second decoder of our bytes; the OpenTelemetry SDK and OTLP exporters as real senders),
# from scripts/python-requirements.txt, and prints the venv's python on its last stdout line.
#
#   scripts/python-peers.sh            # venv at <repo>/target/python-peers
#   TELEMETRY_PYTHON_VENV=/x scripts/python-peers.sh
#
# Idempotent and fast when nothing changed: the venv keeps a marker with the hash of the
# requirements and of the interpreter version, and a matching marker skips everything. Any
# other state (no venv, an older hash, an install that died half-way and left no marker) is
# rebuilt from scratch, so pins removed from the file do not linger. Progress goes to stderr.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$repo/scripts/python-requirements.txt"
venv="${TELEMETRY_PYTHON_VENV:-$repo/target/python-peers}"
marker="$venv/.telemetry-requirements.sha256"

hash="$({ cat "$requirements"; python3 --version; } | sha256sum | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$marker" && "$(cat "$marker")" == "$hash" ]]; then
    echo "$venv/bin/python"
    exit 0
fi

# Only ever delete what is recognisably a venv, whatever TELEMETRY_PYTHON_VENV points at.
if [[ -e "$venv" ]]; then
    if [[ ! -f "$venv/pyvenv.cfg" ]]; then
        echo "python-peers: $venv exists and is not a venv; not touching it" >&2
        exit 1
    fi
    rm -rf "$venv"
fi

echo "python-peers: creating $venv" >&2
python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
    -r "$requirements" >&2
# The oracle must import, or every test that uses it would fail later and less clearly.
"$venv/bin/python" -c 'import opentelemetry.proto.trace.v1.trace_pb2, google.protobuf' >&2
echo "$hash" >"$marker"
echo "$venv/bin/python"
