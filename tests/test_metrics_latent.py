"""Likelihood bounds, latent-space metrics and decoder smoothness (vaelib.metrics.likelihood/latent/smoothness).

Tiny models trained for a few epochs on ``digits`` and crafted code clouds: IWAE against
the ELBO, MI bounds at the prior and under log N, active units and their per-dim reasons,
divergences at N(0, I), prior hole rates of code clouds and mixtures with known answers,
the participation ratio, and the Jacobian against autograd.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

import vaelib
from vaelib.config import TrainConfig
from vaelib.errors import VaelibError
from vaelib.metrics import latent, likelihood, smoothness
from vaelib.models import build_model

LATENT = 4
HIDDEN = (64,)


def _train(digits, design: str, epochs: int):
    config = TrainConfig(design=design, dataset="digits", latent_dim=LATENT, hidden_dims=HIDDEN, epochs=epochs,
                         lr=3e-3)
    return vaelib.train(config, digits, device="cpu", progress=False).model.eval()


@pytest.fixture(scope="module")
def vae(digits):
    return _train(digits, "vae", 10)


@pytest.fixture(scope="module")
def ae(digits):
    return _train(digits, "ae", 3)


def _zero_head_vae(digits):
    """A VAE whose encoder head is zeroed: q(z|x) = N(0, I) for every x."""
    torch.manual_seed(0)
    config = TrainConfig(design="vae", dataset="digits", latent_dim=LATENT, hidden_dims=HIDDEN)
    model = build_model(config, digits.dim, digits.image_shape).eval()
    with torch.no_grad():
        model.to_code.weight.zero_()
        model.to_code.bias.zero_()
    return model


@pytest.fixture(scope="module")
def prior_model(digits):
    """A VAE whose encoder ignores x: q(z|x) = N(0, I) for every x (head weights and biases zeroed)."""
    return _zero_head_vae(digits)


@pytest.fixture(scope="module")
def one_dim_model(digits):
    """A VAE whose encoder mean varies only in dim 0; every other dim has q(z_d|x) = N(0, 1)."""
    model = _zero_head_vae(digits)
    with torch.no_grad():
        model.to_code.weight[0] = torch.randn(model.to_code.in_features, generator=torch.Generator().manual_seed(1))
    return model


def _sharp(vae, digits):
    """The trained VAE's encoder means with a fixed sigma = 1e-4: posteriors that barely overlap."""
    sharp = build_model(TrainConfig(design="mean-only", dataset="digits", latent_dim=LATENT, hidden_dims=HIDDEN,
                                    sigma0=1e-4), digits.dim)
    sharp.load_state_dict(vae.state_dict() | {"to_code.weight": vae.to_code.weight[:LATENT],
                                              "to_code.bias": vae.to_code.bias[:LATENT]})
    return sharp.eval()


def _normal(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) + shift


def _line(n: int, d: int, seed: int, noise: float = 0.01) -> torch.Tensor:
    """Codes on a line through the origin (direction (1, ..., 1)/sqrt(d)), N(0, 1) along it, tiny noise across."""
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(n, 1, generator=g)
    return t * torch.ones(1, d) / math.sqrt(d) + noise * torch.randn(n, d, generator=g)


# ---- likelihood --------------------------------------------------------------------------


def test_reconstruction_errors_match_the_deterministic_reconstruction(vae, digits):
    x = digits.x_test
    rec = likelihood.reconstruction_errors(vae, x, batch_size=100)
    with torch.no_grad():
        out = vae.decoder_output(vae.encode(x).mean)
        bce = vae.reconstruction_nll(x, out).mean()
        mse = (torch.sigmoid(out) - x).pow(2).sum(1).mean()
    assert rec["bce_nats"] == pytest.approx(float(bce), rel=1e-5)
    assert rec["mse"] == pytest.approx(float(mse), rel=1e-5)
    assert rec["bce_nats"] > 0 and rec["mse"] > 0


