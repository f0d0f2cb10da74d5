#!/usr/bin/env bash
# Scale-out benchmarks (docs/scaling.md): `realtime-pm load` against one node with SQLite, one
# node with Redis, and three nodes on one Redis with the clients spread over the nodes, in the
# same run. The servers (nodes and redis-server) share CPU 0 and the load tool has CPU 1, so
# the CPU figures compare what the same core does per step in each setup.
#   scripts/cluster-bench.sh [SCENARIO ...]     default: typing-1x10 typing-100x5 hot-room
# Env: DURATION (window seconds, default 20), WARMUP (5), SETUPS ("sqlite-1 redis-1 redis-3"),
# LOAD_ARGS (more `realtime-pm load` options).
# Per run: accepted ops/s, p50/p99, the nodes' CPU ms per accepted op over the window (the load
# tool's reading, summed over the nodes), and over the whole run (warm-up, window and drain)
# redis-server's CPU ms per step and Redis commands per step (INFO's
# total_commands_processed), where a step is a version of a room (GET /api/rooms).
# Results: one JSON line per run in bench/results/cluster-<time>.jsonl, and a table.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(typing-1x10 typing-100x5 hot-room)
setups=(${SETUPS:-sqlite-1 redis-1 redis-3})
duration=${DURATION:-20}
warmup=${WARMUP:-5}
load_args=(${LOAD_ARGS:-})

scripts/install-deps.sh >/dev/null
if [ ! -x build/release/apps/realtime-pm ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc)" --target realtime-pm
fi
bin=$root/build/release/apps/realtime-pm
mkdir -p bench/results
results=bench/results/cluster-$(date +%Y%m%dT%H%M%S).jsonl

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_healthy() {
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "cluster-bench: the server on port $1 did not start" >&2
  return 1
}
# Sum of the versions of the rooms named PREFIX-*: the steps the run made.
total_steps() {
  curl -sf "http://127.0.0.1:$1/api/rooms?prefix=$2-&limit=1000" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{console.log(JSON.parse(s).rooms.reduce((a,r)=>a+r.version,0))})'
}

for scenario in "${scenarios[@]}"; do
  for setup in "${setups[@]}"; do
    work=$(mktemp -d)
    pids=()
    ports=()
    redis_pid=""
    redis_port=""
    nodes=${setup##*-}
    common=(--log-level warn --rate-limit 100000 --rate-burst 100000 --max-connections-per-ip 0
            --room-creations-per-ip-per-minute 0 --api-requests-per-ip-per-minute 0)
    if [ "${setup%%-*}" = redis ]; then
      redis_port=$(free_port)
      # Durable as the project recommends on one machine: the AOF fsynced before each answer.
      taskset -c 0 redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" --save "" \
        --appendonly yes --appendfsync always --daemonize no >"$work/redis.log" 2>&1 &
      redis_pid=$!
      for _ in $(seq 1 100); do
        redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
        sleep 0.1
      done
    fi
    for i in $(seq 1 "$nodes"); do
      port=$(free_port)
      if [ -n "$redis_port" ]; then
        taskset -c 0 "$bin" serve --port "$port" --store redis \
          --redis-url "redis://127.0.0.1:$redis_port" "${common[@]}" &
      else
        taskset -c 0 "$bin" serve --port "$port" --data "$work/data" "${common[@]}" &
      fi
      pids+=($!)
      ports+=("$port")
    done
    for port in "${ports[@]}"; do wait_healthy "$port"; done
    targets=()
    server_pids=()
    for port in "${ports[@]}"; do targets+=(--target "ws://127.0.0.1:$port/ws"); done
    for pid in "${pids[@]}"; do server_pids+=(--server-pid "$pid"); done
    redis_cpu0=0
    redis_cmds0=0
    if [ -n "$redis_pid" ]; then
      redis_cpu0=$(cpu_ticks "$redis_pid")
      redis_cmds0=$(redis-cli -p "$redis_port" info stats | awk -F: '/^total_commands_processed/{print $2+0}')
    fi
    line=$(taskset -c 1 "$bin" load --scenario "$scenario" "${targets[@]}" "${server_pids[@]}" \
             --duration "$duration" --warmup "$warmup" --room-prefix "$setup" \
             "${load_args[@]}" || true)
    steps=$(total_steps "${ports[0]}" "$setup" || echo 0)
    redis_json=null
    if [ -n "$redis_pid" ]; then
      redis_cpu1=$(cpu_ticks "$redis_pid")
      redis_cmds1=$(redis-cli -p "$redis_port" info stats | awk -F: '/^total_commands_processed/{print $2+0}')
      tck=$(getconf CLK_TCK)
      redis_json=$(node -e "const [c0,c1,k0,k1,s,t]=process.argv.slice(1).map(Number);
        console.log(JSON.stringify({steps:s, cpu_ms_per_step: s ? (c1-c0)*1000/t/s : null,
          commands_per_step: s ? (k1-k0)/s : null}))" \
        "$redis_cpu0" "$redis_cpu1" "$redis_cmds0" "$redis_cmds1" "$steps" "$tck")
    fi
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$redis_pid" ]; then
      kill "$redis_pid" 2>/dev/null || true
      wait "$redis_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
    echo "{\"setup\":\"$setup\",\"scenario\":\"$scenario\",\"redis\":$redis_json,\"result\":${line:-null}}" |
      tee -a "$results"
  done
done

node - "$results" <<'JS'
const fs = require('fs');
const rows = fs.readFileSync(process.argv[2], 'utf8').trim().split('\n').map(JSON.parse);
const setups = [...new Set(rows.map((r) => r.setup))];
const scenarios = [...new Set(rows.map((r) => r.scenario))];
const get = (s, sc) => rows.find((r) => r.setup === s && r.scenario === sc);
const f = (x) => (x == null ? '-' : typeof x === 'number' ? (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(3)) : String(x));
console.log('\n| scenario | metric | ' + setups.join(' | ') + ' |');
console.log('| --- | --- |' + setups.map(() => ' ---: |').join(''));
const metrics = [
  ['accepted ops/s', (r) => r.result?.ops.accepted_per_s],
  ['latency p50 ms', (r) => r.result?.latency_ms.p50],
  ['latency p99 ms', (r) => r.result?.latency_ms.p99],
  ['nodes CPU ms per accepted op', (r) => r.result?.server.cpu_ms_per_op],
  ['redis CPU ms per step', (r) => r.redis?.cpu_ms_per_step],
  ['redis commands per step', (r) => r.redis?.commands_per_step],
  ['load tool CPU share', (r) => r.result?.load_cpu_share],
  ['valid', (r) => r.result?.valid],
];
for (const sc of scenarios)
  for (const [name, fn] of metrics)
    console.log(`| ${sc} | ${name} | ` + setups.map((s) => f(get(s, sc) ? fn(get(s, sc)) : null)).join(' | ') + ' |');
JS
