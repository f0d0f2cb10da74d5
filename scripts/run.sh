#!/usr/bin/env bash
# Builds realtime-pm (the `release` preset) and starts the server:
#   http://127.0.0.1:8080/ the demo page, ws://127.0.0.1:8080/ws the WebSocket,
#   documents in SQLite under ./data.
# Extra arguments go to `realtime-pm serve`, e.g. `scripts/run.sh --port 9000 --store memory`;
# `build/release/apps/realtime-pm serve --help` lists them all.
#
# Environment: RTPM_SHARED_DIR (default ../shared beside the checkout), RTPM_JOBS (build jobs,
# default: one per core).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
shared=${RTPM_SHARED_DIR:-$root/../shared}
binary=build/release/apps/realtime-pm

scripts/install-deps.sh

# Configure with the preset unchanged (so scripts/test.sh finds the same cache), but build
# only the tool.
configure=(--preset release)
[ ! -d "$shared" ] || configure+=(-DRTPM_SHARED_DIR="$(cd "$shared" && pwd)")
cmake "${configure[@]}" >/dev/null
cmake --build --preset release -j "${RTPM_JOBS:-$(nproc)}" --target realtime-pm

# Whether the caller already chose an option (as a flag or through its environment variable).
chosen() {
  local flag=$1 env=$2 arg
  [ -z "${!env:-}" ] || return 0
  for arg in "${@:3}"; do
    case "$arg" in "$flag" | "$flag="*) return 0 ;; esac
  done
  return 1
}

# The demo page (a Tiptap editor), when the TypeScript client can be built: it needs
# clients/ts's npm packages. Without it the server still runs, with no page at /.
args=()
if ! chosen --static RTPM_STATIC "$@" && [ -f clients/ts/package.json ] &&
  command -v npm >/dev/null 2>&1; then
  if (
    cd clients/ts
    if ! cmp -s package-lock.json node_modules/.rtpm-installed-lock 2>/dev/null; then
      npm ci --no-audit --no-fund --loglevel=error
      cp package-lock.json node_modules/.rtpm-installed-lock
    fi
    node scripts/build.mjs demo
  ); then
    args+=(--static clients/ts/demo-dist)
    chosen --schema RTPM_SCHEMA "$@" || args+=(--schema tiptap)
  else
    echo "run.sh: could not build the demo page (clients/ts); serving without it" >&2
  fi
fi
exec "$binary" serve "${args[@]}" "$@"
