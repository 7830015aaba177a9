#!/usr/bin/env bash
# Installs, only when missing, every Debian and npm package that the build,
# the tests and the demo need. Idempotent and non-interactive; runs
# `apt-get update` once, and only when there is something to install.
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake pkg-config git
  libcurl4-openssl-dev libsqlite3-dev sqlite3 libssl-dev zlib1g-dev
  libcpp-httplib-dev libsimdjson-dev nlohmann-json3-dev libcli11-dev
  libspdlog-dev libfmt-dev libtomlplusplus-dev libboost1.74-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libpq-dev postgresql-15
  chromium
  wrk
)
# The Pub/Sub emulator ships with the Google Cloud CLI on these machines.
OPTIONAL_APT=(google-cloud-cli-pubsub-emulator openjdk-17-jre-headless)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm may come from elsewhere than Debian (a newer build on the
# machine); install Debian's only when the commands are missing.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
opt_missing=()
for p in "${OPTIONAL_APT[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || opt_missing+=("$p")
done
if [ ${#opt_missing[@]} -gt 0 ]; then
  # Not fatal here: the tests that need them say so plainly.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${opt_missing[@]}" >/dev/null 2>&1 || \
    echo "bootstrap: could not install ${opt_missing[*]} (needed only by the Pub/Sub tests)"
fi

# npm packages for the dashboard build and the browser test (no downloads of
# browsers: playwright-core drives Debian's /usr/bin/chromium).
here="$(cd "$(dirname "$0")/.." && pwd)"
if [ -f "$here/web/package.json" ] && [ ! -d "$here/web/node_modules" ]; then
  echo "bootstrap: npm ci in web/"
  (cd "$here/web" && npm ci --no-audit --no-fund --loglevel=error)
fi
