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
  # The emulator is gcloud (python) + java in their own process group.
  [ -n "$emu_pgid" ] && { kill -- "-$emu_pgid" 2>/dev/null; sleep 1; kill -9 -- "-$emu_pgid" 2>/dev/null; }
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# Polls a readiness condition (a command) with a deadline in seconds.
wait_until() {
  local deadline=$(($(date +%s) + $1)); shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "timed out waiting for: $*" >&2; return 1; }
    sleep 0.05
  done
}
if [ -z "${PUBSUB_EMULATOR_HOST:-}" ]; then
  emu_port=$(free_port)
  set -m  # job control: the emulator gets a process group of its own (pgid = its pid)
  gcloud beta emulators pubsub start --host-port="127.0.0.1:$emu_port" --project=dl-bench \
    >"$work/emulator.log" 2>&1 &
  emu_pgid=$!
  set +m
  export PUBSUB_EMULATOR_HOST="127.0.0.1:$emu_port"
  wait_until 120 curl -s -o /dev/null "http://$PUBSUB_EMULATOR_HOST/"
  # The java process of that group serves the requests.
  java_pid=$(ps -eo pid=,pgid=,comm= | awk -v g="$emu_pgid" '$2 == g && $3 == "java" {print $1; exit}' || true)
  if [ -n "$java_pid" ]; then export PUBSUB_EMULATOR_PID="$java_pid"; fi
fi
export PUBSUB_PROJECT_ID="${PUBSUB_PROJECT_ID:-dl-bench}"
"$bench" "$@"
