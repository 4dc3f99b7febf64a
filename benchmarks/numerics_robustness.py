"""The whole head-to-head of notebook 5 under two numerics: do its verdicts hang on the rounding?

``tests/test_numerics_robustness.py`` checks a reduced grid on every test run; this script
runs the book's own head-to-head (``vaelib.study.run_head_to_head`` with notebook 5's settings: its
validation selections, every contestant, every claim) once under
canonical numerics and once under native numerics with MKL's AUTO branch, each in a fresh
process with its own model cache, and prints

  - the sigma0 and beta each run selected on the validation split,
  - every verdict side by side,
  - every headline figure's move between the runs, in units of its standard deviation over seeds.

Run: .venv/bin/python benchmarks/numerics_robustness.py [--threads 1] [--out results.json]
(both runs train about 160 models from empty caches: over an hour on a 2-core CPU.)
A run whose records file already exists (``--out`` folder) is not repeated.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

GRID = {"dataset": "mnist5k", "latent_dims": [2, 8, 32], "seeds": [0, 1, 2, 3, 4], "epochs": 30, "n_samples": 1000}
HEADLINE = ("recon_bce_nats", "prior/fid", "gmm/fid", "agg_mmd", "agg_c2st_accuracy", "elbo_nats", "mi_nats",
            "jacobian_norm_scaled")

CHILD = r"""
import json, sys
import vaelib
from vaelib import study
grid, cache = json.loads(sys.argv[1]), sys.argv[2]
h2h = study.run_head_to_head(study.HeadToHeadSettings(**grid), progress=False, cache_dir=cache)
print(json.dumps({"numerics": vaelib.numerics.current().describe(),
                  "selections": {k: s.describe(1) for k, s in h2h.selections.items()},
                  "verdicts": h2h.verdicts()["verdict"].to_dict(), "records": h2h.records}))
"""

RUNS = {
    "canonical": {"VAELIB_NUMERICS": "canonical"},
    "native, MKL AUTO": {"VAELIB_NUMERICS": "native", "MKL_CBWR": "AUTO"},
}


def run_one(name: str, threads: int, cache: Path, out: Path) -> dict:
    """Run the grid under the numerics ``name`` in a fresh process; return its JSON (also written to ``out``)."""
    if out.exists():
        return json.loads(out.read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("VAELIB_NUMERICS", "MKL_CBWR", "OMP_NUM_THREADS")}
    env.update(RUNS[name])
    if name != "canonical":
        env["OMP_NUM_THREADS"] = str(threads)
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(GRID), str(cache)],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the {name} run failed:\n{done.stderr[-3000:]}")
    out.write_text(done.stdout.strip().splitlines()[-1])
    return json.loads(out.read_text())


def report(runs: dict[str, dict]) -> None:
    """Print the selected sigma0, the verdicts side by side and the headline moves in seed SDs."""
    from vaelib import study

    names = list(runs)
    for n in names:
        print(f"{n}: {runs[n]['numerics']}")
        for line in runs[n]["selections"].values():
            print(f"  {line}")
    verdicts = [runs[n]["verdicts"] for n in names]
    print("\nclaim  " + " | ".join(names))
    for key in verdicts[0]:
        flag = "" if verdicts[0][key] == verdicts[1][key] else "   <- CHANGED"
        print(f"{key:5s}  {verdicts[0][key]} | {verdicts[1][key]}{flag}")
    tables = [study.summary_table([{k: v for k, v in r.items() if k in ("design", "latent_dim", "seed", *HEADLINE)}
                                   for r in runs[n]["records"] if r["design"] != "noise-only"], columns=HEADLINE)
              for n in names]
    moves = []
    for metric in HEADLINE:
        for key in tables[0].index:
            a, sd, b = (tables[0].loc[key, (metric, "mean")], tables[0].loc[key, (metric, "std")],
                        tables[1].loc[key, (metric, "mean")])
            if not math.isnan(a):
                moves.append((abs(b - a) / sd if sd > 0 else math.inf, metric, key, a, b, sd))
    moves.sort(reverse=True)
    within = sum(m < 1 for m, *_ in moves)
    print(f"\nheadline figures: {within} of {len(moves)} moved by less than one seed SD; the largest moves:")
    for m, metric, key, a, b, sd in moves[:10]:
        print(f"  {m:5.2f} SD  {metric:15s} {key[0]:10s} d={key[1]:<3d} {a:10.4f} -> {b:10.4f} (seed SD {sd:.4f})")
    changed = sum(verdicts[0][k] != verdicts[1][k] for k in verdicts[0])
    print(f"\nverdicts changed: {changed} of {len(verdicts[0])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="threads of the native run (default 1)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the runs' records and model caches")
    parser.add_argument("--canonical-cache", type=Path, default=None,
                        help="model cache of the canonical run (e.g. the book's own, ~/.cache/vaelib: reuses its models)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="vaelib-robustness-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"records and caches under {out}", flush=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        caches = {n: out / f"cache-{n.split(',')[0]}" for n in RUNS}
        if args.canonical_cache is not None:
            caches["canonical"] = args.canonical_cache
        futures = {n: pool.submit(run_one, n, args.threads, caches[n], out / f"{n.split(',')[0]}.json")
                   for n in RUNS}
        runs = {n: f.result() for n, f in futures.items()}
    report(runs)


if __name__ == "__main__":
    main()
