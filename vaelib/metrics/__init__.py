"""One evaluation protocol, identical for every design.

:func:`evaluate` scores a trained model on a data set's test split and returns a flat
record ``{name: value}``; :func:`records_table` turns several records into a pandas
table. The names carry their units; the full table of names is :data:`METRIC_DOCS`.

The record is made by metric groups (:data:`METRIC_GROUPS`, in evaluation order), each one
function of an :class:`~vaelib.metrics.registry.EvaluationContext` declared with the names it
emits, in the submodule that owns it: ``likelihood`` (reconstruction, ELBO, IWAE, the
deterministic-code bound, the exact likelihood at latent dim <= 2), ``latent`` (active units,
participation ratio, mutual information, aggregate posterior vs prior, prior holes),
``code_space`` (an extra group: a classifier two-sample test of the codes against the prior and
their TwoNN dimension), ``ais`` (an extra group: annealed importance sampling of log p(x) for any design), ``samples`` (FID, KID, precision/recall, sharpness of decoded samples of
the samplers of :mod:`vaelib.samplers`, on the features of a small classifier trained on the same
data: ``classifier``), ``smoothness`` (decoder Jacobian, interpolation path length) and the
training cost (below). :mod:`vaelib.metrics.registry` says what a group is.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import numerics, store
from ..cache import CACHE_VERSION
from ..config import TrainConfig
from ..data import Dataset, check_data, training_view, validation_view
from ..errors import VaelibError, check_choice
from ..models import AutoEncoder
from ..samplers import DEFAULT_SAMPLERS as _DEFAULT_SAMPLERS, SAMPLERS
from ..training import TrainResult
from . import ais, classifier, code_space, latent, likelihood, samples, smoothness
from .classifier import FeatureClassifier
from .registry import EvaluationContext, MetricGroup

#: Raise whenever a change to the metrics changes the numbers for the same model.
METRICS_VERSION = 4

#: Raise when evaluation's kernels change a metric's last bits but not what it measures (METRICS_VERSION, which
#: the committed study records are checked against, stays): cached evaluation records from the old kernels are
#: then not served. 2: FID's float64 products and eigen-decompositions moved from MKL to the pinned OpenBLAS.
EVALUATION_KERNELS = 2


def cost_metrics(ctx: EvaluationContext) -> dict[str, float]:
    """The cost group: the training's wall time (s) and throughput (examples/s) from its history.

    Returns {} for a bare :class:`AutoEncoder` (no history).
    """
    if ctx.result is None:
        return {}
    return {"train_seconds": ctx.result.history.train_seconds,
            "samples_per_second": ctx.result.history.samples_per_second}


#: The cost group of :func:`evaluate` and the names it emits.
COST_GROUP = MetricGroup("cost", cost_metrics, emits={
    "train_seconds": "wall time of the training passes (s)",
    "samples_per_second": "training throughput (examples / s)",
})

#: Metrics measured in wall-clock time (the cost group's). They depend on the machine and on what else
#: it was doing, not on the model: report them as costs, never compare them across machines.
WALL_CLOCK_METRICS: tuple[str, ...] = tuple(COST_GROUP.emits)

#: Every metric group :func:`evaluate` can compute, by name, in the order it computes them (and the
#: order of a record's keys).
METRIC_GROUPS: dict[str, MetricGroup] = {group.name: group for group in (
    likelihood.METRIC_GROUP, latent.METRIC_GROUP, code_space.METRIC_GROUP, samples.METRIC_GROUP,
    smoothness.METRIC_GROUP, COST_GROUP, ais.METRIC_GROUP)}

#: The groups :func:`evaluate` computes by default.
GROUPS: tuple[str, ...] = tuple(name for name, group in METRIC_GROUPS.items() if group.default)
#: Groups computed only when asked for by name (``groups=("code_space",)``): added after version 3 of the
#: metrics, so the cached records of the default groups stay valid.
EXTRA_GROUPS: tuple[str, ...] = tuple(name for name, group in METRIC_GROUPS.items() if not group.default)
#: The samplers :func:`evaluate` scores by default (:data:`vaelib.samplers.DEFAULT_SAMPLERS`: all but the two-stage VAE).
DEFAULT_SAMPLERS: tuple[str, ...] = _DEFAULT_SAMPLERS

#: Every metric name :func:`evaluate` can return, with its meaning and unit: the declarations of the
#: groups of :data:`METRIC_GROUPS`. ``<sampler>/...`` stands for each of prior / gaussian / gmm.
METRIC_DOCS: dict[str, str] = {name: doc for group in METRIC_GROUPS.values() for name, doc in group.emits.items()}


class _Clock:
    """Adds the seconds between successive ``start(name)`` calls to ``timings[name]`` (if given)."""

    def __init__(self, timings: dict[str, float] | None):
        self.timings, self.name, self.t0 = timings, None, time.perf_counter()

    def start(self, name: str | None) -> None:
        now = time.perf_counter()
        if self.timings is not None and self.name is not None:
            self.timings[self.name] = self.timings.get(self.name, 0.0) + now - self.t0
        self.name, self.t0 = name, now


def _model_and_result(model: AutoEncoder | TrainResult) -> tuple[AutoEncoder, TrainResult | None]:
    if isinstance(model, TrainResult):
        return model.model, model
    if isinstance(model, AutoEncoder):
        return model, None
    raise VaelibError(f"evaluate needs an AutoEncoder or a TrainResult, got {type(model).__name__}")


def _finite(record: dict[str, float]) -> dict[str, float]:
    bad = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise VaelibError(f"metrics {bad} came out NaN or infinite: the model's codes or outputs are not finite")
    return record


def evaluate(
    model: AutoEncoder | TrainResult,
    data: Dataset,
    *,
    groups: Iterable[str] = GROUPS,
    samplers: Sequence[str] = DEFAULT_SAMPLERS,
    n_samples: int = 1000,
    iwae_k: int = 50,
    seed: int = 0,
    feature_classifier: FeatureClassifier | None = None,
    features: str = "main",
    timings: dict[str, float] | None = None,
    split: str = "test",
) -> dict[str, float]:
    """Score ``model`` on ``data`` (test split; training split for code-fitted samplers and MI).

    ``data`` is the whole data set. A model trained on part of its training split (a config
    with ``validation_fraction`` or ``n_train``: :func:`vaelib.data.training_view`) fits its
    samplers and measures MI on the images it trained on; ``split="validation"`` scores it on its
    held-out validation images instead of the test split (for selections: ``vaelib.selection``).
    The feature classifier and the real-image floors always come from the whole data set.

    Returns a flat record ``{metric name: value}`` (names and units in :data:`METRIC_DOCS`), the
    groups' names in the order of :data:`METRIC_GROUPS`. ``groups`` selects among
    :data:`GROUPS` (likelihood / latent / samples / smoothness / cost) and :data:`EXTRA_GROUPS`
    (code_space, ais); ``samplers`` among prior / gaussian / gmm / two-stage; every sampler draws ``n_samples``
    codes, the same for every model. ``feature_classifier`` replaces the cached classifier of
    ``data``, which is the one ``features`` names (:data:`vaelib.metrics.classifier.FEATURE_EXTRACTORS`:
    the book's ``"main"``, or the independently trained ``"second"``). Seeds make every number reproducible. Raises VaelibError for unknown
    names, too few samples, or NaN codes, never returning a silent NaN. Pass a dict as
    ``timings`` to receive the seconds spent per group, on the shared codes and on loading the
    classifier (for the benchmark).
    """
    net, result = _model_and_result(model)
    groups = tuple(groups)
    check_choice("split", split, ("test", "validation"))
    if result is None and split == "validation":
        raise VaelibError("split='validation' needs the TrainResult (its config says which images were held out)")
    trained_on = training_view(data, result.config) if result is not None else data
    scored = validation_view(data, result.config) if split == "validation" else trained_on
    for g in groups:
        check_choice("metric group", g, GROUPS + EXTRA_GROUPS)
    for s in samplers:
        check_choice("sampler", s, SAMPLERS)
    check_choice("feature extractor", features, classifier.FEATURE_EXTRACTORS)
    if n_samples < 2:
        raise VaelibError(f"n_samples must be >= 2, got {n_samples}")
    if net.data_dim != data.dim:
        raise VaelibError(f"model expects {net.data_dim} features but data set {data.name!r} has {data.dim}")
    check_data(data.x_test, bernoulli=net.likelihood == "bernoulli", name="test data")
    net.eval()
    ctx = EvaluationContext(model=net, result=result, data=data, trained_on=trained_on, scored=scored, split=split,
                            samplers=tuple(samplers), n_samples=n_samples, iwae_k=iwae_k, seed=seed,
                            given_classifier=feature_classifier, features=features)
    record: dict[str, float] = {}
    clock = _Clock(timings)
    codes_checked = classifier_loaded = False
    for group in METRIC_GROUPS.values():
        if group.name not in groups:
            continue
        if group.needs_codes and not codes_checked:
            clock.start("codes")
            _ = ctx.scored_means         # computed and checked finite before the first group that reads codes
            codes_checked = True
        if group.needs_classifier and not classifier_loaded:
            clock.start("classifier")
            _ = ctx.feature_classifier   # loaded before the first group that uses it
            classifier_loaded = True
        clock.start(group.name)
        record.update(group.compute(ctx))
    clock.start(None)
    return _finite(record)


def evaluation_cache_path(config: TrainConfig, data: Dataset, *, cache_dir: str | Path | None = None,
                          **kwargs: Any) -> Path:
    """Where :func:`evaluate_cached` keeps the record of ``config``'s model on ``data`` with ``kwargs``.

    ``<cache>/metrics/<design>-<hash>.json``; the hash (:func:`vaelib.store.key`, 20 hex digits)
    covers :data:`METRICS_VERSION`, :data:`EVALUATION_KERNELS`, :data:`vaelib.cache.CACHE_VERSION` (a change to training changes the model a
    record describes), the numerics, the model's config, the data set's name and test size, and the arguments of
    :func:`evaluate` (except ``classifier``).
    """
    key = store.key({"v": METRICS_VERSION, "kernels": EVALUATION_KERNELS, "cache_version": CACHE_VERSION,
                     "numerics": numerics.current().cache_tag,
                     "config": config.to_dict(), "data": data.name, "n_test": int(data.x_test.shape[0]),
                     "args": {k: (list(v) if isinstance(v, (tuple, list)) else v) for k, v in kwargs.items()
                              if k != "feature_classifier"}}, length=20)
    return store.cache_folder("metrics", cache_dir) / f"{config.design}-{key}.json"


def evaluate_cached(
    result: TrainResult,
    data: Dataset,
    *,
    cache_dir: str | Path | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """:func:`evaluate` with its record cached on disk, keyed by the model's config and the arguments.

    Lets a notebook be re-executed without recomputing metrics. Timing metrics come from
    the training history, so a cached record equals a fresh one. The file is
    :func:`evaluation_cache_path`, written atomically (:func:`vaelib.store.write_json`); a damaged
    one is computed again and replaced.
    """
    path = evaluation_cache_path(result.config, data, cache_dir=cache_dir, **kwargs)
    if path.exists():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            pass  # a damaged entry is recomputed and replaced below
    record = evaluate(result, data, **kwargs)
    store.write_json(path, record)
    return record


def records_table(records: Mapping[str, Mapping[str, float]]):
    """A pandas DataFrame of records ``{label: record}``: a row per label, a column per metric.

    Values in the units of :data:`METRIC_DOCS`; a metric missing from a record is NaN in its row.
    """
    import pandas as pd

    return pd.DataFrame.from_dict({k: dict(v) for k, v in records.items()}, orient="index")


#: The sample statistics that have a real-data floor in an :func:`evaluate` record (``real_<stat>_floor``).
FLOORED_SAMPLE_STATS: tuple[str, ...] = ("fid", "kid", "precision", "recall")


def sample_quality_table(record: Mapping[str, float], samplers: Sequence[str] = DEFAULT_SAMPLERS,
                         stats: Sequence[str] = FLOORED_SAMPLE_STATS):
    """A pandas DataFrame of one record's sample statistics: a row per sampler, then the real-data floor.

    Rows are ``samplers`` (``"<sampler>/<stat>"`` of ``record``) and a last row ``"real (floor)"``
    holding ``real_<stat>_floor``: what held-out real images score at the same sample size,
    i.e. a perfect generator (NaN for a statistic without a floor). Columns are ``stats``, in
    the units of :data:`METRIC_DOCS`. Raises VaelibError when the record lacks a sampler's statistic.
    """
    import pandas as pd

    rows = {}
    for s in samplers:
        missing = [f"{s}/{k}" for k in stats if f"{s}/{k}" not in record]
        if missing:
            raise VaelibError(f"the record has no {missing}: evaluate it with the 'samples' group and sampler {s!r}")
        rows[s] = {k: record[f"{s}/{k}"] for k in stats}
    rows["real (floor)"] = {k: record.get(f"real_{k}_floor", math.nan) for k in stats}
    return pd.DataFrame.from_dict(rows, orient="index")


__all__ = ["COST_GROUP", "DEFAULT_SAMPLERS", "EXTRA_GROUPS", "EvaluationContext", "FLOORED_SAMPLE_STATS", "GROUPS",
           "EVALUATION_KERNELS", "METRIC_DOCS", "METRIC_GROUPS", "METRICS_VERSION", "MetricGroup", "WALL_CLOCK_METRICS", "cost_metrics",
           "evaluate", "evaluate_cached", "evaluation_cache_path", "records_table", "sample_quality_table"]
