#!/usr/bin/env bash
# Runs telemetry-batcher's unit and integration tests under ThreadSanitizer (nightly, with a
# sanitized standard library). Runs from anywhere; builds in $CARGO_TARGET_DIR/tsan (default
# target/tsan); exits non-zero on a failure or a report.
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
# Fail the process on the first report instead of printing and carrying on.
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 abort_on_error=1}"
# The tests make sinks panic on purpose; symbolizing each backtrace under TSAN takes seconds,
# enough to push a test's flush past its deadline when RUST_BACKTRACE is set in the caller's
# environment.
export RUST_BACKTRACE=0

cargo +nightly test -Zbuild-std --target "$target" --target-dir "${CARGO_TARGET_DIR:-target}/tsan" \
  -p telemetry-batcher --lib --tests "$@"