def test_iwae_k1_uses_the_elbo_noise_and_agrees_with_it(vae, digits):
    x = digits.x_test
    seed = 3
    # the single-sample bound written out by hand, with the noise elbo() and iwae_bound(k=1) draw
    with torch.no_grad():
        enc = vae.encode(x)
        z = vae.sample_z(enc, torch.Generator().manual_seed(seed))
        log_px = -vae.reconstruction_nll(x, vae.decoder_output(z))
        log_pz = Normal(0.0, 1.0).log_prob(z).sum(1)
        log_qz = Normal(enc.mean, (0.5 * enc.logvar).exp()).log_prob(z).sum(1)
        kl = vaelib.regularisers.kl_to_standard_normal(enc.mean, enc.logvar)
    iwae1 = likelihood.iwae_bound(vae, x, 1, seed=seed)
    e = likelihood.elbo(vae, x, seed=seed)
    assert iwae1 == pytest.approx(float((log_px + log_pz - log_qz).mean()), abs=1e-3)
    assert e["reconstruction"] == pytest.approx(float(-log_px.mean()), abs=1e-3)
    assert e["kl"] == pytest.approx(float(kl.mean()), abs=1e-4)
    assert e["elbo"] == pytest.approx(-(e["reconstruction"] + e["kl"]))
    # they differ only by the Monte Carlo error of log p(z) - log q(z|x) around -KL
    mc = log_pz - log_qz + kl
    se = float(mc.std() / math.sqrt(len(mc)))
    assert abs(iwae1 - e["elbo"]) == pytest.approx(abs(float(mc.mean())), abs=1e-3)
    assert abs(iwae1 - e["elbo"]) < 4 * se + 1e-3


def test_iwae_is_above_the_elbo_and_non_decreasing_in_k(vae, digits):
    x = digits.x_test
    seeds = (0, 1)
    e = sum(likelihood.elbo(vae, x, seed=s)["elbo"] for s in seeds) / len(seeds)
    bounds = {k: sum(likelihood.iwae_bound(vae, x, k, seed=s) for s in seeds) / len(seeds) for k in (1, 5, 50)}
    assert bounds[1] == pytest.approx(e, abs=0.5)
    assert e <= bounds[5] <= bounds[50]
    assert bounds[1] <= bounds[5]
    # log-likelihood bounds of a Bernoulli decoder are negative nats
    assert all(b < 0 for b in bounds.values()) and e < 0


def test_iwae_chunking_is_exact_for_the_same_noise(vae, digits):
    x = digits.x_test[:50]
    with torch.no_grad():
        enc = vae.encode(x)
        lw = likelihood.log_importance_weights(vae, x, enc.mean, enc.logvar, 7, torch.Generator().manual_seed(0))
        # the same noise decoded one sample at a time
        g = torch.Generator().manual_seed(0)
        eps = torch.randn((7, 50, LATENT), generator=g)
        z = enc.mean + (0.5 * enc.logvar).exp() * eps
        ref = torch.stack([
            -vae.reconstruction_nll(x, vae.decoder_output(zi))
            + Normal(0.0, 1.0).log_prob(zi).sum(1)
            - Normal(enc.mean, (0.5 * enc.logvar).exp()).log_prob(zi).sum(1)
            for zi in z
        ], dim=1)
    assert lw.shape == (50, 7)
    torch.testing.assert_close(lw, ref, rtol=1e-5, atol=1e-3)


def test_bounds_refuse_deterministic_models(ae, digits):
    with pytest.raises(VaelibError, match="deterministic_bound"):
        likelihood.elbo(ae, digits.x_test)
    with pytest.raises(VaelibError, match="deterministic_bound"):
        likelihood.iwae_bound(ae, digits.x_test, 5)
    with pytest.raises(VaelibError, match="k"):
        likelihood.deterministic_bound(ae, digits.x_test, k=0)


def test_deterministic_bound_is_the_best_over_the_grid(ae, digits):
    x = digits.x_test
    b = likelihood.deterministic_bound(ae, x)
    assert set(b["per_scale"]) == set(likelihood.DEFAULT_SCALES)
    assert b["bound"] == max(b["per_scale"].values())
    assert b["per_scale"][b["best_scale"]] == b["bound"]
    assert b["bound"] < 0
    assert "not a VAE ELBO" in b["what"]
    # a custom grid; importance sampling can only tighten the best bound (on average)
    b1 = likelihood.deterministic_bound(ae, x, scales=(0.05, 0.2), k=1)
    b10 = likelihood.deterministic_bound(ae, x, scales=(0.05, 0.2), k=10)
    assert set(b1["per_scale"]) == {0.05, 0.2}
    assert b10["bound"] >= b1["bound"] - 0.1
    # the value at one scale is the IWAE bound of q = N(f(x), s^2 I), computed by hand for k = 1
    s = 0.2
    with torch.no_grad():
        mean = ae.encode(x).mean
        z = mean + s * torch.randn(mean.shape, generator=torch.Generator().manual_seed(0))
        ref = (-ae.reconstruction_nll(x, ae.decoder_output(z)) + Normal(0.0, 1.0).log_prob(z).sum(1)
               - Normal(mean, s).log_prob(z).sum(1)).mean()
    assert b1["per_scale"][s] == pytest.approx(float(ref), abs=1e-3)
    with pytest.raises(VaelibError, match="scales"):
        likelihood.deterministic_bound(ae, x, scales=(0.1, -1.0))


