"""Shared fixtures: a private cache folder for every test, a kept cache for the pipeline runs, and small data."""
from __future__ import annotations

from pathlib import Path

import pytest

import vaelib  # noqa: F401  (first: canonical numerics must apply before any test runs a torch operation)
from vaelib.store import cache_root

#: Where the tests that run a whole pipeline keep what they train between test runs: ``tests/`` under the cache
#: root in force when the tests start (``~/.cache/vaelib/tests`` by default), beside the user's own ``models/``,
#: which no test reads or writes. Read before any test points ``$VAELIB_CACHE_DIR`` at a private folder.
KEPT_CACHE_ROOT = cache_root() / "tests"


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Point vaelib's cache at a fresh folder so tests never read or write the user's cache."""
    path = tmp_path_factory.mktemp("vaelib-cache")
    monkeypatch.setenv("VAELIB_CACHE_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def kept_cache():
    """``kept_cache(name)``: the folder ``<KEPT_CACHE_ROOT>/<name>``, kept between test runs (created here).

    For the tests that run a whole pipeline (the notebooks' smoke runs, the study notebooks, the ``compare``
    command): from an empty cache they train and evaluate everything, and a later run of the same code loads the
    models and metric records they cached. Every cache key holds the config, the numerics and
    vaelib's cache and metrics versions, so a change to what is trained or measured is never served from here.
    Tests that count trainings or test the cache itself keep using :func:`private_cache`.
    """
    def folder(name: str) -> Path:
        path = KEPT_CACHE_ROOT / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    return folder


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


def _cpu_line() -> str:
    """This CPU as /proc/cpuinfo names it: model name, vendor, family and model numbers (what the fingerprint test ran on)."""
    from vaelib import numerics

    fields: dict[str, str] = {}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    detail = ", ".join(f"{name} {fields[key]}" for name, key in
                       (("vendor", "vendor_id"), ("family", "cpu family"), ("model", "model")) if key in fields)
    return f"{numerics.cpu_model()} ({detail})" if detail else numerics.cpu_model()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """End the run with the CPU it ran on and the one the stored outputs came from, so CI logs say which CPUs agree."""
    import json

    stored = json.loads((Path(__file__).with_name("numerics_fingerprint.json")).read_text())
    terminalreporter.write_line(f"numerics fingerprint: tests ran on {_cpu_line()}; stored outputs executed on "
                                f"{stored['cpu']}")
