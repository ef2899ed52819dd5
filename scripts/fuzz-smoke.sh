#!/usr/bin/env bash
# Smoke-fuzzes every cargo-fuzz target in fuzz/ for a short while.
#
# Usage (from anywhere; it works from the repository root):
#   scripts/fuzz-smoke.sh                  # every target, 20 s each, one per core at a time
#   FUZZ_SECONDS=60 scripts/fuzz-smoke.sh  # longer
#   FUZZ_TARGETS="baggage" scripts/fuzz-smoke.sh
#
# Needs the nightly toolchain (cargo-fuzz builds with sanitizers); installs cargo-fuzz with
# the stable toolchain if it is missing. Each target starts from fuzz/seeds/<target>, copied
# into fuzz/corpus/<target> (gitignored), so the corpus grows from run to run. Crashes land
# in fuzz/artifacts/<target>/; logs in fuzz/target/fuzz-smoke/<target>.log. Exits non-zero
# when any target fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
seconds=${FUZZ_SECONDS:-20}
targets=${FUZZ_TARGETS:-traceparent tracestate baggage propagator otlp_traces_proto otlp_traces_json otlp_metrics_proto otlp_metrics_json otlp_logs_proto otlp_logs_json dashboard_api}
log_dir=$root/fuzz/target/fuzz-smoke

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: cargo-fuzz is missing; installing it" >&2
    # Outside the repository, so its pinned rust-toolchain.toml does not apply: the install
    # uses the default (stable) toolchain.
    (cd / && cargo install cargo-fuzz --locked)
fi
if ! nightly=$(rustup run nightly rustc --version 2>/dev/null); then
    echo "fuzz-smoke: the nightly toolchain is missing; install it with" >&2
    echo "    rustup toolchain install nightly --profile minimal" >&2
    exit 2
fi
echo "fuzz-smoke: $(cargo fuzz --version), $nightly, ${seconds}s per target"

mkdir -p "$log_dir"
rm -f "$log_dir"/*.summary
start=$SECONDS
if ! cargo +nightly fuzz build >"$log_dir/build.log" 2>&1; then
    tail -n 40 "$log_dir/build.log" >&2
    echo "fuzz-smoke: building the fuzz targets failed (log: $log_dir/build.log)" >&2
    exit 1
fi
echo "fuzz-smoke: built the fuzz targets in $((SECONDS - start))s"

# Targets run `jobs` at a time (default: one per core), each on one core: a smoke run is
# about wall time, and libFuzzer is single-threaded.
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}

# Runs one target; writes its summary line to $log_dir/<target>.summary and exits non-zero
# if it failed.
fuzz_one() {
    local target=$1
    local corpus=fuzz/corpus/$target
    local log=$log_dir/$target.log
    local result=$log_dir/$target.summary
    mkdir -p "$corpus" "fuzz/artifacts/$target"
    if [[ -d fuzz/seeds/$target ]]; then
        cp fuzz/seeds/"$target"/* "$corpus"/
    fi
    echo "fuzz-smoke: $target for ${seconds}s (log: $log)"
    if cargo +nightly fuzz run "$target" "$corpus" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1; then
        local runs
        runs=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1 | awk '{print $2}' || true)
        echo "$target: ok, ${runs:-?} executions in ${seconds}s, corpus $(find "$corpus" -type f | wc -l) inputs" >"$result"
    else
        local rc=$? runs artifact
        # `|| true`: a log without these lines (a build that failed) must not end the script
        # under `set -e -o pipefail` before the summary says what failed.
        runs=$(grep -Eo '^#[0-9]+' "$log" | tail -n 1 | tr -d '#' || true)
        artifact=$(grep -Eo 'Test unit written to [^ ]+' "$log" | tail -n 1 | awk '{print $5}' || true)
        echo "$target: FAILED (exit $rc) after ${runs:-?} executions; input: ${artifact:-none written, see $log}" >"$result"
        grep -E 'panicked at|ERROR: (AddressSanitizer|libFuzzer)' "$log" | head -n 3 >&2 || true
        return 1
    fi
}

failed=0
running=()
for target in $targets; do
    fuzz_one "$target" &
    running+=("$!")
    if (( ${#running[@]} >= jobs )); then
        for pid in "${running[@]}"; do
            wait "$pid" || failed=1
        done
        running=()
    fi
done
for pid in "${running[@]}"; do
    wait "$pid" || failed=1
done

echo
echo "fuzz-smoke summary:"
for target in $targets; do
    printf '  %s\n' "$(cat "$log_dir/$target.summary" 2>/dev/null || echo "$target: no result")"
done
exit "$failed"
