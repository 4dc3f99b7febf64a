"""A small feature classifier trained on the book's own data, for FID, KID and precision/recall.

Inception weights cannot be downloaded here, so sample quality is measured on the
penultimate features of an MLP trained on the same data set:
``dim -> 256 -> 128 (the features, after ReLU) -> n_classes``. Images are augmented by
random shifts of up to 2 pixels (28x28 only; 8x8 digits and the 2-D toys are not augmented).
Training is deterministic for a seed and never touches torch's global random state.

On ``mnist5k`` (seeds 0 and 1, 15 epochs) it reaches 0.963 test accuracy in about 2 s on
one CPU thread. Trained classifiers are cached under ``<cache>/classifiers/``.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .. import numerics, store
from ..blas import Linear
from ..data import Dataset, check_data
from ..errors import CheckpointError, VaelibError
from ..optim import Adam

#: Raise when a change here would change what ``train_classifier`` returns for the same arguments.
#: 2: augmentation by exact integer indexing, and vaelib's fused Adam (both the same bits on every CPU).
CLASSIFIER_VERSION = 2

#: Sizes of the two hidden layers; the second is the feature layer.
HIDDEN_DIMS: tuple[int, int] = (256, 128)

#: The feature extractors the sample metrics can use, by name: (training seed, hidden sizes). "main" is the
#: book's; "second" is trained independently (another seed) with another architecture, to show that
#: sample-quality verdicts do not hang on one classifier.
FEATURE_EXTRACTORS: dict[str, tuple[int, tuple[int, int]]] = {"main": (0, HIDDEN_DIMS), "second": (1, (512, 64))}

#: Training hyperparameters (part of the cache key).
EPOCHS = 15
BATCH_SIZE = 100
LR = 1.5e-3


class FeatureClassifier(nn.Module):
    """MLP ``dim -> 256 -> 128 -> n_classes``; the 128 ReLU units before the last layer are the features."""

    def __init__(self, dim: int, n_classes: int, hidden_dims: tuple[int, int] = HIDDEN_DIMS):
        super().__init__()
        self.dim = int(dim)
        self.n_classes = int(n_classes)
        self.body = nn.Sequential(
            Linear(dim, hidden_dims[0]), nn.ReLU(),
            Linear(hidden_dims[0], hidden_dims[1]), nn.ReLU(),
        )
        self.head = Linear(hidden_dims[1], n_classes)

    @property
    def feature_dim(self) -> int:
        """Number of features returned by :meth:`features` (128)."""
        return self.head.in_features

    def _check(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != self.dim or not x.is_floating_point():
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise VaelibError(f"classifier input has shape {got}; expected a float tensor (n, {self.dim})")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations (after ReLU) for ``x`` (n, dim); shape (n, feature_dim), unitless."""
        self._check(x)
        return self.body(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Unnormalised class scores (log-probabilities up to a constant, nats) for ``x``; shape (n, n_classes)."""
        return self.head(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`logits`."""
        return self.logits(x)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (softmax of the logits) for ``x``; shape (n, n_classes), rows sum to 1."""
        return torch.softmax(self.logits(x), dim=1)


def _max_shift(image_shape: tuple[int, int] | None) -> int:
    """Largest random shift in pixels used for augmentation: 2 for 28x28; 0 (none) for 8x8 and the 2-D toys.

    (A 1-pixel shift of an 8x8 digit moves 1/8 of the image and costs digits accuracy.)
    """
    if image_shape is None:
        return 0
    return min(image_shape) // 14


def _shift(x: torch.Tensor, image_shape: tuple[int, int], max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift each image of the batch by a random whole number of pixels in [-max_shift, max_shift], zero fill.

    Pure indexing into a zero-padded copy: no arithmetic touches a pixel, so the result is the
    same bits on every CPU. (Version 1 interpolated with ``grid_sample`` on an ``affine_grid``,
    whose sampling grid comes out of a small batched matrix product, and stepped
    ``torch.optim.Adam``, whose square root is MKL's CPU-dispatched vector maths: under
    canonical numerics its classifier, and so every FID, differed between the AMD machine that
    executed the book and an Intel one, while the VAEs trained the same bits on both.)
    Pixel (r, c) of the output is pixel (r + dy, c + dx) of
    the input, with (dx, dy) drawn from ``gen`` per image.
    """
    n = x.shape[0]
    h, w = image_shape
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=gen)
    padded = F.pad(x.reshape(n, h, w), (max_shift, max_shift, max_shift, max_shift))
    rows = torch.arange(h).unsqueeze(0) + shifts[:, 1:2] + max_shift        # (n, h)
    cols = torch.arange(w).unsqueeze(0) + shifts[:, 0:1] + max_shift        # (n, w)
    return padded[torch.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]].reshape(n, h * w)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one CPU thread inside the block, then restore the previous thread count.

    The layers are small: one thread trains about as fast as two on an idle machine and
    several times faster when other processes compete for the cores (measured on 2 cores:
    2.2 s vs 2 to 30 s).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_classifier(
    data: Dataset,
    *,
    seed: int = 0,
    epochs: int = EPOCHS,
    hidden_dims: tuple[int, int] = HIDDEN_DIMS,
    progress: bool = False,
) -> FeatureClassifier:
    """Train a :class:`FeatureClassifier` (hidden sizes ``hidden_dims``) on ``data.x_train``; return it in eval mode (CPU).

    Adam (lr 1.5e-3, batch 100; :class:`vaelib.optim.Adam`), cross-entropy, random whole-pixel
    shifts for 28x28 images, one CPU thread. Deterministic for ``seed``: weights are initialised inside a forked RNG and
    shuffling and augmentation use their own generator, so torch's global random state is
    left untouched.
    """
    check_data(data.x_train, bernoulli=False, name="classifier training data")
    if epochs < 1:
        raise VaelibError(f"epochs must be >= 1, got {epochs}")
    x, y = data.x_train.cpu(), data.y_train.cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FeatureClassifier(data.dim, data.n_classes, tuple(hidden_dims))
    params = list(model.parameters())
    optimiser = Adam(params, lr=LR)   # the fused kernel of the VAE's training loop (torch.optim's unfused
                                      # update takes its square root from MKL's CPU-dispatched vector maths)
    gen = torch.Generator().manual_seed(seed)
    max_shift = _max_shift(data.image_shape)
    model.train()
    with _one_thread():
        for epoch in range(1, epochs + 1):
            total, seen = 0.0, 0
            for idx in torch.randperm(len(x), generator=gen).split(BATCH_SIZE):
                xb = x[idx]
                if max_shift:
                    xb = _shift(xb, data.image_shape, max_shift, gen)
                loss = F.cross_entropy(model.logits(xb), y[idx])
                optimiser.step(torch.autograd.grad(loss, params))
                total += float(loss.detach()) * len(idx)
                seen += len(idx)
            if progress:
                print(f"classifier epoch {epoch}/{epochs}: train cross-entropy {total / seen:.4f} nats")
    return model.eval()


