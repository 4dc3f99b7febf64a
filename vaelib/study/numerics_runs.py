"""The head-to-head under two numerics: do its verdicts hang on the rounding?

Canonical numerics make the book's bits the same on every machine; they do not make its
answer true. This module runs one head-to-head twice, each time in a fresh process:
under canonical numerics, and under native numerics with MKL's AUTO branch (this CPU's
own dispatch, the branch canonical numerics never take). Training is chaotic, so the two
runs differ in every figure; what the book relies on must not: every verdict should stay
the same, and every headline figure should move by less than its spread over seeds.

- :data:`REDUCED`: the reduced grid whose record is committed (``book/_generated/numerics_robustness.json``) and
  checked by ``tests/test_numerics_robustness.py``; ``benchmarks/numerics_robustness.py`` writes it (and runs the
  book's full grid on request).
- :func:`run_in_fresh_process`, :func:`verdict_changes_between`, :func:`headline_moves`,
  :func:`write_record`, :func:`read_record`.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import store
from ..errors import VaelibError
from .records import provenance
from .settings import HeadToHeadSettings
from .tables import summary_table

#: One value per tuning grid, so that both runs compare the same settings (tuning is not what is tested):
#: every design on sklearn's digits, latent dims 2 and 8, 3 seeds, 10 epochs.
REDUCED = HeadToHeadSettings(dataset="digits", latent_dims=(2, 8), seeds=(0, 1, 2), epochs=10, n_samples=300,
                             data_fractions=(), beta_grid=(1.0,), mmd_weight_grid=(100.0,), sw_weight_grid=(100.0,),
                             sigma0_grid=(0.3,))

#: The two numerics, as the environment of a fresh process: canonical, and native with MKL's AUTO branch.
RUNS: dict[str, dict[str, str]] = {
    "canonical": {"VAELIB_NUMERICS": "canonical"},
    "native, MKL AUTO": {"VAELIB_NUMERICS": "native", "MKL_CBWR": "AUTO"},
}

#: The figures the book's answer quotes, per design and latent dim.
HEADLINE: tuple[str, ...] = ("recon_bce_nats", "prior/fid", "gmm/fid", "agg_mmd", "elbo_nats", "mi_nats")

#: Where the record of :data:`REDUCED` is committed, and the command that rewrites it.
RECORD_PATH = Path(__file__).resolve().parents[2] / "book" / "_generated" / "numerics_robustness.json"
RECORD_COMMAND = (".venv/bin/python benchmarks/numerics_robustness.py --reduced --threads 2 "
                  "--record book/_generated/numerics_robustness.json")

_CHILD = r"""
import json, sys
import vaelib
from vaelib import study
grid = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(sys.argv[1]).items()}
h2h = study.run_head_to_head(study.HeadToHeadSettings(**grid), progress=False, cache_dir=sys.argv[2])
print(json.dumps({"numerics": vaelib.numerics.current().describe(),
                  "selections": {" ".join(map(str, k)) if isinstance(k, tuple) else str(k): s.describe(1)
                                 for k, s in h2h.selections.items()},
                  "verdicts": {k: r.verdict for k, r in h2h.results().items()}, "records": h2h.records}, default=float))
