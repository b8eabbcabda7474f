#!/usr/bin/env bash
# Installs what `make bench` needs beyond the venv when it is missing: Debian's wrk (the load
# generator of bench/pages.py and bench/inbox.py). Nothing is downloaded from elsewhere.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq wrk
wrk --version 2>&1 | head -n 1 || true
