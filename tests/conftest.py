"""Shared fixtures: a private cache folder for every test, and small data."""
from __future__ import annotations

import pytest

import vaelib  # noqa: F401  (first: canonical numerics must apply before any test runs a torch operation)


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Point vaelib's cache at a fresh folder so tests never read or write the user's cache."""
    path = tmp_path_factory.mktemp("vaelib-cache")
    monkeypatch.setenv("VAELIB_CACHE_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def digits():
    """sklearn's 8x8 digits, split as vaelib splits them (1,438 train / 359 test)."""
    import vaelib

    return vaelib.load_dataset("digits")


@pytest.fixture(scope="session")
def two_clusters():
    """400 2-D codes (float32): half around (-4, 0), half around (+4, 0)."""
    import torch

    x = torch.randn(400, 2, generator=torch.Generator().manual_seed(1)) * 0.5
    x[:200, 0] -= 4
    x[200:, 0] += 4
    return x
