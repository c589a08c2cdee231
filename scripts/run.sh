#!/usr/bin/env bash
# Install what is missing, then start parkgate (default: `serve`; try `demo`).
# With no configuration it runs the built-in demo community on SQLite in ./data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if [ "$#" -eq 0 ]; then set -- serve; fi
exec .venv/bin/python main.py "$@"
