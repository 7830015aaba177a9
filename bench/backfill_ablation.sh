#!/usr/bin/env bash
# What the backfill ingest would reach without each of its required parts: an
# ablation study, run on demand (issue 3's 100,000 activities/s target).
#   bash bench/backfill_ablation.sh            # ROUNDS=2 RUNS=5 by default
#   ROUNDS=3 RUNS=5 bash bench/backfill_ablation.sh
#   KEEP=1 ...                                 # keep the patched tree (its path is printed)
#   TREE=/tmp/dl-ablation.XXXXXX ...           # reuse a kept tree instead of building again
# It builds the release `desirelines` of HEAD with bench/ablation/backfill_ablation.patch
# applied, in a temporary git worktree (your tree and build are not touched),
# then runs the 20,000-activity ingest of backfill_bench.sh with each switch,
# the configurations interleaved round by round so that they share the
# machine's noise. The switches (environment variables read by the patched
# binary, never by the real one):
#   DL_ABL_NORAW=1      the raw JSON is neither encoded nor stored (the issue requires it)
#   DL_ABL_PAGERAW=L    with NORAW: each page's raw JSON stored as one zstd frame at level L
#                       (one row per page instead of one per activity: the "raw per page" design)
#   DL_ABL_NOFINAL=1    no reconciliation, no year rebuild, no files (the issue requires them)
#   DL_ABL_NOPOLY=1     the typed map_summary_polyline column left NULL (the issue requires it;
#                       ~750 of the typed row's ~1,100 bytes)
# plus `--dry-run` (fetch and parse only: nothing is stored). Every result is
# the median and the best of RUNS runs, end to end (process start to exit).
# The patch is against the code of its commit: if it no longer applies, the
# script says so and stops; update it with the code.
set -euo pipefail
export LC_ALL=C
here="$(cd "$(dirname "$0")/.." && pwd)"
patch="$here/bench/ablation/backfill_ablation.patch"
work="$(mktemp -d /tmp/dl-ablation-run.XXXXXX)"
tree="${TREE:-}"
reuse="$tree"
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  if [ -z "$reuse" ] && [ -z "${KEEP:-}" ] && [ -n "$tree" ]; then
    git -C "$here" worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "$reuse" ]; then
  tree="$(mktemp -u /tmp/dl-ablation.XXXXXX)"
  git -C "$here" worktree add --detach -q "$tree" HEAD
  if ! git -C "$tree" apply "$patch"; then
    echo "bench/ablation/backfill_ablation.patch does not apply to HEAD any more: update it" >&2
    exit 2
  fi
  echo "== building the patched release binaries in $tree (a few minutes)"
  (cd "$tree" && cmake --preset release >/dev/null && cmake --build build/release --target desirelines strava-sim -j2 >/dev/null)
fi
bin="$tree/build/release/bin"

emu_pgid=""
source "$here/bench/lib.sh"  # start_sim, stop_sim
dry_run() {  # one --dry-run of the same athlete; prints its wall seconds
  start_sim --generate 7 --years 2022-2025 --per-year 5000 --rate-limit 100000,1000000 --read-rate-limit 100000,1000000
  local t0 t1
  rm -rf "$work/data"
  t0=$EPOCHREALTIME
  STRAVA_CLIENT_ID=1 STRAVA_CLIENT_SECRET=s STRAVA_REFRESH_TOKEN=r STRAVA_API_URL="$sim_url/api/v3" \
    STRAVA_OAUTH_URL="$sim_url/oauth" DESIRELINES_DATA_DIR="$work/data" \
    "$bin/desirelines" backfill --json --dry-run --years 2022 2023 2024 2025 >/dev/null 2>&1
  t1=$EPOCHREALTIME
  stop_sim
  python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$t0" "$t1"
}

configs=("as shipped:" "no raw JSON:DL_ABL_NORAW=1" "raw per page, zstd -1:DL_ABL_NORAW=1 DL_ABL_PAGERAW=-1"
  "no reconcile/aggregates/files:DL_ABL_NOFINAL=1"
  "no raw, no aggregates:DL_ABL_NORAW=1 DL_ABL_NOFINAL=1"
  "no raw, no aggregates, no polyline:DL_ABL_NORAW=1 DL_ABL_NOFINAL=1 DL_ABL_NOPOLY=1")
for round in $(seq 1 "${ROUNDS:-2}"); do
  echo
  echo "== round $round ($(date -u +%H:%M) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)): 20,000 activities, ${RUNS:-5} runs each"
  for config in "${configs[@]}"; do
    name="${config%%:*}"
    vars="${config#*:}"
    out=$(env $vars SECTIONS=ingest RUNS="${RUNS:-5}" BIN="$bin" bash "$here/bench/backfill_bench.sh" 2>&1) || {
      echo "$name: the benchmark failed:" >&2
      echo "$out" | tail -5 >&2
      exit 1
    }
    line=$(echo "$out" | grep "end to end over")
    printf "%-34s %s\n" "$name" "${line#end to end over * run(s): }"
  done
  walls=()
  for _ in $(seq 1 "${RUNS:-5}"); do walls+=("$(dry_run)"); done
  printf "%-34s %s\n" "--dry-run (fetch + parse only)" "$(printf '%s\n' "${walls[@]}" | python3 -c "
import sys,statistics
w=[float(l) for l in sys.stdin if l.strip()]
print('best {:,.0f}/s, median {:,.0f}/s'.format(20000/min(w), 20000/statistics.median(w)))")"
done
