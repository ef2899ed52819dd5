#!/usr/bin/env bash
# Browser benchmark of the dashboard (issue 10, point 9): export -> pixel latency of new traces
# in the trace list (p50/p99/max, idle and under load) and the overview's frame times under
# 50,000 spans/s of OTLP/HTTP ingest. A benchmark, not a test: it reports, it does not judge.
#
#   bash scripts/browser-peer.sh        # once: Chromium + playwright-core
#   bash scripts/bench-browser.sh       # ~4 minutes after the build
#
# Environment (all optional):
#   TELEMETRY_BROWSER_DIR   folder holding node_modules/playwright-core [default:
#                           crates/telemetry-dashboard/tests/browser when it has node_modules]
#   TELEMETRY_CHROMIUM      the browser [default: /usr/bin/chromium]
#   BENCH_RATE              load in spans/s [default: 50000]
#   BENCH_PROBES            latency probes per phase [default: 100]
#   BENCH_OVERVIEW_SECONDS  how long the overview is watched under load [default: 30]
#   BENCH_PROFILE_SECONDS   CPU profile of the overview under load, after the frame
#                           measurement [default: 10; 0 = none]
#   BENCH_DEMO              1: run the dashboard with --demo (three services sending traces,
#                           metrics and logs at a low rate) and register one view of each
#                           chart type on its metrics, so the overview draws what a user's
#                           would; 0: the load generator's traces only [default: 1]
#   BENCH_MEMORY_BUDGET     the dashboard's --memory-budget [default: 512MiB]
#   BENCH_UI_DIR            serve the pages from this folder instead of the ones built into
#                           the binary (TELEMETRY_DASHBOARD_UI_DIR), to measure pages being
#                           edited without a rebuild
#   CARGO_TARGET_DIR        where cargo builds [default: target]
#
# It builds (release) the dashboard binary and the load generator (benches/examples/
# otlp_load.rs), starts the dashboard on free loopback ports, runs benches/browser/latency.mjs,
# prints the summary and writes target/bench-output/browser.json (and overview.cpuprofile, which
# Chrome DevTools opens: Performance > Load profile); the dashboard and every
# child stop on exit, also on Ctrl-C. Its log is kept in target/bench-output/dashboard.log.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
target="${CARGO_TARGET_DIR:-$repo/target}"
out_dir="$repo/target/bench-output"
mkdir -p "$out_dir"

# ---- the browser side: playwright-core and Chromium ----
browser_dir="${TELEMETRY_BROWSER_DIR:-}"
if [[ -z "$browser_dir" ]]; then
    candidate="$repo/crates/telemetry-dashboard/tests/browser"
    if [[ -d "$candidate/node_modules/playwright-core" ]]; then
        browser_dir="$candidate"
    fi
fi
if [[ -z "$browser_dir" || ! -f "$browser_dir/node_modules/playwright-core/index.mjs" ]]; then
    echo "bench-browser: playwright-core not found${browser_dir:+ in $browser_dir/node_modules}." >&2
    echo "  Run 'bash scripts/browser-peer.sh' first (it installs Chromium and playwright-core)," >&2
    echo "  or set TELEMETRY_BROWSER_DIR to a folder holding node_modules/playwright-core." >&2
    exit 1
fi
chromium="${TELEMETRY_CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
    echo "bench-browser: no browser at $chromium; run 'bash scripts/browser-peer.sh'" \
        "or set TELEMETRY_CHROMIUM" >&2
    exit 1
fi
command -v node >/dev/null 2>&1 || { echo "bench-browser: node is not on PATH" >&2; exit 1; }

# ---- build ----
echo "bench-browser: building (release) telemetry-dashboard and otlp_load" >&2
cargo build --release -q -p telemetry-dashboard --bin telemetry-dashboard >&2
cargo build --release -q -p telemetry-benches --example otlp_load >&2
dashboard_bin="$target/release/telemetry-dashboard"
load_bin="$target/release/examples/otlp_load"

# ---- free ports: bound and released by the kernel's choice, then handed to the dashboard ----
read -r ui_port http_port grpc_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
')

pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

dashboard_env=()
if [[ -n "${BENCH_UI_DIR:-}" ]]; then
    dashboard_env=(TELEMETRY_DASHBOARD_UI_DIR="$BENCH_UI_DIR")
fi
dashboard_args=()
views=""
if [[ "${BENCH_DEMO:-1}" == 1 ]]; then
    dashboard_args=(--demo)
    views="http.server.request.duration:heatmap,agent.tasks:line,tool.calls:bar"
    views+=",knowledge.lookups:area,agent.tasks.active:stat"
fi
env "${dashboard_env[@]}" "$dashboard_bin" "${dashboard_args[@]}" \
    --ui-port "$ui_port" --http-port "$http_port" --grpc-port "$grpc_port" \
    --memory-budget "${BENCH_MEMORY_BUDGET:-512MiB}" >"$out_dir/dashboard.log" 2>&1 &
pids+=($!)

ui="http://127.0.0.1:$ui_port"
for _ in $(seq 1 100); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('$ui/api/health', timeout=1)" \
        2>/dev/null; then
        break
    fi
    if ! kill -0 "${pids[0]}" 2>/dev/null; then
        echo "bench-browser: the dashboard exited; its log:" >&2
        cat "$out_dir/dashboard.log" >&2
        exit 1
    fi
    sleep 0.1
done
echo "bench-browser: dashboard at $ui (OTLP/HTTP $http_port), $(nproc) cores," \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >&2

TELEMETRY_BROWSER_DIR="$browser_dir" TELEMETRY_CHROMIUM="$chromium" \
    node "$repo/benches/browser/latency.mjs" \
    --ui "$ui" --otlp "http://127.0.0.1:$http_port/v1/traces" --load-bin "$load_bin" \
    --rate "${BENCH_RATE:-50000}" --probes "${BENCH_PROBES:-100}" \
    --overview-seconds "${BENCH_OVERVIEW_SECONDS:-30}" \
    --profile-seconds "${BENCH_PROFILE_SECONDS:-10}" --views "$views" \
    --out "$out_dir/browser.json" &
pids+=($!)
wait "${pids[1]}"
