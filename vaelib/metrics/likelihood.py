"""Likelihood metrics: reconstruction error, the ELBO, the IWAE bound, and the bound for deterministic codes.

Units: every log-likelihood figure is in nats per image (summed over pixels, averaged
over images). For the Bernoulli decoder the bounds on log p(x) are negative; higher
(closer to zero) is better.

All Monte Carlo estimates use a ``torch.Generator`` seeded with ``seed``; the noise is
drawn image batch by image batch, then chunk of importance samples by chunk, in a fixed
order, so the numbers are reproducible and ``iwae_bound(k=1)`` uses exactly the same
noise as :func:`elbo` for the same ``seed`` and ``batch_size``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import VaelibError
from ..models import AutoEncoder
from ..regularisers import kl_to_standard_normal

#: Default grid of encoder scales s for :func:`deterministic_bound`: 8 values log-spaced in [0.01, 1].
DEFAULT_SCALES: tuple[float, ...] = tuple(float(f"{s:.3g}") for s in torch.logspace(-2, 0, 8, dtype=torch.float64))

#: Images per encoder/decoder batch.
BATCH_SIZE: int = 1000

#: At most this many codes are decoded at once in the IWAE loop (bounds memory: rows x data_dim floats).
MAX_DECODED_ROWS: int = 8192


def _device(model: AutoEncoder) -> torch.device:
    return next(model.parameters()).device


def _check_x(model: AutoEncoder, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(model, AutoEncoder):
        raise VaelibError(f"expected a vaelib AutoEncoder, got {type(model).__name__}")
    model.check_input(x)
    if x.shape[0] < 1:
        raise VaelibError("x is empty: the metric needs at least one image")
    n_bad = int((~torch.isfinite(x)).sum())
    if n_bad:
        raise VaelibError(f"x contains {n_bad} NaN or infinite values")
    return x.to(_device(model))


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise VaelibError(f"batch_size must be a positive integer, got {batch_size!r}")


@torch.no_grad()
def reconstruction_errors(model: AutoEncoder, x: torch.Tensor, *, batch_size: int = BATCH_SIZE) -> dict[str, float]:
    """Deterministic reconstruction errors of ``x`` through z = encoder mean (no sampling).

    Returns ``{"bce_nats": ..., "mse": ...}``:

    * ``bce_nats``: Bernoulli negative log-likelihood -log p(x | z = mean) of the
      decoded pixel probabilities, summed over pixels, averaged over images (nats/image).
      For a Bernoulli decoder it is computed from the logits (exact, stable); for a
      Gaussian decoder the decoded mean is clipped into [1e-6, 1 - 1e-6] and read as
      pixel probabilities, so the figure stays comparable across likelihoods.
    * ``mse``: squared error between x and the decoded mean, summed over pixels,
      averaged over images (squared pixel units per image; divide by the number of
      pixels for a per-pixel mean).
    """
    x = _check_x(model, x)
    _check_batch_size(batch_size)
    bce_sum = 0.0
    mse_sum = 0.0
    for xb in x.split(batch_size):
        out = model.decoder_output(model.encode(xb).mean)
        if model.likelihood == "bernoulli":
            probs = torch.sigmoid(out)
            bce = torch.nn.functional.binary_cross_entropy_with_logits(out, xb, reduction="sum")
        else:
            probs = out
            p = out.clamp(1e-6, 1.0 - 1e-6)
            bce = torch.nn.functional.binary_cross_entropy(p, xb.clamp(0.0, 1.0), reduction="sum")
        bce_sum += float(bce)
        mse_sum += float((probs - xb).pow(2).sum())
    n = x.shape[0]
    return {"bce_nats": bce_sum / n, "mse": mse_sum / n}


@torch.no_grad()
def elbo(model: AutoEncoder, x: torch.Tensor, *, seed: int = 0, batch_size: int = BATCH_SIZE) -> dict[str, float]:
    """The ELBO of a stochastic model on ``x``, with its two terms (nats per image, mean over images).

    Returns ``{"elbo": ..., "reconstruction": ..., "kl": ...}`` with
    ``elbo = -(reconstruction + kl)``:

    * ``reconstruction``: E_q[-log p(x|z)], one z ~ q(z|x) per image (seeded), the distortion;
    * ``kl``: KL(q(z|x) || N(0, I)) in closed form, the rate.

    Raises VaelibError for a deterministic model: it has no q(z|x) (use
    :func:`deterministic_bound`).
    """
    if not model.stochastic:
        raise VaelibError("the model is deterministic: no q(z|x): use deterministic_bound")
    x = _check_x(model, x)
    _check_batch_size(batch_size)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    rec_sum = 0.0
    kl_sum = 0.0
    for xb in x.split(batch_size):
        enc = model.encode(xb)
        z = model.sample_z(enc, gen)  # draws randn(batch, latent): the same stream as iwae_bound(k=1)
        rec_sum += float(model.reconstruction_nll(xb, model.decoder_output(z)).sum())
        kl_sum += float(kl_to_standard_normal(enc.mean, enc.logvar).sum())
    n = x.shape[0]
    rec, kl = rec_sum / n, kl_sum / n
    return {"elbo": -(rec + kl), "reconstruction": rec, "kl": kl}


@torch.no_grad()
def log_importance_weights(
    model: AutoEncoder,
    x: torch.Tensor,
    mean: torch.Tensor,
    logvar: torch.Tensor,
    k: int,
    generator: torch.Generator,
    *,
    max_rows: int = MAX_DECODED_ROWS,
) -> torch.Tensor:
    """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x), z_i ~ q = N(mean, diag(exp(logvar))).

    ``x`` (b, data_dim), ``mean`` (b, latent_dim), ``logvar`` broadcastable to ``mean``.
    Returns a (b, k) tensor in nats. The k samples are drawn ``chunk`` at a time as
    ``randn(chunk, b, latent_dim)`` from ``generator`` and decoded together (at most
    ``max_rows`` codes per decoder call), so with k = 1 the noise equals ``randn(b, latent_dim)``.
    This is the one code path behind :func:`iwae_bound`, :func:`deterministic_bound`.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise VaelibError(f"number of importance samples k must be a positive integer, got {k!r}")
    b, d = mean.shape
    logvar = logvar.expand_as(mean)
    std = torch.exp(0.5 * logvar)
    # log p(z) - log q(z|x) = 0.5 * sum(eps^2 - z^2) + 0.5 * sum(logvar): the 2*pi terms cancel
    half_sum_logvar = 0.5 * logvar.sum(dim=1)
    chunk = max(1, min(k, max_rows // max(b, 1)))
    parts = []
    for start in range(0, k, chunk):
        c = min(chunk, k - start)
        eps = torch.randn((c, b, d), generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + std * eps                                   # (c, b, d)
        out = model.decoder_output(z.reshape(c * b, d))
        log_px = -model.reconstruction_nll(x.expand(c, b, x.shape[1]).reshape(c * b, -1), out).view(c, b)
        log_pz_minus_qz = 0.5 * (eps.pow(2) - z.pow(2)).sum(dim=2) + half_sum_logvar
        parts.append(log_px + log_pz_minus_qz)
    return torch.cat(parts, dim=0).T  # (b, k)


def _iwae_from_moments(
    model: AutoEncoder, x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor | None, k: int, seed: int,
    batch_size: int,
) -> float:
    gen = torch.Generator(device=x.device).manual_seed(seed)
    total = 0.0
    for i in range(0, x.shape[0], batch_size):
        sl = slice(i, i + batch_size)
        lv = logvar if logvar.ndim == 0 else logvar[sl]
        lw = log_importance_weights(model, x[sl], mean[sl], lv, k, gen)
        total += float((torch.logsumexp(lw, dim=1) - math.log(k)).sum())
    return total / x.shape[0]


@torch.no_grad()
def iwae_bound(model: AutoEncoder, x: torch.Tensor, k: int, *, seed: int = 0, batch_size: int = BATCH_SIZE) -> float:
    """The IWAE bound (Burda et al. 2016) with ``k`` importance samples, mean over images, in nats/image.

    Returns mean_x log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x) with z_i ~ q(z|x), computed
    with logsumexp. It is a lower bound on log p(x) that is non-decreasing in k in
    expectation; k = 1 is the single-sample ELBO: equal to :func:`elbo` in expectation,
    and it uses exactly the same noise for the same ``seed`` and ``batch_size`` (the two
    then differ only by the Monte Carlo error of log p(z) - log q(z|x) around -KL, which
    :func:`elbo` computes in closed form). Stochastic models only (VaelibError otherwise).
    """
    if not model.stochastic:
        raise VaelibError("the model is deterministic: no q(z|x): use deterministic_bound")
    x = _check_x(model, x)
    _check_batch_size(batch_size)
    enc_means, enc_logvars = [], []
    for xb in x.split(batch_size):
        enc = model.encode(xb)
        enc_means.append(enc.mean)
        enc_logvars.append(enc.logvar.expand_as(enc.mean))
    return _iwae_from_moments(model, x, torch.cat(enc_means), torch.cat(enc_logvars), k, seed, batch_size)


@torch.no_grad()
def deterministic_bound(
    model: AutoEncoder,
    x: torch.Tensor,
    *,
    scales: Sequence[float] = DEFAULT_SCALES,
    k: int = 1,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
) -> dict:
    """The best bound on log p(x) with q = N(f(x), s^2 I) over a grid of scales s (nats/image).

    A deterministic encoder has no q(z|x), hence no ELBO. This gives it one after the
    fact: for each s in ``scales`` it evaluates the IWAE bound with ``k`` samples (k = 1:
    the ELBO) of the hand-made posterior q = N(f(x), s^2 I), f(x) the encoder's code
    (its mean for a stochastic model), and keeps the best. It is "the best bound with
    q = N(f(x), s^2 I)", a valid lower bound on log p(x) under the prior N(0, I), NOT a
    VAE's ELBO: the encoder was never trained for it. Every scale uses the same noise
    (common random numbers), so the comparison across s is not blurred by sampling.

    Returns ``{"bound": best value (nats/image), "best_scale": its s,
    "per_scale": {s: value}, "k": k, "what": a one-line label}``.
    """
    x = _check_x(model, x)
    _check_batch_size(batch_size)
    scales = [float(s) for s in scales]
    if not scales or any(not (s > 0 and math.isfinite(s)) for s in scales):
        raise VaelibError(f"scales must be a non-empty list of positive finite numbers, got {scales!r}")
    mean = torch.cat([model.encode(xb).mean for xb in x.split(batch_size)])
    per_scale = {}
    for s in scales:
        logvar = torch.tensor(2.0 * math.log(s), device=x.device, dtype=mean.dtype)
        per_scale[s] = _iwae_from_moments(model, x, mean, logvar, k, seed, batch_size)
    best = max(per_scale, key=per_scale.get)
    return {
        "bound": per_scale[best],
        "best_scale": best,
        "per_scale": per_scale,
        "k": k,
        "what": f"best bound with q = N(f(x), s^2 I) over {len(scales)} scales s, k = {k}; not a VAE ELBO",
    }


__all__ = ["BATCH_SIZE", "DEFAULT_SCALES", "MAX_DECODED_ROWS", "deterministic_bound", "elbo", "iwae_bound",
           "log_importance_weights", "reconstruction_errors"]
