"""The two-stage VAE sampler: a second, small VAE fitted to a model's codes (Dai & Wipf 2019).

Dai & Wipf ("Diagnosing and enhancing VAE models", ICLR 2019) argue that a VAE's aggregate
posterior q(z) need not match its prior N(0, I), so that codes drawn from the prior land where
the decoder has seen no data. Their fix is a second VAE trained on the first model's codes z:
its prior is N(0, I) on a new code u, its encoder q(u|z) is a diagonal Gaussian, and its
decoder is a Gaussian p(z|u) = N(g(u), gamma I) whose variance gamma is *learned*, a single
scalar that can shrink towards zero so that the second stage's marginal p(z) sharpens onto
q(z). New codes are z = g(u) + sqrt(gamma) eps with u ~ N(0, I); the first model's decoder
turns them into images.

:class:`TwoStageSampler` fits that second stage to the codes of one model (the encoder means
of its training split, as every sampler in :mod:`vaelib.samplers`) and has the
interface of those samplers: the constructor fits, :meth:`~vaelib.samplers.Sampler.sample`
draws codes for a seed, :meth:`~vaelib.samplers.Sampler.log_prob` scores codes
(an importance-sampled estimate, in nats).

The codes are standardised per dimension (mean 0, standard deviation 1) before the second
stage is fitted, and samples are mapped back; so one setting of the hyperparameters below
works whatever the scale of a design's codes (a plain auto-encoder's codes can have standard
deviations of 10 or 0.01), and shifting or scaling a code dimension shifts or scales the samples
(up to rounding: the two fits see standardised codes that differ in the last bits, and end
close, not equal).

The second stage here is much smaller than Dai & Wipf's (three layers of 1,024 units trained
for hundreds of epochs): it is sized to fit 4,000 codes of dimension 32 in under 10 s of CPU
time on one thread under canonical numerics; see the constants below. Two additions make the
small budget work: a KL warm-up (:data:`WARMUP`), without which the second stage stays a single
Gaussian on clustered codes, and a faster-moving log gamma (:data:`GAMMA_SPEED`). On two
well-separated clusters it still leaves about 7 % of its samples between them (a continuous
decoder must cross the gap), where a Gaussian mixture fitted to the codes leaves none.
"""
from __future__ import annotations

import math
import time
from numbers import Integral

import torch
from torch import nn

from .blas import Linear
from .errors import VaelibError
from .sampler_base import Sampler
from .models import LOGVAR_RANGE
from .optim import Adam
from .regularisers import kl_to_standard_normal

#: Name under which :func:`vaelib.samplers.fit_sampler` can register this sampler.
NAME = "two-stage"
#: One-line description for :data:`vaelib.samplers.SAMPLERS`.
DESCRIPTION = ("a second VAE fitted to the training codes, with a learned output variance "
               "(two-stage VAE, Dai & Wipf 2019)")

