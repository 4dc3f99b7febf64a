"""AIS estimate of log p(x) (vaelib.metrics.ais).

Known answers: a linear-Gaussian decoder (log p(x) = log N(x; b, W W^T + sigma_x^2 I) in closed form) at
latent dims 2 and 8, and a Bernoulli decoder that ignores z (every chain's weight is p(x) exactly) at
latent dim 32. Then agreement with the exact quadrature on small trained digits models (a VAE and two
deterministic designs), more temperatures closing the gap from below without overshooting (which catches
a step size adapted on the weighted chains themselves), seeds, bad input, and the benchmark's functions
on a tiny model.

Tolerances. The error of the mean over n images of (AIS - exact) has two parts: Monte Carlo noise,
bounded by 4 times its standard error over images (the paired differences), and AIS's downward bias. For
K chains whose log weights have variance s^2, the bias of their log-mean-exp is about -s^2 / (2K) (the
delta method; valid while s is below about 1, which the tests check through the chains' spread), so the
allowance below the truth is the mean over images of s^2 / (2K) plus 0.02 nats for float32 arithmetic.
Above the truth only the noise is allowed: the estimate is a lower bound in expectation.
"""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

import vaelib
from vaelib.errors import VaelibError
from vaelib.metrics import ais, likelihood
from vaelib.models import AutoEncoder, mlp

ROOT = Path(__file__).resolve().parents[1]


def _linear_gaussian(d: int, data_dim: int, sigma_x: float, n: int, seed: int):
    """A model whose decoder is one vaelib Linear layer z -> W z + b, n images drawn from it, and exact log p(x)."""
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(data_dim, d, generator=g, dtype=torch.float64)
    bias = 0.5 * torch.randn(data_dim, generator=g, dtype=torch.float64)
    model = AutoEncoder(data_dim=data_dim, latent_dim=d, hidden_dims=(8,), likelihood="gaussian", sigma_x=sigma_x)
    model.decoder = mlp([d, data_dim])
    with torch.no_grad():
        model.decoder[0].weight.copy_(weight)
        model.decoder[0].bias.copy_(bias)
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    x = (bias + z @ weight.T + sigma_x * torch.randn(n, data_dim, generator=g, dtype=torch.float64)).float()
    cov = weight @ weight.T + sigma_x ** 2 * torch.eye(data_dim, dtype=torch.float64)
    exact = torch.distributions.MultivariateNormal(bias, cov).log_prob(x.double())
    return model.eval(), x, exact


def _check_against(result: ais.AISPerImage, exact: torch.Tensor, n_chains: int) -> tuple[float, float, float]:
    """(mean error, 4 standard errors, bias allowance) of per-image AIS estimates against exact values (nats)."""
    err = result.log_likelihood - exact
    noise = 4 * float(err.std()) / math.sqrt(err.numel())
    allowance = float(result.log_weights.var(dim=1).mean()) / (2 * n_chains) + 0.02
    return float(err.mean()), noise, allowance


# ---- known answers -----------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 8])
def test_linear_gaussian_decoder_matches_the_closed_form(d):
    model, x, exact = _linear_gaussian(d, data_dim=10, sigma_x=0.5, n=100, seed=d)
    result = ais.ais_per_image(model, x)                 # the default budget
    assert result.log_likelihood.shape == (100,) and result.log_likelihood.dtype == torch.float64
    assert result.log_weights.shape == (100, ais.DEFAULT_CHAINS)
    spread = float(result.log_weights.std(dim=1).mean())
    assert spread < 1.5, spread                          # the regime where the bias allowance holds
    gap, noise, allowance = _check_against(result, exact, ais.DEFAULT_CHAINS)
    assert -(noise + allowance) <= gap <= noise, (gap, noise, allowance)
    assert 0.4 < float(result.acceptance.mean()) < 0.95


