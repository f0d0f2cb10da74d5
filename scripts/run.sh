#!/usr/bin/env bash
# Builds realtime-pm and starts the server: http://127.0.0.1:8080/ (demo page),
# WebSocket at ws://127.0.0.1:8080/ws, documents in SQLite under ./data.
# Extra arguments go to `realtime-pm serve` (see `realtime-pm serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release -DRTPM_BUILD_TESTS=OFF -DRTPM_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build --preset release -j "$(nproc)" --target realtime-pm
args=()
if [ -x clients/ts/scripts/build-demo.sh ]; then
  clients/ts/scripts/build-demo.sh
  args+=(--static clients/ts/demo-dist --schema tiptap)
fi
exec build/release/apps/realtime-pm serve "${args[@]}" "$@"
