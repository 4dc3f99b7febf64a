"""Plumbing shared by the book's notebooks: checked parameters and computed prose.

Each notebook has a papermill ``parameters`` cell; its next cell calls
:func:`check_parameters`, which stops the notebook with one line naming the bad value
and what is accepted. Numbers quoted in "what we saw" paragraphs are rendered from the
results with :func:`show_markdown`, never typed by hand.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .data import DATASETS
from .errors import VaelibError, check_choice, check_positive


@dataclass(frozen=True)
class NotebookParameters:
    """A notebook's checked parameters. ``fast`` marks a smoke run (tiny budget, numbers not meaningful)."""

    dataset: str
    latent_dim: int
    epochs: int
    seeds: tuple[int, ...]
    fast: bool


def check_parameters(dataset: str, latent_dim: int, epochs: int, seeds: Sequence[int] = (0,),
                     fast: bool = False, fast_epochs: int = 2) -> NotebookParameters:
    """Validate a notebook's parameters and return them; with ``fast`` the epochs drop to ``fast_epochs``.

    Raises VaelibError (shown by Jupyter as one line) for an unknown data set, a latent
    dim or epoch count that is not a positive integer, or an empty / non-integer seed list.
    """
    check_choice("data set", dataset, DATASETS)
    for name, value in (("latent_dim", latent_dim), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise VaelibError(f"{name} must be a positive integer, got {value!r}")
        check_positive(name, value)
    seeds = tuple(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise VaelibError(f"seeds must be a non-empty list of integers >= 0, got {list(seeds)!r}")
    if not isinstance(fast, bool):
        raise VaelibError(f"FAST must be True or False, got {fast!r}")
    return NotebookParameters(dataset, latent_dim, min(epochs, fast_epochs) if fast else epochs, seeds, fast)


def show_markdown(text: str) -> None:
    """Render ``text`` (Markdown, with numbers already formatted in) as a cell output."""
    from IPython.display import Markdown, display

    display(Markdown(text))


__all__ = ["NotebookParameters", "check_parameters", "show_markdown"]
