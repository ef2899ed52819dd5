#!/usr/bin/env bash
# Installs the peers of the browser test (crates/telemetry/tests/browser.rs): Debian's
# `chromium` package, and playwright-core from npm (pinned in package-lock.json) in
# crates/telemetry-dashboard/tests/browser/node_modules, then prints that folder (the one
# holding node_modules) on its last stdout line, for TELEMETRY_BROWSER_DIR.
#
#   scripts/browser-peer.sh
#   TELEMETRY_CHROMIUM=/path/to/chromium scripts/browser-peer.sh   # use that browser
#
# Idempotent and fast when nothing changed: Chromium is installed only when missing (as root,
# or through sudo when available), and `npm ci` runs only when node_modules is missing or
# older than the lock file it was installed from (npm keeps a copy of the lock as
# node_modules/.package-lock.json). Progress goes to stderr; exits non-zero, saying what is
# missing, when node, npm or Chromium cannot be had.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$repo/crates/telemetry-dashboard/tests/browser"
chromium="${TELEMETRY_CHROMIUM:-/usr/bin/chromium}"

if [[ ! -x "$chromium" ]]; then
    if [[ -n "${TELEMETRY_CHROMIUM:-}" ]]; then
        echo "browser-peer: TELEMETRY_CHROMIUM=$chromium is not an executable" >&2
        exit 1
    fi
    if [[ "$(id -u)" == 0 ]]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "browser-peer: $chromium is missing, and not root and no sudo to install" \
            "the Debian package 'chromium'" >&2
        exit 1
    fi
    install() {
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends chromium >&2
    }
    echo "browser-peer: installing the Debian package 'chromium'" >&2
    # A fresh machine has no package lists yet: refresh them when the first try fails.
    if ! install; then
        "${as_root[@]}" apt-get update -q >&2
        install
    fi
fi
if ! version="$("$chromium" --version 2>/dev/null)"; then
    echo "browser-peer: $chromium does not run" >&2
    exit 1
fi

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "browser-peer: $tool is not on PATH (Node.js 20 or later is needed)" >&2
        exit 1
    fi
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < 20)); then
    echo "browser-peer: node $(node --version) is too old; playwright-core needs 20 or later" >&2
    exit 1
fi

installed="$dir/node_modules/.package-lock.json"
if [[ ! -f "$dir/node_modules/playwright-core/package.json" || ! -f "$installed" \
    || "$dir/package-lock.json" -nt "$installed" ]]; then
    echo "browser-peer: npm ci in $dir" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
# The module must load, or the test would fail later and less clearly.
(cd "$dir" && node -e "import('playwright-core').then(() => {}, (e) => { console.error(e.message); process.exit(1); })") >&2
echo "browser-peer: $version" >&2
echo "$dir"
