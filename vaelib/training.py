"""Training: one loop for every design.

``train(config)`` loads the data set named in the config, builds the model, and runs
Adam (:mod:`vaelib.optim`) over shuffled mini-batches of in-memory tensors. It records every loss term per
epoch on the train and test splits, stops with :class:`TrainingDivergedError` on a
NaN or infinite loss, and is bit-identical for the same seed on the same machine.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch

with warnings.catch_warnings():
    # tqdm.auto warns when ipywidgets is absent, then falls back to a text bar: that is fine
    warnings.simplefilter("ignore")
    from tqdm.auto import tqdm

from . import numerics
from .config import TrainConfig
from .data import Dataset, check_data, dataset_for, training_view, validation_view
from .errors import TrainingDivergedError, VaelibError
from .models import AutoEncoder, build_model
from .optim import Adam

TERMS: tuple[str, ...] = ("reconstruction", "regulariser", "total")


@dataclass
class History:
    """Per-epoch loss terms (nats per example) on both splits, and the cost of training.

    ``train[term][e]`` is the mean of ``term`` over the batches of epoch ``e`` (weighted by
    batch size); ``test[term][e]`` the same on the test split after that epoch.
    ``epoch_seconds[e]`` is the wall time of the training pass of epoch ``e`` (test
    evaluation excluded). ``n_train`` and ``n_test`` count the images of each split.
    ``validation[term][e]`` is the term on the config's validation images (empty when it holds
    none out); ``unit_kl[e]`` the mean KL(q(z_d|x) || N(0, 1)) of each latent dim on the test split
    (nats; stochastic encoders only, empty otherwise); ``best_epoch`` the epoch whose weights the
    model kept (the last one unless early stopping kept an earlier one, 1-based; 0 before training).
    """

    train: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TERMS})
    test: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TERMS})
    epoch_seconds: list[float] = field(default_factory=list)
    n_train: int = 0
    n_test: int = 0
    validation: dict[str, list[float]] = field(default_factory=dict)
    unit_kl: list[list[float]] = field(default_factory=list)
    best_epoch: int = 0

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.epoch_seconds)

    @property
    def train_seconds(self) -> float:
        """Total wall time of the training passes, in seconds."""
        return float(sum(self.epoch_seconds))

    @property
    def samples_per_second(self) -> float:
        """Training throughput: examples processed per second of training pass (0 if nothing ran)."""
        t = self.train_seconds
        return self.n_train * self.epochs / t if t > 0 else 0.0

    def final(self, split: str = "test") -> dict[str, float]:
        """The last epoch's terms on ``split`` ('train' or 'test'); empty when no epoch ran."""
        terms = self.train if split == "train" else self.test
        return {t: v[-1] for t, v in terms.items() if v}

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict."""
        return {"train": self.train, "test": self.test, "epoch_seconds": self.epoch_seconds, "n_train": self.n_train,
                "n_test": self.n_test, "validation": self.validation, "unit_kl": self.unit_kl,
                "best_epoch": self.best_epoch}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        """Inverse of :meth:`to_dict`."""
        return cls(train=d["train"], test=d["test"], epoch_seconds=d["epoch_seconds"], n_train=d["n_train"],
                   n_test=d.get("n_test", 0), validation=d.get("validation", {}), unit_kl=d.get("unit_kl", []),
                   best_epoch=d.get("best_epoch", len(d["epoch_seconds"])))

    def to_frame(self):
        """A pandas DataFrame, one row per epoch, columns ``train_<term>``, ``test_<term>``, ``seconds``."""
        import pandas as pd

        cols = {f"{s}_{t}": v for s, terms in (("train", self.train), ("test", self.test)) for t, v in terms.items()}
        cols["seconds"] = self.epoch_seconds
        return pd.DataFrame(cols, index=pd.RangeIndex(1, self.epochs + 1, name="epoch"))


def matmul_flop(model: torch.nn.Module, history: History) -> float:
    """Floating-point operations of the linear layers' matrix products in the training that made ``history``.

    Per image and layer of ``in`` x ``out`` weights: 2 in out forward; backward 2 in out for the
    weight gradient and 2 in out for the input gradient (not for the first layer, whose input is
    the data). Every epoch runs forward and backward on the ``n_train`` training images and
    forward on the ``n_test`` test images. Convolutions and the regularisers' own products (the
    MMD's batch-by-batch distances: under 1 % for the book's MLPs) are not counted. In FLOP.
    """
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    forward = sum(2.0 * m.in_features * m.out_features for m in layers)
    backward = 2.0 * forward - (2.0 * layers[0].in_features * layers[0].out_features if layers else 0.0)
    return history.epochs * (history.n_train * (forward + backward) + history.n_test * forward)


@dataclass
class TrainResult:
    """A trained model with the config that made it and its history."""

    model: AutoEncoder
    config: TrainConfig
    history: History


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """A torch.Generator on ``device`` seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(seed)


@torch.no_grad()
def evaluate_loss(
    model: AutoEncoder, x: torch.Tensor, batch_size: int, seed: int = 0
) -> dict[str, float]:
    """Mean loss terms of ``model`` on ``x`` in batches of ``batch_size`` (nats per example).

    Stochastic terms use a generator seeded with ``seed`` so the figure is reproducible.
    Batch-level regularisers are estimated per batch, as in training.
    """
    was_training = model.training
    model.eval()
    gen = make_generator(seed, x.device)
    sums = dict.fromkeys(TERMS, 0.0)
    n = 0
    for xb in _batches(x, batch_size):
        terms = model.loss(xb, generator=gen)
        for name, value in zip(TERMS, terms):
            sums[name] += float(value) * xb.shape[0]
        n += xb.shape[0]
    model.train(was_training)
    return {k: v / n for k, v in sums.items()}


