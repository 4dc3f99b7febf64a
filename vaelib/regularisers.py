"""Regularisers on the latent code z, and the divergences they are built from.

Every function follows the book's reduction rule: a per-sample quantity is summed over
latent dimensions and returned per sample (shape ``(batch,)``); a batch-level divergence
between the codes of a batch and N(0, I) is returned as a scalar. Units are nats for the
KL; the kernel and transport divergences are unitless squared distances.

A :class:`Regulariser` turns one of them into the scalar that is added to the loss
(mean over the batch for per-sample terms), so all designs share one loss composition.
"""
from __future__ import annotations


from typing import Callable

import torch

from .blas import matmul
from .errors import VaelibError, check_choice

#: Scales of the multi-scale inverse multiquadric kernel (Tolstikhin et al. 2018):
#: the kernel bandwidth C = 2 * latent_dim * scale for each scale, summed.
IMQ_SCALES: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)

#: Number of random directions for the sliced Wasserstein distance (Kolouri et al. 2019 use 50).
SW_PROJECTIONS: int = 50


def kl_to_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, diag(exp(logvar))) || N(0, I)) per sample, in nats, summed over latent dims.

    Returns a tensor of shape ``(batch,)``. ``logvar`` may be broadcastable to ``mean``
    (the fixed-variance head passes a constant).
    """
    logvar = logvar.expand_as(mean)
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def l2_penalty(z: torch.Tensor) -> torch.Tensor:
    """RAE-style penalty 0.5 * ||z||^2 per sample (summed over latent dims); shape ``(batch,)``."""
    return 0.5 * z.pow(2).sum(dim=1)


def _check_pair(x: torch.Tensor, y: torch.Tensor, what: str) -> None:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise VaelibError(
            f"{what} needs two 2-D tensors with the same number of columns, got shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise VaelibError(f"{what} needs at least 2 samples on each side, got {x.shape[0]} and {y.shape[0]}")


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances between rows of ``a`` (n, d) and ``b`` (m, d); shape (n, m)."""
    return (a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1) - 2.0 * matmul(a, b.T)).clamp_min(0.0)


class _IMQKernelSum(torch.autograd.Function):
    """Elementwise k(d) = sum_s C_s / (C_s + d) and, in the same pass, k'(d) = -sum_s C_s / (C_s + d)^2.

    One in-place pass per scale over the (n, m) distances, instead of autograd through an
    (S, n, m) stack of scales: the stack does not fit in a 2-core CPU's cache, and its
    backward costs five more passes. The backward here is one multiplication by k'(d).
    """

    @staticmethod
    def forward(ctx, sq_dists: torch.Tensor, bandwidths: list[float]) -> torch.Tensor:  # type: ignore[override]
        need_grad = ctx.needs_input_grad[0]
        k = torch.zeros_like(sq_dists)
        dk = torch.zeros_like(sq_dists) if need_grad else None
        for c in bandwidths:
            inv = (sq_dists + c).reciprocal_()
            k.add_(inv, alpha=c)
            if dk is not None:
                dk.addcmul_(inv, inv, value=-c)
        if dk is not None:
            ctx.save_for_backward(dk)
        return k

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (dk,) = ctx.saved_tensors
        return grad * dk, None


def imq_kernel_sum(sq_dists: torch.Tensor, latent_dim: int, scales: tuple[float, ...] = IMQ_SCALES) -> torch.Tensor:
    """Multi-scale IMQ kernel sum_s C_s / (C_s + d^2) with C_s = 2 * latent_dim * s, elementwise on ``sq_dists``.

    Returns a tensor shaped like ``sq_dists`` (unitless, between 0 and len(scales)); differentiable.
    """
    return _IMQKernelSum.apply(sq_dists, [2.0 * latent_dim * s for s in scales])


def mmd_imq(x: torch.Tensor, y: torch.Tensor, scales: tuple[float, ...] = IMQ_SCALES) -> torch.Tensor:
    """Unbiased estimate of MMD^2 between samples ``x`` (n, d) and ``y`` (m, d), multi-scale IMQ kernel.

    Returns a scalar tensor; it can be slightly negative when the distributions agree.
    The x-x and x-y kernel blocks come from one (n, n + m) distance matrix; gradients flow
    to ``y`` only when it requires them (a fixed prior sample's y-y block is then computed
    without autograd, which saves a third of the backward pass).
    """
    _check_pair(x, y, "MMD")
    n, d = x.shape

    def off_diagonal_mean(k: torch.Tensor) -> torch.Tensor:
        return (k.sum() - k.diagonal().sum()) / (k.shape[0] * (k.shape[0] - 1))

    k_x = imq_kernel_sum(squared_distances(x, torch.cat([x, y])), d, scales)
    kxx, kxy = k_x[:, :n], k_x[:, n:]
    with torch.set_grad_enabled(y.requires_grad and torch.is_grad_enabled()):
        kyy = imq_kernel_sum(squared_distances(y, y), d, scales)
    return off_diagonal_mean(kxx) + off_diagonal_mean(kyy) - 2.0 * kxy.mean()


