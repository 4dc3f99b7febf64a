"""The head-to-head's summary tables: mean and standard deviation over seeds, and their printed form."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd


def summary_table(records: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and std over seeds per (design, latent_dim): columns ``(<metric>, "mean")``, ``(<metric>, "std")``,
    in the metrics' units."""
    frame = pd.DataFrame(list(records))
    metric_cols = [c for c in (columns or frame.columns) if c not in ("design", "latent_dim", "seed")]
    grouped = frame.groupby(["design", "latent_dim"], sort=False)[metric_cols]
    mean, std = grouped.mean(), grouped.std(ddof=1)
    out = pd.concat({"mean": mean, "std": std}, axis=1).swaplevel(axis=1)
    return out[[(c, s) for c in metric_cols for s in ("mean", "std")]]


def format_mean_std(table: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """The summary table as strings ``mean ± std`` (one column per metric), for printing and Markdown."""
    metrics_ = dict.fromkeys(c for c, _ in table.columns)
    return pd.DataFrame({m: [f"{a:.{digits}f} ± {b:.{digits}f}" if not math.isnan(b) else f"{a:.{digits}f}"
                             for a, b in zip(table[(m, "mean")], table[(m, "std")])] for m in metrics_},
                        index=table.index)


__all__ = ["format_mean_std", "summary_table"]
