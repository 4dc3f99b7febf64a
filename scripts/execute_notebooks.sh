#!/usr/bin/env bash
# Re-execute every notebook in place, so the outputs committed with it (which nbval compares
# and readers see) come from the current vaelib. Trained models come from the cache.
# Usage: bash scripts/execute_notebooks.sh [notebooks/NN_name.ipynb ...]
set -euo pipefail
cd "$(dirname "$0")/.."
# The book is executed and tested under canonical numerics (vaelib.numerics): the same bits on any
# x86-64 CPU with AVX2, so that stored outputs reproduce on every machine.
export VAELIB_NUMERICS="${VAELIB_NUMERICS:-canonical}"
bash scripts/setup.sh
if [ "$#" -eq 0 ]; then
    # What canonical numerics train on this machine, for tests/test_numerics.py to compare with on every other one.
    .venv/bin/python - <<'PY'
import json
import vaelib
from vaelib import numerics
assert numerics.current().bit_identical, numerics.current().describe()
record = {"cpu": numerics.cpu_model(), "numerics": numerics.current().describe(), "fingerprint": numerics.fingerprint()}
with open("tests/numerics_fingerprint.json", "w") as f:
    json.dump(record, f, indent=2)
    f.write("\n")
print("wrote tests/numerics_fingerprint.json:", record["fingerprint"])
PY
fi
cd notebooks
if [ "$#" -gt 0 ]; then files=("${@#notebooks/}"); else files=([0-9][0-9]_*.ipynb); fi
for nb in "${files[@]}"; do
    echo "executing $nb"
    ../.venv/bin/jupyter execute --inplace "$nb"
    # Progress bars go to stderr only when a model is trained rather than loaded from the cache:
    # they depend on the cache, not on the code, and the book removes them. Keep them out of the
    # stored outputs, which nbval compares with a run on a warm cache.
    ../.venv/bin/python - "$nb" <<'PY'
import sys
import nbformat
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
for cell in nb.cells:
    if cell.cell_type == "code":
        cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
nbformat.write(nb, path)
PY
done
