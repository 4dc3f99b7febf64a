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


def test_mutual_information_is_zero_at_the_prior_and_below_log_n(vae, prior_model, digits):
    x = digits.x_train
    n = x.shape[0]
    assert latent.mi_ceiling(n) == pytest.approx(math.log(n))
    assert latent.mutual_information(prior_model, x) == pytest.approx(0.0, abs=1e-6)
    mi = latent.mutual_information(vae, x, batch_size=300)
    assert 0.5 < mi <= math.log(n) + 1e-9
    # batching the mixture does not change the estimate
    assert latent.mutual_information(vae, x, batch_size=n) == pytest.approx(mi, rel=1e-9)


def test_mutual_information_saturates_at_log_n_for_sharp_posteriors(vae, digits):
    # sigma -> 0: every z_n is explained by its own x_n only, so the estimate sits at log N
    x = digits.x_test[:100]
    assert latent.mutual_information(_sharp(vae, digits), x) == pytest.approx(math.log(100), abs=1e-3)


def test_mutual_information_refuses_deterministic_encoders(ae, prior_model, digits):
    with pytest.raises(VaelibError, match="stochastic"):
        latent.mutual_information(ae, digits.x_train)
    with pytest.raises(VaelibError, match="stochastic"):
        latent.mutual_information_bounds(ae, digits.x_train)
    with pytest.raises(VaelibError, match="at least 2"):
        latent.mutual_information_bounds(prior_model, digits.x_train[:1])


def test_mutual_information_bounds_sandwich_the_estimate(vae, digits):
    x = digits.x_train
    b = latent.mutual_information_bounds(vae, x, seed=3, batch_size=300)
    assert set(b) == {"lower", "upper", "rate", "ceiling", "at_ceiling"}
    # the lower bound is mutual_information itself, on the same z
    assert b["lower"] == latent.mutual_information(vae, x, seed=3, batch_size=300)
    assert b["lower"] <= min(b["upper"], b["rate"]) + 1e-9
    assert b["lower"] <= b["ceiling"] == pytest.approx(math.log(x.shape[0]))
    assert b["at_ceiling"] == 0.0
    # the rate is the ELBO's KL term, in closed form
    assert b["rate"] == pytest.approx(likelihood.elbo(vae, x)["kl"], rel=1e-5)
    # batching changes nothing
    assert latent.mutual_information_bounds(vae, x, seed=3, batch_size=x.shape[0]) == pytest.approx(b, rel=1e-9)


def test_mutual_information_bounds_are_zero_at_the_prior(prior_model, digits):
    b = latent.mutual_information_bounds(prior_model, digits.x_train)
    assert b["lower"] == pytest.approx(0.0, abs=1e-9)
    assert b["upper"] == pytest.approx(0.0, abs=1e-9)  # identical components: leave-one-out is exact
    assert b["rate"] == 0.0
    assert b["at_ceiling"] == 0.0


def test_mutual_information_bounds_for_separated_posteriors(vae, digits):
    # sigma = 1e-4: the lower bound hits log N, the leave-one-out bound is huge, the rate is the tighter one
    x = digits.x_test[:100]
    b = latent.mutual_information_bounds(_sharp(vae, digits), x)
    assert b["lower"] == pytest.approx(math.log(100), abs=1e-3)
    assert b["at_ceiling"] == 1.0
    assert b["upper"] > 1e3
    assert math.log(100) < b["rate"] < b["upper"]


def test_active_units(vae, ae, prior_model, digits):
    assert latent.active_units(prior_model, digits.x_test) == 0
    assert latent.active_units(ae, digits.x_test) == LATENT
    assert 0 <= latent.active_units(vae, digits.x_test) <= LATENT
    assert latent.active_units(ae, digits.x_test, threshold=1e9) == 0


