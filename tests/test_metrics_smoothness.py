"""Smoothness per unit of the codes' own spread: invariant to rescaling the latent space."""
from __future__ import annotations

import copy

import pytest
import torch

from vaelib import TrainConfig, VaelibError, build_model, load_dataset
from vaelib.metrics import smoothness


@pytest.fixture(scope="module")
def model_and_codes():
    data = load_dataset("digits")
    torch.manual_seed(0)
    model = build_model(TrainConfig(design="ae", dataset="digits", latent_dim=3), data.dim, data.image_shape).eval()
    with torch.no_grad():
        codes = model.encode(data.x_test[:200]).mean
    return model, codes


def _rescaled(model, a: float):
    """The same generative map with codes a times wider: decoder'(a z) = decoder(z)."""
    wide = copy.deepcopy(model)
    with torch.no_grad():
        wide.decoder[0].weight.div_(a)
    return wide


@pytest.mark.parametrize("a", [0.2, 3.0, 5.0])
def test_scaled_jacobian_is_invariant_to_rescaling_the_codes(model_and_codes, a):
    """Known answer: the same decoder with z -> a z; the raw norm divides by a, the scaled one does not move."""
    model, codes = model_and_codes
    wide = _rescaled(model, a)
    with torch.no_grad():
        torch.testing.assert_close(wide.decode(a * codes), model.decode(codes), rtol=1e-4, atol=1e-5)
    raw, raw_wide = (smoothness.decoder_jacobian_norm(m, c) for m, c in ((model, codes), (wide, a * codes)))
    assert raw_wide == pytest.approx(raw / a, rel=1e-3)  # the unit artefact the scaled metric removes
    scaled = smoothness.decoder_jacobian_norm_scaled(model, codes)
    assert smoothness.decoder_jacobian_norm_scaled(wide, a * codes) == pytest.approx(scaled, rel=1e-3)


def test_scaled_jacobian_of_a_linear_decoder_is_known(model_and_codes):
    """Linear decoder x = W z: J = W, so ||J S^1/2||_F = sqrt(tr(W S W^T)) at every code."""
    model, codes = model_and_codes
    lin = copy.deepcopy(model)
    lin.decoder = torch.nn.Linear(3, model.data_dim)
    lin.likelihood = "gaussian"  # decode = the linear output itself
    w = lin.decoder.weight.detach().double()
    c = codes.double() - codes.double().mean(0)
    cov = c.T @ c / (c.shape[0] - 1)
    expected = float(torch.trace(w @ cov @ w.T).sqrt())
    assert smoothness.decoder_jacobian_norm_scaled(lin, codes) == pytest.approx(expected, rel=1e-4)
    assert smoothness.decoder_jacobian_norm(lin, codes) == pytest.approx(float(w.norm()), rel=1e-4)


def test_scaled_jacobian_refuses_bad_codes(model_and_codes):
    model, codes = model_and_codes
    with pytest.raises(VaelibError, match="at least 2 codes"):
        smoothness.decoder_jacobian_norm_scaled(model, codes[:1])
    bad = codes.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(VaelibError, match="NaN"):
        smoothness.decoder_jacobian_norm_scaled(model, bad)
    with pytest.raises(VaelibError, match="n must be >= 1"):
        smoothness.decoder_jacobian_norm_scaled(model, codes, n=0)