def test_more_temperatures_close_the_gap_to_the_closed_form_from_below():
    # a harder posterior (d = 8, standard deviations 0.05 to 0.18 along its axes): few temperatures leave a
    # large gap; 3,000 close it, and must not overshoot: 200 images resolve 0.1 nats, and adapting the step
    # size on the weighted chains themselves (instead of a tuning chain) put this case 0.14 nats above the truth
    model, x, exact = _linear_gaussian(8, data_dim=20, sigma_x=0.3, n=200, seed=3)
    gaps, noises = [], []
    for t in (25, 100, 3000):
        result = ais.ais_per_image(model, x, n_temperatures=t, seed=1)
        gap, noise, allowance = _check_against(result, exact, ais.DEFAULT_CHAINS)
        gaps.append(gap)
        noises.append(noise)
    assert gaps[0] < -noises[0] - 1.0, gaps                # clearly below the truth: a lower bound
    assert gaps[0] < gaps[1] < gaps[2] + noises[2], gaps  # each step closer
    assert -(noises[2] + allowance) <= gaps[2] <= noises[2], (gaps[2], noises[2], allowance)


def test_bernoulli_decoder_that_ignores_z_is_exact_at_latent_dim_32():
    data_dim, d = 30, 32
    g = torch.Generator().manual_seed(0)
    model = AutoEncoder(data_dim=data_dim, latent_dim=d, hidden_dims=(8,))
    model.decoder = mlp([d, data_dim])
    with torch.no_grad():
        model.decoder[0].weight.zero_()
        model.decoder[0].bias.copy_(2 * torch.randn(data_dim, generator=g))
    x = (torch.rand(12, data_dim, generator=g) < 0.5).float()
    logits = model.decoder[0].bias.detach().double()
    exact = (x * torch.nn.functional.logsigmoid(logits) + (1 - x) * torch.nn.functional.logsigmoid(-logits)).sum(1)
    result = ais.ais_log_likelihood(model, x, n_temperatures=20)
    assert result["log_likelihood"] == pytest.approx(float(exact.mean()), abs=1e-4)
    assert result["chain_spread"] < 1e-6
    per_image = ais.ais_per_image(model, x, n_temperatures=20)
    assert (per_image.log_likelihood - exact).abs().max() < 1e-4


# ---- against the exact quadrature on trained models ---------------------------------------


@pytest.fixture(scope="module")
def digits_models(digits):
    """2-D models trained briefly on digits: a VAE and two deterministic-encoder designs."""
    return {design: vaelib.train(vaelib.TrainConfig(design=design, dataset="digits", latent_dim=2, hidden_dims=(32,),
                                                    epochs=50), data=digits, progress=False).model.eval()
            for design in ("vae", "ae", "wae-mmd")}


@pytest.mark.parametrize("design", ["vae", "ae", "wae-mmd"])
def test_agrees_with_exact_quadrature_on_a_trained_2d_model(design, digits, digits_models):
    model = digits_models[design]
    x = digits.x_test[:100]
    exact = likelihood.exact_log_likelihood_per_image(model, x)
    result = ais.ais_per_image(model, x)
    gap, noise, allowance = _check_against(result, exact, ais.DEFAULT_CHAINS)
    assert -(noise + allowance) <= gap <= noise, (gap, noise, allowance)
    assert abs(gap) < 0.1
    summary = ais.ais_log_likelihood(model, x)
    assert summary["log_likelihood"] == pytest.approx(float(result.log_likelihood.mean()), abs=1e-12)
    assert summary["stderr"] == pytest.approx(float(result.log_likelihood.std()) / 10, rel=1e-9)
    assert summary["chain_spread"] == pytest.approx(float(result.log_weights.std(dim=1).mean()), rel=1e-9)
    assert summary["n_images"] == 100 and summary["n_chains"] == ais.DEFAULT_CHAINS
    assert 0.4 < summary["acceptance"] < 1


def test_more_temperatures_do_not_make_the_estimate_worse(digits, digits_models):
    model = digits_models["vae"]
    x = digits.x_test[:100]
    exact = likelihood.exact_log_likelihood_per_image(model, x)
    few = _check_against(ais.ais_per_image(model, x, n_temperatures=5), exact, ais.DEFAULT_CHAINS)
    many = _check_against(ais.ais_per_image(model, x, n_temperatures=400), exact, ais.DEFAULT_CHAINS)
    assert few[0] < -few[1] / 2                      # few temperatures: below the truth by over 2 stderr
    assert abs(many[0]) < abs(few[0])                # more temperatures: closer
    assert many[0] <= many[1]                        # and still below or near the truth


# ---- reproducibility ---------------------------------------------------------------------------


