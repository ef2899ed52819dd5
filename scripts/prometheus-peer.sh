#!/usr/bin/env bash
# Installs the peers of telemetry-prometheus's tests: Debian's `prometheus` package, which
# brings both `prometheus` (the real server that tests/real_prometheus.rs runs on loopback
# and scrapes our endpoint with) and `promtool` (whose `check metrics` parses our output in
# tests/promtool.rs).
#
#   scripts/prometheus-peer.sh
#
# Idempotent: does nothing when both binaries run. Otherwise installs non-interactively with
# apt-get (as root, or through sudo when available), refreshing the package lists only if the
# first attempt fails. The package's service is kept from starting: the tests start their own
# server on a free port, and a system-wide one would only use memory and port 9090.
# Progress goes to stderr; exits non-zero when the binaries still do not run.
set -euo pipefail

have_peers() {
    prometheus --version >/dev/null 2>&1 && promtool --version >/dev/null 2>&1
}

if have_peers; then
    exit 0
fi

if [[ "$(id -u)" == 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "prometheus-peer: not root and no sudo; install the Debian package 'prometheus'" >&2
    exit 1
fi

# invoke-rc.d asks policy-rc.d whether a package may start its service; 101 means no. Only a
# policy file we created is removed again.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
    "${as_root[@]}" chmod 755 "$policy"
    created_policy=1
fi
cleanup() {
    if [[ "$created_policy" == 1 ]]; then
        "${as_root[@]}" rm -f "$policy"
    fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
install() {
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends prometheus >&2
}
echo "prometheus-peer: installing the Debian package 'prometheus'" >&2
if ! install; then
    "${as_root[@]}" apt-get update -q >&2
    install
fi

if ! have_peers; then
    echo "prometheus-peer: prometheus or promtool still does not run after the install" >&2
    exit 1
fi
prometheus --version 2>&1 | head -n 1 >&2
