#!/usr/bin/env bash
# Set up, build the book (from stored outputs), and run every test: unit tests, papermill smoke runs
# of every notebook (FAST parameters), the browser check of the built HTML, and nbval on every
# notebook: the one full execution, which proves the stored outputs reproduce on this machine.
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/numerics_env.sh
bash scripts/build_book.sh
# Test modules and notebooks run in parallel, one per worker process (pytest-xdist, --dist loadscope: a notebook's
# cells stay in order in one kernel, a module's fixtures are made once): as many workers as cores, at most 4.
# Pass -n 0 to run everything in this process.
cores=$(nproc 2>/dev/null || echo 1)
workers=$(( cores < 4 ? cores : 4 ))
.venv/bin/python -m pytest -n "$workers" --dist loadscope tests notebooks --nbval \
    --nbval-sanitize-with tests/nbval_sanitize.cfg "$@"
