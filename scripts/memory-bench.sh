#!/usr/bin/env bash
# Memory of one room under large steps (issue 10, finding 8), figures in
# docs/benchmark-results.md: runs bench/js/memory-bench.mjs against the release build of
# `realtime-pm serve` for each scenario and prints one JSON line per run.
#
#   scripts/memory-bench.sh                 the scenarios below
#   scripts/memory-bench.sh text pipe       one scenario (SHAPE MODE [STEPS] [CHUNK])
#
# Env: RTPM_BINARY (default build/release/apps/realtime-pm, built when missing),
# MEMORY_BENCH_CPU (pin the server and the client to this CPU list with taskset,
# e.g. "0"; default unpinned).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${RTPM_BINARY:-build/release/apps/realtime-pm}
if [ ! -x "$bin" ]; then
  [ -f build/release/CMakeCache.txt ] || cmake --preset release -DRTPM_SHARED_DIR="${RTPM_SHARED_DIR:-../shared}"
  cmake --build --preset release -j2 --target realtime-pm
fi
pin=()
[ -n "${MEMORY_BENCH_CPU:-}" ] && pin=(taskset -c "$MEMORY_BENCH_CPU")
node_flags=()
node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' || node_flags=(--experimental-websocket)
run() { NODE_NO_WARNINGS=1 "${pin[@]}" node "${node_flags[@]}" bench/js/memory-bench.mjs "$bin" "$@"; }
if [ $# -gt 0 ]; then
  run "$@"
  exit
fi
for mode in pipe seq; do
  run text "$mode" 200 50000
  run para "$mode" 200 50000
done
run churn seq 600 900000
