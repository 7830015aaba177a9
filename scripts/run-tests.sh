#!/usr/bin/env bash
# Runs the whole test suite on the dev build (ASan + UBSan). Starts the
# servers the tests need and stops them on exit:
#   - PostgreSQL 15: initdb into a temporary folder, socket + loopback port
#     (DL_TEST_PG_URL), when the postgres binaries are installed;
#   - the Google Cloud Pub/Sub emulator (PUBSUB_EMULATOR_HOST), when installed.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
build="$here/build/dev"
work="$(mktemp -d /tmp/dl-tests.XXXXXX)"
pids=()
cleanup() {
  set +e
  if [ -n "${PGDATA_DIR:-}" ] && [ -d "$PGDATA_DIR" ]; then
    "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m immediate stop >/dev/null 2>&1
  fi
  for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

export DL_BIN_DIR="$build/bin"
export DL_SOURCE_DIR="$here"

# PostgreSQL (issue 6 contract tests).
PG_BIN=/usr/lib/postgresql/15/bin
if [ -x "$PG_BIN/initdb" ] && [ -n "${DL_TESTS_NEED_PG:-}" ]; then
  PGDATA_DIR="$work/pg"
  pg_user=postgres
  port=$(free_port)
  if [ "$(id -u)" -eq 0 ]; then
    mkdir -p "$PGDATA_DIR" && chown postgres:postgres "$PGDATA_DIR" "$work"
    runpg() { su postgres -s /bin/bash -c "$*"; }
  else
    pg_user=$(id -un)
    runpg() { bash -c "$*"; }
  fi
  runpg "$PG_BIN/initdb -D $PGDATA_DIR -U $pg_user -A trust -E UTF8 >/dev/null"
  runpg "$PG_BIN/pg_ctl -D $PGDATA_DIR -o '-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=off' -l $work/pg.log -w start >/dev/null"
  export DL_TEST_PG_URL="postgresql://$pg_user@127.0.0.1:$port/postgres"
  echo "run-tests: PostgreSQL on 127.0.0.1:$port"
fi

ctest --test-dir "$build" --output-on-failure -j 2 --timeout 600 "$@"
