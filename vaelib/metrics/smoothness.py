"""Smoothness of the decoder: its Jacobian norm at the codes, and the path length of interpolations.

A noisy encoder trains the decoder on a neighbourhood of every code, which should make
it smoother around the codes than a plain autoencoder's decoder (claim 5 of the book).
Smoothness is compared per unit of each design's own code spread
(:func:`decoder_jacobian_norm_scaled`), since codes can be rescaled freely; the
interpolation path ratio is scale-free by construction.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from ..blas import matmul, psd_sqrt
from ..errors import VaelibError
from ..models import AutoEncoder
from .latent import check_codes
from .registry import EvaluationContext, MetricGroup

#: Codes at which :func:`decoder_jacobian_norm` evaluates the Jacobian by default.
JACOBIAN_CODES: int = 256


def decoder_jacobians(model: AutoEncoder, z: torch.Tensor) -> torch.Tensor:
    """d decode(z) / dz at every row of ``z`` (n, latent_dim); shape (n, data_dim, latent_dim).

    Units: decoded mean (pixel probability for a Bernoulli decoder) per unit of z.
    Jacobian-vector products by the double-backward trick: one forward pass, one
    backward pass giving g(v) = J^T v (linear in a dummy v), then one backward pass of
    g per latent direction, each over the whole batch (latent_dim is small). Every
    gradient is taken of a scalar, so no forward-mode machinery (slow to load the first
    time) is needed.
    """
    d = z.shape[1]
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        y = model.decode(z)                                           # (n, D)
        v = torch.zeros_like(y, requires_grad=True)
        (g,) = torch.autograd.grad((y * v).sum(), z, create_graph=True)  # (n, d): row n is J_n^T v_n
        cols = [torch.autograd.grad(g[:, j].sum(), v, retain_graph=j < d - 1)[0] for j in range(d)]
    return torch.stack(cols, dim=2).detach()                          # (n, D, d)


def decoder_jacobian_norm(model: AutoEncoder, codes: torch.Tensor, *, n: int | None = JACOBIAN_CODES,
                          seed: int = 0) -> float:
    """Mean Frobenius norm of the decoder's Jacobian d decode(z) / dz over ``codes``.

    Units: decoded mean (pixel probability for a Bernoulli decoder) per unit of z,
    summed in quadrature over pixels and latent dims. It depends on the codes' scale (see
    :func:`decoder_jacobian_norm_scaled` for the scale-free version). Uses at most ``n`` codes, a
    seeded random subset (``None``: all). Pass the codes at which smoothness matters,
    e.g. the encoder means of the test split.
    """
    check_codes(codes, "decoder Jacobian norm", min_rows=1, latent_dim=model.latent_dim)
    z = _subset(codes, n, seed).to(model.device, torch.float32)
    jac = decoder_jacobians(model, z)
    return float(jac.pow(2).sum(dim=(1, 2)).sqrt().mean())


def code_covariance_sqrt(codes: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of the (n-1)-normalised covariance of ``codes`` (n, d); (d, d) float32, latent units."""
    check_codes(codes, "code covariance", min_rows=2)
    c = codes.detach().double()
    c = c - c.mean(dim=0)
    return psd_sqrt(matmul(c.T, c) / (c.shape[0] - 1)).float()   # on the pinned kernels: the same bits on every CPU


def decoder_jacobian_norm_scaled(model: AutoEncoder, codes: torch.Tensor, *, n: int | None = JACOBIAN_CODES,
                                 seed: int = 0) -> float:
    """Mean Frobenius norm of J(z) S^1/2, with S the covariance of ``codes``: the Jacobian per unit of the codes' spread.

    Units: decoded mean (pixel probability for a Bernoulli decoder) per standard deviation
    of the codes. :func:`decoder_jacobian_norm` is per unit of z, so rescaling the codes by a
    (z -> a z, decoder -> decoder(. / a)) divides it by a: a design whose codes spread 3x
    wider looks 3x smoother without being so. This one is unchanged by any rescaling or
    other invertible linear map of the codes (||J S^1/2||_F^2 = tr(J S J^T)). S is estimated
    from all of ``codes``; the Jacobian at a seeded subset of at most ``n`` of them.
    """
    check_codes(codes, "decoder Jacobian norm", min_rows=2, latent_dim=model.latent_dim)
    root = code_covariance_sqrt(codes)
    z = _subset(codes, n, seed).to(model.device, torch.float32)
    jac = decoder_jacobians(model, z) @ root.to(z.device)
    return float(jac.pow(2).sum(dim=(1, 2)).sqrt().mean())


def _subset(codes: torch.Tensor, n: int | None, seed: int) -> torch.Tensor:
    """At most ``n`` rows of ``codes`` (a seeded random subset; ``None``: all)."""
    if n is not None and n < 1:
        raise VaelibError(f"n must be >= 1, got {n}")
    if n is not None and codes.shape[0] > n:
        gen = torch.Generator().manual_seed(seed)
        return codes[torch.randperm(codes.shape[0], generator=gen)[:n].to(codes.device)]
    return codes


