"""The one definition of a head-to-head run's settings, and of the book's defaults.

Notebook 5 takes its parameters from :class:`HeadToHeadSettings` (a parameter left at None is
the default here), and ``python -m vaelib compare`` generates one option per field, with the
field's default and help. :meth:`HeadToHeadSettings.cli_command` is the command that repeats
a run.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..data import DATASETS


def as_option_text(value: Any) -> str:
    """``value`` as it is written on the command line: floats by ``:g``, a sequence space-separated."""
    if isinstance(value, (list, tuple)):
        return " ".join(as_option_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class HeadToHeadSettings:
    """What a head-to-head run trains and evaluates; the defaults are the book's run.

    Every design of :data:`vaelib.study.CELLS` at every latent dim and seed, with its settings tuned
    on the validation split at that latent dim and the first seed (:mod:`vaelib.selection`): beta
    from ``beta_grid`` (on the VAE, by prior FID), the MMD weight from ``mmd_weight_grid`` (on the
    deterministic WAE, by prior FID; also swept on the learned-sigma MMD cell as a robustness check),
    the sliced-Wasserstein weight from ``sw_weight_grid`` (on SWAE, by prior FID) and the
    fixed-noise row's sigma0 from ``sigma0_grid`` (on the fixed-noise KL cell at the chosen beta,
    by validation ELBO). Sequences are stored as tuples (lists given are converted).
    ``data_fractions`` are the shares of the training split in claim 7's data-size sweep, at the
    middle latent dim (by default 1,000 and 2,000 of mnist5k's 4,000 training images).
    """

    dataset: str = field(default="mnist5k", metadata={"help": f"one of {', '.join(DATASETS)}"})
    latent_dims: tuple[int, ...] = field(default=(2, 8, 32), metadata={"help": "latent dims compared"})
    seeds: tuple[int, ...] = field(default=(0, 1, 2, 3, 4), metadata={"help": "training seeds of every model"})
    epochs: int = field(default=30, metadata={"help": "training epochs of every model"})
    n_samples: int = field(default=1000, metadata={"help": "decoded samples per sampler"})
    data_fractions: tuple[float, ...] = field(default=(0.25, 0.5),
                                              metadata={"help": "shares of the training split in claim 7's sweep"})
    beta_grid: tuple[float, ...] = field(default=(0.25, 0.5, 1.0, 2.0, 4.0),
                                         metadata={"help": "KL (and L2) weight candidates, tuned on the VAE"})
    mmd_weight_grid: tuple[float, ...] = field(default=(10.0, 30.0, 100.0, 300.0, 1000.0),
                                               metadata={"help": "MMD weight candidates, tuned on WAE-MMD"})
    sw_weight_grid: tuple[float, ...] = field(default=(10.0, 30.0, 100.0, 300.0, 1000.0),
                                              metadata={"help": "sliced-Wasserstein weight candidates (SWAE)"})
    sigma0_grid: tuple[float, ...] = field(default=(0.01, 0.03, 0.1, 0.3, 0.5, 0.7, 1.0),
                                           metadata={"help": "the fixed-noise row's sigma0 candidates"})

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))

    def smoke_run(self) -> HeadToHeadSettings:
        """These settings on a smoke-test budget (notebook 5's ``FAST``): the first two latent dims and seeds,
        at most 2 epochs, 200 decoded samples per sampler, two-value grids."""
        return replace(self, latent_dims=self.latent_dims[:2], seeds=self.seeds[:2], epochs=min(self.epochs, 2),
                       n_samples=200, sigma0_grid=(0.1, 1.0), beta_grid=(0.5, 1.0), mmd_weight_grid=(10.0, 100.0),
                       sw_weight_grid=(10.0, 100.0))

    def cli_command(self, out: str = "results/") -> str:
        """The ``python -m vaelib compare`` command that runs these settings and writes its tables to ``out``:
        one option per setting that differs from its default."""
        default = HeadToHeadSettings()
        options = [f"--{f.name.replace('_', '-')} {as_option_text(getattr(self, f.name))}" for f in fields(self)
                   if getattr(self, f.name) != getattr(default, f.name)]
        return " ".join(["python -m vaelib compare", *options, "--out", out])


__all__ = ["HeadToHeadSettings", "as_option_text"]
