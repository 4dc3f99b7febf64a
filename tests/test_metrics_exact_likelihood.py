"""Exact log-likelihood by quadrature at latent dimension 1 or 2 (vaelib.metrics.likelihood.exact_log_likelihood).

Known answers: a linear-Gaussian decoder (x ~ N(b, W W^T + sigma_x^2 I) in closed form), a
Bernoulli decoder that ignores z (log p(x) = log Bernoulli(x; sigmoid(b))), and narrow
Bernoulli posteriors placed far from the origin, some beyond the first grid, against
scipy's adaptive quadrature. Then the error estimate, bad input, and evaluate()'s record
with the ELBO and IWAE on the same images.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate
from torch.distributions import MultivariateNormal

import vaelib
from vaelib import metrics
from vaelib.config import TrainConfig
from vaelib.errors import VaelibError
from vaelib.metrics import likelihood
from vaelib.models import AutoEncoder


def _model(d: int, data_dim: int, weight: torch.Tensor, bias: torch.Tensor, **kwargs) -> AutoEncoder:
    """An AutoEncoder whose decoder is one linear layer z -> weight z + bias (logits or Gaussian means)."""
    model = AutoEncoder(data_dim=data_dim, latent_dim=d, hidden_dims=(8,), **kwargs)
    model.decoder = torch.nn.Linear(d, data_dim)
    with torch.no_grad():
        model.decoder.weight.copy_(weight)
        model.decoder.bias.copy_(bias)
    return model.eval()


# ---- known answers -----------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2])
def test_linear_gaussian_decoder_matches_the_closed_form(d):
    data_dim, sigma_x = 5, 0.3
    g = torch.Generator().manual_seed(d)
    weight = torch.randn(data_dim, d, generator=g)
    bias = 0.5 * torch.randn(data_dim, generator=g)
    model = _model(d, data_dim, weight, bias, likelihood="gaussian", sigma_x=sigma_x)
    w64, b64 = weight.double(), bias.double()
    marginal = MultivariateNormal(b64, w64 @ w64.T + sigma_x ** 2 * torch.eye(data_dim, dtype=torch.float64))
    x = marginal.sample((40,)).float()              # float32 data, as the model takes it
    x[0] = bias + 2.5 * weight.sum(dim=1)           # one image whose posterior sits far out (near z = 2.5)
    exact = marginal.log_prob(x.double())
    far_out = likelihood.exact_log_likelihood(model, x[:1])
    assert far_out["log_likelihood"] == pytest.approx(float(exact[0]), abs=1e-4)
    q = likelihood.exact_log_likelihood(model, x)
    assert q["log_likelihood"] == pytest.approx(float(exact.mean()), abs=1e-4)
    assert q["error_nats"] < 1e-4 and q["max_error_nats"] < 1e-4
    assert q["border_share"] < likelihood.QUADRATURE_BORDER_SHARE
    points = likelihood.QUADRATURE_POINTS if d == 2 else likelihood.QUADRATURE_POINTS_1D
    assert q["spacing"] == pytest.approx(2 * 6.0 / (points - 1))
    assert q["points"] == pytest.approx(2 * q["half_width"] / q["spacing"] + 1)


@pytest.mark.parametrize("d", [1, 2])
def test_bernoulli_decoder_that_ignores_z(d):
    data_dim = 30
    g = torch.Generator().manual_seed(0)
    bias = 2 * torch.randn(data_dim, generator=g)
    model = _model(d, data_dim, torch.zeros(data_dim, d), bias)
    x = (torch.rand(25, data_dim, generator=g) < 0.5).float()
    logits = bias.double()
    exact = (x.double() * torch.nn.functional.logsigmoid(logits)
             + (1 - x.double()) * torch.nn.functional.logsigmoid(-logits)).sum(dim=1)
    q = likelihood.exact_log_likelihood(model, x)
    assert q["log_likelihood"] == pytest.approx(float(exact.mean()), abs=1e-6)
    assert q["error_nats"] < 1e-6 and q["half_width"] == 6.0


def _peaked(centre: tuple[float, ...], a: float, data_dim_per_axis: int = 20) -> tuple[AutoEncoder, torch.Tensor]:
    """Logits a (z_j - c_j) on a block of pixels per axis j; half of each block is 1, half 0.

    Then p(x|z) = prod_j f_j(z_j), f(t) = sigmoid(a (t - c))^(m/2) sigmoid(-a (t - c))^(m/2): a bump
    of width about 2 / (a sqrt(m)) at t = c, and log p(x) = sum_j log integral f_j(t) N(t; 0, 1) dt.
    The model runs in float64, so the comparison sees only the quadrature's error.
    """
    d, m = len(centre), data_dim_per_axis
    weight = torch.zeros(d * m, d, dtype=torch.float64)
    bias = torch.zeros(d * m, dtype=torch.float64)
    for j, c in enumerate(centre):
        weight[j * m:(j + 1) * m, j] = a
        bias[j * m:(j + 1) * m] = -a * c
    model = _model(d, d * m, weight, bias).double()
    x = torch.tensor(([1.0] * (m // 2) + [0.0] * (m - m // 2)) * d, dtype=torch.float64)[None]
    return model, x


def _log_integral_1d(c: float, a: float, m: int = 20) -> float:
    """log integral over t of sigmoid(a (t - c))^(m/2) sigmoid(-a (t - c))^(m/2) N(t; 0, 1) by scipy's quad."""
    def log_f(t):
        u = a * (t - c)
        return -(m // 2) * np.logaddexp(0.0, -u) - (m - m // 2) * np.logaddexp(0.0, u) - 0.5 * t * t \
            - 0.5 * math.log(2 * math.pi)

    mode = c / (1 + 1 / (m * a * a / 4))     # near the peak of the integrand (a Gaussian approximation)
    shift = log_f(mode)
    width = 40 / (a * math.sqrt(m)) + 2.0
    value, err = integrate.quad(lambda t: math.exp(log_f(t) - shift), mode - width, mode + width,
                                points=[mode], epsabs=0.0, epsrel=1e-12, limit=500)
    assert err < 1e-10 * value
    return math.log(value) + shift


@pytest.mark.parametrize("centre", [(4.0,), (4.0, -3.0)])
def test_narrow_posterior_far_out_matches_scipy(centre):
    a = 5.0
    model, x = _peaked(centre, a)
    exact = sum(_log_integral_1d(c, a) for c in centre)
    q = likelihood.exact_log_likelihood(model, x)
    assert q["log_likelihood"] == pytest.approx(exact, abs=1e-4)
    assert q["error_nats"] < 1e-4 and q["half_width"] == 6.0


@pytest.mark.parametrize("centre", [(9.0,), (1.0, -9.0)])
def test_the_grid_grows_to_reach_a_posterior_beyond_it(centre):
    a = 5.0
    model, x = _peaked(centre, a)
    exact = sum(_log_integral_1d(c, a) for c in centre)
    q = likelihood.exact_log_likelihood(model, x)
    assert q["half_width"] == 12.0 and q["spacing"] == pytest.approx(6.0 / ((q["points"] - 1) / 4))
    assert q["border_share"] < likelihood.QUADRATURE_BORDER_SHARE
    assert q["log_likelihood"] == pytest.approx(exact, abs=1e-4)
    # the same image next to one whose posterior the first grid holds: each keeps its own answer
    near = torch.cat([torch.full((20,), 1.0 if c < 0 else 0.0, dtype=torch.float64) for c in centre])[None]
    both = likelihood.exact_log_likelihood(model, torch.cat([x, near]))["log_likelihood"]
    alone = likelihood.exact_log_likelihood(model, near, max_half_width=6.0)["log_likelihood"]
    assert both == pytest.approx((exact + alone) / 2, abs=1e-4)
    # a grid capped below the posterior says so instead of returning a silent underestimate
    with pytest.warns(RuntimeWarning, match="raise max_half_width"):
        capped = likelihood.exact_log_likelihood(model, x, max_half_width=6.0)
    assert capped["border_share"] > likelihood.QUADRATURE_BORDER_SHARE and capped["half_width"] == 6.0
    assert capped["log_likelihood"] < exact - 1.0


def test_error_estimate_grows_on_a_coarse_grid():
    a = 5.0
    model, x = _peaked((2.0, 1.0), a)
    exact = _log_integral_1d(2.0, a) + _log_integral_1d(1.0, a)
    fine = likelihood.exact_log_likelihood(model, x)
    coarse = likelihood.exact_log_likelihood(model, x, points=25)        # spacing 0.5, posterior width ~0.09
    assert fine["error_nats"] < 1e-4
    assert coarse["error_nats"] > 1e-2 and coarse["max_error_nats"] >= coarse["error_nats"]
    assert abs(coarse["log_likelihood"] - exact) > 1e-3                 # and the coarse grid is indeed off
    assert abs(fine["log_likelihood"] - exact) < 1e-4


# ---- bad input ---------------------------------------------------------------------------


def test_bad_input():
    three = AutoEncoder(data_dim=6, latent_dim=3, hidden_dims=(8,))
    with pytest.raises(VaelibError, match="latent dimension 1 or 2") as info:
        likelihood.exact_log_likelihood(three, torch.rand(4, 6))
    assert "\n" not in str(info.value) and "3" in str(info.value)
    two = AutoEncoder(data_dim=6, latent_dim=2, hidden_dims=(8,))
    bad_x = torch.rand(4, 6)
    bad_x[1, 2] = float("nan")
    with pytest.raises(VaelibError, match="NaN"):
        likelihood.exact_log_likelihood(two, bad_x)
    with pytest.raises(VaelibError, match="shape"):
        likelihood.exact_log_likelihood(two, torch.rand(4, 7))
    for points in (240, 2, 1, 0, -3, 5.0, True):
        with pytest.raises(VaelibError, match="points must be an odd integer"):
            likelihood.exact_log_likelihood(two, torch.rand(4, 6), points=points)
    with pytest.raises(VaelibError, match="half_width"):
        likelihood.exact_log_likelihood(two, torch.rand(4, 6), half_width=0.0)
    with pytest.raises(VaelibError, match="max_half_width"):
        likelihood.exact_log_likelihood(two, torch.rand(4, 6), half_width=6.0, max_half_width=3.0)
    with pytest.raises(VaelibError, match="batch_size"):
        likelihood.exact_log_likelihood(two, torch.rand(4, 6), batch_size=0)
    with torch.no_grad():
        two.decoder[-1].bias[0] = float("nan")
    with pytest.raises(VaelibError, match="not finite"):
        likelihood.exact_log_likelihood(two, torch.rand(4, 6), points=11)


def test_image_batches_do_not_change_the_answer():
    model = AutoEncoder(data_dim=6, latent_dim=2, hidden_dims=(8,)).eval()
    x = torch.rand(7, 6, generator=torch.Generator().manual_seed(0))
    whole = likelihood.exact_log_likelihood(model, x, points=61)
    batched = likelihood.exact_log_likelihood(model, x, points=61, batch_size=3)
    for key in ("log_likelihood", "error_nats", "max_error_nats"):
        assert batched[key] == pytest.approx(whole[key], rel=0, abs=1e-9)


# ---- evaluate ----------------------------------------------------------------------------


def _train(digits, design: str, latent_dim: int):
    config = TrainConfig(design=design, dataset="digits", latent_dim=latent_dim, hidden_dims=(64,), epochs=3, lr=3e-3)
    return vaelib.train(config, digits, device="cpu", progress=False).model.eval()


def test_evaluate_reports_the_exact_likelihood_above_its_bounds(digits):
    vae = _train(digits, "vae", 2)
    rec = metrics.evaluate(vae, digits, groups=("likelihood",))
    for key in ("loglik_exact_nats", "loglik_exact_error_nats", "elbo_exact_subset_nats", "iwae_exact_subset_nats"):
        assert key in rec and key in metrics.METRIC_DOCS and math.isfinite(rec[key])
    assert rec["loglik_exact_error_nats"] < 1e-2
    # IWAE and the ELBO are lower bounds on log p(x): on the same images they sit below it (up to Monte Carlo noise)
    assert rec["loglik_exact_nats"] >= rec["iwae_exact_subset_nats"] - 0.01
    assert rec["iwae_exact_subset_nats"] >= rec["elbo_exact_subset_nats"] - 0.01
    assert rec["loglik_exact_nats"] > rec["elbo_exact_subset_nats"]
    n = min(likelihood.EXACT_LL_IMAGES, digits.x_test.shape[0])
    x = digits.x_test[:n]
    assert rec["loglik_exact_nats"] == likelihood.exact_log_likelihood(vae, x)["log_likelihood"]
    assert rec["elbo_exact_subset_nats"] == likelihood.elbo(vae, x)["elbo"]
    # and IWAE with many samples closes the gap from below
    assert -5e-3 < likelihood.iwae_bound(vae, x, 5000) - rec["loglik_exact_nats"] < 1e-3


def test_evaluate_exact_likelihood_for_a_deterministic_code_and_none_above_two_dims(digits):
    ae = _train(digits, "ae", 2)
    rec = metrics.evaluate(ae, digits, groups=("likelihood",))
    assert math.isfinite(rec["loglik_exact_nats"]) and "elbo_exact_subset_nats" not in rec
    x = digits.x_test[:likelihood.EXACT_LL_IMAGES]
    assert rec["loglik_exact_nats"] >= likelihood.deterministic_bound(ae, x)["bound"] - 0.05
    wide = _train(digits, "vae", 8)
    rec8 = metrics.evaluate(wide, digits, groups=("likelihood",))
    assert not any("exact" in key for key in rec8)
