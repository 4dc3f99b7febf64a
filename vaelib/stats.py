"""The statistics behind every verdict: Welch's t-test, Holm's correction, the verdict rule, its null rate.

Generic: nothing here knows about models or the book. A claim "a is lower than b" tested at
several conditions (latent dims, training-set sizes) gets one Welch comparison per condition
(:func:`compare_means`), Holm-adjusted p-values across the conditions (:func:`holm`) and one
verdict (:func:`verdict_over_dims`); :func:`null_false_positive_rate` measures how often the
rule calls anything but 'inconclusive' when nothing differs.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import VaelibError

#: The family-wise error rate of every verdict: a claim tested at several latent dims is wrongly
#: declared anything but inconclusive with probability at most ALPHA when nothing differs
#: (Welch's t-test per dim, Holm's correction across the dims; measured in tests/test_stats.py).
ALPHA = 0.05


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing a metric between two groups of runs (Welch's t-test, unequal variances)."""

    mean_a: float
    mean_b: float
    difference: float      # mean_a - mean_b
    standard_error: float  # of the difference: sqrt(var_a / n_a + var_b / n_b)
    n_a: int
    n_b: int
    df: float              # Welch-Satterthwaite degrees of freedom (NaN when a side has one run)
    p_value: float         # two-sided (NaN when a side has one run)
    ci_low: float          # 95 % confidence interval of the difference
    ci_high: float

    @property
    def significant(self) -> bool:
        """True when the two-sided p-value is below :data:`ALPHA` (one comparison; claims over dims use Holm)."""
        return self.p_value < ALPHA

    def describe(self, name_a: str, name_b: str, digits: int = 2, p_adjusted: float | None = None) -> str:
        """``name_a m_a vs name_b m_b (difference d, 95 % CI [lo, hi], p = ...; n = ...)`` as text."""
        p = f"p = {self.p_value:.2g}" + (f", Holm p = {p_adjusted:.2g}" if p_adjusted is not None else "")
        return (f"{name_a} {self.mean_a:.{digits}f} vs {name_b} {self.mean_b:.{digits}f} "
                f"(difference {self.difference:+.{digits}f}, 95% CI [{self.ci_low:+.{digits}f}, "
                f"{self.ci_high:+.{digits}f}], {p}; n = {self.n_a}, {self.n_b})")


