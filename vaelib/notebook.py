"""Plumbing shared by the book's notebooks: one setup call, checked parameters and computed prose.

Each notebook has a papermill ``parameters`` cell, a Colab install guard, and then one setup
call: :func:`setup` (notebooks 1 to 4) or :func:`setup_study` (notebooks 5 and 6). It stops the
notebook with one line naming a bad value and what is accepted, applies the book's figure
style, prints the parameters and the numerics in force, and loads the notebook's data set. Numbers quoted in "what we saw"
paragraphs are rendered from the results with :func:`show_markdown`, never typed by hand.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .data import DATASETS, Dataset, load_dataset
from .errors import VaelibError, check_choice, check_positive
from .study import HeadToHeadSettings


@dataclass(frozen=True)
class NotebookParameters:
    """A notebook's checked parameters. ``fast`` marks a smoke run (tiny budget, numbers not meaningful)."""

    dataset: str
    latent_dim: int
    epochs: int
    seeds: tuple[int, ...]
    fast: bool

    @property
    def n_samples(self) -> int:
        """Decoded samples per sampler, the same for every model of a notebook: 1000 (200 in a smoke run)."""
        return 200 if self.fast else 1000


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


def check_head_to_head(settings: HeadToHeadSettings) -> None:
    """Raise VaelibError (one line) for settings a head-to-head cannot run: :func:`check_parameters` on the data
    set, epochs and seeds at every latent dim."""
    for dim in settings.latent_dims:
        check_parameters(settings.dataset, dim, settings.epochs, settings.seeds)


def _start(parameters_line: str) -> None:
    """Apply the book's figure style; print the parameters line and the numerics in force."""
    from . import numerics, plotting   # plotting loads matplotlib: only notebooks need it, not the CLI

    plotting.use_book_style()
    print(parameters_line)
    print(numerics.current().describe())


def setup(dataset: str, latent_dim: int, epochs: int, seeds: Sequence[int] = (0,), fast: bool = False,
          details: str = "") -> tuple[NotebookParameters, Dataset]:
    """The setup call of notebooks 1 to 4: returns the checked :class:`NotebookParameters` and the data set.

    Checks the parameters (:func:`check_parameters`: a bad one stops the notebook with one line),
    applies the book's figure style, prints two lines: ``data set <name>, latent dim <d>,
    <epochs> epochs`` followed by ``details`` (the page's own sweeps), and the numerics in force;
    then loads the data set (:func:`vaelib.load_dataset`).
    """
    p = check_parameters(dataset, latent_dim, epochs, seeds, fast)
    _start(f"data set {p.dataset}, latent dim {p.latent_dim}, {p.epochs} epochs{details}")
    return p, load_dataset(p.dataset)


def setup_study(folder: str = "", name: str = "head-to-head"):
    """The setup call of the notebooks that read a study's committed records (5 and 6): returns its
    :class:`vaelib.study.HeadToHead`.

    ``folder`` is the study's folder ("": the committed ``book/_generated/studies/<name>``). Applies
    the book's figure style, prints the numerics in force and one line about the records (how many
    models, when, where and by which code they were made); refuses, in one line naming the command
    that refreshes them, records missing or made by other metrics or training code.
    """
    from .study import STUDIES_DIR, load_head_to_head

    path = Path(folder) if folder else STUDIES_DIR / name
    h2h = load_head_to_head(path)
    import json

    meta = json.loads((path / "provenance.json").read_text())
    _start(f"study {meta['study']}: {len(h2h.frame)} models, written {meta['written_utc']} on {meta['device']} by "
           f"vaelib {meta['vaelib_version']} ({meta['git_commit'][:12]}); {meta['model_train_seconds']:,.0f} s of "
           f"training")
    return h2h


def show_markdown(text: str) -> None:
    """Render ``text`` (Markdown, with numbers already formatted in) as a cell output."""
    from IPython.display import Markdown, display

    display(Markdown(text))


__all__ = ["NotebookParameters", "check_head_to_head", "check_parameters", "setup", "setup_study",
           "show_markdown"]
