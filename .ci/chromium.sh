#!/usr/bin/env bash
# Installs Debian's chromium, the headless browser the report page tests
# drive (report/reporttest), unless a Chromium is already there. Idempotent
# and quiet. Prints the path of the binary on its last line.
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then
    echo "chromium: $(command -v "$name")"
    exit 0
  fi
done
echo "installing chromium (apt-get, takes a few minutes)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium >/dev/null
if ! command -v chromium >/dev/null 2>&1; then
  echo "chromium: not found after apt-get install" >&2
  exit 1
fi
echo "chromium: $(command -v chromium)"
