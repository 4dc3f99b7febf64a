"""Does the answer hold? The head-to-head's verdicts side by side with the same claims on other studies.

Each other study (a converged budget, another architecture, other data, another feature
extractor) is tested with the same claims and the same rule; :func:`verdict_comparison` lines
the verdicts up, and :func:`verdict_changes` says, per study, which verdicts held, flipped,
became inconclusive or became significant, against the reference (the 30-epoch head-to-head).
A claim a study cannot test (its latent dims or models are not there) is 'not tested' there.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from .runner import HeadToHead


def verdict_comparison(studies: Mapping[str, HeadToHead], rows: Sequence[str] | None = None) -> pd.DataFrame:
    """The verdict of every claim row (index; default: all of the first study's) in every study (columns, in the
    order given): a DataFrame of verdict strings."""
    results = {name: h2h.results() for name, h2h in studies.items()}
    first = next(iter(results.values()))
    rows = list(rows) if rows is not None else list(first)
    return pd.DataFrame({name: [res[k].verdict for k in rows] for name, res in results.items()}, index=rows)


def change(reference: str, other: str) -> str:
    """How a verdict moved from ``reference`` to ``other`` (verdict strings): 'held', 'flipped', 'became
    inconclusive', 'became significant', 'changed' (to or from a latent-dim-dependent verdict) or 'not tested'."""
    a, b = kind_of(reference), kind_of(other)
    if "not tested" in (a, b):
        return "not tested"
    if a == b:
        return "held"
    if {a, b} == {"confirmed", "refuted"}:
        return "flipped"
    if b == "inconclusive":
        return "became inconclusive"
    if a == "inconclusive":
        return "became significant"
    return "changed"


def kind_of(verdict: str) -> str:
    """The kind of a verdict string: confirmed, refuted, inconclusive, mixed or not tested (as :func:`vaelib.study.answer.kind`)."""
    if verdict == "not tested":
        return "not tested"
    if verdict.startswith("confirmed"):
        return "confirmed"
    if verdict.startswith("refuted"):
        return "refuted"
    return "inconclusive" if verdict == "inconclusive" else "mixed"


def verdict_changes(table: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Per other study (rows), how many verdicts of :func:`verdict_comparison`'s ``table`` held, flipped, became
    inconclusive, became significant, changed otherwise, or could not be tested there (counts)."""
    outcomes = ("held", "flipped", "became inconclusive", "became significant", "changed", "not tested")
    counts = {}
    for name in table.columns:
        if name == reference:
            continue
        moves = [change(a, b) for a, b in zip(table[reference], table[name])]
        counts[name] = {o: moves.count(o) for o in outcomes}
    return pd.DataFrame.from_dict(counts, orient="index")


__all__ = ["change", "kind_of", "verdict_changes", "verdict_comparison"]
