"""The training configuration: one dataclass holding every hyperparameter and the seed.

A *design* is a named pair (encoder head, regulariser) with a default weight for the
regulariser: the four designs of the book (and two useful relatives) differ in nothing else.
That weight is one setting under several names in the literature (beta for the VAE, lambda for
WAE and SWAE); here it is always the *regulariser weight*: ``TrainConfig.weight`` sets it (None:
the design's :attr:`Design.default_weight`) and ``TrainConfig.regulariser_weight`` is the value in
force.

Defaults follow the classic MNIST VAE (Kingma & Welling 2014; pytorch/examples
``vae/main.py``): an MLP with one hidden layer of 400 units, Adam with learning rate
1e-3, batch size 128, Bernoulli likelihood.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from .errors import VaelibError, check_choice, check_positive
from .regularisers import REGULARISERS

#: The encoder heads: name -> what the encoder computes. Every :class:`Design` names one of them.
HEADS: dict[str, str] = {
    "deterministic": "z = f(x)",
    "fixed-variance": "z = mu(x) + sigma0 * eps, sigma0 fixed",
    "gaussian": "z = mu(x) + sigma(x) * eps, learned log-variance",
}

LIKELIHOODS: dict[str, str] = {
    "bernoulli": "Bernoulli on pixels in [0, 1] (decoder outputs logits); nats per image",
    "gaussian": "Gaussian with fixed standard deviation sigma_x (decoder outputs the mean)",
}

TRUNKS: dict[str, str] = {
    "mlp": "fully connected layers with ReLU (hidden_dims)",
    "conv": "two stride-2 convolutions (32, 64 channels) then hidden_dims, and a decoder of transposed convolutions "
            "mirroring it; square images with a side divisible by 4 only",
}


@dataclass(frozen=True)
class Design:
    """A named encoder design: its head (one of :data:`HEADS`), its regulariser (one of
    :data:`vaelib.regularisers.REGULARISERS`) and the regulariser's default weight (unitless)."""

    name: str
    head: str
    regulariser: str
    default_weight: float
    description: str

    def __post_init__(self) -> None:
        check_choice("head", self.head, HEADS)
        check_choice("regulariser", self.regulariser, REGULARISERS)


