"""Annealed importance sampling (AIS) estimate of log p(x) for any design, at any latent dimension (nats/image).

log p(x) = log integral of p(x|z) N(z; 0, I) dz needs only the decoder and the prior, so it is the one
likelihood every design has, deterministic encoders included. At latent dimension 1 or 2
:func:`vaelib.metrics.likelihood.exact_log_likelihood` computes it by quadrature; above that this module
estimates it by AIS (Neal 2001), as Wu, Burda, Salakhutdinov & Grosse (2017) do for decoder-based models.

Method, per image x:

* The geometric path f_t(z) = N(z; 0, I) p(x|z)^beta_t from beta_0 = 0 (the prior, normalised) to
  beta_T = 1 (the unnormalised posterior p(z) p(x|z), whose integral is p(x)), with T = ``n_temperatures``
  steps on the sigmoid schedule of Wu et al. (their ``sigmoidial_schedule``, radius 4):
  beta_t = (s(-4 + 8 t / T) - s(-4)) / (s(4) - s(-4)), s the logistic function, t = 0..T. It packs
  temperatures densely near both ends, where the path changes fastest.
* ``n_chains`` independent chains start at z_0 ~ N(0, I). Step t adds (beta_t - beta_{t-1}) log p(x|z_{t-1})
  to a chain's log weight, then moves z by one Hamiltonian Monte Carlo transition that leaves f_t invariant:
  a fresh momentum ~ N(0, I), ``leapfrog_steps`` leapfrog steps along grad log f_t(z) = -z + beta_t grad
  log p(x|z) (grad by ``torch.autograd.grad`` through ``model.decoder_output``), then a Metropolis accept or
  reject. (The transition at beta_T = 1 would not change any weight, so it is skipped.)
* The leapfrog step size is adapted per image toward an acceptance probability of 0.65, as Wu et al. do:
  after each transition it is multiplied by exp(acceptance - 0.65) and kept in [1e-4, 1]. (Wu et al.
  multiply by 1.02 or 0.98 over thousands of temperatures; with a few hundred, a proportional update is
  needed to follow the posterior as it narrows.) The acceptance that drives it comes from one extra
  *tuning chain* per image (:data:`TUNING_CHAINS`) that runs alongside the weighted chains with the same
  step size and whose own weight is dropped. So the weighted chains' transitions never depend on their
  own past, and each weight stays an unbiased estimate of p(x). Adapting on the weighted chains
  themselves (as Wu et al.'s code does) is not harmless: on a linear-Gaussian decoder at d = 8 with
  3,000 temperatures it put the estimate 0.14 and 0.16 nats/image (6 standard errors) ABOVE the exact
  log p(x), where the tuning chain gives -0.03 and -0.06 (200 images, two seeds).
* The estimate is the log-mean-exp of the chains' log weights. Each weight is an unbiased estimate of
  p(x), so by Jensen's inequality the estimate is a stochastic LOWER bound on log p(x) in expectation; its
  gap shrinks with more temperatures (the dominant factor) and more chains. The standard deviation of the
  chains' log weights (``chain_spread``) is the diagnostic: near 0, every chain found the same p(x) and
  the bound is tight; the larger it is, the more the estimate rests on its luckiest chain. Measured at the
  default 4 chains (tests and benchmark): spreads up to about 1.1 nats went with gaps of at most 0.25
  nats/image, a spread of 1.8 nats with a gap of 0.8 nats (a linear-Gaussian decoder at d = 8 whose
  posterior's standard deviations run from 0.05 to 0.18: one step size for all directions mixes slowly
  there), 5.3 nats with 4.6 nats; roughly, the gap was spread^2 / 4. A large spread asks for more
  ``n_temperatures``.

Every random draw (start points, momenta, accept tests, tuning chains included) comes from a
``torch.Generator`` seeded with ``seed``, image batch by image batch, so a seed (with the same
``batch_size``) gives the same bits. Images and chains run as one batch of (images x chains) codes
through the decoder.

References: R. M. Neal, "Annealed importance sampling", Statistics and Computing 11 (2001) 125-139.
Y. Wu, Y. Burda, R. Salakhutdinov, R. Grosse, "On the quantitative analysis of decoder-based generative
models", ICLR 2017. R. Grosse, Z. Ghahramani, R. P. Adams, "Sandwiching the marginal likelihood using
bidirectional Monte Carlo", arXiv:1511.02543 (2015).
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch

from ..errors import VaelibError
from ..models import AutoEncoder
from .likelihood import _check_batch_size, _check_x
from .registry import EvaluationContext, MetricGroup

#: The scored images (the first ones of the test or validation split) the ``ais`` metric group estimates log p(x) on.
AIS_IMAGES: int = 200

#: Independent chains per image (the log-mean-exp is over these; >= 2 for ``chain_spread``).
DEFAULT_CHAINS: int = 4

#: Annealing steps T (temperatures beta_1..beta_T after beta_0 = 0).
DEFAULT_TEMPERATURES: int = 400

#: Leapfrog steps per HMC transition (each costs one decoder forward and backward pass).
#:
#: Why 4 chains x 400 temperatures x 2 leapfrog steps: with the tuning chain that is 5 x 399 x 2 = 3,990
#: decoder passes per image, and 200 mnist5k test images of a 784-400-d model take 16-17 s of one CPU thread
#: at d = 2, 8 and 32 (about 20 us per code and pass, canonical numerics, 2-core Intel Xeon;
#: ``benchmarks/ais_time.py``). What it buys, on mnist5k models trained 10 epochs: against exact quadrature
#: at d = 2 (200 test images) -0.094 +- 0.025 nats/image (VAE) and -0.060 +- 0.025 (AE); against 10 times
#: as many temperatures (50 images) -0.10 +- 0.07 (VAE, d = 8) and -0.19 +- 0.08 (VAE, d = 32). At about
#: the same cost, 3 x 400 x 2, 4 x 320 x 2, 7 x 200 x 2 and 3 x 800 x 1 were none of them clearly better
#: (40 images, VAE d = 8 and 32, AE d = 8: all within 0.3 nats, noise about 0.1); 4 leapfrog steps per
#: transition (8 x 100 x 4) was 0.3-0.5 nats worse in a first round of runs.
DEFAULT_LEAPFROG_STEPS: int = 2

#: Images per batch: each batch decodes ``batch_size * (n_chains + 1)`` codes at once (the tuning chain).
BATCH_SIZE: int = 100

#: The mean acceptance probability per image that the step size is adapted toward (Wu et al. 2017).
TARGET_ACCEPTANCE: float = 0.65

#: Extra chains per image that only adapt the step size (their weights are dropped); see the module docstring.
TUNING_CHAINS: int = 1

#: The leapfrog step size every image starts with, and the range it is kept in.
INITIAL_STEP_SIZE: float = 0.1
STEP_SIZE_RANGE: tuple[float, float] = (1e-4, 1.0)

#: The sigmoid schedule runs the logistic function over [-radius, radius] (Wu et al.'s ``rad=4``).
SIGMOID_RADIUS: float = 4.0


class AISPerImage(NamedTuple):
    """Per-image output of :func:`ais_per_image` (n images, K chains; float64 on the CPU)."""

    log_likelihood: torch.Tensor  # (n,) the AIS estimate of log p(x): log-mean-exp of the chains' weights (nats)
    log_weights: torch.Tensor     # (n, K) each chain's log importance weight (nats)
    acceptance: torch.Tensor      # (n,) fraction of HMC proposals accepted, over chains and transitions
    step_size: torch.Tensor       # (n,) the leapfrog step size each image ended with (latent units)


def sigmoid_schedule(n_temperatures: int, radius: float = SIGMOID_RADIUS) -> torch.Tensor:
    """The inverse temperatures beta_0 = 0 < beta_1 < ... < beta_T = 1 of Wu et al.'s sigmoid schedule.

    beta_t = (s(-r + 2 r t / T) - s(-r)) / (s(r) - s(-r)) for t = 0..T, s the logistic function,
    T = ``n_temperatures``, r = ``radius``. Returns a (T + 1,) float64 tensor (dimensionless).
    """
    _check_int("n_temperatures", n_temperatures, 1)
    s = torch.sigmoid(torch.linspace(-radius, radius, n_temperatures + 1, dtype=torch.float64))
    beta = (s - s[0]) / (s[-1] - s[0])
    beta[0], beta[-1] = 0.0, 1.0
    return beta


def _check_int(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise VaelibError(f"{name} must be an integer >= {minimum}, got {value!r}")


@contextmanager
def _parameters_frozen(model: AutoEncoder) -> Iterator[None]:
    """Inside the block the model's parameters do not require grad, so a backward pass computes only dz."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _log_px_and_grad(model: AutoEncoder, x_rows: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(x|z) per row (nats) and its gradient with respect to z, both detached."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        log_px = -model.reconstruction_nll(x_rows, model.decoder_output(z))
        (grad,) = torch.autograd.grad(log_px.sum(), z)
    return log_px.detach(), grad


