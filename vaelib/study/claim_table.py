"""The book's claims: one table keyed by claim id, each claim able to fail.

:data:`CLAIMS` holds each claim's texts (what it says, what the literature expects, what would
refute it), its two sides (record label or role, metric, label in the text) and where it is
tested. :func:`book_claims` turns the table into testable :class:`vaelib.claims.Claim` objects
for one run; prose cites claims through :func:`mention_claims`, so that a stale id fails.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..claims import Case, Claim, ClaimSide, Measurement
from ..errors import VaelibError, check_choice
from .contestants import ClaimRoles

#: Where a claim is tested: at every latent dim of the run, at the latent dims above the data's
#: intrinsic dimension, or at several training-set sizes (claim 7's sweep, at the middle latent dim).
TestedAt = Literal["every latent dim", "above the intrinsic dim", "training-set sizes"]


@dataclass(frozen=True)
class BookClaim:
    """One row of the claim table: "a is lower than b", with its texts, its sides and where it is tested.

    A side's ``design`` is a record label or a role of :class:`ClaimRoles` (e.g. ``"vae_tuned"``).
    ``{mid_dim}`` in ``claim`` stands for the middle latent dim of the run.
    """

    claim: str
    literature: str
    refuted_if: str
    a: ClaimSide
    b: ClaimSide
    tested_at: TestedAt = "every latent dim"
    digits: int = 2

    def for_run(self, key: str, dims: Sequence[int], above_intrinsic: Sequence[int], roles: ClaimRoles,
                mid_dim: int) -> Claim:
        """This claim as a testable :class:`vaelib.claims.Claim` for a run with these dims and roles."""
        a_design, b_design = roles.label_of(self.a.design), roles.label_of(self.b.design)
        if self.tested_at == "training-set sizes":
            sizes = [*roles.small_data, (roles.n_train, a_design)] if roles.small_data else []
            cases = tuple(Case(n, Measurement(label, mid_dim, self.a.metric), Measurement(label, mid_dim, self.b.metric))
                          for n, label in sizes)
            condition = "n"
        else:
            conditions = dims if self.tested_at == "every latent dim" else above_intrinsic
            cases = tuple(Case(d, Measurement(a_design, d, self.a.metric), Measurement(b_design, d, self.b.metric))
                          for d in conditions)
            condition = "d"
        return Claim(key, self.claim.replace("{mid_dim}", str(mid_dim)), self.literature, self.refuted_if,
                     self.a.label, self.b.label, cases, condition=condition, digits=self.digits)


#: The claims of the literature and of the thread that the head-to-head tests, by id (in the verdict table's order).
CLAIMS: dict[str, BookClaim] = {
    "1": BookClaim(
        "AE codes decoded from N(0,I) give poor samples; a GMM fitted to the codes gives better ones (FID)",
        "Ghosh et al. (2020): ex-post GMM sampling improves a deterministic AE's FID",
        "the AE's GMM-sample FID not significantly below its prior-sample FID",
        ClaimSide("ae", "gmm/fid", "AE+GMM FID"), ClaimSide("ae", "prior/fid", "AE+prior FID")),
    "2a": BookClaim(
        "The VAE's KL term does not all buy information: KL(q(z) || p(z)) = rate - I(x;z) is above 0 "
        "(the tighter upper bound on I(x;z), leave-one-out or log N, below the rate; training split)",
        "Hoffman & Johnson (2016): with I(x;z) <= log N, the aggregate posterior's KL to the prior is a "
        "sizeable part of the rate",
        "the upper bound on I(x;z) not significantly below the rate (the aggregate could match the prior)",
        ClaimSide("vae", "mi_upper_tight_nats", "I(x;z) upper bound"), ClaimSide("vae", "mi_rate_nats", "rate")),
    "2b": BookClaim(
        "Empirical-prior matching (WAE-MMD) brings the aggregate codes closer to N(0,I) than the VAE, "
        "judged by a classifier two-sample test neither trains on (accuracy, 0.5 = indistinguishable)",
        "Tolstikhin et al. (2018): WAE codes match the prior better than the VAE's",
        "the WAE's codes as easy to tell from N(0,I) as the VAE's, or easier",
        ClaimSide("wae-mmd", "agg_c2st_accuracy", "WAE C2ST acc."), ClaimSide("vae", "agg_c2st_accuracy", "VAE C2ST acc."),
        digits=3),
    "2c": BookClaim(
        "The asker's proposal works as a generator: deterministic codes matched to N(0,I) (WAE-MMD) give "
        "better prior samples than the VAE (FID)",
        "Tolstikhin et al. (2018): WAE-MMD samples score a better FID than the VAE's",
        "the WAE's prior FID not significantly below the VAE's",
        ClaimSide("wae-mmd", "prior/fid", "WAE FID"), ClaimSide("vae", "prior/fid", "VAE FID")),
    "3": BookClaim(
        "Above the data's intrinsic dimension a deterministic encoder cannot fill the latent space: its "
        "codes are easier to tell from N(0,I) than a stochastic encoder's (classifier two-sample test)",
        "Rubenstein et al. (2018): deterministic codes lie on a manifold of the data's dimension",
        "the WAE's codes not significantly easier to tell from N(0,I) than the VAE's above the intrinsic dim",
        ClaimSide("vae", "agg_c2st_accuracy", "VAE C2ST acc."), ClaimSide("wae-mmd", "agg_c2st_accuracy", "WAE C2ST acc."),
        tested_at="above the intrinsic dim", digits=3),
    "4": BookClaim(
        "A learned sigma(x) gives better prior samples than a fixed sigma0, both tuned on validation (FID)",
        "Kingma & Welling (2014) learn sigma(x); Ghosh et al. (2020) find a fixed variance works as well",
        "the tuned VAE's prior FID not significantly below the tuned mean-only model's",
        ClaimSide("vae_tuned", "prior/fid", "VAE (tuned beta) FID"),
        ClaimSide("mean-only", "prior/fid", "mean-only (tuned sigma0) FID")),
    "5": BookClaim(
        "Encoder noise smooths the decoder (lower Jacobian norm per code standard deviation than a plain AE)",
        "Ghosh et al. (2020): the VAE's noise acts as a smoothness regulariser on the decoder",
        "the VAE's scaled decoder Jacobian not significantly below the AE's",
        ClaimSide("vae", "jacobian_norm_scaled", "VAE"), ClaimSide("ae", "jacobian_norm_scaled", "AE")),
    "7": BookClaim(
        "The ex-post GMM also improves the VAE's samples, whatever the training-set size (FID, latent dim {mid_dim})",
        "Ghosh et al. (2020); Chadebec et al. (2022): ex-post GMM sampling improves VAEs as well as AEs",
        "at some training-set size the GMM's FID not significantly below the prior's",
        ClaimSide("vae", "gmm/fid", "VAE+GMM FID"), ClaimSide("vae", "prior/fid", "VAE+prior FID"),
        tested_at="training-set sizes"),
    "8b": BookClaim(
        "Thread: the sigma channel helps: the VAE's test ELBO beats the mean-only model with its best "
        "sigma0 (tuned on validation ELBO)",
        "Stack Exchange thread (2019), accepted answer: encoding (mu, sigma) beats encoding one code",
        "the tuned mean-only ELBO not significantly below the VAE's",
        ClaimSide("mean_only_elbo", "elbo_nats", "mean-only ELBO"), ClaimSide("vae", "elbo_nats", "VAE ELBO")),
    "8c": BookClaim(
        "Thread: the stochastic link regularises: smaller test-minus-train reconstruction gap than an AE "
        "trained to the same training reconstruction",
        "Stack Exchange thread (2019), accepted answer: the sampled z throws information away, like a "
        "regulariser",
        "the VAE's gap not significantly below the matched AE's",
        ClaimSide("vae", "gen_gap_nats", "VAE gap"), ClaimSide("ae_matched", "gen_gap_nats", "matched-AE gap")),
}


def claim(key: str) -> BookClaim:
    """The claim with id ``key`` from :data:`CLAIMS`; UnknownNameError naming the ids for any other."""
    return CLAIMS[check_choice("claim", key, CLAIMS)]


def mention_claims(*keys: str) -> str:
    """How prose cites claims, checked against the table: ``claim 4``, ``claims 2b and 3``, ``claims 1, 2a and 3``.

    Raises UnknownNameError for an id that is not in :data:`CLAIMS`.
    """
    if not keys:
        raise VaelibError("mention_claims needs at least one claim id")
    for key in keys:
        claim(key)
    if len(keys) == 1:
        return f"claim {keys[0]}"
    return f"claims {', '.join(keys[:-1])} and {keys[-1]}"


def book_claims(dims: Sequence[int], *, above_intrinsic: Sequence[int] = (), roles: ClaimRoles | None = None,
                mid_dim: int | None = None) -> list[Claim]:
    """Every claim of :data:`CLAIMS` as a testable :class:`vaelib.claims.Claim` for one run, in the table's order.

    ``dims``: the latent dims compared; ``above_intrinsic``: those above the data's estimated
    intrinsic dimension (claim 3 is tested there only); ``roles``: the labels of the tuned and
    matched models and of the data-size sweep (claims 4, 7, 8b, 8c); ``mid_dim``: the latent dim
    of the data-size sweep (default: the middle of ``dims``). A claim without its models in the
    records is reported as not tested by :func:`vaelib.claims.claim_results`.
    """
    roles = roles or ClaimRoles()
    dims = list(dims)
    mid = mid_dim if mid_dim is not None else dims[len(dims) // 2]
    return [spec.for_run(key, dims, list(above_intrinsic), roles, mid) for key, spec in CLAIMS.items()]


__all__ = ["BookClaim", "CLAIMS", "TestedAt", "book_claims", "claim", "mention_claims"]
