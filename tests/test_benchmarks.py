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
    runs, gemm = throughput.measure_numerics(epochs=1, repeats=1, sizes=throughput.TINY_SIZES)
    assert list(runs) == list(gemm) == list(throughput.NUMERICS_VARIANTS)
    assert all(len(v) == 1 and v[0] > 0 for v in runs.values()), runs
    assert all(len(v) == 1 and v[0] > 0 for v in gemm.values()), gemm
    throughput.report_numerics(runs, gemm)
    out = capsys.readouterr().out
    assert "canonical" in out and "1.000x native" in out
    assert "target >= 0.8x" in out and "MKL COMPATIBLE's share of canonical training time" in out
    assert "the products alone" in out and "were they the only difference" in out


def test_gemm_speed_of_both_kernels_is_measured(throughput):
    speeds = throughput.gemm_gflops(repeats=1)
    assert set(speeds) == {"canonical kernels", "torch"} and all(v > 0 for v in speeds.values())


@pytest.fixture(scope="module")
def book_time():
    return _benchmark("book_time")


def test_book_time_reports_each_notebook_against_the_floor(book_time, capsys):
    figures = {nb.name: {"seconds": 100.0, "trained": 10, "loaded": 0, "train_seconds": 80.0, "train_flop": 4e12}
               for nb in book_time.NOTEBOOKS}
    book_time.report(figures, gflops=100.0, workers=2)   # floor of each: 4e12 / 2e11 = 20 s
    out = capsys.readouterr().out
    assert "200.0 GFLOP/s" in out
    n = len(book_time.NOTEBOOKS)
    assert f"{'total':28s}{10 * n:9d}{4.0 * n:9.2f}{100.0 * n:10.0f}{40.0:9.1f}{20.0 * n:9.0f}    5.00x" in out
    assert "5.00x the floor" in out and "(target <= 1.5x: NOT met)" in out
    # training 80 s per notebook on 2 workers: 40 s of wall time each, 2x its floor of 20 s; 60 s of 100 s left over
    assert (f"training {80 * n} s on 2 workers, at best {40 * n} s of wall time (2.00x the floor: 50.0 GFLOP/s per "
            f"worker against 100.0 for the products alone); the other {60 * n} s (60%)") in out
    fast = {name: dict(f, seconds=25.0) for name, f in figures.items()}
    book_time.report(fast, gflops=100.0, workers=2)
    assert "1.25x the floor" in capsys.readouterr().out


def test_the_products_bound_runs_from_the_products_ratio_to_one(throughput):
    # products all the time: the ratio of their speeds; none of the time: no cost; half: in between
    assert throughput.products_bound(50.0, 100.0, 1.0) == pytest.approx(0.5)
    assert throughput.products_bound(50.0, 100.0, 0.0) == pytest.approx(1.0)
    assert throughput.products_bound(50.0, 100.0, 0.5) == pytest.approx(1 / 1.5)
    # the classic VAE: 784-400-20, 1.30 MFLOP forward, 3.28 MFLOP per training sample
    assert throughput.training_flop_per_sample((784, 400, 20)) == 3 * 1_302_400 - 627_200
