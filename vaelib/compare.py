"""The head-to-head: every design, same budget, several seeds and latent dims; verdicts by rule.

``run_comparison`` trains (or loads from the cache) every design at every latent dim and
seed and evaluates each with :func:`vaelib.metrics.evaluate_cached`. ``summary_table``
gives mean and std over seeds; ``verdicts`` turns each claim of the book into a verdict
derived from the numbers with one stated rule (:func:`compare_means`).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .config import TrainConfig
from .data import load_dataset
from .errors import VaelibError

#: The designs of the head-to-head, as (label, design, extra TrainConfig fields).
#: The mean-only sigma0 is the best one of notebook 2's sweep (lowest prior FID): pass it in.
def head_to_head_designs(sigma0: float) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, design, config overrides) of every design in the head-to-head."""
    return [
        ("ae", "ae", {}),
        ("mean-only", "mean-only", {"sigma0": sigma0}),
        ("vae", "vae", {}),
        ("wae-mmd", "wae-mmd", {}),
        ("swae", "swae", {}),
    ]


#: The family-wise error rate of every verdict: a claim tested at several latent dims is wrongly
#: declared anything but inconclusive with probability at most ALPHA when nothing differs
#: (Welch's t-test per dim, Holm's correction across the dims; measured in tests/test_compare.py).
ALPHA = 0.05


def run_comparison(
    dataset: str = "mnist5k",
    latent_dims: Sequence[int] = (2, 8, 32),
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 30,
    sigma0: float = 0.7,
    n_samples: int = 1000,
    progress: bool = True,
    cache_dir: str | None = None,
) -> list[dict[str, Any]]:
    """Train/load and evaluate every design x latent dim x seed; return one record per model.

    Each record holds ``design``, ``latent_dim``, ``seed`` and every metric of
    :func:`vaelib.metrics.evaluate`. Models and records come from the caches when present.
    """
    from . import metrics
    from .metrics.likelihood import reconstruction_errors
    from .parallel import train_many

    if not latent_dims or not seeds:
        raise VaelibError("the comparison needs at least one latent dim and one seed")
    data = load_dataset(dataset)
    jobs = [(label, design, extra, d, s) for d in latent_dims for label, design, extra in head_to_head_designs(sigma0)
            for s in seeds]
    configs = [TrainConfig(design=design, dataset=dataset, latent_dim=dim, epochs=epochs, seed=seed, **extra)
               for _, design, extra, dim, seed in jobs]
    # train and evaluate every model not cached yet, one worker process per core; the loop below then reads caches
    results = train_many(configs, data=data, cache_dir=cache_dir, evaluate={"n_samples": n_samples}, progress=progress)
    records = []
    for (label, _, _, dim, seed), result in zip(jobs, results):
        record = metrics.evaluate_cached(result, data, n_samples=n_samples, cache_dir=cache_dir)
        train_bce = reconstruction_errors(result.model, data.x_train.to(next(result.model.parameters()).device))
        record["gen_gap_nats"] = record["recon_bce_nats"] - train_bce["bce_nats"]
        records.append({"design": label, "latent_dim": dim, "seed": seed, **record})
    for dim in latent_dims:
        for seed in seeds:
            records.append({"design": "noise-only", "latent_dim": dim, "seed": seed,
                            "mi_nats": noise_only_mutual_information(dataset, dim, seed, data=data)})
    return records


def noise_only_mutual_information(dataset: str, latent_dim: int, seed: int, data=None) -> float:
    """I_q(x; z) in nats, measured like every other design's, for the thread's "noise-only" encoder z = eps.

    The model is a VAE whose head is zeroed, so q(z|x) = N(0, I) for every x.
    """
    import torch

    from .metrics.latent import mutual_information
    from .models import build_model

    data = data if data is not None else load_dataset(dataset)
    torch.manual_seed(seed)
    model = build_model(TrainConfig(design="vae", dataset=dataset, latent_dim=latent_dim), data.dim, data.image_shape)
    with torch.no_grad():
        model.to_code.weight.zero_()
        model.to_code.bias.zero_()
    return mutual_information(model.eval(), data.x_train, seed=seed)


