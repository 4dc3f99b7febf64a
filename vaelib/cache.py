"""Load-or-train: a trained model is loaded from a cache if one exists for its config.

The cache key is a hash of the full config (every hyperparameter and the seed), of the
numerics in force (canonical and native numerics train different bits, :mod:`vaelib.numerics`) and of
:data:`CACHE_VERSION`, which is raised whenever a change to vaelib would change what a
config trains. The folder is ``$VAELIB_CACHE_DIR`` if set, else a per-user default
(``$XDG_CACHE_HOME/vaelib`` or ``~/.cache/vaelib``), under ``models/``.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from . import numerics
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import Dataset, default_cache_dir
from .training import TrainResult, train

#: Raise when training code changes in a way that changes results for the same config.
CACHE_VERSION = 2


def cache_path(config: TrainConfig, cache_dir: str | Path | None = None) -> Path:
    """Path of the cached checkpoint for ``config``: <cache>/models/<design>-<dataset>-<hash>.pt."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    tag = numerics.current().cache_tag
    key = hashlib.sha256(f"{CACHE_VERSION}:{tag}:{config.to_json()}".encode()).hexdigest()[:16]
    return root / "models" / f"{config.design}-{config.dataset}-z{config.latent_dim}-{key}.pt"


def load_or_train(
    config: TrainConfig,
    *,
    data: Dataset | None = None,
    cache_dir: str | Path | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    retrain: bool = False,
) -> TrainResult:
    """Return the trained model for ``config``: from the cache if present, else train and cache it.

    ``retrain=True`` trains again and replaces the cache entry. A damaged cache entry
    raises CheckpointError naming the file (delete it or pass ``retrain=True``).
    """
    path = cache_path(config, cache_dir)
    if path.exists() and not retrain:
        result = load_checkpoint(path, expected_config=config)
        if device is not None:
            result.model.to(device)
        return result
    result = train(config, data, device=device, progress=progress)
    save_checkpoint(result, path)
    return result


__all__ = ["CACHE_VERSION", "cache_path", "load_or_train"]
