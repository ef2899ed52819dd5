#!/usr/bin/env bash
# Measures the line coverage of every library crate under crates/ from the workspace's unit,
# integration and doc tests, writes the per-crate figures to docs/coverage.md, and fails when
# any crate is under the threshold.
#
#   scripts/coverage.sh                          # gate at 80 %
#   COVERAGE_THRESHOLD=85 scripts/coverage.sh
#   CARGO_TARGET_DIR=/elsewhere scripts/coverage.sh
#   scripts/coverage.sh -p telemetry-core        # only these packages' tests; the report goes
#                                                # to $CARGO_TARGET_DIR/coverage-data/coverage.md
#
# How: the stable compiler's own instrumentation (`-C instrument-coverage`) and the
# llvm-profdata and llvm-cov of the toolchain's llvm-tools component; nothing to install
# from crates.io. A rustc wrapper instruments only the crates under crates/, not the
# dependencies and not build scripts: the dependencies build and run at their normal
# speed, and the profiles stay small. Continuous mode keeps the counts of programs that
# tests kill.
#
# What counts: the lines llvm-cov reports as executable in crates/<crate>/src/**, binaries'
# code (crates/telemetry-dashboard/src/main.rs) included. Not counted: tests/, examples/,
# build.rs, the benches package and fuzz/ (their own code, though they may run library code
# that counts), the bodies of top-level `#[cfg(test)] mod ...` blocks (test code covers
# itself), and code behind cargo features that the workspace test build does not enable.
# Coverage of one crate includes what other crates' tests execute in it.
#
# Doc tests: rustdoc takes `-C instrument-coverage` on stable, so the doc tests run
# instrumented and record counts for the library code they call. Their own binaries are
# temporary (keeping them, `--persist-doctests`, is nightly-only), so the script reads the
# coverage mappings from the instrumented objects inside each crate's rlib instead: every
# non-generic library function is seen. Generic library code instantiated only inside a doc
# test is not.
#
# The proc-macro crate runs inside rustc while the crates that use it compile, so the
# profile output is switched on for the build too, and the macro crate is rebuilt (with its
# dependents) on every run: a cached build would not expand the macros again.
#
# Uses its own target directory (default target/coverage): instrumented artifacts would
# otherwise replace the normal build's. Build nothing else there: cargo cannot tell the
# wrapper's flags apart, so the script rebuilds the workspace crates when its wrapper
# changes, but cannot see a plain `cargo build` that replaced them. Peers of the tests are set up as in
# scripts/test-all.sh (TELEMETRY_PYTHON, Prometheus); TELEMETRY_REQUIRE_PEERS passes through.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

threshold="${COVERAGE_THRESHOLD:-80}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target/coverage}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
require_peers="${TELEMETRY_REQUIRE_PEERS:-0}"
report="$repo/docs/coverage.md"
# The benches package is measurement code, not a library of the product.
cargo_scope=(--workspace --exclude telemetry-benches)
partial=0
if [ "$#" -gt 0 ]; then
  # A quicker look at some packages while writing tests: their own tests only, so their
  # figures can be lower than the whole workspace's; never written to docs/.
  cargo_scope=("$@")
  partial=1
fi

script_start=$SECONDS
phase() {
  local name="$1"
  shift
  local start=$SECONDS
  echo "==> coverage: $name"
  local status=0
  "$@" || status=$?
  echo "<== coverage: $name: $((SECONDS - start)) s (exit $status)"
  return "$status"
}

missing() {
  if [ "$require_peers" = "1" ]; then
    echo "error: $1 is required (TELEMETRY_REQUIRE_PEERS=1) but unavailable" >&2
    exit 1
  fi
  echo "warning: $1 is unavailable; the tests that need it skip" >&2
}

host="$(rustc -vV | sed -n 's/^host: //p')"
llvm_bin="$(rustc --print sysroot)/lib/rustlib/$host/bin"
profdata="$llvm_bin/llvm-profdata"
llvm_cov="$llvm_bin/llvm-cov"
if [ ! -x "$profdata" ] || [ ! -x "$llvm_cov" ]; then
  echo "error: llvm-profdata/llvm-cov not in $llvm_bin: \`rustup component add llvm-tools\`" >&2
  exit 1
fi

