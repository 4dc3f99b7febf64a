"""The referee's four latent-metric fixes, each against a known answer (vaelib.metrics.latent).

* aggregate information: I_q of the training-set mixture is 0 for an encoder that ignores x,
  log N for posteriors that never overlap, and the quadrature value of a 1-D mixture;
* one smoothed hole-rate density for every design: ~0 for codes drawn from N(0, I) at every
  latent dim, ~0.5 on a half-space, the analytic value for a shrunken prior, the exact value
  of a Gaussian mixture, and no comb of spikes for sigma0 -> 0;
* active units by capacity: a fixed sigma0 does not make a constant unit active; C = 0.5 log 4
  for a constructed unit with Var(mu) = 3 E[sigma^2];
* divergences in float64, equal to a float64 reference computed directly.

Models are untrained and built small; their weights are set by hand.
"""
from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import chi2

from vaelib.config import TrainConfig
from vaelib.errors import VaelibError
from vaelib.metrics import latent
from vaelib.models import build_model
from vaelib.regularisers import mmd_imq, sliced_wasserstein

LATENT = 4
HIDDEN = (64,)



def _exact_mixture_hole_rate(means: torch.Tensor, logvars: torch.Tensor, seed: int = 0, n_prior: int = 2000) -> float:
    """The estimator of version 0.4.0 for stochastic encoders, for comparison: the share of the same prior points
    (latent's generator) where the exact mixture of N(means_i, diag(exp(logvars_i))) is below 0.1 x N(0, I)."""
    means, logvars = means.double(), logvars.double()
    prior = latent._prior_points(n_prior, means.shape[1], seed).double()
    comp = torch.distributions.Normal(means[None], torch.exp(0.5 * logvars)[None])
    log_q = torch.cat([torch.logsumexp(comp.log_prob(block[:, None]).sum(-1), dim=1) for block in prior.split(100)])
    log_q = log_q - math.log(means.shape[0])
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(prior).sum(1)
    return float((log_q - log_p < math.log(0.1)).double().mean())

def _model(digits, design: str, **kwargs):
    torch.manual_seed(0)
    config = TrainConfig(design=design, dataset="digits", latent_dim=LATENT, hidden_dims=HIDDEN, **kwargs)
    return build_model(config, digits.dim, digits.image_shape).eval()


