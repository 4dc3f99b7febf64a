#!/usr/bin/env bash
# Re-execute every notebook in place, so the outputs committed with it (which nbval compares
# and readers see) come from the current vaelib. Trained models come from the cache.
# Usage: bash scripts/execute_notebooks.sh [notebooks/NN_name.ipynb ...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd notebooks
if [ "$#" -gt 0 ]; then files=("${@#notebooks/}"); else files=([0-9][0-9]_*.ipynb); fi
for nb in "${files[@]}"; do
    echo "executing $nb"
    ../.venv/bin/jupyter execute --inplace "$nb"
done
