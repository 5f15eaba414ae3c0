#!/usr/bin/env bash
# What the test suite needs beyond pip: headless Chromium, to open HTML dataset cards
# (tests/test_card.py). Idempotent: does nothing when a Chromium is already installed.
# Installs Debian's `chromium` package with apt when run as root or with passwordless sudo;
# otherwise says what to run and exits 0, so the test command goes on: the HTML card test then
# skips with that reason, except under CI=... where it fails. Usage: bash scripts/setup-test.sh
set -euo pipefail

for browser in chromium chromium-browser google-chrome; do
  if command -v "$browser" >/dev/null 2>&1; then
    echo "setup-test: $browser is installed ($(command -v "$browser"))"
    exit 0
  fi
done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-test: warning: no Chromium and no apt-get; install Chromium with your package manager" \
       "(the HTML card test fails under CI and is skipped otherwise)" >&2
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "setup-test: warning: Chromium is missing and installing it needs root; run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y chromium" >&2
  exit 0
fi

echo "setup-test: installing chromium from the Debian packages"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq chromium >/dev/null
echo "setup-test: $(chromium --version 2>/dev/null || echo 'chromium installed')"
