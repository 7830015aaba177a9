#!/usr/bin/env bash
# Runs the whole test suite on the dev build (ASan + UBSan). Starts the
# servers the tests need and stops them on exit:
#   - PostgreSQL 15: initdb into a temporary folder, socket + loopback port
#     (DL_TEST_PG_URL), when the postgres binaries are installed;
#   - the Google Cloud Pub/Sub emulator (PUBSUB_EMULATOR_HOST), when installed.
# Arguments go to ctest (e.g. -R Postgres). DL_TEST_BUILD=DIR runs the tests of
# another build folder (default build/dev).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
build="${DL_TEST_BUILD:-$here/build/dev}"
work="$(mktemp -d /tmp/dl-tests.XXXXXX)"
pids=()
cleanup() {
  set +e
  if declare -F pg_stop >/dev/null; then pg_stop; fi
  for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

export DL_BIN_DIR="$build/bin"
export DL_SOURCE_DIR="$here"

# PostgreSQL (issue 6): one throwaway server for the whole run, whenever the
# server binaries are installed (scripts/bootstrap.sh installs postgresql-15).
# initdb into $work/pg, trust auth, listening on a free loopback port with the
# socket in the same folder, fsync off (throwaway data). initdb and pg_ctl
# refuse root, so as root they run as `postgres`. Without the binaries the
# PostgreSQL tests fail with a plain message (they never skip).
PG_BIN="${DL_PG_BIN:-}"
if [ -z "$PG_BIN" ]; then
  for v in 15 16 17 14 13; do
    if [ -x "/usr/lib/postgresql/$v/bin/initdb" ]; then PG_BIN="/usr/lib/postgresql/$v/bin"; break; fi
  done
fi
if [ -z "$PG_BIN" ] && command -v initdb >/dev/null 2>&1; then PG_BIN="$(dirname "$(command -v initdb)")"; fi
if [ -n "${DL_TEST_PG_URL:-}" ]; then
  echo "run-tests: PostgreSQL given by DL_TEST_PG_URL"
elif [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ]; then
  pg_dir="$work/pg"
  mkdir -p "$pg_dir"
  if [ "$(id -u)" -eq 0 ]; then
    pg_user=postgres
    chmod 711 "$work"  # postgres must reach $work/pg
    chown postgres: "$pg_dir"
    runpg() { runuser -u postgres -- "$@"; }
  else
    pg_user="$(id -un)"
    runpg() { "$@"; }
  fi
  pg_stop() { runpg "$PG_BIN/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1; }
  runpg "$PG_BIN/initdb" -D "$pg_dir/data" -U "$pg_user" -A trust -E UTF8 --locale=C --no-sync \
    >"$pg_dir/initdb.log" 2>&1 || { cat "$pg_dir/initdb.log" >&2; exit 1; }
  started=""
  for attempt in 1 2 3; do
    port=$(free_port)
    if runpg "$PG_BIN/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
      -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      start >/dev/null 2>&1; then
      started=1
      break
    fi
  done
  if [ -z "$started" ]; then
    echo "run-tests: could not start PostgreSQL:" >&2
    tail -20 "$pg_dir/server.log" >&2 || true
    exit 1
  fi
  export DL_TEST_PG_URL="postgresql://$pg_user@127.0.0.1:$port/postgres"
  echo "run-tests: PostgreSQL on 127.0.0.1:$port ($pg_dir)"
else
  echo "run-tests: PostgreSQL server binaries not found (run scripts/bootstrap.sh); the PostgreSQL tests will fail" >&2
fi

ctest --test-dir "$build" --output-on-failure -j 2 --timeout 600 "$@"
