"""Latent-space metrics: active units, participation ratio, mutual information, aggregate vs prior, prior holes.

Codes are (n, latent_dim) tensors. Which codes a metric should see is part of its
definition and is stated per function: encoder means (``E_q[z|x]``, = f(x) for a
deterministic encoder) or sampled codes (one z ~ q(z|x) per image: a sample of the
aggregate posterior q(z) = E_x q(z|x)).

Prior holes are where the aggregate posterior q(z) puts much less density than the prior
p(z) = N(0, I): :func:`prior_hole_rate_sampled` is the share of prior samples with
q(z)/p(z) < 0.1, q one smoothed density (a Gaussian mixture) fitted to *sampled* codes, the
same estimator for every design (:func:`prior_hole_rate_smoothed`). (Version 0.4.0 used the
exact mixture of the posteriors for stochastic encoders and a fit to f(x) for deterministic
ones: the two have different nulls, codes drawn from N(0, I) reading near 1 under a mixture of
narrow posteriors and near 0 under the fit.)

With q(z) the mixture of q(z|x_i) over the N images, the mixture estimate is I_q(x; z) itself
up to Monte Carlo error, capped at log N: :func:`aggregate_information` averages it over
draws, gives its standard error, and splits the rate into I_q + KL(q(z) || p(z)). Active units come with their per-dimension reasons
(:func:`unit_statistics`); :func:`active_units_information` counts by what a unit can carry
(:func:`unit_capacity`), which a fixed sigma0 does not fool.

Every random quantity uses a ``torch.Generator`` seeded with ``seed``; nothing touches
torch's global random state. Bad codes (NaN or infinite values, wrong shape, too few
rows) raise :class:`~vaelib.errors.VaelibError`.
"""
from __future__ import annotations

import functools
import math

import torch

from ..blas import eigh, matmul
from ..errors import VaelibError
from ..models import AutoEncoder
from ..regularisers import kl_to_standard_normal, mmd_imq, sliced_wasserstein
from ..samplers import Sampler, fit_sampler
from .registry import EvaluationContext, MetricGroup

#: Images per encoder batch.
BATCH_SIZE: int = 1000

#: N(0, I) reference samples are drawn from a generator seeded with ``seed + PRIOR_SEED_OFFSET``:
#: codes sampled with the same ``seed`` (z = mean + sigma * eps) would otherwise share their
#: eps with the reference sample, and a posterior close to the prior would look like a perfect match.
PRIOR_SEED_OFFSET: int = 7_919_000

#: A latent dimension with mean KL(q(z_d|x) || N(0, 1)) at or below this many nats is inactive
#: by its KL (the per-unit KL of the history): since I(x; z_d) <= E_x KL(q(z_d|x) || p(z_d)), such a dimension
#: carries at most 0.01 nats of information about each image.
KL_ACTIVE_THRESHOLD: float = 0.01

#: A prior sample z is in a hole when q(z) / p(z) < HOLE_RATIO (:func:`prior_hole_rate`): the
#: aggregate posterior puts less than a tenth of the prior's density there.
HOLE_RATIO: float = 0.1

#: Candidate numbers of components of the full-covariance Gaussian mixture that
#: :func:`prior_hole_rate_smoothed` fits to sampled codes; it keeps the one whose fit to 4/5 of
#: the codes scores the held-out fifth best.
HOLE_SMOOTH_COMPONENTS: tuple[int, ...] = (1, 2, 5, 10)

_LOG_2PI = math.log(2.0 * math.pi)


def check_codes(codes: torch.Tensor, what: str, *, min_rows: int = 2, latent_dim: int | None = None) -> None:
    """Raise VaelibError unless ``codes`` is a finite float tensor (n, d) with n >= ``min_rows``.

    ``latent_dim``, when given, must equal d. ``what`` names the metric in the message.
    """
    if not isinstance(codes, torch.Tensor) or not codes.is_floating_point() or codes.ndim != 2:
        got = tuple(codes.shape) if isinstance(codes, torch.Tensor) else type(codes).__name__
        raise VaelibError(f"{what} needs a 2-D float tensor of codes (n, latent_dim), got {got}")
    if latent_dim is not None and codes.shape[1] != latent_dim:
        raise VaelibError(f"{what}: codes have {codes.shape[1]} dims but the model's latent_dim is {latent_dim}")
    if codes.shape[0] < min_rows:
        raise VaelibError(f"{what} needs at least {min_rows} codes, got {codes.shape[0]}")
    n_nan = int(torch.isnan(codes).sum())
    if n_nan:
        raise VaelibError(f"{what}: the codes contain {n_nan} NaN values (of {codes.numel()}); "
                          "the encoder diverged or the input had NaNs")
    n_inf = int(torch.isinf(codes).sum())
    if n_inf:
        raise VaelibError(f"{what}: the codes contain {n_inf} infinite values (of {codes.numel()})")


