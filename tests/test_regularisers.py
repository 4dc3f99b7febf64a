"""The divergences on z: analytic KL against torch.distributions, MMD/SW/moments near 0 for N(0, I)."""
import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vaelib.errors import UnknownNameError, VaelibError
from vaelib.regularisers import (
    IMQ_SCALES, get_regulariser, imq_kernel_sum, kl_to_standard_normal, l2_penalty, mmd_imq, moment_matching,
    sliced_wasserstein,
)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(64, 7, generator=g) * 2
    logvar = torch.randn(64, 7, generator=g) * 1.5
    ours = kl_to_standard_normal(mean, logvar)
    ref = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(dim=1)
    assert ours.shape == (64,)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_kl_with_fixed_variance_is_half_squared_mean_plus_constant():
    mean = torch.randn(10, 4, generator=torch.Generator().manual_seed(1))
    sigma0 = 0.3
    logvar = torch.tensor(2 * math.log(sigma0))
    const = 0.5 * 4 * (sigma0 ** 2 - 1 - 2 * math.log(sigma0))
    torch.testing.assert_close(kl_to_standard_normal(mean, logvar), 0.5 * mean.pow(2).sum(1) + const)


def test_kl_is_zero_at_the_prior():
    assert kl_to_standard_normal(torch.zeros(3, 5), torch.zeros(3, 5)).abs().max() < 1e-7


def _normal(n, d, seed, shift=0.0, scale=1.0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) * scale + shift


@pytest.mark.parametrize("d", [2, 16])
def test_mmd_near_zero_for_prior_samples_and_larger_when_shifted_or_scaled(d):
    same = mmd_imq(_normal(500, d, 0), _normal(500, d, 1))
    shifted = mmd_imq(_normal(500, d, 2, shift=1.0), _normal(500, d, 3))
    scaled = mmd_imq(_normal(500, d, 4, scale=2.0), _normal(500, d, 5))
    assert abs(float(same)) < 0.01
    assert shifted > 10 * abs(same) + 0.02
    assert scaled > 10 * abs(same) + 0.02


def _mmd_by_definition(x, y):
    """The unbiased MMD^2 written out term by term with the IMQ kernel, for comparison."""
    def k(a, b):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return sum(c / (c + d2) for c in (2.0 * a.shape[1] * s for s in IMQ_SCALES))

    n, m = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return ((kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1)) + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
            - 2 * k(x, y).mean())


@pytest.mark.parametrize("y_requires_grad", [False, True])
def test_mmd_value_and_gradients_match_the_definition(y_requires_grad):
    x = _normal(30, 4, 0, shift=0.3).double().requires_grad_()
    y = _normal(25, 4, 1).double().requires_grad_(y_requires_grad)
    ours = mmd_imq(x, y)
    ref = _mmd_by_definition(x, y)
    torch.testing.assert_close(ours, ref)
    inputs = [x, y] if y_requires_grad else [x]
    for g_ours, g_ref in zip(torch.autograd.grad(ours, inputs), torch.autograd.grad(ref, inputs)):
        torch.testing.assert_close(g_ours, g_ref)


def test_imq_kernel_derivative_passes_gradcheck():
    d2 = (torch.rand(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 4).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: imq_kernel_sum(t, latent_dim=3), (d2,))


def test_mmd_estimator_is_unbiased_on_average():
    values = torch.stack([mmd_imq(_normal(20, 3, 2 * i), _normal(20, 3, 2 * i + 1)) for i in range(200)])
    # the unbiased estimator averages to 0 under the null; a biased (V-statistic) one stays positive
    assert abs(float(values.mean())) < 3 * float(values.std()) / 200 ** 0.5 + 1e-4


@pytest.mark.parametrize("d", [2, 16])
def test_sliced_wasserstein_near_zero_for_prior_samples_and_larger_when_shifted_or_scaled(d):
    g = torch.Generator().manual_seed(9)
    same = sliced_wasserstein(_normal(1000, d, 0), _normal(1000, d, 1), generator=g)
    shifted = sliced_wasserstein(_normal(1000, d, 2, shift=1.0), _normal(1000, d, 3), generator=g)
    scaled = sliced_wasserstein(_normal(1000, d, 4, scale=2.0), _normal(1000, d, 5), generator=g)
    assert same < 0.02
    assert shifted > 0.1 and scaled > 0.1
    assert shifted > 10 * same and scaled > 10 * same


def test_moment_matching_sees_moments_but_not_shape():
    n = 20000
    gauss = _normal(n, 2, 0)
    # a uniform with mean 0 and variance 1 has the same two moments as N(0, I)
    uniform = (torch.rand(n, 2, generator=torch.Generator().manual_seed(1)) - 0.5) * 12 ** 0.5
    assert moment_matching(gauss) < 0.01
    assert moment_matching(uniform) < 0.01
    assert moment_matching(gauss + 1.0) > 1.5
    assert mmd_imq(uniform[:1000], gauss[:1000]) > 5 * abs(mmd_imq(gauss[:1000], _normal(1000, 2, 7)))


def test_l2_penalty_per_sample():
    z = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    torch.testing.assert_close(l2_penalty(z), torch.tensor([12.5, 0.0]))


def test_regulariser_registry_and_errors():
    with pytest.raises(UnknownNameError, match="unknown regulariser 'wasserstein'.*'mmd'"):
        get_regulariser("wasserstein")
    with pytest.raises(VaelibError, match="stochastic encoder head"):
        get_regulariser("kl")(torch.zeros(4, 2), torch.zeros(4, 2), None)
    with pytest.raises(VaelibError, match="at least 2 samples"):
        mmd_imq(torch.zeros(1, 2), torch.zeros(5, 2))
    with pytest.raises(VaelibError, match="same number of columns"):
        sliced_wasserstein(torch.zeros(5, 2), torch.zeros(5, 3))
