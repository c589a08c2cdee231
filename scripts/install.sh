#!/usr/bin/env bash
# Idempotent set-up: system packages (when root), a virtualenv in .venv and the Python deps.
# Usage: bash scripts/install.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

need_apt=()
# A CJK font draws the demo's plates and the console's Chinese in screenshots.
ls /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc >/dev/null 2>&1 || need_apt+=(fonts-wqy-zenhei)
# The console's browser tests drive Debian's chromium (Playwright's own download can't work here).
if [ "$DEV" = 1 ] && ! command -v chromium >/dev/null 2>&1; then need_apt+=(chromium); fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system packages: ${need_apt[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "warning: please install ${need_apt[*]} (needs root and apt-get)" >&2
  fi
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=".venv/.parkgate-installed"
reqs="requirements.txt requirements-nodeps.txt"
[ "$DEV" = 1 ] && reqs="$reqs requirements-dev.txt"
# What the stamp says of an install: its requirement files' contents and whether dev tools came.
install_hash() { cat "$@" | sha256sum | cut -c1-16; }
hash=$(install_hash $reqs)-$DEV
# A dev install holds everything a plain one needs: scripts/run.sh after scripts/test.sh must
# not reinstall (it would need the network and make the next test.sh reinstall again).
dev_hash=$(install_hash requirements.txt requirements-nodeps.txt requirements-dev.txt)-1 \
  || dev_hash=none
installed=$(cat "$stamp" 2>/dev/null || true)
if [ "$installed" != "$hash" ] && [ "$installed" != "$dev_hash" ]; then
  .venv/bin/pip install -q --upgrade pip
  if [ "$DEV" = 1 ]; then .venv/bin/pip install -q -r requirements-dev.txt
  else .venv/bin/pip install -q -r requirements.txt; fi
  # face_recognition declares "dlib", which would compile for minutes; dlib-bin provides it.
  .venv/bin/pip install -q --no-deps -r requirements-nodeps.txt
  echo "$hash" > "$stamp"
fi