work="$CARGO_TARGET_DIR/coverage-data"
if [ "$partial" = 1 ]; then
  report="$work/coverage.md"
fi
profiles="$work/profiles"
mkdir -p "$work"
rm -rf "$profiles" "$work/objects"
mkdir -p "$profiles" "$work/objects"

# Counter relocation lets the profile runtime keep its counters in the profile file itself
# (continuous mode, `%c` below): a program a test ends with SIGKILL (the dashboard binary in
# its --demo test) still leaves its counts, where it would otherwise leave nothing.
instrument="-C instrument-coverage -C llvm-args=-runtime-counter-relocation"

# The rustc wrapper: cargo runs it as `wrapper rustc ARGS...`. It decides by the crate's
# directory, not by CARGO_PRIMARY_PACKAGE: cargo's fingerprints do not see the wrapper's
# flag, so a workspace crate once built as a mere dependency of a `-p` run would later be
# reused uninstrumented. This way every build in this target directory agrees.
wrapper="$work/rustc-instrument-workspace.sh"
cat >"$wrapper" <<EOF
#!/usr/bin/env bash
# Written by scripts/coverage.sh: instruments the crates under $repo/crates, not
# dependencies or build scripts (a build script's profile would be written at build time,
# and its code is not library code). Bash, not sh: dash drops environment variables whose
# names are not identifiers, such as CARGO_BIN_EXE_telemetry-dashboard.
rustc="\$1"
shift
case "\${CARGO_MANIFEST_DIR:-}/" in
  "$repo/crates/"*)
    case " \$* " in
      *" --crate-name build_script_build "*) ;;
      *) exec "\$rustc" "\$@" $instrument ;;
    esac
    ;;
esac
exec "\$rustc" "\$@"
EOF
chmod +x "$wrapper"
export RUSTC_WRAPPER="$wrapper"
# Doc tests link the instrumented rlibs, so they are instrumented too.
export RUSTDOCFLAGS="${RUSTDOCFLAGS:-} $instrument"
# %p: one file per process (tests spawn processes, rustc loads the proc macro); %c:
# continuous mode, counts written as they happen.
export LLVM_PROFILE_FILE="$profiles/%c%p.profraw"

# The same peers as scripts/test-all.sh, so the same tests run.
if [ -z "${TELEMETRY_PYTHON:-}" ]; then
  if python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    start=$SECONDS
    TELEMETRY_PYTHON="$(bash scripts/python-peers.sh | tail -n 1)"
    export TELEMETRY_PYTHON
    echo "<== coverage: python peers: $((SECONDS - start)) s"
  else
    missing "python3 with venv and ensurepip (Debian: python3-venv)"
  fi
fi
phase "prometheus peer" bash scripts/prometheus-peer.sh \
  || missing "prometheus and promtool (Debian package prometheus; scripts/prometheus-peer.sh)"

