#!/usr/bin/env bash
# Server load benchmarks: `realtime-pm load` against this server and against
# the JavaScript server of ../shared/bench/node-baseline, in the same run,
# server pinned to CPU 0 and the load tool to CPU 1, and the ratios.
#   scripts/load-bench.sh [SCENARIO ...]      default: typing-1x10 typing-100x5 hot-room idle-5k
# Env: DURATION (window seconds, default 30), WARMUP (5), SERVERS ("cpp node"; add
# cpp-memory for this server with --store memory: no SQLite, no fsync, like node-baseline),
# LOAD_ARGS (more `realtime-pm load` options, e.g. "--binary").
# The table's "load tool CPU share" is the load tool's own CPU over the window per CPU it
# may use (taskset: one): near 1, the tool, not the server, limits the figures.
# Results: one JSON line per run in bench/results/load-<time>.jsonl, and a table.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared=$(cd "${RTPM_SHARED_DIR:-$root/../shared}" && pwd)
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(typing-1x10 typing-100x5 hot-room idle-5k)
servers=(${SERVERS:-cpp node})
duration=${DURATION:-30}
warmup=${WARMUP:-5}
load_args=(${LOAD_ARGS:-})

scripts/install-deps.sh >/dev/null
if [ ! -x build/release/apps/realtime-pm ]; then
  cmake --preset release -DRTPM_SHARED_DIR="$shared" >/dev/null
  cmake --build --preset release -j "$(nproc)" --target realtime-pm
fi
bin=$root/build/release/apps/realtime-pm
scratch=${BENCH_SCRATCH:-/tmp/rtpm-bench-peers}
if [ ! -d "$scratch/node_modules" ]; then
  rm -rf "$scratch"
  cp -r "$shared/bench" "$scratch"
  chmod -R u+w "$scratch"
  (cd "$scratch" && npm ci --silent --no-audit --no-fund)
fi
mkdir -p bench/results
results=bench/results/load-$(date +%Y%m%dT%H%M%S).jsonl

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

for scenario in "${scenarios[@]}"; do
  for server in "${servers[@]}"; do
    port=$(free_port)
    data=$(mktemp -d)
    case "$server" in
      cpp | cpp-memory)
        store=sqlite
        [ "$server" = cpp-memory ] && store=memory
        # The load comes from one address and creates many rooms at once: lift the limits per
        # client address (docs/server.md); --max-connections follows the file limit.
        taskset -c 0 "$bin" serve --port "$port" --data "$data" --log-level warn --store "$store" \
          --rate-limit 100000 --rate-burst 100000 --max-connections-per-ip 0 \
          --room-creations-per-ip-per-minute 0 & ;;
      node) (cd "$scratch" && exec taskset -c 0 node node-baseline/server.mjs "$port") & ;;
      *) echo "unknown server $server" >&2; exit 2 ;;
    esac
    pid=$!
    for _ in $(seq 1 300); do
      curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
      sleep 0.1
    done
    extra=()
    [ "$scenario" = idle-5k ] && extra=(--connect-concurrency 100)
    line=$(taskset -c 1 "$bin" load --scenario "$scenario" --target "ws://127.0.0.1:$port/ws" \
             --server-pid "$pid" --duration "$duration" --warmup "$warmup" --room-prefix "$server" \
             "${extra[@]}" "${load_args[@]}" || true)
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$data"
    echo "{\"server\":\"$server\",\"scenario\":\"$scenario\",\"result\":${line:-null}}" | tee -a "$results"
  done
done

node - "$results" <<'JS'
const fs = require('fs');
const rows = fs.readFileSync(process.argv[2], 'utf8').trim().split('\n').map(JSON.parse);
const get = (s, sc) => rows.find((r) => r.server === s && r.scenario === sc)?.result;
const scenarios = [...new Set(rows.map((r) => r.scenario))];
const mem = rows.some((r) => r.server === 'cpp-memory');
console.log('\n| scenario | metric | cpp |' + (mem ? ' cpp-memory |' : '') + ' node | node / cpp |');
console.log('| --- | --- | ---: |' + (mem ? ' ---: |' : '') + ' ---: | ---: |');
const f = (x) => (x == null ? '-' : typeof x === 'number' ? (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(3)) : String(x));
for (const sc of scenarios) {
  const c = get('cpp', sc), n = get('node', sc), m = get('cpp-memory', sc);
  const metrics = sc === 'idle-5k'
    ? [['KiB per idle connection', (r) => r.server.kib_per_connection], ['joins/s', (r) => r.joins_per_s],
       ['load tool CPU share', (r) => r.load_cpu_share], ['valid', (r) => r.valid]]
    : [['accepted ops/s', (r) => r.ops.accepted_per_s], ['server CPU ms per accepted op', (r) => r.server.cpu_ms_per_op],
       ['server user us per op', (r) => r.server.user_us_per_op], ['server system us per op', (r) => r.server.sys_us_per_op],
       ['latency p50 ms', (r) => r.latency_ms.p50], ['latency p99 ms', (r) => r.latency_ms.p99],
       ['conflicts/s', (r) => r.conflicts_per_s], ['peak RSS MiB', (r) => r.server.peak_rss_kib / 1024],
       ['load tool CPU share', (r) => r.load_cpu_share], ['valid', (r) => r.valid]];
  for (const [name, fn] of metrics) {
    const a = c ? fn(c) : null, b = n ? fn(n) : null;
    const ratio = typeof a === 'number' && typeof b === 'number' && a > 0 ? (b / a).toFixed(1) + 'x' : '';
    const mc = mem ? ` ${f(m ? fn(m) : null)} |` : '';
    console.log(`| ${sc} | ${name} | ${f(a)} |${mc} ${f(b)} | ${ratio} |`);
  }
}
JS
