#!/usr/bin/env bash
# Tests realtime-pm as its users get it, from a built tree (default: the
# release preset's build/release, which scripts/test.sh has just built):
#   install      `cmake --install` into a temporary prefix; the files it holds, the version
#                (CMakeLists.txt = `realtime-pm --version` = clients/ts/package.json =
#                CHANGELOG.md's latest release)
#   headers      every installed header compiles against the installed tree alone
#   find_package examples/ built as an outside project with find_package(realtime-pm)
#   pkg-config   examples/transform_document.cc and edit_document.cc built with
#                `pkg-config --cflags --libs realtime-pm` only
#   run          the installed server; the outside-built edit_document edits a room and
#                prints the document, equal to GET /api/rooms/ROOM
#   nginx        deploy/nginx/realtime-pm.conf (its ports, server name and certificate
#                replaced by a test's) in front of the server: https://, the http://
#                redirect, and edit_document over wss:// through it
#   backup       the installed `realtime-pm backup` of the running server; a second server on
#                the copy serves the same document
#   systemd      deploy/'s units pass `systemd-analyze verify`, and
#                `systemd-analyze security --offline` rates each service below 2.0 (exposure)
#
#   scripts/package-test.sh [BUILD_DIR]
#
# Needs what scripts/install-deps.sh installs (cmake, g++, pkg-config, curl, openssl,
# nginx, systemd's systemd-analyze, node). Uses ccache when CMAKE_CXX_COMPILER_LAUNCHER
# says so. Temporary files go to a fresh folder that is removed at the end;
# RTPM_KEEP_TMP=1 keeps it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=$(cd "${1:-build/release}" && pwd)

tmp=$(mktemp -d /tmp/rtpm-package-XXXXXX)
chmod 755 "$tmp" # nginx's workers run as another user when started by root
pids=()
cleanup() {
  local status=$?
  local pid
  for pid in "${pids[@]}"; do
    if kill "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  done
  if [ "$status" -ne 0 ]; then
    echo "package-test: FAILED (files in $tmp)" >&2
  elif [ "${RTPM_KEEP_TMP:-0}" != 1 ]; then
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
fail() {
  echo "package-test: $*" >&2
  exit 1
}
step() { echo "--- $*"; }

# A free loopback port (the kernel's pick; closed again at once).
free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
    console.log(s.address().port); s.close() })'
}
# Prints the port a server wrote to FILE (--port-file), waiting up to 20 s for it.
server_port() {
  local _
  for _ in $(seq 200); do
    [ -s "$1" ] && break
    sleep 0.1
  done
  cat "$1" 2>/dev/null
}
# Waits until `curl ARGS` succeeds (up to 20 s).
wait_for() {
  local _
  for _ in $(seq 200); do
    curl -sf -o /dev/null "$@" && return 0
    sleep 0.1
  done
  return 1
}