@torch.no_grad()
def interpolation_path_length(model: AutoEncoder, x_a: torch.Tensor, x_b: torch.Tensor,
                              feature_fn: Callable[[torch.Tensor], torch.Tensor], *, steps: int = 16) -> float:
    """Mean over pairs of (feature-space path length / feature-space endpoint distance), a ratio >= 1.

    For each pair (x_a[i], x_b[i]) the encoder means are interpolated linearly at
    ``steps`` evenly spaced points (endpoints included), decoded, and mapped to features
    with ``feature_fn`` (any callable taking (n, data_dim) decoded means to (n, f); e.g.
    a classifier's penultimate layer). The path length is the sum of the Euclidean
    feature distances between consecutive points; it is divided by the straight-line
    feature distance between the decodings of the two endpoint codes (not the images
    themselves). By the triangle inequality the ratio is >= 1; 1 means the decoded
    path moves straight through feature space, larger means detours. Pairs whose
    endpoint decodings have the same features, up to float32 rounding (a chord below 1e-5 of
    the features' norm), are skipped (VaelibError if all are).
    All pairs are decoded in one batch.
    """
    model.check_input(x_a)
    model.check_input(x_b)
    if x_a.shape != x_b.shape:
        raise VaelibError(f"x_a and x_b must have the same shape, got {tuple(x_a.shape)} and {tuple(x_b.shape)}")
    if x_a.shape[0] < 1:
        raise VaelibError("interpolation needs at least one pair of images")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise VaelibError(f"steps must be an integer >= 2, got {steps!r}")
    device = model.device
    za = model.encode(x_a.to(device)).mean
    zb = model.encode(x_b.to(device)).mean
    check_codes(torch.cat([za, zb]), "interpolation path length")
    t = torch.linspace(0.0, 1.0, steps, device=device, dtype=za.dtype).view(steps, 1, 1)
    z = za + t * (zb - za)                                                 # (steps, pairs, d)
    p = za.shape[0]
    feats = feature_fn(model.decode(z.reshape(steps * p, -1)))
    if not isinstance(feats, torch.Tensor) or feats.shape[0] != steps * p:
        raise VaelibError("feature_fn must map (n, data_dim) to a tensor with n rows")
    feats = feats.reshape(steps, p, -1).double()
    path = (feats[1:] - feats[:-1]).norm(dim=2).sum(dim=0)                 # (pairs,)
    chord = (feats[-1] - feats[0]).norm(dim=1)
    # the same code decoded at two places of one batch may differ in the last float32 bits (the matrix
    # product's kernel tiles the batch), so "identical" means equal up to that rounding
    ok = chord > 1e-5 * (1.0 + feats[0].norm(dim=1))
    if not bool(ok.any()):
        raise VaelibError("every pair's endpoint decodings have identical features: the path ratio is undefined")
    return float((path[ok] / chord[ok]).mean())



def smoothness_metrics(ctx: EvaluationContext) -> dict[str, float]:
    """The smoothness group: ``{name: value}`` as declared in :data:`METRIC_GROUP`.

    The decoder's Jacobian norm (per unit of z and per code standard deviation) at the scored
    images' encoder means, and the interpolation path ratio between the first up to 32 scored
    images and the next as many, on the feature classifier's features.
    """
    model, x, means, seed = ctx.model, ctx.x_scored, ctx.scored_means, ctx.seed
    record = {"jacobian_norm": decoder_jacobian_norm(model, means, seed=seed)}
    record["jacobian_norm_scaled"] = decoder_jacobian_norm_scaled(model, means, seed=seed)
    n_pairs = min(32, x.shape[0] // 2)
    record["interp_path_ratio"] = interpolation_path_length(model, x[:n_pairs], x[n_pairs:2 * n_pairs],
                                                            ctx.feature_classifier.features)
    return record


#: The smoothness group of :func:`vaelib.metrics.evaluate` and the names it emits.
METRIC_GROUP = MetricGroup("smoothness", smoothness_metrics, needs_codes=True, needs_classifier=True, emits={
    "jacobian_norm": "mean Frobenius norm of d decode(z) / dz at test codes (pixel probability per unit z; "
                     "depends on the codes' scale)",
    "jacobian_norm_scaled": "mean Frobenius norm of J S^1/2, S the test codes' covariance (pixel probability per "
                            "code standard deviation; unchanged by rescaling z)",
    "interp_path_ratio": "feature-space path length of decoded interpolations / endpoint distance (>= 1)",
})


__all__ = ["JACOBIAN_CODES", "METRIC_GROUP", "code_covariance_sqrt", "decoder_jacobian_norm",
           "decoder_jacobian_norm_scaled", "decoder_jacobians", "interpolation_path_length", "smoothness_metrics"]
