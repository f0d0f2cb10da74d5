#!/usr/bin/env bash
# Differential fuzzing of the C++ port against the real JavaScript
# (docs/fuzzing.md): fuzz/differential/gen.mjs makes random and hostile
# documents and steps, runs them through prosemirror-model 1.25.13 and
# prosemirror-transform 1.12.6 and writes what JavaScript computed as
# conformance vectors; `realtime-pm conformance` checks the port against them.
#
#   scripts/diff-fuzz.sh [CASES] [SEED]
#
# CASES (default 20000) is the number of vectors to check; SEED (default 1) any
# word. Generation runs in chunks (DIFF_FUZZ_CHUNK scenarios, about 20,000
# vectors each), the next chunk generated while the current one is checked.
# Mismatching vectors are kept in OUT/mismatches.jsonl for replay:
#   build/release/apps/realtime-pm conformance --schemas ../shared/conformance/schemas \
#     OUT/mismatches.jsonl
# A crash (or a hang past DIFF_FUZZ_TIMEOUT seconds) of the C++ side does not end
# the campaign: the chunk is bisected to the vectors that crash, which are kept
# in OUT/crashes.jsonl, and the rest of the chunk is checked. Ends with one
# summary line; exits 1 when a vector mismatched or crashed, 2 on a setup error.
#
# Environment:
#   RTPM_SHARED_DIR    the shared inputs (default: ../shared beside the checkout)
#   RTPM_BINARY        the realtime-pm to test (default: build/release/apps/realtime-pm,
#                      built with the release preset first)
#   DIFF_FUZZ_OUT      where mismatches, crashes and the log go
#                      (default: build/diff-fuzz/SEED)
#   DIFF_FUZZ_CHUNK    scenarios per chunk (default 8000; 200 with DIFF_FUZZ_DEEP=1)
#   DIFF_FUZZ_FIRST    the first scenario number (default 0)
#   DIFF_FUZZ_DEEP=1   only deep-nesting scenarios, 257 to 15,000 levels (gen.mjs --deep)
#   DIFF_FUZZ_TIMEOUT  seconds one check of a chunk may take (default 600)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cases=${1:-20000}
seed=${2:-1}
if ! [[ "$cases" =~ ^[0-9]+$ ]] || ! [[ "$seed" =~ ^[A-Za-z0-9_.-]+$ ]]; then
  echo "usage: scripts/diff-fuzz.sh [CASES] [SEED]" >&2
  exit 2
fi
shared=$(cd "${RTPM_SHARED_DIR:-$root/../shared}" && pwd)
first=${DIFF_FUZZ_FIRST:-0}
deep=${DIFF_FUZZ_DEEP:-0}
# Deep vectors are up to 500 KB each: smaller chunks.
[ "$deep" = 1 ] && chunk=${DIFF_FUZZ_CHUNK:-200} || chunk=${DIFF_FUZZ_CHUNK:-8000}
timeout_s=${DIFF_FUZZ_TIMEOUT:-600}
out=${DIFF_FUZZ_OUT:-$root/build/diff-fuzz/$seed}
fuzz_dir=$root/fuzz/differential

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "diff-fuzz.sh: $tool is required" >&2; exit 2; }
done

# The JavaScript side: npm ci from the committed lock file, again when it changed.
if ! cmp -s "$fuzz_dir/package-lock.json" "$fuzz_dir/node_modules/.package-lock.json.installed"; then
  (cd "$fuzz_dir" && npm ci --no-audit --no-fund --loglevel=error) ||
    { echo "diff-fuzz.sh: npm ci failed in $fuzz_dir" >&2; exit 2; }
  cp "$fuzz_dir/package-lock.json" "$fuzz_dir/node_modules/.package-lock.json.installed"
fi

# The C++ side.
binary=${RTPM_BINARY:-}
if [ -z "$binary" ]; then
  binary=$root/build/release/apps/realtime-pm
  [ -f build/release/CMakeCache.txt ] || cmake --preset release -DRTPM_SHARED_DIR="$shared" >/dev/null
  cmake --build --preset release -j2 --target realtime-pm >/dev/null
fi
[ -x "$binary" ] || { echo "diff-fuzz.sh: no realtime-pm at $binary" >&2; exit 2; }

mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/rtpm-diff-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mismatches=$out/mismatches.jsonl
crashes=$out/crashes.jsonl
log=$out/log.txt
: >"$mismatches"
: >"$crashes"
: >"$log"
: >"$work/deviations.txt"

gen_args=(--seed "$seed")
[ "$deep" = 1 ] && gen_args+=(--deep)
# Generates chunk number $1 into $work/chunk-$1.jsonl (+ .stats.json); the exit
# status is gen.mjs's (non-zero when a scenario hit a bug of the generator).
generate() {
  local n=$1
  RTPM_SHARED_DIR="$shared" node "$fuzz_dir/gen.mjs" "${gen_args[@]}" \
    --first $((first + n * chunk)) --count "$chunk" --stats "$work/chunk-$n.stats.json" \
    >"$work/chunk-$n.jsonl" 2>"$work/chunk-$n.gen.err"
}

