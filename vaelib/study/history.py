"""What changed since version 0.3.0: each claim's verdict then and now, and what changed in its test."""
from __future__ import annotations

import pandas as pd

#: The verdicts of version 0.3.0 (5 seeds, Welch + Holm), and what changed in the test since, by claim id.
#: Ids 6 and 8a are no longer claims: they moved to the sanity checks (vaelib.study.sanity_checks).
VERDICTS_0_3_0: dict[str, tuple[str, str]] = {
    "1": ("confirmed", "same test"),
    "2a": ("confirmed", "was: the VAE's MMD to N(0,I) above a two-prior-samples floor, true of every design; "
                        "now: KL(q(z) || p(z)) = rate - I(x;z) above 0"),
    "2b": ("confirmed at d=2, 8; inconclusive at d=32", "was: MMD, which the WAE trains on; now: a classifier "
                                                         "two-sample test neither design trains on"),
    "2c": ("(new)", "the asker's question as a claim; the answer used to quote it at one latent dim"),
    "3": ("confirmed", "was: the WAE's MMD against a floor any trained model exceeds; now: deterministic vs "
                       "stochastic above the data's intrinsic dim, by the classifier two-sample test"),
    "4": ("refuted", "was: sigma0 picked by test-split FID, beta not tuned; now: both tuned on the validation split"),
    "5": ("confirmed", "same test"),
    "6": ("confirmed", "moved to the sanity checks (Jensen's inequality)"),
    "7": ("confirmed", "was: one data size; now: three training-set sizes"),
    "8a": ("confirmed", "moved to the sanity checks (true by construction)"),
    "8b": ("confirmed at d=32; inconclusive at d=2, 8", "was: sigma0 picked by FID; now: sigma0 tuned on validation ELBO"),
    "8c": ("confirmed at d=8, 32; inconclusive at d=2", "was: models with different training fits; now: the AE "
                                                        "stopped at the VAE's training reconstruction"),
}


def changes_since_0_3_0(verdicts: pd.DataFrame) -> pd.DataFrame:
    """One row per claim id of version 0.3.0: its verdict then, now (from the verdict table ``verdicts``;
    "(sanity check)" for an id that is no longer a claim), and what changed in the test."""
    now = verdicts["verdict"]
    return pd.DataFrame({"0.3.0": {k: v[0] for k, v in VERDICTS_0_3_0.items()},
                         "now": {k: now.get(k, "(sanity check)") for k in VERDICTS_0_3_0},
                         "what changed in the test": {k: v[1] for k, v in VERDICTS_0_3_0.items()}})


__all__ = ["VERDICTS_0_3_0", "changes_since_0_3_0"]
