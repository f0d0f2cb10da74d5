#!/usr/bin/env bash
# Convergence soak: runs the convergence test (tests/convergence) for N seeds,
# one process per seed, each a short run (RTPM_CONVERGE_EDITS edits, default
# 250: about 1-2 s) with faults and two server restarts. Stops at the first
# failing seed, prints it with the command that replays it, and ends with a
# summary line.
#
# Usage: scripts/soak.sh [N] [FIRST]     N seeds (default 1000) from FIRST (default 1)
# Environment:
#   RTPM_SOAK_MODE       v1 (default): the clients speak protocol version 1;
#                        rebase: they use the server-side rebase extension;
#                        cluster: rebase clients over three nodes on one Redis
#                        (docs/scaling.md), restarts hitting any node;
#                        both: each seed as v1 and rebase (twice as long);
#                        all: each seed in the three modes (three times as long)
#   RTPM_PRESET          the build to use (default: release); it is built first
#   RTPM_SHARED_DIR      the shared inputs (default: ../shared beside the checkout)
#   RTPM_CONVERGE_EDITS  edits per seed (default 250)
#   RTPM_SOAK_LOG        where the per-seed output goes (default: build/<preset>/soak.log)
#   RTPM_SOAK_BUILD=0    use the existing binary without building
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

count=${1:-1000}
first=${2:-1}
preset=${RTPM_PRESET:-release}
shared=${RTPM_SHARED_DIR:-$root/../shared}
log=${RTPM_SOAK_LOG:-$root/build/$preset/soak.log}
mode=${RTPM_SOAK_MODE:-v1}
case $mode in
  v1) filter='*/V1' ;;
  rebase) filter='*/Rebase' ;;
  cluster) filter='*/Cluster' ;;
  both) filter='*/V1:*/Rebase' ;;
  all) filter='*' ;;
  *) echo "soak.sh: RTPM_SOAK_MODE must be v1, rebase, cluster or all, not $mode" >&2; exit 2 ;;
esac

if [ "${RTPM_SOAK_BUILD:-1}" != 0 ]; then
  cmake --preset "$preset" -DRTPM_SHARED_DIR="$shared" > /dev/null
  cmake --build --preset "$preset" -j "${RTPM_JOBS:-2}" --target convergence_test realtime-pm
fi
bin=$root/build/$preset/tests/convergence/convergence_test
[ -x "$bin" ] || { echo "soak.sh: no $bin" >&2; exit 2; }

: > "$log"
start=$(date +%s)
passed=0
for ((seed = first; seed < first + count; seed++)); do
  out=$(RTPM_CONVERGE_SEED=$seed timeout 360 "$bin" --gtest_brief=1 --gtest_filter="$filter" 2>&1) && rc=0 || rc=$?
  printf '%s\n' "$out" >> "$log"
  if [ $rc -ne 0 ]; then
    printf '%s\n' "$out" | tail -40
    echo "soak: seed $seed FAILED (exit $rc, mode $mode) after $passed passing seeds; log: $log"
    echo "replay: RTPM_CONVERGE_SEED=$seed $bin --gtest_filter='$filter'"
    exit 1
  fi
  passed=$((passed + 1))
  if [ $((passed % 50)) -eq 0 ]; then
    echo "soak: $passed/$count seeds passed, mode $mode ($(($(date +%s) - start)) s)"
  fi
done

# Totals over the summary lines the test prints ("seed S MODE ...: E edits (K skipped),
# M steps made, C confirmed, D dropped {...}, T tokens checked, fewest confirmed per client F
# (cX); ..."), and the smallest F of all seeds.
awk -v n="$passed" -v secs="$(($(date +%s) - start))" -v mode="$mode" '
  /^seed [0-9]+ / {
    for (i = 1; i <= NF; i++) {
      if ($(i + 1) == "edits") edits += $i
      if ($(i + 1) == "steps" && $(i + 2) == "made,") made += $i
      if ($(i + 1) == "confirmed,") conf += $i
      if ($(i + 1) == "dropped" && $(i + 2) ~ /^\{/) drop += $i
      if ($(i + 1) == "tokens") tok += $i
      if ($(i + 1) == "conns,") conns += $i
      if ($(i - 1) == "client" && $(i - 2) == "per" && (fewest == "" || $i + 0 < fewest)) fewest = $i + 0
    }
  }
  END {
    printf "soak (%s): %d seeds passed in %d s: %d edits, %d steps made, %d confirmed, %d dropped, %d tokens checked, %d proxied connections, fewest confirmed per client %s\n", mode, n, secs, edits, made, conf, drop, tok, conns, fewest
  }' "$log"
