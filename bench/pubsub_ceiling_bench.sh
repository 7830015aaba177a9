#!/usr/bin/env bash
# The Pub/Sub emulator's own ceiling (see bench/pubsub_ceiling_bench.cc):
# starts the emulator the way bench/scaleout_bench.sh does (gcloud beta
# emulators pubsub start, its own process group), runs the bench against it
# with the emulator's java pid (for its CPU share), then stops it. Release
# build; run on demand:
#   cmake --build <release dir> --target pubsub_ceiling_bench
#   BENCH=<release dir>/bin/pubsub_ceiling_bench bash bench/pubsub_ceiling_bench.sh [bench args]
# Environment: BENCH (the binary; default build/release/bin/pubsub_ceiling_bench),
# PUBSUB_EMULATOR_HOST (a running emulator to use instead; its CPU is then
# reported only with PUBSUB_EMULATOR_PID).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bench="${BENCH:-$here/build/release/bin/pubsub_ceiling_bench}"
[ -x "$bench" ] || { echo "not built: $bench (set BENCH)" >&2; exit 1; }
work="$(mktemp -d /tmp/dl-psceil.XXXXXX)"
emu_pgid=""
cleanup() {
  set +e
  stop_emulator
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
source "$here/bench/lib.sh"
start_emulator dl-bench
if [ -n "$emu_pgid" ]; then
  # The java process of that group serves the requests.
  java_pid=$(ps -eo pid=,pgid=,comm= | awk -v g="$emu_pgid" '$2 == g && $3 == "java" {print $1; exit}' || true)
  if [ -n "$java_pid" ]; then export PUBSUB_EMULATOR_PID="$java_pid"; fi
fi
export PUBSUB_PROJECT_ID="${PUBSUB_PROJECT_ID:-dl-bench}"
"$bench" "$@"
