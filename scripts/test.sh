#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run every test: unit tests, the notebooks under nbval,
# the papermill smoke runs, the book build and the browser check.
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MPLBACKEND=Agg
.venv/bin/python -m pytest "$@"
