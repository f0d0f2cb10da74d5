#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. install the Debian packages (scripts/install-deps.sh)
#   2. release build (warnings are errors) and every test: unit tests, the
#      conformance vectors, the real-server tests
#   3. AddressSanitizer + UndefinedBehaviorSanitizer build, every test again
#   4. clang-format check
#   5. the browser client's tests in Chromium, when clients/ts has them
# Options: --quick skips the sanitizer build. The shared inputs are read from
# ../shared (override with RTPM_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
quick=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    *) echo "usage: scripts/test.sh [--quick]" >&2; exit 2 ;;
  esac
done
shared=${RTPM_SHARED_DIR:-$root/../shared}
[ -d "$shared/conformance" ] || { echo "test: no shared inputs at $shared (set RTPM_SHARED_DIR)" >&2; exit 2; }
shared=$(cd "$shared" && pwd)
jobs=${RTPM_JOBS:-$(nproc)}
start=$(date +%s)
phase() { echo; echo "=== $* ($(( $(date +%s) - start ))s)"; }

phase "dependencies"
scripts/install-deps.sh

phase "release build"
cmake --preset release -DRTPM_SHARED_DIR="$shared" >/dev/null
cmake --build --preset release -j "$jobs"

phase "release tests"
ctest --preset release -j "$jobs"

if [ "$quick" -eq 0 ]; then
  phase "asan + ubsan build"
  cmake --preset asan -DRTPM_SHARED_DIR="$shared" >/dev/null
  cmake --build --preset asan -j "$jobs"
  phase "asan + ubsan tests"
  ctest --preset asan -j "$jobs"
fi

phase "clang-format"
mapfile -t sources < <(git ls-files '*.h' '*.cc')
clang-format --dry-run --Werror "${sources[@]}"
echo "clang-format: ${#sources[@]} files clean"

if [ -x clients/ts/scripts/test.sh ]; then
  phase "browser client"
  RTPM_BINARY="$root/build/release/apps/realtime-pm" clients/ts/scripts/test.sh
fi

phase "done: every phase passed in $(( $(date +%s) - start ))s"
