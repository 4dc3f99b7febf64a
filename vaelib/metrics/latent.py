"""Latent-space metrics: active units, participation ratio, mutual information, aggregate vs prior, prior holes.

Codes are (n, latent_dim) tensors. Which codes a metric should see is part of its
definition and is stated per function: encoder means (``E_q[z|x]``, = f(x) for a
deterministic encoder) or sampled codes (one z ~ q(z|x) per image: a sample of the
aggregate posterior q(z) = E_x q(z|x)).

Every random quantity uses a ``torch.Generator`` seeded with ``seed``; nothing touches
torch's global random state. Bad codes (NaN or infinite values, wrong shape, too few
rows) raise :class:`~vaelib.errors.VaelibError`.
"""
from __future__ import annotations

import functools
import math

import torch

from ..errors import VaelibError
from ..models import AutoEncoder
from ..regularisers import mmd_imq, sliced_wasserstein, squared_distances

#: Images per encoder batch.
BATCH_SIZE: int = 1000

#: N(0, I) reference samples are drawn from a generator seeded with ``seed + PRIOR_SEED_OFFSET``:
#: codes sampled with the same ``seed`` (z = mean + sigma * eps) would otherwise share their
#: eps with the reference sample, and a posterior close to the prior would look like a perfect match.
PRIOR_SEED_OFFSET: int = 7_919_000


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


