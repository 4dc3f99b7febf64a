"""The whole job against the hardware's floor: every notebook executed from an empty cache, timed.

What a reader or contributor waits for is the book, not one training step. This script
executes all notebooks (with papermill, into a scratch folder; the committed notebooks are
not touched) from an empty model cache, under the book's canonical numerics, with
``--workers`` worker processes (default: every core), and prints per notebook and in total:

  - models trained, and the FLOP of their linear layers' matrix products
    (:func:`vaelib.training.matmul_flop`, from the train log that vaelib.cache writes);
  - seconds, and the achieved GFLOP/s (that FLOP over the notebook's whole wall time);
  - the floor: that FLOP at this machine's measured single-thread speed of the canonical
    kernels on the book's layer shapes (784-400 at batch 128), times the number of workers,
    and the ratio of the seconds to it. The floor counts training only; evaluation (metrics,
    mixture fits, classifier) is part of the seconds. Target: the total within 1.5x the floor.

Run: .venv/bin/python benchmarks/book_time.py [--workers N] [--fast]
(About 11 minutes from an empty cache on the 2-core development VM; --fast runs every notebook with
FAST=True, a smoke run of the script itself.)
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

#: The total may take at most this multiple of the floor.
TARGET_RATIO = 1.5


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


def slowest_cells(executed: Path, count: int) -> list[tuple[float, str]]:
    """The ``count`` slowest code cells of a notebook executed by papermill: (seconds, first code line), slowest first."""
    cells = json.loads(executed.read_text())["cells"]
    timed = []
    for cell in cells:
        seconds = (cell.get("metadata", {}).get("papermill", {}) or {}).get("duration")
        if cell["cell_type"] == "code" and seconds is not None:
            source = "".join(cell["source"]).strip().splitlines()
            first = next((line for line in source if line.strip() and not line.lstrip().startswith("#")), "")
            timed.append((float(seconds), first[:70]))
    return sorted(timed, reverse=True)[:count]


def run(workers: int, scratch: Path, fast: bool) -> dict[str, dict]:
    """Execute every notebook from an empty cache; return per notebook its seconds and train-log counts."""
    from vaelib.cache import summarise_log

    env = {**os.environ, "VAELIB_CACHE_DIR": str(scratch / "cache"), "VAELIB_NUMERICS": "canonical",
           "OPENBLAS_CORETYPE": "Haswell", "VAELIB_WORKERS": str(workers)}
    figures = {}
    for notebook in NOTEBOOKS:
        log = scratch / f"{notebook.stem}.train-log.jsonl"
        seconds = execute(notebook, scratch / notebook.name, {**env, "VAELIB_TRAIN_LOG": str(log)},
                          {"FAST": True} if fast else {})
        figures[notebook.name] = {"seconds": seconds, **summarise_log(log)}
        print(f"  {notebook.name}: {seconds:.0f} s, trained {figures[notebook.name]['trained']} models "
              f"({figures[notebook.name]['train_seconds']:.0f} s of training on {workers} workers); slowest cells:",
              flush=True)
        for cell_seconds, line in slowest_cells(scratch / notebook.name, 4):
            print(f"      {cell_seconds:6.1f} s  {line}", flush=True)
    return figures


def report(figures: dict[str, dict], gflops: float, workers: int) -> None:
    """Print the per-notebook table against the floor, the total, and the target's verdict.

    ``gflops``: single-thread GFLOP/s of the canonical kernels on the book's shapes; the floor of a
    notebook is its training FLOP / (``gflops`` x ``workers``).
    """
    rate = gflops * 1e9 * workers
    print(f"\nfloor: training FLOP at {gflops:.1f} GFLOP/s per worker x {workers} workers = {rate / 1e9:.1f} GFLOP/s")
    header = f"{'notebook':28s}{'trained':>9s}{'TFLOP':>9s}{'seconds':>10s}{'GFLOP/s':>9s}{'floor s':>9s}{'ratio':>8s}"
    print(header)
    rows = list(figures.items()) + [("total", {k: sum(f[k] for f in figures.values())
                                              for k in ("trained", "train_flop", "seconds")})]
    for name, f in rows:
        floor = f["train_flop"] / rate
        ratio = f"{f['seconds'] / floor:7.2f}x" if floor > 0 else "      -"
        print(f"{name:28s}{f['trained']:9d}{f['train_flop'] / 1e12:9.2f}{f['seconds']:10.0f}"
              f"{f['train_flop'] / f['seconds'] / 1e9:9.1f}{floor:9.0f} {ratio}")
    total = rows[-1][1]
    floor = total["train_flop"] / rate
    if floor > 0:
        ratio = total["seconds"] / floor
        print(f"\nall notebooks: {total['seconds'] / 60:.1f} min, {ratio:.2f}x the floor of {floor / 60:.1f} min "
              f"(target <= {TARGET_RATIO}x: {'met' if ratio <= TARGET_RATIO else 'NOT met'})")
        train_seconds = sum(f["train_seconds"] for f in figures.values())
        training = train_seconds / workers
        print(f"where the time goes: training {train_seconds:.0f} s on {workers} workers, at best {training:.0f} s of "
              f"wall time ({training / floor:.2f}x the floor: {total['train_flop'] / train_seconds / 1e9:.1f} GFLOP/s "
              f"per worker against {gflops:.1f} for the products alone); the other {total['seconds'] - training:.0f} s "
              f"({(total['seconds'] - training) / total['seconds']:.0%}) evaluate, fit, plot and start kernels")


def main() -> None:
    import vaelib
    from vaelib.parallel import default_workers

    sys.path.insert(0, str(Path(__file__).parent))
    from throughput import gemm_gflops

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=default_workers(), help="worker processes (VAELIB_WORKERS)")
    parser.add_argument("--fast", action="store_true", help="every notebook with FAST=True (a smoke run)")
    args = parser.parse_args()
    if not vaelib.numerics.current().bit_identical:
        raise SystemExit(f"run under canonical numerics: {vaelib.numerics.current().describe()}")
    speed = gemm_gflops()["canonical kernels"]
    scratch = Path(tempfile.mkdtemp(prefix="vaelib-book-time-"))
    print(f"CPU {vaelib.numerics.cpu_model()}; {vaelib.numerics.current().describe()}\n"
          f"scratch folder {scratch}; {len(NOTEBOOKS)} notebooks, {args.workers} workers; canonical kernels "
          f"{speed:.1f} GFLOP/s on one thread", flush=True)
    report(run(args.workers, scratch, args.fast), speed, args.workers)


if __name__ == "__main__":
    main()