def _normal(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _prior_points(n_prior: int, d: int, seed: int) -> torch.Tensor:
    """The N(0, I) points the hole rates score (generator ``seed + PRIOR_SEED_OFFSET``), float64."""
    return torch.randn((n_prior, d), generator=torch.Generator().manual_seed(seed + latent.PRIOR_SEED_OFFSET)).double()


def _binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


# ---- (a) aggregate information -----------------------------------------------------------


@pytest.mark.parametrize("design", ["vae", "mean-only"])
def test_aggregate_information_is_zero_for_an_encoder_that_ignores_x(digits, design):
    # head weights zeroed, biases not: q(z|x) is one Gaussian N(b, diag(s^2)) != N(0, I) for every x,
    # so I_q = 0 and KL(q(z) || p(z)) is the whole rate
    model = _model(digits, design, sigma0=0.7)
    with torch.no_grad():
        model.to_code.weight.zero_()
        model.to_code.bias.copy_(torch.tensor([0.5, -1.0, 0.0, 2.0, math.log(0.25), 0.0, math.log(4.0), -0.7]
                                              [:model.to_code.out_features]))
    x = digits.x_train
    info = latent.aggregate_information(model, x, seed=1, n_draws=3)
    assert set(info) == {"mi_nats", "mi_mc_error_nats", "rate_nats", "agg_kl_nats", "mi_ceiling_nats",
                         "mi_population_upper_nats"}
    bias = model.to_code.bias.detach().double()
    mean = bias[:LATENT]
    logvar = (bias[LATENT:] if design == "vae"
              else torch.full((LATENT,), 2 * math.log(0.7), dtype=torch.float32).double())
    rate = float(0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum())
    assert rate > 1.0
    assert info["mi_nats"] == pytest.approx(0.0, abs=1e-12)
    assert info["mi_mc_error_nats"] == pytest.approx(0.0, abs=1e-12)
    assert info["mi_population_upper_nats"] == pytest.approx(0.0, abs=1e-12)
    assert info["rate_nats"] == pytest.approx(rate, rel=1e-12)
    assert info["agg_kl_nats"] == pytest.approx(rate, rel=1e-12)
    assert info["mi_ceiling_nats"] == pytest.approx(math.log(x.shape[0]))


def test_aggregate_information_sits_at_log_n_for_separated_posteriors():
    # 20 posteriors N(10 k e_1, 0.1^2 I) in 3-D: no z_i is explained by another x_j, so I_q = log 20
    n, d = 20, 3
    means = torch.zeros(n, d, dtype=torch.float64)
    means[:, 0] = 10.0 * torch.arange(n)
    logvars = torch.full((n, d), 2 * math.log(0.1), dtype=torch.float64)
    info = latent.aggregate_information_mixture(means, logvars, seed=0, n_draws=4)
    assert info["mi_ceiling_nats"] == pytest.approx(math.log(n))
    assert info["mi_nats"] == pytest.approx(math.log(n), abs=1e-12)
    assert info["mi_mc_error_nats"] < 1e-12
    # the leave-one-out estimate is a population bound only: far above log N here
    assert info["mi_population_upper_nats"] > 1e3
    assert info["agg_kl_nats"] == pytest.approx(info["rate_nats"] - math.log(n), rel=1e-12)


def _one_dim_mixture(case: str) -> tuple[torch.Tensor, torch.Tensor]:
    """50 posteriors in 1-D: mu_i = a x_i, x_i ~ N(0, 1) fixed; sigma constant or varying with x."""
    x = _normal(50, 1, seed=4).double()
    if case == "linear-gaussian":
        return x, torch.full_like(x, math.log(0.5 ** 2))
    return 2.0 * x, 2 * (math.log(0.3) + 0.3 * x)


def _quadrature(means: torch.Tensor, logvars: torch.Tensor) -> tuple[float, float]:
    """(I_q, KL(q || N(0, 1))) of the 1-D mixture q = 1/N sum_i N(mu_i, s_i^2), by the trapezoid rule."""
    mu, sd = means[:, 0], (0.5 * logvars[:, 0]).exp()
    z = torch.linspace(float((mu - 12 * sd).min()), float((mu + 12 * sd).max()), 400_001, dtype=torch.float64)
    log_comp = torch.distributions.Normal(mu[:, None], sd[:, None]).log_prob(z[None, :])
    log_q = torch.logsumexp(log_comp, dim=0) - math.log(mu.shape[0])
    q = log_q.exp()
    neg_entropy = float(torch.trapezoid(q * log_q, z))
    cross = float(torch.trapezoid(q * torch.distributions.Normal(0.0, 1.0).log_prob(z), z))
    component_entropy = float((0.5 * math.log(2 * math.pi * math.e) + sd.log()).mean())
    return -neg_entropy - component_entropy, neg_entropy - cross


@pytest.mark.parametrize("case", ["linear-gaussian", "heteroscedastic"])
def test_aggregate_information_matches_quadrature_in_one_dimension(case):
    means, logvars = _one_dim_mixture(case)
    mi_ref, agg_kl_ref = _quadrature(means, logvars)
    info = latent.aggregate_information_mixture(means, logvars, seed=0, n_draws=200)
    se = info["mi_mc_error_nats"]
    assert 0 < se < 0.01
    assert 0.3 < mi_ref < math.log(50) - 0.3       # neither 0 nor at the ceiling
    assert abs(info["mi_nats"] - mi_ref) < 4 * se
    assert abs(info["agg_kl_nats"] - agg_kl_ref) < 4 * se
    rate = float((0.5 * (means.pow(2) + logvars.exp() - 1 - logvars)).mean())
    assert info["rate_nats"] == pytest.approx(rate, rel=1e-12)
    assert info["rate_nats"] == pytest.approx(mi_ref + agg_kl_ref, rel=1e-6)   # rate = I_q + KL(q(z) || p(z))


def test_aggregate_information_error_is_the_spread_over_seeds():
    # the reported standard error agrees with the spread of the estimate over 40 seeds
    means, logvars = _one_dim_mixture("linear-gaussian")
    runs = [latent.aggregate_information_mixture(means, logvars, seed=s, n_draws=4) for s in range(40)]
    spread = float(torch.tensor([r["mi_nats"] for r in runs], dtype=torch.float64).std())
    reported = sum(r["mi_mc_error_nats"] for r in runs) / len(runs)
    assert 0.7 < spread / reported < 1.4, (spread, reported)


def test_aggregate_information_of_a_model_is_the_mixture_of_its_encodings(digits):
    model = _model(digits, "vae")
    x = digits.x_train[:300]
    with torch.no_grad():
        enc = model.encode(x)
    info = latent.aggregate_information(model, x, seed=2, n_draws=3)
    assert info == latent.aggregate_information_mixture(enc.mean, enc.logvar, seed=2, n_draws=3)
    # smaller batches: the same up to the float32 rounding of the encoder's products
    assert info == pytest.approx(latent.aggregate_information(model, x, seed=2, n_draws=3, batch_size=64), rel=1e-6)
    assert info != latent.aggregate_information(model, x, seed=3, n_draws=3)
    assert 0 <= info["mi_nats"] <= info["mi_ceiling_nats"]
    # a fixed-variance head broadcasts its constant log-variance
    mean_only = _model(digits, "mean-only", sigma0=0.3)
    assert 0 < latent.aggregate_information(mean_only, x, n_draws=2)["mi_nats"] <= math.log(300)


def test_aggregate_information_bad_input(digits):
    with pytest.raises(VaelibError, match="stochastic"):
        latent.aggregate_information(_model(digits, "ae"), digits.x_train)
    means, logvars = torch.zeros(10, 2), torch.zeros(10, 2)
    bad = means.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(VaelibError, match="means.*1 NaN"):
        latent.aggregate_information_mixture(bad, logvars)
    with pytest.raises(VaelibError, match="same shape"):
        latent.aggregate_information_mixture(means, torch.zeros(10, 3))
    with pytest.raises(VaelibError, match="at least 2"):
        latent.aggregate_information_mixture(means[:1], logvars[:1])
    with pytest.raises(VaelibError, match="n_draws"):
        latent.aggregate_information_mixture(means, logvars, n_draws=1)
    with pytest.raises(VaelibError, match="2-D"):
        latent.aggregate_information_mixture(torch.zeros(10), torch.zeros(10))


# ---- (b) one smoothed density for the prior-hole rate -------------------------------------


@pytest.mark.parametrize("d", [2, 8, 16, 32])
def test_smoothed_hole_rate_is_near_zero_for_codes_from_the_prior(d):
    # 4,000 codes sampled from a mixture of posteriors N(sqrt(1 - s^2) m_i, s^2 I), m_i ~ N(0, I), s = 0.3:
    # the sampled codes follow N(0, I) exactly, yet the exact mixture of the narrow posteriors has gaps
    s = 0.3
    means = math.sqrt(1 - s ** 2) * _normal(4000, d, seed=1)
    codes = means + s * _normal(4000, d, seed=2)
    rate = latent.prior_hole_rate_smoothed(codes, seed=0)
    assert rate < 0.05, rate
    if d in (8, 16):
        exact = _exact_mixture_hole_rate(means, torch.full((4000, d), 2 * math.log(s)), seed=0)
        assert exact > {8: 0.3, 16: 0.95}[d], exact


@pytest.mark.parametrize("d", [2, 8])
def test_smoothed_hole_rate_of_a_half_space(d):
    # codes from N(0, I) on z_1 > 0: q = 0 on the other half, so the true rate is 0.5; a smooth fit
    # spreads a little mass across the edge and reads a little less
    codes = _normal(4000, d, seed=1)
    codes[:, 0] = codes[:, 0].abs()
    assert 0.38 <= latent.prior_hole_rate_smoothed(codes, seed=0) <= 0.5
    # one Gaussian fitted to it, N(m e_1, diag(v, 1, ..)) with m = sqrt(2/pi), v = 1 - 2/pi, has the rate
    # P(log N(z_1; m, v) - log N(z_1; 0, 1) < log 0.1) for z_1 ~ N(0, 1), whatever d
    m, v = math.sqrt(2 / math.pi), 1 - 2 / math.pi
    z1 = torch.linspace(-12, 12, 2_400_001, dtype=torch.float64)
    in_hole = -0.5 * math.log(v) - (z1 - m).pow(2) / (2 * v) + z1.pow(2) / 2 < math.log(0.1)
    analytic = float(torch.trapezoid(torch.distributions.Normal(0.0, 1.0).log_prob(z1).exp() * in_hole, z1))
    assert analytic == pytest.approx(0.25, abs=0.01)
    one = latent.prior_hole_rate_smoothed(codes, seed=0, n_components=1)
    assert abs(one - analytic) < 3 * _binomial_se(analytic, 2000) + 0.01, (one, analytic)


@pytest.mark.parametrize("n_components", [None, 1])
@pytest.mark.parametrize("d", [2, 8])
def test_smoothed_hole_rate_of_a_shrunken_prior(d, n_components):
    # q = N(0, I / 4): log q/p = d log 2 - 1.5 |z|^2, so z is in a hole when |z|^2 > (d log 2 + log 10) / 1.5
    codes = 0.5 * _normal(4000, d, seed=1)
    cut = (d * math.log(2) + math.log(10)) / 1.5
    analytic = float(chi2.sf(cut, d))                       # 0.292 at d = 2, 0.733 at d = 8
    rate = latent.prior_hole_rate_smoothed(codes, seed=0, n_components=n_components)
    assert abs(rate - analytic) < 3 * _binomial_se(analytic, 2000), (rate, analytic)
    # on the very prior points the metric scores, the exact rule; the difference is the fit's error
    same_points = float((_prior_points(2000, d, 0).pow(2).sum(dim=1) > cut).double().mean())
    assert abs(rate - same_points) < 0.01, (rate, same_points)


@pytest.mark.parametrize("d", [2, 8])
def test_smoothed_hole_rate_recovers_the_exact_rate_of_a_gaussian_mixture(d):
    # codes from a 10-component mixture (centres 1.2 N(0, I), sd 0.5): its exact rate comes from
    # the exact mixture on the same prior points
    g = torch.Generator().manual_seed(3)
    centres = 1.2 * torch.randn(10, d, generator=g)
    codes = centres[torch.randint(0, 10, (4000,), generator=g)] + 0.5 * torch.randn(4000, d, generator=g)
    exact = _exact_mixture_hole_rate(centres, torch.full((10, d), 2 * math.log(0.5)), seed=0)
    assert 0.1 < exact < 0.9
    assert abs(latent.prior_hole_rate_smoothed(codes, seed=0) - exact) < 0.02


def test_smoothed_hole_rate_has_no_comb_for_sigma0_to_zero():
    # sigma0 -> 0: 4,000 distinct codes from a smooth 2-D distribution plus noise 0.001. The exact mixture
    # of such narrow posteriors is a comb (rate ~1); the smoothed density of the sampled codes is not
    means = _normal(4000, 2, seed=5)
    assert _exact_mixture_hole_rate(means, torch.full((4000, 2), 2 * math.log(1e-3)), seed=0) > 0.95  # 0.98
    codes = means + 1e-3 * _normal(4000, 2, seed=6)
    assert latent.prior_hole_rate_smoothed(codes, seed=0) < 0.05


def test_sampled_hole_rate_of_models(digits):
    x = digits.x_train
    vae, ae = _model(digits, "vae"), _model(digits, "ae")
    with torch.no_grad():
        enc = vae.encode(x)
        eps = torch.randn(enc.mean.shape, generator=torch.Generator().manual_seed(4))
        sampled = enc.mean + (0.5 * enc.logvar).exp() * eps
        det_codes = ae.encode(x).mean
    assert latent.prior_hole_rate_sampled(vae, x, seed=4) == latent.prior_hole_rate_smoothed(sampled, seed=4)
    assert latent.prior_hole_rate_sampled(ae, x, seed=4, n_components=3) == latent.prior_hole_rate_smoothed(
        det_codes, seed=4, n_components=3)
    assert 0.0 <= latent.prior_hole_rate_sampled(vae, x, n_prior=500, batch_size=64) <= 1.0


def test_smoothed_hole_rate_bad_input():
    codes = _normal(100, 3, seed=0)
    codes[1, 2] = float("nan")
    with pytest.raises(VaelibError, match="1 NaN"):
        latent.prior_hole_rate_smoothed(codes)
    with pytest.raises(VaelibError, match="at least 10 codes, got 9"):
        latent.prior_hole_rate_smoothed(_normal(9, 3, seed=0))
    with pytest.raises(VaelibError, match="at least 22 codes, got 20"):
        latent.prior_hole_rate_smoothed(_normal(20, 10, seed=0))
    with pytest.raises(VaelibError, match="at least 10 codes, got 8"):
        latent.prior_hole_rate_smoothed(_normal(8, 2, seed=0), n_components=5)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(VaelibError, match="n_components"):
            latent.prior_hole_rate_smoothed(_normal(100, 2, seed=0), n_components=bad)
    with pytest.raises(VaelibError, match="ratio"):
        latent.prior_hole_rate_smoothed(_normal(100, 2, seed=0), ratio=0.0)
    with pytest.raises(VaelibError, match="2-D"):
        latent.prior_hole_rate_smoothed(torch.zeros(100))


# ---- (c) active units by capacity ---------------------------------------------------------


@pytest.mark.parametrize("sigma0", [0.001, 0.7])
def test_a_fixed_sigma0_does_not_make_constant_units_active(digits, sigma0):
    # z = mu(x) + sigma0 eps with head rows 1 and 3 zeroed (a constant mean, 0.5 and 0): those units carry
    # nothing, yet each pays KL (sigma0^2 - 1 - log sigma0^2) / 2 > 0.01 nats
    model = _model(digits, "mean-only", sigma0=sigma0)
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        model.to_code.weight.copy_(torch.randn(model.to_code.weight.shape, generator=g))
        model.to_code.weight[[1, 3]] = 0.0
        model.to_code.bias[1], model.to_code.bias[3] = 0.5, 0.0
    x = digits.x_test
    capacity = latent.unit_capacity(model, x)
    assert capacity.dtype == torch.float64 and capacity.shape == (LATENT,)
    assert capacity[1] == 0.0 and capacity[3] == 0.0
    with torch.no_grad():
        var_mu = model.encode(x).mean.double().var(dim=0)
    var0 = float(torch.tensor(2 * math.log(sigma0), dtype=torch.float32).double().exp())
    torch.testing.assert_close(capacity, 0.5 * torch.log1p(var_mu / var0), rtol=1e-12, atol=0.0)
    assert bool((capacity[[0, 2]] > 0.1).all())
    assert latent.active_units_information(model, x) == 2
    # the KL rule of version 0.4.0 (mean KL to N(0, 1) above 0.01 nats) counts every unit
    assert int((latent.unit_statistics(model, x)["kl_nats"] > 0.01).sum()) == LATENT


def _channel_model():
    """A 3-input, 2-unit VAE with z_0 = x_0 + sigma eps, z_1 = 0 + eps: trunk and head picked by hand."""
    model = build_model(TrainConfig(design="vae", latent_dim=2, hidden_dims=(3,)), 3).eval()
    with torch.no_grad():
        model.trunk[0][0].weight.copy_(torch.eye(3))
        model.trunk[0][0].bias.zero_()
        model.to_code.weight.zero_()
        model.to_code.bias.zero_()
        model.to_code.weight[0, 0] = 1.0        # mu_0 = h_0 = x_0; mu_1 = 0; log sigma^2 = bias
    return model


def test_unit_capacity_of_a_constructed_channel():
    model = _channel_model()
    # x_0 = (0, 0, 3): Var(mu_0) = 3 (unbiased) = 3 E[sigma_0^2] with sigma = 1, so C_0 = 0.5 log 4;
    # unit 1 has mu = 0 and sigma = 1: C_1 = 0, inactive
    x = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [3.0, 0.0, 1.0]])
    capacity = latent.unit_capacity(model, x)
    assert float(capacity[0]) == pytest.approx(0.5 * math.log(4), rel=1e-15)
    assert float(capacity[1]) == 0.0
    assert latent.active_units_information(model, x) == 1
    assert latent.active_units_information(model, x, threshold=0.5 * math.log(4)) == 0
    # sigma_0^2 = 4 and Var(mu_0) = 12: the same ratio, the same capacity
    with torch.no_grad():
        model.to_code.bias[2] = 2 * math.log(2.0)
    capacity = latent.unit_capacity(model, 2 * x)
    assert float(capacity[0]) == pytest.approx(0.5 * math.log(4), rel=1e-6)


