#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script):
#   dependencies   scripts/install-deps.sh (Debian packages; root or sudo)
#   release        the `release` preset (warnings are errors): build, then every CTest test
#   conformance    `realtime-pm conformance` over the shared vectors
#   differential   scripts/diff-fuzz.sh: 20,000 random and hostile cases computed by the
#                  real JavaScript libraries (fuzz/differential, npm ci) against the port
#   package        scripts/package-test.sh: `cmake --install` of the release build, examples/
#                  built against it (find_package and pkg-config), the installed server behind
#                  deploy/nginx (wss://), deploy/realtime-pm.service checked by systemd-analyze
#   asan           the `asan` preset (AddressSanitizer + UBSan): build, then every CTest test
#   fuzz           the `fuzz` preset (clang, libFuzzer): build, then every fuzz target for
#                  RTPM_FUZZ_SECONDS each from its seed corpus (scripts/fuzz.sh all), with
#                  the fixed seed RTPM_FUZZ_SEED: a regression check, not a search
#   clang-format   every *.h and *.cc under rtpm/ apps/ bench/ fuzz/ must be formatted
#   browser client clients/ts/scripts/test.sh: the TypeScript client's unit and browser tests
#   npm package    clients/ts/scripts/sample-apps.sh: the packed npm package in a Tiptap and a
#                  ProseMirror app made from scratch, at the newest and the lowest versions
#                  (needs the npm registry)
# It stops at the first failing phase and ends with a one-line summary.
#
# Options:
#   --quick   skip the asan and fuzz phases
# Environment:
#   RTPM_SHARED_DIR          the shared inputs (default: ../shared beside the checkout)
#   RTPM_CONFORMANCE_KINDS   vector kinds for the conformance phase, separated by spaces or
#                            commas (default: every kind)
#   RTPM_JOBS                parallel build and test jobs (default: 2)
#   RTPM_FUZZ_SECONDS        seconds per fuzz target in the fuzz phase (default: 20)
#   RTPM_FUZZ_SEED           libFuzzer's -seed in the fuzz phase (default: 1); the search
#                            for new crashes is scripts/fuzz.sh with random seeds
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
      exit 0
      ;;
    *)
      echo "usage: scripts/test.sh [--quick]" >&2
      exit 2
      ;;
  esac
done

shared=${RTPM_SHARED_DIR:-$root/../shared}
if [ ! -d "$shared/conformance" ]; then
  echo "test.sh: no shared inputs at $shared (set RTPM_SHARED_DIR)" >&2
  exit 2
fi
shared=$(cd "$shared" && pwd)
jobs=${RTPM_JOBS:-2}
kinds_spec=${RTPM_CONFORMANCE_KINDS:-}
kinds=()
read -r -a kinds <<<"${kinds_spec//,/ }"

start=$(date +%s)
passed=()
current=""
phase() {
  [ -z "$current" ] || passed+=("$current")
  current=$1
  echo
  echo "=== $current ($(($(date +%s) - start))s)"
}
on_exit() {
  local status=$?
  if [ "$status" -ne 0 ] && [ -n "$current" ]; then
    echo
    echo "test.sh: FAILED in phase '$current' after $(($(date +%s) - start))s" \
      "(passed: ${passed[*]:-none})"
  fi
}
trap on_exit EXIT

phase "dependencies"
scripts/install-deps.sh

phase "release"
cmake --preset release -DRTPM_SHARED_DIR="$shared"
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"

phase "conformance"
kind_args=()
for kind in "${kinds[@]}"; do
  kind_args+=(--kind "$kind")
done
echo "kinds: ${kinds[*]:-all}"
build/release/apps/realtime-pm conformance "${kind_args[@]}" "$shared/conformance"

phase "differential"
RTPM_BINARY="$root/build/release/apps/realtime-pm" RTPM_SHARED_DIR="$shared" \
  scripts/diff-fuzz.sh 20000 ci

phase "package"
scripts/package-test.sh build/release

if [ "$quick" -eq 0 ]; then
  phase "asan"
  cmake --preset asan -DRTPM_SHARED_DIR="$shared"
  cmake --build --preset asan -j "$jobs"
  ctest --preset asan -j "$jobs"

  phase "fuzz"
  # A fresh scratch folder: every run starts from the seed corpora only. A fixed seed makes
  # the phase explore the same inputs in every run (a prefix of them on a slower machine),
  # so it fails on a regression, not on a new find of a random search (docs/fuzzing.md).
  fuzz_work=$(mktemp -d)
  RTPM_FUZZ_WORK="$fuzz_work" RTPM_FUZZ_JOBS="$jobs" \
    RTPM_FUZZ_FLAGS="-seed=${RTPM_FUZZ_SEED:-1} ${RTPM_FUZZ_FLAGS:-}" \
    scripts/fuzz.sh all "${RTPM_FUZZ_SECONDS:-20}"
  rm -rf "$fuzz_work"
fi

phase "clang-format"
format_dirs=(rtpm apps bench fuzz)
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  pathspecs=()
  for dir in "${format_dirs[@]}"; do
    pathspecs+=("$dir/*.h" "$dir/*.cc")
  done
  # Tracked and new (not ignored) files alike: a local run checks what is about to be committed.
  mapfile -t sources < <(git ls-files --cached --others --exclude-standard -- "${pathspecs[@]}" |
    sort -u)
else
  mapfile -t sources < <(find "${format_dirs[@]}" \( -name '*.h' -o -name '*.cc' \) \
    -type f 2>/dev/null | sort)
fi
existing=()
for file in "${sources[@]}"; do
  [ -f "$file" ] && existing+=("$file")
done
if [ "${#existing[@]}" -gt 0 ]; then
  clang-format --dry-run --Werror "${existing[@]}"
fi
echo "clang-format: ${#existing[@]} files clean"

phase "browser client"
RTPM_BINARY="$root/build/release/apps/realtime-pm" RTPM_SHARED_DIR="$shared" \
  clients/ts/scripts/test.sh

phase "npm package"
RTPM_BINARY="$root/build/release/apps/realtime-pm" clients/ts/scripts/sample-apps.sh

phase "done"
[ "$quick" -eq 0 ] || skipped=" (--quick: asan and fuzz skipped)"
echo "test.sh: all ${#passed[@]} phases passed (${passed[*]}) in $(($(date +%s) - start))s${skipped:-}"
