"""Classifier two-sample test: can a classifier (a small network, or k nearest neighbours) tell two samples apart?

Lopez-Paz, D. & Oquab, M. (2017). Revisiting classifier two-sample tests. ICLR 2017.
Label the rows of one sample 0 and of the other 1, fit a classifier on half of each,
and measure its accuracy on the other half: about 0.5 when the two samples come from
the same distribution, towards 1 as they become separable. Under the null hypothesis the
number of correct held-out predictions is (at most as spread as) a Binomial(n_test, 1/2),
which gives an exact (or slightly conservative) p-value. The classifier here is a
k-nearest-neighbour majority vote (Euclidean), which needs no training and no tuning
beyond ``k``.

Distances are exact and reproducible on every CPU (float64, the explicit sum of squared coordinate
differences: :func:`vaelib.metrics.distances.squared_distance_blocks`). Distance ties are broken by
index order (a stable sort), and every random choice uses a ``torch.Generator`` seeded with
``seed``; nothing touches torch's global random state.

Bad input (not 2-D, different column counts, too few rows, NaN or infinite values, bad
``k``) raises :class:`~vaelib.errors.VaelibError`.
"""
from __future__ import annotations

import math

import torch

from ..errors import VaelibError
from .distances import check_points, squared_distance_blocks

#: Smallest number of rows :func:`classifier_two_sample_test` accepts from each sample
#: (two to fit and two held out per class).
MIN_ROWS_PER_SAMPLE: int = 4

#: The classifiers :func:`classifier_two_sample_test` can use.
CLASSIFIERS: dict[str, str] = {
    "mlp": "a ReLU network with two hidden layers of 64 units, trained full-batch with Adam (lr 0.01, 300 steps) "
           "on the fit half; sees differences of scale and shape in any dimension",
    "knn": "a k-nearest-neighbour majority vote (Euclidean); blind to a narrower sample inside a wider one in "
           "high dimension (see the docstring)",
}
MLP_HIDDEN, MLP_STEPS, MLP_LR = 64, 300, 1e-2


def _mlp_predictions(fit: torch.Tensor, fit_labels: torch.Tensor, held_out: torch.Tensor, seed: int) -> torch.Tensor:
    """Labels (0/1) of ``held_out`` predicted by the "mlp" classifier trained on (``fit``, ``fit_labels``).

    Initialised from a generator seeded with ``seed`` (He initialisation), trained full-batch with
    :class:`vaelib.optim.Adam` on the binary cross-entropy: the kernels the VAEs train with, so the
    bits are the same on every CPU under canonical numerics.
    """
    from ..optim import Adam

    gen = torch.Generator().manual_seed(seed + 1)
    d, h = fit.shape[1], MLP_HIDDEN
    params = [(torch.randn(d, h, generator=gen) * math.sqrt(2 / d)).requires_grad_(), torch.zeros(h, requires_grad=True),
              (torch.randn(h, h, generator=gen) * math.sqrt(2 / h)).requires_grad_(), torch.zeros(h, requires_grad=True),
              (torch.randn(h, 1, generator=gen) * math.sqrt(1 / h)).requires_grad_(), torch.zeros(1, requires_grad=True)]

    def logits(x: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2, w3, b3 = params
        return (torch.relu(torch.relu(x @ w1 + b1) @ w2 + b2) @ w3 + b3).squeeze(1)

    x, y = fit.float(), fit_labels.float()
    optimiser = Adam(params, lr=MLP_LR)
    with torch.enable_grad():
        for _ in range(MLP_STEPS):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits(x), y)
            optimiser.step(torch.autograd.grad(loss, params))
    with torch.no_grad():
        return (logits(held_out.float()) > 0).to(torch.int64)


