"""The TwoNN intrinsic-dimension estimator (vaelib.metrics.intrinsic) on clouds of known dimension.

A 3-d cube rotated into 10 dims, a 6-d Gaussian and a circle in 5 dims give about 3, 6
and 1; the estimate does not move when the cloud is scaled, rotated or translated; it
equals a brute-force implementation of the paper's formula to 1e-12; exact duplicates
are dropped; every bad input is a VaelibError.
"""
from __future__ import annotations

import math

import pytest
import torch

from vaelib.errors import VaelibError
from vaelib.metrics.intrinsic import two_nn_dimension


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _rotation(dim: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=_gen(seed), dtype=torch.float64))
    return q


def _cube_in_10d(n: int = 2000, seed: int = 0) -> torch.Tensor:
    """Uniform points of the unit 3-cube, embedded in a random 3-d linear subspace of R^10."""
    return torch.rand(n, 3, generator=_gen(seed), dtype=torch.float64) @ _rotation(10, seed + 1)[:3]


def _circle_in_5d(n: int = 2000, seed: int = 0) -> torch.Tensor:
    angle = 2 * math.pi * torch.rand(n, generator=_gen(seed), dtype=torch.float64)
    return torch.stack([torch.cos(angle), torch.sin(angle)], dim=1) @ _rotation(5, seed + 1)[:2]


def _reference(x: torch.Tensor, discard_fraction: float = 0.1) -> float:
    """Facco et al. (2017) written out with the full distance matrix and mu = r2 / r1: the slow way."""
    x = x.double()
    sq = ((x[:, None] - x[None]) ** 2).sum(-1)
    sq.fill_diagonal_(math.inf)
    r = torch.sort(sq, dim=1).values[:, :2].sqrt()
    r = r[r[:, 0] > 0]
    n = r.shape[0]
    mu = torch.sort(r[:, 1] / r[:, 0]).values
    keep = min(n - 1, int(n * (1 - discard_fraction) + 1e-9))
    log_mu = torch.log(mu[:keep])
    y = -torch.log(1 - torch.arange(1, keep + 1, dtype=torch.float64) / n)
    return float((log_mu * y).sum() / (log_mu * log_mu).sum())


def test_uniform_3d_cube_in_10d_is_about_3():
    assert 2.6 <= two_nn_dimension(_cube_in_10d()) <= 3.4


def test_gaussian_in_6d_is_about_6():
    x = torch.randn(2000, 6, generator=_gen(5), dtype=torch.float64)
    assert 5.0 <= two_nn_dimension(x) <= 7.0


def test_circle_in_5d_is_about_1():
    assert 0.8 <= two_nn_dimension(_circle_in_5d()) <= 1.2


def test_scaling_rotating_and_translating_leave_the_estimate_unchanged():
    x = _cube_in_10d(1000, seed=7)
    d = two_nn_dimension(x)
    assert abs(two_nn_dimension(37.5 * x) - d) < 1e-9
    assert abs(two_nn_dimension(1e-3 * x) - d) < 1e-9
    assert abs(two_nn_dimension(x @ _rotation(10, 8) + 2.0) - d) < 1e-9


@pytest.mark.parametrize("n, dim, discard_fraction", [(300, 20, 0.1), (120, 784, 0.1), (150, 2, 0.0),
                                                      (120, 4, 0.5)])
def test_equals_the_brute_force_formula_to_rounding(n, dim, discard_fraction):
    x = torch.randn(n, dim, generator=_gen(n + dim), dtype=torch.float64)
    assert two_nn_dimension(x, discard_fraction=discard_fraction) == pytest.approx(_reference(x, discard_fraction),
                                                                                  rel=1e-12)


def test_exact_duplicates_are_dropped_not_fatal():
    x = _cube_in_10d(500, seed=9)
    with_copies = torch.cat([x, x[:20]])  # 40 points now have a neighbour at distance 0
    d = two_nn_dimension(with_copies)
    assert math.isfinite(d)
    assert d == pytest.approx(_reference(with_copies), rel=1e-12)
    assert 2.4 <= d <= 3.6


def test_float32_input_is_read_exactly():
    x = torch.randn(300, 5, generator=_gen(11))
    assert two_nn_dimension(x) == two_nn_dimension(x.double())


def test_does_not_touch_the_global_random_state():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    two_nn_dimension(_circle_in_5d(100))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("x, kwargs, message", [
    (torch.zeros(100), {}, "2-D"),
    (torch.zeros(100, 2, 2), {}, "2-D"),
    (torch.randn(9, 3, generator=_gen(0)), {}, "at least 10 points"),
    (torch.tensor([[float("nan"), 0.0]] + [[float(i), 1.0] for i in range(20)]), {}, "NaN"),
    (torch.tensor([[float("-inf"), 0.0]] + [[float(i), 1.0] for i in range(20)]), {}, "infinite"),
    (torch.randn(50, 3, generator=_gen(0)), {"discard_fraction": 1.0}, r"\[0, 1\)"),
    (torch.randn(50, 3, generator=_gen(0)), {"discard_fraction": -0.1}, r"\[0, 1\)"),
    (torch.randn(50, 3, generator=_gen(0)), {"discard_fraction": float("nan")}, r"\[0, 1\)"),
    (torch.randn(10, 3, generator=_gen(0)), {"discard_fraction": 0.9}, "at least 2"),
    (torch.randn(12, 3, generator=_gen(0)).repeat(2, 1), {}, "duplicate"),                  # every point twice
    (torch.cat([torch.randn(8, 3, generator=_gen(0))] * 2 + [torch.randn(9, 3, generator=_gen(1))]), {},
     "leaving 9"),
    (torch.arange(30, dtype=torch.float64)[:, None], {}, "regular grid"),  # interior r2 / r1 = 1 exactly
])
def test_bad_input_raises_a_vaelib_error_naming_the_problem(x, kwargs, message):
    with pytest.raises(VaelibError, match=message):
        two_nn_dimension(x, **kwargs)
