"""Does the answer hold? The head-to-head's verdicts side by side with the same claims on other studies.

Each other study (a converged budget, another architecture, other data, another feature
extractor) is tested with the same claims and the same rule; :func:`verdict_comparison` lines
the verdicts up, and :func:`verdict_changes` says, per study, which verdicts held, flipped,
became inconclusive or became significant, against the reference (the 30-epoch head-to-head).
A claim a study cannot test (its latent dims or models are not there) is 'not tested' there.

A study with fewer latent dims or seeds than the reference is compared with the reference restricted to
the same dims and seeds (:func:`restricted`), so that a verdict does not move merely because a latent
dim or two seeds are missing.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from .records import STUDIES_DIR
from .runner import HeadToHead, load_head_to_head

#: The other studies that test the head-to-head's answer: short name -> (folder under the studies' root, what it
#: changes, as a phrase).
OTHER_STUDIES: dict[str, tuple[str, str]] = {
    "converged": ("budget", "early stopping (d = 8, 32)"),
    "conv": ("generality/conv", "conv encoder and decoder (d = 32)"),
    "binarised": ("generality/binary", "binarised mnist5k (d = 8, 32)"),
    "digits": ("generality/digits", "sklearn's digits (d = 2, 8)"),
    "2nd features": ("generality/features", "a second feature extractor"),
}
#: The claim rows the answer's sentences rest on (the bottom line's verdicts).
KEY_CLAIMS: tuple[str, ...] = ("G3.fid", "G1.fid", "R1.c2st", "R2", "S1.fid", "S3", "P2", "P3")
#: Where prose links the robustness table: notebook 6 (relative to book/ and to notebooks/).
ROBUSTNESS_LINK = "../notebooks/06_does_it_hold.ipynb"


def load_other_studies(root: str | Path | None = None) -> dict[str, HeadToHead]:
    """The committed records of every study of :data:`OTHER_STUDIES` under ``root`` (default: the committed
    ``book/_generated/studies``), by short name. VaelibError naming the command that writes one that is missing."""
    root = Path(root) if root is not None else STUDIES_DIR
    return {name: load_head_to_head(root / folder) for name, (folder, _) in OTHER_STUDIES.items()}


def restricted(h2h: HeadToHead, dims: Sequence[int], seeds: Sequence[int]) -> HeadToHead:
    """``h2h`` with only the models at latent dims ``dims`` and training seeds ``seeds`` (and no data-size sweep,
    whose claims then read 'not tested'): the reference a smaller study is compared with."""
    dims, seeds = [d for d in h2h.dims if d in set(dims)], [s for s in h2h.settings.seeds if s in set(seeds)]
    if not dims or not seeds:
        raise ValueError(f"no latent dim or seed in common: {h2h.dims} x {list(h2h.settings.seeds)} against "
                         f"{list(dims)} x {list(seeds)}")
    records = [r for r in h2h.records if r["latent_dim"] in dims and r["seed"] in seeds
               and r.get("n_train", h2h.n_train) == h2h.n_train]
    settings = dataclasses.replace(h2h.settings, latent_dims=tuple(dims), seeds=tuple(seeds), data_fractions=())
    return dataclasses.replace(h2h, records=records, data_sizes=[], settings=settings)


def matched_changes(reference: HeadToHead, studies: Mapping[str, HeadToHead]) -> pd.DataFrame:
    """Per study (rows), how its verdicts moved against ``reference`` restricted to the study's own latent dims and
    seeds (:func:`restricted`): counts of held, flipped, became inconclusive, became significant, changed and not
    tested, and the moved rows by outcome (column 'moved': 'R1.c2st flipped; ...')."""
    rows = {}
    for name, other in studies.items():
        ref = restricted(reference, other.dims, other.settings.seeds)
        table = verdict_comparison({"reference": ref, name: other})
        counts = verdict_changes(table, "reference").loc[name].to_dict()
        moves = [(k, change(a, b)) for k, a, b in zip(table.index, table["reference"], table[name])]
        counts["moved"] = "; ".join(f"{k} {m}" for k, m in moves if m not in ("held", "not tested"))
        rows[name] = counts
    return pd.DataFrame.from_dict(rows, orient="index")


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


def robustness_line(h2h: HeadToHead, others: Mapping[str, HeadToHead]) -> str:
    """One Markdown bullet for the bottom line: per other study (short names of :data:`OTHER_STUDIES`), how many of
    its testable verdicts held against ``h2h`` restricted to the same latent dims and seeds, and which of
    :data:`KEY_CLAIMS` moved (claim id and how), with a link to notebook 6."""
    moves = matched_changes(h2h, others)
    parts = []
    for name, row in moves.iterrows():
        tested = sum(int(row[k]) for k in ("held", "flipped", "became inconclusive", "became significant", "changed"))
        key = [m for m in str(row["moved"]).split("; ") if m and m.split(" ")[0] in KEY_CLAIMS]
        parts.append(f"{OTHER_STUDIES[name][1] if name in OTHER_STUDIES else name}: {int(row['held'])} of {tested} "
                     f"held" + (f" ({', '.join(key)})" if key else ", every key verdict it tests among them"))
    seeds = sorted({len(o.settings.seeds) for o in others.values()})
    return (f"* **Does it hold?** Every verdict tested again ({' or '.join(map(str, seeds))} seeds) against the "
            f"head-to-head at the same latent dims and seeds ([notebook 6]({ROBUSTNESS_LINK})): "
            + "; ".join(parts) + ".\n")


def write_robustness_line(h2h: HeadToHead, others: Mapping[str, HeadToHead], path: str | Path) -> Path:
    """Write :func:`robustness_line` to ``path`` (atomically; the introduction includes it after the bottom line);
    returns the path."""
    from .. import store

    return store.write_bytes(Path(path), robustness_line(h2h, others).encode())


__all__ = ["KEY_CLAIMS", "OTHER_STUDIES", "load_other_studies", "robustness_line", "write_robustness_line", "change", "kind_of", "matched_changes", "restricted", "verdict_changes", "verdict_comparison"]
