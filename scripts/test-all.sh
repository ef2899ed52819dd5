#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration, doc and example tests, the
# benchmarks in test mode, the batcher's and the histogram cell's loom models, the
# ThreadSanitizer run of the batcher, span and metrics tests, and a short fuzzing pass over
# every parser of outside input.
#
# Tools beyond the stable toolchain (the nightly toolchain for fuzzing and TSAN, cargo-fuzz)
# are installed here when missing and possible. With TELEMETRY_REQUIRE_PEERS=1 (CI sets it)
# a tool that cannot be had fails the run instead of skipping its step.
set -euo pipefail
cd "$(dirname "$0")/.."
# The dashboard's abuse tests hold a thousand connections at both ends; raise the soft
# open-files limit toward the hard one where it is lower (some machines default to 1024).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 4096 2>/dev/null || true

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
require_peers="${TELEMETRY_REQUIRE_PEERS:-0}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

step() {
  local name="$1"
  shift
  local start=$SECONDS
  echo "==> $name"
  local status=0
  "$@" 2>&1 | tee -a "$log" || status=$?
  echo "<== $name: $((SECONDS - start)) s (exit $status)"
  return "$status"
}

# Skips a step whose tool is missing, unless peers are required.
missing() {
  if [ "$require_peers" = "1" ]; then
    echo "error: $1 is required (TELEMETRY_REQUIRE_PEERS=1) but unavailable" >&2
    exit 1
  fi
  echo "warning: skipping: $1 is unavailable (set TELEMETRY_REQUIRE_PEERS=1 to fail instead)" >&2
}

# The Python peers (opentelemetry-proto as a second decoder; the SDK and OTLP exporters as
# real senders), in a venv under target/; tests find the interpreter through TELEMETRY_PYTHON.
if python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  step "python peers" bash scripts/python-peers.sh
  TELEMETRY_PYTHON="$(bash scripts/python-peers.sh | tail -n 1)"
  export TELEMETRY_PYTHON
else
  missing "python3 with venv and ensurepip (Debian: python3-venv)"
fi

# Headless Chromium (Debian package chromium) and playwright-core (npm, pinned by
# crates/telemetry-dashboard/tests/browser/package-lock.json) for the facade's browser test
# (crates/telemetry/tests/browser.rs), which finds them through TELEMETRY_BROWSER_DIR.
if step "browser peer" bash scripts/browser-peer.sh; then
  TELEMETRY_BROWSER_DIR="$(bash scripts/browser-peer.sh | tail -n 1)"
  export TELEMETRY_BROWSER_DIR
else
  missing "the browser peers (node 20+ and npm, Debian package chromium; scripts/browser-peer.sh)"
fi

# Prometheus and promtool (Debian package `prometheus`) for telemetry-prometheus's tests.
step "prometheus peer" bash scripts/prometheus-peer.sh \
  || missing "prometheus and promtool (Debian package prometheus; scripts/prometheus-peer.sh)"

# The facade's tests/examples.rs runs the example programs as separate processes (two of
# them for http_services), from target/debug/examples: `cargo test` builds examples only as
# test targets, under hashed names.
step "example programs" cargo build --workspace --examples

step "unit, integration and example tests; benches in test mode" \
  cargo test --workspace --all-targets
step "doc tests" cargo test --workspace --doc

step "batcher loom models" bash scripts/batcher-loom.sh
step "histogram cell loom model" bash scripts/metrics-loom.sh
if rustup run nightly rustc --version >/dev/null 2>&1; then
  step "batcher, spans and metrics under ThreadSanitizer" bash scripts/tsan.sh
  step "fuzz smoke run" bash scripts/fuzz-smoke.sh
else
  missing "the nightly toolchain (ThreadSanitizer and cargo fuzz)"
fi

# One closing line over every cargo test run above.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "all tests: %d passed, %d failed\n", p, f; exit (f > 0) }' "$log"
