"""The book's claims: one table keyed by claim id, each claim on a contrast that changes one thing, each able to fail.

:data:`CLAIMS` holds each claim's texts (what it says, what the literature reports, in the paper's
own setting and numbers, and what would refute it), its two sides (record label, metric, label in
the text), the direction it expects, where it is tested, and what its contrast changes. A
sample-quality claim is four rows, one per number (FID, precision, recall and the blur statistic:
``<id>.fid`` and so on), so that a verdict never rests on FID alone. :func:`book_claims` turns the
table into testable :class:`vaelib.claims.Claim` objects for one run; prose cites claims through
:func:`mention_claims`, so that a stale id fails.

Literature numbers (FIDs of other papers are on Inception features of other sample sizes and
reference sets: they compare with the book's in direction, not in value):

* Ghosh et al. (2020), Table 1, MNIST, conv nets, latent 16, 100 epochs, 10k samples, Inception
  FID of reconstructions / N(0, I) samples / 10-component GMM samples: VAE 18.26 / 19.21 / 17.66;
  CV-VAE (sigma 0.7) 15.15 / 33.79 / 17.87; WAE 10.03 / 20.42 / 9.39; 2-stage VAE 20.31 / 18.81 / -;
  RAE-L2 10.53 / 22.22 / 8.69; AE 12.95 / 58.73 / 10.66.
* Dai & Wipf (2019), Table 1, MNIST, one neutral architecture, no tuning, FID: VAE 16.6,
  WAE-MMD 115.0, 2-stage VAE 12.6.
* Chadebec & Allassonniere (2022), MNIST, latent 16, FID: AE with N(0, I) 46.41, WAE 20.71, VAE
  with N(0, I) 40.70, AE + GMM 9.60, VAE + GMM 13.13, RAE-L2 9.89.
* Tolstikhin et al. (2018) report FID on CelebA only (VAE 98, WAE-MMD 55); their MNIST runs
  (latent 8, 100 epochs, lambda 10) are shown as samples, not scored.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..claims import Case, Claim, ClaimSide, Measurement
from ..errors import UnknownNameError, VaelibError
from .factorial import CELLS

#: Where a claim is tested: at every latent dim of the run; at latent dim 2 only (exact likelihood);
#: at the latent dims above 2 (AIS); at the latent dims above the data's intrinsic dimension; or
#: at the smaller training sets of the data-size sweep (middle latent dim; a side's label gets
#: ``-n<size>`` there).
TestedAt = Literal["every latent dim", "latent dim 2", "latent dims above 2", "above the intrinsic dim",
                   "smaller training sets"]

#: The questions the claims answer, in the bottom line's order.
QUESTIONS: dict[str, str] = {
    "G": "Does a generator need a random z?",
    "R": "What does a random z buy, at the same regulariser?",
    "S": "A learned sigma(x) or a fixed sigma0, at the same per-sample KL?",
    "P": "Per-sample KL or aggregate matching, at the same randomness?",
    "L": "Whose generative model has the higher likelihood?",
    "D": "Does ex-post density estimation help less with less data?",
    "T": "The thread's own claim",
}


@dataclass(frozen=True)
class BookClaim:
    """One row of the claim table: "a is lower than b" (``expected="higher"``: higher), its texts, sides and scope.

    ``changes`` says what the contrast changes: one thing, or what else differs.
    """

    claim: str
    literature: str
    refuted_if: str
    a: ClaimSide
    b: ClaimSide
    changes: str
    expected: str = "lower"
    tested_at: TestedAt = "every latent dim"
    digits: int = 2

    def for_run(self, key: str, dims: Sequence[int], above_intrinsic: Sequence[int], mid_dim: int,
                data_sizes: Sequence[int], n_train: int) -> Claim:
        """This claim as a testable :class:`vaelib.claims.Claim` for a run with these dims and data sizes."""
        if self.tested_at == "smaller training sets":
            cases = tuple(Case(n, Measurement(f"{self.a.design}-n{n}", mid_dim, self.a.metric),
                               Measurement(self.b.design, mid_dim, self.b.metric)) for n in data_sizes if n != n_train)
            condition = "n"
        else:
            conditions = {"every latent dim": list(dims), "latent dim 2": [d for d in dims if d <= 2],
                          "latent dims above 2": [d for d in dims if d > 2],
                          "above the intrinsic dim": list(above_intrinsic)}[self.tested_at]
            cases = tuple(Case(d, Measurement(self.a.design, d, self.a.metric), Measurement(self.b.design, d, self.b.metric))
                          for d in conditions)
            condition = "d"
        return Claim(key, self.claim, self.literature, self.refuted_if, self.a.label, self.b.label, cases,
                     condition=condition, digits=self.digits, expected=self.expected)


#: The four numbers of sample quality: (metric suffix, key suffix, expected direction for "a is better", unit text).
SAMPLE_NUMBERS: tuple[tuple[str, str, str, str], ...] = (
    ("fid", "fid", "lower", "FID"),
    ("precision", "precision", "higher", "precision"),
    ("recall", "recall", "higher", "recall"),
    ("pixel_entropy_nats", "blur", "lower", "pixel entropy (blur)"),
)


def _sample_quality(key: str, claim: str, literature: str, a: tuple[str, str, str], b: tuple[str, str, str],
                    changes: str) -> dict[str, BookClaim]:
    """The four rows of "a's samples are better than b's": a and b are (record label, sampler, label in the text)."""
    rows = {}
    for metric, suffix, direction, name in SAMPLE_NUMBERS:
        worse = "not significantly" + (" below" if direction == "lower" else " above")
        rows[f"{key}.{suffix}"] = BookClaim(
            f"{claim} ({name}; {'lower' if direction == 'lower' else 'higher'} is better)", literature,
            f"{a[2]}'s {name} {worse} {b[2]}'s",
            ClaimSide(a[0], f"{a[1]}/{metric}", f"{a[2]} {name}"), ClaimSide(b[0], f"{b[1]}/{metric}", f"{b[2]} {name}"),
            changes, expected=direction, digits=3 if suffix in ("precision", "recall", "blur") else 2)
    return rows


GHOSH = ("Ghosh et al. (2020), Table 1, MNIST (conv nets, latent 16, 100 epochs), Inception FID of N(0, I) / GMM "
         "samples: ")
_DESIGNS_VS_VAE = [label for label in CELLS if label != "vae"]

#: The claims the head-to-head tests, by id, grouped by :data:`QUESTIONS` (the first letter of the id).
CLAIMS: dict[str, BookClaim] = {
    **_sample_quality(
        "G1", "The asker's proposal works as a generator: deterministic codes matched to N(0, I) by MMD (WAE-MMD) "
              "give better prior samples than the VAE",
        GHOSH + "WAE 20.42 vs VAE 19.21 (about a tie); Dai & Wipf (2019), Table 1, MNIST: WAE-MMD 115.0 vs VAE 16.6; "
                "Tolstikhin et al. (2018) report FID on CelebA only (WAE-MMD 55 vs VAE 98)",
        ("wae-mmd", "prior", "WAE-MMD"), ("vae", "prior", "VAE"),
        "two things: the noise (none vs learned) and the regulariser (aggregate MMD vs per-sample KL); R1 and P1 "
        "separate them"),
    **_sample_quality(
        "G2", "A plain AE decoded from N(0, I) gives poor samples; a GMM fitted to its codes gives better ones",
        GHOSH + "AE 58.73 with N(0, I) vs 10.66 with the GMM; Chadebec & Allassonniere (2022), MNIST, latent 16: "
                "46.41 vs 9.60",
        ("ae", "gmm", "AE + GMM"), ("ae", "prior", "AE + N(0, I)"), "the sampler only (same models)"),
    **_sample_quality(
        "G3", "No random z is needed for good samples: a deterministic AE with a GMM fitted to its codes beats the VAE "
              "sampled from its prior",
        GHOSH + "AE + GMM 10.66 vs VAE + N(0, I) 19.21; Chadebec & Allassonniere (2022): 9.60 vs 40.70",
        ("ae", "gmm", "AE + GMM"), ("vae", "prior", "VAE + N(0, I)"),
        "the whole recipe: no noise, no regulariser and a fitted sampler against the VAE with its prior"),
    **_sample_quality(
        "G4", "A second-stage VAE on the VAE's codes (the two-stage VAE) samples better than an AE with a GMM",
        "Dai & Wipf (2019), Table 1, MNIST: 2-stage VAE 12.6 vs VAE 16.6; " + GHOSH + "2-stage VAE 18.81 vs "
        "AE + GMM 10.66",
        ("vae", "two-stage", "VAE + two-stage"), ("ae", "gmm", "AE + GMM"),
        "two things: the model (VAE vs AE) and the fitted sampler (second VAE vs GMM)"),
    "R1.c2st": BookClaim(
        "Above the data's intrinsic dimension, noise lets the codes fill N(0, I): under the same aggregate MMD, a "
        "learned-sigma encoder's sampled codes are harder to tell from N(0, I) than deterministic ones "
        "(classifier two-sample accuracy; 0.5 = indistinguishable)",
        "Rubenstein et al. (2018), WAEs on MNIST and CelebA: with a latent dim above the data's intrinsic "
        "dimension, deterministic codes stay on a lower-dimensional set and do not match N(0, I); random encoders "
        "fill it (shown as figures and MMD curves, no table to quote)",
        "the learned-sigma MMD codes not significantly harder to tell from N(0, I) than WAE-MMD's",
        ClaimSide("learned-mmd", "agg_c2st_accuracy", "learned sigma + MMD"),
        ClaimSide("wae-mmd", "agg_c2st_accuracy", "WAE-MMD"), "the noise only (same MMD, same weight)",
        tested_at="above the intrinsic dim", digits=3),
    "R1.mmd": BookClaim(
        "The same, judged by the MMD between the codes and N(0, I) samples (the quantity both train on)",
        "Rubenstein et al. (2018), as R1.c2st", "the learned-sigma MMD not significantly below WAE-MMD's",
        ClaimSide("learned-mmd", "agg_mmd", "learned sigma + MMD"), ClaimSide("wae-mmd", "agg_mmd", "WAE-MMD"),
        "the noise only", tested_at="above the intrinsic dim", digits=4),
    "R1.sw": BookClaim(
        "The same, judged by the sliced Wasserstein distance to N(0, I)", "Rubenstein et al. (2018), as R1.c2st",
        "the learned-sigma distance not significantly below WAE-MMD's",
        ClaimSide("learned-mmd", "agg_sw", "learned sigma + MMD"), ClaimSide("wae-mmd", "agg_sw", "WAE-MMD"),
        "the noise only", tested_at="above the intrinsic dim", digits=4),
    "R1.kl": BookClaim(
        "The same, judged by the KL of a Gaussian fitted to the codes to N(0, I)", "Rubenstein et al. (2018), as "
        "R1.c2st", "the learned-sigma Gaussian KL not significantly below WAE-MMD's",
        ClaimSide("learned-mmd", "agg_gauss_kl_nats", "learned sigma + MMD"),
        ClaimSide("wae-mmd", "agg_gauss_kl_nats", "WAE-MMD"), "the noise only", tested_at="above the intrinsic dim",
        digits=3),
    "R2": BookClaim(
        "Encoder noise smooths the decoder: with no penalty on the codes, fixed noise gives a lower decoder Jacobian "
        "norm per code standard deviation than no noise",
        "Bishop (1995): training with small input noise is Tikhonov regularisation (under small residuals); "
        "Ghosh et al. (2020) read the VAE's noise as a decoder smoother (no number to quote)",
        "the fixed-noise decoder's scaled Jacobian not significantly below the plain AE's",
        ClaimSide("fixed", "jacobian_norm_scaled", "fixed noise"), ClaimSide("ae", "jacobian_norm_scaled", "AE"),
        "the noise only (no penalty on either)"),
    "R3": BookClaim(
        "Encoder noise regularises: with no penalty on the codes, fixed noise gives a smaller test-minus-train "
        "reconstruction gap than no noise",
        "Stack Exchange thread (2019), accepted answer: the sampled z throws information away, like a regulariser",
        "the fixed-noise gap not significantly below the plain AE's",
        ClaimSide("fixed", "gen_gap_nats", "fixed noise"), ClaimSide("ae", "gen_gap_nats", "AE"),
        "the noise only (the AE also fits its training images more tightly: see train_bce_nats)"),
    **_sample_quality(
        "R4", "Under the same per-sample KL, fixed encoder noise gives better prior samples than its sigma0 -> 0 limit "
              "(the RAE's L2 penalty at the same weight)",
        GHOSH + "RAE-L2 22.22 vs CV-VAE (sigma 0.7) 33.79: the deterministic limit scored better there",
        ("mean-only", "prior", "fixed noise + KL"), ("rae", "prior", "RAE (the limit)"),
        "the noise only (same penalty on the means, same beta)"),
    **_sample_quality(
        "S1", "A learned sigma(x) gives better prior samples than a fixed sigma0, under the same per-sample KL",
        GHOSH + "VAE 19.21 vs CV-VAE (sigma 0.7) 33.79",
        ("vae", "prior", "VAE"), ("mean-only", "prior", "fixed sigma0 + KL"),
        "the noise's form only (learned vs fixed, sigma0 tuned; same beta)"),
    **_sample_quality(
        "S2", "Ghosh et al.'s constant-variance VAE (sigma0 = 0.7, beta = 1) gives worse prior samples than the VAE",
        GHOSH + "CV-VAE 33.79 vs VAE 19.21; reconstructions 15.15 vs 18.26",
        ("vae", "prior", "VAE"), ("cv-vae", "prior", "CV-VAE"),
        "the noise's form, and beta (the book's VAE has beta tuned, Ghosh's 1)"),
    "S3": BookClaim(
        "Without a per-sample KL the learned noise does not survive: under aggregate MMD alone the posterior standard "
        "deviation shrinks below the VAE's",
        "Rubenstein et al. (2018): random-encoder WAEs drive the encoder's variances towards zero unless a penalty "
        "on the log-variances stops them (no number to quote)",
        "the learned-sigma MMD model's mean posterior sd not significantly below the VAE's",
        ClaimSide("learned-mmd", "posterior_sd_mean", "learned sigma + MMD"),
        ClaimSide("vae", "posterior_sd_mean", "VAE"), "the regulariser only (same learned head)", digits=3),
    "P1": BookClaim(
        "With the same learned noise, matching the aggregate (MMD) brings the codes closer to N(0, I) than the "
        "per-sample KL (classifier two-sample accuracy)",
        "Hoffman & Johnson (2016): the per-sample KL penalises information as well as the aggregate mismatch, so "
        "it need not close the mismatch; Tolstikhin et al. (2018): WAE codes match the prior (figures, no number)",
        "the learned-sigma MMD codes not significantly closer to N(0, I) than the VAE's",
        ClaimSide("learned-mmd", "agg_c2st_accuracy", "learned sigma + MMD"),
        ClaimSide("vae", "agg_c2st_accuracy", "VAE"), "the regulariser only (same learned head)", digits=3),
    "P2": BookClaim(
        "The VAE's KL term does not all buy information: I_q(x; z) is below the rate, so KL(q(z) || p(z)) = rate - I_q "
        "is above 0 (training split)",
        "Hoffman & Johnson (2016): I_q <= log N, so the rate's excess over log N is all aggregate mismatch",
        "I_q not significantly below the rate (the aggregate could match the prior)",
        ClaimSide("vae", "mi_nats", "I_q(x; z)"), ClaimSide("vae", "mi_rate_nats", "rate"),
        "two quantities of the same models (where the rate exceeds log N the ceiling decides it)"),
    "P3": BookClaim(
        "The asker's proposal matches the prior better than the VAE: WAE-MMD codes are harder to tell from N(0, I) "
        "than the VAE's sampled codes (classifier two-sample accuracy)",
        "Tolstikhin et al. (2018): WAE codes match the prior better than the VAE's (figures, no number)",
        "the WAE's codes not significantly harder to tell from N(0, I) than the VAE's",
        ClaimSide("wae-mmd", "agg_c2st_accuracy", "WAE-MMD"), ClaimSide("vae", "agg_c2st_accuracy", "VAE"),
        "two things: the noise and the regulariser (P1 and R1 separate them)", digits=3),
    **{f"L1.{label}": BookClaim(
        f"Only training on a likelihood bound gives a good likelihood: {label}'s exact log p(x) (quadrature, "
        f"decoder and prior) is below the VAE's",
        "the thread and the book's plan (claim 6): only stochastic encoders give a meaningful likelihood bound; "
        "Burda et al. (2016), binarised MNIST, latent 50: VAE test log p(x) about -86.8 nats (another data set "
        "and size: compares in kind, not in value)",
        f"{label}'s log p(x) not significantly below the VAE's",
        ClaimSide(label, "loglik_exact_nats", label), ClaimSide("vae", "loglik_exact_nats", "VAE"),
        "the whole design (the generative model is decoder + N(0, I) for both)", tested_at="latent dim 2")
       for label in _DESIGNS_VS_VAE},
    **{f"L2.{label}": BookClaim(
        f"The same above latent dim 2: {label}'s AIS estimate of log p(x) is below the VAE's",
        "as L1; Wu et al. (2017) introduced AIS for decoder-based models (no MNIST number for these designs)",
        f"{label}'s AIS log p(x) not significantly below the VAE's",
        ClaimSide(label, "loglik_ais_nats", label), ClaimSide("vae", "loglik_ais_nats", "VAE"),
        "the whole design", tested_at="latent dims above 2")
       for label in _DESIGNS_VS_VAE},
    "D1": BookClaim(
        "Ex-post density estimation helps the VAE less with less data: the GMM's FID gain over N(0, I) samples "
        "shrinks on smaller training sets (absolute gain)",
        "Chadebec & Allassonniere (2022): the ex-post GMM's advantage shrinks with little training data",
        "the gain not significantly smaller on a smaller training set",
        ClaimSide("vae", "gmm_gain_fid", "gain, fewer images"), ClaimSide("vae", "gmm_gain_fid", "gain, all images"),
        "the training-set size only", tested_at="smaller training sets"),
    "D2": BookClaim(
        "The same, as a relative gain (log of the prior's FID over the GMM's)",
        "Chadebec & Allassonniere (2022), as D1", "the relative gain not significantly smaller on a smaller set",
        ClaimSide("vae", "gmm_gain_log_fid", "log gain, fewer images"),
        ClaimSide("vae", "gmm_gain_log_fid", "log gain, all images"), "the training-set size only",
        tested_at="smaller training sets", digits=3),
    "D3": BookClaim(
        "The same for the plain AE (absolute gain)", "Chadebec & Allassonniere (2022), as D1",
        "the AE's gain not significantly smaller on a smaller training set",
        ClaimSide("ae", "gmm_gain_fid", "gain, fewer images"), ClaimSide("ae", "gmm_gain_fid", "gain, all images"),
        "the training-set size only", tested_at="smaller training sets"),
    "D4": BookClaim(
        "The same for the plain AE (relative gain)", "Chadebec & Allassonniere (2022), as D1",
        "the AE's relative gain not significantly smaller on a smaller training set",
        ClaimSide("ae", "gmm_gain_log_fid", "log gain, fewer images"),
        ClaimSide("ae", "gmm_gain_log_fid", "log gain, all images"), "the training-set size only",
        tested_at="smaller training sets", digits=3),
    "T1": BookClaim(
        "Thread: the stochastic link regularises: the VAE's test-minus-train reconstruction gap is smaller than that "
        "of an AE trained to the same training reconstruction",
        "Stack Exchange thread (2019), accepted answer: the sampled z throws information away, like a regulariser",
        "the VAE's gap not significantly below the matched AE's",
        ClaimSide("vae", "gen_gap_nats", "VAE"), ClaimSide("ae-matched", "gen_gap_nats", "matched AE"),
        "two things: the noise and the KL (R3 isolates the noise)"),
}


def claim(key: str) -> BookClaim:
    """The claim with id ``key`` from :data:`CLAIMS`; UnknownNameError naming the ids for any other."""
    if key not in CLAIMS:
        raise UnknownNameError(f"unknown claim {key!r}; the claims are {', '.join(claim_families())} "
                               f"(with .fid/.precision/.recall/.blur rows for sample quality)")
    return CLAIMS[key]


def claim_family(key: str) -> list[str]:
    """The ids of the rows of claim ``key``: the key itself, or the rows ``key.*`` of a family (e.g. ``G1``);
    UnknownNameError when neither exists."""
    rows = [k for k in CLAIMS if k == key or k.startswith(key + ".")]
    if not rows:
        claim(key)
    return rows


def claim_families() -> list[str]:
    """The family ids in the table's order: ``G1``, ``G2``, ..., ``R1``, ``R2``, ..., ``T1``."""
    return list(dict.fromkeys(k.split(".")[0] for k in CLAIMS))