def test_unit_statistics_at_the_prior(prior_model, digits):
    stats = latent.unit_statistics(prior_model, digits.x_test)
    assert set(stats) == {"mean_variance", "posterior_variance", "kl_nats"}
    for v in stats.values():
        assert v.dtype == torch.float64 and v.shape == (LATENT,)
    assert torch.equal(stats["kl_nats"], torch.zeros(LATENT, dtype=torch.float64))
    assert torch.equal(stats["mean_variance"], torch.zeros(LATENT, dtype=torch.float64))
    assert torch.equal(stats["posterior_variance"], torch.ones(LATENT, dtype=torch.float64))
    assert latent.active_units_kl(prior_model, digits.x_test) == 0
    assert latent.active_units_kl(prior_model, digits.x_test, threshold=0.0) == 0


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
    assert latent.active_units_kl(one_dim_model, x) == 1
    # thresholds are strict: a dim counts when its statistic exceeds the threshold
    assert latent.active_units(one_dim_model, x, threshold=var0) == 0
    assert latent.active_units(one_dim_model, x, threshold=0.99 * var0) == 1
    assert latent.active_units_kl(one_dim_model, x, threshold=kl0) == 0
    assert latent.active_units_kl(one_dim_model, x, threshold=0.99 * kl0) == 1
    for bad in (-0.1, float("nan"), "0.01"):
        with pytest.raises(VaelibError, match="threshold"):
            latent.active_units_kl(one_dim_model, x, threshold=bad)


def test_unit_statistics_of_trained_models(vae, ae, digits):
    x = digits.x_test
    stats = latent.unit_statistics(vae, x)
    # the per-dim KLs add up to the ELBO's KL term; the Burda count thresholds mean_variance
    assert float(stats["kl_nats"].sum()) == pytest.approx(likelihood.elbo(vae, x)["kl"], rel=1e-5)
    assert latent.active_units(vae, x) == int((stats["mean_variance"] > 0.01).sum())
    assert latent.active_units_kl(vae, x) == int((stats["kl_nats"] > latent.KL_ACTIVE_THRESHOLD).sum())
    assert bool((stats["posterior_variance"] > 0).all())
    # a deterministic encoder: no posterior variance, infinite KL, every dim counts
    det = latent.unit_statistics(ae, x)
    assert torch.equal(det["posterior_variance"], torch.zeros(LATENT, dtype=torch.float64))
    assert bool(torch.isinf(det["kl_nats"]).all())
    assert latent.active_units_kl(ae, x) == LATENT
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


def _logvars(n: int, d: int, sigma: float) -> torch.Tensor:
    return torch.full((n, d), 2 * math.log(sigma))


@pytest.mark.parametrize("name, codes, low, high", [
    # q = N(0, 16 I): log q/p = 15/32 |z|^2 - 8 log 16 < log 0.1 unless |z|^2 > 42 (chi2_16: p ~ 3e-4);
    # the old KDE-percentile definition read 0.0 here
    ("wide", 4.0 * _normal(2000, 16, seed=1), 0.99, 1.0),
    # q = N(0, 0.01 I): q/p < 0.1 unless |z|^2 < 0.79
    ("narrow", 0.1 * _normal(2000, 16, seed=1), 1.0, 1.0),
    # q = N(3 * 1, I): log q/p = 3 sum z - 36 < log 0.1 unless sum z > 11.2 = 3.97 sd
    ("shifted", _normal(2000, 8, seed=1, shift=3.0), 0.99, 1.0),
    # q = p: a 10-component GMM fitted to 2,000 prior samples in 8-D; measured 0.007 - 0.01
    ("matched", _normal(2000, 8, seed=1), 0.0, 0.03),
    ("line", _line(2000, 8, seed=0), 0.99, 1.0),
])
def test_prior_hole_rate_of_fitted_codes(name, codes, low, high):
    assert low <= latent.prior_hole_rate_fitted(codes, seed=0) <= high


def test_prior_hole_rate_of_mixtures():
    n, d = 2000, 8
    # means ~ N(0, (1 - s^2) I), sigma = s: the mixture is N(0, I) in expectation, and close to it when s is not small
    s = 0.7
    means = math.sqrt(1 - s ** 2) * _normal(n, d, seed=2)
    assert latent.prior_hole_rate_mixture(means, _logvars(n, d, s), seed=0) <= 0.01
    # narrower components leave gaps: the rate grows as s shrinks
    rates = [latent.prior_hole_rate_mixture(math.sqrt(1 - t ** 2) * _normal(n, d, seed=2), _logvars(n, d, t), seed=0)
             for t in (0.7, 0.5, 0.3)]
    assert rates == sorted(rates) and rates[-1] > 0.3, rates
    # spikes (sigma = 0.01) at prior samples: the aggregate is a comb, almost every prior sample is in a hole
    assert latent.prior_hole_rate_mixture(_normal(n, d, seed=3), _logvars(n, d, 0.01), seed=0) >= 0.99
    # every component at the prior: q = p exactly
    assert latent.prior_hole_rate_mixture(torch.zeros(10, d), torch.zeros(10, d)) == 0.0
    # the ratio sets what counts as a hole: q = N(0, 4 I) has q/p > 1 far out, < 1 near 0
    wide = latent.prior_hole_rate_mixture(torch.zeros(1, d), _logvars(1, d, 2.0), ratio=1.0)
    assert latent.prior_hole_rate_mixture(torch.zeros(1, d), _logvars(1, d, 2.0), ratio=0.1) < wide
    # the hole share of N(0, 4 I) at ratio 1: |z|^2 < (8/3) d log 2 (chi2_8 below 14.8: p = 0.94)
    assert wide == pytest.approx(0.94, abs=0.02)


