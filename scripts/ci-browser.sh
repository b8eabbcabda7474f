#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (tests/browser), when it is missing.
# Playwright drives it through executable_path; `playwright install` is never used.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium
/usr/bin/chromium --version
