#!/usr/bin/env bash
# Installs what the TypeScript client needs, builds it (package, demo page,
# tests), type-checks it with tsc --strict, and runs its unit tests and its
# end-to-end tests in Debian's Chromium, all against the real server.
#
#   RTPM_BINARY=build/release/apps/realtime-pm clients/ts/scripts/test.sh
#
# RTPM_SKIP_E2E=1 leaves out the browser tests (and the Chromium install).
# Screenshots of the browser runs land in clients/ts/test-artifacts/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${RTPM_BINARY:-}" ]]; then
  echo "test.sh: set RTPM_BINARY to the realtime-pm binary" >&2
  exit 2
fi
RTPM_BINARY="$(realpath "$RTPM_BINARY")"
[[ -x "$RTPM_BINARY" ]] || { echo "test.sh: $RTPM_BINARY is not executable" >&2; exit 2; }
export RTPM_BINARY
cd "$here"

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "test.sh: need root or sudo to run: $*" >&2; return 1
  fi
}

command -v node >/dev/null || { echo "test.sh: node (20 or later) is required" >&2; exit 2; }

# Dependencies, exactly as package-lock.json pins them. npm ci starts from
# scratch, so skip it when node_modules already matches the lock file.
if ! cmp -s package-lock.json node_modules/.rtpm-installed-lock 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.rtpm-installed-lock
fi

if [[ "${RTPM_SKIP_E2E:-0}" != 1 && ! -x /usr/bin/chromium ]]; then
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq chromium >/dev/null
fi

node scripts/build.mjs
npx tsc -p tsconfig.json --noEmit
npx tsc -p tsconfig.build.json

# One run, so one summary: unit tests, then the browser tests (node runs
# the files one at a time on two cores).
rm -rf test-artifacts
tests=(test-dist/test-*.mjs)
if [[ "${RTPM_SKIP_E2E:-0}" != 1 ]]; then tests+=(test-dist/e2e-*.mjs); fi
node --test --test-timeout=180000 "${tests[@]}"
