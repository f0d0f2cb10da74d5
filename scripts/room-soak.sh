#!/usr/bin/env bash
# Room core soak: runs the seeded randomized model test of room::RoomCore
# (rtpm/room/room_core_model_test.cc) over many more seeds and events than CI
# (20 seeds x 5,000 events). Stops at the first failing seed and prints the
# command that replays it (the test prints the seed and the event index).
#
# Usage: scripts/room-soak.sh [SEEDS] [EVENTS]   seeds 1..SEEDS (default 1000),
#                                                EVENTS per seed (default 20000)
# Environment:
#   RTPM_PRESET        the build to use (default: release); it is built first
#   RTPM_SHARED_DIR    the shared inputs (default: ../shared beside the checkout)
#   RTPM_SOAK_BUILD=0  use the existing binary without building
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

seeds=${1:-1000}
events=${2:-20000}
preset=${RTPM_PRESET:-release}
shared=${RTPM_SHARED_DIR:-$root/../shared}

if [ "${RTPM_SOAK_BUILD:-1}" != 0 ]; then
  cmake --preset "$preset" -DRTPM_SHARED_DIR="$shared" > /dev/null
  cmake --build --preset "$preset" -j "${RTPM_JOBS:-2}" --target room_test
fi
bin=$root/build/$preset/rtpm/room/room_test
[ -x "$bin" ] || { echo "room-soak.sh: no $bin" >&2; exit 2; }

start=$(date +%s)
# One process per block of 50 seeds, so that a failure names its block quickly.
for ((first = 1; first <= seeds; first += 50)); do
  last=$((first + 49 > seeds ? seeds : first + 49))
  if ! RTPM_ROOM_MODEL_SEEDS=$first-$last RTPM_ROOM_MODEL_EVENTS=$events "$bin" \
      --gtest_brief=1 > "$root/build/$preset/room-soak.log" 2>&1; then
    grep -A2 "Failure" "$root/build/$preset/room-soak.log" || tail -20 "$root/build/$preset/room-soak.log"
    echo "room-soak: FAILED in seeds $first-$last; log: build/$preset/room-soak.log"
    exit 1
  fi
done
echo "room-soak: $seeds seeds x $events events passed in $(($(date +%s) - start)) s"
