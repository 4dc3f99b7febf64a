"""The model family: heads, decoder, likelihoods, loss terms and input checks."""
import math

import pytest
import torch

from vaelib import TrainConfig, build_model
from vaelib.errors import UnknownNameError, VaelibError
from vaelib.models import LOGVAR_RANGE


def model_for(design, **kw):
    return build_model(TrainConfig(design=design, dataset="digits", latent_dim=3, hidden_dims=(32,), **kw), 64, (8, 8))


def test_heads_give_the_right_encoding():
    x = torch.rand(5, 64)
    assert model_for("ae").encode(x).logvar is None
    fixed = model_for("mean-only", sigma0=0.3).encode(x)
    torch.testing.assert_close(fixed.logvar.expand_as(fixed.mean), torch.full((5, 3), 2 * math.log(0.3)))
    enc = model_for("vae").encode(x)
    assert enc.mean.shape == enc.logvar.shape == (5, 3)


def test_deterministic_head_gives_the_same_z_and_stochastic_heads_do_not():
    x = torch.rand(4, 64)
    for design, stochastic in (("ae", False), ("wae-mmd", False), ("mean-only", True), ("vae", True)):
        m = model_for(design)
        enc = m.encode(x)
        z1, z2 = m.sample_z(enc), m.sample_z(enc)
        assert m.stochastic is stochastic
        assert torch.equal(z1, z2) is not stochastic


def test_fixed_variance_noise_has_scale_sigma0():
    m = model_for("mean-only", sigma0=0.7)
    x = torch.rand(1, 64).expand(20000, 64)
    with torch.no_grad():
        z = m.sample_z(m.encode(x), torch.Generator().manual_seed(0))
    assert abs(float(z.std(0).mean()) - 0.7) < 0.02


def test_logvar_is_clamped_so_extreme_weights_stay_finite():
    m = model_for("vae")
    with torch.no_grad():
        m.to_code.bias.fill_(1e4)
    enc = m.encode(torch.rand(3, 64))
    assert float(enc.logvar.detach().max()) == LOGVAR_RANGE[1]
    assert torch.isfinite(m.loss(torch.rand(3, 64)).total)


def test_loss_terms_follow_the_stated_reduction():
    m = model_for("vae")
    x = torch.rand(6, 64).round()
    g = torch.Generator().manual_seed(0)
    terms = m.loss(x, generator=g)
    enc = m.encode(x)
    z = m.sample_z(enc, torch.Generator().manual_seed(0))
    rec = m.reconstruction_nll(x, m.decoder_output(z))  # per example, summed over pixels
    kl = 0.5 * (enc.mean ** 2 + enc.logvar.exp() - 1 - enc.logvar).sum(1)
    torch.testing.assert_close(terms.reconstruction, rec.mean())
    torch.testing.assert_close(terms.regulariser, kl.mean())
    torch.testing.assert_close(terms.total, rec.mean() + kl.mean())


def test_weight_multiplies_the_regulariser():
    x = torch.rand(8, 64)
    t = model_for("wae-mmd", weight=7.0).loss(x, torch.Generator().manual_seed(1))
    torch.testing.assert_close(t.total, t.reconstruction + 7.0 * t.regulariser)


def test_gaussian_likelihood_nll():
    m = model_for("ae", likelihood="gaussian", sigma_x=0.5)
    x = torch.rand(4, 64)
    out = m.decoder_output(m.encode(x).mean)
    ref = -torch.distributions.Normal(out, 0.5).log_prob(x).sum(1)
    torch.testing.assert_close(m.reconstruction_nll(x, out), ref)


def test_sample_decodes_prior_draws_into_pixel_probabilities():
    s = model_for("vae").sample(10, torch.Generator().manual_seed(0))
    assert s.shape == (10, 64) and float(s.min()) >= 0 and float(s.max()) <= 1


def test_conv_trunk_on_images():
    m = build_model(TrainConfig(design="vae", dataset="digits", latent_dim=2, hidden_dims=(16,), trunk="conv"), 64,
                    (8, 8))
    assert m.encode(torch.rand(3, 64)).mean.shape == (3, 2)
    with pytest.raises(VaelibError, match="conv trunk needs square images"):
        build_model(TrainConfig(design="vae", dataset="curve", trunk="conv"), 2, None)


@pytest.mark.parametrize("bad", [torch.rand(4, 63), torch.rand(64), torch.rand(2, 1, 64), torch.ones(3, 64, dtype=torch.long)])
def test_wrong_input_shape_is_rejected(bad):
    with pytest.raises(VaelibError, match=r"expects a float tensor of shape \(batch, 64\)"):
        model_for("vae").encode(bad)


def test_wrong_code_shape_is_rejected():
    with pytest.raises(VaelibError, match=r"decoder expects \(batch, 3\)"):
        model_for("vae").decode(torch.zeros(2, 4))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"design": "gan"}, "unknown design 'gan'; accepted: 'ae'"),
        ({"regulariser": "wasserstein"}, "unknown regulariser 'wasserstein'"),
        ({"dataset": "cifar10"}, "unknown data set 'cifar10'"),
        ({"latent_dim": 0}, "latent_dim must be > 0, got 0"),
        ({"latent_dim": -3}, "latent_dim must be > 0"),
        ({"weight": -1.0}, "weight must be >= 0, got -1.0"),
        ({"sigma0": 0.0}, "sigma0 must be > 0, got 0.0"),
        ({"sigma0": -0.5}, "sigma0 must be > 0"),
        ({"batch_size": 0}, "batch_size must be > 0, got 0"),
        ({"epochs": -1}, "epochs must be >= 0"),
        ({"latent_dim": 2.5}, "latent_dim must be an integer"),
        ({"hidden_dims": ()}, "hidden_dims must be a non-empty list"),
        ({"lr": float("nan")}, "lr must be > 0"),
        ({"likelihood": "poisson"}, "unknown likelihood 'poisson'"),
        ({"design": "ae", "regulariser": "kl"}, r"needs encoder noise.*L2 penalty on the codes: design .rae."),
        ({"design": "vae", "patience": 5}, "set validation_fraction > 0"),
        ({"design": "vae", "patience": 0, "validation_fraction": 0.2}, "patience must be an integer >= 1"),
    ],
)
def test_bad_config_values_are_rejected_with_a_message(kwargs, message):
    with pytest.raises(VaelibError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**kwargs)
    assert issubclass(UnknownNameError, VaelibError)


def test_config_round_trips_through_json():
    c = TrainConfig(design="swae", latent_dim=8, hidden_dims=(64, 32), weight=3.0)
    assert TrainConfig.from_dict(c.to_dict()) == c
    assert TrainConfig.from_dict(__import__("json").loads(c.to_json())) == c
    with pytest.raises(VaelibError, match="unknown config keys"):
        TrainConfig.from_dict({**c.to_dict(), "colour": "red"})
