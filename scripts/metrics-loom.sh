#!/usr/bin/env bash
# Model-checks telemetry-metrics' histogram cell with loom: every interleaving of a record
# racing a snapshot-and-reset (the `loom` tests in crates/telemetry-metrics/src/histogram_cell.rs),
# up to LOOM_MAX_PREEMPTIONS preemptions per run. Runs from anywhere; builds in
# $CARGO_TARGET_DIR/loom (default target/loom); exits non-zero if a model fails.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTFLAGS="${RUSTFLAGS:-} --cfg loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
export LOOM_MAX_BRANCHES="${LOOM_MAX_BRANCHES:-10000}"

cargo test --release --target-dir "${CARGO_TARGET_DIR:-target}/loom" -p telemetry-metrics --lib -- --test-threads=2 loom "$@"
