"""Selections on a validation split: every hyperparameter the book picks, picked without the test split.

A selection trains one candidate per value of a grid on the training split less a seeded,
stratified validation share (:data:`VALIDATION_FRACTION`, :func:`vaelib.data.validation_view`),
scores each on those held-out validation images with :func:`vaelib.metrics.evaluate_cached`
(``split="validation"``), and picks the best value by a stated metric. The test split scores
only the models trained afterwards with the chosen value. A choice at the edge of its grid is
flagged (:attr:`Selection.at_edge`): the best value may lie beyond it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .config import TrainConfig
from .data import Dataset, dataset_for
from .errors import VaelibError

#: Share of the training split held out as validation images (stratified, seeded by the config's data_seed).
VALIDATION_FRACTION = 0.2

#: What a selection computes on the validation images: the likelihood terms and prior-sample quality.
VALIDATION_EVALUATE: dict[str, Any] = {"groups": ("likelihood", "samples", "code_space"), "samplers": ("prior",),
                                       "split": "validation"}


@dataclass(frozen=True)
class Selection:
    """The outcome of a selection: the grid, each value's validation score, and the value chosen."""

    field: str                     # the TrainConfig field selected, e.g. "sigma0"
    metric: str                    # the validation metric, e.g. "prior/fid"
    maximise: bool                 # True when higher is better (e.g. the ELBO)
    scores: dict[float, float]     # grid value -> validation score, in grid order

    @property
    def best(self) -> float:
        """The grid value with the best validation score (the first one on ties)."""
        pick = max if self.maximise else min
        return pick(self.scores, key=self.scores.get)

    @property
    def at_edge(self) -> bool:
        """True when the best value is the smallest or largest of the grid (the optimum may lie outside it)."""
        grid = sorted(self.scores)
        return len(grid) > 1 and self.best in (grid[0], grid[-1])

    def describe(self, digits: int = 1) -> str:
        """One line: the validation score of every grid value, the choice, and an edge warning if any."""
        scores = ", ".join(f"{v:g}: {s:.{digits}f}" for v, s in self.scores.items())
        edge = " (at the edge of the grid: the optimum may lie beyond it)" if self.at_edge else ""
        better = "highest" if self.maximise else "lowest"
        return f"{self.field} by validation {self.metric} ({better} wins): {scores} -> {self.best:g}{edge}"


def validation_configs(base: TrainConfig, field: str, grid: Sequence[float]) -> list[TrainConfig]:
    """The candidates of a selection: ``base`` with ``field`` set to each value of ``grid`` and the validation
    share (:data:`VALIDATION_FRACTION`) held out of its training split. VaelibError for an empty or repeating
    grid or an unknown field."""
    grid = list(grid)
    if not grid:
        raise VaelibError("a validation sweep needs at least one value")
    if len(set(grid)) != len(grid):
        raise VaelibError(f"the grid of {field} repeats values: {grid}")
    if field not in base.to_dict() and field not in TrainConfig.OPTIONAL_FIELDS:
        raise VaelibError(f"{field!r} is not a TrainConfig field")
    return [base.replace(**{field: value, "validation_fraction": VALIDATION_FRACTION}) for value in grid]


def validation_table(configs: Sequence[TrainConfig], field: str, *, data: Dataset, n_samples: int = 1000,
                     cache_dir: str | None = None) -> pd.DataFrame:
    """The validation metrics of trained candidates (:func:`validation_configs`), one row per value of ``field``.

    Loads each model and its record from the caches (evaluating what is missing, here). Columns
    as :data:`VALIDATION_EVALUATE` (names and units in :data:`vaelib.metrics.METRIC_DOCS`).
    """
    from .cache import load_or_train
    from .metrics import evaluate_cached

    settings = {**VALIDATION_EVALUATE, "n_samples": n_samples}
    rows = [evaluate_cached(load_or_train(c, data=data, cache_dir=cache_dir, progress=False), data,
                            cache_dir=cache_dir, **settings) for c in configs]
    return pd.DataFrame(rows, index=pd.Index([getattr(c, field) for c in configs], name=field))


def validation_sweep(base: TrainConfig, field: str, grid: Sequence[float], *, data: Dataset | None = None,
                     n_samples: int = 1000, cache_dir: str | None = None, progress: bool = True) -> pd.DataFrame:
    """Train ``base`` with ``field`` set to each value of ``grid`` on the training split less the validation
    share, and score each on the validation images.

    ``data`` defaults to the data set ``base`` names (:func:`vaelib.data.dataset_for`).
    Returns a DataFrame indexed by the grid values (in the given order) with the validation
    metrics of :data:`VALIDATION_EVALUATE` (names and units as in :data:`vaelib.metrics.METRIC_DOCS`).
    Models and records come from the caches when present; missing ones train in parallel
    (:func:`vaelib.train_many`).
    """
    from .parallel import train_many

    configs = validation_configs(base, field, grid)
    data = data if data is not None else dataset_for(base)
    train_many(configs, data=data, cache_dir=cache_dir, evaluate={**VALIDATION_EVALUATE, "n_samples": n_samples},
               progress=progress)
    return validation_table(configs, field, data=data, n_samples=n_samples, cache_dir=cache_dir)


def select(table: pd.DataFrame, metric: str, *, maximise: bool = False) -> Selection:
    """Pick the best row of a :func:`validation_sweep` table by ``metric`` (lowest, or highest with ``maximise``)."""
    if metric not in table.columns:
        raise VaelibError(f"the validation table has no metric {metric!r}; it has {sorted(table.columns)}")
    return Selection(field=str(table.index.name), metric=metric, maximise=maximise,
                     scores={float(v): float(s) for v, s in table[metric].items()})


__all__ = ["Selection", "VALIDATION_EVALUATE", "VALIDATION_FRACTION", "select", "validation_configs", "validation_sweep",
           "validation_table"]
