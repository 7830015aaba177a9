#!/usr/bin/env bash
# Where one ingest backfill (the 20,000-activity athlete of backfill_bench.sh)
# spends its wall time, per thread: on CPU, preempted (runnable, waiting for a
# core), and off CPU by the kernel function it blocked in (futex = waiting
# for another thread, poll = waiting for strava-sim, fdatasync = I/O).
# Also: when the first and the last list request went out, and when the
# process exited. Needs perf (linux-perf) and root or perf_event_paranoid <= 1.
#   bash bench/backfill_threads.sh [BIN_DIR]
# The thread that is never waiting on a futex is the critical path.
set -euo pipefail
export LC_ALL=C
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$here/build/release/bin}"
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 2; }
work="$(mktemp -d /tmp/dl-threads.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

emu_pgid=""
source "$here/bench/lib.sh"  # start_sim, stop_sim
sim_for_run() {  # a new simulated athlete and a fresh data folder (a used refresh token is refused)
  start_sim --generate 7 --years 2022-2025 --per-year 5000 --rate-limit 100000,1000000 --read-rate-limit 100000,1000000
  rm -rf "$work/data"
  export STRAVA_CLIENT_ID=1 STRAVA_CLIENT_SECRET=s STRAVA_REFRESH_TOKEN=r STRAVA_API_URL="$sim_url/api/v3" \
    STRAVA_OAUTH_URL="$sim_url/oauth" DESIRELINES_DATA_DIR="$work/data"
}

# Run 1: scheduler events with the kernel stack at every switch.
sim_for_run
perf sched record -g -o "$work/sched.data" -- "$bin/desirelines" backfill --json --years 2022 2023 2024 2025 \
  >"$work/out1.json" 2>/dev/null
perf sched timehist -i "$work/sched.data" -g --max-stack 14 2>/dev/null >"$work/timehist.txt"
stop_sim
# Run 2 (a fresh store): the list requests and the exit, by syscall.
sim_for_run
perf trace -e sendto,exit_group -o "$work/trace.txt" -- "$bin/desirelines" backfill --json --years 2022 2023 2024 2025 \
  >"$work/out2.json" 2>/dev/null
stop_sim

python3 - "$work/timehist.txt" "$work/trace.txt" <<'EOF'
import collections, re, sys
run = collections.Counter(); delay = collections.Counter()
blocked = collections.defaultdict(collections.Counter); last = {}
for line in open(sys.argv[1]):
    m = re.match(r'\s*([\d.]+)\s+\[(\d+)\]\s+(\S+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*(.*)$', line)
    if not m or not re.match(r'(desirelines|dl-)', m.group(3)):
        continue
    _, _, task, wait, sch, ran, chain = m.groups()
    run[task] += float(ran); delay[task] += float(sch)
    if task in last and float(wait) > 0:
        blocked[task][last[task]] += float(wait)
    frames = [f.strip() for f in chain.split('<-')]
    reason = next((f.replace('__x64_sys_', '') for f in frames if f.startswith('__x64_sys_')), 'preempted')
    last[task] = reason
print(f"{'thread':<28} {'on cpu':>8} {'sch delay':>10}   off cpu by reason: the syscall it blocked in, or preempted (ms)")
for task in sorted(run, key=lambda t: -run[t]):
    off = ', '.join(f'{k} {v:.1f}' for k, v in blocked[task].most_common(4))
    print(f'{task:<28} {run[task]:8.1f} {delay[task]:10.1f}   {off}')
ts = [(float(l.split()[0]), l) for l in open(sys.argv[2]) if l.strip()[:1].isdigit()]
sends = [t for t, l in ts if 'sendto' in l]
exits = [t for t, l in ts if 'exit_group' in l]
if len(sends) >= 3:  # the token refresh, GET /athlete, then the list requests
    print(f'\nrun 2, ms after the first request (the token refresh): first list request {sends[2] - sends[0]:.1f}, '
          f'last list request {sends[-1] - sends[0]:.1f}, exit {exits[-1] - sends[0] if exits else float("nan"):.1f}')
EOF