passed=0
failed=0
crashed=0
# Checks one vector file; adds to the counts. A crash or a hang bisects it.
check() {
  local file=$1 status saved
  saved=$(stat -c %s "$mismatches")
  # In a subshell with stderr closed, so that bash's "Segmentation fault" notices stay quiet.
  status=$( (timeout "$timeout_s" "$binary" conformance --schemas "$shared/conformance/schemas" \
    --max-failures 3 --save-failures "$mismatches" "$file" >"$work/check.out" 2>&1 &&
    echo 0 || echo $?) 2>/dev/null)
  if [ "$status" -le 1 ]; then
    local line
    line=$(tail -n 1 "$work/check.out")
    if ! [[ "$line" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
      echo "diff-fuzz.sh: unexpected output of realtime-pm conformance:" >&2
      cat "$work/check.out" >&2
      exit 2
    fi
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
    [ "$status" -eq 0 ] || grep -v '^[a-z]*: [0-9]* passed' "$work/check.out" >>"$log" || true
    return
  fi
  if [ "$status" -eq 2 ]; then
    echo "diff-fuzz.sh: realtime-pm conformance could not read $file:" >&2
    cat "$work/check.out" >&2
    exit 2
  fi
  # A crash (signal: 128+N) or a hang (timeout: 124). The file's mismatches
  # saved before the crash are saved again by the halves: drop them first.
  truncate -s "$saved" "$mismatches"
  local lines
  lines=$(wc -l <"$file")
  if [ "$lines" -le 1 ]; then
    crashed=$((crashed + 1))
    cat "$file" >>"$crashes"
    echo "crash (exit status $status): $(cut -c1-200 "$file")" >>"$log"
    return
  fi
  local half=$((lines / 2)) part
  part=$(mktemp "$work/part.XXXXXX")
  head -n "$half" "$file" >"$part.a"
  tail -n +"$((half + 1))" "$file" >"$part.b"
  rm -f "$part"
  check "$part.a"
  check "$part.b"
  rm -f "$part.a" "$part.b"
}

start=$(date +%s)
declare -A kinds=()
vectors=0
scenarios=0
n=0
generate 0 || true
while :; do
  if [ -s "$work/chunk-$n.gen.err" ]; then
    echo "diff-fuzz.sh: gen.mjs failed on chunk $n:" >&2
    cat "$work/chunk-$n.gen.err" >&2
    exit 2
  fi
  # Only as many vectors as asked for: the last chunk is cut.
  count=$(wc -l <"$work/chunk-$n.jsonl")
  if [ "$count" -eq 0 ]; then
    echo "diff-fuzz.sh: gen.mjs wrote no vectors for chunk $n" >&2
    exit 2
  fi
  if [ $((vectors + count)) -gt "$cases" ]; then
    head -n $((cases - vectors)) "$work/chunk-$n.jsonl" >"$work/cut.jsonl"
    mv "$work/cut.jsonl" "$work/chunk-$n.jsonl"
    count=$((cases - vectors))
  fi
  vectors=$((vectors + count))
  scenarios=$((scenarios + chunk))
  more=0
  if [ "$vectors" -lt "$cases" ]; then
    more=1
    generate $((n + 1)) &
    gen_pid=$!
  fi
  # Vectors per kind of what is checked.
  while read -r kind k; do
    kinds[$kind]=$((${kinds[$kind]:-0} + k))
  done < <(grep -o '^{"id":"[^"]*","kind":"[a-z]*"' "$work/chunk-$n.jsonl" |
    sed 's/.*"kind":"//; s/"$//' | sort | uniq -c | awk '{print $2, $1}')
  check "$work/chunk-$n.jsonl"
  # Documented differences: vectors whose expectation is the port's documented
  # behaviour (docs/fuzzing.md).
  grep -o '"deviation":"[^"]*"' "$work/chunk-$n.jsonl" | sed 's/.*:"//; s/"$//' >>"$work/deviations.txt" || true
  rm -f "$work/chunk-$n.jsonl"
  echo "chunk $n: $vectors/$cases vectors, $failed mismatches, $crashed crashes ($(($(date +%s) - start))s)" |
    tee -a "$log" >&2
  [ "$more" -eq 1 ] || break
  wait "$gen_pid" || true
  n=$((n + 1))
done

per_kind=""
for kind in $(printf '%s\n' "${!kinds[@]}" | sort); do
  per_kind+="${per_kind:+, }$kind ${kinds[$kind]}"
done
deviations=$(sort "$work/deviations.txt" | uniq -c | awk '{c = $1; $1 = ""; printf "%s%s:%s", (i++ ? ", " : ""), substr($0, 2), " " c}')
echo "diff-fuzz: seed $seed, scenarios $first-$((first + scenarios - 1)), $vectors cases ($per_kind)" \
  "in $(($(date +%s) - start))s"
echo "diff-fuzz: documented differences: ${deviations:-none}; mismatches: $failed, crashes: $crashed" \
  "(kept in $out)"
# What the generator counted over every scenario it made (the last chunk uncut).
node -e '
  const fs = require("fs"), sum = {}, add = (group, counts) => {
    for (const [k, v] of Object.entries(counts || {})) sum[group + k] = (sum[group + k] || 0) + v
  }
  for (const f of process.argv.slice(1)) {
    const s = JSON.parse(fs.readFileSync(f, "utf8"))
    add("apply ", s.applyOutcomes)
    add("not written: ", s.skipped)
  }
  console.log("diff-fuzz: generated: " + (Object.entries(sum).map(([k, v]) => k + " " + v).join(", ") || "nothing"))
' "$work"/chunk-*.stats.json
echo "diff-fuzz: $passed passed, $((failed + crashed)) failed"
[ $((failed + crashed)) -eq 0 ]