# Cargo's JSON messages name every artifact: the executables to read coverage mappings from,
# and the workspace's libraries.
artifacts="$work/artifacts.jsonl"
: >"$artifacts"
build() {
  # Workspace crates built here under another wrapper (or none) would look fresh to cargo:
  # rebuild them all when the wrapper changed, and the macro crate always (see the header).
  local stamp="$work/rustc-wrapper.sha256" sum
  sum="$(sha256sum "$wrapper" | cut -d' ' -f1)"
  if [ -d "$CARGO_TARGET_DIR/debug" ]; then
    if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
      local packages=()
      for manifest in crates/*/Cargo.toml; do
        packages+=(-p "$(basename "$(dirname "$manifest")")")
      done
      cargo clean --quiet "${packages[@]}"
    else
      cargo clean --quiet -p telemetry-macros
    fi
  fi
  echo "$sum" >"$stamp"
  # The facade's tests/examples.rs runs the example programs from target/debug/examples.
  if [ "$partial" = 0 ]; then
    cargo build "${cargo_scope[@]}" --examples --message-format=json-render-diagnostics >>"$artifacts"
  fi
  cargo test "${cargo_scope[@]}" --lib --bins --tests --no-run --message-format=json-render-diagnostics \
    >>"$artifacts"
}
phase "instrumented build" build

test_status=0
# Marks the start of the runs, for the profiles that land outside $profiles (below).
touch "$work/tests-started"
phase "unit and integration tests" \
  cargo test "${cargo_scope[@]}" --lib --bins --tests --no-fail-fast || test_status=$?
# The rlibs that doc tests link are built only here for a crate without integration tests:
# their cargo messages go to the artifact list, the rest of the output to the console.
doc_tests() {
  cargo test "${cargo_scope[@]}" --doc --no-fail-fast --message-format=json-render-diagnostics \
    | awk -v out="$artifacts" '/^\{"reason":/ { print >>out; next } { print; fflush() }'
  return "${PIPESTATUS[0]}"
}
phase "doc tests" doc_tests || test_status=$?

# A test that starts a program with a cleared environment (the facade's tests/examples.rs)
# loses LLVM_PROFILE_FILE: the program writes default_*.profraw into its working directory,
# the package's. Those profiles count too, and must not litter the source tree.
stray_profiles() {
  find "$repo/crates" -maxdepth 2 -name '*.profraw' -newer "$work/tests-started" \
    -exec mv -t "$profiles" {} +
}
phase "gather stray profiles" stray_profiles


# Objects holding coverage mappings: every workspace executable built above, and the
# objects inside every workspace rlib (for the counts that doc tests recorded), plus the
# proc-macro's shared object.
collect_objects() {
  python3 - "$repo" "$artifacts" "$work/objects" "$llvm_bin/llvm-ar" \
    >"$work/object-list" <<'EOF'
import json, os, subprocess, sys

repo, artifacts, objects_dir, llvm_ar = sys.argv[1:5]
crates = os.path.join(repo, "crates") + os.sep
seen = set()
with open(artifacts) as lines:
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if message.get("reason") != "compiler-artifact":
            continue
        if not message.get("manifest_path", "").startswith(crates):
            continue
        if "custom-build" in message["target"]["kind"]:
            continue
        paths = []
        if message.get("executable"):
            paths.append(message["executable"])
        for filename in message.get("filenames", []):
            if filename.endswith(".so"):
                paths.append(filename)
            elif filename.endswith(".rlib") and filename not in seen:
                seen.add(filename)
                out = os.path.join(objects_dir, os.path.basename(filename))
                os.makedirs(out, exist_ok=True)
                subprocess.run([llvm_ar, "xo", filename], cwd=out, check=True)
                paths.extend(
                    os.path.join(out, name) for name in sorted(os.listdir(out))
                    if name.endswith(".o"))
        for path in paths:
            if path not in seen:
                seen.add(path)
                print(path)
EOF
  echo "$(wc -l <"$work/object-list") objects"
}
phase "collect objects" collect_objects

merge() {
  find "$profiles" -name '*.profraw' >"$work/profraw-list"
  echo "$(wc -l <"$work/profraw-list") profile files"
  "$profdata" merge -sparse -f "$work/profraw-list" -o "$work/coverage.profdata"
}
phase "merge profiles" merge

export_lcov() {
  local args=()
  while IFS= read -r object; do
    args+=(-object "$object")
  done <"$work/object-list"
  "$llvm_cov" export -format=lcov -instr-profile="$work/coverage.profdata" \
    -ignore-filename-regex='/(\.cargo|\.rustup|rustc)/' "${args[@]}" >"$work/coverage.lcov"
}
phase "llvm-cov export" export_lcov

summarize() {
  python3 - "$repo" "$work/coverage.lcov" "$threshold" "$report" "$test_status" \
    "$(rustc --version)" "$(cargo --version)" "$partial" <<'EOF'
import datetime, os, re, sys

repo, lcov, threshold, report, test_status, rustc, cargo, partial = sys.argv[1:9]
threshold = float(threshold)
crates_dir = os.path.join(repo, "crates")

# Every library crate under crates/, so a crate with no executable line still shows.
crates = sorted(
    name for name in os.listdir(crates_dir)
    if os.path.isfile(os.path.join(crates_dir, name, "Cargo.toml")))

TEST_ATTR = re.compile(r"^#\[cfg\((all\()?test\b")
TEST_MOD = re.compile(r"^(pub(\([^)]*\))? )?mod \w+ \{$")


def test_lines(path):
    """Lines of top-level `#[cfg(test)] mod x { ... }` blocks (rustfmt layout: the block
    closes with a `}` in column 0)."""
    skip = set()
    with open(path, encoding="utf-8") as source:
        lines = source.read().split("\n")
    i = 0
    while i < len(lines):
        if TEST_ATTR.match(lines[i]):
            j = i + 1
            while j < len(lines) and (lines[j].startswith("#[") or lines[j].startswith("//")):
                j += 1
            if j < len(lines) and TEST_MOD.match(lines[j]):
                k = j + 1
                while k < len(lines) and lines[k] != "}":
                    k += 1
                skip.update(range(i + 1, k + 2))
                i = k
        i += 1
    return skip


files = {}  # path -> {line: count}
current = None
with open(lcov) as records:
    for record in records:
        record = record.rstrip("\n")
        if record.startswith("SF:"):
            current = files.setdefault(record[3:], {})
        elif record.startswith("DA:") and current is not None:
            line, count = record[3:].split(",")[:2]
            line = int(line)
            current[line] = max(current.get(line, 0), int(count))
        elif record == "end_of_record":
            current = None

per_crate = {name: [0, 0] for name in crates}
per_file = []
for path, lines in files.items():
    rel = os.path.relpath(path, crates_dir)
    parts = rel.split(os.sep)
    if len(parts) < 3 or parts[0] not in per_crate or parts[1] != "src":
        continue
    skip = test_lines(path) if os.path.exists(path) else set()
    counted = {line: count for line, count in lines.items() if line not in skip}
    total = len(counted)
    covered = sum(1 for count in counted.values() if count > 0)
    if total == 0:
        continue
    per_crate[parts[0]][0] += total
    per_crate[parts[0]][1] += covered
    per_file.append((os.path.join("crates", rel), total, covered))


def percent(total, covered):
    return 100.0 * covered / total if total else 100.0


rows = []
failing = []
for name in crates:
    total, covered = per_crate[name]
    if partial == "1" and total == 0:
        continue
    pct = percent(total, covered)
    ok = total > 0 and pct >= threshold
    if not ok:
        failing.append(name)
    rows.append(f"| {name} | {total} | {covered} | {pct:.1f} % | {'pass' if ok else 'FAIL'} |")
grand_total = sum(t for t, _ in per_crate.values())
grand_covered = sum(c for _, c in per_crate.values())

now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
out = [
    "# Test coverage",
    "",
    "Line coverage of each library crate's `src/` from the workspace's unit, integration and",
    "doc tests. Written by `scripts/coverage.sh` (do not edit by hand; run the script). See",
    "the script's header for how it is measured and what is excluded: tests/, examples/,",
    "build.rs, benches and fuzz code, and top-level `#[cfg(test)] mod` blocks.",
    "",
    f"- Command: `bash scripts/coverage.sh` (gate: every crate at least {threshold:g} %,",
    "  `COVERAGE_THRESHOLD` to change it)",
    f"- Date: {now}",
    f"- Toolchain: {rustc}; {cargo}; `-C instrument-coverage`, llvm-cov from llvm-tools",
]
if test_status != "0":
    out.append("- **Some tests failed in this run**: the figures miss what they would have run.")
out += [
    "",
    "| crate | lines | covered | % | gate |",
    "|---|---:|---:|---:|---|",
    *rows,
    f"| **all** | {grand_total} | {grand_covered} | {percent(grand_total, grand_covered):.1f} % | |",
    "",
    "## Files",
    "",
    "Lowest first.",
    "",
    "| file | lines | covered | % |",
    "|---|---:|---:|---:|",
]
for path, total, covered in sorted(per_file, key=lambda f: (percent(f[1], f[2]), f[0])):
    out.append(f"| {path} | {total} | {covered} | {percent(total, covered):.1f} % |")
with open(report, "w", encoding="utf-8") as doc:
    doc.write("\n".join(out) + "\n")

print("| crate | lines | covered | % | gate |")
for row in rows:
    print(row)
if failing:
    print(f"coverage: under {threshold:g} %: {', '.join(failing)}", file=sys.stderr)
    sys.exit(1)
EOF
}
gate_status=0
phase "summary (${report#"$repo"/})" summarize || gate_status=$?

echo "coverage: total $((SECONDS - script_start)) s"
if [ "$test_status" != 0 ]; then
  echo "coverage: some tests failed" >&2
  exit "$test_status"
fi
exit "$gate_status"
