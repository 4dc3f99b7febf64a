"""Checkpoints: the model's ``state_dict`` with its config and history as JSON.

Files are written atomically (:func:`vaelib.store.write_torch`: a temporary file in the same
folder, then a rename), so an interrupted save never leaves a half-written checkpoint under the
real name, and they are read with ``torch.load(weights_only=True)``, which cannot execute code.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from . import store
from .config import TrainConfig
from .errors import CheckpointError, VaelibError
from .models import build_model
from .training import History, TrainResult

FORMAT = "vaelib-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(result: TrainResult, path: str | Path) -> Path:
    """Write ``result`` (state_dict, config, history, data shape) to ``path`` atomically; return the path."""
    model = result.model
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": result.config.to_json(),
        "history": json.dumps(result.history.to_dict()),
        "data_dim": model.data_dim,
        "image_shape": list(model.image_shape or []),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    return store.write_torch(path, payload)


def load_checkpoint(
    path: str | Path,
    expected_config: TrainConfig | None = None,
    device: torch.device | str = "cpu",
) -> TrainResult:
    """Load a checkpoint written by :func:`save_checkpoint` and return the :class:`TrainResult`.

    Raises CheckpointError when the file is missing, corrupted or truncated, is not a
    vaelib checkpoint, does not match ``expected_config``, or its weights do not fit the
    model its config describes.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad file
        raise CheckpointError(
            f"checkpoint {path} is corrupted or truncated ({type(e).__name__}); delete it and train again"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a vaelib checkpoint")
    if payload.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {payload.get('version')}; this vaelib reads {FORMAT_VERSION}")
    try:
        config = TrainConfig.from_dict(json.loads(payload["config"]))
        history = History.from_dict(json.loads(payload["history"]))
        data_dim = int(payload["data_dim"])
        image_shape = tuple(payload["image_shape"]) or None
        state = payload["state_dict"]
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} has a damaged header: {e}") from None
    if expected_config is not None and config != expected_config:
        diff = config.differences(expected_config)
        raise CheckpointError(f"checkpoint {path} was trained with a different config: {diff} (saved, expected)")
    try:
        model = build_model(config, data_dim, image_shape)
    except VaelibError as e:
        raise CheckpointError(f"checkpoint {path}: its config cannot build a model: {e}") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0:3]
        raise CheckpointError(f"checkpoint {path}: weights do not match the model its config describes: "
                              f"{' '.join(first)}") from None
    model.to(device).eval()
    return TrainResult(model=model, config=config, history=history)


__all__ = ["save_checkpoint", "load_checkpoint", "FORMAT_VERSION"]
