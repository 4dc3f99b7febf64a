#!/usr/bin/env bash
# Set up (scripts/setup.sh) and build the book into _build/html, executing every notebook
# that changed since the last build (jupyter-cache). Warnings are errors.
# Usage: bash scripts/build_book.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# The book is executed and tested under canonical numerics (vaelib.numerics): the same bits on any
# x86-64 CPU with AVX2, so that stored outputs reproduce on every machine.
export VAELIB_NUMERICS="${VAELIB_NUMERICS:-canonical}"
bash scripts/setup.sh
.venv/bin/jupyter-book build . -W -n --keep-going
echo "book: $(pwd)/_build/html/index.html"
