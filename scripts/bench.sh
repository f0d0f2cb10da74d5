#!/usr/bin/env bash
# Runs realtime-pm's benchmarks beside their JavaScript peers, in one run, and
# prints a Markdown table per suite with the ratio C++ speed-up = JS time / C++ time:
#
#   apply-bench  ../shared/bench/apply-bench.mjs (prosemirror-transform), run from a
#                scratch copy, vs build/release/bench/apply_bench. The checksums
#                must match per workload (else the C++ did other work: exit 1).
#   model        bench/js/model-bench.mjs (prosemirror-model) vs build/release/bench/model_bench.
#
# apply-bench.mjs stops a run after --max-seconds (60 by default), which leaves
# no checksum; it gets 1800 here, since a loaded machine makes insert_10k slow.
# Both sides run pinned to the same CPU (taskset), one after the other. Figures
# from different runs are not comparable on a shared machine: quote ratios from
# one run. Only `npm ci` touches the network (once, for the scratch copy and bench/js).
#
#   scripts/bench.sh                  everything (about 4 minutes)
#   BENCH_QUICK=1 scripts/bench.sh    one repeat, shorter model runs (about 1.5 minutes)
#
# Environment: BENCH_SUITES (default "apply model"), BENCH_ONLY (apply-bench
# workloads, comma-separated), BENCH_REPEAT (default 3, QUICK: 1), BENCH_CPU
# (default 0), BENCH_BUILD_DIR (default build/release; configured with the
# release preset when missing), BENCH_SCRATCH (the peers' scratch copy, default
# $TMPDIR/rtpm-bench-peers), BENCH_OUT (where raw outputs go, default a new temp
# folder), RTPM_SHARED_DIR (default ../shared).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
shared=$(cd "${RTPM_SHARED_DIR:-$root/../shared}" && pwd)
suites=${BENCH_SUITES:-apply model}
quick=${BENCH_QUICK:-0}
repeat=${BENCH_REPEAT:-3}
model_min_ms=500
gbench_min_time=0.5
if [ "$quick" = 1 ]; then
  repeat=${BENCH_REPEAT:-1}
  model_min_ms=150
  gbench_min_time=0.15
fi
build=${BENCH_BUILD_DIR:-build/release}
scratch=${BENCH_SCRATCH:-${TMPDIR:-/tmp}/rtpm-bench-peers}
out=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/rtpm-bench.XXXXXX")}
mkdir -p "$out"

pin=()
if command -v taskset >/dev/null; then
  pin=(taskset -c "${BENCH_CPU:-0}")
else
  echo "bench.sh: taskset not found; running unpinned" >&2
fi
for tool in node npm cmake; do
  command -v "$tool" >/dev/null || { echo "bench.sh: $tool is required" >&2; exit 1; }
done
has_suite() { [[ " $suites " == *" $1 "* ]]; }

# 1. The C++ side (configure only when the build folder is missing; ninja
#    rebuilds only what changed).
if [ ! -f "$build/CMakeCache.txt" ]; then
  if [ "$build" = build/release ] && grep -q '"name": *"release"' CMakePresets.json 2>/dev/null; then
    cmake --preset release -DRTPM_SHARED_DIR="$shared"
  else
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRTPM_BUILD_BENCHMARKS=ON \
      -DRTPM_SHARED_DIR="$shared"
  fi
fi
cmake --build "$build" -j2 --target apply_bench model_bench

# 2. The JavaScript side: the read-only shared peers run from a scratch copy.
if has_suite apply && [ ! -d "$scratch/node_modules" ]; then
  rm -rf "$scratch"
  cp -r "$shared/bench" "$scratch"
  chmod -R u+w "$scratch"
  (cd "$scratch" && npm ci --no-audit --no-fund)
fi
if has_suite model && [ ! -d bench/js/node_modules ]; then
  (cd bench/js && npm ci --no-audit --no-fund)
fi

# 3. Run, one program at a time, all on the same CPU.
only_args=()
[ -n "${BENCH_ONLY:-}" ] && only_args=(--only "$BENCH_ONLY")
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- rtpm bench 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "node: $(node --version), pinned: ${pin[*]:-no}, repeat: $repeat, quick: $quick"
} >"$out/env.txt"
if has_suite apply; then
  echo "apply-bench: JavaScript ..." >&2
  (cd "$scratch" && RTPM_CPU_CLOCK_OUT="$out/apply-js-cpu.json" "${pin[@]}" node \
    --import "$root/bench/js/cpu-clock.mjs" apply-bench.mjs --json --repeat "$repeat" \
    --max-seconds 1800 "${only_args[@]}") >"$out/apply-js.json"
  echo "apply-bench: C++ ..." >&2
  "${pin[@]}" "$build/bench/apply_bench" --json --repeat "$repeat" --shared "$shared" \
    "${only_args[@]}" >"$out/apply-cpp.jsonl"
fi
if has_suite model; then
  echo "model: JavaScript ..." >&2
  "${pin[@]}" node bench/js/model-bench.mjs --repeat "$repeat" --min-ms "$model_min_ms" \
    >"$out/model-js.jsonl"
  echo "model: C++ ..." >&2
  "${pin[@]}" "$build/bench/model_bench" --benchmark_format=json \
    --benchmark_min_time="$gbench_min_time" --benchmark_repetitions="$repeat" \
    --benchmark_report_aggregates_only=true >"$out/model-cpp.json"
fi
echo "raw outputs: $out" >&2

# 4. The tables.
node - "$out" <<'JS'
const fs = require('fs');
const dir = process.argv[2];
const read = (f) => (fs.existsSync(`${dir}/${f}`) ? fs.readFileSync(`${dir}/${f}`, 'utf8') : null);
const lines = (text) => text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
const fmt = (x, digits) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (js, cpp) => `${fmt(js / cpp, js / cpp < 10 ? 2 : 1)}x`;
let failed = 0;

