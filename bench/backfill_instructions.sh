#!/usr/bin/env bash
# Instructions executed per thread by one ingest backfill (the 20,000-activity
# athlete of backfill_bench.sh), counted by valgrind's callgrind: a measure
# that does not depend on what else the machine runs, for comparing two
# builds when wall times are noise. It does not see the kernel (WAL writes,
# page faults, futexes) nor cache misses, so confirm a gain with
# backfill_bench.sh on a quiet machine. Run on demand; needs valgrind
# (apt-get install valgrind). A run takes about a minute per build.
#   bash bench/backfill_instructions.sh BIN_DIR [BIN_DIR...]
#   PER_YEAR=1250 bash bench/backfill_instructions.sh build/release/bin /tmp/base-bin
# Prints, per build: millions of instructions of the fetching thread
# (desirelines), the page writer (dl-pagewriter) and the checkpointer
# (dl-checkpoint; under valgrind threads take turns, so it runs less often
# than natively), and their total.
set -euo pipefail
export LC_ALL=C
here="$(cd "$(dirname "$0")/.." && pwd)"
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
[ $# -ge 1 ] || { echo "usage: $0 BIN_DIR [BIN_DIR...]" >&2; exit 2; }
work="$(mktemp -d /tmp/dl-instr.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

emu_pgid=""
source "$here/bench/lib.sh"  # start_sim, stop_sim

printf "%-40s %12s %12s %12s %12s\n" "build" "fetching" "writer" "checkpoint" "total (M)"
for dir in "$@"; do
  bin="$(cd "$dir" && pwd)"
  [ -x "$bin/desirelines" ] && [ -x "$bin/strava-sim" ] || { echo "$dir: no desirelines and strava-sim" >&2; exit 2; }
  start_sim --generate 7 --years 2022-2025 --per-year "${PER_YEAR:-5000}" \
    --rate-limit 100000,1000000 --read-rate-limit 100000,1000000
  rm -rf "$work/data" "$work"/cg.out*
  STRAVA_CLIENT_ID=1 STRAVA_CLIENT_SECRET=s STRAVA_REFRESH_TOKEN=r STRAVA_API_URL="$sim_url/api/v3" \
    STRAVA_OAUTH_URL="$sim_url/oauth" DESIRELINES_DATA_DIR="$work/data" \
    valgrind --tool=callgrind --separate-threads=yes --dump-instr=no --callgrind-out-file="$work/cg.out" \
    "$bin/desirelines" backfill --json --years 2022 2023 2024 2025 >"$work/out.json" 2>"$work/valgrind.log" || {
    echo "$dir: the backfill failed (see below)" >&2
    tail -5 "$work/valgrind.log" >&2
    exit 1
  }
  stop_sim
  # One file per thread (cg.out-01, -02, ...); the thread's name is not in
  # the file, so the threads are told apart by what they run.
  python3 - "$dir" "$work" <<'EOF'
import glob, re, sys
counts = {"fetching": 0, "writer": 0, "checkpoint": 0}
for path in sorted(glob.glob(sys.argv[2] + "/cg.out-*")):
    text = open(path, errors="replace").read()
    total = re.search(r"^totals: (\d+)", text, re.M)
    if not total:
        continue
    n = int(total.group(1))
    if "PageWriter::Loop" in text:
        counts["writer"] += n
    elif "BackgroundCheckpointer::Loop" in text:
        counts["checkpoint"] += n
    else:  # the main thread, and curl's resolver thread if any
        counts["fetching"] += n
m = {k: v / 1e6 for k, v in counts.items()}
print("%-40s %12.1f %12.1f %12.1f %12.1f" % (sys.argv[1][-40:], m["fetching"], m["writer"], m["checkpoint"], sum(m.values())))
EOF
done