def _batches(x: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Split ``x`` into batches; a last batch with fewer than 2 rows is dropped (batch divergences need 2)."""
    parts = list(x.split(batch_size))
    if len(parts) > 1 and parts[-1].shape[0] < 2:
        parts.pop()
    return parts


def train(
    config: TrainConfig,
    data: Dataset | None = None,
    *,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train the model described by ``config`` and return it with its :class:`History`.

    ``data`` defaults to :func:`vaelib.data.dataset_for` ``(config)``; the model
    trains on :func:`vaelib.data.training_view` of it (all of its training split unless the config
    holds a validation share out or sets ``n_train``). With a validation share the loss terms on its
    validation images are recorded after every epoch; with ``config.patience`` training stops when
    the validation total has not improved for that many epochs, and the best epoch's weights are kept.
    Raises VaelibError for data the likelihood cannot take, and TrainingDivergedError
    (naming epoch and step) if a loss turns NaN or infinite.
    """
    if data is None:
        data = dataset_for(config)
    x_val = validation_view(data, config).x_test if config.validation_fraction > 0 else None
    data = training_view(data, config)   # less the validation share, cut to n_train: identity by default
    bernoulli = config.likelihood == "bernoulli"
    check_data(data.x_train, bernoulli=bernoulli, name="training data")
    check_data(data.x_test, bernoulli=bernoulli, name="test data")
    if data.x_train.shape[0] < 2:
        raise VaelibError(f"training data needs at least 2 examples, got {data.x_train.shape[0]}")
    # canonical numerics (vaelib.numerics) train on the CPU, where their bits are reproducible
    device = torch.device(device if device is not None else numerics.default_device())

    torch.manual_seed(config.seed)
    model = build_model(config, data.dim, data.image_shape).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = Adam(params, lr=config.lr)
    shuffle_gen = torch.Generator().manual_seed(config.seed)
    noise_gen = make_generator(config.seed + 1, device)
    x_train = data.x_train.to(device)
    x_test = data.x_test.to(device)
    x_val = x_val.to(device) if x_val is not None else None
    history = History(n_train=x_train.shape[0], n_test=x_test.shape[0],
                      validation={t: [] for t in TERMS} if x_val is not None else {})
    best_state: dict[str, torch.Tensor] | None = None

    bar = tqdm(range(1, config.epochs + 1), desc=f"{config.design} z={config.latent_dim}", disable=not progress,
               leave=False)
    for epoch in bar:
        model.train()
        start = time.perf_counter()
        perm = torch.randperm(x_train.shape[0], generator=shuffle_gen).to(device)
        sums = [0.0, 0.0, 0.0]
        n_seen = 0
        for step, xb in enumerate(_batches(x_train[perm], config.batch_size), start=1):
            terms = model.loss(xb, generator=noise_gen)
            grads = torch.autograd.grad(terms.total, params)
            values = [t.item() for t in terms]
            if not math.isfinite(values[2]):
                raise TrainingDivergedError(
                    f"loss became {values[2]} at epoch {epoch}, step {step} (design {config.design!r}, "
                    f"lr {config.lr}, weight {config.regulariser_weight}); lower the learning rate or the weight"
                )
            optimiser.step(grads)
            b = xb.shape[0]
            for i in range(3):
                sums[i] += values[i] * b
            n_seen += b
        history.epoch_seconds.append(time.perf_counter() - start)
        for name, s in zip(TERMS, sums):
            history.train[name].append(s / n_seen)
        for name, value in evaluate_loss(model, x_test, config.batch_size, seed=config.seed + 2).items():
            history.test[name].append(value)
        if model.stochastic:
            history.unit_kl.append(unit_kl(model, x_test))
        bar.set_postfix(train=f"{history.train['total'][-1]:.1f}", test=f"{history.test['total'][-1]:.1f}")
        if x_val is None:
            history.best_epoch = epoch
            continue
        for name, value in evaluate_loss(model, x_val, config.batch_size, seed=config.seed + 3).items():
            history.validation[name].append(value)
        if history.best_epoch == 0 or history.validation["total"][-1] < history.validation["total"][history.best_epoch - 1]:
            history.best_epoch = epoch
            if config.patience is not None:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif config.patience is not None and epoch - history.best_epoch >= config.patience:
            break
    if best_state is not None and history.best_epoch < history.epochs:
        model.load_state_dict(best_state)   # early stopping keeps the best validation epoch's weights
    elif config.patience is None:
        history.best_epoch = history.epochs
    model.eval()
    return TrainResult(model=model, config=config, history=history)


@torch.no_grad()
def unit_kl(model: AutoEncoder, x: torch.Tensor) -> list[float]:
    """Mean KL(q(z_d|x) || N(0, 1)) over the rows of ``x`` for each latent dim d, in nats (a list of latent_dim)."""
    was_training = model.training
    model.eval()
    enc = model.encode(x)
    logvar = enc.logvar.expand_as(enc.mean)
    model.train(was_training)
    return (0.5 * (enc.mean.pow(2) + logvar.exp() - 1.0 - logvar)).mean(dim=0).tolist()


__all__ = ["History", "TrainResult", "TERMS", "evaluate_loss", "make_generator", "matmul_flop", "train", "unit_kl"]
