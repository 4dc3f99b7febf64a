"""The code-space group: how the scored images' sampled codes fill the prior, and their intrinsic dimension.

Two numbers on the codes z ~ q(z|x) of the scored images: the accuracy of a classifier two-sample
test against as many N(0, I) samples (:func:`vaelib.metrics.twosample.classifier_two_sample_test`;
0.5 = indistinguishable, comparable across latent dims) with its p-value, and the TwoNN intrinsic
dimension of the codes (:func:`vaelib.metrics.intrinsic.two_nn_dimension`). An extra group of
:func:`vaelib.metrics.evaluate`: computed only when asked for by name (``groups=("code_space",)``),
so records cached for the default groups stay valid.
"""
from __future__ import annotations

import torch

from .intrinsic import two_nn_dimension
from .registry import EvaluationContext, MetricGroup
from .twosample import classifier_two_sample_test

#: The N(0, I) sample the codes are tested against comes from a CPU generator seeded with ``seed`` + this.
PRIOR_SEED_OFFSET: int = 7


def code_space_metrics(ctx: EvaluationContext) -> dict[str, float]:
    """The code-space group: ``{name: value}`` as declared in :data:`METRIC_GROUP`.

    The scored images' sampled codes (float64, on the CPU) against as many N(0, I) samples by the
    classifier two-sample test (seeded with ``ctx.seed``), and their TwoNN dimension.
    """
    codes = ctx.scored_codes.cpu().double()
    prior = torch.randn(codes.shape, generator=torch.Generator().manual_seed(ctx.seed + PRIOR_SEED_OFFSET),
                        dtype=torch.float64)
    c2st = classifier_two_sample_test(codes, prior, seed=ctx.seed)
    return {"agg_c2st_accuracy": c2st["accuracy"], "agg_c2st_p": c2st["p_value"],
            "codes_twonn_dim": two_nn_dimension(codes)}


#: The code-space group of :func:`vaelib.metrics.evaluate` (extra: computed only when named) and the names it emits.
METRIC_GROUP = MetricGroup("code_space", code_space_metrics, default=False, needs_codes=True, emits={
    "agg_c2st_accuracy": "'code_space' group: held-out accuracy of a small network (two hidden layers of 64) telling "
                         "test codes (z ~ q(z|x)) from as many N(0, I) samples (Lopez-Paz & Oquab 2017); 0.5 = "
                         "indistinguishable, in [0, 1] whatever the latent dim",
    "agg_c2st_p": "'code_space' group: one-sided binomial p-value of agg_c2st_accuracy against 0.5",
    "codes_twonn_dim": "'code_space' group: TwoNN intrinsic dimension (Facco et al. 2017) of the test codes "
                       "z ~ q(z|x), in dimensions (at most about the latent dim)",
})


__all__ = ["METRIC_GROUP", "PRIOR_SEED_OFFSET", "code_space_metrics"]