def test_unit_capacity_bad_input(digits):
    with pytest.raises(VaelibError, match="stochastic"):
        latent.unit_capacity(_model(digits, "ae"), digits.x_test)
    with pytest.raises(VaelibError, match="stochastic"):
        latent.active_units_information(_model(digits, "ae"), digits.x_test)
    vae = _model(digits, "vae")
    with pytest.raises(VaelibError, match="at least 2"):
        latent.unit_capacity(vae, digits.x_test[:1])
    with pytest.raises(VaelibError, match="threshold"):
        latent.active_units_information(vae, digits.x_test, threshold=-1.0)
    with pytest.raises(VaelibError, match="shape"):
        latent.unit_capacity(vae, digits.x_test[:, :10])


# ---- (d) divergences in float64 -----------------------------------------------------------


def test_aggregate_divergences_are_float64():
    m, d, seed = 2000, 8, 0
    codes = _normal(m, d, seed=11) * 1.1 + 0.05
    div = latent.aggregate_divergences(codes, seed=seed)
    # the float64 reference, computed directly: prior samples drawn in float32 and widened
    gen = torch.Generator().manual_seed(seed + latent.PRIOR_SEED_OFFSET)
    prior_a, prior_b = torch.randn((m, d), generator=gen).double(), torch.randn((m, d), generator=gen).double()
    ref = {
        "mmd_to_prior": float(mmd_imq(codes.double(), prior_a)),
        "mmd_prior_vs_prior": float(mmd_imq(prior_b, prior_a)),
        "sw_to_prior": float(sliced_wasserstein(codes.double(), prior_a,
                                                generator=torch.Generator().manual_seed(seed + 1))),
        "sw_prior_vs_prior": float(sliced_wasserstein(prior_b, prior_a,
                                                      generator=torch.Generator().manual_seed(seed + 1))),
    }
    for key, value in ref.items():
        assert div[key] == value, key
    # the float32 computation of the same MMDs differs (the floor by about 1 %, measured)
    floor32 = float(mmd_imq(prior_b.float(), prior_a.float()))
    mmd32 = float(mmd_imq(codes, prior_a.float()))
    assert abs(floor32 - div["mmd_prior_vs_prior"]) > 1e-3 * abs(div["mmd_prior_vs_prior"]), (floor32, div)
    assert mmd32 != div["mmd_to_prior"]
