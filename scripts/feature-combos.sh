#!/usr/bin/env bash
# Builds the facade crate `telemetry` with every combination of its features, so that no
# combination ships broken (STYLE.md: feature flags live on the facade only, and CI builds
# every combination). Library only (`cargo check -p telemetry`), without default features
# and then with each subset of the optional ones.
#
# Speed: the 32 checks share one target dir and run one after another. A dependency is
# checked once per distinct set of its own features (optional dependencies such as
# telemetry-dashboard turn on features of shared ones like tokio, giving a handful of sets),
# and cargo keeps each set's artifacts side by side, so most checks only re-check the facade
# itself: seconds each once the first few have built the dependencies.
#
# Usage: scripts/feature-combos.sh   (respects CARGO_TARGET_DIR and other cargo variables)
set -euo pipefail

cd "$(dirname "$0")/.."

features=(otlp log tracing http dashboard)
count=${#features[@]}
failed=()

for ((mask = 0; mask < (1 << count); mask++)); do
    selected=()
    for ((i = 0; i < count; i++)); do
        if (((mask >> i) & 1)); then
            selected+=("${features[i]}")
        fi
    done
    list=$(IFS=,; echo "${selected[*]:-}")
    echo "==> cargo check -p telemetry --no-default-features --features '${list}'"
    if ! cargo check --quiet -p telemetry --no-default-features --features "${list}"; then
        failed+=("${list:-<none>}")
    fi
done

if ((${#failed[@]} > 0)); then
    echo "feature combinations that do not build: ${failed[*]}" >&2
    exit 1
fi
echo "all $((1 << count)) feature combinations of telemetry build"
