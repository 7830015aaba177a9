#!/usr/bin/env bash
# A/B of two builds on the ingest backfill of backfill_bench.sh (20,000
# activities over 2022-2025, rate limits off), the runs interleaved
# (A B A B ...) so both see the same state of this shared, noisy machine.
#   bash bench/backfill_ab.sh BASE_BIN_DIR NEW_BIN_DIR [PAIRS]      (default 8 pairs)
#   PER_YEAR=12500 bash bench/backfill_ab.sh ...                    (50,000 activities)
# Each BIN_DIR holds desirelines and strava-sim (e.g. a copy of build/release/bin
# made before a change). Per build: median and best wall (EPOCHREALTIME around
# the process), median CPU (perf stat task-clock, all threads) and median page
# faults. Needs perf (linux-perf) and perf_event_paranoid <= 1 or root.
set -euo pipefail
export LC_ALL=C
here="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 2 ] || { echo "usage: $0 BASE_BIN_DIR NEW_BIN_DIR [PAIRS]" >&2; exit 2; }
base="$(cd "$1" && pwd)"; new="$(cd "$2" && pwd)"; pairs="${3:-8}"
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 2; }
work="$(mktemp -d /tmp/dl-ab.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
emu_pgid=""
source "$here/bench/lib.sh"  # start_sim, stop_sim, perf_stat_value

one_run() {  # label bin_dir: appends "label wall_ms cpu_ms faults" to $work/runs
  local label=$1 dir=$2
  bin="$dir"  # start_sim runs $bin/strava-sim
  start_sim --generate 7 --years 2022-2025 --per-year "${PER_YEAR:-5000}" \
    --rate-limit 100000,1000000 --read-rate-limit 100000,1000000
  rm -rf "$work/data"
  local t0 t1
  t0=$EPOCHREALTIME
  STRAVA_CLIENT_ID=1 STRAVA_CLIENT_SECRET=s STRAVA_REFRESH_TOKEN=r STRAVA_API_URL="$sim_url/api/v3" \
    STRAVA_OAUTH_URL="$sim_url/oauth" DESIRELINES_DATA_DIR="$work/data" \
    perf stat -x, -e task-clock,page-faults -o "$work/stat" \
    "$dir/desirelines" backfill --json --years 2022 2023 2024 2025 >"$work/out.json" 2>/dev/null
  t1=$EPOCHREALTIME
  stop_sim
  echo "$label $(python3 -c "print(round((float('$t1') - float('$t0')) * 1000))")" \
    "$(perf_stat_value "$work/stat" task-clock) $(perf_stat_value "$work/stat" page-faults)" >>"$work/runs"
}

for _ in $(seq "$pairs"); do
  one_run A "$base"
  one_run B "$new"
done
python3 - "$work/runs" "$base" "$new" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
for label, name in (("A", sys.argv[2]), ("B", sys.argv[3])):
    r = [list(map(float, x[1:])) for x in rows if x[0] == label]
    print("%s %-40s n=%d wall median %.0f ms, best %.0f | CPU median %.0f ms | page faults %.0f"
          % (label, name, len(r), st.median(x[0] for x in r), min(x[0] for x in r),
             st.median(x[1] for x in r), st.median(x[2] for x in r)))
PY
