"""What a metric group is: one function of an :class:`EvaluationContext`, and the names it declares.

A :class:`MetricGroup` scores a model with one function ``compute(ctx) -> {name: value}`` and
declares every name it can emit with its meaning and unit (``emits``); a name emitted once per
sampler is declared as ``"<sampler>/<statistic>"`` (:data:`PER_SAMPLER`). Each metric module
declares its own group (``likelihood.METRIC_GROUP`` and so on); :mod:`vaelib.metrics` lists them
in evaluation order, runs the selected ones on one context and assembles its table of names,
:data:`vaelib.metrics.METRIC_DOCS`, from their declarations.

The context holds what every group may need: the model and its training result, the data views,
the scoring images on the model's device, the evaluation's settings, and the products that
several groups share, computed once when first asked for (the scored images' encoder means and
sampled codes, the feature classifier).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

import torch

from ..data import Dataset
from ..errors import VaelibError
from ..models import AutoEncoder
from ..training import TrainResult
from .classifier import FEATURE_EXTRACTORS, FeatureClassifier, load_or_train_classifier

#: Declared names that start with this stand for one name per sampler: ``"<sampler>/fid"`` is
#: emitted as ``"prior/fid"``, ``"gaussian/fid"`` and so on.
PER_SAMPLER: str = "<sampler>/"


@dataclass
class EvaluationContext:
    """Everything a metric group is given: one model, its data views, the settings and shared products.

    ``data`` is the whole data set (the feature classifier and the real-image floors come from
    it); ``trained_on`` the part of its training split the model trained on
    (:func:`vaelib.data.training_view`: samplers and MI are fitted there); ``scored`` the view whose
    ``x_test`` is scored: the test split, or the validation images for ``split="validation"``
    (:func:`vaelib.data.validation_view`; then its ``x_train`` are the model's training images).
    ``result`` is None when a bare :class:`AutoEncoder` is evaluated. ``samplers`` names the
    samplers of :mod:`vaelib.samplers` to score; ``n_samples`` codes each; ``iwae_k`` importance
    samples; ``seed`` seeds every random draw. ``given_classifier`` is the caller's feature
    classifier, if any; otherwise ``features`` names the cached one (:data:`vaelib.metrics.classifier.FEATURE_EXTRACTORS`).
    """

    model: AutoEncoder
    result: TrainResult | None
    data: Dataset
    trained_on: Dataset
    scored: Dataset
    split: str
    samplers: tuple[str, ...]
    n_samples: int
    iwae_k: int
    seed: int
    given_classifier: FeatureClassifier | None = None
    features: str = "main"

    @cached_property
    def x_scored(self) -> torch.Tensor:
        """The images scored (``scored.x_test``: test or validation images) on the model's device; (n, data_dim)."""
        return self.scored.x_test.to(self.model.device)

    @cached_property
    def scored_means(self) -> torch.Tensor:
        """Encoder means of the scored images (:meth:`AutoEncoder.encode_means`); (n, latent_dim), latent units.

        Raises VaelibError when they are not all finite: such a model cannot be evaluated.
        """
        means = self.model.encode_means(self.x_scored)
        if not torch.isfinite(means).all():
            raise VaelibError("the model's codes contain NaN or infinite values; it cannot be evaluated")
        return means

    @cached_property
    def scored_codes(self) -> torch.Tensor:
        """One z ~ q(z|x) per scored image (:meth:`AutoEncoder.sample_codes` with ``seed``); (n, latent_dim)."""
        return self.model.sample_codes(self.x_scored, seed=self.seed)

    @cached_property
    def feature_classifier(self) -> FeatureClassifier:
        """The feature classifier, on the model's device, in eval mode.

        The caller's (``given_classifier``, moved there), else the cached one of ``data`` (seed 0).
        """
        clf = self.given_classifier
        if clf is None:
            seed, hidden = FEATURE_EXTRACTORS[self.features]
            clf = load_or_train_classifier(self.data, seed=seed, hidden_dims=hidden)
        return clf.to(self.model.device).eval()


@dataclass(frozen=True)
class MetricGroup:
    """One group of metrics: ``compute(ctx)`` returns ``{name: value}``, every name declared in ``emits``.

    ``emits`` maps each name the group can emit (or ``"<sampler>/<statistic>"``, see
    :data:`PER_SAMPLER`) to its meaning and unit. ``default``: computed unless the caller names
    other groups (extra groups are computed only when named). ``needs_codes``: the group reads the
    model's codes, so the scored images' encoder means are computed and checked finite before it
    runs (one clear error for a broken model). ``needs_classifier``: it uses the feature classifier,
    loaded before it runs.
    """

    name: str
    compute: Callable[[EvaluationContext], dict[str, float]]
    emits: Mapping[str, str]
    default: bool = True
    needs_codes: bool = False
    needs_classifier: bool = False


__all__ = ["EvaluationContext", "MetricGroup", "PER_SAMPLER"]
