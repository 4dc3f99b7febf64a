"""The whole job: every notebook executed from an empty cache, timed, in one run.

What a reader or contributor waits for is the book, not one training step. This script
executes all notebooks (with papermill, into a scratch folder; the committed notebooks
are not touched) from an empty model cache, under the book's canonical numerics, in
three configurations, each with its own empty cache:

  - "3 seeds, 1 worker":  the head-to-head at 3 seeds, trained one model at a time
                          (how version 0.2.0 executed the book);
  - "5 seeds, 1 worker":  the head-to-head at 5 seeds, one model at a time;
  - "5 seeds, N workers": the head-to-head at 5 seeds, vaelib.train_many with one worker
                          process per core (VAELIB_WORKERS, default: every core).

and prints, per configuration: seconds per notebook, the total, the models trained and
loaded (from the build log that vaelib.cache writes), and the ratios the targets are
stated in (5 seeds in parallel against 3 seeds sequentially; parallel against sequential
for the same grid).

Run: .venv/bin/python benchmarks/book_time.py [--workers N] [--only "5 seeds, N workers"] [--fast]
(About an hour from empty caches on a 2-core CPU under canonical numerics; --fast runs every
notebook with FAST=True, a smoke run of the script itself.)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
HEAD_TO_HEAD = "05_head_to_head.ipynb"


def configurations(workers: int) -> dict[str, dict]:
    """Name -> (seeds of the head-to-head, worker processes)."""
    return {
        "3 seeds, 1 worker": {"seeds": [0, 1, 2], "workers": 1},
        "5 seeds, 1 worker": {"seeds": [0, 1, 2, 3, 4], "workers": 1},
        f"5 seeds, {workers} workers": {"seeds": [0, 1, 2, 3, 4], "workers": workers},
    }


def execute(notebook: Path, out: Path, env: dict[str, str], parameters: dict) -> float:
    """Execute ``notebook`` with papermill into ``out``; return its wall-clock seconds (raises on failure)."""
    args = [sys.executable, "-m", "papermill", str(notebook), str(out), "--cwd", str(notebook.parent),
            "-k", "python3", "--no-progress-bar"]
    if parameters:
        args += ["-y", json.dumps(parameters)]
    start = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{notebook.name} failed:\n{done.stderr[-3000:]}")
    return seconds


def run(name: str, spec: dict, scratch: Path, fast: bool) -> dict:
    """Execute every notebook under configuration ``spec`` from an empty cache; return its figures."""
    from vaelib.cache import summarise_log

    folder = scratch / name.replace(" ", "").replace(",", "-")
    folder.mkdir(parents=True)
    log = folder / "train-log.jsonl"
    env = {**os.environ, "VAELIB_CACHE_DIR": str(folder / "cache"), "VAELIB_TRAIN_LOG": str(log),
           "VAELIB_NUMERICS": "canonical", "VAELIB_WORKERS": str(spec["workers"])}
    seconds = {}
    for notebook in NOTEBOOKS:
        parameters = {"FAST": True} if fast else {}
        if notebook.name == HEAD_TO_HEAD:
            parameters["SEEDS"] = spec["seeds"]
        seconds[notebook.name] = execute(notebook, folder / notebook.name, env, parameters)
        print(f"  {name}: {notebook.name} {seconds[notebook.name]:.0f} s", flush=True)
    counts = summarise_log(log)
    return {"seconds": seconds, "total": sum(seconds.values()), **counts}


def report(results: dict[str, dict]) -> None:
    """Print the per-notebook table, the totals, the model counts and the ratios."""
    names = list(results)
    print("\nseconds per notebook (empty cache, canonical numerics)")
    print(f"{'notebook':28s}" + "".join(f"{n:>22s}" for n in names))
    for notebook in NOTEBOOKS:
        print(f"{notebook.name:28s}" + "".join(f"{results[n]['seconds'][notebook.name]:22.0f}" for n in names))
    print(f"{'total':28s}" + "".join(f"{results[n]['total']:22.0f}" for n in names))
    print(f"{'models trained':28s}" + "".join(f"{results[n]['trained']:22d}" for n in names))
    print(f"{'models loaded':28s}" + "".join(f"{results[n]['loaded']:22d}" for n in names))
    print(f"{'training seconds (summed)':28s}" + "".join(f"{results[n]['train_seconds']:22.0f}" for n in names))
    base = results.get("3 seeds, 1 worker")
    sequential5 = results.get("5 seeds, 1 worker")
    parallel5 = next((results[n] for n in names if n.startswith("5 seeds") and not n.endswith(" 1 worker")), None)
    if base and parallel5:
        ratio = parallel5["total"] / base["total"]
        print(f"\n5 seeds in parallel / 3 seeds sequentially: {ratio:.2f}x (target <= 0.8x: "
              f"{'met' if ratio <= 0.8 else 'NOT met'})")
    if sequential5 and parallel5:
        print(f"5 seeds: parallel / sequential: {parallel5['total'] / sequential5['total']:.2f}x")
    if parallel5:
        print(f"5 seeds in parallel, all notebooks: {parallel5['total'] / 60:.1f} min (target <= 5 min: "
              f"{'met' if parallel5['total'] <= 300 else 'NOT met'})")


def main() -> None:
    from vaelib.parallel import default_workers

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=default_workers(), help="workers of the parallel run")
    parser.add_argument("--only", action="append", default=None, help="run only this configuration (repeatable)")
    parser.add_argument("--fast", action="store_true", help="every notebook with FAST=True (a smoke run)")
    args = parser.parse_args()
    specs = configurations(args.workers)
    chosen = args.only or list(specs)
    unknown = [n for n in chosen if n not in specs]
    if unknown:
        raise SystemExit(f"unknown configuration(s) {unknown}; choose from {list(specs)}")
    scratch = Path(tempfile.mkdtemp(prefix="vaelib-book-time-"))
    print(f"scratch folder {scratch}; {len(NOTEBOOKS)} notebooks; configurations {chosen}", flush=True)
    results = {name: run(name, specs[name], scratch, args.fast) for name in chosen}
    report(results)


if __name__ == "__main__":
    main()
