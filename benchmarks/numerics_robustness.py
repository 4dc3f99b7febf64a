"""The head-to-head under two numerics: do its verdicts hang on the rounding?

Runs a head-to-head (:func:`vaelib.study.run_head_to_head`) once under canonical numerics and
once under native numerics with MKL's AUTO branch, each in a fresh process with its own model
cache (:mod:`vaelib.study.numerics_runs`), and prints

  - the settings each run selected on the validation split,
  - every verdict side by side,
  - every headline figure's move between the runs, in units of its standard deviation over seeds.

Two grids:

  - the book's (notebook 5's settings: every tuning grid, dims 2, 8, 32, 5 seeds): both runs train about
    160 models from empty caches, over an hour on a 2-core CPU;
  - ``--reduced`` (:data:`vaelib.study.numerics_runs.REDUCED`: every design on digits, dims 2 and 8, 3 seeds,
    10 epochs, one value per tuning grid): about 14 minutes from empty caches on a 2-core CPU. Its record,
    ``--record book/_generated/numerics_robustness.json``, is committed with its provenance and checked by
    ``tests/test_numerics_robustness.py``.

Run: .venv/bin/python benchmarks/numerics_robustness.py [--reduced] [--threads 1] [--out FOLDER] [--record FILE]
A run whose records file already exists in the ``--out`` folder is not repeated.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vaelib import study
from vaelib.study import numerics_runs

#: The full grid also prints these (the reduced grid's evaluations are the same; its headline is the test's).
BOOK_HEADLINE = (*numerics_runs.HEADLINE, "agg_c2st_accuracy", "jacobian_norm_scaled")


def run_one(name: str, settings: study.HeadToHeadSettings, threads: int, cache: Path, out: Path) -> dict:
    """One run (its JSON also written to ``out``; read from there when it exists)."""
    if out.exists():
        return json.loads(out.read_text())
    result = numerics_runs.run_in_fresh_process(name, settings, cache, threads=threads)
    out.write_text(json.dumps(result, default=float))
    return result


def report(runs: dict[str, dict], headline: tuple[str, ...]) -> None:
    """Print the selections, the verdicts side by side and the headline moves in seed SDs."""
    names = list(runs)
    for n in names:
        print(f"{n}: {runs[n]['numerics']}")
        for line in runs[n]["selections"].values():
            print(f"  {line}")
    changed = numerics_runs.verdict_changes_between(runs)
    print("\nclaim  " + " | ".join(names))
    first, second = (runs[n]["verdicts"] for n in names)
    for key in first:
        print(f"{key:5s}  {first[key]} | {second[key]}{'   <- CHANGED' if key in changed else ''}")
    moves = numerics_runs.headline_moves(runs, headline)
    within = sum(m < 1 for m, *_ in moves)
    print(f"\nheadline figures: {within} of {len(moves)} moved by less than one seed SD; the largest moves:")
    for m, metric, key in moves[:10]:
        print(f"  {m:5.2f} SD  {metric:15s} {key[0]:10s} d={key[1]}")
    print(f"\nverdicts changed: {len(changed)} of {len(first)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reduced", action="store_true", help="the reduced grid whose record the tests check")
    parser.add_argument("--threads", type=int, default=1, help="threads of the native run (default 1)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the runs' records and model caches")
    parser.add_argument("--record", type=Path, default=None, help="write both runs with their provenance here")
    parser.add_argument("--canonical-cache", type=Path, default=None,
                        help="model cache of the canonical run (e.g. the book's own, ~/.cache/vaelib: reuses its models)")
    args = parser.parse_args()
    settings = numerics_runs.REDUCED if args.reduced else study.HeadToHeadSettings()
    out = args.out or Path(tempfile.mkdtemp(prefix="vaelib-robustness-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"records and caches under {out}", flush=True)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        caches = {n: out / f"cache-{n.split(',')[0]}" for n in numerics_runs.RUNS}
        if args.canonical_cache is not None:
            caches["canonical"] = args.canonical_cache
        futures = {n: pool.submit(run_one, n, settings, args.threads, caches[n], out / f"{n.split(',')[0]}.json")
                   for n in numerics_runs.RUNS}
        runs = {n: f.result() for n, f in futures.items()}
    seconds = time.perf_counter() - start
    report(runs, numerics_runs.HEADLINE if args.reduced else BOOK_HEADLINE)
    print(f"\n{seconds:.0f} s")
    if args.record is not None:
        command = numerics_runs.RECORD_COMMAND if args.reduced else "benchmarks/numerics_robustness.py"
        print(f"record written to {numerics_runs.write_record(args.record, settings, runs, seconds, command)}")


if __name__ == "__main__":
    main()
