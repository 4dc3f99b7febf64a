"""Exceptions raised by vaelib.

Every error raised on bad input is a :class:`VaelibError` (a ``ValueError``), and its
message names the bad value and what is accepted, so the CLI can print it as one line.
"""
from __future__ import annotations

from collections.abc import Iterable


class VaelibError(ValueError):
    """Bad input to vaelib: the message says what was wrong and what to do."""

    def _render_traceback_(self) -> list[str]:
        """IPython/Jupyter shows this one line instead of a traceback: the message is the whole story."""
        return [f"{type(self).__name__}: {self}"]


class UnknownNameError(VaelibError):
    """A design, regulariser, data set, sampler or metric name that vaelib does not know."""


class DataUnavailableError(VaelibError):
    """A data set that cannot be loaded here (for example a full download while offline)."""


class CheckpointError(VaelibError):
    """A checkpoint that is missing, corrupted, truncated or does not match the model."""


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite during training; the message names epoch and step."""


def check_choice(kind: str, value: str, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``; raise :class:`UnknownNameError` otherwise.

    ``kind`` names what is chosen (for example ``"design"``) for the message.
    """
    options = list(choices)
    if value not in options:
        raise UnknownNameError(
            f"unknown {kind} {value!r}; accepted: {', '.join(repr(o) for o in options)}"
        )
    return value


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Return ``value`` if it is > 0 (or >= 0 with ``allow_zero``); raise :class:`VaelibError` otherwise."""
    ok = value >= 0 if allow_zero else value > 0
    if not ok or value != value:  # value != value catches NaN
        bound = ">= 0" if allow_zero else "> 0"
        raise VaelibError(f"{name} must be {bound}, got {value!r}")
    return value
