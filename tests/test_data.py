"""Tests for vaelib.data: offline sets, seeded splits, the full-set download path, check_data."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from vaelib import data as vdata
from vaelib import TrainConfig
from vaelib.data import (DATASETS, OFFLINE_DATASETS, Dataset, SplitSpec, check_data, dataset_for, load_dataset,
                         split_for, training_view, validation_view)
from vaelib.errors import DataUnavailableError, UnknownNameError, VaelibError

EXPECTED = {  # name -> (n total, dim, image_shape, intrinsic_dim, n_classes)
    "mnist5k": (5000, 784, (28, 28), None, 10),
    "mnist5k-binary": (5000, 784, (28, 28), None, 10),
    "digits": (1797, 64, (8, 8), None, 10),
    "curve": (2000, 2, None, 1, 10),
    "gaussian-mixture": (2000, 2, None, 2, 8),
    "two-moons": (2000, 2, None, 2, 2),
}


def test_registry_order_and_offline_list():
    assert list(DATASETS) == ["mnist5k", "mnist5k-binary", "digits", "curve", "gaussian-mixture", "two-moons", "mnist",
                              "fashion-mnist"]
    assert OFFLINE_DATASETS == ("mnist5k", "mnist5k-binary", "digits", "curve", "gaussian-mixture", "two-moons")
    assert all(isinstance(d, str) and d and "\n" not in d for d in DATASETS.values())


@pytest.mark.parametrize("name", OFFLINE_DATASETS)
def test_offline_sets_load_with_right_types_shapes_and_ranges(name):
    n, dim, image_shape, intrinsic_dim, n_classes = EXPECTED[name]
    d = load_dataset(name)
    assert isinstance(d, Dataset) and d.name == name and d.description == DATASETS[name]
    assert d.x_train.dtype == d.x_test.dtype == torch.float32
    assert d.y_train.dtype == d.y_test.dtype == torch.int64
    n_test = round(0.2 * n)
    assert d.x_train.shape == (n - n_test, dim) and d.x_test.shape == (n_test, dim)
    assert d.y_train.shape == (n - n_test,) and d.y_test.shape == (n_test,)
    assert d.dim == dim and d.image_shape == image_shape and d.intrinsic_dim == intrinsic_dim
    assert d.n_classes == n_classes
    for x in (d.x_train, d.x_test):
        assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
    labels = torch.cat([d.y_train, d.y_test])
    assert set(labels.tolist()) == set(range(n_classes))
    check_data(d.x_train, bernoulli=True)  # every set is valid Bernoulli data


def test_image_sets_use_the_full_pixel_range():
    for name in ("mnist5k", "digits"):
        x = load_dataset(name).x_train
        assert x.min() == 0 and x.max() == 1


def test_toys_fill_the_unit_square_with_a_margin():
    for name in ("curve", "gaussian-mixture", "two-moons"):
        d = load_dataset(name, n_points=500)
        x = torch.cat([d.x_train, d.x_test])
        assert len(x) == 500
        span = x.max(0).values - x.min(0).values
        assert span.max() == pytest.approx(0.9, abs=1e-5)  # the larger axis spans [0.05, 0.95]
        assert x.min() >= 0.05 - 1e-6 and x.max() <= 0.95 + 1e-6


def test_mnist5k_split_is_stratified_partition_of_the_5000_images():
    d = load_dataset("mnist5k")
    assert len(d.y_train) + len(d.y_test) == 5000
    assert torch.bincount(d.y_test, minlength=10).tolist() == [100] * 10
    assert torch.bincount(d.y_train, minlength=10).tolist() == [400] * 10
    # Index level: the split indices partition the raw set and load_dataset uses exactly them.
    x_raw, y_raw = vdata._raw_images("mnist5k")
    train, test = vdata._stratified_split(y_raw, 1000, np.random.default_rng(0))
    assert len(np.intersect1d(train, test)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(5000))
    assert torch.equal(d.x_train, torch.from_numpy(x_raw[train]))
    assert torch.equal(d.x_test, torch.from_numpy(x_raw[test]))
    assert torch.equal(d.y_test, torch.from_numpy(y_raw[test]))


def test_stratified_split_hits_the_exact_test_size_with_uneven_classes():
    y = np.array([0] * 7 + [1] * 3 + [2] * 13)
    train, test = vdata._stratified_split(y, 5, np.random.default_rng(3))
    assert len(test) == 5 and len(train) == 18
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(y)))
    assert set(np.unique(y[test])) <= {0, 1, 2} and np.sum(y[test] == 2) >= 2


@pytest.mark.parametrize("name", ["digits", "two-moons", "curve"])
def test_split_is_deterministic_for_a_seed_and_differs_across_seeds(name):
    a, b, c = load_dataset(name, seed=1), load_dataset(name, seed=1), load_dataset(name, seed=2)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(a.x_train, c.x_train)
    assert not torch.equal(a.x_test, c.x_test)


@pytest.mark.parametrize("name", ["curve", "gaussian-mixture", "two-moons"])
def test_toy_train_and_test_are_disjoint(name):
    d = load_dataset(name, n_points=600)
    train_rows = {tuple(r) for r in d.x_train.tolist()}
    test_rows = {tuple(r) for r in d.x_test.tolist()}
    assert len(train_rows) == 480 and len(test_rows) == 120  # continuous draws: no duplicates
    assert train_rows.isdisjoint(test_rows)


def test_test_fraction_sets_the_test_size():
    d = load_dataset("digits", test_fraction=0.5)
    assert len(d.x_test) == round(0.5 * 1797)
    d = load_dataset("two-moons", n_points=101, test_fraction=0.3)
    assert len(d.x_test) == 30 and len(d.x_train) == 71


def test_returned_tensors_cannot_corrupt_the_cache():
    d = load_dataset("digits")
    before = d.x_train[0].clone()
    d.x_train.fill_(7.0)
    d.y_train.fill_(-1)
    again = load_dataset("digits")
    assert torch.equal(again.x_train[0], before)
    assert again.y_train.min() >= 0


def test_unknown_name_lists_every_data_set():
    with pytest.raises(UnknownNameError) as info:
        load_dataset("cifar10")
    message = str(info.value)
    assert "cifar10" in message
    for name in DATASETS:
        assert repr(name) in message


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, float("nan"), "0.2", True])
def test_bad_test_fraction_raises(bad):
    with pytest.raises(VaelibError, match="test_fraction"):
        load_dataset("two-moons", test_fraction=bad)


@pytest.mark.parametrize("bad", [0, -5, 2.5, None])
def test_bad_n_points_raises(bad):
    with pytest.raises(VaelibError, match="n_points"):
        load_dataset("two-moons", n_points=bad)


def test_too_few_points_for_a_split_raises():
    with pytest.raises(VaelibError, match="test examples"):
        load_dataset("curve", n_points=1)


def test_bad_seed_raises():
    with pytest.raises(VaelibError, match="seed"):
        load_dataset("curve", seed=-1)


def test_a_dataset_records_the_arguments_that_made_it():
    assert load_dataset("two-moons", seed=3, test_fraction=0.25, n_points=400).split == \
        SplitSpec("two-moons", 3, 0.25, 400)
    # arguments that do not change the split are None: n_points of an image set
    assert load_dataset("digits", seed=np.int64(2), n_points=50).split == SplitSpec("digits", 2, 0.2, None)
    # equal specifications, bit-identical tensors
    a, b = load_dataset("digits", n_points=50), load_dataset("digits")
    assert a.split == b.split and torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert load_dataset("digits", seed=1).split != b.split


def test_dataset_for_a_config_is_the_split_its_fields_name():
    config = TrainConfig(dataset="curve", data_seed=4, test_fraction=0.3, n_points=500, seed=9,
                         validation_fraction=0.2)
    data, direct = dataset_for(config), load_dataset("curve", seed=4, test_fraction=0.3, n_points=500)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(data, field), getattr(direct, field))
    assert data.split == direct.split == split_for(config) == SplitSpec("curve", 4, 0.3, 500)


def test_views_record_the_config_that_cut_them(digits):
    config = TrainConfig(dataset="digits", validation_fraction=0.2, n_train=300, data_seed=5)
    assert training_view(digits, config).split == SplitSpec("digits", 0, 0.2, None, "training", 0.2, 300, 5)
    assert validation_view(digits, config).split == SplitSpec("digits", 0, 0.2, None, "validation", 0.2, 300, 5)
    assert training_view(digits, TrainConfig(dataset="digits")).split == digits.split   # the data set itself
    by_hand = Dataset("mine", digits.x_train, digits.y_train, digits.x_test, digits.y_test, (8, 8), None, "by hand")
    assert by_hand.split is None and training_view(by_hand, config).split is None


# --- full sets ---------------------------------------------------------------------------


@pytest.fixture
def no_memo():
    vdata._raw_full.cache_clear()
    yield
    vdata._raw_full.cache_clear()


def test_full_mnist_offline_fails_fast_and_names_the_offline_sets(monkeypatch, tmp_path, no_memo):
    import sklearn.datasets

    monkeypatch.setenv("VAELIB_CACHE_DIR", str(tmp_path))
    # The book's build machine has no internet; elsewhere, make the probe fail as it would
    # offline (".invalid" never resolves) and make sure nothing is ever downloaded.
    monkeypatch.setattr(vdata, "_OPENML_HOST", "openml.invalid")
    for var in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", lambda *a, **k: pytest.fail("fetch_openml was called"))
    start = time.monotonic()
    with pytest.raises(DataUnavailableError) as info:
        load_dataset("mnist")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "'mnist'" in message and "network" in message
    assert "offline data sets: mnist5k, mnist5k-binary, digits, curve, gaussian-mixture, two-moons" in message
    assert not (tmp_path / "data" / "mnist.npz").exists()


def test_probe_is_bounded_when_dns_hangs(monkeypatch):
    monkeypatch.setattr(vdata.socket, "getaddrinfo", lambda *a, **k: time.sleep(5))
    start = time.monotonic()
    assert vdata._can_reach("www.openml.org", timeout=0.3) is False
    assert time.monotonic() - start < 2


def _fake_fetch(n_rows, calls):
    def fetch_openml(name, *, version, as_frame, return_X_y, data_home):
        calls.append((name, version, as_frame, data_home))
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (n_rows, 784)).astype(np.float64)
        x[0, 0], x[0, 1] = 0, 255
        y = np.array([str(i % 10) for i in range(n_rows)], dtype=object)
        return x, y

    return fetch_openml


def test_full_set_download_writes_npz_and_reuses_it(monkeypatch, tmp_path, no_memo):
    import sklearn.datasets

    calls: list = []
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", _fake_fetch(14, calls))
    monkeypatch.setattr(vdata, "_can_reach", lambda host, *a, **k: True)
    monkeypatch.setattr(vdata, "_N_TRAIN_FULL", 10)  # the standard split is 60,000; the fake has 14 rows

    d = load_dataset("fashion-mnist", cache_dir=tmp_path, test_fraction=0.5)
    assert len(calls) == 1
    name, version, as_frame, data_home = calls[0]
    assert (name, version, as_frame) == ("Fashion-MNIST", 1, False)
    assert data_home == str(tmp_path / "data" / "openml")
    npz = tmp_path / "data" / "fashion-mnist.npz"
    assert npz.exists()
    with np.load(npz) as f:
        assert f["x"].dtype == np.uint8 and f["x"].shape == (14, 784)
        assert f["y"].tolist() == [i % 10 for i in range(14)]
    # Standard split, test_fraction ignored: first rows train, last rows test, in order.
    assert d.x_train.shape == (10, 784) and d.x_test.shape == (4, 784)
    assert d.y_train.tolist() == list(range(10)) and d.y_test.tolist() == [0, 1, 2, 3]
    assert d.x_train.dtype == torch.float32 and d.x_train.min() == 0 and d.x_train.max() == 1
    assert d.image_shape == (28, 28) and d.intrinsic_dim is None
    assert d.split == SplitSpec("fashion-mnist", None, None, None)   # the standard split: no arguments matter
    assert [p.name for p in npz.parent.iterdir() if p.is_file()] == ["fashion-mnist.npz"]   # no temporary left

    # A second load (memo cleared, network "gone") reads the npz without fetching.
    vdata._raw_full.cache_clear()
    monkeypatch.setattr(vdata, "_can_reach", lambda host, *a, **k: False)
    again = load_dataset("fashion-mnist", cache_dir=tmp_path, seed=5)
    assert len(calls) == 1
    assert torch.equal(again.x_train, d.x_train) and torch.equal(again.y_test, d.y_test)


def test_full_set_uses_the_env_cache_dir(monkeypatch, tmp_path, no_memo):
    import sklearn.datasets

    calls: list = []
    monkeypatch.setenv("VAELIB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", _fake_fetch(12, calls))
    monkeypatch.setattr(vdata, "_can_reach", lambda host, *a, **k: True)
    monkeypatch.setattr(vdata, "_N_TRAIN_FULL", 10)
    d = load_dataset("mnist")
    assert calls[0][0] == "mnist_784"
    assert (tmp_path / "data" / "mnist.npz").exists()
    assert len(d.x_test) == 2


def test_fetch_errors_become_data_unavailable(monkeypatch, tmp_path, no_memo):
    import sklearn.datasets

    def broken(*args, **kwargs):
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", broken)
    monkeypatch.setattr(vdata, "_can_reach", lambda host, *a, **k: True)
    with pytest.raises(DataUnavailableError) as info:
        load_dataset("mnist", cache_dir=tmp_path)
    message = str(info.value)
    assert "'mnist'" in message and "connection reset" in message
    assert "offline data sets: mnist5k, mnist5k-binary, digits, curve, gaussian-mixture, two-moons" in message
    assert not (tmp_path / "data" / "mnist.npz").exists()


def test_corrupt_npz_is_reported_with_its_path(tmp_path, no_memo):
    npz = tmp_path / "data" / "mnist.npz"
    npz.parent.mkdir(parents=True)
    npz.write_bytes(b"not a zip file")
    with pytest.raises(DataUnavailableError, match="delete the file"):
        load_dataset("mnist", cache_dir=tmp_path)


# --- check_data ------------------------------------------------------------------------------


def test_check_data_accepts_good_data():
    check_data(torch.rand(5, 3), bernoulli=True)
    check_data(torch.rand(5, 3, dtype=torch.float64), bernoulli=True)


def test_check_data_rejects_nan_and_inf():
    x = torch.rand(4, 3)
    x[0, 0] = x[2, 1] = float("nan")
    with pytest.raises(VaelibError, match="contains 2 NaN values"):
        check_data(x, bernoulli=False, name="training data")
    x = torch.rand(4, 3)
    x[1, 1] = float("inf")
    with pytest.raises(VaelibError, match="1 infinite"):
        check_data(x, bernoulli=False)


def test_check_data_range_depends_on_the_likelihood():
    x = torch.tensor([[-0.5, 0.2], [0.3, 2.0]])
    with pytest.raises(VaelibError) as info:
        check_data(x, bernoulli=True, name="test data")
    message = str(info.value)
    assert "test data" in message and "-0.5" in message and "2" in message
    assert "Bernoulli" in message and "[0, 1]" in message and "Gaussian" in message
    check_data(x, bernoulli=False)  # any finite values are fine for a Gaussian likelihood


def test_check_data_rejects_wrong_shape_dtype_and_type():
    with pytest.raises(VaelibError, match="2-D"):
        check_data(torch.rand(2, 8, 8), bernoulli=True)
    with pytest.raises(VaelibError, match="2-D"):
        check_data(torch.rand(5), bernoulli=True)
    with pytest.raises(VaelibError, match="floating"):
        check_data(torch.ones(3, 2, dtype=torch.int64), bernoulli=True)
    with pytest.raises(VaelibError, match="torch.Tensor"):
        check_data(np.zeros((3, 2)), bernoulli=True)
    with pytest.raises(VaelibError, match="empty"):
        check_data(torch.zeros(0, 2), bernoulli=True)


def test_binarised_mnist5k_is_mnist5k_thresholded_at_one_half_with_the_same_split():
    grey, binary = load_dataset("mnist5k"), load_dataset("mnist5k-binary")
    assert set(binary.x_train.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(binary.x_train, (grey.x_train > 0.5).float())
    assert torch.equal(binary.x_test, (grey.x_test > 0.5).float())
    assert torch.equal(binary.y_test, grey.y_test)