# ---- latent ------------------------------------------------------------------------------


def test_aggregate_information_is_zero_at_the_prior_and_below_log_n(vae, prior_model, digits):
    x = digits.x_train
    n = x.shape[0]
    assert latent.mi_ceiling(n) == pytest.approx(math.log(n))
    assert latent.aggregate_information(prior_model, x)["mi_nats"] == pytest.approx(0.0, abs=1e-6)
    info = latent.aggregate_information(vae, x, batch_size=300)
    assert 0.5 < info["mi_nats"] <= math.log(n) + 1e-9
    # the rate is the ELBO's KL term, in closed form, and splits into I_q + KL(q(z) || p(z))
    assert info["rate_nats"] == pytest.approx(likelihood.elbo(vae, x)["kl"], rel=1e-5)
    assert info["agg_kl_nats"] == pytest.approx(info["rate_nats"] - info["mi_nats"], rel=1e-12)
    # batching the mixture does not change the estimate
    assert latent.aggregate_information(vae, x, batch_size=n)["mi_nats"] == pytest.approx(info["mi_nats"], rel=1e-9)


def test_aggregate_information_saturates_at_log_n_for_sharp_posteriors(vae, digits):
    # sigma -> 0: every z_n is explained by its own x_n only, so I_q sits at log N and the
    # population bound (leave-one-out) is huge
    x = digits.x_test[:100]
    info = latent.aggregate_information(_sharp(vae, digits), x)
    assert info["mi_nats"] == pytest.approx(math.log(100), abs=1e-3)
    assert info["mi_population_upper_nats"] > 1e3


def test_aggregate_information_refuses_deterministic_encoders(ae, prior_model, digits):
    with pytest.raises(VaelibError, match="stochastic"):
        latent.aggregate_information(ae, digits.x_train)


def test_active_units(vae, ae, prior_model, digits):
    assert latent.active_units(prior_model, digits.x_test) == 0
    assert latent.active_units(ae, digits.x_test) == LATENT
    assert 0 <= latent.active_units(vae, digits.x_test) <= LATENT
    assert latent.active_units(ae, digits.x_test, threshold=1e9) == 0


def test_unit_statistics_at_the_prior(prior_model, digits):
    stats = latent.unit_statistics(prior_model, digits.x_test)
    assert set(stats) == {"mean_variance", "posterior_variance", "posterior_sd", "kl_nats"}
    for v in stats.values():
        assert v.dtype == torch.float64 and v.shape == (LATENT,)
    assert torch.equal(stats["kl_nats"], torch.zeros(LATENT, dtype=torch.float64))
    assert torch.equal(stats["mean_variance"], torch.zeros(LATENT, dtype=torch.float64))
    assert torch.equal(stats["posterior_variance"], torch.ones(LATENT, dtype=torch.float64))
    assert torch.equal(stats["posterior_sd"], torch.ones(LATENT, dtype=torch.float64))
    assert latent.active_units_information(prior_model, digits.x_test) == 0
    assert latent.active_units_information(prior_model, digits.x_test, threshold=0.0) == 0


