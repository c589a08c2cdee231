#!/usr/bin/env bash
# Install what is missing (with test tools), then run the whole test suite.
# PostgreSQL tests run too when PARKGATE_TEST_POSTGRES_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
