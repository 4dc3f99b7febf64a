"""The book's studies: named grids too long for CI, run once with ``python -m vaelib study NAME`` and committed.

* ``head-to-head``: the factorial at 30 epochs, tuned at every latent dim (:func:`run_head_to_head`).
* ``budget``: the :data:`KEY_CELLS` at latent dims 8 and 32 trained to early stopping on the validation split
  (patience :data:`PATIENCE` epochs, at most :data:`MAX_EPOCHS`), with the head-to-head's tuned settings.
* ``generality``: the same contrasts on other data and another architecture, with the head-to-head's tuned
  settings: a convolutional encoder and decoder on ``mnist5k``, the MLP on binarised ``mnist5k`` and on
  sklearn's ``digits``, and the head-to-head's own models scored on a second, independently trained feature
  extractor.

Each writes its tables and ``provenance.json`` under ``book/_generated/studies/<name>/`` (one folder per
variant for ``generality``). Everything is cached, so an interrupted study resumes where it stopped.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..data import load_dataset
from ..errors import check_choice
from .factorial import cell_config
from .records import STUDIES_DIR
from .runner import (STUDY_NAME, HeadToHead, extra_evaluations, load_head_to_head, main_evaluations, model_record,
                     run_study)
from .settings import HeadToHeadSettings

#: Early stopping of the budget study: stop after this many epochs without a better validation loss.
PATIENCE = 20
#: The budget study's cap on epochs.
MAX_EPOCHS = 300
#: The latent dims of the budget study and of the image variants of the generality study.
STUDY_DIMS: tuple[int, ...] = (8, 32)
#: The cells of the generality study: the five that the answer's claims contrast (G1, G3: ae, wae-mmd and the VAE;
#: R1, R2, R3: learned-mmd against wae-mmd, fixed against ae; S1, S3: the VAE against fixed and learned-mmd; P2, P3).
#: A conv model costs about 30 MLP models here, and two cores over one session allowed no more; the other six
#: cells' claims read "not tested" there.
KEY_CELLS: tuple[str, ...] = ("ae", "wae-mmd", "fixed", "vae", "learned-mmd")
#: The convolutional variant's latent dim: the largest, where the claims about filling the latent space apply.
CONV_DIMS: tuple[int, ...] = (32,)
#: Seeds of the generality study (fewer than the head-to-head's five: its models cost more).
GENERALITY_SEEDS: tuple[int, ...] = (0, 1, 2)
#: Seeds of the budget study: three of the head-to-head's five (an early-stopped model trains up to ten times longer;
#: two cores over one session did not allow five, nor more than the :data:`KEY_CELLS`).
BUDGET_SEEDS: tuple[int, ...] = (0, 1, 2)


@dataclass(frozen=True)
class Variant:
    """One grid of a study: its folder, data set, latent dims, seeds, cells, extra config fields and evaluations."""

    folder: str
    dataset: str
    dims: tuple[int, ...]
    seeds: tuple[int, ...]
    cells: tuple[str, ...]
    fields: dict[str, Any]
    evaluations: Callable[[HeadToHeadSettings], list[dict[str, Any]]]
    description: str


def _tuned_for(h2h: HeadToHead, dim: int) -> Any:
    """The head-to-head's tuned settings at ``dim`` (for a dim it did not tune, the nearest one it did)."""
    nearest = min(h2h.tuned, key=lambda d: abs(d - dim))
    return h2h.tuned[nearest]


def _no_ais(settings: HeadToHeadSettings) -> list[dict[str, Any]]:
    """The main evaluations without AIS (a conv decoder makes its 4,000 decoder passes per image too slow here)."""
    return [e for e in main_evaluations(settings) if e.get("groups") != ("ais",)]


def variants(name: str) -> list[Variant]:
    """The grids of study ``name`` ('budget' or 'generality')."""
    if name == "budget":
        return [Variant("budget", "mnist5k", STUDY_DIMS, BUDGET_SEEDS, KEY_CELLS,
                        {"epochs": MAX_EPOCHS, "patience": PATIENCE, "validation_fraction": 0.2}, main_evaluations,
                        f"early stopping on a fifth of the training split held out (patience {PATIENCE}, at most "
                        f"{MAX_EPOCHS} epochs): the models train on 3,200 of the 4,000 training images")]
    return [
        Variant("generality/conv", "mnist5k", CONV_DIMS, GENERALITY_SEEDS, KEY_CELLS, {"trunk": "conv"}, _no_ais,
                "a convolutional encoder (32, 64 channels, stride 2) and a transposed-convolution decoder, then the "
                "MLP's 400 units; no AIS"),
        Variant("generality/binary", "mnist5k-binary", STUDY_DIMS, GENERALITY_SEEDS, KEY_CELLS, {}, main_evaluations,
                "the MLP on mnist5k binarised at 0.5"),
        Variant("generality/digits", "digits", (2, 8), GENERALITY_SEEDS, KEY_CELLS, {}, main_evaluations,
                "the MLP on sklearn's 8x8 digits (1,438 training images)"),
    ]