def test_active_units_see_a_single_varying_dimension(one_dim_model, digits):
    x = digits.x_test
    stats = latent.unit_statistics(one_dim_model, x)
    var0, kl0 = float(stats["mean_variance"][0]), float(stats["kl_nats"][0])
    assert var0 > 0.01 and kl0 > latent.KL_ACTIVE_THRESHOLD
    assert torch.equal(stats["mean_variance"][1:], torch.zeros(LATENT - 1, dtype=torch.float64))
    assert torch.equal(stats["kl_nats"][1:], torch.zeros(LATENT - 1, dtype=torch.float64))
    # sigma = 1 everywhere: the KL of dim 0 is half the mean squared mean
    with torch.no_grad():
        mu0 = one_dim_model.encode(x).mean[:, 0].double()
    assert kl0 == pytest.approx(float(0.5 * mu0.pow(2).mean()), rel=1e-9)
    assert var0 == pytest.approx(float(mu0.var()), rel=1e-9)
    assert latent.active_units(one_dim_model, x) == 1
    assert latent.active_units_information(one_dim_model, x) == 1
    # thresholds are strict: a dim counts when its statistic exceeds the threshold
    assert latent.active_units(one_dim_model, x, threshold=var0) == 0
    assert latent.active_units(one_dim_model, x, threshold=0.99 * var0) == 1
    # sigma = 1: the unit's capacity is 0.5 log(1 + Var mu)
    c0 = 0.5 * math.log1p(var0)
    assert float(latent.unit_capacity(one_dim_model, x)[0]) == pytest.approx(c0, rel=1e-9)
    assert latent.active_units_information(one_dim_model, x, threshold=c0) == 0
    assert latent.active_units_information(one_dim_model, x, threshold=0.99 * c0) == 1
    for bad in (-0.1, float("nan"), "0.01"):
        with pytest.raises(VaelibError, match="threshold"):
            latent.active_units_information(one_dim_model, x, threshold=bad)


def test_unit_statistics_of_trained_models(vae, ae, digits):
    x = digits.x_test
    stats = latent.unit_statistics(vae, x)
    # the per-dim KLs add up to the ELBO's KL term; the Burda count thresholds mean_variance
    assert float(stats["kl_nats"].sum()) == pytest.approx(likelihood.elbo(vae, x)["kl"], rel=1e-5)
    assert latent.active_units(vae, x) == int((stats["mean_variance"] > 0.01).sum())
    assert bool((stats["posterior_variance"] > 0).all())
    # a deterministic encoder: no posterior variance, infinite KL, every dim counts
    det = latent.unit_statistics(ae, x)
    assert torch.equal(det["posterior_variance"], torch.zeros(LATENT, dtype=torch.float64))
    assert bool(torch.isinf(det["kl_nats"]).all())
    with pytest.raises(VaelibError, match="stochastic"):
        latent.active_units_information(ae, x)
    with pytest.raises(VaelibError, match="at least 2"):
        latent.unit_statistics(vae, x[:1])


@pytest.mark.parametrize("d", [2, 8])
def test_divergences_are_near_zero_for_prior_codes_and_larger_when_shifted(d):
    codes = _normal(1000, d, seed=10)
    div = latent.aggregate_divergences(codes, seed=0)
    shifted = latent.aggregate_divergences(codes + 1.0, seed=0)
    assert set(div) == {"mmd_to_prior", "mmd_prior_vs_prior", "sw_to_prior", "sw_prior_vs_prior", "gauss_kl_to_prior"}
    assert abs(div["mmd_to_prior"]) < 0.01 and abs(div["mmd_prior_vs_prior"]) < 0.01
    assert shifted["mmd_to_prior"] > 10 * max(abs(div["mmd_to_prior"]), abs(div["mmd_prior_vs_prior"]), 1e-3)
    assert div["sw_to_prior"] < 0.02 and div["sw_prior_vs_prior"] < 0.02
    assert shifted["sw_to_prior"] > 0.5
    assert div["gauss_kl_to_prior"] == pytest.approx(0.0, abs=0.05)
    assert shifted["gauss_kl_to_prior"] == pytest.approx(d / 2, abs=0.1)  # KL = |m|^2 / 2
    # the floor is the same for every code sample of the same size and seed
    assert shifted["mmd_prior_vs_prior"] == div["mmd_prior_vs_prior"]


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    codes = torch.randn(500, 3, generator=g) @ torch.tensor([[1.0, 0.3, 0.0], [0.0, 0.5, 0.2], [0.0, 0.0, 2.0]]) + 0.7
    m = codes.double().mean(0)
    cov = torch.cov(codes.double().T)
    ref = torch.distributions.kl_divergence(
        torch.distributions.MultivariateNormal(m, cov),
        torch.distributions.MultivariateNormal(torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)))
    assert latent.gaussian_kl_to_prior(codes) == pytest.approx(float(ref), rel=1e-9)
    collapsed = codes.clone()
    collapsed[:, 1] = 0.25   # a code unit that never varies: S is singular, the Gaussian has no density
    assert latent.gaussian_kl_to_prior(collapsed) == math.inf