def test_prior_hole_rate_of_models(prior_model, vae, ae, digits):
    x = digits.x_train
    # q(z|x) = N(0, I) for every x: the aggregate is the prior
    assert latent.prior_hole_rate(prior_model, x) == 0.0
    # dispatch: the exact mixture for stochastic encoders, a fitted GMM for deterministic ones
    with torch.no_grad():
        enc = vae.encode(x)
        codes = ae.encode(x).mean
    assert latent.prior_hole_rate(vae, x, seed=2) == latent.prior_hole_rate_mixture(enc.mean, enc.logvar, seed=2)
    assert latent.prior_hole_rate(ae, x, seed=2) == latent.prior_hole_rate_fitted(codes, seed=2)
    assert 0.0 <= latent.prior_hole_rate(vae, x, n_prior=500, batch_size=64) <= 1.0


def test_prior_reference_never_reuses_the_codes_noise(prior_model, digits):
    # codes drawn with the metric's own seed (as evaluate() does) must not be paired with the reference sample
    codes = torch.randn(1000, 3, generator=torch.Generator().manual_seed(0))
    div = latent.aggregate_divergences(codes, seed=0)
    assert abs(div["mmd_to_prior"]) < 0.01 and div["sw_to_prior"] > 1e-4
    # spikes at N(0, I) points drawn with the metric's seed: were the prior samples the same points,
    # each would sit on a spike and the rate would be 0
    spikes = torch.randn(2000, 3, generator=torch.Generator().manual_seed(0))
    assert latent.prior_hole_rate_mixture(spikes, _logvars(2000, 3, 1e-3), n_prior=2000, seed=0) >= 0.99


def test_prior_hole_rate_bad_input():
    codes = _normal(100, 3, seed=0)
    codes[1, 2] = float("nan")
    codes[5, 0] = float("nan")
    codes[7, 1] = float("nan")
    with pytest.raises(VaelibError, match="means.*3 NaN"):
        latent.prior_hole_rate_mixture(codes, torch.zeros(100, 3))
    with pytest.raises(VaelibError, match="log-variances.*3 NaN"):
        latent.prior_hole_rate_mixture(torch.zeros(100, 3), codes)
    with pytest.raises(VaelibError, match="same shape"):
        latent.prior_hole_rate_mixture(torch.zeros(100, 3), torch.zeros(100, 2))
    with pytest.raises(VaelibError, match="same shape"):
        latent.prior_hole_rate_mixture(torch.zeros(100, 3), torch.zeros(99, 3))
    with pytest.raises(VaelibError, match="at least 20 codes, got 10"):
        latent.prior_hole_rate_fitted(_normal(10, 3, seed=0))
    with pytest.raises(VaelibError, match="at least 31 codes, got 25"):
        latent.prior_hole_rate_fitted(_normal(25, 30, seed=0))
    with pytest.raises(VaelibError, match="2-D"):
        latent.prior_hole_rate_fitted(torch.zeros(10))
    with pytest.raises(VaelibError, match="n_prior"):
        latent.prior_hole_rate_mixture(torch.zeros(5, 3), torch.zeros(5, 3), n_prior=0)
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(VaelibError, match="ratio"):
            latent.prior_hole_rate_mixture(torch.zeros(5, 3), torch.zeros(5, 3), ratio=bad)


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
    for fn in (latent.participation_ratio, latent.aggregate_divergences, latent.prior_hole_rate_fitted,
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