@torch.no_grad()
def classifier_accuracy(clf: FeatureClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` whose predicted class equals ``y``, in [0, 1]."""
    if len(x) != len(y) or len(x) == 0:
        raise VaelibError(f"classifier_accuracy needs as many labels as inputs (> 0), got {len(x)} and {len(y)}")
    return float((clf.logits(x).argmax(dim=1) == y).float().mean())


def classifier_cache_path(data: Dataset, *, seed: int = 0, hidden_dims: tuple[int, int] = HIDDEN_DIMS,
                          cache_dir: str | Path | None = None) -> Path:
    """Path of the cached classifier: ``<cache>/classifiers/<dataset>-<hash>.pt``.

    The hash (:func:`vaelib.store.key`, 16 hex digits) covers the training tensors themselves
    (whatever split made them), the data set name, the classifier's hyperparameters and seed,
    the numerics in force, and :data:`CLASSIFIER_VERSION`.
    """
    meta = {"version": CLASSIFIER_VERSION, "numerics": numerics.current().cache_tag, "dataset": data.name,
            "seed": seed, "hidden": list(hidden_dims),
            "epochs": EPOCHS, "batch_size": BATCH_SIZE, "lr": LR, "n_classes": data.n_classes,
            "image_shape": list(data.image_shape or []), "shape": list(data.x_train.shape)}
    key = store.key(meta, data.x_train.detach().cpu().contiguous().numpy().tobytes(),
                    data.y_train.detach().cpu().contiguous().numpy().tobytes(), length=16)
    return store.cache_folder("classifiers", cache_dir) / f"{data.name}-{key}.pt"


def _save_state(model: FeatureClassifier, path: Path) -> None:
    """Write the classifier's state_dict (with its sizes) to ``path`` atomically (:func:`vaelib.store.write_torch`)."""
    payload = {"dim": model.dim, "n_classes": model.n_classes, "hidden_dims": [m.out_features for m in model.body
                                                                             if isinstance(m, nn.Linear)],
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    store.write_torch(path, payload)


def _load_state(path: Path, data: Dataset) -> FeatureClassifier:
    """Load a classifier written by :func:`_save_state`; CheckpointError if the file is damaged."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        hidden = tuple(int(h) for h in payload.get("hidden_dims", HIDDEN_DIMS))
        model = FeatureClassifier(int(payload["dim"]), int(payload["n_classes"]), hidden)
        model.load_state_dict(payload["state_dict"])
    except Exception as e:  # noqa: BLE001 - any failure here means a bad file
        raise CheckpointError(
            f"cached classifier {path} is corrupted or truncated ({type(e).__name__}); delete it to train again"
        ) from None
    if model.dim != data.dim or model.n_classes != data.n_classes:
        raise CheckpointError(f"cached classifier {path} has input {model.dim} / {model.n_classes} classes; "
                              f"the data have {data.dim} / {data.n_classes}; delete it to train again")
    return model.eval()


def load_or_train_classifier(
    data: Dataset,
    *,
    seed: int = 0,
    hidden_dims: tuple[int, int] = HIDDEN_DIMS,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> FeatureClassifier:
    """Return the feature classifier for ``data``, ``seed`` and ``hidden_dims``: from the cache, else train and cache it.

    The cache file is :func:`classifier_cache_path`, written atomically and read with
    ``torch.load(weights_only=True)``. A damaged file raises CheckpointError naming it.
    """
    path = classifier_cache_path(data, seed=seed, hidden_dims=hidden_dims, cache_dir=cache_dir)
    if path.exists():
        return _load_state(path, data)
    model = train_classifier(data, seed=seed, hidden_dims=hidden_dims, progress=progress)
    _save_state(model, path)
    return model


__all__ = [
    "CLASSIFIER_VERSION", "FEATURE_EXTRACTORS", "FeatureClassifier", "classifier_accuracy", "classifier_cache_path",
    "load_or_train_classifier", "train_classifier",
]