def sliced_wasserstein(
    x: torch.Tensor,
    y: torch.Tensor,
    n_projections: int = SW_PROJECTIONS,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sliced 2-Wasserstein distance squared between equal-size samples ``x`` and ``y``.

    Projects both on ``n_projections`` random unit directions, sorts, and averages the
    squared differences of the order statistics. Returns a scalar tensor.
    """
    _check_pair(x, y, "sliced Wasserstein")
    if x.shape[0] != y.shape[0]:
        raise VaelibError(f"sliced Wasserstein needs equal sample sizes, got {x.shape[0]} and {y.shape[0]}")
    d = x.shape[1]
    theta = torch.randn(d, n_projections, generator=generator, device=x.device, dtype=x.dtype)
    theta = theta / theta.norm(dim=0, keepdim=True)
    px = matmul(x, theta).sort(dim=0).values
    py = matmul(y, theta).sort(dim=0).values
    return (px - py).pow(2).mean()


def moment_matching(z: torch.Tensor) -> torch.Tensor:
    """||mean(z)||^2 + ||Cov(z) - I||_F^2 over a batch ``z`` (n, d): matches two moments only. Scalar."""
    if z.ndim != 2 or z.shape[0] < 2:
        raise VaelibError(f"moment matching needs a 2-D batch of at least 2 codes, got shape {tuple(z.shape)}")
    mean = z.mean(dim=0)
    centred = z - mean
    cov = matmul(centred.T, centred) / (z.shape[0] - 1)
    eye = torch.eye(z.shape[1], device=z.device, dtype=z.dtype)
    return mean.pow(2).sum() + (cov - eye).pow(2).sum()


class Regulariser:
    """One regulariser on z: ``reg(z, mean, logvar, generator)`` returns the scalar added to the loss.

    Per-sample penalties (``kl``, ``l2``) are averaged over the batch; batch-level
    divergences (``mmd``, ``sliced-wasserstein``, ``moments``) compare the batch of codes
    with a fresh N(0, I) sample of the same size.
    """

    def __init__(self, name: str, needs_distribution: bool, fn: Callable[..., torch.Tensor], description: str):
        self.name = name
        self.needs_distribution = needs_distribution
        self._fn = fn
        self.description = description

    def __call__(
        self,
        z: torch.Tensor,
        mean: torch.Tensor,
        logvar: torch.Tensor | None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Return the regulariser value for one batch as a scalar tensor."""
        return self._fn(z, mean, logvar, generator)

    def __repr__(self) -> str:
        return f"Regulariser({self.name!r})"


def _prior_like(z: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)


def _kl(z, mean, logvar, generator):
    if logvar is None:
        raise VaelibError("the 'kl' regulariser needs a stochastic encoder head (mean-only or vae)")
    # the batch mean of kl_to_standard_normal, with one reduction instead of two
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum() / mean.shape[0]


REGULARISERS: dict[str, Regulariser] = {
    r.name: r
    for r in (
        Regulariser("none", False, lambda z, m, lv, g: z.new_zeros(()), "no regulariser"),
        Regulariser("kl", True, _kl, "per-sample analytic KL(q(z|x) || N(0, I)), mean over the batch"),
        Regulariser("mmd", False, lambda z, m, lv, g: mmd_imq(z, _prior_like(z, g)),
                    "unbiased MMD^2 between the batch of codes and N(0, I), multi-scale IMQ kernel"),
        Regulariser("sliced-wasserstein", False,
                    lambda z, m, lv, g: sliced_wasserstein(z, _prior_like(z, g), generator=g),
                    "sliced Wasserstein-2^2 between the batch of codes and N(0, I), 50 projections"),
        Regulariser("moments", False, lambda z, m, lv, g: moment_matching(z),
                    "batch mean and covariance matched to 0 and I"),
        Regulariser("l2", False, lambda z, m, lv, g: l2_penalty(z).mean(), "RAE-style 0.5 ||z||^2, mean over the batch"),
    )
}


def get_regulariser(name: str) -> Regulariser:
    """Return the :class:`Regulariser` called ``name``; raise UnknownNameError listing the accepted names."""
    check_choice("regulariser", name, REGULARISERS)
    return REGULARISERS[name]


__all__ = [
    "IMQ_SCALES", "SW_PROJECTIONS", "REGULARISERS", "Regulariser", "get_regulariser",
    "kl_to_standard_normal", "l2_penalty", "mmd_imq", "sliced_wasserstein", "moment_matching",
    "imq_kernel_sum", "squared_distances",
]
