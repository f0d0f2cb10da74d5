#!/usr/bin/env bash
# Installs the Debian 12 packages that realtime-pm needs to build, test and run.
#
# Idempotent and fast when nothing is missing: each package is checked with
# dpkg-query first, and `apt-get update` runs only when something has to be
# installed, so a second run needs no network. Needs root, or sudo.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=(
  # Toolchain and build.
  build-essential cmake ninja-build pkg-config git
  # Tests and benchmarks.
  libgtest-dev libgmock-dev libbenchmark-dev
  # Libraries. CMakeLists.txt asks for Boost 1.81; Debian's default libboost-dev is 1.74.
  libboost1.81-dev libspdlog-dev libfmt-dev libcli11-dev
  libsqlite3-dev sqlite3 libhiredis-dev redis-server libssl-dev
  # The format check of scripts/test.sh.
  clang-format
  # The fuzz targets (the `fuzz` preset, scripts/fuzz.sh): clang 14 with libFuzzer and its
  # sanitizer runtimes.
  clang-14 libfuzzer-14-dev libclang-rt-14-dev
  # scripts/package-test.sh: the reverse proxy of deploy/nginx, a test certificate, HTTP
  # requests, and systemd-analyze for deploy/realtime-pm.service (no systemd needs to run).
  nginx openssl curl systemd
)
# Node.js may come from elsewhere than Debian (NodeSource's package ships its own
# npm, which Debian's npm conflicts with): take Debian's only for what is absent.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

# Prints those of the given packages that are not installed (one dpkg-query for all).
not_installed() {
  local present
  present=$(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null |
    awk '$NF == "installed" && $(NF-1) == "ok" && $(NF-2) == "install" { print $1 }' || true)
  local package
  for package in "$@"; do
    grep -qxF "$package" <<<"$present" || echo "$package"
  done
}

mapfile -t missing < <(not_installed "${packages[@]}")

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps: root or sudo needed to install: ${missing[*]}" >&2
    exit 1
  fi
  as_root=(sudo --preserve-env=DEBIAN_FRONTEND)
fi

echo "install-deps: installing ${missing[*]}"
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

mapfile -t still_missing < <(not_installed "${missing[@]}")
if [ "${#still_missing[@]}" -ne 0 ]; then
  echo "install-deps: still missing after apt-get: ${still_missing[*]}" >&2
  exit 1
fi
echo "install-deps: installed ${#missing[@]} packages"
