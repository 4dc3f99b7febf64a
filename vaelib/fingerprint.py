"""The numerics fingerprint: what this machine's numerics train, as short hashes, in a few seconds.

A reproducibility check of the book's promise (:mod:`vaelib.numerics`): ``scripts/execute_notebooks.sh``
stores the fingerprint of the machine that executed the notebooks in ``tests/numerics_fingerprint.json``,
and the tests compare it with the machine they run on. Where two fingerprints differ, the entry that
differs names the part of the pipeline that rounds differently.
"""
from __future__ import annotations

import torch

from . import blas, store
from .config import TrainConfig
from .data import load_dataset
from .metrics.classifier import train_classifier
from .metrics.samples import fid
from .training import train


def fingerprint() -> dict[str, str]:
    """What this process's numerics train, as short hashes: the book's bits in a few seconds.

    Returns ``{"matmul": ..., "vae": ..., "wae-mmd": ..., "classifier": ..., "fid": ...}``: the matrix
    products alone (:func:`vaelib.blas.product_fingerprint`), then the first 16 hex digits of
    the sha256 of every weight of a VAE and a WAE-MMD (latent dim 8, 2 epochs on mnist5k,
    seed 0) and of the metrics' feature classifier (1 epoch, seed 0), and of the FID (its
    ``repr``) between that classifier's features of 500 test and 500 training images: float64
    products and eigen-decompositions, whose last bits FID's square roots amplify. Under canonical
    numerics two machines with equal fingerprints train the same bits for the book.
    """
    data = load_dataset("mnist5k")
    out = {"matmul": blas.product_fingerprint()}
    out |= {design: _weights_digest(train(TrainConfig(design=design, latent_dim=8, epochs=2, seed=0), data,
                                         progress=False).model)
            for design in ("vae", "wae-mmd")}
    classifier = train_classifier(data, seed=0, epochs=1)
    out["classifier"] = _weights_digest(classifier)
    with torch.no_grad():
        distance = fid(classifier.features(data.x_test[:500]), classifier.features(data.x_train[:500]))
    out["fid"] = store.digest(repr(distance).encode())
    return out


def _weights_digest(module: torch.nn.Module) -> str:
    """The first 16 hex digits of the sha256 of every tensor of ``module``'s state_dict, in order, as raw bytes."""
    return store.digest(*(value.detach().cpu().contiguous().numpy().tobytes()
                          for value in module.state_dict().values()))


__all__ = ["fingerprint"]
