#!/usr/bin/env bash
# Backfill benchmarks (issue 3), on the release build. Run on demand:
#   make build && bash bench/backfill_bench.sh
# Prints: API efficiency against the old script and the floor; ingest
# throughput with rate limits off and the share of each stage; the ceilings
# measured in the same run (page parse, raw SQLite insert); wall time to
# backfill 20,000 activities under the default read limits (scaled windows).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${BIN:-$here/build/release/bin}"
work="$(mktemp -d /tmp/dl-bench.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

start_sim() {  # args...
  "$bin/strava-sim" --listen 127.0.0.1:0 --client-id 1 --client-secret s --refresh-token r "$@" >"$work/sim.out" 2>/dev/null &
  sim_pid=$!
  for _ in $(seq 1 200); do grep -q '^listening on ' "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
  sim_url=$(sed -n 's/^listening on //p' "$work/sim.out")
}
stop_sim() { kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; }
backfill() {  # years...
  rm -rf "$work/data"
  STRAVA_CLIENT_ID=1 STRAVA_CLIENT_SECRET=s STRAVA_REFRESH_TOKEN=r STRAVA_API_URL="$sim_url/api/v3" \
  STRAVA_OAUTH_URL="$sim_url/oauth" DESIRELINES_DATA_DIR="$work/data" DESIRELINES_RATE_WINDOW_SCALE="${SCALE:-1}" \
    "$bin/desirelines" backfill --json --years "$@"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

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

echo
echo "== Ingest throughput, rate limits off (20,000 activities, 4 years)"
start_sim --generate 7 --years 2022-2025 --per-year 5000 --rate-limit 100000,1000000 --read-rate-limit 100000,1000000
t0=$(date +%s.%N)
out=$(backfill 2022 2023 2024 2025)
t1=$(date +%s.%N)
stop_sim
echo "$out" | python3 -c "
import json,sys
d=json.load(sys.stdin); wall=float(sys.argv[1]); n=sum(y['found'] for y in d['years'])
tot=d['fetch_s']+d['store_s']+d['aggregate_s']
print(f'activities {n}, wall {wall:.2f} s, {n/wall:,.0f} activities/s end to end (process start to exit)')
print(f'stages: fetch+parse {d[\"fetch_s\"]:.2f} s ({100*d[\"fetch_s\"]/tot:.0f}%), upsert {d[\"store_s\"]:.2f} s ({100*d[\"store_s\"]/tot:.0f}%), reconcile+aggregate+files {d[\"aggregate_s\"]:.2f} s ({100*d[\"aggregate_s\"]/tot:.0f}%)')
" "$(python3 -c "print($t1 - $t0)")"
echo
echo "== Ceilings in the same run"
[ -x "$bin/strava_parse_bench" ] && "$bin/strava_parse_bench" 2>&1 | tail -5 || echo "(strava_parse_bench not built)"
[ -x "$bin/store_ingest_bench" ] && "$bin/store_ingest_bench" --rows 20000 2>&1 | tail -12 || echo "(store_ingest_bench not built)"

echo
echo "== Wall time for 20,000 activities under the default read limits (100/15 min, 1000/day), windows scaled x300"
start_sim --generate 7 --years 2022-2025 --per-year 5000 --window-scale 300
t0=$(date +%s.%N)
out=$(SCALE=300 backfill 2022 2023 2024 2025)
t1=$(date +%s.%N)
stop_sim
echo "$out" | python3 -c "
import json,sys,math
d=json.load(sys.stdin); wall=float(sys.argv[1]); req=d['list_requests']+1
window=900/300
# The floor: requests beyond the first window's 100 must wait for later windows.
windows_needed=math.ceil(req/100)
print(f'requests {req} (list {d[\"list_requests\"]} + athlete 1), wall {wall:.1f} s; scaled window {window:.0f} s;')
print(f'floor: {windows_needed} windows -> at least {windows_needed-1} window boundaries to wait for (<= {(windows_needed-1)*window:.0f} s + transfer)')
print(f'unscaled: about {wall*300/60:.0f} min against a floor of {(windows_needed-1)*15} min + transfer')
" "$(python3 -c "print($t1 - $t0)")"
