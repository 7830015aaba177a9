#!/usr/bin/env bash
# The backfill ingest against its floor (issue 3's 100,000 activities/s target):
# `desirelines backfill` and `ingest_floor_bench` (the same required work of
# every activity done by the leanest program we can write; see its header for
# what it leaves out) on the same 20,000-activity athlete of backfill_bench.sh,
# rate limits off, interleaved (real, floor, real, floor, ...) so that both see
# the same state of this shared machine.
#   bash bench/ingest_floor.sh [BIN_DIR] [PAIRS]     (default build/release/bin, 8 pairs)
#   PER_YEAR=12500 bash bench/ingest_floor.sh ...    (50,000 activities)
#   VARIANTS="--raw lz4;--raw-inline 1" bash bench/ingest_floor.sh ...
#                                                    (floor variants, each interleaved too)
# BIN_DIR holds desirelines, strava-sim and ingest_floor_bench (Release).
# Each: median and best wall (EPOCHREALTIME around the process), median CPU
# (perf stat task-clock, all threads), strava-sim's CPU during the run
# (/proc/PID/stat), and the rate of the median. At 100,000/s a 20,000-activity
# run has 0.2 s of wall, so at most 400 ms of CPU on two cores for the program
# and the simulator together: "CPU + sim" above that rules the rate out for
# that design in that state of the machine, whatever the overlap.
set -euo pipefail
export LC_ALL=C
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(cd "${1:-$here/build/release/bin}" && pwd)"; pairs="${2:-8}"
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 2; }
[ -x "$bin/ingest_floor_bench" ] || { echo "$bin/ingest_floor_bench is missing: cmake --build <release dir> --target ingest_floor_bench" >&2; exit 2; }
work="$(mktemp -d /tmp/dl-floor.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
emu_pgid=""
source "$here/bench/lib.sh"  # start_sim, stop_sim, perf_stat_value
per_year="${PER_YEAR:-5000}"

IFS=';' read -r -a variants <<<"${VARIANTS:-}"
[ ${#variants[@]} -gt 0 ] || variants=("")

sim_cpu_ms() {  # utime + stime of strava-sim so far
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) * 1000 / hz }' "/proc/$sim_pid/stat"
}

one_run() {  # label [floor args]: appends "label wall_ms cpu_ms activities" to $work/runs
  local label=$1 t0 t1; shift
  start_sim --generate 7 --years 2022-2025 --per-year "$per_year" \
    --rate-limit 100000,1000000 --read-rate-limit 100000,1000000
  rm -rf "$work/data"
  local sim0 sim1
  sim0=$(sim_cpu_ms)
  t0=$EPOCHREALTIME
  if [ "$label" = real ]; then
    STRAVA_CLIENT_ID=1 STRAVA_CLIENT_SECRET=s STRAVA_REFRESH_TOKEN=r STRAVA_API_URL="$sim_url/api/v3" \
      STRAVA_OAUTH_URL="$sim_url/oauth" DESIRELINES_DATA_DIR="$work/data" \
      perf stat -x, -e task-clock -o "$work/stat" \
      "$bin/desirelines" backfill --json --years 2022 2023 2024 2025 >"$work/out.json" 2>/dev/null
  else
    perf stat -x, -e task-clock -o "$work/stat" "$bin/ingest_floor_bench" --api "$sim_url/api/v3" \
      --oauth "$sim_url/oauth" --years 2022-2025 --dir "$work/data" $@ >"$work/out.json"
  fi
  t1=$EPOCHREALTIME
  sim1=$(sim_cpu_ms)
  stop_sim
  local n
  n=$(sqlite3 "$work/data/desirelines.db" "SELECT count(*) FROM activities" 2>/dev/null || python3 -c "
import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from activities').fetchone()[0])" "$work/data/desirelines.db")
  echo "$label $(python3 -c "print(round((float('$t1') - float('$t0')) * 1000))")" \
    "$(perf_stat_value "$work/stat" task-clock) $n $(python3 -c "print(round($sim1 - $sim0))")" >>"$work/runs"
}

for _ in $(seq "$pairs"); do
  one_run real
  i=0
  for v in "${variants[@]}"; do one_run "floor$i" $v; i=$((i + 1)); done
done
i=0
for v in "${variants[@]}"; do echo "floor$i = ingest_floor_bench ${v:-(as described)}"; i=$((i + 1)); done
python3 - "$work/runs" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
med = {}
labels = ["real"] + sorted({x[0] for x in rows if x[0] != "real"})
for label in labels:
    r = [list(map(float, x[1:])) for x in rows if x[0] == label]
    n = st.median(x[2] for x in r)
    wall = st.median(x[0] for x in r)
    med[label] = wall
    print("%-6s n=%d activities %d | wall median %.0f ms (%.0f/s), best %.0f ms (%.0f/s) | CPU median %.0f ms"
          " + sim %.0f ms = %.0f ms" % (label, len(r), n, wall, n / wall * 1000, min(x[0] for x in r),
          n / min(x[0] for x in r) * 1000, st.median(x[1] for x in r), st.median(x[3] for x in r),
          st.median(x[1] + x[3] for x in r)))
for label in labels[1:]:
    print("%s is x%.2f the real command's median rate" % (label, med["real"] / med[label]))
PY
