#!/usr/bin/env python3
"""Fails when the workspace breaks the layering of DESIGN.md §2 or the unsafe-code rule.

- Each workspace crate may depend (normal and build dependencies) only on the workspace
  crates listed for it in ALLOWED below: the arrows of DESIGN.md §2, pointing down.
- Nothing depends on the facade `telemetry`, in any kind of dependency, but the facade's own
  examples and tests (its self dev-dependency) and the benches.
- Every crate's lib.rs carries `#![forbid(unsafe_code)]`, but those in UNSAFE_ALLOWED, where
  a benchmark showed unsafe pays (docs/adr/001-tsc-clock.md and the batcher's ring).
- Every library's crate docs (lib.rs `//!`) hold an example that runs as a doc test
  (issue 13): a fence that is plain or `rust`, not `text`, `ignore`, `no_run`.
- Every crate under crates/ is known here: a new crate must be placed in the layering on
  purpose (and, per DESIGN.md §1, explained in docs/adr/ if it is not on the crate map).

Reads `cargo metadata`, so it sees exactly what cargo builds. Run from anywhere.
"""

import json
import pathlib
import subprocess
import sys

CORE = "telemetry-core"
BATCHER = "telemetry-batcher"
CONTEXT = "telemetry-context"
SPAN = "telemetry-span"
MACROS = "telemetry-macros"
METRICS = "telemetry-metrics"
LOGS = "telemetry-logs"
OTLP = "telemetry-otlp"
PROMETHEUS = "telemetry-prometheus"
DASHBOARD = "telemetry-dashboard"
FACADE = "telemetry"
BENCHES = "telemetry-benches"

# What each crate may depend on (normal and build dependencies). Dev-dependencies are free
# below the facade: tests may use a crate beside or above (a span test may emit logs), since
# that creates no cycle in what users link.
ALLOWED = {
    CORE: set(),
    BATCHER: set(),
    CONTEXT: {CORE},
    SPAN: {CORE, CONTEXT, BATCHER},
    METRICS: {CORE, CONTEXT},
    LOGS: {CORE, CONTEXT, BATCHER},
    MACROS: set(),
    OTLP: {CORE, CONTEXT, SPAN, METRICS, LOGS},
    PROMETHEUS: {CORE, METRICS},
    DASHBOARD: {CORE, CONTEXT, SPAN, METRICS, LOGS, OTLP},
    FACADE: {CORE, CONTEXT, BATCHER, SPAN, MACROS, METRICS, LOGS, OTLP, PROMETHEUS, DASHBOARD},
    BENCHES: set(),
}
# Who may name the facade at all, and how.
FACADE_USERS = {FACADE, BENCHES}
UNSAFE_ALLOWED = {BATCHER}


def has_running_example(source: str) -> bool:
    """Whether the crate docs (`//!` lines) open a code block that rustdoc runs: plain or
    `rust`, not `text`, `ignore`, `no_run` or `compile_fail`."""
    inside = False
    for line in source.splitlines():
        text = line.strip()
        if not text.startswith("//!"):
            continue
        fence = text[3:].strip()
        if not fence.startswith("```"):
            continue
        if inside:  # the closing fence of a block
            inside = False
            continue
        inside = True
        info = {word.strip() for word in fence[3:].split(",") if word.strip()}
        if info <= {"rust", "should_panic", "edition2021", "edition2024"}:
            return True
    return False


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    packages = {p["name"]: p for p in metadata["packages"]}
    problems = []
    for name, package in sorted(packages.items()):
        if name not in ALLOWED:
            problems.append(f"{name}: not placed in the layering (add it to scripts/check-layering.py)")
            continue
        for dep in package["dependencies"]:
            target = dep["name"]
            if target not in packages:
                continue
            if target == FACADE and name not in FACADE_USERS:
                problems.append(f"{name} depends on the facade `telemetry` ({dep['kind'] or 'normal'})")
            if dep["kind"] == "dev":
                continue
            if target not in ALLOWED[name]:
                problems.append(f"{name} -> {target}: against DESIGN.md §2's layering")
        lib = next((t for t in package["targets"] if "lib" in t["kind"] or "proc-macro" in t["kind"]), None)
        if lib is None:
            continue
        source = pathlib.Path(lib["src_path"]).read_text(encoding="utf-8")
        if name not in BENCHES and not has_running_example(source):
            problems.append(f"{name}: lib.rs's crate docs have no example that runs as a doc test")
        if name in UNSAFE_ALLOWED:
            continue
        if "#![forbid(unsafe_code)]" not in source:
            problems.append(f"{name}: lib.rs lacks #![forbid(unsafe_code)]")
    for problem in problems:
        print(f"layering: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"layering: {len(packages)} crates checked, no violations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