console.log(`\n${read('env.txt').trim().split('\n').map((l) => `- ${l}`).join('\n')}`);

const applyJs = read('apply-js.json');
if (applyJs) {
  // Targets from the project's issues: C++ speed-up over Node, per workload.
  const targets = { insert_1k: 30, insert_10k: 100, map_1k: 5, batch10_json: 10, batch10_wire: 10 };
  const js = JSON.parse(applyJs).results;
  const cpp = lines(read('apply-cpp.jsonl'));
  // bench/js/cpu-clock.mjs recorded the CPU time at the start and end of every
  // timed run, in order: workload k's run r is readings 2(k*repeat + r) and +1.
  const readings = JSON.parse(read('apply-js-cpu.json') || '[]');
  const repeat = js.length ? js[0].runs_seconds.length : 0;
  const cpuOk = readings.length === 2 * repeat * js.length;
  js.forEach((j, k) => {
    if (!cpuOk) return;
    const runs = [];
    for (let r = 0; r < repeat; r++) runs.push(readings[2 * (k * repeat + r) + 1] - readings[2 * (k * repeat + r)]);
    runs.sort((a, b) => a - b);
    j.cpu_us_per_op = runs[Math.floor((repeat - 1) / 2)] / j.ops;
  });
  const cpuRatio = (j, c) => (j.cpu_us_per_op && c.cpu_us_per_op ? j.cpu_us_per_op / c.cpu_us_per_op : null);
  console.log('\n### apply-bench (ratio = JS time / C++ time; wall time as apply-bench.mjs reports it, and CPU time; target judged on the CPU ratio)\n');
  console.log('| workload | JS us/op | C++ us/op | ratio | JS CPU us/op | C++ CPU us/op | CPU ratio | target | checksum |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |');
  for (const j of js) {
    const c = cpp.find((x) => x.name === j.name);
    if (!c) { console.log(`| ${j.name} | ${fmt(j.us_per_op, 3)} | missing | | | | | | |`); failed++; continue; }
    const same = j.checksum !== null && String(j.checksum) === String(c.checksum);
    if (!same) failed++;
    const wallRatio = (j.seconds / j.ops) / (c.seconds / c.ops);
    const cr = cpuRatio(j, c);
    const t = targets[j.name];
    const judged = cr ?? wallRatio;
    const verdict = t ? `${t}x: ${judged >= t ? 'met' : 'missed'}` : '';
    const cpuCells = cr ? `${fmt(j.cpu_us_per_op, 3)} | ${fmt(c.cpu_us_per_op, 3)} | ${fmt(cr, cr < 10 ? 2 : 1)}x` : ' | | ';
    console.log(`| ${j.name} | ${fmt(j.us_per_op, 3)} | ${fmt(c.us_per_op, 3)} | ${fmt(wallRatio, wallRatio < 10 ? 2 : 1)}x | ${cpuCells} | ${verdict} | ${same ? `${c.checksum} (equal)` : `MISMATCH js ${j.checksum} c++ ${c.checksum}`} |`);
  }
  const i1 = cpp.find((x) => x.name === 'insert_1k');
  const i10 = cpp.find((x) => x.name === 'insert_10k');
  if (i1 && i10) {
    const growth = i10.cpu_us_per_op / i1.cpu_us_per_op;
    const j1 = js.find((x) => x.name === 'insert_1k');
    const j10 = js.find((x) => x.name === 'insert_10k');
    const jsGrowth = j1 && j10 && j1.cpu_us_per_op ? `; JS ${fmt(j10.cpu_us_per_op / j1.cpu_us_per_op, 2)}x` : '';
    console.log(`\nKeystroke (insert) CPU cost at 10,000 vs 1,000 paragraphs: C++ ${fmt(growth, 2)}x (wall ${fmt(i10.us_per_op / i1.us_per_op, 2)}x; target at most 1.3x: ${growth <= 1.3 ? 'met' : 'missed'})${jsGrowth}.`);
  }
}

const modelJs = read('model-js.jsonl');
if (modelJs) {
  const js = lines(modelJs);
  const report = JSON.parse(read('model-cpp.json'));
  // With repetitions the median aggregate, else the single run.
  const perUnit = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };
  const cppNs = (name) => {
    const runs = report.benchmarks.filter((b) => (b.run_name || b.name) === name);
    const b = runs.find((x) => x.aggregate_name === 'median') || runs.find((x) => x.run_type !== 'aggregate');
    const unit = perUnit[b ? b.time_unit || 'ns' : 'ns'];
    return b ? [b.real_time * unit, b.cpu_time * unit] : [null, null];
  };
  const ns = (x) => fmt(x, x < 100 ? 1 : 0);
  console.log('\n### model (ratio = JS time / C++ time; wall time, and CPU time, which a busy machine disturbs less)\n');
  console.log('| benchmark | JS ns/op | C++ ns/op | ratio | JS CPU ns/op | C++ CPU ns/op | CPU ratio |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const j of js) {
    const [wall, cpu] = cppNs(j.name);
    if (wall === null) { console.log(`| ${j.name} | ${ns(j.ns_per_op)} | missing | | | | |`); failed++; continue; }
    console.log(`| ${j.name} | ${ns(j.ns_per_op)} | ${ns(wall)} | ${ratio(j.ns_per_op, wall)} | ${ns(j.cpu_ns_per_op)} | ${ns(cpu)} | ${ratio(j.cpu_ns_per_op, cpu)} |`);
  }
}
if (failed) {
  console.error(`\nbench.sh: ${failed} workload(s) missing or with different checksums: the two sides did not do the same work`);
  process.exit(1);
}
JS
