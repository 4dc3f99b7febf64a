#!/usr/bin/env bash
# Re-execute notebooks in place, so the outputs committed with them (which the book renders and
# nbval compares) come from the current vaelib. Trained models come from the cache when present.
# With no argument: every notebook, then the machine's numerics fingerprint
# (tests/numerics_fingerprint.json) that the tests on every other machine compare with.
# After notebook 5: the book's generated files (book/_generated), from the same head-to-head.
# Usage: bash scripts/execute_notebooks.sh [notebooks/NN_name.ipynb ...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/numerics_env.sh
bash scripts/setup.sh
mkdir -p _build
export VAELIB_TRAIN_LOG="$(pwd)/_build/vaelib-train-log.jsonl"
if [ "$#" -eq 0 ]; then
    # What canonical numerics train on this machine, for tests/test_numerics.py to compare with on every other one.
    .venv/bin/python - <<'PY'
import json
import vaelib
from vaelib import numerics
from vaelib.fingerprint import fingerprint
assert numerics.current().bit_identical, numerics.current().describe()
record = {"cpu": numerics.cpu_model(), "numerics": numerics.current().describe(), "fingerprint": fingerprint()}
with open("tests/numerics_fingerprint.json", "w") as f:
    json.dump(record, f, indent=2)
    f.write("\n")
print("wrote tests/numerics_fingerprint.json:", record["fingerprint"])
PY
fi
cd notebooks
if [ "$#" -gt 0 ]; then files=("${@#notebooks/}"); else files=([0-9][0-9]_*.ipynb); fi
for nb in "${files[@]}"; do
    rm -f "$VAELIB_TRAIN_LOG"
    start=$(date +%s)
    ../.venv/bin/jupyter execute --inplace "$nb"
    # Progress bars go to stderr only when a model is trained rather than loaded from the cache:
    # they depend on the cache, not on the code. Keep them out of the stored outputs, which nbval
    # compares with a run on a warm cache.
    ../.venv/bin/python - "$nb" "$VAELIB_TRAIN_LOG" "$(( $(date +%s) - start ))" <<'PY'
import sys
import nbformat
from vaelib.cache import summarise_log
from vaelib.parallel import default_workers
path, log, seconds = sys.argv[1:4]
nb = nbformat.read(path, as_version=4)
for cell in nb.cells:
    if cell.cell_type == "code":
        cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
nbformat.write(nb, path)
c = summarise_log(log)
print(f"{path}: {seconds} s; trained {c['trained']} models ({c['train_seconds']:.0f} s of training on "
      f"{default_workers()} workers), loaded {c['loaded']} from the cache")
PY
done
cd ..
# The book's generated files, from the committed head-to-head study (python -m vaelib study head-to-head): the
# introduction's bottom line, answer figure and robustness line (with the budget and generality studies). Only
# read: nothing is trained here.
.venv/bin/python - <<'PY'
import vaelib.study as study
h2h = study.load_head_to_head()
print("wrote", study.write_bottom_line(h2h, "book/_generated/bottom_line.md"),
      study.write_answer_figure(h2h, "book/_generated/answer_figure.png"),
      study.write_robustness_line(h2h, study.load_other_studies(), "book/_generated/robustness.md"))
PY
