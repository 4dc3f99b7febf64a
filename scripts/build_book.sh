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
# Every model the notebooks train or load is logged here (vaelib.cache), for the summary line below.
mkdir -p _build
export VAELIB_TRAIN_LOG="$(pwd)/_build/vaelib-train-log.jsonl"
rm -f "$VAELIB_TRAIN_LOG"
start=$(date +%s)
.venv/bin/jupyter-book build . -W -n --keep-going
.venv/bin/python - "$VAELIB_TRAIN_LOG" "$(( $(date +%s) - start ))" <<'PY'
import sys
from vaelib.cache import summarise_log
from vaelib.parallel import default_workers
c = summarise_log(sys.argv[1])
print(f"book: executed notebooks trained {c['trained']} models ({c['train_seconds']:.0f} s of training, "
      f"{default_workers()} workers) and loaded {c['loaded']} from the cache; build {sys.argv[2]} s")
PY
echo "book: $(pwd)/_build/html/index.html"