def summary_table(records: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and std over seeds per (design, latent_dim): columns ``<metric> mean``, ``<metric> std``."""
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


def verdict_over_dims(comparisons: Sequence[Comparison], dims: Sequence[int]) -> tuple[list[str], list[float], str]:
    """The book's rule for a claim "a is lower than b" tested at several latent dims.

    Returns (outcome per dim, Holm-adjusted p-value per dim, verdict). A dim's outcome is
    'lower' or 'higher' when its Holm-adjusted p-value is below :data:`ALPHA`, else 'same'.
    Verdict: 'confirmed' (lower at every dim), 'refuted' (higher at every dim), 'depends on
    latent dim' (significantly lower at some dims and higher at others), 'inconclusive'
    (no dim differs), or, when only some dims differ and all in one direction,
    'confirmed at d=..., inconclusive at d=...' (likewise 'refuted at ...').
    """
    adjusted = holm([c.p_value for c in comparisons])
    outcomes = ["same" if not q < ALPHA else "lower" if c.difference < 0 else "higher"
                for c, q in zip(comparisons, adjusted)]
    where = {o: ", ".join(str(d) for d, x in zip(dims, outcomes) if x == o) for o in ("lower", "higher", "same")}
    if all(o == "lower" for o in outcomes):
        verdict = "confirmed"
    elif all(o == "higher" for o in outcomes):
        verdict = "refuted"
    elif all(o == "same" for o in outcomes):
        verdict = "inconclusive"
    elif "lower" in outcomes and "higher" in outcomes:
        verdict = "depends on latent dim"
    elif "lower" in outcomes:
        verdict = f"confirmed at d={where['lower']}; inconclusive at d={where['same']}"
    else:
        verdict = f"refuted at d={where['higher']}; inconclusive at d={where['same']}"
    return outcomes, adjusted, verdict


@dataclass(frozen=True)
class Claim:
    """A claim to test: its text, what the literature expects, and how to test it on the records.

    ``test(frame)`` returns (measured text, verdict), the verdict derived from the numbers by
    :func:`verdict_over_dims` (Welch's t-test per dim, Holm's correction across dims).
    """

    key: str
    claim: str
    literature: str
    test: Callable[[pd.DataFrame], tuple[str, str]]


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


def _values(frame: pd.DataFrame, design: str, dim: int, metric: str) -> list[float]:
    rows = frame[(frame["design"] == design) & (frame["latent_dim"] == dim)]
    if rows.empty or metric not in rows:
        raise VaelibError(f"no records for design {design!r} at latent dim {dim} with metric {metric!r}")
    return rows[metric].astype(float).tolist()


Side = tuple[str, str, str]  # (design, metric, label for the text)


def lower_is_confirmed(frame: pd.DataFrame, a: Side, b: Side, dims: Sequence[int] | None = None,
                       digits: int = 2) -> tuple[str, str]:
    """Test "a is lower than b" at each latent dim, where a and b are (design, metric, label).

    Returns (measured text, verdict): Welch's t-test over seeds at each dim, Holm's correction
    across the dims, the verdict of :func:`verdict_over_dims`. The text gives, per dim, both
    means, the difference with its 95 % confidence interval, and the raw and Holm p-values.
    """
    dims = list(dims) if dims is not None else sorted(int(d) for d in frame["latent_dim"].unique())
    comparisons = [compare_means(_values(frame, a[0], d, a[1]), _values(frame, b[0], d, b[1])) for d in dims]
    _, adjusted, verdict = verdict_over_dims(comparisons, dims)
    texts = [f"d={d}: " + c.describe(a[2], b[2], digits, p_adjusted=q) for d, c, q in zip(dims, comparisons, adjusted)]
    return "; ".join(texts), verdict


def book_claims(max_dim: int) -> list[Claim]:
    """The claims of BOOK_PLAN and of the original thread, each with its test on the records.

    ``max_dim`` is the largest latent dim compared (the dimension argument is tested there).
    """
    def claim(key, text, literature, a, b, dims=None, digits=2):
        return Claim(key, text, literature, lambda f: lower_is_confirmed(f, a, b, dims, digits))

    return [
        claim("1", "AE codes decoded from N(0,I) give poor samples; a GMM fitted to the codes rescues them",
              "Ghosh et al. 2020: AE FID 58.7 (prior) vs 10.7 (GMM) on MNIST",
              ("ae", "gmm/fid", "AE+GMM FID"), ("ae", "prior/fid", "AE+prior FID")),
        claim("2a", "The VAE's aggregate posterior is not N(0,I) (MMD above the two-prior-samples floor)",
              "Hoffman & Johnson 2016; Dai & Wipf 2019: the aggregate posterior differs from the prior",
              ("vae", "agg_mmd_floor", "floor"), ("vae", "agg_mmd", "VAE MMD^2"), digits=4),
        claim("2b", "Empirical-prior matching (WAE-MMD) reaches a lower MMD to N(0,I) than the VAE",
              "Tolstikhin et al. 2018: WAE codes match the prior better",
              ("wae-mmd", "agg_mmd", "WAE MMD^2"), ("vae", "agg_mmd", "VAE MMD^2"), digits=4),
        claim("3", f"Above the data's intrinsic dimension, deterministic prior matching hits a floor "
                   f"(WAE-MMD's MMD stays above the noise floor at d={max_dim})",
              "Rubenstein et al. 2018: codes of a deterministic encoder cannot fill the latent space",
              ("wae-mmd", "agg_mmd_floor", "floor"), ("wae-mmd", "agg_mmd", "WAE MMD^2"), dims=[max_dim], digits=4),
        claim("4", "A fixed sigma0 gives worse prior samples than a learned sigma (FID)",
              "BOOK_PLAN: fixed sigma0 trades sample quality for reconstruction",
              ("vae", "prior/fid", "VAE FID"), ("mean-only", "prior/fid", "mean-only FID")),
        claim("5", "Encoder noise smooths the decoder (lower Jacobian norm per code standard deviation than a plain AE)",
              "Ghosh et al. 2020: the VAE's noise acts as a smoothness regulariser on the decoder",
              ("vae", "jacobian_norm_scaled", "VAE"), ("ae", "jacobian_norm_scaled", "AE")),
        claim("6", "IWAE tightens the ELBO (only stochastic encoders have this bound)",
              "Burda et al. 2016: IWAE_k >= ELBO, increasing in k",
              ("vae", "elbo_nats", "ELBO"), ("vae", "iwae_nats", "IWAE")),
        claim("7", "On small data the ex-post GMM also helps the VAE (its gain is not unique to the AE)",
              "Chadebec & Allassonniere 2022: ex-post GMM's advantage shrinks with little data",
              ("vae", "gmm/fid", "VAE+GMM FID"), ("vae", "prior/fid", "VAE+prior FID")),
        claim("8a", "Thread: noise-only z carries no information about x",
              "the thread's answer, step 3: z = eps is disconnected from x",
              ("noise-only", "mi_nats", "noise-only MI"), ("vae", "mi_nats", "VAE MI")),
        claim("8b", "Thread: adding the sigma channel helps (better ELBO than mean only)",
              "the thread's answer: two channels (mu, sigma) beat one",
              ("mean-only", "elbo_nats", "mean-only ELBO"), ("vae", "elbo_nats", "VAE ELBO")),
        claim("8c", "Thread: the stochastic link regularises (smaller test-minus-train reconstruction gap than an AE)",
              "the thread's answer: the probabilistic link throws information away, like a regulariser",
              ("vae", "gen_gap_nats", "VAE gap"), ("ae", "gen_gap_nats", "AE gap")),
    ]


def verdict_table(records: Sequence[dict[str, Any]], claims: Sequence[Claim]) -> pd.DataFrame:
    """One row per claim: claim, literature expectation, measured numbers, verdict."""
    frame = pd.DataFrame(list(records))
    rows = []
    for c in claims:
        measured, verdict = c.test(frame)
        rows.append({"claim": c.claim, "literature expects": c.literature, "measured": measured, "verdict": verdict})
    return pd.DataFrame(rows, index=[c.key for c in claims])


__all__ = ["ALPHA", "Claim", "Comparison", "compare_means", "format_mean_std", "head_to_head_designs",
           "book_claims", "holm", "lower_is_confirmed", "null_false_positive_rate", "run_comparison", "summary_table", "verdict_over_dims",
           "verdict_table"]
