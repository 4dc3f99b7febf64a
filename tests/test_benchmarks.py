"""The throughput benchmark runs end to end (on a tiny model, one epoch): a smoke test, no timing asserted."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _benchmark(name: str):
    """The script benchmarks/<name>.py as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def throughput():
    return _benchmark("throughput")


def test_reference_model_follows_the_sizes(throughput):
    model = throughput.ReferenceVAE(throughput.TINY_SIZES)
    with torch.no_grad():
        recon, mu, logvar = model(torch.rand(5, throughput.TINY_SIZES[0]))
    assert recon.shape == (5, throughput.TINY_SIZES[0])
    assert mu.shape == logvar.shape == (5, throughput.TINY_SIZES[2])
    assert 0 <= float(recon.min()) and float(recon.max()) <= 1


def test_every_loop_trains_and_reports_a_throughput(throughput):
    data = throughput.tiny_dataset(300)
    runs = throughput.measure(data, epochs=1, repeats=2, sizes=throughput.TINY_SIZES)
    assert list(runs) == list(throughput.NAMES)
    for name, values in runs.items():
        assert len(values) == 2, name
        assert all(v > 0 and v == v for v in values), (name, values)


def test_median_interval_brackets_the_median_and_narrows_with_more_runs(throughput):
    assert throughput.median_interval([1.5] * 9) == (1.5, 1.5, 1.5)
    few = [1.3, 1.7, 1.5, 1.4, 1.6]
    med, low, high = throughput.median_interval(few)
    assert med == 1.5 and low <= med <= high and low >= min(few) and high <= max(few)
    many = few * 20
    _, low_many, high_many = throughput.median_interval(many)
    assert high_many - low_many < high - low


def test_verdict_needs_the_whole_interval_on_one_side(throughput):
    assert throughput.verdict(1.61, 1.70, 1.6) == "met"
    assert throughput.verdict(1.50, 1.59, 1.6) == "NOT met"
    assert throughput.verdict(1.55, 1.65, 1.6).startswith("undecided")


def test_numerics_variants_run_in_their_own_processes_under_the_numerics_they_name(throughput, capsys):
    runs = throughput.measure_numerics(epochs=1, repeats=1, sizes=throughput.TINY_SIZES)
    assert list(runs) == list(throughput.NUMERICS_VARIANTS)
    assert all(len(v) == 1 and v[0] > 0 for v in runs.values()), runs
    throughput.report_numerics(runs)
    out = capsys.readouterr().out
    assert "canonical" in out and "1.000x native" in out


@pytest.fixture(scope="module")
def book_time():
    return _benchmark("book_time")


def _figures(book_time, total: float, trained: int) -> dict:
    share = total / len(book_time.NOTEBOOKS)
    return {"seconds": {nb.name: share for nb in book_time.NOTEBOOKS}, "total": total, "trained": trained,
            "loaded": 2 * trained, "train_seconds": total * 0.9}


def test_book_time_reports_the_targets_ratios(book_time, capsys):
    names = list(book_time.configurations(2))
    assert names == ["3 seeds, 1 worker", "5 seeds, 1 worker", "5 seeds, 2 workers"]
    assert book_time.configurations(2)[names[2]] == {"seeds": [0, 1, 2, 3, 4], "workers": 2}
    book_time.report({names[0]: _figures(book_time, 1000, 60), names[1]: _figures(book_time, 1600, 90),
                      names[2]: _figures(book_time, 900, 90)})
    out = capsys.readouterr().out
    assert "5 seeds in parallel / 3 seeds sequentially: 0.90x (target <= 0.8x: NOT met)" in out
    assert "5 seeds: parallel / sequential: 0.56x" in out
    assert "all notebooks: 15.0 min (target <= 5 min: NOT met)" in out
    book_time.report({names[0]: _figures(book_time, 1000, 60), names[2]: _figures(book_time, 280, 90)})
    out = capsys.readouterr().out
    assert "0.28x (target <= 0.8x: met)" in out and "(target <= 5 min: met)" in out
    assert [n.name for n in book_time.NOTEBOOKS][-1] == book_time.HEAD_TO_HEAD
