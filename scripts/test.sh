#!/usr/bin/env bash
# Set up, build the book, and run every test: unit tests, papermill smoke runs of every
# notebook, the browser check of the built HTML, and nbval on every notebook (its stored
# outputs must match a fresh execution).
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
# The book is executed and tested under canonical numerics (vaelib.numerics): the same bits on any
# x86-64 CPU with AVX2, so that stored outputs reproduce on every machine.
export VAELIB_NUMERICS="${VAELIB_NUMERICS:-canonical}"
bash scripts/build_book.sh
.venv/bin/python -m pytest tests notebooks --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg "$@"