"""


def run_in_fresh_process(name: str, settings: HeadToHeadSettings, cache_dir: str | Path,
                         threads: int = 2) -> dict[str, Any]:
    """The head-to-head of ``settings`` under the numerics :data:`RUNS` ``[name]``, in a new Python process.

    ``threads``: the native run's thread count (the canonical run always uses one). Models and metric records
    are cached in ``cache_dir`` (their keys hold the numerics). Returns ``{"numerics": its one-line description,
    "selections": {setting: text}, "verdicts": {claim key: verdict}, "records": [one dict per model]}``;
    raises VaelibError with the child's last output when it fails.
    """
    if name not in RUNS:
        raise VaelibError(f"unknown numerics run {name!r}; accepted: {', '.join(map(repr, RUNS))}")
    env = {k: v for k, v in os.environ.items() if k not in ("VAELIB_NUMERICS", "MKL_CBWR", "OMP_NUM_THREADS")}
    env.update(RUNS[name])
    if name != "canonical":
        env["OMP_NUM_THREADS"] = str(threads)
    grid = json.dumps(asdict(settings))
    done = subprocess.run([sys.executable, "-c", _CHILD, grid, str(cache_dir)], env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise VaelibError(f"the {name} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def verdict_changes_between(runs: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """The claims whose verdict differs between the two ``runs``: ``{claim key: (first run's, second run's)}``.

    Raises VaelibError when the runs tested different claims.
    """
    first, second = (r["verdicts"] for r in runs.values())
    if first.keys() != second.keys():
        raise VaelibError(f"the runs tested different claims: {sorted(set(first) ^ set(second))}")
    return {k: (first[k], second[k]) for k in first if first[k] != second[k]}


def headline_moves(runs: Mapping[str, Mapping[str, Any]],
                   headline: Sequence[str] = HEADLINE) -> list[tuple[float, str, tuple[str, int]]]:
    """How far each headline figure moved from the first run to the second, largest first.

    One entry per metric of ``headline`` and (design, latent dim): ``(|mean_2 - mean_1| / std_1, metric,
    (design, dim))``, the move in units of the first run's standard deviation over seeds (inf where that is
    0 and the mean moved). A metric a design does not have (NaN in the first run) must be NaN in the second
    too, and is left out; raises VaelibError otherwise.
    """
    first, second = (summary_table([r for r in run["records"] if r["design"] != "noise-only"], columns=headline)
                     for run in runs.values())
    moves = []
    for metric in headline:
        for key in first.index:
            mean_a, std_a = first.loc[key, (metric, "mean")], first.loc[key, (metric, "std")]
            mean_b = second.loc[key, (metric, "mean")]
            if math.isnan(mean_a):
                if not math.isnan(mean_b):
                    raise VaelibError(f"{metric} of {key} is missing in one run only")
                continue
            moved = abs(mean_b - mean_a)
            moves.append((moved / std_a if std_a > 0 else (0.0 if moved == 0 else math.inf), metric, key))
    return sorted(moves, reverse=True)


def write_record(path: str | Path, settings: HeadToHeadSettings, runs: Mapping[str, Mapping[str, Any]],
                 seconds: float, command: str = RECORD_COMMAND) -> Path:
    """Write both runs with the settings and their provenance (:func:`vaelib.study.provenance`, of the canonical
    process that writes it) to ``path`` as JSON, atomically; returns the path."""
    meta = provenance("numerics-robustness", seconds, command)
    meta.pop("numerics_mode"), meta.pop("numerics")   # the runs name their own numerics
    record = {"provenance": meta, "settings": asdict(settings), "runs": dict(runs)}
    return store.write_bytes(Path(path), (json.dumps(record, indent=1, default=float) + "\n").encode())


def read_record(path: str | Path = RECORD_PATH) -> dict[str, Any]:
    """The record at ``path``: ``{"provenance", "settings", "runs"}``, ``settings`` as a :class:`HeadToHeadSettings`.

    Raises VaelibError, naming :data:`RECORD_COMMAND`, when the file is missing or was made by other training
    or metrics code (its ``cache_version`` or ``metrics_version``).
    """
    from ..cache import CACHE_VERSION
    from ..metrics import METRICS_VERSION

    path = Path(path)
    if not path.exists():
        raise VaelibError(f"no numerics robustness record at {path}; write it with `{RECORD_COMMAND}`")
    record = json.loads(path.read_text())
    meta = record["provenance"]
    here = {"cache_version": CACHE_VERSION, "metrics_version": METRICS_VERSION}
    stale = {k: (meta.get(k), v) for k, v in here.items() if meta.get(k) != v}
    if stale:
        raise VaelibError(f"{path} was made by other code ({', '.join(f'{k} {a}, this vaelib {b}' for k, (a, b) in stale.items())}); "
                          f"rewrite it with `{RECORD_COMMAND}`")
    grid = {k: tuple(v) if isinstance(v, list) else v for k, v in record["settings"].items()}
    return {**record, "settings": HeadToHeadSettings(**grid)}


__all__ = ["HEADLINE", "RECORD_COMMAND", "RECORD_PATH", "REDUCED", "RUNS", "headline_moves", "read_record",
           "run_in_fresh_process", "verdict_changes_between", "write_record"]
