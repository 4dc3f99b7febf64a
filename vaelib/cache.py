"""Load-or-train: a trained model is loaded from a cache if one exists for its config.

The cache key is a hash of the full config (every hyperparameter and the seed), of the
numerics in force (canonical and native numerics train different bits, :mod:`vaelib.numerics`) and of
:data:`CACHE_VERSION`, which is raised whenever a change to vaelib would change what a
config trains. The folder is ``models/`` under the store's root (:func:`vaelib.store.cache_root`:
``$VAELIB_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/vaelib`` or ``~/.cache/vaelib``).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from . import numerics, store
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import Dataset
from .training import TrainResult, matmul_flop, train

#: Raise when training code changes in a way that changes results for the same config.
#: 3: the canonical matrix products run on vaelib's pinned OpenBLAS (vaelib.blas); histories count test images.
CACHE_VERSION = 3

#: When this environment variable names a file, every :func:`load_or_train` appends one JSON line to it:
#: ``{"event": "trained" | "loaded", "design": ..., "latent_dim": ..., "seconds": ..., "flop": ..., "pid": ...}``
#: (``flop``: :func:`vaelib.training.matmul_flop` of a trained model, 0 for a loaded one).
#: The book build sets it and prints how many models were trained and how many loaded.
TRAIN_LOG_ENV = "VAELIB_TRAIN_LOG"


def log_event(event: str, config: TrainConfig, seconds: float, flop: float = 0.0) -> None:
    """Append one line for ``config`` to the file named by ``$VAELIB_TRAIN_LOG`` (nothing when it is unset).

    One ``write`` of one short line in append mode, so lines from parallel workers do not interleave.
    """
    target = os.environ.get(TRAIN_LOG_ENV)
    if not target:
        return
    line = json.dumps({"event": event, "design": config.design, "dataset": config.dataset,
                       "latent_dim": config.latent_dim, "seed": config.seed, "seconds": round(seconds, 3),
                       "flop": flop, "pid": os.getpid()}) + "\n"
    with open(target, "a") as f:
        f.write(line)


def summarise_log(path: str | Path) -> dict[str, float]:
    """Counts of a train log: ``{"trained": n, "loaded": n, "train_seconds": s, "train_flop": FLOP}`` (zeros for a
    missing file): models trained and loaded, and the seconds and matrix-product FLOP of the trainings."""
    counts = {"trained": 0, "loaded": 0, "train_seconds": 0.0, "train_flop": 0.0}
    path = Path(path)
    if not path.exists():
        return counts
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        counts[entry["event"]] += 1
        if entry["event"] == "trained":
            counts["train_seconds"] += entry["seconds"]
            counts["train_flop"] += entry.get("flop", 0.0)
    return counts


def cache_path(config: TrainConfig, cache_dir: str | Path | None = None) -> Path:
    """Path of the cached checkpoint for ``config``: ``<cache>/models/<design>-<dataset>-z<latent_dim>-<hash>.pt``.

    The hash (16 hex digits) is of ``"<CACHE_VERSION>:<numerics cache tag>:<config JSON>"``: a text,
    not the JSON of :func:`vaelib.store.key`, because every model trained since 0.1 is filed under it.
    """
    key = store.digest(f"{CACHE_VERSION}:{numerics.current().cache_tag}:{config.to_json()}", length=16)
    return store.cache_folder("models", cache_dir) / f"{config.design}-{config.dataset}-z{config.latent_dim}-{key}.pt"


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
    start = time.perf_counter()
    if path.exists() and not retrain:
        result = load_checkpoint(path, expected_config=config)
        if device is not None:
            result.model.to(device)
        log_event("loaded", config, time.perf_counter() - start)
        return result
    result = train(config, data, device=device, progress=progress)
    save_checkpoint(result, path)
    log_event("trained", config, time.perf_counter() - start, flop=matmul_flop(result.model, result.history))
    return result


__all__ = ["CACHE_VERSION", "TRAIN_LOG_ENV", "cache_path", "load_or_train", "log_event", "summarise_log"]