def classifier_two_sample_test(a: torch.Tensor, b: torch.Tensor, *, classifier: str = "mlp", k: int = 5,
                               seed: int = 0) -> dict[str, float]:
    """Classifier two-sample test of ``a`` (n_a, dim) against ``b`` (n_b, dim).

    ``classifier`` is one of :data:`CLASSIFIERS`: "mlp" (the default, a small neural network as
    in Lopez-Paz & Oquab 2017) or "knn" (k-nearest neighbours, with ``k``). The rest of this
    docstring describes the split and the k-NN classifier; the network sees the same split.

    Lopez-Paz & Oquab (2017). Rows of ``a`` are labelled 0 and rows of ``b`` 1. Both are
    cut to n = min(n_a, n_b) rows: the first n after a random permutation of each (one
    ``torch.Generator`` seeded with ``seed`` draws the permutation of ``a``, then of ``b``).
    The first n // 2 permuted rows of each sample form the fit set, the other n - n // 2
    the held-out set: classes are balanced in both. Each held-out point gets the majority
    label of its ``k`` nearest fit points (Euclidean distance in float64, ties broken by
    index, fit rows of ``a`` before those of ``b``); ``k`` is odd, so votes cannot tie.

    Returns a dict of floats:

    * ``accuracy``: share of held-out points classified correctly, a fraction in [0, 1].
      0.5 means the classifier cannot tell the samples apart (it scatters around 0.5 by
      sampling noise and can fall below it); 1 means perfectly separable.
    * ``p_value``: one-sided p-value of H0 "accuracy = 0.5" against "accuracy > 0.5",
      the exact binomial test of the number correct out of ``n_test``
      (``scipy.stats.binomtest(..., alternative="greater")``). With balanced held-out
      classes the null count is at most as spread as that binomial, so the test is exact
      or slightly conservative.
    * ``n_test``: number of held-out points, 2 (n - n // 2) (a count stored as a float).

    Why accuracy and not MMD to compare latent spaces of different sizes: accuracy is a
    probability, bounded in [0.5, 1] in expectation whatever the dimension, with 0.5 the
    same "indistinguishable" point for every dimension and a null spread that depends only
    on ``n_test``. MMD^2's value depends on the kernel, its bandwidth and the dimension, so
    0.01 in 8 dims and 0.01 in 32 dims do not mean the same thing.

    Comparable scale is not equal power, though: what a Euclidean k-NN classifier can
    detect changes with the dimension. A mean shift of fixed size per coordinate is easier
    to detect in more dimensions; a sample concentrated inside the other (smaller variance)
    becomes *harder*: in high dimension the points of the wide sample lie nearer to the
    narrow sample's points than to each other, so every held-out point is voted into the
    narrow class and accuracy stays near 0.5. N(0, I) against N(0, 0.3^2 I) with 1,000
    rows each gives accuracy about 0.87 in 8 dims but about 0.5 (not significant) in 32
    dims. An accuracy near 0.5 therefore says "not detected", not "same distribution".

    Inputs may be on any device and of any real dtype; they are copied to float64 on the
    CPU. Raises VaelibError for non-2-D inputs, different column counts, fewer than
    :data:`MIN_ROWS_PER_SAMPLE` rows in either sample, NaN or infinite values, ``k`` not
    an odd integer >= 1, or ``k`` larger than the fit set (2 (n // 2) points).
    """
    from scipy import stats

    what = "classifier two-sample test"
    check_points(a, what, "a")
    check_points(b, what, "b")
    if a.shape[1] != b.shape[1]:
        raise VaelibError(f"{what}: a has {a.shape[1]} columns but b has {b.shape[1]}; both samples must live in "
                          "the same space")
    for name, x in (("a", a), ("b", b)):
        if x.shape[0] < MIN_ROWS_PER_SAMPLE:
            raise VaelibError(f"{what}: {name} has {x.shape[0]} rows; each sample needs at least "
                              f"{MIN_ROWS_PER_SAMPLE} (half to fit the classifier, half to test it)")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0:
        raise VaelibError(f"{what}: k must be an odd integer >= 1 (so that votes cannot tie), got {k!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise VaelibError(f"{what}: seed must be an integer, got {seed!r}")
    if classifier not in CLASSIFIERS:
        raise VaelibError(f"{what}: unknown classifier {classifier!r}; use one of {', '.join(CLASSIFIERS)}")

    n = min(a.shape[0], b.shape[0])
    n_fit = n // 2
    if k > 2 * n_fit:
        raise VaelibError(f"{what}: k = {k} is larger than the fit set ({2 * n_fit} points: {n_fit} per sample "
                          f"from n = {n} rows each); use a smaller k or more rows")
    gen = torch.Generator().manual_seed(seed)
    a64 = a.detach().to(device="cpu", dtype=torch.float64)
    b64 = b.detach().to(device="cpu", dtype=torch.float64)
    a64 = a64[torch.randperm(a64.shape[0], generator=gen)[:n]]
    b64 = b64[torch.randperm(b64.shape[0], generator=gen)[:n]]
    fit = torch.cat([a64[:n_fit], b64[:n_fit]]).contiguous()
    held_out = torch.cat([a64[n_fit:], b64[n_fit:]]).contiguous()
    fit_labels = torch.cat([torch.zeros(n_fit, dtype=torch.int64), torch.ones(n_fit, dtype=torch.int64)])
    n_held = n - n_fit
    held_labels = torch.cat([torch.zeros(n_held, dtype=torch.int64), torch.ones(n_held, dtype=torch.int64)])

    if classifier == "mlp":
        predictions = _mlp_predictions(fit, fit_labels, held_out, seed)
        n_test = int(held_labels.shape[0])
        correct = int((predictions == held_labels).sum())
        p_value = float(stats.binomtest(correct, n_test, 0.5, alternative="greater").pvalue)
        return {"accuracy": correct / n_test, "p_value": p_value, "n_test": float(n_test)}
    predictions = torch.empty(2 * n_held, dtype=torch.int64)
    for start, block in squared_distance_blocks(held_out, fit):
        nearest = torch.sort(block, dim=1, stable=True).indices[:, :k]   # ties: lower fit index first
        votes = fit_labels[nearest].sum(dim=1)
        predictions[start:start + block.shape[0]] = (2 * votes > k).to(torch.int64)
    n_test = int(held_labels.shape[0])
    correct = int((predictions == held_labels).sum())
    p_value = float(stats.binomtest(correct, n_test, 0.5, alternative="greater").pvalue)
    return {"accuracy": correct / n_test, "p_value": p_value, "n_test": float(n_test)}


__all__ = ["CLASSIFIERS", "MIN_ROWS_PER_SAMPLE", "classifier_two_sample_test"]