def _ais_batch(
    model: AutoEncoder, x: torch.Tensor, beta: torch.Tensor, n_chains: int, leapfrog_steps: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """AIS for one batch of b images: (log weights (b, K) float64, accepted fraction (b,), final step size (b,)).

    Each image runs K weighted chains and :data:`TUNING_CHAINS` tuning chains side by side, all with the
    image's step size, which only the tuning chains' acceptance adapts; the tuning chains' weights are dropped.
    """
    b, k, d = x.shape[0], n_chains, model.latent_dim
    c = k + TUNING_CHAINS                         # chains per image: columns 0..k-1 weighted, k..c-1 tuning
    rows = b * c
    x_rows = x[:, None, :].expand(b, c, x.shape[1]).reshape(rows, x.shape[1])   # image i's rows: i*c .. i*c+c-1
    z = torch.randn((rows, d), generator=generator, device=x.device, dtype=x.dtype)
    log_px, grad = _log_px_and_grad(model, x_rows, z)
    log_w = torch.zeros(rows, dtype=torch.float64, device=x.device)
    step = torch.full((b, 1), INITIAL_STEP_SIZE, dtype=x.dtype, device=x.device)
    accepted = torch.zeros(b, dtype=torch.float64, device=x.device)
    n_transitions = beta.numel() - 2
    for t in range(1, beta.numel()):
        log_w += (beta[t] - beta[t - 1]) * log_px.to(torch.float64)
        if t == beta.numel() - 1:
            break                                   # a transition at beta = 1 would change no weight
        bt = float(beta[t])
        eps = step.repeat_interleave(c, dim=0)      # (rows, 1): each image's step size on its chains
        momentum = torch.randn((rows, d), generator=generator, device=x.device, dtype=x.dtype)
        u = torch.rand(rows, generator=generator, device=x.device, dtype=torch.float64)
        # leapfrog on H(z, p) = 0.5 |z|^2 - beta log p(x|z) + 0.5 |p|^2
        z_new, lp_new, g_new = z, log_px, grad
        p = momentum + 0.5 * eps * (bt * g_new - z_new)
        for j in range(leapfrog_steps):
            z_new = z_new + eps * p
            lp_new, g_new = _log_px_and_grad(model, x_rows, z_new)
            p = p + (eps if j < leapfrog_steps - 1 else 0.5 * eps) * (bt * g_new - z_new)
        h_old = 0.5 * z.pow(2).sum(1) - bt * log_px + 0.5 * momentum.pow(2).sum(1)
        h_new = 0.5 * z_new.pow(2).sum(1) - bt * lp_new + 0.5 * p.pow(2).sum(1)
        log_accept = (h_old - h_new).to(torch.float64).clamp(max=0.0)
        log_accept = torch.nan_to_num(log_accept, nan=-math.inf)   # a diverged proposal is rejected
        accept = torch.log(u) < log_accept
        z = torch.where(accept[:, None], z_new, z)
        log_px = torch.where(accept, lp_new, log_px)
        grad = torch.where(accept[:, None], g_new, grad)
        accepted += accept.view(b, c)[:, :k].to(torch.float64).mean(1) / n_transitions
        rate = log_accept.exp().view(b, c)[:, k:].mean(1, keepdim=True)   # the tuning chains' acceptance probability
        step = (step * torch.exp(rate - TARGET_ACCEPTANCE).to(step.dtype)).clamp(*STEP_SIZE_RANGE)
    return log_w.view(b, c)[:, :k], accepted, step.view(b).to(torch.float64)


def ais_per_image(
    model: AutoEncoder,
    x: torch.Tensor,
    *,
    n_chains: int = DEFAULT_CHAINS,
    n_temperatures: int = DEFAULT_TEMPERATURES,
    leapfrog_steps: int = DEFAULT_LEAPFROG_STEPS,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
) -> AISPerImage:
    """AIS estimates of log p(x) for each image of ``x`` (n, data_dim), with each chain's log weight.

    Returns an :class:`AISPerImage` of float64 CPU tensors: ``log_likelihood`` (n,) in nats (a stochastic
    lower bound on each image's log p(x) in expectation), ``log_weights`` (n, n_chains) in nats,
    ``acceptance`` (n,) the fraction of HMC proposals accepted, ``step_size`` (n,) the final leapfrog
    step size. See the module docstring for the method and :func:`ais_log_likelihood` for the arguments.
    Raises VaelibError on bad input.
    """
    x = _check_x(model, x)
    _check_int("n_chains", n_chains, 2)
    _check_int("n_temperatures", n_temperatures, 2)
    _check_int("leapfrog_steps", leapfrog_steps, 1)
    _check_batch_size(batch_size)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise VaelibError(f"seed must be an integer, got {seed!r}")
    dtype = next(model.parameters()).dtype
    x = x.to(dtype)
    beta = sigmoid_schedule(n_temperatures)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    parts = []
    with _parameters_frozen(model):
        for xb in x.split(batch_size):
            parts.append(_ais_batch(model, xb, beta, n_chains, leapfrog_steps, generator))
    log_w = torch.cat([p[0] for p in parts]).cpu()
    if not bool(torch.isfinite(log_w).all()):
        raise VaelibError("AIS: a chain's log weight came out NaN or infinite: the decoder's outputs are not finite")
    return AISPerImage(
        log_likelihood=torch.logsumexp(log_w, dim=1) - math.log(n_chains),
        log_weights=log_w,
        acceptance=torch.cat([p[1] for p in parts]).cpu(),
        step_size=torch.cat([p[2] for p in parts]).cpu(),
    )


def ais_log_likelihood(
    model: AutoEncoder,
    x: torch.Tensor,
    *,
    n_chains: int = DEFAULT_CHAINS,
    n_temperatures: int = DEFAULT_TEMPERATURES,
    leapfrog_steps: int = DEFAULT_LEAPFROG_STEPS,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
) -> dict[str, float]:
    """AIS estimate of log p(x) = log integral of p(x|z) N(z; 0, I) dz, mean over the images of ``x`` (nats/image).

    Uses only the decoder and the prior, so it applies to every design (deterministic encoders too), with
    either likelihood, at any latent dimension. It is a stochastic lower bound in expectation (see the
    module docstring: geometric path, Wu et al.'s sigmoid schedule, HMC with per-image adapted step size).

    Arguments: ``x`` (n, data_dim) float, finite; ``n_chains`` >= 2 independent chains per image;
    ``n_temperatures`` >= 2 annealing steps; ``leapfrog_steps`` >= 1 per HMC transition; ``seed`` for the
    ``torch.Generator`` every draw comes from; ``batch_size`` images per batch (the draws depend on it).
    Cost: about n * (n_chains + 1) * (n_temperatures - 1) * leapfrog_steps decoder forward and backward passes
    (the + 1 is the tuning chain).

    Returns ``{"log_likelihood": mean over images of the estimate (nats/image), "stderr": the standard
    error of that mean over images (nats; the spread of log p(x) across images, not the AIS error; NaN
    for a single image), "chain_spread": mean over images of the standard deviation of the chains' log
    weights (nats; near 0 when the estimate is reliable; the gap below log p(x) was about spread^2 / 4 in
    our measurements), "acceptance": mean fraction of HMC proposals accepted, "step_size":
    mean final leapfrog step size, "n_images", "n_chains", "n_temperatures", "leapfrog_steps"}``.
    Raises VaelibError on bad input (shape, NaN, counts).
    """
    r = ais_per_image(model, x, n_chains=n_chains, n_temperatures=n_temperatures, leapfrog_steps=leapfrog_steps,
                      seed=seed, batch_size=batch_size)
    n = r.log_likelihood.numel()
    stderr = float(r.log_likelihood.std() / math.sqrt(n)) if n > 1 else math.nan
    return {
        "log_likelihood": float(r.log_likelihood.mean()),
        "stderr": stderr,
        "chain_spread": float(r.log_weights.std(dim=1).mean()),
        "acceptance": float(r.acceptance.mean()),
        "step_size": float(r.step_size.mean()),
        "n_images": float(n),
        "n_chains": float(n_chains),
        "n_temperatures": float(n_temperatures),
        "leapfrog_steps": float(leapfrog_steps),
    }


def ais_metrics(ctx: EvaluationContext) -> dict[str, float]:
    """The ``ais`` group: the AIS estimate of log p(x) on the first :data:`AIS_IMAGES` scored images (any design).

    Units per name in :data:`METRIC_GROUP`; the default budget (4 chains, 400 temperatures, 2
    leapfrog steps) and ``ctx.seed``.
    """
    r = ais_log_likelihood(ctx.model, ctx.x_scored[:AIS_IMAGES], seed=ctx.seed)
    return {"loglik_ais_nats": r["log_likelihood"], "loglik_ais_stderr_nats": r["stderr"],
            "ais_chain_spread_nats": r["chain_spread"]}


#: The AIS group of :func:`vaelib.metrics.evaluate` (an extra group: computed only when named, about 16 s a model).
METRIC_GROUP = MetricGroup("ais", ais_metrics, default=False, emits={
    "loglik_ais_nats": f"AIS estimate of log p(x) (decoder and N(0, I) prior, any design; Wu et al. 2017), mean over "
                       f"the first {AIS_IMAGES} test images (nats/image; a lower bound in expectation)",
    "loglik_ais_stderr_nats": "standard error of loglik_ais_nats over those images (the spread of log p(x) across "
                              "images, not the AIS error; nats)",
    "ais_chain_spread_nats": "mean over images of the std of the AIS chains' log weights (nats; near 0 when the "
                             "estimate is reliable; its gap below log p(x) was about spread^2 / 4 in our tests)",
})


__all__ = ["AISPerImage", "AIS_IMAGES", "BATCH_SIZE", "METRIC_GROUP", "ais_metrics", "DEFAULT_CHAINS", "DEFAULT_LEAPFROG_STEPS", "DEFAULT_TEMPERATURES",
           "INITIAL_STEP_SIZE", "SIGMOID_RADIUS", "STEP_SIZE_RANGE", "TARGET_ACCEPTANCE", "TUNING_CHAINS",
           "ais_log_likelihood", "ais_per_image", "sigmoid_schedule"]