def run_variant(variant: Variant, h2h: HeadToHead, *, progress: bool = True) -> HeadToHead:
    """Train and score one grid with the head-to-head's tuned settings; return its :class:`HeadToHead` (no sweeps,
    no data-size sweep; its settings say its data set, dims, seeds and epochs)."""
    from ..metrics.intrinsic import two_nn_dimension
    from ..parallel import train_many

    settings = dataclasses.replace(h2h.settings, dataset=variant.dataset, latent_dims=variant.dims,
                                   seeds=variant.seeds, epochs=int(variant.fields.get("epochs", h2h.settings.epochs)),
                                   data_fractions=())
    data = load_dataset(variant.dataset)
    jobs = [(label, cell_config(label, dataset=variant.dataset, latent_dim=d, seed=s, tuned=_tuned_for(h2h, d),
                                **{"epochs": settings.epochs, **variant.fields}))
            for d in variant.dims for label in variant.cells for s in variant.seeds]
    evaluations = variant.evaluations(settings)
    results = train_many([c for _, c in jobs], data=data, evaluate=evaluations, progress=progress)
    records = [model_record(label, c, data, evaluations) for label, c in jobs]
    tuned = {d: _tuned_for(h2h, d) for d in variant.dims}
    # the VAE's units, epoch by epoch: where (and whether) they switch off
    unit_kl = pd.DataFrame([{"latent_dim": c.latent_dim, "seed": c.seed, "epoch": e, "unit": u, "kl_nats": kl}
                            for (label, c), r in zip(jobs, results) if label == "vae"
                            for e, units in enumerate(r.history.unit_kl, start=1) for u, kl in enumerate(units)])
    return HeadToHead(records, {}, h2h.sweeps.iloc[0:0], tuned, two_nn_dimension(data.x_train), [],
                      int(data.x_train.shape[0]), settings, extra={"unit_kl": unit_kl})


def second_features(h2h: HeadToHead, *, progress: bool = True) -> HeadToHead:
    """The head-to-head's own models of the :data:`KEY_CELLS` scored again on the second feature extractor (samples
    group only; :data:`vaelib.metrics.classifier.FEATURE_EXTRACTORS`): the sample-quality verdicts on other
    features."""
    from ..config import TrainConfig
    from ..metrics import evaluate_cached
    from ..cache import load_or_train
    import json

    data = load_dataset(h2h.settings.dataset)
    evaluation = {"groups": ("samples",), "samplers": ("prior", "gmm", "two-stage"),
                  "n_samples": h2h.settings.n_samples, "features": "second"}
    records = []
    rows = [r for r in h2h.records if r["design"] in KEY_CELLS]
    iterator = rows
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(rows, desc="second features")
    for r in iterator:
        config = TrainConfig.from_dict(json.loads(r["config"]))
        result = load_or_train(config, data=data, progress=False)
        scores = evaluate_cached(result, data, **evaluation)
        records.append({k: r.get(k, float("nan")) for k in ("design", "encoder_noise", "regulariser", "weight", "sigma0",
                                                            "latent_dim", "seed", "n_train", "epochs_trained", "weights_sha256",
                                                            "config")} | scores)
    return HeadToHead(records, {}, h2h.sweeps.iloc[0:0], h2h.tuned, h2h.data_intrinsic_dim, [], h2h.n_train,
                      h2h.settings)


#: The studies ``python -m vaelib study`` knows: name -> one line.
STUDIES: dict[str, str] = {
    STUDY_NAME: "the factorial at 30 epochs, tuned at every latent dim (measured: 67 minutes on 2 cores)",
    "budget": f"the same designs trained to early stopping (patience {PATIENCE}, at most {MAX_EPOCHS} epochs) at "
              f"latent dims {', '.join(map(str, STUDY_DIMS))} (measured: about an hour on 2 cores)",
    "generality": "a conv architecture, binarised mnist5k, digits, and a second feature extractor (measured: "
                  "54 minutes on 2 cores)",
}


def run_named_study(name: str, *, progress: bool = True, root: str | Path | None = None) -> list[Path]:
    """Run the study ``name`` (one of :data:`STUDIES`) and write its records under ``root`` (default
    ``book/_generated/studies``); returns the paths written. UnknownNameError listing the studies for any other."""
    check_choice("study", name, STUDIES)
    root = Path(root) if root is not None else STUDIES_DIR
    if name == STUDY_NAME:
        return run_study(out=root / STUDY_NAME, progress=progress)
    h2h = load_head_to_head(root / STUDY_NAME)
    paths = []
    jobs: Sequence[Any] = variants(name) + ([None] if name == "generality" else [])
    for variant in jobs:
        start = time.perf_counter()
        if variant is None:
            result, folder = second_features(h2h, progress=progress), "generality/features"
        else:
            result, folder = run_variant(variant, h2h, progress=progress), variant.folder
        paths += result.write(root / folder, seconds=time.perf_counter() - start,
                              command=f"python -m vaelib study {name}", study=folder)
    return paths


__all__ = ["BUDGET_SEEDS", "CONV_DIMS", "GENERALITY_SEEDS", "KEY_CELLS", "MAX_EPOCHS", "PATIENCE", "STUDIES", "STUDY_DIMS",
           "Variant", "run_named_study", "run_variant", "second_features", "variants"]
