#!/usr/bin/env bash
# Scale-out throughput (issue 6): end-to-end events per second, from webhook
# POST to stored activity, with 1, 2 and 3 inserter processes on PostgreSQL +
# the Pub/Sub emulator (one dispatcher and one aggregator process beside
# them), and the embedded default (one `serve`: SQLite, the store's queue) in
# the same run. strava-sim answers every fetch with its rate limits off; the
# load is `desirelines replay --concurrency C` (create events for N activities
# the store has not seen). Release build; run on demand:
#   make build && bash bench/scaleout_bench.sh [N] [C]
# Environment: BIN (binaries, default build/release/bin), DL_BENCH_PG_URL (an
# admin URL of a PostgreSQL server to use; otherwise one is started with
# initdb in a temporary folder, fsync off), PUBSUB_EMULATOR_HOST (a running
# emulator; otherwise `gcloud beta emulators pubsub start` is started here),
# INSERTER_THREADS (threads per inserter process, default 2).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${BIN:-$here/build/release/bin}"
n="${1:-3000}"
conc="${2:-8}"
threads="${INSERTER_THREADS:-2}"
work="$(mktemp -d /tmp/dl-sobench.XXXXXX)"
pids=()
emu_pgid=""
pg_stop() { :; }
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  stop_emulator
  wait 2>/dev/null
  pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
source "$here/bench/lib.sh"
listening() { grep -q '^listening on ' "$1" 2>/dev/null; }
url_of() { sed -n 's/^listening on //p' "$1"; }

# ---- PostgreSQL ----
if [ -n "${DL_BENCH_PG_URL:-}" ]; then
  pg_admin="$DL_BENCH_PG_URL"
else
  pg_bin=""
  for v in 15 16 17 14 13; do [ -x "/usr/lib/postgresql/$v/bin/initdb" ] && { pg_bin="/usr/lib/postgresql/$v/bin"; break; }; done
  [ -n "$pg_bin" ] || { echo "PostgreSQL server binaries not found; set DL_BENCH_PG_URL" >&2; exit 1; }
  pg_dir="$work/pg"; mkdir -p "$pg_dir"
  if [ "$(id -u)" -eq 0 ]; then
    pg_user=postgres; chmod 711 "$work"; chown postgres: "$pg_dir"
    runpg() { runuser -u postgres -- "$@"; }
  else
    pg_user="$(id -un)"; runpg() { "$@"; }
  fi
  runpg "$pg_bin/initdb" -D "$pg_dir/data" -U "$pg_user" -A trust -E UTF8 --locale=C --no-sync >/dev/null
  pg_port=$(free_port)
  # fsync off like the tests' server: both stores below are compared on
  # durable commits (SQLite FULL) vs a throwaway server, noted in PERFORMANCE.md.
  runpg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
    -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
  pg_stop() { runpg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1; }
  pg_admin="postgresql://$pg_user@127.0.0.1:$pg_port/postgres"
fi
pg_url() { echo "${pg_admin%/*}/$1"; }

# ---- Pub/Sub emulator ----
start_emulator dl-bench

# ---- strava-sim and the activities to replay ----
"$bin/strava-sim" --listen 127.0.0.1:0 --client-id 1 --client-secret s --refresh-token r --generate 5 \
  --years 2024-2024 --per-year "$n" --rate-limit 10000000,100000000 --read-rate-limit 10000000,100000000 \
  --threads 128 >"$work/sim.out" 2>/dev/null &
pids+=($!)
wait_until 30 listening "$work/sim.out"
sim=$(url_of "$work/sim.out")
export STRAVA_CLIENT_ID=1 STRAVA_CLIENT_SECRET=s STRAVA_API_URL="$sim/api/v3" STRAVA_OAUTH_URL="$sim/oauth" \
  STRAVA_VERIFY_TOKEN=bench STRAVA_SUBSCRIPTION_ID=1 DESIRELINES_CONFIG=""
fresh_token() { curl -s -X POST "$sim/_sim/tokens" -d '{}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])'; }
# Store A (SQLite): the activities to replay, from a backfill.
STRAVA_REFRESH_TOKEN=r DESIRELINES_DATA_DIR="$work/a" "$bin/desirelines" backfill --years 2024 --json >/dev/null

# One measured run: replay from store A to $1 (a webhook URL), then wait until
# `$2` (a command printing the stored count) reaches N. Prints seconds.
measure() {
  local t0 t1
  t0=$(date +%s.%N)
  DESIRELINES_DATA_DIR="$work/a" "$bin/desirelines" replay --dispatcher-url "$1" --from-store \
    --rate-limit 10000 --concurrency "$conc" --json >"$work/replay.json"
  grep -q "\"succeeded\":$n," "$work/replay.json" || { echo "replay failed: $(cat "$work/replay.json")" >&2; return 1; }
  shift
  while [ "$("$@")" -lt "$n" ]; do sleep 0.05; done
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1-$t0:.2f}')"
}
row() { python3 -c "print(f'{\"$1\":<40} {$2:>8.2f} {$n/$2:>10.0f}')"; }

echo "scale-out throughput: $n create events, replay --concurrency $conc, strava-sim answering each fetch"
printf "%-40s %8s %10s\n" "configuration" "seconds" "events/s"

# ---- the embedded default: one serve, SQLite, the store's queue ----
b="$work/embedded"
STRAVA_REFRESH_TOKEN=$(fresh_token) DESIRELINES_DATA_DIR="$b" "$bin/desirelines" backfill --years 2019 --json >/dev/null
DESIRELINES_DATA_DIR="$b" "$bin/desirelines" serve --listen 127.0.0.1:0 >"$work/embedded.out" 2>"$work/embedded.log" &
spid=$!; pids+=($spid)
wait_until 30 listening "$work/embedded.out"
sqlite_count() { sqlite3 "$b/desirelines.db" 'SELECT count(*) FROM activities'; }
s=$(measure "$(url_of "$work/embedded.out")/webhook" sqlite_count)
row "embedded (SQLite, store queue)" "$s"
kill "$spid"; wait "$spid" 2>/dev/null || true

# ---- PostgreSQL + Pub/Sub: 1 dispatcher, K inserter processes, 1 aggregator ----
for k in 1 2 3; do
  db="dl_bench_${k}_$$"
  psql -q "$pg_admin" -c "CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8'" >/dev/null
  url=$(pg_url "$db")
  export PUBSUB_PROJECT_ID="bench-$k-$$" DESIRELINES_DATA_DIR="$work/pg$k"
  "$bin/desirelines" migrate --store "$url" >/dev/null
  STRAVA_REFRESH_TOKEN=$(fresh_token) "$bin/desirelines" backfill --years 2019 --store "$url" --json >/dev/null
  "$bin/desirelines" pubsub setup >/dev/null
  role_pids=()
  start_role() {  # NAME ROLE
    "$bin/desirelines" serve --role "$2" --listen 127.0.0.1:0 --transport pubsub --store "$url" \
      --inserters "$threads" >"$work/$1.out" 2>"$work/$1.log" &
    role_pids+=($!); pids+=($!)
    wait_until 30 listening "$work/$1.out"
  }
  start_role "d$k" dispatcher
  for i in $(seq 1 "$k"); do start_role "i$k-$i" inserter; done
  start_role "a$k" aggregator
  pg_count() { psql -tA "$url" -c 'SELECT count(*) FROM activities'; }
  s=$(measure "$(url_of "$work/d$k.out")/webhook" pg_count)
  row "PostgreSQL+Pub/Sub, $k inserter proc(s)" "$s"
  kill "${role_pids[@]}"; wait "${role_pids[@]}" 2>/dev/null || true
done
