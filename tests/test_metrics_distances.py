"""Exact squared distances (vaelib.metrics.distances): bit for bit the explicit formula, whatever the tiling."""
from __future__ import annotations

import pytest
import torch

from vaelib.metrics import distances
from vaelib.metrics.distances import squared_distance_blocks


def _normal(n: int, dim: int, seed: int) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _assembled(x: torch.Tensor, y: torch.Tensor, upper: bool = False) -> torch.Tensor:
    """The blocks of squared_distance_blocks put together; left of the diagonal blocks NaN for ``upper``."""
    out = torch.full((x.shape[0], y.shape[0]), float("nan"), dtype=torch.float64)
    for start, block in squared_distance_blocks(x, y, upper=upper):
        out[start:start + block.shape[0], y.shape[0] - block.shape[1]:] = block
    return out


@pytest.mark.parametrize("n, m, dim", [(37, 53, 3), (130, 70, 784), (9, 1, 1)])
def test_distances_are_the_explicit_formula_bit_for_bit(n, m, dim):
    x, y = _normal(n, dim, 1), _normal(m, dim, 2)
    assert torch.equal(_assembled(x, y), ((x[:, None] - y[None]) ** 2).sum(-1))


@pytest.mark.parametrize("tile, threaded", [(1, 1), (700, 700), (5000, 90)])
def test_tile_size_does_not_change_the_bits(monkeypatch, tile, threaded):
    x, y = _normal(41, 7, 4), _normal(29, 7, 5)
    monkeypatch.setattr(distances, "_TILE_ELEMENTS", tile)
    monkeypatch.setattr(distances, "_TILE_ELEMENTS_THREADED", threaded)
    assert torch.equal(_assembled(x, y), ((x[:, None] - y[None]) ** 2).sum(-1))
    full = ((x[:, None] - x[None]) ** 2).sum(-1)
    got = _assembled(x, x, upper=True)
    assert torch.equal(got[~torch.isnan(got)], full[~torch.isnan(got)])


@pytest.mark.parametrize("n, dim", [(300, 20), (90, 784)])
def test_upper_distances_cover_each_pair_and_equal_the_formula(n, dim):
    x = _normal(n, dim, 3)
    full = ((x[:, None] - x[None]) ** 2).sum(-1)
    assert torch.equal(full, full.T)  # the formula itself is symmetric bit for bit
    got = _assembled(x, x, upper=True)
    done = ~torch.isnan(got)
    assert torch.equal(got[done], full[done])
    assert bool((done | done.T).all())  # every pair (i, j) computed in at least one orientation
    assert bool(done[torch.ones(n, n, dtype=torch.bool).triu()].all())  # each pair right of the diagonal

