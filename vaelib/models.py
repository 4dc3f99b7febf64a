"""The controlled model family: one encoder trunk, one of three heads, one decoder.

Shapes: data ``x`` is ``(batch, data_dim)`` (flattened images), codes ``z`` are
``(batch, latent_dim)``. All losses are in nats: summed over pixels and latent
dimensions, averaged over the batch.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from .blas import Conv2d, ConvTranspose2d, Linear
from .config import TrainConfig
from .errors import VaelibError
from .regularisers import Regulariser, get_regulariser

#: The Gaussian head's log-variance is clamped to this range (sigma in [4.5e-5, 148]):
#: exp() of a runaway logit can then never overflow or underflow to exactly zero.
LOGVAR_RANGE: tuple[float, float] = (-20.0, 10.0)

#: Images per encoder call of the batched encodings (:meth:`AutoEncoder.encode_means` and the like).
ENCODE_BATCH_SIZE: int = 1000


class Encoding(NamedTuple):
    """The encoder's output for a batch: ``mean`` (batch, latent) and ``logvar``.

    ``logvar`` is ``None`` for the deterministic head (z = mean); for the fixed-variance
    head it is a constant tensor broadcastable to ``mean``.
    """

    mean: torch.Tensor
    logvar: torch.Tensor | None


class LossTerms(NamedTuple):
    """Named loss terms of one batch, each a scalar tensor in nats per example.

    ``total = reconstruction + weight * regulariser``.
    """

    reconstruction: torch.Tensor
    regulariser: torch.Tensor
    total: torch.Tensor


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers between consecutive ``sizes`` with ReLU in between (none after the last).

    The layers are :class:`vaelib.blas.Linear`: ``torch.nn.Linear`` whose products run on the canonical kernels.
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ConvTrunk(nn.Module):
    """Small conv net for square images: (B, s*s) -> 32 ch s/2 -> 64 ch s/4 -> hidden_dims (ReLU).

    Its convolutions are :class:`vaelib.blas.Conv2d` (``torch.nn.Conv2d`` on the canonical kernels).
    """

    def __init__(self, side: int, hidden_dims: tuple[int, ...]):
        super().__init__()
        self.side = side
        self.conv = nn.Sequential(
            Conv2d(1, 32, 4, stride=2, padding=1), nn.ReLU(),   # s x s -> s/2 x s/2
            Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(),  # s/2 -> s/4
            nn.Flatten(),
        )
        flat = 64 * (side // 4) ** 2
        self.fc = nn.Sequential(mlp([flat, *hidden_dims]), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x.view(-1, 1, self.side, self.side)))


class ConvDecoder(nn.Module):
    """The conv trunk's mirror: z -> reversed hidden_dims -> 64 ch s/4 -> 32 ch s/2 -> 1 ch s x s (flattened output).

    Transposed convolutions (:class:`vaelib.blas.ConvTranspose2d`) of kernel 4, stride 2, padding 1,
    with ReLU between layers and none on the output (logits or means, as the MLP decoder's).
    """

    def __init__(self, side: int, latent_dim: int, hidden_dims: tuple[int, ...]):
        super().__init__()
        self.side = side
        self.fc = nn.Sequential(mlp([latent_dim, *reversed(hidden_dims), 64 * (side // 4) ** 2]), nn.ReLU())
        self.deconv = nn.Sequential(
            ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),   # s/4 -> s/2
            ConvTranspose2d(32, 1, 4, stride=2, padding=1),               # s/2 -> s
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's output for codes ``z`` (batch, latent_dim); shape (batch, s * s)."""
        h = self.fc(z).view(-1, 64, self.side // 4, self.side // 4)
        return self.deconv(h).reshape(z.shape[0], self.side * self.side)


class AutoEncoder(nn.Module):
    """Encoder trunk + head, decoder, likelihood and regulariser of one design.

    Build it with :func:`build_model`. ``head`` is 'deterministic', 'fixed-variance'
    or 'gaussian' (see :data:`vaelib.config.HEADS`).
    """

    def __init__(
        self,
        data_dim: int,
        latent_dim: int,
        hidden_dims: tuple[int, ...] = (400,),
        head: str = "gaussian",
        regulariser: Regulariser | None = None,
        weight: float = 1.0,
        sigma0: float = 0.5,
        likelihood: str = "bernoulli",
        sigma_x: float = 0.1,
        trunk: str = "mlp",
        image_shape: tuple[int, int] | None = None,
    ):
        super().__init__()
        self.data_dim = data_dim
        self.image_shape = image_shape
        self.latent_dim = latent_dim
        self.head = head
        self.regulariser = regulariser or get_regulariser("none")
        self.weight = float(weight)
        self.sigma0 = float(sigma0)
        self.likelihood = likelihood
        self.sigma_x = float(sigma_x)
        if trunk == "conv":
            if image_shape is None or image_shape[0] != image_shape[1] or image_shape[0] % 4:
                raise VaelibError(f"the conv trunk needs square images with a side divisible by 4, got {image_shape}")
            self.trunk: nn.Module = ConvTrunk(image_shape[0], hidden_dims)
        else:
            self.trunk = nn.Sequential(mlp([data_dim, *hidden_dims]), nn.ReLU(inplace=True))
        h = hidden_dims[-1]
        # the Gaussian head computes mean and log-variance with one layer (one matmul, then split)
        self.to_code = Linear(h, 2 * latent_dim if head == "gaussian" else latent_dim)
        self.decoder = (ConvDecoder(image_shape[0], latent_dim, hidden_dims) if trunk == "conv"
                        else mlp([latent_dim, *reversed(hidden_dims), data_dim]))
        self.register_buffer("fixed_logvar", torch.tensor(2.0 * math.log(sigma0)), persistent=False)

    @property
    def stochastic(self) -> bool:
        """True when q(z|x) is a distribution (fixed-variance or Gaussian head)."""
        return self.head != "deterministic"

    @property
    def device(self) -> torch.device:
        """The device the model's parameters live on (where its inputs must go)."""
        return next(self.parameters()).device

    # ---- encoder -------------------------------------------------------------
    def check_input(self, x: torch.Tensor) -> None:
        """Raise VaelibError unless ``x`` is a float tensor of shape (batch, data_dim)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != self.data_dim or not x.is_floating_point():
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise VaelibError(
                f"input has shape {got}; the model expects a float tensor of shape (batch, {self.data_dim}) "
                "(flattened images)"
            )

    def encode(self, x: torch.Tensor) -> Encoding:
        """Return the :class:`Encoding` (mean and log-variance of q(z|x), or f(x) for the deterministic head)."""
        self.check_input(x)
        code = self.to_code(self.trunk(x))
        if self.head == "deterministic":
            return Encoding(code, None)
        if self.head == "fixed-variance":
            return Encoding(code, self.fixed_logvar)
        mean, logvar = code.split(self.latent_dim, dim=1)
        return Encoding(mean, logvar.clamp(*LOGVAR_RANGE))

    def sample_z(self, enc: Encoding, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw z ~ q(z|x) by reparameterisation (z = mean + exp(logvar/2) * eps); the mean if deterministic."""
        if enc.logvar is None:
            return enc.mean
        eps = torch.randn(enc.mean.shape, generator=generator, device=enc.mean.device, dtype=enc.mean.dtype)
        return enc.mean + torch.exp(0.5 * enc.logvar) * eps

    # ---- batched encodings, for evaluation (no gradients) ----------------------------------------
    def _encode_batches(self, x: torch.Tensor, batch_size: int) -> Iterator[Encoding]:
        """Yield the :class:`Encoding` of each batch of ``batch_size`` rows of ``x``, moved to the model's device."""
        device = self.device
        for xb in x.split(batch_size):
            yield self.encode(xb.to(device))

    @torch.no_grad()
    def encode_means(self, x: torch.Tensor, batch_size: int = ENCODE_BATCH_SIZE) -> torch.Tensor:
        """Encoder means of ``x`` (= f(x) for the deterministic head), ``batch_size`` rows at a time.

        Returns a (n, latent_dim) tensor on the model's device, in latent units.
        """
        return torch.cat([enc.mean for enc in self._encode_batches(x, batch_size)])

    @torch.no_grad()
    def encode_batched(self, x: torch.Tensor, batch_size: int = ENCODE_BATCH_SIZE) -> Encoding:
        """The :class:`Encoding` of all of ``x``, ``batch_size`` rows at a time, on the model's device.

        ``mean`` is (n, latent_dim); ``logvar`` is (n, latent_dim) too (the fixed-variance head's
        constant expanded to every row), or ``None`` for the deterministic head. Latent units (log of
        squared latent units for ``logvar``). Raises VaelibError unless ``x`` is (n, data_dim).
        """
        self.check_input(x)
        means, logvars = [], []
        for enc in self._encode_batches(x, batch_size):
            means.append(enc.mean)
            if enc.logvar is not None:
                logvars.append(enc.logvar.expand_as(enc.mean))
        return Encoding(torch.cat(means), torch.cat(logvars) if logvars else None)

    @torch.no_grad()
    def sample_codes(self, x: torch.Tensor, seed: int = 0, batch_size: int = ENCODE_BATCH_SIZE) -> torch.Tensor:
        """One z ~ q(z|x) per row of ``x`` (the code f(x) itself for the deterministic head); (n, latent_dim).

        The noise comes from one ``torch.Generator`` on the model's device seeded with ``seed``,
        drawn batch by batch of ``batch_size`` rows (:meth:`sample_z`), so the codes are reproducible.
        Latent units, on the model's device.
        """
        gen = torch.Generator(device=self.device).manual_seed(seed)
        return torch.cat([self.sample_z(enc, gen) for enc in self._encode_batches(x, batch_size)])

    # ---- decoder -------------------------------------------------------------
    def decoder_output(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's raw output for codes ``z``: logits (Bernoulli) or the mean (Gaussian)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise VaelibError(f"codes have shape {tuple(z.shape)}; the decoder expects (batch, {self.latent_dim})")
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The mean of p(x|z) for codes ``z``: pixel probabilities in [0, 1] (Bernoulli) or the Gaussian mean."""
        out = self.decoder_output(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def reconstruction_nll(self, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) per example in nats, summed over pixels; shape (batch,). ``output`` from decoder_output."""
        if self.likelihood == "bernoulli":
            return F.binary_cross_entropy_with_logits(output, x, reduction="none").sum(dim=1)
        var = self.sigma_x ** 2
        return 0.5 * (x - output).pow(2).sum(dim=1) / var + 0.5 * self.data_dim * math.log(2 * math.pi * var)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` codes drawn from the prior N(0, I); returns (n, data_dim) means of p(x|z)."""
        if n <= 0:
            raise VaelibError(f"number of samples must be > 0, got {n}")
        device = self.to_code.weight.device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return self.decode(z)

    # ---- loss ----------------------------------------------------------------
    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> LossTerms:
        """Named loss terms for a batch ``x``: reconstruction (nats/example), regulariser, total.

        total = reconstruction + weight * regulariser; sum over pixels and latent
        dimensions, mean over the batch.
        """
        enc = self.encode(x)
        z = self.sample_z(enc, generator)
        if self.likelihood == "bernoulli":
            # one fused op: sum over pixels and batch, then divide by the batch size
            rec = F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="sum") / x.shape[0]
        else:
            rec = self.reconstruction_nll(x, self.decoder(z)).mean()
        reg = self.regulariser(z, enc.mean, enc.logvar, generator)
        return LossTerms(rec, reg, rec + self.weight * reg)


def build_model(config: TrainConfig, data_dim: int, image_shape: tuple[int, int] | None = None) -> AutoEncoder:
    """Return a fresh :class:`AutoEncoder` for ``config`` on data with ``data_dim`` features."""
    return AutoEncoder(
        data_dim=data_dim,
        latent_dim=config.latent_dim,
        hidden_dims=config.hidden_dims,
        head=config.head,
        regulariser=get_regulariser(config.regulariser_name),
        weight=config.regulariser_weight,
        sigma0=config.sigma0,
        likelihood=config.likelihood,
        sigma_x=config.sigma_x,
        trunk=config.trunk,
        image_shape=image_shape,
    )


__all__ = ["AutoEncoder", "ConvDecoder", "ConvTrunk", "ENCODE_BATCH_SIZE", "Encoding", "LossTerms", "LOGVAR_RANGE", "build_model",
           "mlp"]
