#!/usr/bin/env bash
# The dashboard's browser test against the real binaries: strava-sim with a
# generated athlete, `desirelines backfill` of the last two years and the
# current one (every sport), `desirelines serve` with a write token, then
# dashboard.test.mjs in headless Chromium (node --test).
#
# Environment:
#   DL_BIN_DIR            where desirelines and strava-sim are (CTest sets it;
#                         default build/dev/bin)
#   DASHBOARD_SCREENSHOT  where the test saves its screenshot (default
#                         $DL_BIN_DIR/../dashboard.png)
#   DL_UPDATE_SCREENSHOT  1: also copy the fresh screenshots to web/docs/
#   CHROMIUM_PATH         default /usr/bin/chromium
#
# Missing prerequisites fail the test with a message; they never skip it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
bin="${DL_BIN_DIR:-$root/build/dev/bin}"
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
shot="${DASHBOARD_SCREENSHOT:-$bin/../dashboard.png}"

fail() {
  echo "dashboard_browser: FAILED: $*" >&2
  exit 1
}

for b in desirelines strava-sim; do
  [ -x "$bin/$b" ] || fail "$bin/$b is missing: build it first (or set DL_BIN_DIR)"
done
command -v node >/dev/null || fail "node is missing: run scripts/bootstrap.sh (Debian package nodejs)"
[ -d "$root/web/node_modules/playwright-core" ] ||
  fail "web/node_modules/playwright-core is missing: run scripts/bootstrap.sh (npm ci in web/)"
[ -x "$chromium" ] || fail "$chromium is missing: run scripts/bootstrap.sh (Debian package chromium)"

work="$(mktemp -d "${TMPDIR:-/tmp}/dl-dashboard-XXXXXX")"
sim_pid=""
serve_pid=""
cleanup() {
  local status=$?
  for pid in $serve_pid $sim_pid; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $serve_pid $sim_pid; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ]; then
    for log in sim.err backfill.err serve.err; do
      [ -s "$work/$log" ] && { echo "---- $log (tail) ----" >&2; tail -n 40 "$work/$log" >&2; }
    done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits for "listening on URL" as the first line of $1 and prints URL.
wait_for_url() {
  local file="$1" pid="$2" deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    if [ -s "$file" ]; then
      local line
      line="$(head -n 1 "$file")"
      if [[ "$line" == "listening on "* ]]; then
        echo "${line#listening on }"
        return 0
      fi
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

client_id=12345
secret="dashboard-e2e-secret"
refresh="dashboard-e2e-refresh"
write_token="dashboard-e2e-write-token-$$"
year="$(date -u +%Y)"
cd "$work"  # no desirelines.toml of the caller's directory is read

"$bin/strava-sim" --listen 127.0.0.1:0 --client-id "$client_id" --client-secret "$secret" \
  --refresh-token "$refresh" --generate 42 --years "$((year - 2))-$year" --per-year 160 --until now \
  >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
sim_url="$(wait_for_url "$work/sim.out" "$sim_pid")" || fail "strava-sim did not start"

export STRAVA_CLIENT_ID="$client_id" STRAVA_CLIENT_SECRET="$secret" STRAVA_REFRESH_TOKEN="$refresh"
export STRAVA_API_URL="$sim_url/api/v3" STRAVA_OAUTH_URL="$sim_url/oauth"
export DESIRELINES_DATA_DIR="$work/data" DESIRELINES_WRITE_TOKEN="$write_token"
unset DESIRELINES_CONFIG DESIRELINES_STORE DESIRELINES_SPORTS_FILE DESIRELINES_CORS_ORIGINS

"$bin/desirelines" backfill --years "$((year - 2))" "$((year - 1))" "$year" --sports all \
  >"$work/backfill.out" 2>"$work/backfill.err" || fail "backfill failed"

"$bin/desirelines" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
serve_url="$(wait_for_url "$work/serve.out" "$serve_pid")" || fail "desirelines serve did not start"
echo "dashboard_browser: serving $serve_url over $((year - 2))-$year"

mkdir -p "$(dirname "$shot")"
rm -f "$shot" "${shot%.png}-phone.png"
status=0
DASHBOARD_URL="$serve_url" DASHBOARD_WRITE_TOKEN="$write_token" DASHBOARD_SCREENSHOT="$shot" \
  CHROMIUM_PATH="$chromium" node --test "$here/dashboard.test.mjs" || status=$?
[ "$status" -eq 0 ] || fail "the browser test failed (node exited $status)"
[ -s "$shot" ] || fail "no screenshot at $shot"
echo "dashboard_browser: screenshot $shot"

if [ "${DL_UPDATE_SCREENSHOT:-0}" = "1" ]; then
  cp "$shot" "$root/web/docs/dashboard.png"
  [ -s "${shot%.png}-phone.png" ] && cp "${shot%.png}-phone.png" "$root/web/docs/dashboard-phone.png"
  echo "dashboard_browser: updated web/docs/dashboard.png"
fi