def _encode_all(model: AutoEncoder, x: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Encoder means (n, d) and log-variances (n, d) or None (deterministic) of ``x``, batched."""
    model.check_input(x)
    x = x.to(next(model.parameters()).device)
    means, logvars = [], []
    for xb in x.split(batch_size):
        enc = model.encode(xb)
        means.append(enc.mean)
        if enc.logvar is not None:
            logvars.append(enc.logvar.expand_as(enc.mean))
    mean = torch.cat(means)
    check_codes(mean, "the encoder", min_rows=1)
    return mean, (torch.cat(logvars) if logvars else None)


@torch.no_grad()
def active_units(model: AutoEncoder, x: torch.Tensor, threshold: float = 0.01, *, batch_size: int = BATCH_SIZE) -> int:
    """Number of active latent units (Burda et al. 2016), a count in [0, latent_dim].

    Dimension d is active when Var_x(E_q[z_d | x]) > ``threshold`` (0.01 by default),
    the variance (unbiased, over the rows of ``x``) of the encoder mean. For a
    deterministic encoder E_q[z|x] = f(x), so every dimension that varies counts.
    """
    mean, _ = _encode_all(model, x, batch_size)
    check_codes(mean, "active units")
    return int((mean.double().var(dim=0) > threshold).sum())


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


@torch.no_grad()
def mutual_information(model: AutoEncoder, x: torch.Tensor, *, seed: int = 0, batch_size: int = BATCH_SIZE) -> float:
    """I_q(x; z) in nats over the data set ``x``, with the aggregate mixture q(z) = 1/N sum_n q(z|x_n).

    Estimates E_x E_{z~q(z|x)} [log q(z|x) - log q(z)] with one seeded z_n ~ q(z|x_n)
    per row and log q(z_n) = logsumexp_m log q(z_n|x_m) - log N over all N components
    (float64, a matrix of ``batch_size`` x N log densities at a time, from two matmuls).

    The estimate is bounded by log N (:func:`mi_ceiling`): with the 4,000 training
    images of mnist5k the ceiling is log 4000 = 8.29 nats, with 1,000 test images only
    6.91. A value near the ceiling means "at least this much", not the true MI; use the
    largest split available and report the ceiling next to it.

    Only defined for stochastic encoders: a deterministic encoder's q(z|x) is a point
    mass, so I(x; z) is infinite for continuous codes (VaelibError).
    """
    if not model.stochastic:
        raise VaelibError("mutual information is only defined for stochastic encoders: a deterministic "
                          "encoder's I(x; z) is infinite for continuous codes")
    if x.shape[0] < 2:
        raise VaelibError(f"mutual information needs at least 2 data points, got {x.shape[0]}")
    mean, logvar = _encode_all(model, x, batch_size)
    mean, logvar = mean.double(), logvar.double()
    gen = torch.Generator(device=mean.device).manual_seed(seed)
    eps = torch.randn(mean.shape, generator=gen, device=mean.device, dtype=mean.dtype)
    z = mean + torch.exp(0.5 * logvar) * eps
    n, d = mean.shape
    inv_var = torch.exp(-logvar)                                         # (N, d)
    # -2 log N(z; m, v) - d log 2pi = z^2 . 1/v - 2 z . m/v + [sum m^2/v + sum log v]
    right = torch.cat([inv_var, -2.0 * mean * inv_var], dim=1).T         # (2d, N)
    const = (mean.pow(2) * inv_var + logvar).sum(dim=1)                  # (N,)
    total = 0.0
    for i in range(0, n, batch_size):
        zb = z[i:i + batch_size]
        b = zb.shape[0]
        log_q = -0.5 * (torch.cat([zb.pow(2), zb], dim=1) @ right + const)  # (b, N), without -d/2 log 2pi
        own = log_q[torch.arange(b, device=z.device), torch.arange(i, i + b, device=z.device)]
        total += float((own - torch.logsumexp(log_q, dim=1)).sum())
    return total / n + math.log(n)


def gaussian_kl_to_prior(codes: torch.Tensor) -> float:
    """KL(N(m, S) || N(0, I)) in nats of a Gaussian fitted to ``codes`` (sample mean, unbiased covariance).

    Closed form 0.5 * (tr S + |m|^2 - d - log det S), in float64. Needs at least
    latent_dim + 1 codes (VaelibError otherwise); returns inf when S is singular.
    """
    check_codes(codes, "the Gaussian fit", min_rows=max(2, codes.shape[1] + 1) if codes.ndim == 2 else 2)
    c = codes.double()
    m = c.mean(dim=0)
    centred = c - m
    cov = centred.T @ centred / (c.shape[0] - 1)
    sign, logdet = torch.linalg.slogdet(cov)
    if float(sign) <= 0:
        return math.inf
    d = c.shape[1]
    return float(0.5 * (torch.trace(cov) + m.pow(2).sum() - d - logdet))


@functools.lru_cache(maxsize=64)
def _prior_floor(m: int, d: int, seed: int) -> tuple[float, float]:
    """(MMD^2, SW^2) between the two N(0, I) samples of :func:`_prior_pair`; cached, they depend on (m, d, seed)."""
    prior_a, prior_b = _prior_pair(m, d, seed)
    sw_gen = torch.Generator().manual_seed(seed + 1)
    return float(mmd_imq(prior_b, prior_a)), float(sliced_wasserstein(prior_b, prior_a, generator=sw_gen))


def _prior_pair(m: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent (m, d) float32 N(0, I) samples on the CPU (generator seed ``seed + PRIOR_SEED_OFFSET``)."""
    gen = torch.Generator().manual_seed(seed + PRIOR_SEED_OFFSET)
    return torch.randn((m, d), generator=gen), torch.randn((m, d), generator=gen)


@torch.no_grad()
def aggregate_divergences(codes: torch.Tensor, *, seed: int = 0, n: int | None = 2000) -> dict[str, float]:
    """Divergences between a sample of codes and the prior N(0, I).

    Pass *sampled* codes for stochastic encoders (one z ~ q(z|x) per image: a sample
    of the aggregate posterior q(z)) and f(x) for deterministic ones; that is what
    :func:`vaelib.metrics.evaluate` does. At most ``n`` codes are used (a seeded random
    subset; ``None``: all), and every comparison draws as many N(0, I) samples (generator
    seed ``seed + PRIOR_SEED_OFFSET``, so they never reuse the noise of codes sampled with
    the same ``seed``).

    Returns (all floats):

    * ``mmd_to_prior``: unbiased MMD^2 with the multi-scale IMQ kernel
      (:func:`vaelib.regularisers.mmd_imq`), unitless; can be slightly negative;
    * ``mmd_prior_vs_prior``: the same between two independent N(0, I) samples of the
      same size: the noise floor an MMD is read against;
    * ``sw_to_prior``: sliced Wasserstein-2 squared (:func:`vaelib.regularisers.sliced_wasserstein`,
      50 seeded directions), squared latent units;
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
    codes_f = codes.detach().float().cpu()
    sw_gen = torch.Generator().manual_seed(seed + 1)
    mmd_floor, sw_floor = _prior_floor(m, d, seed)
    return {
        "mmd_to_prior": float(mmd_imq(codes_f, prior_a)),
        "mmd_prior_vs_prior": mmd_floor,
        "sw_to_prior": float(sliced_wasserstein(codes_f, prior_a, generator=sw_gen)),
        "sw_prior_vs_prior": sw_floor,
        "gauss_kl_to_prior": gaussian_kl_to_prior(codes),
    }


def kde_bandwidth(codes: torch.Tensor) -> float:
    """Scott's rule for an isotropic Gaussian kernel: h = sigma * n^(-1 / (d + 4)), in latent units.

    sigma = sqrt(mean over dims of the per-dim variance) of ``codes`` (n, d).
    """
    n, d = codes.shape
    sigma = float(codes.double().var(dim=0).mean().sqrt())
    return sigma * n ** (-1.0 / (d + 4))


def _kde_log_density(points: torch.Tensor, codes: torch.Tensor, h: float, *, leave_one_out: bool,
                     batch_size: int = 2048) -> torch.Tensor:
    """log of the isotropic Gaussian KDE of ``codes`` with bandwidth h at ``points``, up to a shared constant."""
    n_codes = codes.shape[0] - (1 if leave_one_out else 0)
    out = []
    for i in range(0, points.shape[0], batch_size):
        p = points[i:i + batch_size]
        logk = squared_distances(p, codes).mul_(-0.5 / h ** 2)     # (b, n)
        if leave_one_out:  # points are the codes themselves: drop each point's own kernel
            b = p.shape[0]
            logk[torch.arange(b, device=p.device), torch.arange(i, i + b, device=p.device)] = -math.inf
        out.append(torch.logsumexp(logk, dim=1) - math.log(n_codes))
    return torch.cat(out)


@torch.no_grad()
def prior_hole_rate(codes: torch.Tensor, *, n_prior: int = 2000, seed: int = 0, percentile: float = 5.0) -> float:
    """Share of prior samples lying in low-density regions of the codes (a fraction in [0, 1]).

    The density of the codes is a Gaussian kernel density estimate with an isotropic
    kernel and Scott's bandwidth (:func:`kde_bandwidth`). The threshold is the
    ``percentile``-th percentile of the codes' own densities, each evaluated
    leave-one-out (so a code does not count itself); the rate is the share of
    ``n_prior`` N(0, I) samples (generator seed ``seed + PRIOR_SEED_OFFSET``, so never
    the noise of codes sampled with the same ``seed``) whose density under the codes is below it.
    When the codes are themselves N(0, I) samples the rate is ``percentile`` / 100 in
    expectation (5%); regions of the prior that the codes leave empty push it up.
    Pass sampled codes for stochastic encoders (aggregate posterior), f(x) otherwise.
    """
    check_codes(codes, "prior hole rate", min_rows=3)
    if not 0.0 < percentile < 100.0:
        raise VaelibError(f"percentile must be in (0, 100), got {percentile!r}")
    if n_prior < 1:
        raise VaelibError(f"n_prior must be >= 1, got {n_prior}")
    codes_f = codes.float()
    h = kde_bandwidth(codes_f)
    if h == 0.0:
        raise VaelibError("prior hole rate: all codes are identical, their density is not defined")
    gen = torch.Generator().manual_seed(seed + PRIOR_SEED_OFFSET)
    prior = torch.randn((n_prior, codes.shape[1]), generator=gen).to(codes_f.device)
    own = _kde_log_density(codes_f, codes_f, h, leave_one_out=True)
    threshold = torch.quantile(own.double(), percentile / 100.0)
    at_prior = _kde_log_density(prior, codes_f, h, leave_one_out=False)
    return float((at_prior.double() < threshold).double().mean())


__all__ = ["BATCH_SIZE", "PRIOR_SEED_OFFSET", "active_units", "aggregate_divergences", "check_codes",
           "gaussian_kl_to_prior", "kde_bandwidth", "mi_ceiling", "mutual_information", "participation_ratio", "prior_hole_rate"]
