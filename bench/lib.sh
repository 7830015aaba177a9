# Shared helpers of the bench scripts: `source "$here/bench/lib.sh"` after
# setting `work` (a temporary folder), `bin` (the binaries) and `emu_pgid=""`.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# Polls a readiness condition (a command) with a deadline in seconds.
wait_until() {
  local deadline=$(($(date +%s) + $1)); shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "timed out waiting for: $*" >&2; return 1; }
    sleep 0.05
  done
}

# Starts the Pub/Sub emulator unless PUBSUB_EMULATOR_HOST names a running
# one, and exports PUBSUB_EMULATOR_HOST. Sets emu_pgid (stop it with
# stop_emulator): gcloud (python) + java run in a process group of their own.
start_emulator() {  # project
  [ -n "${PUBSUB_EMULATOR_HOST:-}" ] && return 0
  local port
  port=$(free_port)
  set -m  # job control: the emulator gets a process group of its own (pgid = its pid)
  gcloud beta emulators pubsub start --host-port="127.0.0.1:$port" --project="$1" >"$work/emulator.log" 2>&1 &
  emu_pgid=$!
  set +m
  export PUBSUB_EMULATOR_HOST="127.0.0.1:$port"
  wait_until 120 curl -s -o /dev/null "http://$PUBSUB_EMULATOR_HOST/"
}

stop_emulator() {
  [ -n "${emu_pgid:-}" ] && { kill -- "-$emu_pgid" 2>/dev/null; sleep 1; kill -9 -- "-$emu_pgid" 2>/dev/null; }
  return 0
}

# Starts strava-sim on a free loopback port with the bench credentials
# (client 1, secret s, refresh token r) and the given flags; sets sim_pid and
# sim_url. A refresh token is used once (as on Strava): a new run of
# `desirelines` against a fresh data folder needs a new simulator.
# The output file is removed first: the shell may run the readiness check
# before the new process has truncated it, and the last run's line names a
# closed port.
start_sim() {  # strava-sim flags...
  rm -f "$work/sim.out"
  "$bin/strava-sim" --listen 127.0.0.1:0 --client-id 1 --client-secret s --refresh-token r "$@" >"$work/sim.out" 2>/dev/null &
  sim_pid=$!
  wait_until 60 grep -qs '^listening on ' "$work/sim.out"
  sim_url=$(sed -n 's/^listening on //p' "$work/sim.out")
  [ -n "$sim_url" ] || { echo "strava-sim did not start" >&2; return 1; }
}
stop_sim() { kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; }

# One counter of a `perf stat -x, -o FILE` output (e.g. task-clock in ms,
# page-faults), rounded; 0 when absent.
perf_stat_value() {  # file event
  awk -F, -v e="$2" '$3 == e && $1 ~ /^[0-9]/ { v = $1 } END { printf "%.0f\n", v + 0 }' "$1"
}
