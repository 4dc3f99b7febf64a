#!/usr/bin/env bash
# Set up (scripts/setup.sh) and build the book into _build/html from the notebooks' stored outputs.
# Nothing is executed: the notebooks are committed executed (scripts/execute_notebooks.sh re-executes
# them), and the test command's nbval run proves that their stored outputs reproduce. A notebook
# stored without outputs, in part, or with an error output stops the build with one line naming it.
# Warnings are errors.
# Usage: bash scripts/build_book.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
start=$(date +%s)
.venv/bin/python scripts/check_stored_outputs.py notebooks/[0-9][0-9]_*.ipynb
.venv/bin/jupyter-book build . -W -n --keep-going
echo "book: built from stored outputs in $(( $(date +%s) - start )) s: $(pwd)/_build/html/index.html"