#: Units in each hidden layer of the second stage's encoder and decoder. Dai & Wipf use 1,024;
#: 128 fits codes of up to a few dozen dimensions (96 fitted the two-cluster test worse, 256
#: costs twice the time per step) and keeps a fit of 4,000 codes of dimension 32 under 10 s of
#: CPU time on one thread (9.4-9.7 s measured on a busy 2-core Intel Xeon; 7.5 s at dimension 2).
HIDDEN = 128
#: Hidden layers (ReLU) in the encoder and in the decoder (Dai & Wipf use 3); a third layer of 96
#: units fitted the two-cluster test no better in the same time.
DEPTH = 2
#: Linear skip paths from the input to the output of the encoder and of the decoder, as Dai & Wipf's
#: second stage concatenates its input to its last hidden layer: the identity-like map that codes
#: which already follow a Gaussian need is then one linear layer away.
SKIP = True
#: Gradient steps of one fit, whatever the number of codes, so that the fit time does not grow with
#: n (Dai & Wipf train for hundreds of epochs; 3,500 steps of 256 codes are 224 passes over 4,000 codes).
STEPS = 3500
#: Codes per gradient step (all of them when fewer); the codes are reshuffled by a seeded permutation
#: for every pass, and a short last batch is dropped. 256 fitted the two-cluster test better than
#: 128 at 1.5x the time per step (a step of these small layers is mostly fixed overhead).
BATCH_SIZE = 256
#: Adam's step size at the start; it decays by a cosine to :data:`LR_FINAL_FRACTION` of it at the end,
#: which lets the learned variance settle (Dai & Wipf halve their step size in steps instead).
#: 3e-3 reached a lower loss than 1e-3 in the same steps; 5e-3 was no better.
LR = 3e-3
#: Final step size as a share of :data:`LR`.
LR_FINAL_FRACTION = 0.05
#: The KL term's weight rises linearly from 0 to 1 over this share of the steps (KL warm-up,
#: Bowman et al. 2016; Sonderby et al. 2016). Without it the second stage stays in the collapsed
#: optimum it starts near (decoder output constant, gamma = 1: a single Gaussian) on clustered codes.
WARMUP = 0.2
#: log gamma = GAMMA_SPEED * (a parameter that starts at 0, gamma = 1): Adam moves every parameter by
#: about its step size per step whatever the gradient, so without the factor log gamma could fall by
#: only ~3e-3 per step and would still be far from its optimum (log 0.002 = -6) when the fit ends.
GAMMA_SPEED = 10.0
#: Lower bound of the learned log-variance log gamma (gamma in standardised units). Codes that lie on
#: a lower-dimensional set let gamma -> 0 and the likelihood grow without bound; the bound
#: (gamma >= 1e-6, a standard deviation of 0.1 % of a code's) keeps the fit finite there.
LOG_GAMMA_MIN = math.log(1e-6)
#: Fewest codes a fit accepts: a density estimate with a network of tens of thousands of weights
#: needs far more, but below this it is meaningless (the GMM sampler needs 20 for 10 components).
MIN_CODES = 50
#: Importance samples per code for :meth:`TwoStageSampler.log_prob` (the IWAE bound, Burda et al. 2016).
LOG_PROB_SAMPLES = 64
#: Codes scored at a time by :meth:`TwoStageSampler.log_prob` (bounds its memory).
LOG_PROB_BATCH = 1024
#: Standard deviations below this share of the largest one count as zero: such a code dimension
#: is constant, and it is shifted but not scaled (dividing by ~0 would blow it up).
CONSTANT_DIM_TOL = 1e-8


