"""Who competes in the head-to-head: the five designs, and which models play each claim's roles."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def head_to_head_designs(sigma0: float) -> list[tuple[str, str, dict[str, Any]]]:
    """(record label, design, TrainConfig overrides) of every design in the head-to-head, in the tables' order.

    The mean-only model trains with ``sigma0`` (the head-to-head's: selected on the validation split by prior FID).
    """
    return [
        ("ae", "ae", {}),
        ("mean-only", "mean-only", {"sigma0": sigma0}),
        ("vae", "vae", {}),
        ("wae-mmd", "wae-mmd", {}),
        ("swae", "swae", {}),
    ]


#: The roles a side of a claim can name instead of a record label (fields of :class:`ClaimRoles`).
ROLES: tuple[str, ...] = ("vae_tuned", "mean_only_elbo", "ae_matched")


@dataclass(frozen=True)
class ClaimRoles:
    """Which record label plays each role in the claims, and the training-set sizes of claim 7.

    A role's label is another contestant's when the selection made them the same model (e.g. the
    tuned beta is 1: ``vae_tuned`` is ``"vae"``). In the claim table a side names a role by its
    field name (``"vae_tuned"``, ``"mean_only_elbo"``, ``"ae_matched"``); :meth:`label_of` resolves it.
    """

    vae_tuned: str = "vae"                         # the VAE with beta selected by validation prior FID (claim 4)
    mean_only_elbo: str = "mean-only"              # the mean-only model with sigma0 selected by validation ELBO (8b)
    ae_matched: str = "ae-matched"                 # the AE stopped at the VAE's training reconstruction (claim 8c)
    small_data: tuple[tuple[int, str], ...] = ()   # (training images, record label of the VAE trained on them)
    n_train: int = 0                               # images of the whole training split

    def label_of(self, design: str) -> str:
        """The record label playing the role named ``design``, or ``design`` itself when it names no role."""
        return getattr(self, design) if design in ROLES else design


__all__ = ["ROLES", "ClaimRoles", "head_to_head_designs"]