DESIGNS: dict[str, Design] = {
    d.name: d
    for d in (
        Design("ae", "deterministic", "none", 0.0, "plain autoencoder, deterministic z"),
        Design("rae", "deterministic", "l2", 1.0, "deterministic z with an L2 penalty (RAE, Ghosh et al. 2020)"),
        Design("mean-only", "fixed-variance", "kl", 1.0, "z = mu + sigma0 * eps, KL to N(0, I)"),
        Design("vae", "gaussian", "kl", 1.0, "VAE: z = mu + sigma * eps, KL to N(0, I) (weight = beta)"),
        Design("wae-mmd", "deterministic", "mmd", 100.0,
               "deterministic z, batch MMD to N(0, I) (WAE-MMD, Tolstikhin et al. 2018)"),
        Design("swae", "deterministic", "sliced-wasserstein", 100.0,
               "deterministic z, sliced Wasserstein to N(0, I) (SWAE, Kolouri et al. 2019)"),
        Design("moments", "deterministic", "moments", 10.0,
               "deterministic z, batch mean and covariance matched to N(0, I)"),
    )
}


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of one training run.

    ``regulariser`` and ``weight`` (the regulariser weight: beta for a VAE, lambda for a WAE) default
    (``None``) to the design's; setting them lets one design be combined with another regulariser
    (e.g. a VAE with an MMD term).
    Losses are summed over pixels and latent dimensions and averaged over the batch.

    ``validation_fraction`` holds that share of the training split out of training (a seeded
    split, stratified by label: :func:`vaelib.data.training_view`); the held-out images score
    the model for selections (``vaelib.selection``), so the test split is only ever used to score.
    ``n_train`` trains on that many images of the (remaining) training split, for data-size sweeps.
    Both default to "the whole training split".

    ``patience`` stops training early: after every epoch the model is scored on its validation
    images (so ``validation_fraction`` must be > 0), training stops when that validation loss has
    not improved for ``patience`` epochs (``epochs`` is then the cap), and the weights of the best
    epoch are kept. None (the default) trains for exactly ``epochs``.
    """

    #: Fields added after version 0.3.0: written into :meth:`to_dict` only when set, so the cache
    #: keys and checkpoints of every model trained before they existed stay valid.
    OPTIONAL_FIELDS = {"validation_fraction": 0.0, "n_train": None, "patience": None}

    design: str = "vae"
    dataset: str = "mnist5k"
    latent_dim: int = 16
    hidden_dims: tuple[int, ...] = (400,)
    trunk: str = "mlp"
    regulariser: str | None = None
    weight: float | None = None
    sigma0: float = 0.5
    likelihood: str = "bernoulli"
    sigma_x: float = 0.1
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    data_seed: int = 0
    test_fraction: float = 0.2
    n_points: int = 2000
    validation_fraction: float = 0.0
    n_train: int | None = None
    patience: int | None = None

    def __post_init__(self) -> None:
        check_choice("design", self.design, DESIGNS)
        from .data import DATASETS  # local import: data is heavier than config

        check_choice("data set", self.dataset, DATASETS)
        check_choice("trunk", self.trunk, TRUNKS)
        check_choice("likelihood", self.likelihood, LIKELIHOODS)
        if self.regulariser is not None:
            check_choice("regulariser", self.regulariser, REGULARISERS)
        for name in ("latent_dim", "batch_size", "epochs", "n_points"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise VaelibError(f"{name} must be an integer, got {value!r}")
        check_positive("latent_dim", self.latent_dim)
        check_positive("batch_size", self.batch_size)
        check_positive("epochs", self.epochs, allow_zero=True)
        check_positive("n_points", self.n_points)
        hidden = tuple(self.hidden_dims)
        if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h <= 0 for h in hidden):
            raise VaelibError(f"hidden_dims must be a non-empty list of positive integers, got {self.hidden_dims!r}")
        object.__setattr__(self, "hidden_dims", hidden)
        if self.weight is not None:
            check_positive("weight", float(self.weight), allow_zero=True)
        check_positive("sigma0", float(self.sigma0))
        check_positive("sigma_x", float(self.sigma_x))
        check_positive("lr", float(self.lr))
        if isinstance(self.validation_fraction, bool) or not 0.0 <= float(self.validation_fraction) < 1.0:
            raise VaelibError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}")
        if self.n_train is not None:
            if isinstance(self.n_train, bool) or not isinstance(self.n_train, int) or self.n_train < 2:
                raise VaelibError(f"n_train must be an integer >= 2 (or None for the whole training split), "
                                  f"got {self.n_train!r}")
        if self.patience is not None:
            if isinstance(self.patience, bool) or not isinstance(self.patience, int) or self.patience < 1:
                raise VaelibError(f"patience must be an integer >= 1 (or None to train for all epochs), "
                                  f"got {self.patience!r}")
            if float(self.validation_fraction) == 0.0:
                raise VaelibError("early stopping (patience) scores the model on validation images: set "
                                  "validation_fraction > 0, e.g. 0.2")
        if not 0.0 < self.test_fraction < 1.0:
            raise VaelibError(f"test_fraction must be in (0, 1), got {self.test_fraction!r}")
        if self.head == "deterministic" and REGULARISERS[self.regulariser_name].needs_distribution:
            raise VaelibError(
                f"regulariser {self.regulariser_name!r} is a per-sample KL, which needs encoder noise: with the "
                f"deterministic encoder of design {self.design!r} the KL of a point mass is infinite. Its limit as "
                f"sigma0 -> 0 is the L2 penalty on the codes: design 'rae' (regulariser 'l2'). Other choices: "
                f"'mmd', 'sliced-wasserstein', 'moments' or 'none'"
            )

    # ---- derived -----------------------------------------------------------
    @property
    def head(self) -> str:
        """The encoder head of the design: 'deterministic', 'fixed-variance' or 'gaussian'."""
        return DESIGNS[self.design].head

    @property
    def encoder_noise(self) -> str:
        """How z is random given x: 'none' (z = f(x)), 'fixed' (mu(x) + sigma0 eps) or 'learned' (mu(x) + sigma(x) eps)."""
        return {"deterministic": "none", "fixed-variance": "fixed", "gaussian": "learned"}[self.head]

    @property
    def regulariser_name(self) -> str:
        """The regulariser in force: the explicit one, else the design's."""
        return self.regulariser if self.regulariser is not None else DESIGNS[self.design].regulariser

    @property
    def regulariser_weight(self) -> float:
        """The regulariser weight in force (unitless): ``weight`` if set, else the design's default weight."""
        return float(self.weight) if self.weight is not None else DESIGNS[self.design].default_weight

    # ---- serialisation -----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-compatible values (tuples become lists), less :data:`OPTIONAL_FIELDS` at their default."""
        d = self._fields()
        for name, default in self.OPTIONAL_FIELDS.items():
            if d[name] == default:
                del d[name]
        return d

    def differences(self, other: "TrainConfig") -> dict[str, tuple[Any, Any]]:
        """The fields in which this config and ``other`` differ: ``{name: (this value, other's value)}``.

        Values as in :meth:`to_dict`; every field counts, also those :meth:`to_dict` leaves out at their default.
        """
        mine, theirs = self._fields(), other._fields()
        return {name: (value, theirs[name]) for name, value in mine.items() if value != theirs[name]}

    def _fields(self) -> dict[str, Any]:
        """Every field as a JSON-compatible value (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["hidden_dims"] = list(self.hidden_dims)
        return d

    def to_json(self) -> str:
        """The config as canonical JSON (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Rebuild a config from :meth:`to_dict` output; unknown keys raise VaelibError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise VaelibError(f"unknown config keys {unknown}; accepted: {sorted(names)}")
        d = dict(d)
        if "hidden_dims" in d:
            d["hidden_dims"] = tuple(d["hidden_dims"])
        return cls(**d)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


#: The settings every 2-D toy experiment of the book shares: a 2-D latent space, a small MLP and a
#: Gaussian likelihood with sigma_x = 0.05 (the toys are rescaled into [0.05, 0.95]^2).
TOY_SETTINGS: dict[str, Any] = {"latent_dim": 2, "hidden_dims": (64, 64), "likelihood": "gaussian", "sigma_x": 0.05}


def toy_config(design: str, dataset: str = "gaussian-mixture", *, epochs: int = 60, seed: int = 0,
               **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of a 2-D toy experiment (:data:`TOY_SETTINGS`), for ``design`` on ``dataset``."""
    return TrainConfig(design=design, dataset=dataset, epochs=epochs, seed=seed, **{**TOY_SETTINGS, **overrides})


__all__ = ["Design", "DESIGNS", "HEADS", "LIKELIHOODS", "TOY_SETTINGS", "TRUNKS", "TrainConfig", "toy_config"]