def test_same_seed_same_bits_other_seed_other_numbers():
    model, x, _ = _linear_gaussian(3, data_dim=6, sigma_x=0.5, n=7, seed=0)
    state = torch.random.get_rng_state()
    kwargs = dict(n_chains=3, n_temperatures=15, batch_size=4)
    a = ais.ais_per_image(model, x, seed=5, **kwargs)
    b = ais.ais_per_image(model, x, seed=5, **kwargs)
    c = ais.ais_per_image(model, x, seed=6, **kwargs)
    assert torch.equal(a.log_weights, b.log_weights) and torch.equal(a.step_size, b.step_size)
    assert not torch.equal(a.log_weights, c.log_weights)
    assert (a.log_likelihood - c.log_likelihood).abs().max() > 0
    assert torch.equal(torch.random.get_rng_state(), state)      # torch's global RNG is never drawn from


def test_runs_under_no_grad_and_leaves_the_model_as_it_was():
    model, x, _ = _linear_gaussian(2, data_dim=6, sigma_x=0.5, n=5, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    with torch.no_grad():
        inside = ais.ais_log_likelihood(model, x, n_temperatures=10)
    outside = ais.ais_log_likelihood(model, x, n_temperatures=10)
    assert inside == outside
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_sigmoid_schedule_runs_from_zero_to_one_and_is_symmetric():
    beta = ais.sigmoid_schedule(8)
    assert beta.shape == (9,) and beta[0] == 0 and beta[-1] == 1
    assert bool((beta.diff() > 0).all())
    assert torch.allclose(beta + beta.flip(0), torch.ones(9, dtype=torch.float64))
    assert beta.diff()[0] < beta.diff()[4]            # dense near the ends


# ---- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_chains=1), r"n_chains must be an integer >= 2, got 1"),
    (dict(n_chains=2.5), r"n_chains must be an integer >= 2, got 2.5"),
    (dict(n_temperatures=1), r"n_temperatures must be an integer >= 2, got 1"),
    (dict(leapfrog_steps=0), r"leapfrog_steps must be an integer >= 1, got 0"),
    (dict(leapfrog_steps=-3), r"leapfrog_steps must be an integer >= 1, got -3"),
    (dict(batch_size=0), r"batch_size must be a positive integer, got 0"),
    (dict(seed="a"), r"seed must be an integer, got 'a'"),
])
def test_bad_counts_are_refused_with_the_value_and_what_is_accepted(kwargs, match):
    model, x, _ = _linear_gaussian(2, data_dim=6, sigma_x=0.5, n=3, seed=0)
    with pytest.raises(VaelibError, match=match):
        ais.ais_log_likelihood(model, x, **kwargs)


def test_bad_images_are_refused():
    model, x, _ = _linear_gaussian(2, data_dim=6, sigma_x=0.5, n=3, seed=0)
    with pytest.raises(VaelibError, match=r"input has shape \(3, 5\); the model expects a float tensor of shape"):
        ais.ais_log_likelihood(model, x[:, :5])
    with pytest.raises(VaelibError, match=r"shape \(6,\)"):
        ais.ais_log_likelihood(model, x[0])
    bad = x.clone()
    bad[1, 2] = math.nan
    with pytest.raises(VaelibError, match=r"x contains 1 NaN or infinite values"):
        ais.ais_log_likelihood(model, bad)
    with pytest.raises(VaelibError, match=r"x is empty"):
        ais.ais_log_likelihood(model, x[:0])
    with pytest.raises(VaelibError, match=r"expected a vaelib AutoEncoder, got Sequential"):
        ais.ais_log_likelihood(model.decoder, x)


# ---- the benchmark's functions -------------------------------------------------------------


def test_benchmark_measures_cost_and_accuracy_on_a_tiny_model(digits, digits_models, capsys):
    spec = importlib.util.spec_from_file_location("ais_time", ROOT / "benchmarks" / "ais_time.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    budget = dict(n_chains=2, n_temperatures=5, leapfrog_steps=1)
    cost = bench.seconds_per_100_images(digits_models["vae"], digits.x_test[:20], **budget)
    assert cost["wall"] > 0 and cost["cpu"] > 0
    acc = bench.accuracy_against_quadrature(digits_models["ae"], digits.x_test[:20], **budget)
    assert set(acc) >= {"gap", "stderr", "max_abs_error", "chain_spread", "exact"}
    assert acc["stderr"] > 0 and acc["gap"] == acc["gap"]