def _encode_checked(model: AutoEncoder, x: torch.Tensor,
                    batch_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Encoder means (n, d) and log-variances (n, d) or None (deterministic) of ``x``, batched.

    :meth:`AutoEncoder.encode_batched`; raises VaelibError when the means are not finite.
    """
    mean, logvar = model.encode_batched(x, batch_size)
    check_codes(mean, "the encoder", min_rows=1)
    return mean, logvar


def _check_threshold(threshold: float, what: str) -> None:
    """Raise VaelibError unless ``threshold`` is a finite real number >= 0."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold) \
            or threshold < 0:
        raise VaelibError(f"{what}: threshold must be a finite number >= 0, got {threshold!r}")


def _unit_statistics(model: AutoEncoder, x: torch.Tensor, batch_size: int, what: str) -> dict[str, torch.Tensor]:
    """:func:`unit_statistics`, naming the metric ``what`` in error messages."""
    mean, logvar = _encode_checked(model, x, batch_size)
    check_codes(mean, what)
    mean = mean.double()
    if logvar is None:
        posterior_variance = posterior_sd = torch.zeros_like(mean[0])
        kl = torch.full_like(mean[0], math.inf)
    else:
        logvar = logvar.double()
        var = torch.exp(logvar)
        posterior_variance = var.mean(dim=0)
        posterior_sd = torch.exp(0.5 * logvar).mean(dim=0)
        kl = (0.5 * (mean.pow(2) + var - 1.0 - logvar)).mean(dim=0)
    return {"mean_variance": mean.var(dim=0), "posterior_variance": posterior_variance, "posterior_sd": posterior_sd,
            "kl_nats": kl}


@torch.no_grad()
def unit_statistics(model: AutoEncoder, x: torch.Tensor, *, batch_size: int = BATCH_SIZE) -> dict[str, torch.Tensor]:
    """Per-dimension statistics of the encoder over the rows of ``x``: why a unit is (in)active.

    Returns float64 tensors of shape (latent_dim,) on the encoder's device:

    * ``mean_variance``: Var_x(E_q[z_d | x]), unbiased over the rows of ``x``, squared latent
      units: the quantity :func:`active_units` thresholds (Burda et al. 2016);
    * ``posterior_variance``: the mean over x of sigma_d(x)^2, squared latent units; zeros for
      a deterministic encoder (z = f(x));
    * ``posterior_sd``: the mean over x of sigma_d(x), latent units; zeros for a deterministic encoder;
    * ``kl_nats``: the mean over x of KL(q(z_d|x) || N(0, 1)) = 0.5 (mu^2 + sigma^2 - 1 - log sigma^2),
      nats; they sum to the ELBO's KL term. An upper bound on the information dim d carries
      about x. For a deterministic encoder q(z_d|x) is a point mass and the KL is infinite:
      every entry is ``inf``.

    A collapsed dimension has mean_variance ~ 0, posterior_variance ~ 1 and kl_nats ~ 0; a
    dimension with mean_variance ~ 0 but posterior_variance << 1 is not collapsed onto the
    prior, it encodes nothing and pays KL for a narrow posterior.
    Needs at least 2 rows (VaelibError).
    """
    return _unit_statistics(model, x, batch_size, "unit statistics")


@torch.no_grad()
def active_units(model: AutoEncoder, x: torch.Tensor, threshold: float = 0.01, *, batch_size: int = BATCH_SIZE) -> int:
    """Number of active latent units (Burda et al. 2016), a count in [0, latent_dim].

    Dimension d is active when Var_x(E_q[z_d | x]) > ``threshold`` (0.01 by default),
    the variance (unbiased, over the rows of ``x``) of the encoder mean (``mean_variance``
    of :func:`unit_statistics`). For a deterministic encoder E_q[z|x] = f(x), so every
    dimension that varies counts.
    """
    _check_threshold(threshold, "active units")
    stats = _unit_statistics(model, x, batch_size, "active units")
    return int((stats["mean_variance"] > threshold).sum())


def _unit_capacity(model: AutoEncoder, x: torch.Tensor, batch_size: int, what: str) -> torch.Tensor:
    """C_d of :func:`unit_capacity`, naming the metric ``what`` in error messages."""
    if not model.stochastic:
        raise VaelibError(f"{what} is only defined for stochastic encoders: a deterministic unit's noise is 0, "
                          "so its capacity is infinite")
    stats = _unit_statistics(model, x, batch_size, what)
    return 0.5 * torch.log1p(stats["mean_variance"] / stats["posterior_variance"])


@torch.no_grad()
def unit_capacity(model: AutoEncoder, x: torch.Tensor, *, batch_size: int = BATCH_SIZE) -> torch.Tensor:
    """Per latent dim, the Gaussian-channel capacity C_d = 0.5 log(1 + Var_x(mu_d(x)) / E_x[sigma_d(x)^2]); nats.

    Returns a float64 tensor (latent_dim,) on the encoder's device, from ``mean_variance``
    (unbiased over the rows of ``x``) and ``posterior_variance`` of :func:`unit_statistics`.
    C_d is what unit d can carry about x through z_d = mu_d(x) + sigma_d eps, measured by the
    signal-to-noise ratio of its mean: for sigma_d = 1 it is the book's 1/2 log(1 + Var(mu_d))
    bound. Unlike the KL to N(0, 1) it does not count a unit whose noise is merely narrower
    than the prior: a fixed-variance encoder (z = mu(x) + sigma0 eps) pays KL
    (sigma0^2 - 1 - log sigma0^2) / 2 per unit even where mu_d(x) = 0, but has C_d = 0 there.

    It is an upper bound on I(x; z_d) when sigma_d does not depend on x (exactly so for the
    fixed-variance head): with additive Gaussian noise of fixed power, no signal of that
    variance carries more than a Gaussian one does. When sigma_d(x) varies with x (the
    Gaussian head), C_d is not a bound: information carried by sigma_d(x) itself is not
    counted. The general bound is then 0.5 (log(Var_x(mu_d) + E_x[sigma_d^2]) - E_x[log sigma_d^2]),
    at least C_d (Jensen) and equal to it for constant sigma_d.
    Stochastic encoders only (VaelibError); needs at least 2 rows.
    """
    return _unit_capacity(model, x, batch_size, "unit capacity")


@torch.no_grad()
def active_units_information(model: AutoEncoder, x: torch.Tensor, threshold: float = KL_ACTIVE_THRESHOLD, *,
                             batch_size: int = BATCH_SIZE) -> int:
    """Number of latent dims whose capacity C_d (:func:`unit_capacity`) exceeds ``threshold`` nats; a count.

    A rule based on what a unit can carry about x, which a fixed sigma0 does not fool (unlike
    a rule by each unit's KL (metrics version 3's active_units_kl), which counts every unit of a fixed-variance
    encoder with sigma0 != 1
    as active). With the default 0.01 nats and a sigma_d that does not vary with x, a unit
    counted inactive carries at most 0.01 nats about x (C_d bounds I(x; z_d); see
    :func:`unit_capacity` for x-dependent sigma_d). Stochastic encoders only (VaelibError).
    """
    _check_threshold(threshold, "active units (information)")
    return int((_unit_capacity(model, x, batch_size, "active units (information)") > threshold).sum())


@torch.no_grad()
def participation_ratio(codes: torch.Tensor) -> float:
    """PCA participation ratio (sum_i lambda_i)^2 / sum_i lambda_i^2 of the codes' covariance, unitless.

    lambda_i are the eigenvalues of the (n-1)-normalised covariance of ``codes`` (n, d);
    computed as trace(C)^2 / ||C||_F^2, which equals it for a symmetric C. It is an
    effective number of dimensions in [1, d]: d for isotropic codes, 1 for codes on a
    line. Returns 0.0 when the codes do not vary at all (C = 0).
    """
    check_codes(codes, "participation ratio")
    c = codes.double()
    c = c - c.mean(dim=0)
    cov = c.T @ c / (c.shape[0] - 1)
    frob2 = float(cov.pow(2).sum())
    if frob2 == 0.0:
        return 0.0
    return float(torch.trace(cov)) ** 2 / frob2


def mi_ceiling(n: int) -> float:
    """log n in nats: the largest value :func:`mutual_information` can return over n data points."""
    if n < 1:
        raise VaelibError(f"mi_ceiling needs n >= 1, got {n}")
    return math.log(n)


def _log_normal_blocks(points: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, batch_size: int):
    """Yield (start, block) with block[b, n] = log N(points[start + b]; mean_n, diag(exp(logvar_n))) in nats.

    Everything float64. Two matmuls per block of ``batch_size`` points against all N components:
    -2 log N(z; m, v) - d log 2pi = z^2 . 1/v - 2 z . m/v + [sum m^2/v + sum log v].
    """
    d = mean.shape[1]
    inv_var = torch.exp(-logvar)                                         # (N, d)
    right = torch.cat([inv_var, -2.0 * mean * inv_var], dim=1).T         # (2d, N)
    const = (mean.pow(2) * inv_var + logvar).sum(dim=1) + d * _LOG_2PI   # (N,)
    for i in range(0, points.shape[0], batch_size):
        pb = points[i:i + batch_size]
        yield i, -0.5 * (matmul(torch.cat([pb.pow(2), pb], dim=1), right) + const)  # (b, N)


def _information_terms(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor,
                       batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row i, with z_i a draw from q(z|x_i): the mixture and leave-one-out terms, each (N,) float64, nats.

    mixture_i = log q(z_i|x_i) - logsumexp_j log q(z_i|x_j) and loo_i = log q(z_i|x_i) - logsumexp_{j != i}
    log q(z_i|x_j). Their means plus log N and log (N - 1) are the mixture estimate of I_q and the
    leave-one-out bound (:func:`mutual_information_bounds`).
    """
    own, others = [], []
    for i, log_q in _log_normal_blocks(z, mean, logvar, batch_size):
        b = log_q.shape[0]
        rows, cols = torch.arange(b, device=z.device), torch.arange(i, i + b, device=z.device)
        own.append(log_q[rows, cols])
        log_q[rows, cols] = -math.inf
        others.append(torch.logsumexp(log_q, dim=1))
    own, others = torch.cat(own), torch.cat(others)
    return own - torch.logaddexp(own, others), own - others


def _draw(mean: torch.Tensor, logvar: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
    """One z ~ N(mean, diag(exp(logvar))) per row (noise from ``gen``, ``mean``'s dtype); ``mean`` if logvar is None."""
    if logvar is None:
        return mean
    eps = torch.randn(mean.shape, generator=gen, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(0.5 * logvar) * eps


#: Independent draws of z ~ q(z|x_i) per image that :func:`aggregate_information` averages over.
INFORMATION_DRAWS: int = 10


def _check_count(value: int, name: str, minimum: int, what: str) -> None:
    """Raise VaelibError unless ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise VaelibError(f"{what}: {name} must be an integer >= {minimum}, got {value!r}")


@torch.no_grad()
def aggregate_information_mixture(means: torch.Tensor, logvars: torch.Tensor, *, seed: int = 0,
                                  n_draws: int = INFORMATION_DRAWS,
                                  batch_size: int = BATCH_SIZE) -> dict[str, float]:
    """I_q(x; z), the rate and KL(q(z) || p(z)) of the training-set mixture of Gaussian posteriors; nats.

    ``means`` and ``logvars`` (N, latent_dim) are the encoder means and log-variances of N
    images; q(z|x_i) = N(means_i, diag(exp(logvars_i))), x uniform over the N images, and the
    aggregate posterior q(z) = 1/N sum_i q(z|x_i) (the book's definition). Under it the
    mixture estimate E_i E_{z~q(z|x_i)}[log q(z|x_i) - log q(z)] is not a bound but I_q itself,
    up to Monte Carlo error from the sampled z. Returns (floats, nats unless said):

    * ``mi_nats``: the mixture estimate of I_q(x; z), averaged over ``n_draws`` independent draws
      of z_i ~ q(z|x_i) per image (noise from one generator seeded with ``seed``; the first
      draw is the z of :func:`mutual_information_bounds` for the same seed); in [0, log N];
    * ``mi_mc_error_nats``: its Monte Carlo standard error over the draws: sqrt(sum_i s_i^2 /
      (N^2 n_draws)), s_i^2 the sample variance over the draws of image i's term. The images
      are fixed (I_q is a property of these N images), so only the spread over draws counts;
    * ``rate_nats``: mean over the images of KL(q(z|x_i) || N(0, I)), closed form;
    * ``agg_kl_nats``: rate - I_q = KL(q(z) || p(z)) of the mixture (Hoffman & Johnson 2016);
      it carries the Monte Carlo error of ``mi_nats`` (and can then dip slightly below 0);
    * ``mi_ceiling_nats``: log N, the most I_q can be over N images;
    * ``mi_population_upper_nats``: the leave-one-out estimate mean_i [log q(z_i|x_i) -
      log (1/(N-1) sum_{j != i} q(z_i|x_j))], over the same draws: an upper bound on the
      *population* MI (Poole et al. 2019), not on I_q; it exceeds log N when posteriors barely overlap.

    Log densities are float64, ``batch_size`` x N at a time. Raises VaelibError for bad shapes,
    NaN or infinite values, fewer than 2 images, or ``n_draws`` < 2.
    """
    what = "aggregate information"
    check_codes(means, f"{what} (means)")
    check_codes(logvars, f"{what} (log-variances)")
    if means.shape != logvars.shape:
        raise VaelibError(f"{what}: means {tuple(means.shape)} and log-variances {tuple(logvars.shape)} "
                          "must have the same shape (N, latent_dim)")
    _check_count(n_draws, "n_draws", 2, what)
    _check_count(batch_size, "batch_size", 1, what)
    mean, logvar = means.detach().double(), logvars.detach().double().to(means.device)
    gen = torch.Generator(device=mean.device).manual_seed(seed)
    terms = [_information_terms(_draw(mean, logvar, gen), mean, logvar, batch_size) for _ in range(n_draws)]
    mixture = torch.stack([m for m, _ in terms])                        # (n_draws, N)
    loo = torch.stack([lo for _, lo in terms])
    n = mean.shape[0]
    mi = float(mixture.mean()) + math.log(n)
    rate = float(kl_to_standard_normal(mean, logvar).mean())
    return {"mi_nats": mi,
            "mi_mc_error_nats": math.sqrt(float(mixture.var(dim=0).sum()) / (n * n * n_draws)),
            "rate_nats": rate,
            "agg_kl_nats": rate - mi,
            "mi_ceiling_nats": mi_ceiling(n),
            "mi_population_upper_nats": float(loo.mean()) + math.log(n - 1)}


@torch.no_grad()
def aggregate_information(model: AutoEncoder, x: torch.Tensor, *, seed: int = 0, n_draws: int = INFORMATION_DRAWS,
                          batch_size: int = BATCH_SIZE) -> dict[str, float]:
    """I_q(x; z), rate and KL(q(z) || p(z)) of ``model``'s aggregate posterior over the rows of ``x``; nats.

    Encodes ``x`` (the training split, for the book) and returns
    :func:`aggregate_information_mixture` of its means and log-variances: ``mi_nats``,
    ``mi_mc_error_nats``, ``rate_nats``, ``agg_kl_nats``, ``mi_ceiling_nats`` and
    ``mi_population_upper_nats``. Only for stochastic encoders: a deterministic encoder's
    q(z|x) is a point mass and I(x; z) is infinite for continuous codes (VaelibError).
    """
    if not model.stochastic:
        raise VaelibError("aggregate information is only defined for stochastic encoders: a deterministic "
                          "encoder's I(x; z) is infinite for continuous codes")
    mean, logvar = _encode_checked(model, x, batch_size)
    return aggregate_information_mixture(mean, logvar, seed=seed, n_draws=n_draws, batch_size=batch_size)


def gaussian_kl_to_prior(codes: torch.Tensor) -> float:
    """KL(N(m, S) || N(0, I)) in nats of a Gaussian fitted to ``codes`` (sample mean, unbiased covariance).

    Closed form 0.5 * (tr S + |m|^2 - d - log det S), in float64, log det S the sum of the log eigenvalues
    (:func:`vaelib.blas.eigh`). Needs at least
    latent_dim + 1 codes (VaelibError otherwise); returns inf when S is singular.
    """
    check_codes(codes, "the Gaussian fit", min_rows=max(2, codes.shape[1] + 1) if codes.ndim == 2 else 2)
    c = codes.double()
    m = c.mean(dim=0)
    centred = c - m
    cov = matmul(centred.T, centred) / (c.shape[0] - 1)
    eigenvalues = eigh(cov)[0]   # on the pinned kernels (MKL's float64 linear algebra rounds by CPU vendor)
    if float(eigenvalues[0]) <= 0:
        return math.inf
    logdet = eigenvalues.log().sum()
    d = c.shape[1]
    return float(0.5 * (torch.trace(cov) + m.pow(2).sum() - d - logdet))


@functools.lru_cache(maxsize=64)
def _prior_floor(m: int, d: int, seed: int) -> tuple[float, float]:
    """(MMD^2, SW^2) between the two N(0, I) samples of :func:`_prior_pair`; cached, they depend on (m, d, seed)."""
    prior_a, prior_b = _prior_pair(m, d, seed)
    sw_gen = torch.Generator().manual_seed(seed + 1)
    return float(mmd_imq(prior_b, prior_a)), float(sliced_wasserstein(prior_b, prior_a, generator=sw_gen))


def _prior_pair(m: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent (m, d) N(0, I) samples on the CPU (generator seed ``seed + PRIOR_SEED_OFFSET``), float64.

    Drawn in float32 and widened, so the first is the same points as :func:`_prior_points`.
    """
    gen = torch.Generator().manual_seed(seed + PRIOR_SEED_OFFSET)
    return torch.randn((m, d), generator=gen).double(), torch.randn((m, d), generator=gen).double()


@torch.no_grad()
def aggregate_divergences(codes: torch.Tensor, *, seed: int = 0, n: int | None = 2000) -> dict[str, float]:
    """Divergences between a sample of codes and the prior N(0, I).

    Pass *sampled* codes for stochastic encoders (one z ~ q(z|x) per image: a sample
    of the aggregate posterior q(z)) and f(x) for deterministic ones; that is what
    :func:`vaelib.metrics.evaluate` does. At most ``n`` codes are used (a seeded random
    subset; ``None``: all), and every comparison draws as many N(0, I) samples (generator
    seed ``seed + PRIOR_SEED_OFFSET``, so they never reuse the noise of codes sampled with
    the same ``seed``).

    Every divergence is computed in float64 (codes and prior samples widened; the prior
    samples are drawn in float32, the same points as before). Returns (all floats):

    * ``mmd_to_prior``: unbiased MMD^2 with the multi-scale IMQ kernel
      (:func:`vaelib.regularisers.mmd_imq`), unitless; can be slightly negative;
    * ``mmd_prior_vs_prior``: the same between two independent N(0, I) samples of the
      same size: the noise floor an MMD is read against;
    * ``sw_to_prior``: sliced Wasserstein-2 squared (:func:`vaelib.regularisers.sliced_wasserstein`,
      50 seeded float64 directions), squared latent units;
    * ``sw_prior_vs_prior``: its noise floor, two N(0, I) samples, same directions;
    * ``gauss_kl_to_prior``: KL(N(m, S) || N(0, I)) of a Gaussian fitted to the codes,
      nats (only the first two moments: it is 0 for any distribution with mean 0 and
      covariance I). Needs at least latent_dim + 1 codes.
    """
    check_codes(codes, "aggregate divergences")
    if n is not None and n < 2:
        raise VaelibError(f"aggregate divergences need n >= 2, got {n}")
    if n is not None and codes.shape[0] > n:
        sub = torch.Generator().manual_seed(seed + 2)
        codes = codes[torch.randperm(codes.shape[0], generator=sub)[:n].to(codes.device)]
    m, d = codes.shape
    prior_a, _ = _prior_pair(m, d, seed)
    codes64 = codes.detach().double().cpu()
    sw_gen = torch.Generator().manual_seed(seed + 1)
    mmd_floor, sw_floor = _prior_floor(m, d, seed)
    return {
        "mmd_to_prior": float(mmd_imq(codes64, prior_a)),
        "mmd_prior_vs_prior": mmd_floor,
        "sw_to_prior": float(sliced_wasserstein(codes64, prior_a, generator=sw_gen)),
        "sw_prior_vs_prior": sw_floor,
        "gauss_kl_to_prior": gaussian_kl_to_prior(codes),
    }


def _check_hole_args(n_prior: int, ratio: float) -> None:
    """Raise VaelibError unless ``n_prior`` is an integer >= 1 and ``ratio`` a finite number > 0."""
    if isinstance(n_prior, bool) or not isinstance(n_prior, int) or n_prior < 1:
        raise VaelibError(f"prior hole rate: n_prior must be an integer >= 1, got {n_prior!r}")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not math.isfinite(ratio) or ratio <= 0:
        raise VaelibError(f"prior hole rate: ratio must be a finite number > 0, got {ratio!r}")


def _prior_points(n_prior: int, d: int, seed: int) -> torch.Tensor:
    """(n_prior, d) float64 N(0, I) samples on the CPU: the first of :func:`_prior_pair` (seed ``seed + PRIOR_SEED_OFFSET``)."""
    gen = torch.Generator().manual_seed(seed + PRIOR_SEED_OFFSET)
    return torch.randn((n_prior, d), generator=gen).double()


def _hole_share(log_q: torch.Tensor, prior: torch.Tensor, ratio: float) -> float:
    """Share of the rows of ``prior`` where log q - log N(0, I) < log ``ratio``; a fraction in [0, 1]."""
    log_p = -0.5 * (prior.pow(2).sum(dim=1) + prior.shape[1] * _LOG_2PI)
    return float((log_q.double().cpu() - log_p < math.log(ratio)).double().mean())


def _smoothed_density(codes: torch.Tensor, seed: int, n_components: int | None) -> Sampler:
    """The Gaussian mixture of :func:`prior_hole_rate_smoothed`, fitted to all of ``codes``."""
    if n_components is None:
        held_n = codes.shape[0] // 5
        perm = torch.randperm(codes.shape[0], generator=torch.Generator().manual_seed(seed + 3))
        held, fit = codes[perm[:held_n]], codes[perm[held_n:]]
        scores = {k: float(fit_sampler("gmm", fit, seed=seed, n_components=k).log_prob(held).double().mean())
                  for k in HOLE_SMOOTH_COMPONENTS if fit.shape[0] >= 2 * k}
        n_components = max(scores, key=scores.get)   # the first (fewest components) on a tie
    return fit_sampler("gmm", codes, seed=seed, n_components=n_components)


@torch.no_grad()
def prior_hole_rate_smoothed(codes: torch.Tensor, *, n_prior: int = 2000, seed: int = 0, ratio: float = HOLE_RATIO,
                             n_components: int | None = None) -> float:
    """Share of N(0, I) samples z where q_hat(z) / p(z) < ``ratio``, q_hat smoothed from sampled codes; in [0, 1].

    One estimator for every design: ``codes`` (n, latent_dim) are *sampled* codes, one
    z ~ q(z|x) per image (the codes f(x) themselves for a deterministic encoder), so they are a
    sample of the aggregate posterior whatever the head, and q_hat is a full-covariance Gaussian
    mixture fitted to them by EM (:func:`vaelib.samplers.fit_sampler`, ``random_state=seed``).
    ``n_components=None`` picks the number of components among :data:`HOLE_SMOOTH_COMPONENTS`
    by held-out log-likelihood (fit to a seeded 4/5 of the codes, score the other 1/5, refit the
    best on all); an integer fixes it. The ``n_prior`` prior samples (generator ``seed +
    PRIOR_SEED_OFFSET``) and ``ratio`` are as in :func:`prior_hole_rate_mixture`.

    Unlike the exact mixture of posteriors, whose narrow components leave gaps between
    them even when the codes follow the prior, the fitted density reads near 0 when the codes
    are drawn from N(0, I). It cannot see holes narrower than its components, and it smooths
    sharp edges (4,000 codes on the half-space z_1 > 0 read 0.42 at latent dim 2 and 0.44 at 8,
    not 0.5; with one component, 0.25). Needs at least
    max(2 * latent_dim + 2, 10) codes for the selection (max(2 * n_components, latent_dim + 1)
    with a fixed ``n_components``); VaelibError otherwise or for NaN codes.
    """
    what = "prior hole rate (smoothed)"
    if n_components is not None:
        _check_count(n_components, "n_components", 1, what)
    d = codes.shape[1] if getattr(codes, "ndim", 0) == 2 else 1
    min_rows = max(2 * d + 2, 10) if n_components is None else max(2 * n_components, d + 1)
    check_codes(codes, what, min_rows=min_rows)
    _check_hole_args(n_prior, ratio)
    density = _smoothed_density(codes.detach().cpu(), seed, n_components)
    prior = _prior_points(n_prior, d, seed)
    return _hole_share(density.log_prob(prior), prior, ratio)


@torch.no_grad()
def prior_hole_rate_sampled(model: AutoEncoder, x: torch.Tensor, *, n_prior: int = 2000, seed: int = 0,
                            ratio: float = HOLE_RATIO, n_components: int | None = None,
                            batch_size: int = BATCH_SIZE) -> float:
    """Share of N(0, I) samples z where q_hat(z) / p(z) < ``ratio``, q_hat smoothed from ``model``'s codes; in [0, 1].

    The same estimator for every design: draws one z ~ q(z|x) per row of ``x`` (noise from a
    generator seeded with ``seed``; z = f(x) for a deterministic encoder) and returns
    :func:`prior_hole_rate_smoothed` of those codes with the same ``n_prior``, ``seed``,
    ``ratio`` and ``n_components``.
    """
    mean, logvar = _encode_checked(model, x, batch_size)
    codes = _draw(mean, logvar, torch.Generator(device=mean.device).manual_seed(seed))
    return prior_hole_rate_smoothed(codes, n_prior=n_prior, seed=seed, ratio=ratio, n_components=n_components)



def latent_metrics(ctx: EvaluationContext) -> dict[str, float]:
    """The latent group: ``{name: value}`` as declared in :data:`METRIC_GROUP`.

    Active units and the participation ratio on the scored images; for a stochastic encoder the
    units' capacity rule, the mean posterior standard deviation, and the aggregate information
    over the images the model trained on (I_q with its Monte Carlo error, the rate, KL(q(z) || p(z))
    = rate - I_q, the population-MI bound); the divergences of the scored images' sampled codes from
    the prior; the prior hole rate of one smoothed density fitted to the sampled training codes, the
    same estimator for every design. Units per name in :data:`METRIC_GROUP`.
    """
    model, x, seed = ctx.model, ctx.x_scored, ctx.seed
    record = {"active_units": float(active_units(model, x))}
    record["participation_ratio"] = participation_ratio(ctx.scored_means)
    x_train = ctx.trained_on.x_train.to(model.device)
    if model.stochastic:
        record["active_units_capacity"] = float(active_units_information(model, x))
        record["posterior_sd_mean"] = float(unit_statistics(model, x_train)["posterior_sd"].mean())
        info = aggregate_information(model, x_train, seed=seed)
        record.update(mi_nats=info["mi_nats"], mi_mc_error_nats=info["mi_mc_error_nats"], mi_rate_nats=info["rate_nats"],
                      agg_kl_nats=info["agg_kl_nats"], mi_ceiling_nats=info["mi_ceiling_nats"],
                      mi_at_ceiling=1.0 if info["mi_ceiling_nats"] - info["mi_nats"] < 0.1 else 0.0,
                      mi_population_upper_nats=info["mi_population_upper_nats"])
    agg = aggregate_divergences(ctx.scored_codes, seed=seed)
    record.update(agg_mmd=agg["mmd_to_prior"], agg_mmd_floor=agg["mmd_prior_vs_prior"], agg_sw=agg["sw_to_prior"],
                  agg_gauss_kl_nats=agg["gauss_kl_to_prior"])
    record["prior_hole_rate"] = prior_hole_rate_sampled(model, x_train, seed=seed)
    return record


#: The latent group of :func:`vaelib.metrics.evaluate` and the names it emits.
METRIC_GROUP = MetricGroup("latent", latent_metrics, needs_codes=True, emits={
    "active_units": "latent dims with Var_x E_q[z_d|x] > 0.01 (Burda et al. 2016), count",
    "participation_ratio": "PCA participation ratio of the test codes (effective number of dims), in [1, latent_dim]",
    "active_units_capacity": "latent dims whose Gaussian-channel capacity 0.5 log(1 + Var_x mu_d / E_x sigma_d^2) "
                             "exceeds 0.01 nats on the test split (a fixed sigma0 does not count as activity), count; "
                             "stochastic designs only",
    "posterior_sd_mean": "mean over the training images and latent dims of the posterior standard deviation sigma_d(x) "
                         "(latent units); stochastic designs only",
    "mi_nats": "I_q(x; z) of the training split's aggregate posterior (the mixture of its N posteriors), its mixture "
               "estimate averaged over 10 draws of z; at most log N; stochastic designs only (nats)",
    "mi_mc_error_nats": "Monte Carlo standard error of mi_nats over the draws of z (nats)",
    "mi_rate_nats": "mean KL(q(z|x) || N(0, I)) over the same (training) split: rate = I_q(x; z) + KL(q(z) || p(z)) (nats)",
    "agg_kl_nats": "KL(q(z) || p(z)) of the training split's aggregate posterior = mi_rate_nats - mi_nats "
                   "(Hoffman & Johnson 2016), with the Monte Carlo error of mi_nats (nats)",
    "mi_ceiling_nats": "log N of the split used for mi_nats: I_q over N images cannot exceed it (nats)",
    "mi_at_ceiling": "1 when mi_nats is within 0.1 nats of its ceiling, else 0",
    "mi_population_upper_nats": "leave-one-out estimate over the same draws: an upper bound on the population "
                                "I(x; z) (Poole et al. 2019), not on I_q; exceeds log N when posteriors barely "
                                "overlap (nats)",
    "agg_mmd": "unbiased MMD^2 (IMQ, float64) between test codes (z ~ q(z|x)) and N(0, I) samples",
    "agg_mmd_floor": "the same MMD^2 between two N(0, I) samples of the same size: the noise floor",
    "agg_sw": "sliced Wasserstein-2^2 (float64) between test codes and N(0, I) samples",
    "agg_gauss_kl_nats": "KL(N(m, S) || N(0, I)) of a Gaussian fitted to the test codes (nats)",
    "prior_hole_rate": "share of N(0, I) samples z where q(z) / p(z) < 0.1, q a Gaussian mixture fitted to one sampled "
                       "code per training image (1 to 10 components by held-out likelihood; the same estimator for "
                       "every design; near 0 for codes drawn from N(0, I)), fraction",
})


__all__ = ["BATCH_SIZE", "HOLE_RATIO", "HOLE_SMOOTH_COMPONENTS", "INFORMATION_DRAWS", "KL_ACTIVE_THRESHOLD",
           "METRIC_GROUP", "PRIOR_SEED_OFFSET", "active_units", "active_units_information", "aggregate_divergences",
           "aggregate_information", "aggregate_information_mixture", "check_codes", "gaussian_kl_to_prior",
           "latent_metrics", "mi_ceiling", "participation_ratio", "prior_hole_rate_sampled", "prior_hole_rate_smoothed",
           "unit_capacity", "unit_statistics"]
