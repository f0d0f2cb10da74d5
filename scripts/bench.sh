#!/usr/bin/env bash
# Runs realtime-pm's benchmarks side by side with their JavaScript peers and
# prints the ratios (C++ speed-up = JavaScript time / C++ time, same run):
#   1. apply-bench: ../shared/bench/apply-bench.mjs vs build/release/bench/apply_bench
#      (checksums must match, or the script fails)
#   2. model micro-benchmarks: bench/js/model-bench.mjs vs build/release/bench/model_bench
# Both sides are pinned to CPU 0 (taskset). BENCH_QUICK=1 runs one repetition.
# Server load figures: scripts/load-bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared=$(cd "${RTPM_SHARED_DIR:-$root/../shared}" && pwd)
repeat=3
[ "${BENCH_QUICK:-0}" = 1 ] && repeat=1
pin="taskset -c 0"
command -v taskset >/dev/null || pin=""

scripts/install-deps.sh >/dev/null
if [ ! -x build/release/bench/apply_bench ] || [ ! -x build/release/bench/model_bench ]; then
  cmake --preset release -DRTPM_SHARED_DIR="$shared" >/dev/null
  cmake --build --preset release -j "$(nproc)" --target apply_bench model_bench
fi

# The shared peers are read-only: run them from a scratch copy.
scratch=${BENCH_SCRATCH:-/tmp/rtpm-bench-peers}
if [ ! -d "$scratch/node_modules" ]; then
  rm -rf "$scratch"
  cp -r "$shared/bench" "$scratch"
  chmod -R u+w "$scratch"
  (cd "$scratch" && npm ci --silent --no-audit --no-fund)
fi
if [ ! -d bench/js/node_modules ]; then
  (cd bench/js && npm ci --silent --no-audit --no-fund)
fi

out=$(mktemp -d)
echo "apply-bench: JavaScript (node $(node --version)) ..."
(cd "$scratch" && $pin node apply-bench.mjs --json --repeat "$repeat") > "$out/js-apply.json"
echo "apply-bench: C++ ..."
$pin build/release/bench/apply_bench --json --repeat "$repeat" --shared "$shared" > "$out/cpp-apply.json"
echo "model: JavaScript ..."
RTPM_SHARED_DIR="$shared" $pin node bench/js/model-bench.mjs > "$out/js-model.json"
echo "model: C++ ..."
$pin build/release/bench/model_bench --benchmark_format=json --benchmark_min_time=0.3 > "$out/cpp-model.json"

node - "$out" <<'JS'
const fs = require('fs');
const dir = process.argv[2];
const read = (f) => JSON.parse(fs.readFileSync(`${dir}/${f}`, 'utf8'));
const js = read('js-apply.json').results, cpp = read('cpp-apply.json').results;
let bad = 0;
console.log('\n## apply-bench (per operation; ratio = JS time / C++ time)\n');
console.log('| workload | JS us/op | C++ us/op | ratio | checksums |');
console.log('| --- | ---: | ---: | ---: | --- |');
for (const j of js) {
  const c = cpp.find((x) => x.name === j.name);
  if (!c) continue;
  const same = String(j.checksum) === String(c.checksum);
  if (!same) bad++;
  console.log(`| ${j.name} | ${j.us_per_op.toFixed(3)} | ${c.us_per_op.toFixed(3)} | ${(j.us_per_op / c.us_per_op).toFixed(1)}x | ${same ? 'equal' : `DIFFER ${j.checksum} vs ${c.checksum}`} |`);
}
const i1 = cpp.find((x) => x.name === 'insert_1k'), i10 = cpp.find((x) => x.name === 'insert_10k');
if (i1 && i10) console.log(`\nC++ keystroke cost at 10,000 vs 1,000 paragraphs: ${(i10.us_per_op / i1.us_per_op).toFixed(2)}x`);
const jm = read('js-model.json').results;
const cm = read('cpp-model.json').benchmarks;
console.log('\n## model micro-benchmarks (ns per operation; ratio = JS / C++)\n');
console.log('| benchmark | JS ns | C++ ns | ratio |');
console.log('| --- | ---: | ---: | ---: |');
for (const j of jm) {
  const c = cm.find((x) => x.name === j.name);
  if (!c) continue;
  const ns = c.time_unit === 'us' ? c.real_time * 1000 : c.time_unit === 'ms' ? c.real_time * 1e6 : c.real_time;
  console.log(`| ${j.name} | ${j.ns_per_op.toFixed(0)} | ${ns.toFixed(0)} | ${(j.ns_per_op / ns).toFixed(1)}x |`);
}
if (bad) { console.error(`\n${bad} checksum(s) differ: the C++ port did other work than the JavaScript`); process.exit(1); }
JS