def mention_claims(*keys: str) -> str:
    """How prose cites claims, checked against the table: ``claim S1``, ``claims G1 and P3``, ``claims G1, R1 and P1``.

    A key is a row id or a family id (:func:`claim_family`); raises UnknownNameError for any other.
    """
    if not keys:
        raise VaelibError("mention_claims needs at least one claim id")
    for key in keys:
        claim_family(key)
    if len(keys) == 1:
        return f"claim {keys[0]}"
    return f"claims {', '.join(keys[:-1])} and {keys[-1]}"


def book_claims(dims: Sequence[int], *, above_intrinsic: Sequence[int] = (), mid_dim: int | None = None,
                data_sizes: Sequence[int] = (), n_train: int = 0) -> list[Claim]:
    """Every claim of :data:`CLAIMS` as a testable :class:`vaelib.claims.Claim` for one run, in the table's order.

    ``dims``: the latent dims compared; ``above_intrinsic``: those above the data's estimated
    intrinsic dimension; ``mid_dim``: the latent dim of the data-size sweep (default: the middle of
    ``dims``); ``data_sizes``: its training-set sizes and ``n_train`` the full one (whose models
    are the main ones). A claim without its models in the records is reported as not tested by
    :func:`vaelib.claims.claim_results`.
    """
    dims = list(dims)
    mid = mid_dim if mid_dim is not None else dims[len(dims) // 2]
    return [spec.for_run(key, dims, list(above_intrinsic), mid, list(data_sizes), n_train)
            for key, spec in CLAIMS.items()]


__all__ = ["BookClaim", "CLAIMS", "QUESTIONS", "SAMPLE_NUMBERS", "TestedAt", "book_claims", "claim", "claim_families",
           "claim_family", "mention_claims"]
