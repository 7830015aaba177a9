#!/usr/bin/env bash
# `make demo`: the main job on the embedded default, against strava-sim.
# 1. starts strava-sim with a generated athlete (deterministic seed),
# 2. backfills the last three full years and the current one into SQLite,
# 3. prints the summary and where the files and the database are,
# 4. serves the dashboard on 127.0.0.1:8080 while the simulator keeps
#    creating an activity now and then (Ctrl-C stops everything).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="$here/build/bin"
demo="${DEMO_DIR:-$here/build/demo}"
year=$(date -u +%Y)
first=$((year - 3))
rm -rf "$demo"
mkdir -p "$demo"
sim_out="$demo/strava-sim.out"

cleanup() { [ -n "${sim_pid:-}" ] && kill "$sim_pid" 2>/dev/null; [ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null; wait 2>/dev/null; true; }
trap cleanup EXIT INT TERM

echo "== 1. Starting strava-sim (a faithful Strava API simulator; no internet needed)"
"$bin/strava-sim" --listen 127.0.0.1:0 --generate 2026 --years "$first-$year" --per-year 250 --until now \
  --client-id 12345 --client-secret demo-secret --refresh-token demo-refresh-token >"$sim_out" 2>"$demo/strava-sim.log" &
sim_pid=$!
for _ in $(seq 1 100); do grep -q '^listening on ' "$sim_out" 2>/dev/null && break; sleep 0.1; done
sim_url=$(sed -n 's/^listening on //p' "$sim_out" | head -1)
[ -n "$sim_url" ] || { echo "strava-sim did not start; see $demo/strava-sim.log"; exit 1; }
echo "   simulator at $sim_url"

export STRAVA_CLIENT_ID=12345 STRAVA_CLIENT_SECRET=demo-secret STRAVA_REFRESH_TOKEN=demo-refresh-token
export STRAVA_API_URL="$sim_url/api/v3" STRAVA_OAUTH_URL="$sim_url/oauth"
export DESIRELINES_DATA_DIR="$demo/data"

echo
echo "== 2. Backfilling $first-$year (every sport) into $DESIRELINES_DATA_DIR/desirelines.db"
"$bin/desirelines" backfill --years $(seq "$first" "$year") --sports all
echo
echo "== 3. What was written"
echo "   database:      $DESIRELINES_DATA_DIR/desirelines.db"
echo "   yearly files:  $DESIRELINES_DATA_DIR/activities/<year>/summary_activities.json, distances.json"
ls "$DESIRELINES_DATA_DIR/activities" | sed 's/^/                  /'
echo "   requests the simulator served:"
curl -s "$sim_url/_sim/stats" | sed 's/^/                  /'
echo
echo "== Next (in another terminal, with the same environment):"
echo "   $bin/desirelines backfill --years $year      # again: everything unchanged"
echo "   $bin/desirelines status                       # store, athlete, rate budget"
echo "   see README.md for replay, subscriptions, events and the configuration."
echo
echo "== 4. Serving the dashboard and the live pipeline"
export STRAVA_VERIFY_TOKEN=demo-verify-token
port="${DEMO_PORT:-8080}"
serve_out="$demo/serve.out"
start_serve() {
  rm -f "$serve_out"  # else the check below may read the last start's line before the new process truncates it
  "$bin/desirelines" serve --listen "127.0.0.1:$port" >"$serve_out" 2>"$demo/serve.log" &
  serve_pid=$!
  for _ in $(seq 1 100); do grep -q '^listening on ' "$serve_out" 2>/dev/null && break; sleep 0.1; done
  grep -q '^listening on ' "$serve_out" || { echo "serve did not start (port $port busy? set DEMO_PORT); see $demo/serve.log"; exit 1; }
}
start_serve
serve_url=$(sed -n 's/^listening on //p' "$serve_out")
# Strava validates the callback with the verify token, then pushes events.
sub_id=$("$bin/desirelines" subscription create --callback-url "$serve_url/webhook" --json | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
export STRAVA_SUBSCRIPTION_ID="$sub_id"
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
port="${serve_url##*:}"   # the same port again: the subscription's callback points there
start_serve
echo "   dashboard:     $serve_url/   (data API under $serve_url/api)"
echo "   webhook:       $serve_url/webhook (subscription $sub_id)"
echo "   the simulator now adds a ride every ${DEMO_EVERY:-20} s; watch the lines move (Ctrl-C stops)"
end=$(( $(date +%s) + ${DEMO_SECONDS:-86400} ))
n=0
while [ "$(date +%s)" -lt "$end" ]; do
  sleep "${DEMO_EVERY:-20}"
  n=$((n + 1))
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  km=$(( 15 + (RANDOM % 60) ))
  curl -s -X POST "$sim_url/_sim/activities" -d "{\"name\":\"Demo ride $n\",\"sport_type\":\"Ride\",\"type\":\"Ride\",\"distance\":${km}000,\"moving_time\":$((km * 140)),\"start_date\":\"$now\",\"start_date_local\":\"$now\",\"utc_offset\":0}" >/dev/null
  echo "   + $now: the simulator created a $km km ride; Strava pushed the webhook to serve"
done