def _mlp(sizes: list[int]) -> nn.Sequential:
    """:class:`vaelib.blas.Linear` layers between consecutive ``sizes``, ReLU after all but the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class SecondStage(nn.Module):
    """The second-stage VAE on standardised codes z (batch, d): q(u|z) = N(mu, diag(var)), p(z|u) = N(g(u), gamma I).

    The encoder maps d -> :data:`HIDDEN` (x :data:`DEPTH`) -> 2 d' (mean and log-variance of
    u, clamped to :data:`vaelib.models.LOGVAR_RANGE`); the decoder maps d' -> HIDDEN (x DEPTH)
    -> d. ``log_gamma`` is one learned scalar, the log of the decoder's output variance,
    bounded below by :data:`LOG_GAMMA_MIN`. Here d' = d, as in Dai & Wipf.
    """

    def __init__(self, dim: int, latent_dim: int, hidden: int = HIDDEN, depth: int = DEPTH):
        super().__init__()
        self.dim, self.latent_dim = int(dim), int(latent_dim)
        self.encoder = _mlp([dim, *[hidden] * depth, 2 * latent_dim])
        self.decoder_net = _mlp([latent_dim, *[hidden] * depth, dim])
        self.skip = SKIP
        if SKIP:
            self.enc_skip = Linear(dim, 2 * latent_dim, bias=False)
            self.dec_skip = Linear(latent_dim, dim, bias=False)
        self.raw_log_gamma = nn.Parameter(torch.zeros(()))

    def decoder(self, u: torch.Tensor) -> torch.Tensor:
        """The decoder's mean g(u) (batch, d) of p(z|u), in standardised code units, for second-stage codes ``u`` (batch, d')."""
        out = self.decoder_net(u)
        return out + self.dec_skip(u) if self.skip else out

    @property
    def log_gamma(self) -> torch.Tensor:
        """log gamma, the log of the decoder's output variance (standardised units squared); a scalar tensor."""
        return (GAMMA_SPEED * self.raw_log_gamma).clamp(min=LOG_GAMMA_MIN)

    def encode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(u|z), each (batch, d')."""
        h = self.encoder(z)
        if self.skip:
            h = h + self.enc_skip(z)
        mean, logvar = h.split(self.latent_dim, dim=1)
        return mean, logvar.clamp(*LOGVAR_RANGE)

    def nll(self, z: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
        """-log N(z; z_hat, gamma I) per code in nats, summed over dimensions; shape (batch,)."""
        log_gamma = self.log_gamma
        return 0.5 * ((z - z_hat).pow(2).sum(dim=1) * torch.exp(-log_gamma)
                      + self.dim * (log_gamma + math.log(2 * math.pi)))

    def loss(self, z: torch.Tensor, generator: torch.Generator, beta: float = 1.0) -> torch.Tensor:
        """The negative ELBO of the batch ``z``, nats per code (mean over the batch); a scalar tensor."""
        mean, logvar = self.encode(z)
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        u = mean + torch.exp(0.5 * logvar) * eps
        return (self.nll(z, self.decoder(u)) + beta * kl_to_standard_normal(mean, logvar)).mean()


class TwoStageSampler(Sampler):
    """Codes from a second-stage VAE fitted to ``codes`` (Dai & Wipf 2019); see the module docstring.

    ``codes`` (n, d) are a model's training codes (encoder means), any float dtype, at least
    :data:`MIN_CODES` rows and d + 1, all finite. The fit is deterministic for ``seed``:
    weights are initialised under ``torch.manual_seed(seed)`` inside ``torch.random.fork_rng``
    (torch's global random state is left as it was), the shuffling and the reparameterisation
    noise come from ``torch.Generator`` objects seeded from ``seed``. Raises VaelibError for
    bad codes.

    Attributes after the fit: ``shift`` and ``scale`` (float64, (d,)), the per-dimension mean and
    standard deviation used to standardise the codes (in code units); ``gamma`` (float), the
    learned output variance of the second stage in standardised units (code variance = 1);
    ``losses`` (list of float), the mean training objective of each pass over the codes in nats
    per code of the standardised codes (the negative ELBO, its KL term weighted by the warm-up
    factor during the first :data:`WARMUP` of the steps); ``fit_seconds`` (float), the wall time
    of the fit in seconds.

    Sampling draws u ~ N(0, I) and returns z = g(u) + sqrt(gamma) eps, mapped back to code units:
    the second stage's own marginal p(z). Dai & Wipf decode g(u) alone, which is the same when
    gamma -> 0; on codes that already follow a Gaussian, a whole family of second stages with
    gamma well above 0 fits equally well (gamma ~ 0.03-0.06 measured), and g(u) alone would
    then shrink the samples. ``steps`` (default :data:`STEPS`) is for quick tests.
    """

    name = NAME

    def __init__(self, codes: torch.Tensor, seed: int = 0, *, steps: int = STEPS):
        codes = _check_fit_codes(codes)
        if isinstance(seed, bool) or not isinstance(seed, Integral):
            raise VaelibError(f"seed must be an integer, got {seed!r}")
        if isinstance(steps, bool) or not isinstance(steps, Integral) or steps < 1:
            raise VaelibError(f"steps must be a positive integer, got {steps!r}")
        n, d = codes.shape
        super().__init__(d)
        self.seed, self.steps = int(seed), int(steps)
        start = time.perf_counter()
        x = codes.detach().cpu().double()
        self.shift = x.mean(dim=0)
        std = x.std(dim=0)
        self.scale = torch.where(std > CONSTANT_DIM_TOL * max(float(std.max()), 1e-300), std, torch.ones_like(std))
        standardised = ((x - self.shift) / self.scale).float()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.model = SecondStage(d, d)
        self.losses = _fit(self.model, standardised, self.seed, self.steps)
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.gamma = float(self.model.log_gamma.exp())
        self.fit_seconds = time.perf_counter() - start

    @torch.no_grad()
    def _sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """``n`` codes z = g(u) + sqrt(gamma) eps in code units, u and eps standard normal from ``gen``; float64 (n, d)."""
        u = torch.randn(n, self.latent_dim, generator=gen)
        z = self.model.decoder(u)
        z = z + math.sqrt(self.gamma) * torch.randn(z.shape, generator=gen)
        return self.shift + z.double() * self.scale

    @torch.no_grad()
    def _log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Importance-sampled log p(z) in nats (float64, (n,)): log mean_k p(z|u_k) p(u_k) / q(u_k|z), u_k ~ q(u|z).

        With :data:`LOG_PROB_SAMPLES` samples it is a lower bound of log p(z) in expectation (Burda et al.
        2016); the noise comes from a generator seeded with the fit's seed, so a code always gets the same score.
        """
        gen = torch.Generator().manual_seed(self.seed)
        log_det = float(self.scale.log().sum())   # dz_std / dz: the density in code units
        k = LOG_PROB_SAMPLES
        out = []
        for part in ((z - self.shift) / self.scale).float().split(LOG_PROB_BATCH):
            mean, logvar = self.model.encode(part)
            eps = torch.randn((k, *mean.shape), generator=gen)
            u = mean + torch.exp(0.5 * logvar) * eps                     # (k, b, d')
            z_hat = self.model.decoder(u.reshape(-1, self.latent_dim)).reshape(k, part.shape[0], -1)
            log_p_z_u = -self.model.nll(part.expand(k, -1, -1).reshape(-1, self.latent_dim),
                                        z_hat.reshape(-1, self.latent_dim)).reshape(k, -1)
            log_p_u = -0.5 * (u.pow(2).sum(-1) + self.latent_dim * math.log(2 * math.pi))
            log_q = -0.5 * (eps.pow(2) + logvar + math.log(2 * math.pi)).sum(-1)
            w = (log_p_z_u + log_p_u - log_q).double()
            out.append(torch.logsumexp(w, dim=0) - math.log(k))
        return torch.cat(out) - log_det

    def __repr__(self) -> str:
        return f"TwoStageSampler(latent_dim={self.latent_dim}, seed={self.seed}, gamma={self.gamma:.3g})"


def _fit(model: SecondStage, codes: torch.Tensor, seed: int, steps: int) -> list[float]:
    """Fit ``model`` to the standardised float32 ``codes`` with Adam for ``steps`` steps; mean loss (nats/code) per pass."""
    params = list(model.parameters())
    optimiser = Adam(params, lr=LR)
    shuffle_gen = torch.Generator().manual_seed(seed)
    noise_gen = torch.Generator().manual_seed(seed + 1)
    n = codes.shape[0]
    batch = min(BATCH_SIZE, n)
    losses: list[float] = []
    step, total, seen = 0, 0.0, 0
    model.train()
    while step < steps:
        perm = torch.randperm(n, generator=shuffle_gen)
        for idx in perm.split(batch):
            if idx.shape[0] < batch or step >= steps:
                break   # a short last batch is dropped: every step sees the same number of codes
            optimiser.lr = LR * (LR_FINAL_FRACTION + (1 - LR_FINAL_FRACTION) * 0.5 * (1 + math.cos(math.pi * step / steps)))
            beta = min(1.0, step / (WARMUP * steps)) if WARMUP > 0 else 1.0
            loss = model.loss(codes[idx], noise_gen, beta)
            grads = torch.autograd.grad(loss, params)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise VaelibError(f"fitting the two-stage sampler diverged at step {step + 1} (loss {value}); "
                                  f"the codes may be degenerate")
            optimiser.step(grads)
            total += value * batch
            seen += batch
            step += 1
        losses.append(total / seen)
        total, seen = 0.0, 0
    return losses


def _check_fit_codes(codes: torch.Tensor) -> torch.Tensor:
    """Return ``codes`` if it is a finite float tensor (n, d) with n >= max(MIN_CODES, d + 1); VaelibError otherwise."""
    if not isinstance(codes, torch.Tensor) or codes.ndim != 2 or not codes.is_floating_point():
        got = tuple(codes.shape) if isinstance(codes, torch.Tensor) else type(codes).__name__
        raise VaelibError(f"codes must be a float tensor of shape (n, latent_dim), got {got}")
    n, d = codes.shape
    if d < 1:
        raise VaelibError(f"codes have no dimensions (shape {tuple(codes.shape)})")
    need = max(MIN_CODES, d + 1)
    if n < need:
        raise VaelibError(f"the two-stage sampler needs at least max({MIN_CODES}, latent_dim + 1) = {need} codes, got {n}")
    bad = int((~torch.isfinite(codes)).sum())
    if bad:
        raise VaelibError(f"codes contain {bad} NaN or infinite values; the model's encoder is broken")
    return codes


__all__ = ["BATCH_SIZE", "CONSTANT_DIM_TOL", "DEPTH", "DESCRIPTION", "GAMMA_SPEED", "HIDDEN", "LOG_GAMMA_MIN",
           "LOG_PROB_BATCH", "LOG_PROB_SAMPLES", "LR", "LR_FINAL_FRACTION", "MIN_CODES", "NAME", "SKIP", "STEPS",
           "SecondStage", "TwoStageSampler", "WARMUP"]