def compare_means(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Welch's t-test of two samples of a metric (e.g. over seeds): means, difference, 95 % CI, p-value.

    The standard error is sqrt(var_a / n_a + var_b / n_b) with sample variances, the degrees of
    freedom Welch-Satterthwaite's, the p-value two-sided. A side with one run has no variance
    estimate: then df, p and the interval are NaN and the difference is never significant.
    When both sides are constant the standard error is 0: p is 1 for equal means, 0 otherwise.
    Raises VaelibError on empty input or NaN.
    """
    from scipy import stats

    a, b = [float(v) for v in a], [float(v) for v in b]
    if not a or not b:
        raise VaelibError("compare_means needs at least one value on each side")
    if any(math.isnan(v) for v in a + b):
        raise VaelibError("compare_means got NaN values")

    def mean_var(v: list[float]) -> tuple[float, float]:
        m = sum(v) / len(v)
        return m, (sum((x - m) ** 2 for x in v) / (len(v) - 1) if len(v) > 1 else 0.0)

    (ma, va), (mb, vb) = mean_var(a), mean_var(b)
    na, nb = len(a), len(b)
    diff = ma - mb
    se = math.sqrt(va / na + vb / nb)
    if na < 2 or nb < 2:
        df = p = lo = hi = math.nan
    elif se == 0.0:
        df, p, lo, hi = math.nan, (1.0 if diff == 0.0 else 0.0), diff, diff
    else:
        wa, wb = va / na, vb / nb
        df = (wa + wb) ** 2 / (wa ** 2 / (na - 1) + wb ** 2 / (nb - 1))
        p = float(2.0 * stats.t.sf(abs(diff) / se, df))
        half = float(stats.t.ppf(0.975, df)) * se
        lo, hi = diff - half, diff + half
    return Comparison(ma, mb, diff, se, na, nb, df, p, lo, hi)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (NaN counts as 1); each in [0, 1].

    Rejecting where the adjusted p-value is below alpha keeps the family-wise error rate of
    the whole family at alpha, whatever the dependence between the tests.
    """
    p = [1.0 if math.isnan(v) else float(v) for v in p_values]
    m = len(p)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda k: p[k])):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def verdict_over_dims(comparisons: Sequence[Comparison], dims: Sequence[int],
                      name: str = "d", expected: str = "lower") -> tuple[list[str], list[float], str]:
    """The book's rule for a claim "a is lower than b" (or, with ``expected="higher"``, "a is higher
    than b") tested at several latent dims (or, with ``name="n"``, several training-set sizes: any
    family of conditions).

    Returns (outcome per dim, Holm-adjusted p-value per dim, verdict). A dim's outcome is
    'lower' or 'higher' (a against b) when its Holm-adjusted p-value is below :data:`ALPHA`, else
    'same'. Verdict: 'confirmed' (the expected direction at every dim), 'refuted' (the opposite at
    every dim), 'depends on latent dim' (significant both ways), 'inconclusive' (no dim differs),
    or, when only some dims differ and all in one direction, 'confirmed at d=..., inconclusive at
    d=...' (likewise 'refuted at ...').
    """
    if expected not in ("lower", "higher"):
        raise VaelibError(f"expected must be 'lower' or 'higher', got {expected!r}")
    opposite = "higher" if expected == "lower" else "lower"
    adjusted = holm([c.p_value for c in comparisons])
    outcomes = ["same" if not q < ALPHA else "lower" if c.difference < 0 else "higher"
                for c, q in zip(comparisons, adjusted)]
    where = {o: ", ".join(str(d) for d, x in zip(dims, outcomes) if x == o) for o in ("lower", "higher", "same")}
    if all(o == expected for o in outcomes):
        verdict = "confirmed"
    elif all(o == opposite for o in outcomes):
        verdict = "refuted"
    elif all(o == "same" for o in outcomes):
        verdict = "inconclusive"
    elif expected in outcomes and opposite in outcomes:
        verdict = "depends on latent dim" if name == "d" else "depends on the condition"
    elif expected in outcomes:
        verdict = f"confirmed at {name}={where[expected]}; inconclusive at {name}={where['same']}"
    else:
        verdict = f"refuted at {name}={where[opposite]}; inconclusive at {name}={where['same']}"
    return outcomes, adjusted, verdict


def null_false_positive_rate(n_seeds: int, n_dims: int, trials: int = 2000, seed: int = 0) -> float:
    """Share of simulated claims with no true difference that the rule does not call 'inconclusive' (a fraction).

    Each trial draws, at each of ``n_dims`` latent dims, ``n_seeds`` values of A from N(0, 1)
    and of B from N(0, s^2) with s drawn from {0.5, 1, 2} (equal means, unequal spreads:
    Welch's case), and applies :func:`verdict_over_dims`. A sound rule stays at or below
    :data:`ALPHA` up to the Monte Carlo error sqrt(ALPHA (1 - ALPHA) / trials).
    """
    import numpy as np

    if n_seeds < 2 or n_dims < 1 or trials < 1:
        raise VaelibError(f"need n_seeds >= 2, n_dims >= 1, trials >= 1; got {n_seeds}, {n_dims}, {trials}")
    rng = np.random.default_rng(seed)
    flagged = 0
    for _ in range(trials):
        comparisons = [compare_means(rng.normal(size=n_seeds), rng.normal(scale=rng.choice([0.5, 1.0, 2.0]),
                                                                          size=n_seeds)) for _ in range(n_dims)]
        flagged += verdict_over_dims(comparisons, list(range(n_dims)))[2] != "inconclusive"
    return flagged / trials


__all__ = ["ALPHA", "Comparison", "compare_means", "holm", "null_false_positive_rate", "verdict_over_dims"]
