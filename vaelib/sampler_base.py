"""The interface of every sampler of codes (:class:`Sampler`) and the check of the codes it is given (:func:`check_codes`).

Its own module so that :mod:`vaelib.samplers` (the fitted samplers and ``fit_sampler``) and
:mod:`vaelib.two_stage` (a sampler that is a model of its own) both build on it without importing
each other.
"""
from __future__ import annotations

from numbers import Integral

import torch

from .errors import VaelibError


class Sampler:
    """A distribution over codes: :meth:`sample` draws codes, :meth:`log_prob` scores them (nats)."""

    name: str = ""

    def __init__(self, latent_dim: int):
        self.latent_dim = int(latent_dim)

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """Draw ``n`` codes with a generator seeded by ``seed``; float32 tensor (n, latent_dim) on the CPU."""
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
            raise VaelibError(f"number of samples must be a positive integer, got {n!r}")
        return self._sample(int(n), torch.Generator().manual_seed(int(seed))).float()

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Log-density of each row of ``z`` (n, latent_dim) in nats; float32 tensor (n,) on the CPU."""
        z = check_codes(z, "codes to score", latent_dim=self.latent_dim).detach().cpu().double()
        return self._log_prob(z).float()

    def _sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def _log_prob(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(latent_dim={self.latent_dim})"


def check_codes(codes: torch.Tensor, what: str, latent_dim: int | None = None) -> torch.Tensor:
    """Return ``codes`` if it is a finite float tensor (n, d) with n >= 1 (and d == ``latent_dim`` when given);
    VaelibError naming ``what`` otherwise."""
    if not isinstance(codes, torch.Tensor) or codes.ndim != 2 or not codes.is_floating_point():
        got = tuple(codes.shape) if isinstance(codes, torch.Tensor) else type(codes).__name__
        raise VaelibError(f"{what} must be a float tensor of shape (n, latent_dim), got {got}")
    if codes.shape[0] < 1 or codes.shape[1] < 1:
        raise VaelibError(f"{what} is empty (shape {tuple(codes.shape)})")
    if latent_dim is not None and codes.shape[1] != latent_dim:
        raise VaelibError(f"{what} have {codes.shape[1]} dimensions; the sampler has latent_dim {latent_dim}")
    bad = int((~torch.isfinite(codes)).sum())
    if bad:
        raise VaelibError(f"{what} contain {bad} NaN or infinite values; the model's encoder is broken")
    return codes


__all__ = ["Sampler", "check_codes"]
