#!/usr/bin/env bash
# Runs the unit and integration tests of the crates that share memory between threads
# (telemetry-batcher, telemetry-span, telemetry-metrics) under ThreadSanitizer: nightly, with
# a sanitized standard library (-Zbuild-std), so that std's own atomics and locks are seen
# too and no report comes from an uninstrumented std. Runs from anywhere; builds in
# $CARGO_TARGET_DIR/tsan (default target/tsan); exits non-zero on a failed test or on the
# first report. Extra arguments go to every test binary (e.g. a name filter).
#
# Supersedes scripts/batcher-tsan.sh: the batcher's tests are among those run here.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "error: the nightly toolchain is required for ThreadSanitizer" >&2
  exit 1
fi
sysroot="$(rustup run nightly rustc --print sysroot)"
if [ ! -d "$sysroot/lib/rustlib/src/rust/library" ]; then
  rustup +nightly component add rust-src || {
    echo "error: nightly rust-src is missing and could not be installed (needed by -Zbuild-std)" >&2
    exit 1
  }
fi

target="$(rustup run nightly rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="${RUSTFLAGS:-} -Zsanitizer=thread"
export RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -Zsanitizer=thread"
# Fail the process on the first report instead of printing and carrying on. No
# suppressions file: the run reports nothing, in our code, in std (built sanitized here) or
# in the dependencies.
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 abort_on_error=1}"
# The tests make sinks and exporters panic on purpose; symbolizing each backtrace under TSAN
# takes seconds, enough to push a test's flush past its deadline when RUST_BACKTRACE is set
# in the caller's environment.
export RUST_BACKTRACE=0

# Every unit and integration test of the three crates runs, none left out: those bound by
# time (the outage tests' deadlines, the metrics concurrency test) pass within their limits
# under TSAN's slowdown, and the allocation-counting tests still count right, since TSAN
# intercepts malloc below the tests' global allocator. tests/loom.rs builds empty without
# `--cfg loom` (scripts/batcher-loom.sh runs it). About 160 tests: ~30 s once built; the
# build of std and the dependencies with the sanitizer takes a few minutes more when cold.
cargo +nightly test -Zbuild-std --target "$target" --target-dir "${CARGO_TARGET_DIR:-target}/tsan" \
  -p telemetry-batcher -p telemetry-span -p telemetry-metrics --lib --tests --no-fail-fast -- "$@"
