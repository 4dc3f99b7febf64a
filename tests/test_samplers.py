"""Code samplers (vaelib.samplers): the prior, a fitted Gaussian, a fitted Gaussian mixture."""
from __future__ import annotations

import math

import pytest
import torch

from vaelib import UnknownNameError, VaelibError
from vaelib.samplers import SAMPLERS, fit_sampler


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_prior_sampler_is_standard_normal():
    s = fit_sampler("prior", randn(50, 3))
    z = s.sample(20000, seed=0)
    assert z.shape == (20000, 3) and z.dtype == torch.float32
    assert torch.allclose(z.mean(0), torch.zeros(3), atol=0.03)
    assert torch.allclose(torch.cov(z.T), torch.eye(3), atol=0.05)
    assert float(s.log_prob(torch.zeros(1, 3))) == pytest.approx(-1.5 * math.log(2 * math.pi), rel=1e-6)
    assert torch.equal(s.sample(5, seed=1), s.sample(5, seed=1))
    assert not torch.equal(s.sample(5, seed=1), s.sample(5, seed=2))


def test_gaussian_sampler_recovers_shift_and_scale():
    codes = randn(3000, 4) * torch.tensor([1.0, 2.0, 0.5, 1.0]) + torch.tensor([3.0, -2.0, 0.0, 1.0])
    s = fit_sampler("gaussian", codes)
    z = s.sample(20000, seed=0)
    assert torch.allclose(z.mean(0), torch.tensor([3.0, -2.0, 0.0, 1.0]), atol=0.1)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 2.0, 0.5, 1.0]), rtol=0.05)
    lp = s.log_prob(codes)
    assert lp.shape == (3000,) and torch.isfinite(lp).all()
    # the fitted Gaussian scores its own codes better than the prior does
    assert float(lp.mean()) > float(fit_sampler("prior", codes).log_prob(codes).mean())


def test_gmm_sampler_samples_both_clusters(two_clusters):
    s = fit_sampler("gmm", two_clusters, n_components=2, seed=0)
    z = s.sample(1000, seed=0)
    left, right = float((z[:, 0] < 0).float().mean()), float((z[:, 0] > 0).float().mean())
    assert 0.4 < left < 0.6 and 0.4 < right < 0.6
    assert float((z[:, 0].abs() - 4).abs().mean()) < 0.6  # near the cluster centres, not in between
    lp = s.log_prob(two_clusters)
    assert torch.isfinite(lp).all()
    assert float(s.log_prob(torch.tensor([[4.0, 0.0]]))) > float(s.log_prob(torch.tensor([[0.0, 0.0]])))
    # the 10-component default fits too, and is reproducible for a seed
    ten = fit_sampler("gmm", two_clusters, seed=3)
    assert torch.equal(ten.sample(50, seed=1), fit_sampler("gmm", two_clusters, seed=3).sample(50, seed=1))


def test_sampler_errors(two_clusters):
    with pytest.raises(UnknownNameError, match="'prior', 'gaussian', 'gmm'"):
        fit_sampler("flow", two_clusters)
    nan_codes = two_clusters.clone()
    nan_codes[0, 0] = float("nan")
    for name in SAMPLERS:
        with pytest.raises(VaelibError, match="NaN"):
            fit_sampler(name, nan_codes)
    with pytest.raises(VaelibError, match="at least 20 codes.*got 15"):
        fit_sampler("gmm", two_clusters[:15])
    with pytest.raises(VaelibError, match="at least latent_dim \\+ 1 = 9 codes, got 5"):
        fit_sampler("gaussian", randn(5, 8))
    with pytest.raises(VaelibError, match="latent_dim 2"):
        fit_sampler("gaussian", two_clusters).log_prob(randn(3, 5))
