"""Code samplers: where the codes decoded into samples come from.

* ``prior``: N(0, I), the prior every design is trained towards (or not, for the plain AE).
* ``gaussian``: one full-covariance Gaussian fitted to the training codes.
* ``gmm``: a 10-component full-covariance Gaussian mixture fitted to the training codes
  ("ex-post density estimation", Ghosh et al. 2020).

The *codes* of a model are the encoder means of the training split: f(x) for a
deterministic encoder and the mean of q(z|x) for a stochastic one (as in Ghosh et al.
2020), e.g. ``model.encode_means(data.x_train)`` (:meth:`vaelib.models.AutoEncoder.encode_means`).

Every sampler returns float32 codes on the CPU and log-densities in nats; sampling takes
an explicit seed and never touches numpy's or torch's global random state.
"""
from __future__ import annotations

import math

import torch

from .errors import VaelibError, check_choice
from .sampler_base import Sampler, check_codes
from .two_stage import TwoStageSampler

#: name -> description of every sampler :func:`fit_sampler` can build.
SAMPLERS: dict[str, str] = {
    "prior": "the prior N(0, I)",
    "gaussian": "a full-covariance Gaussian fitted to the training codes (encoder means)",
    "gmm": "a 10-component full-covariance Gaussian mixture fitted to the training codes "
           "(ex-post density estimation, Ghosh et al. 2020)",
    "two-stage": "a second VAE fitted to the training codes, with a learned output variance "
                 "(two-stage VAE, Dai & Wipf 2019; vaelib.two_stage)",
}

#: The samplers every evaluation uses unless told otherwise; the two-stage VAE (a network trained on
#: the codes, seconds per model) only when asked for by name.
DEFAULT_SAMPLERS: tuple[str, ...] = ("prior", "gaussian", "gmm")

#: Ridge added to fitted covariances, relative to their mean variance, so that codes on a
#: lower-dimensional set still give a positive-definite covariance (sklearn's GMM uses 1e-6 too).
RIDGE = 1e-6


class PriorSampler(Sampler):
    """N(0, I) in ``latent_dim`` dimensions; its log-density is analytic."""

    name = "prior"

    def _sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=gen)

    def _log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * (z.pow(2).sum(dim=1) + self.latent_dim * math.log(2 * math.pi))


class GaussianSampler(Sampler):
    """N(mean, cov) with the sample mean and (unbiased) covariance of the codes, plus a tiny ridge."""

    name = "gaussian"

    def __init__(self, codes: torch.Tensor):
        super().__init__(codes.shape[1])
        x = codes.double()
        self.mean = x.mean(dim=0)
        centred = x - self.mean
        cov = centred.T @ centred / (x.shape[0] - 1)
        self.cov = cov + _ridge(cov) * torch.eye(self.latent_dim, dtype=torch.float64)
        self.scale_tril = _cholesky(self.cov, "the codes' covariance")
        self.dist = torch.distributions.MultivariateNormal(self.mean, scale_tril=self.scale_tril)

    def _sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        eps = torch.randn(n, self.latent_dim, generator=gen, dtype=torch.float64)
        return self.mean + eps @ self.scale_tril.T

    def _log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return self.dist.log_prob(z)


class GMMSampler(Sampler):
    """A full-covariance Gaussian mixture fitted by EM (sklearn ``GaussianMixture``, ``random_state=seed``)."""

    name = "gmm"

    def __init__(self, codes: torch.Tensor, n_components: int, seed: int):
        from sklearn.mixture import GaussianMixture
        from threadpoolctl import threadpool_limits

        super().__init__(codes.shape[1])
        self.gmm = GaussianMixture(n_components=n_components, covariance_type="full", random_state=seed)
        try:
            # EM on a few thousand low-dimensional codes runs ~2x faster with one BLAS thread:
            # the matrices are too small for threads to pay off.
            with threadpool_limits(limits=1, user_api="blas"):
                self.gmm.fit(codes.double().numpy())
        except ValueError as e:  # sklearn: a component's covariance is ill-defined (degenerate codes)
            raise VaelibError(f"fitting a {n_components}-component GMM to the codes failed: {e}") from None
        self.weights = torch.from_numpy(self.gmm.weights_).double()
        self.means = torch.from_numpy(self.gmm.means_).double()
        self.scale_trils = _cholesky(torch.from_numpy(self.gmm.covariances_).double(), "a GMM component's covariance")

    def _sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        component = torch.multinomial(self.weights, n, replacement=True, generator=gen)
        eps = torch.randn(n, self.latent_dim, 1, generator=gen, dtype=torch.float64)
        return self.means[component] + (self.scale_trils[component] @ eps).squeeze(-1)

    def _log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.gmm.score_samples(z.numpy()))

    def __repr__(self) -> str:
        return f"GMMSampler(latent_dim={self.latent_dim}, n_components={self.gmm.n_components})"


def _ridge(cov: torch.Tensor) -> float:
    """RIDGE times the mean variance (at least RIDGE, for all-constant codes)."""
    return RIDGE * max(float(torch.diagonal(cov).mean()), 1.0)


def _cholesky(cov: torch.Tensor, what: str) -> torch.Tensor:
    """Lower Cholesky factor(s) of ``cov``; VaelibError if it is not positive definite."""
    factor, info = torch.linalg.cholesky_ex(cov)
    if bool((info != 0).any()):
        raise VaelibError(f"{what} is not positive definite (codes degenerate or not finite); cannot fit a sampler")
    return factor


def fit_sampler(name: str, codes: torch.Tensor, *, seed: int = 0, n_components: int = 10) -> Sampler:
    """Fit the sampler ``name`` (one of :data:`SAMPLERS`) to ``codes`` and return it.

    ``codes`` (n, latent_dim) are the encoder means of the training split. ``prior`` only
    takes latent_dim from them; ``gaussian`` needs n >= latent_dim + 1; ``gmm`` needs
    n >= 2 * n_components and n >= latent_dim + 1 and is fitted with ``random_state=seed``.
    Raises UnknownNameError for an unknown name and VaelibError for NaN codes or too few.
    """
    check_choice("sampler", name, SAMPLERS)
    if name == "two-stage":
        return TwoStageSampler(codes, seed=seed)
    codes = check_codes(codes, "codes").detach().cpu()
    n, d = codes.shape
    if name == "prior":
        return PriorSampler(d)
    if n < d + 1:
        raise VaelibError(f"a full-covariance {name!r} sampler needs at least latent_dim + 1 = {d + 1} codes, got {n}")
    if name == "gaussian":
        return GaussianSampler(codes)
    if n_components < 1:
        raise VaelibError(f"n_components must be >= 1, got {n_components}")
    if n < 2 * n_components:
        raise VaelibError(f"a GMM with {n_components} components needs at least {2 * n_components} codes "
                          f"(2 per component), got {n}")
    return GMMSampler(codes, n_components, seed)


__all__ = ["DEFAULT_SAMPLERS", "GMMSampler", "GaussianSampler", "PriorSampler", "SAMPLERS", "Sampler", "fit_sampler"]
