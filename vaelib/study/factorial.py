"""The asker's question as an experiment: encoder noise crossed with the regulariser on the codes.

The asker's question mixes two choices: whether z is random given x (no noise, a fixed
sigma0, or a learned sigma(x)), and how the codes are pulled towards N(0, I) (not at all, per
sample by the VAE's KL, or as a whole by matching the codes' distribution with an MMD). Each
:class:`Cell` of :data:`CELLS` is one combination, so that a contrast between two cells in a row
or a column changes one thing. A per-sample KL has no finite value without noise (the KL of a
point mass is infinite): that cell is its sigma0 -> 0 limit, the L2 penalty of the RAE. Two
cells sit outside the grid: SWAE (a second aggregate divergence) and Ghosh et al.'s
constant-variance VAE (sigma0 = 0.7, beta = 1) for the literature's own comparison.

Every penalty weight comes from one tuned setting per regulariser and latent dim
(:class:`Tuned`), shared down its column: beta (tuned on the VAE) for the KL and its L2 limit,
the MMD weight (tuned on the deterministic WAE, the asker's proposal) for every MMD cell, the
sliced-Wasserstein weight on SWAE; the fixed-noise row uses one sigma0 per latent dim (tuned by
validation ELBO on the fixed-noise KL cell).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config import TrainConfig
from ..errors import check_choice

#: How z depends on x, by row: z = f(x); z = mu(x) + sigma0 eps; z = mu(x) + sigma(x) eps.
NOISE_LEVELS: tuple[str, ...] = ("none", "fixed", "learned")

#: How the codes are pulled towards N(0, I), by column: not at all; per sample (KL, or its L2 limit without
#: noise); as a whole (MMD between the batch of codes and N(0, I) samples).
REGULARISATION: tuple[str, ...] = ("none", "per-sample", "aggregate")

#: The vaelib design whose encoder head gives each noise level.
_HEAD_DESIGN = {"none": "ae", "fixed": "mean-only", "learned": "vae"}

Setting = Literal["beta", "mmd", "sw"]


@dataclass(frozen=True)
class Cell:
    """One design of the study: its record label, encoder noise, regulariser and where its settings come from.

    ``weight`` names the tuned setting that weighs its regulariser (``"beta"``, ``"mmd"``, ``"sw"``),
    or is a number, or None (no regulariser); ``sigma0`` is ``"tuned"`` (the fixed-noise row's
    sigma0), a number, or None (no fixed noise). ``column`` is its place in the factorial
    (:data:`REGULARISATION`), None outside the grid.
    """

    label: str
    noise: str
    regulariser: str
    weight: Setting | float | None
    sigma0: Literal["tuned"] | float | None
    column: str | None
    description: str

    @property
    def design(self) -> str:
        """The vaelib design (:data:`vaelib.DESIGNS`) whose encoder head this cell uses."""
        return _HEAD_DESIGN[self.noise]


#: The designs of the study, in the tables' order: the 3 x 3 factorial, then SWAE and the CV-VAE.
CELLS: dict[str, Cell] = {c.label: c for c in (
    Cell("ae", "none", "none", None, None, "none", "no noise, no penalty: the plain autoencoder"),
    Cell("rae", "none", "l2", "beta", None, "per-sample",
         "no noise, L2 penalty beta ||z||^2 / 2: the sigma0 -> 0 limit of the per-sample KL (RAE, Ghosh et al. 2020)"),
    Cell("wae-mmd", "none", "mmd", "mmd", None, "aggregate",
         "no noise, aggregate MMD to N(0, I): the asker's proposal (WAE-MMD, Tolstikhin et al. 2018)"),
    Cell("fixed", "fixed", "none", None, "tuned", "none", "fixed noise sigma0, no penalty"),
    Cell("mean-only", "fixed", "kl", "beta", "tuned", "per-sample", "fixed noise sigma0, per-sample KL (mean only)"),
    Cell("fixed-mmd", "fixed", "mmd", "mmd", "tuned", "aggregate", "fixed noise sigma0, aggregate MMD of sampled z"),
    Cell("learned", "learned", "none", None, None, "none",
         "learned sigma(x), no penalty: what sigma does with no incentive to stay wide"),
    Cell("vae", "learned", "kl", "beta", None, "per-sample", "learned sigma(x), per-sample KL: the VAE"),
    Cell("learned-mmd", "learned", "mmd", "mmd", None, "aggregate",
         "learned sigma(x), aggregate MMD of sampled z (a random-encoder WAE, Rubenstein et al. 2018)"),
    Cell("swae", "none", "sliced-wasserstein", "sw", None, None,
         "no noise, aggregate sliced Wasserstein to N(0, I) (SWAE, Kolouri et al. 2019): a second divergence"),
    Cell("cv-vae", "fixed", "kl", 1.0, 0.7, None,
         "the constant-variance VAE of Ghosh et al. (2020): sigma0 = 0.7, beta = 1"),
)}


@dataclass(frozen=True)
class Tuned:
    """The settings chosen on the validation split at one latent dim: beta (KL and L2), the MMD weight, the
    sliced-Wasserstein weight, and the fixed-noise row's sigma0 (latent units)."""

    beta: float
    mmd: float
    sw: float
    sigma0: float | None   # None until it is tuned (it is swept at the chosen beta)

    def value(self, setting: Setting) -> float:
        """The chosen value of ``setting`` (``"beta"``, ``"mmd"`` or ``"sw"``)."""
        return {"beta": self.beta, "mmd": self.mmd, "sw": self.sw}[setting]


def cell(label: str) -> Cell:
    """The cell labelled ``label``; UnknownNameError listing the labels for any other."""
    return CELLS[check_choice("study design", label, CELLS)]


def cell_config(label: str, *, dataset: str, latent_dim: int, epochs: int, seed: int, tuned: Tuned | None,
                **extra: object) -> TrainConfig:
    """The :class:`TrainConfig` of cell ``label`` at ``latent_dim`` and ``seed`` with the settings ``tuned`` there.

    ``tuned`` may be None only for cells that need no tuned setting. ``extra`` sets further
    fields (e.g. ``n_train``, ``validation_fraction``, or a candidate ``weight`` in a sweep).
    """
    c = cell(label)
    fields: dict[str, object] = {"design": c.design, "dataset": dataset, "latent_dim": latent_dim, "epochs": epochs,
                                 "seed": seed, "regulariser": c.regulariser}
    if isinstance(c.weight, str):
        fields["weight"] = tuned.value(c.weight) if tuned is not None else None
    elif c.weight is not None:
        fields["weight"] = float(c.weight)
    if c.sigma0 == "tuned":
        fields["sigma0"] = tuned.sigma0 if tuned is not None else None
    elif c.sigma0 is not None:
        fields["sigma0"] = float(c.sigma0)
    fields.update(extra)
    return TrainConfig(**{k: v for k, v in fields.items() if v is not None})


__all__ = ["CELLS", "Cell", "NOISE_LEVELS", "REGULARISATION", "Tuned", "cell", "cell_config"]
