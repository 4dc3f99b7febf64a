"""Claims "a is lower (or higher) than b", tested on records of runs: cases, results, and the verdict table.

Generic claim machinery; the book's own claims are a table in :mod:`vaelib.study.claim_table`.
A record is a dict (or a DataFrame row) with a ``design`` label, a ``latent_dim``, a ``seed``
and metric values. A :class:`Claim` compares a's metric values over seeds with b's in every
:class:`Case` (Welch's t-test) and derives one verdict with Holm's correction across the cases
(:mod:`vaelib.stats`). A claim whose records are missing is :class:`NotTested`, with the reason.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import pandas as pd

from .errors import VaelibError
from .stats import Comparison, compare_means, verdict_over_dims


class Measurement(NamedTuple):
    """Which values a side of a case compares: ``metric`` of the records labelled ``design`` at ``latent_dim``
    (one value per seed)."""

    design: str
    latent_dim: int
    metric: str


class ClaimSide(NamedTuple):
    """One side of a claim tested at every latent dim: the records' ``design`` label, the ``metric``, and the
    ``label`` the measured text gives this side."""

    design: str
    metric: str
    label: str


@dataclass(frozen=True)
class Case:
    """One comparison of a claim: metric values of ``a`` against those of ``b`` under one condition."""

    condition: int   # the latent dim, or the training-set size, this case is tested at
    a: Measurement
    b: Measurement


@dataclass(frozen=True)
class ClaimResult:
    """A claim's outcome: one Welch comparison per condition, Holm-adjusted p-values, the verdict, as text."""

    key: str
    claim: str
    literature: str
    refuted_if: str
    condition: str                   # "d" (latent dims) or "n" (training-set sizes)
    conditions: list[int]
    comparisons: list[Comparison]    # a minus b, per condition
    adjusted: list[float]            # Holm-adjusted p-values, per condition
    outcomes: list[str]              # 'lower', 'higher' or 'same', per condition
    verdict: str
    measured: str
    digits: int = 2
    expected: str = "lower"          # the claim: a is 'lower' (or 'higher') than b

    def outcome_text(self, lower: str = "lower", higher: str = "higher", digits: int | None = None) -> str:
        """The outcome per condition in words, e.g. ``lower at d=2 (40.1 vs 55.3), no significant
        difference at d=8 (...)``: the reader's sentence for a verdict, with a's and b's means."""
        digits = self.digits if digits is None else digits
        parts = []
        for k, c, o in zip(self.conditions, self.comparisons, self.outcomes):
            word = {"lower": lower, "higher": higher, "same": "no significant difference"}[o]
            parts.append(f"{word} at {self.condition}={k} ({c.mean_a:.{digits}f} vs {c.mean_b:.{digits}f})")
        return ", ".join(parts)


@dataclass(frozen=True)
class NotTested:
    """A claim that could not be tested on the records at hand (``reason``: which records are missing)."""

    key: str
    reason: str
    verdict: ClassVar[str] = "not tested"

    @property
    def measured(self) -> str:
        """``not tested: <reason>``: what the verdict table shows in place of the measured numbers."""
        return f"not tested: {self.reason}"


def as_frame(records: Sequence[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """The records as a DataFrame, one row per record (a DataFrame is returned as it is)."""
    return records if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))


def metric_values(frame: pd.DataFrame, design: str, latent_dim: int, metric: str) -> list[float]:
    """``metric`` of every record labelled ``design`` at ``latent_dim`` (one per seed), as floats.

    Raises VaelibError when there is no such record or none has the metric.
    """
    rows = frame[(frame["design"] == design) & (frame["latent_dim"] == latent_dim)]
    if rows.empty or metric not in rows or rows[metric].isna().all():
        raise VaelibError(f"no records for design {design!r} at latent dim {latent_dim} with metric {metric!r}")
    return rows[metric].astype(float).tolist()


@dataclass(frozen=True)
class Claim:
    """A claim "a is lower than b" (``expected="higher"``: "a is higher than b"), what the literature expects,
    what would refute it, and its cases.

    :meth:`test` compares a with b over seeds in every case (Welch's t-test) and derives the verdict
    with Holm's correction across the cases (:func:`vaelib.stats.verdict_over_dims`).
    """

    key: str
    claim: str
    literature: str
    refuted_if: str
    a_label: str
    b_label: str
    cases: tuple[Case, ...]
    condition: str = "d"
    digits: int = 2
    expected: str = "lower"

    def test(self, frame: pd.DataFrame) -> ClaimResult:
        """The claim's :class:`ClaimResult` on the records in ``frame``; VaelibError when a case has no records."""
        if not self.cases:
            raise VaelibError(f"claim {self.key} has no case to test")
        comparisons = [compare_means(metric_values(frame, *c.a), metric_values(frame, *c.b)) for c in self.cases]
        conditions = [c.condition for c in self.cases]
        outcomes, adjusted, verdict = verdict_over_dims(comparisons, conditions, name=self.condition,
                                                        expected=self.expected)
        measured = "; ".join(f"{self.condition}={k}: " + c.describe(self.a_label, self.b_label, self.digits, p_adjusted=q)
                             for k, c, q in zip(conditions, comparisons, adjusted))
        return ClaimResult(self.key, self.claim, self.literature, self.refuted_if, self.condition, conditions,
                           comparisons, adjusted, outcomes, verdict, measured, self.digits, self.expected)


def lower_claim_result(frame: pd.DataFrame, a: ClaimSide, b: ClaimSide, dims: Sequence[int] | None = None,
                       digits: int = 2) -> ClaimResult:
    """The :class:`ClaimResult` of an ad-hoc claim "a is lower than b" at each latent dim in ``dims``
    (default: every latent dim of ``frame``).

    Welch's t-test over seeds at each dim, Holm's correction across the dims, the verdict of
    :func:`vaelib.stats.verdict_over_dims`; its ``measured`` text gives, per dim, both means, the
    difference with its 95 % confidence interval, and the raw and Holm p-values.
    """
    dims = list(dims) if dims is not None else sorted(int(d) for d in frame["latent_dim"].unique())
    cases = tuple(Case(d, Measurement(a.design, d, a.metric), Measurement(b.design, d, b.metric)) for d in dims)
    return Claim("", "", "", "", a.label, b.label, cases, digits=digits).test(frame)


def claim_results(records: Sequence[dict[str, Any]] | pd.DataFrame,
                  claims: Sequence[Claim]) -> dict[str, ClaimResult | NotTested]:
    """Each claim's :class:`ClaimResult` by key, or :class:`NotTested` with the reason (missing records)."""
    frame = as_frame(records)
    out: dict[str, ClaimResult | NotTested] = {}
    for c in claims:
        try:
            out[c.key] = c.test(frame)
        except VaelibError as e:
            out[c.key] = NotTested(c.key, str(e))
    return out


def verdict_table(records: Sequence[dict[str, Any]] | pd.DataFrame, claims: Sequence[Claim]) -> pd.DataFrame:
    """One row per claim (index: its key): claim, literature expectation, what would refute it, measured
    numbers (or why it was not tested), verdict."""
    rows, keys = [], []
    for c, r in zip(claims, claim_results(records, claims).values()):
        rows.append({"claim": c.claim, "literature expects": c.literature, "refuted if": c.refuted_if,
                     "measured": r.measured, "verdict": r.verdict})
        keys.append(c.key)
    return pd.DataFrame(rows, index=keys)


__all__ = ["Case", "Claim", "ClaimResult", "ClaimSide", "Measurement", "NotTested", "as_frame", "claim_results",
           "lower_claim_result", "metric_values", "verdict_table"]
