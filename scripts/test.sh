#!/usr/bin/env bash
# Set up, build the book (from stored outputs), and run every test: unit tests, papermill smoke runs
# of every notebook (FAST parameters), the browser check of the built HTML, and nbval on every
# notebook: the one full execution, which proves the stored outputs reproduce on this machine.
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/numerics_env.sh
bash scripts/build_book.sh
.venv/bin/python -m pytest tests notebooks --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg "$@"
