#!/usr/bin/env bash
# Builds the `fuzz` preset (clang 14, libFuzzer, ASan + UBSan) and runs fuzz targets:
#   scripts/fuzz.sh TARGET SECONDS   one target (e.g. step_apply) for SECONDS seconds
#   scripts/fuzz.sh all SECONDS      every target for SECONDS, RTPM_FUZZ_JOBS at a time
#   scripts/fuzz.sh list             the targets
# Each run starts from the target's seed corpus (fuzz/corpus/TARGET, never written) and
# keeps the inputs it finds in a scratch folder, RTPM_FUZZ_WORK/TARGET/corpus (default
# build/fuzz/work), which later runs start from too; crashing inputs go to
# RTPM_FUZZ_WORK/TARGET/artifacts. For each target it prints one line: executions,
# executions per second, coverage (cov: edges, ft: features), corpus size and crashes.
# It exits 1 when a target crashed (keep the input under fuzz/testdata/crashers/TARGET
# once fixed: docs/fuzzing.md), 2 on bad usage.
#
# Environment:
#   RTPM_FUZZ_WORK    scratch folder for corpora and artifacts (default build/fuzz/work)
#   RTPM_FUZZ_JOBS    parallel build jobs, and targets run at once (default 2)
#   RTPM_FUZZ_FLAGS   extra libFuzzer flags, e.g. "-max_len=8192"
#   RTPM_FUZZ_NO_BUILD=1  use the existing build/fuzz binaries
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
  exit 2
}
[ $# -ge 1 ] || usage
what=$1
seconds=${2:-}
work=${RTPM_FUZZ_WORK:-$root/build/fuzz/work}
bin=$root/build/fuzz/fuzz

if [ "${RTPM_FUZZ_NO_BUILD:-0}" != 1 ]; then
  cmake --preset fuzz >/dev/null
  nice cmake --build --preset fuzz -j "${RTPM_FUZZ_JOBS:-2}"
fi

# The targets are the binaries the fuzz preset built (one per rtpm_fuzzer line in fuzz/CMakeLists.txt).
mapfile -t targets < <(find "$bin" -maxdepth 1 -name '*_fuzz' -type f -executable -printf '%f\n' |
  sed 's/_fuzz$//' | sort)
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz.sh: no fuzz targets in $bin" >&2; exit 1; }

if [ "$what" = list ]; then
  printf '%s\n' "${targets[@]}"
  exit 0
fi
[[ "$seconds" =~ ^[0-9]+$ ]] || usage
if [ "$what" = all ]; then
  run=("${targets[@]}")
else
  [ -x "$bin/${what}_fuzz" ] || { echo "fuzz.sh: no target '$what' (scripts/fuzz.sh list)" >&2; exit 2; }
  run=("$what")
fi

# Runs one target; prints its line, and leaves WORK/TARGET/failed when it crashed.
fuzz_one() {
  local target=$1
  local corpus=$work/$target/corpus artifacts=$work/$target/artifacts log=$work/$target/last.log
  mkdir -p "$corpus" "$artifacts"
  local before after crashes last cov ft corp
  before=$(find "$artifacts" -type f | wc -l)
  # -timeout: an input that runs longer than 30 s is a hang; -rss_limit_mb: a runaway allocation.
  # -detect_leaks=0: the model's caches (resolved positions, wrappings) keep objects across
  # inputs, so libFuzzer would run LeakSanitizer after nearly every input, which made step_apply
  # several times slower; the asan preset's tests check for leaks (RTPM_FUZZ_FLAGS=-detect_leaks=1
  # turns it back on).
  # shellcheck disable=SC2086
  "$bin/${target}_fuzz" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 \
    -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$artifacts/" ${RTPM_FUZZ_FLAGS:-} \
    "$corpus" "$root/fuzz/corpus/$target" >"$log" 2>&1 || true
  after=$(find "$artifacts" -type f | wc -l)
  crashes=$((after - before))
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
  printf '%-15s %9s execs %6s/s  cov: %-5s ft: %-6s corpus: %-12s crashes: %s\n' "$target" \
    "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}" "$crashes"
  if [ "$crashes" -gt 0 ] || grep -qE '^SUMMARY: |fuzz invariant broken' "$log"; then
    touch "$work/$target/failed"
    echo "  $target failed: see $log and $artifacts" >&2
    grep -E 'fuzz invariant broken|^SUMMARY: |runtime error' "$log" | head -3 | sed 's/^/  /' >&2
  fi
}

# RTPM_FUZZ_JOBS targets at once (libFuzzer runs one process per target).
parallel=${RTPM_FUZZ_JOBS:-2}
running=0
for target in "${run[@]}"; do
  mkdir -p "$work/$target"
  rm -f "$work/$target/failed"
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$target" &
  running=$((running + 1))
done
wait
failed=()
for target in "${run[@]}"; do
  [ ! -e "$work/$target/failed" ] || failed+=("$target")
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz.sh: crashes in ${failed[*]}" >&2
  exit 1
fi
