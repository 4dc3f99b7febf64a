"""Identities the head-to-head checks on every run: true by construction, so a failure means a bug, not a finding."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..claims import as_frame

#: How far an IWAE estimate (k = 50, mean over 200 images) may exceed the exact log-likelihood by chance (nats).
IWAE_MC_TOLERANCE = 0.1


def sanity_checks(records: Sequence[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """The sanity-check table of the records: one row per check.

    Columns: what is checked, the reason it must hold, the worst case measured, and 'pass' or
    'FAIL'. Checks whose metrics are absent from the records are left out.
    """
    frame = as_frame(records)
    rows = []

    def add(check: str, why: str, worst: str, ok: bool) -> None:
        rows.append({"check": check, "holds because": why, "worst case measured": worst, "result": "pass" if ok else "FAIL"})

    if {"iwae_nats", "elbo_nats"} <= set(frame.columns):
        gap = (frame["iwae_nats"] - frame["elbo_nats"]).dropna()
        if len(gap):
            add("IWAE >= ELBO on the test split, every stochastic model",
                "Jensen's inequality (Burda et al. 2016): IWAE_k >= ELBO for every k",
                f"smallest IWAE - ELBO {gap.min():+.3f} nats over {len(gap)} models", bool(gap.min() >= 0))
    if "mi_nats" in frame.columns and (frame["design"] == "noise-only").any():
        mi = frame.loc[frame["design"] == "noise-only", "mi_nats"].astype(float)
        add("noise-only encoder z = eps: estimated I(x; z) = 0",
            "z does not depend on x by construction (the thread's step 3)",
            f"largest estimate {mi.abs().max():.2g} nats over {len(mi)} runs", bool(mi.abs().max() < 0.01))
    need = {"iwae_exact_subset_nats", "elbo_exact_subset_nats", "loglik_exact_nats", "loglik_exact_error_nats"}
    if need <= set(frame.columns):
        sub = frame.dropna(subset=list(need))
        if len(sub):
            ceiling = sub["loglik_exact_nats"] + sub["loglik_exact_error_nats"]
            elbo_slack = (ceiling - sub["elbo_exact_subset_nats"]).min()
            iwae_slack = (ceiling - sub["iwae_exact_subset_nats"]).min()
            add("ELBO <= log p(x) and IWAE <= log p(x) (quadrature) at latent dim <= 2",
                f"both bound log p(x) from below; the IWAE estimate is itself random, so it may exceed log p(x) by "
                f"its Monte Carlo error, allowed up to {IWAE_MC_TOLERANCE} nats",
                f"smallest log p - ELBO {elbo_slack:+.3f}, smallest log p - IWAE {iwae_slack:+.3f} nats over "
                f"{len(sub)} models", bool(elbo_slack >= 0 and iwae_slack >= -IWAE_MC_TOLERANCE))
    return pd.DataFrame(rows)


__all__ = ["IWAE_MC_TOLERANCE", "sanity_checks"]
