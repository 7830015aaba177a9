#!/usr/bin/env bash
# Backfill benchmarks (issue 3), on the release build. Run on demand:
#   make build && bash bench/backfill_bench.sh
#   SECTIONS="ingest ceilings" RUNS=5 BIN=build/release/bin bash bench/backfill_bench.sh
#   SECTIONS=ingest PER_YEAR=12500 bash bench/backfill_bench.sh   # 50,000 activities: fixed costs amortized
# Prints: API efficiency against the old script and the floor; ingest
# throughput with rate limits off (per run: wall, CPU of desirelines and of
# strava-sim, the stages; then the best and the median over RUNS runs); the
# ceilings measured in the same run (page parse, raw SQLite insert); wall time
# to backfill 20,000 activities under the default read limits (scaled windows).
# Fetching and upserting overlap (two threads), so their stage times may add
# up to more than the wall time.
set -euo pipefail
export LC_ALL=C  # $EPOCHREALTIME and the numbers parsed below use a decimal point
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${BIN:-$here/build/release/bin}"
work="$(mktemp -d /tmp/dl-bench.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

emu_pgid=""
source "$here/bench/lib.sh"  # start_sim, stop_sim
backfill() {  # years...  (a fresh data folder)
  rm -rf "$work/data"
  backfill_into_data "$@"
}
backfill_into_data() {  # years...
  STRAVA_CLIENT_ID=1 STRAVA_CLIENT_SECRET=s STRAVA_REFRESH_TOKEN=r STRAVA_API_URL="$sim_url/api/v3" \
  STRAVA_OAUTH_URL="$sim_url/oauth" DESIRELINES_DATA_DIR="$work/data" DESIRELINES_RATE_WINDOW_SCALE="${SCALE:-1}" \
    ${RUNNER:-} "$bin/desirelines" backfill --json --years "$@"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

# SECTIONS: any of "api ingest ceilings wall" (default: all); RUNS: ingest repetitions.
sections="${SECTIONS:-api ingest ceilings wall}"
want() { [[ " $sections " == *" $1 "* ]]; }

if want api; then
echo "== API efficiency: list requests for N activities over Y years"
printf "%-24s %8s %10s %10s %10s\n" "case" "N" "ours" "old" "floor"
for spec in "1 150" "3 150" "3 200" "3 437" "7 300"; do
  set -- $spec; years=$1; per=$2
  last=2025; first=$((last - years + 1))
  start_sim --generate 42 --years "$first-$last" --per-year "$per" --rate-limit 100000,1000000 --read-rate-limit 100000,1000000
  out=$(backfill $(seq $first $last))
  ours=$(echo "$out" | json 'd["list_requests"]')
  n=$(echo "$out" | json 'sum(y["found"] for y in d["years"])')
  old=$(echo "$out" | json 'sum((y["found"]+99)//100+1 for y in d["years"])')
  floor=$(( (n + 199) / 200 ))
  printf "%-24s %8d %10d %10d %10d\n" "$years y x $per" "$n" "$ours" "$old" "$floor"
  stop_sim
done
fi

ingest_run() {  # one backfill of the 20,000-activity athlete; prints one JSON line
  start_sim --generate 7 --years 2022-2025 --per-year "${PER_YEAR:-5000}" --rate-limit 100000,1000000 --read-rate-limit 100000,1000000
  local sim_cpu0 sim_cpu1 out
  sim_cpu0=$(awk '{print $14 + $15}' "/proc/$sim_pid/stat")
  local t0 t1
  rm -rf "$work/data"  # not timed: removing the last run's 30 MB takes 5-15 ms
  t0=$EPOCHREALTIME
  out=$(RUNNER="/usr/bin/time -f TIME_%e_%U_%S" backfill_into_data 2022 2023 2024 2025 2>&1)
  t1=$EPOCHREALTIME
  sim_cpu1=$(awk '{print $14 + $15}' "/proc/$sim_pid/stat")
  stop_sim
  echo "$out" | python3 -c "
import json,sys,os
lines=sys.stdin.read().splitlines()
t=[l for l in lines if l.startswith('TIME_')][-1].split('_')
d=json.loads([l for l in lines if l.startswith('{')][-1])
tick=os.sysconf('SC_CLK_TCK')
print(json.dumps(dict(n=sum(y['found'] for y in d['years']), wall=float(sys.argv[4])-float(sys.argv[3]), user=float(t[2]), sys=float(t[3]),
  sim_cpu=(int(sys.argv[1])-int(sys.argv[2]))/tick, fetch=d['fetch_s'], store=d['store_s'], agg=d['aggregate_s'])))
" "$sim_cpu1" "$sim_cpu0" "$t0" "$t1"
}

if want ingest; then
echo
echo "== Ingest throughput, rate limits off ($((4 * ${PER_YEAR:-5000})) activities, 4 years), ${RUNS:-1} run(s)"
results=()
for _ in $(seq 1 "${RUNS:-1}"); do results+=("$(ingest_run)"); done
printf '%s\n' "${results[@]}" | python3 -c "
import json,sys,statistics
rs=[json.loads(l) for l in sys.stdin if l.strip()]
for r in rs:
  n=r['n']
  print(f\"activities {n}, wall {r['wall']:.3f} s = {n/r['wall']:,.0f}/s end to end (process start to exit); \"
        f\"cpu: desirelines {r['user']+r['sys']:.3f} s ({n/(r['user']+r['sys']):,.0f}/cpu-s), strava-sim {r['sim_cpu']:.2f} s; \"
        f\"stages (fetch and upsert overlap): fetch+parse {r['fetch']:.3f} s, upsert {r['store']:.3f} s, reconcile+aggregate+files {r['agg']:.3f} s\")
rates=sorted(r['n']/r['wall'] for r in rs)
print(f'end to end over {len(rs)} run(s): best {rates[-1]:,.0f}/s, median {statistics.median(rates):,.0f}/s')
"
fi

if want ceilings; then
echo
echo "== Ceilings in the same run"
[ -x "$bin/strava_parse_bench" ] && "$bin/strava_parse_bench" 2>&1 | tail -5 || echo "(strava_parse_bench not built)"
[ -x "$bin/store_ingest_bench" ] && "$bin/store_ingest_bench" --rows 20000 2>&1 | tail -13 || echo "(store_ingest_bench not built)"

fi

if want wall; then
echo
echo "== Wall time for 20,000 activities under the default read limits (100/15 min, 1000/day), windows scaled x300"
start_sim --generate 7 --years 2022-2025 --per-year 5000 --window-scale 300
t0=$(date +%s.%N)
out=$(SCALE=300 backfill 2022 2023 2024 2025)
t1=$(date +%s.%N)
refused=$(curl -s "$sim_url/_sim/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['rate_limited'])")
stop_sim
echo "requests strava-sim refused (429): $refused"
echo "$out" | python3 -c "
import json,sys,math
d=json.load(sys.stdin); wall=float(sys.argv[1]); req=d['list_requests']+1
window=900/300
# The floor: requests beyond the first window's 100 must wait for later windows.
windows_needed=math.ceil(req/100)
print(f'requests {req} (list {d[\"list_requests\"]} + athlete 1), wall {wall:.1f} s; scaled window {window:.0f} s;')
print(f'floor: {windows_needed} windows -> at least {windows_needed-1} window boundaries to wait for (<= {(windows_needed-1)*window:.0f} s + transfer)')
# Windows are aligned to the clock: the run waits until the next boundary,
# between 0 and a whole window after its start.
print(f'unscaled: about {wall*300/60:.0f} min; the floor is the wait for {windows_needed-1} window boundaries '
      f'(up to {(windows_needed-1)*15} min, by when in its window the run starts) + transfer')
" "$(python3 -c "print($t1 - $t0)")"
fi