step "install"
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
version=$(sed -n 's/^project(realtime_pm VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || fail "no project version in CMakeLists.txt"
[ "$("$prefix/bin/realtime-pm" --version)" = "realtime-pm $version" ] ||
  fail "installed realtime-pm --version: $("$prefix/bin/realtime-pm" --version), not $version"
npm_version=$(node -p 'require("./clients/ts/package.json").version')
[ "$npm_version" = "$version" ] ||
  fail "clients/ts/package.json has version $npm_version, CMakeLists.txt $version"
changelog_version=$(sed -n 's/^## \[\([0-9][0-9.]*\)\].*/\1/p' CHANGELOG.md | head -n 1)
[ "$changelog_version" = "$version" ] ||
  fail "CHANGELOG.md's latest release is $changelog_version, CMakeLists.txt says $version"
mapfile -t headers < <(cd "$prefix/include" && find . -name '*.h' | sed 's|^\./||' | sort)
for header in "${headers[@]}"; do
  case "$header" in
    rtpm/server/server.h | rtpm/server/options.h) ;;
    *_test*.h | rtpm/testing/* | rtpm/server/*) fail "installed a private header: $header" ;;
    rtpm/*/internal/*)
      # Only those that public headers include.
      grep -rqF "#include \"$header\"" "$prefix/include" ||
        fail "installed an internal header that no public one includes: $header"
      ;;
  esac
done
config=$(find "$prefix" -name realtime-pm-config.cmake)
pc=$(find "$prefix" -name realtime-pm.pc)
if [ -z "$config" ] || [ -z "$pc" ]; then
  fail "no CMake package config or realtime-pm.pc installed"
fi
libs=$(find "$prefix" -name 'librtpm_*.a' | wc -l)
echo "realtime-pm $version: bin/realtime-pm, $libs libraries, ${#headers[@]} headers," \
  "${config#"$prefix"/}, ${pc#"$prefix"/}"

PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
cxx=${CXX:-c++}
launcher=${CMAKE_CXX_COMPILER_LAUNCHER:-}
# The warnings of the tree (designated initializers leave fields to their defaults).
cflags=(-std=c++20 -Wall -Wextra -Wno-missing-field-initializers -Werror)

step "headers"
for header in "${headers[@]}"; do echo "#include \"$header\""; done >"$tmp/all_headers.cc"
# shellcheck disable=SC2046 # pkg-config prints flags, split on purpose
$launcher "$cxx" "${cflags[@]}" -fsyntax-only $(pkg-config --cflags realtime-pm) \
  "$tmp/all_headers.cc"
echo "${#headers[@]} headers compile against $prefix/include"

step "find_package"
cmake -S examples -B "$tmp/examples" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_FLAGS="${cflags[*]:1}" >"$tmp/examples.log"
cmake --build "$tmp/examples" -j "${RTPM_JOBS:-2}" >>"$tmp/examples.log" ||
  { cat "$tmp/examples.log"; fail "examples/ does not build against the installed package"; }
grep -q "realtime-pm_DIR:PATH=$prefix/" "$tmp/examples/CMakeCache.txt" ||
  fail "examples/ did not find the installed package"
echo "examples/ built against $(grep realtime-pm_DIR "$tmp/examples/CMakeCache.txt")"

step "pkg-config"
for example in transform_document edit_document; do
  # shellcheck disable=SC2046
  $launcher "$cxx" "${cflags[@]}" -o "$tmp/$example-pc" "examples/$example.cc" \
    $(pkg-config --cflags --libs realtime-pm)
done
expected=$("$tmp/examples/transform_document")
[ "$("$tmp/transform_document-pc")" = "$expected" ] ||
  fail "transform_document built with pkg-config prints something else"
echo "built with pkg-config $(pkg-config --modversion realtime-pm): transform_document," \
  "edit_document; transform_document prints:"
echo "$expected"

step "run"
"$prefix/bin/realtime-pm" serve --port 0 --port-file "$tmp/port" --data "$tmp/data" \
  --log-level warn &
pids+=($!)
port=$(server_port "$tmp/port") || fail "the installed server did not start"
wait_for "http://127.0.0.1:$port/healthz" || fail "the installed server does not answer"
doc=$("$tmp/examples/edit_document" "ws://127.0.0.1:$port/ws" packaged "Hello from C++")
echo "edit_document ws://127.0.0.1:$port/ws: $doc"
[[ "$doc" == *'"text":"Hello from C++"'* ]] || fail "edit_document's document lacks its paragraph"
room=$(curl -sf "http://127.0.0.1:$port/api/rooms/packaged")
[ "$room" = "{\"room\":\"packaged\",\"version\":1,\"doc\":$doc}" ] ||
  fail "GET /api/rooms/packaged: $room"

step "nginx"
mkdir -p "$tmp/nginx"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$tmp/nginx/key.pem" -out "$tmp/nginx/cert.pem" \
  2>/dev/null
https_port=$(free_port)
http_port=$(free_port)
site=$tmp/nginx/realtime-pm.conf
# The deployment's values, each replaced by the test's (and each must be there to replace).
substitutions=(
  "listen 443 ssl;|listen 127.0.0.1:$https_port ssl;"
  "listen \[::\]:443 ssl;|"
  "listen 80;|listen 127.0.0.1:$http_port;"
  "listen \[::\]:80;|"
  "server 127.0.0.1:8080;|server 127.0.0.1:$port;"
  "server_name collab.example.com;|server_name localhost;"
  "/etc/letsencrypt/live/collab.example.com/fullchain.pem|$tmp/nginx/cert.pem"
  "/etc/letsencrypt/live/collab.example.com/privkey.pem|$tmp/nginx/key.pem"
)
cp deploy/nginx/realtime-pm.conf "$site"
for s in "${substitutions[@]}"; do
  grep -q "${s%%|*}" "$site" || fail "deploy/nginx/realtime-pm.conf has no '${s%%|*}' any more"
  sed -i "s|${s%%|*}|${s#*|}|g" "$site"
done
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/client_body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  include $site;
}
EOF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -t -q
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
tls=(--cacert "$tmp/nginx/cert.pem")
wait_for "${tls[@]}" "https://localhost:$https_port/healthz" ||
  fail "nginx does not answer on https://localhost:$https_port ($(cat "$tmp/nginx/error.log"))"
redirect=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' \
  "http://localhost:$http_port/api/rooms/packaged")
[ "$redirect" = "301 https://localhost/api/rooms/packaged" ] ||
  fail "http:// does not redirect to https:// ($redirect)"
doc=$(SSL_CERT_FILE=$tmp/nginx/cert.pem "$tmp/examples/edit_document" \
  "wss://localhost:$https_port/ws" packaged "Hello through nginx")
echo "edit_document wss://localhost:$https_port/ws: $doc"
[[ "$doc" == *'"text":"Hello from C++"'*'"text":"Hello through nginx"'* ]] ||
  fail "the document through nginx lacks a paragraph"
room=$(curl -sf "${tls[@]}" "https://localhost:$https_port/api/rooms/packaged")
[ "$room" = "{\"room\":\"packaged\",\"version\":2,\"doc\":$doc}" ] ||
  fail "GET https://localhost:$https_port/api/rooms/packaged: $room"
echo "https://, http:// -> https:// and wss:// through deploy/nginx/realtime-pm.conf"

step "backup"
# The installed binary copies the running server's database; a server started on the copy
# serves the same room.
"$prefix/bin/realtime-pm" backup --data "$tmp/data" "$tmp/backup.db"
mkdir "$tmp/restored"
mv "$tmp/backup.db" "$tmp/restored/realtime-pm.db"
"$prefix/bin/realtime-pm" serve --port 0 --port-file "$tmp/restored/port" \
  --data "$tmp/restored" --log-level warn &
pids+=($!)
restored_port=$(server_port "$tmp/restored/port") || fail "no server on the backup"
[ "$(curl -sf "http://127.0.0.1:$restored_port/api/rooms/packaged")" = "$room" ] ||
  fail "the server on the backup has another document"
echo "a server on the backup serves the room at version 2"

step "systemd"
# The units with ExecStart= on the installed binary (verify checks that it exists).
units=()
for unit in deploy/*.service deploy/*.timer; do
  sed "s|^ExecStart=/usr/local/bin/realtime-pm |ExecStart=$prefix/bin/realtime-pm |" "$unit" \
    >"$tmp/$(basename "$unit")"
  units+=("$tmp/$(basename "$unit")")
done
grep -q "^ExecStart=$prefix/bin/realtime-pm serve" "$tmp/realtime-pm.service" ||
  fail "deploy/realtime-pm.service does not start /usr/local/bin/realtime-pm serve"
systemd-analyze verify "${units[@]}"
for unit in "$tmp"/*.service; do
  # --threshold counts in tenths: 20 = an exposure level of 2.0.
  systemd-analyze security --offline=yes --threshold=20 --no-pager "$unit" | tail -n 1
done
echo "package-test: all passed"
