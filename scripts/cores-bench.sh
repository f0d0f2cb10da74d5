#!/usr/bin/env bash
# The server on more than one core: the same load against `serve --threads 1` and
# `--threads 2` (no taskset: the server and the load tool share the machine's CPUs), with the
# CPU time each of the server's threads took over the window (/proc/PID/task/*/stat), so that
# it shows whether rooms spread over the event-loop threads (docs/benchmarks.md, "More cores").
#   scripts/cores-bench.sh
# Env: THREADS ("1 2"), STORE (memory), ROOMS (100), CLIENTS (5), RATE (6 edits/s per
# client: 3,000 steps/s), DURATION (20), WARMUP (5).
set -euo pipefail
cd "$(dirname "$0")/.."
threads_list=(${THREADS:-1 2})
store=${STORE:-memory}
duration=${DURATION:-20}
warmup=${WARMUP:-5}
scripts/install-deps.sh >/dev/null
if [ ! -x build/release/apps/realtime-pm ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc)" --target realtime-pm
fi
bin=$(pwd)/build/release/apps/realtime-pm
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
# "TID NAME USER+SYSTEM-TICKS" for each thread of $1.
thread_ticks() {
  for stat in /proc/"$1"/task/*/stat; do
    awk '{ name = $2; sub(/^.*\) /, ""); print FILENAME, name, $12 + $13 }' "$stat" 2>/dev/null
  done
}
echo "| threads | store | accepted ops/s | p50 ms | p99 ms | server CPU ms per op | CPU s per thread over the window (busiest first) |"
echo "| ---: | --- | ---: | ---: | ---: | ---: | --- |"
for threads in "${threads_list[@]}"; do
  port=$(free_port)
  data=$(mktemp -d)
  "$bin" serve --port "$port" --data "$data" --log-level warn --store "$store" --threads "$threads" \
    --rate-limit 100000 --rate-burst 100000 --max-connections-per-ip 0 \
    --room-creations-per-ip-per-minute 0 &
  pid=$!
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  before=$(mktemp) after=$(mktemp)
  (sleep "$warmup"; thread_ticks "$pid" > "$before"; sleep "$duration"; thread_ticks "$pid" > "$after") &
  sampler=$!
  line=$("$bin" load --target "ws://127.0.0.1:$port/ws" --server-pid "$pid" --rooms "${ROOMS:-100}" \
           --clients-per-room "${CLIENTS:-5}" --rate "${RATE:-6}" --duration "$duration" \
           --warmup "$warmup" --room-prefix "t$threads" || true)
  wait "$sampler" || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
  tick=$(getconf CLK_TCK)
  per_thread=$(join <(sort "$before") <(sort "$after") |
    awk -v t="$tick" '{ printf "%.2f\n", ($5 - $3) / t }' | sort -rn | head -4 | paste -sd' ' -)
  rm -f "$before" "$after"
  node -e '
    const r = JSON.parse(process.argv[1] || "null");
    if (!r) { console.log(`| ${process.argv[2]} | ${process.argv[3]} | failed | | | | |`); process.exit(0); }
    console.log(`| ${process.argv[2]} | ${process.argv[3]} | ${r.ops.accepted_per_s.toFixed(0)} | ` +
      `${r.latency_ms.p50.toFixed(2)} | ${r.latency_ms.p99.toFixed(2)} | ${r.server.cpu_ms_per_op.toFixed(3)} | ` +
      `${process.argv[4]} (valid: ${r.valid}) |`);' "$line" "$threads" "$store" "$per_thread"
done
