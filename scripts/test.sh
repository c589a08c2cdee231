#!/usr/bin/env bash
# Install what is missing (with test tools), then run the whole test suite.
# PostgreSQL tests run too when PARKGATE_TEST_POSTGRES_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
.venv/bin/ruff check .
# Types of the product packages, bench/ and tests/ ([tool.mypy] in pyproject.toml): ~17 s from cold,
# under a second with the .mypy_cache of an earlier run.
.venv/bin/python -m mypy
# Four workers on a 2-core box (PARKGATE_TEST_WORKERS=0 for one process): most tests wait on
# sockets, timers, brokers and a browser rather than on the CPU. Measured on one machine the
# same day: 2 workers 19:27 of tests, 4 workers 14:25. loadscope keeps a module's tests
# together, so module-scoped servers start once; each worker has its own PostgreSQL database.
# The slowest tests are listed at the end: where the time goes when the suite nears its budget.
exec .venv/bin/python -m pytest -n "${PARKGATE_TEST_WORKERS:-4}" --dist loadscope \
  --durations=20 --durations-min=5 "$@"
