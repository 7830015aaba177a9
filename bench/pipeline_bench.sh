#!/usr/bin/env bash
# Whole-pipeline throughput (issue 4): events per second from webhook POST to
# stored activity, with strava-sim answering every fetch (rate limits off),
# for 1, 2 and 4 inserter threads, on the release build, with the load from
# `replay --concurrency C` (C connections posting in parallel, default 8).
# Run on demand:
#   make build && bash bench/pipeline_bench.sh [N] [C]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${BIN:-$here/build/release/bin}"
n="${1:-3000}"
conc="${2:-8}"
work="$(mktemp -d /tmp/dl-pbench.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT

"$bin/strava-sim" --listen 127.0.0.1:0 --client-id 1 --client-secret s --refresh-token r --generate 5 \
  --years 2024-2024 --per-year "$n" --rate-limit 10000000,100000000 --read-rate-limit 10000000,100000000 \
  >"$work/sim.out" 2>/dev/null &
for _ in $(seq 1 200); do grep -q '^listening on ' "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
sim=$(sed -n 's/^listening on //p' "$work/sim.out")
export STRAVA_CLIENT_ID=1 STRAVA_CLIENT_SECRET=s STRAVA_REFRESH_TOKEN=r STRAVA_API_URL="$sim/api/v3" \
  STRAVA_OAUTH_URL="$sim/oauth" STRAVA_VERIFY_TOKEN=bench STRAVA_SUBSCRIPTION_ID=1
# Store A: the activities to replay (a backfill); the events name them.
DESIRELINES_DATA_DIR="$work/a" "$bin/desirelines" backfill --years 2024 --json >/dev/null
# The simulator rotates refresh tokens: hand the newest one from store to store.
token=$(sqlite3 "$work/a/desirelines.db" 'SELECT refresh_token FROM tokens')
echo "pipeline throughput, $n create events, replay --concurrency $conc, strava-sim answering each fetch"
printf "%-10s %10s %12s\n" "inserters" "seconds" "events/s"
for k in 1 2 4; do
  b="$work/b$k"
  # Store B: only the athlete's tokens (a backfill of an empty year), so every event is new.
  STRAVA_REFRESH_TOKEN="$token" DESIRELINES_DATA_DIR="$b" "$bin/desirelines" backfill --years 2019 --json >/dev/null
  DESIRELINES_DATA_DIR="$b" "$bin/desirelines" serve --listen 127.0.0.1:0 --inserters "$k" >"$work/serve$k.out" 2>"$work/serve$k.log" &
  spid=$!
  for _ in $(seq 1 200); do grep -q '^listening on ' "$work/serve$k.out" 2>/dev/null && break; sleep 0.05; done
  url=$(sed -n 's/^listening on //p' "$work/serve$k.out")
  t0=$(date +%s.%N)
  DESIRELINES_DATA_DIR="$work/a" "$bin/desirelines" replay --dispatcher-url "$url/webhook" --from-store \
    --rate-limit 10000 --concurrency "$conc" --json >/dev/null
  while [ "$(sqlite3 "$b/desirelines.db" 'SELECT count(*) FROM activities')" -lt "$n" ]; do sleep 0.05; done
  t1=$(date +%s.%N)
  python3 -c "t=$t1-$t0; print(f'{$k:<10} {t:10.2f} {$n/t:12.0f}')"
  kill "$spid"; wait "$spid" 2>/dev/null || true
  token=$(sqlite3 "$b/desirelines.db" 'SELECT refresh_token FROM tokens')
done
