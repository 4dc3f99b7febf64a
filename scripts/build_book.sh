#!/usr/bin/env bash
# Set up (scripts/setup.sh) and build the book into _build/html, executing every notebook
# that changed since the last build (jupyter-cache). Warnings are errors.
# Usage: bash scripts/build_book.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/jupyter-book build . -W -n --keep-going
echo "book: $(pwd)/_build/html/index.html"