def _logvars(n: int, d: int, sigma: float) -> torch.Tensor:
    return torch.full((n, d), 2 * math.log(sigma))


def test_participation_ratio():
    assert latent.participation_ratio(_normal(5000, 8, seed=0)) == pytest.approx(8.0, rel=0.05)
    assert latent.participation_ratio(_line(5000, 8, seed=0)) == pytest.approx(1.0, abs=0.05)
    # it ignores scale and a shift
    assert latent.participation_ratio(3 * _normal(5000, 4, seed=1) + 5) == pytest.approx(4.0, rel=0.05)
    assert latent.participation_ratio(torch.ones(10, 3)) == 0.0


def test_bad_codes_raise():
    codes = _normal(100, 3, seed=0)
    codes[1, 2] = float("nan")
    codes[5, 0] = float("nan")
    codes[7, 1] = float("nan")
    for fn in (latent.participation_ratio, latent.aggregate_divergences, latent.prior_hole_rate_smoothed,
               latent.gaussian_kl_to_prior):
        with pytest.raises(VaelibError, match="3 NaN"):
            fn(codes)
    with pytest.raises(VaelibError, match="at least 2"):
        latent.aggregate_divergences(torch.zeros(1, 3))
    with pytest.raises(VaelibError, match="at least 2"):
        latent.participation_ratio(torch.zeros(1, 3))
    with pytest.raises(VaelibError, match="at least 4"):
        latent.gaussian_kl_to_prior(_normal(3, 3, seed=0))
    with pytest.raises(VaelibError, match="at least 6"):
        latent.aggregate_divergences(_normal(5, 5, seed=0))
    with pytest.raises(VaelibError, match="2-D"):
        latent.participation_ratio(torch.zeros(10))
    with pytest.raises(VaelibError):
        latent.mi_ceiling(0)


# ---- smoothness --------------------------------------------------------------------------


def test_jacobian_norm_matches_autograd(vae, digits):
    with torch.no_grad():
        codes = vae.encode(digits.x_test[:5]).mean
    jac = smoothness.decoder_jacobians(vae, codes)
    ref = torch.stack([torch.autograd.functional.jacobian(lambda v: vae.decode(v[None])[0], z) for z in codes])
    assert jac.shape == (5, digits.dim, LATENT)
    torch.testing.assert_close(jac, ref, rtol=1e-4, atol=1e-6)
    norm = smoothness.decoder_jacobian_norm(vae, codes)
    assert norm == pytest.approx(float(ref.flatten(1).norm(dim=1).mean()), rel=1e-5)
    # subsampling is seeded
    with torch.no_grad():
        many = vae.encode(digits.x_test).mean
    assert smoothness.decoder_jacobian_norm(vae, many, n=20, seed=1) == smoothness.decoder_jacobian_norm(
        vae, many, n=20, seed=1)
    with pytest.raises(VaelibError, match="latent_dim"):
        smoothness.decoder_jacobian_norm(vae, torch.zeros(5, LATENT + 1))
    bad = codes.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(VaelibError, match="1 NaN"):
        smoothness.decoder_jacobian_norm(vae, bad)


def test_interpolation_path_ratio(vae, digits):
    x = digits.x_test
    a, b = x[:16], x[16:32]
    ratio = smoothness.interpolation_path_length(vae, a, b, lambda v: v, steps=16)
    assert 1.0 <= ratio < 10.0
    # two points: the path is the chord
    assert smoothness.interpolation_path_length(vae, a, b, lambda v: v, steps=2) == pytest.approx(1.0)
    # a refinement of the same path (every other point of 31 is one of the 16) is at least as long
    assert smoothness.interpolation_path_length(vae, a, b, lambda v: v, steps=31) >= ratio - 1e-6
    with pytest.raises(VaelibError, match="steps"):
        smoothness.interpolation_path_length(vae, a, b, lambda v: v, steps=1)
    with pytest.raises(VaelibError, match="same shape"):
        smoothness.interpolation_path_length(vae, a, x[:3], lambda v: v)
    with pytest.raises(VaelibError, match="identical"):
        smoothness.interpolation_path_length(vae, a, a, lambda v: v)
