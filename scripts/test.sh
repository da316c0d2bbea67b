#!/usr/bin/env bash
# Set up, then run the fast test suite on two pytest-xdist workers, one test file at a time
# per worker (the builds, runs and exports a file shares stay on one worker), longest files
# first (tests/conftest.py orders them). Extra arguments go to pytest (e.g. `-m slow` for the
# long tests, `-k data` for a subset, `-n 0` for one process).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder "$@"
