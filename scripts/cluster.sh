#!/usr/bin/env bash
# A three-node cluster on this machine (docs/scaling.md): one redis-server (AOF fsynced before
# every answer), three `realtime-pm serve --store redis` nodes, and nginx in front of them as a
# plain round-robin load balancer (no stickiness: any node serves any room).
#   scripts/cluster.sh            start it and wait (Ctrl-C stops everything):
#                                   ws://127.0.0.1:8080/ws through nginx (the demo page at /),
#                                   the nodes at 8081, 8082, 8083, Redis at 6390
#   scripts/cluster.sh --check    start it on free ports, prove it (below), stop it: the test
#                                 suite runs this (CTest cluster_example)
# The check: `realtime-pm load` through nginx (clients land on every node) must end valid
# (every client's document equal to the server's), every node must answer the same document,
# and after `kill -9` of one node a second load must end valid too.
# Environment: RTPM_BINARY (default build/release/apps/realtime-pm, built when missing),
# RTPM_CLUSTER_DIR (default: a fresh temporary folder for Redis's AOF and nginx's files).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
check=0
[ "${1:-}" = --check ] && check=1

bin=${RTPM_BINARY:-$root/build/release/apps/realtime-pm}
if [ ! -x "$bin" ]; then
  scripts/install-deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc)" --target realtime-pm
fi
for tool in redis-server redis-cli nginx curl node; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "cluster.sh: $tool is missing (scripts/install-deps.sh installs it)" >&2
    exit 2
  }
done

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
if [ $check = 1 ]; then
  lb=$(free_port) redis_port=$(free_port)
  node_ports=($(free_port) $(free_port) $(free_port))
else
  lb=8080 redis_port=6390 node_ports=(8081 8082 8083)
fi
dir=${RTPM_CLUSTER_DIR:-$(mktemp -d)}
mkdir -p "$dir"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${RTPM_CLUSTER_DIR:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT

redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly yes \
  --appendfsync always --daemonize no >"$dir/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done

# The demo page when scripts/run.sh has built it (clients/ts/demo-dist), with its schema.
static=()
[ $check = 0 ] && [ -d clients/ts/demo-dist ] && static=(--static clients/ts/demo-dist --schema tiptap)
node_pids=()
for port in "${node_ports[@]}"; do
  # --redis-lease-ms: a dead node's rooms move within 2 s; --max-connections-per-ip 0: every
  # client comes through nginx, from one address.
  "$bin" serve --port "$port" --store redis --redis-url "redis://127.0.0.1:$redis_port" \
    --redis-lease-ms 2000 --max-connections-per-ip 0 --room-creations-per-ip-per-minute 0 \
    --log-level warn "${static[@]}" &
  pids+=($!)
  node_pids+=($!)
done
for port in "${node_ports[@]}"; do
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
done

# nginx as the load balancer: WebSocket upgrades and plain HTTP, round robin.
upstreams=""
for port in "${node_ports[@]}"; do upstreams+="    server 127.0.0.1:$port;"$'\n'; done
cat >"$dir/nginx.conf" <<EOF
daemon off;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/nginx-body;
  proxy_temp_path $dir/nginx-proxy;
  map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
  upstream realtime_pm {
$upstreams  }
  server {
    listen 127.0.0.1:$lb;
    location / {
      proxy_pass http://realtime_pm;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_set_header Host \$host;
      proxy_read_timeout 120s;
    }
  }
}
EOF
nginx -c "$dir/nginx.conf" -p "$dir" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$lb/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

if [ $check = 0 ]; then
  echo "cluster: ws://127.0.0.1:$lb/ws through nginx (http://127.0.0.1:$lb/), nodes on" \
    "${node_ports[*]}, Redis on $redis_port; Ctrl-C stops it"
  wait
  exit 0
fi

fail() {
  echo "cluster.sh --check: $*" >&2
  exit 1
}
load() {
  "$bin" load --target "ws://127.0.0.1:$lb/ws" --rooms 2 --clients-per-room 6 --rate 5 \
    --duration "$1" --warmup 1 --drain 20 --room-prefix "$2"
}
first=$(load 4 check)
echo "$first"
grep -q '"valid":true' <<<"$first" || fail "the load through nginx did not end valid"
doc=$(curl -sf "http://127.0.0.1:${node_ports[0]}/api/rooms/check-0")
for port in "${node_ports[@]}"; do
  [ "$(curl -sf "http://127.0.0.1:$port/api/rooms/check-0")" = "$doc" ] ||
    fail "node $port answers another document"
done
owners=$(for port in "${node_ports[@]}"; do
  curl -sf "http://127.0.0.1:$port/metrics" | awk '/^realtime_pm_rooms_owned /{print $2}'
done | awk '{n += $1} END {print n + 0}')
[ "$owners" -ge 1 ] || fail "no node owns a room"
# A node dies without a word: the others take its rooms after the lease, its clients come back
# through nginx (which skips the dead node), and nothing acknowledged is lost.
kill -9 "${node_pids[0]}"
second=$(load 4 check)
echo "$second"
grep -q '"valid":true' <<<"$second" || fail "the load after kill -9 of a node did not end valid"
echo "cluster.sh --check: ok"
