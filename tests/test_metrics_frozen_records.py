"""metrics.evaluate against frozen records: every number and the order of the keys, for every group selection in use.

``tests/frozen_evaluate_records.json`` holds the records that ``evaluate`` returned for small models trained on
``digits`` and ``curve`` (canonical numerics), first before its groups became a registry (issue 22, which left them
unchanged to the bit), regenerated for ``METRICS_VERSION`` 4 (issue 23's latent metrics): the default groups
(stochastic, deterministic, fixed-variance at latent dim 2 with the exact likelihood, a model trained on part of its
training split), the code-space group alone (then named ``fill``), the validation selection's
``("likelihood", "samples")`` with ``samplers=("prior",)`` and ``split="validation"``, and the notebooks' ``("latent",)``
and ``("likelihood", "latent")``. Regenerated again for ``EVALUATION_KERNELS`` 2 (FID's float64 products and
eigen-decompositions on the pinned OpenBLAS, not MKL, whose ``COMPATIBLE`` branch gave other last bits on an AMD
EPYC than on the Intel Xeon that froze them; likewise the Gaussian fit's KL and the code covariance's square root):
only the FID keys (at most 5.4e-7 relative) and ``agg_gauss_kl_nats`` (4e-16) changed.
Values must be equal to the bit and keys in the same order; the wall-clock metrics (which differ on every training
run) are compared with the model's own history instead.

Regenerate only when a change is meant to change the numbers (and raise ``METRICS_VERSION``, or
``EVALUATION_KERNELS`` when only the kernels' last bits change):
``source scripts/numerics_env.sh && .venv/bin/python tests/test_metrics_frozen_records.py --write``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import vaelib
from vaelib import TrainConfig, metrics, numerics, train

FIXTURE = Path(__file__).with_name("frozen_evaluate_records.json")

_DIGITS = {"dataset": "digits", "hidden_dims": (64,), "epochs": 3}

#: name -> config of each small model the cases evaluate.
MODELS: dict[str, TrainConfig] = {
    "vae-z4": TrainConfig(design="vae", latent_dim=4, **_DIGITS),
    "ae-z4": TrainConfig(design="ae", latent_dim=4, **_DIGITS),
    "mean-only-z2": TrainConfig(design="mean-only", latent_dim=2, **_DIGITS),
    "vae-z4-validation": TrainConfig(design="vae", latent_dim=4, validation_fraction=0.2, **_DIGITS),
    "wae-mmd-curve": TrainConfig(design="wae-mmd", dataset="curve", latent_dim=2, hidden_dims=(32,), epochs=2),
}

#: (case id, model name, keyword arguments of evaluate). ``"classifier": True`` passes the digits feature classifier
#: trained once; without it evaluate loads (here: trains) its own. ``"bare": True`` passes the AutoEncoder, not
#: the TrainResult.
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("vae default", "vae-z4", {"n_samples": 300, "classifier": True}),
    ("ae default", "ae-z4", {"n_samples": 300, "classifier": True}),
    ("mean-only z2 default", "mean-only-z2", {"n_samples": 300, "classifier": True}),
    ("part of the training split, default", "vae-z4-validation", {"n_samples": 300, "classifier": True, "seed": 2}),
    ("vae code space", "vae-z4", {"groups": ("code_space",)}),
    ("ae code space", "ae-z4", {"groups": ("code_space",)}),
    ("validation selection", "vae-z4-validation",
     {"groups": ("likelihood", "samples"), "samplers": ("prior",), "split": "validation", "n_samples": 200}),
    ("ae likelihood and latent", "ae-z4", {"groups": ("likelihood", "latent")}),
    ("curve latent", "wae-mmd-curve", {"groups": ("latent",)}),
    ("bare model, likelihood and cost", "vae-z4", {"groups": ("likelihood", "cost"), "bare": True}),
]

def _records() -> dict[str, dict[str, float]]:
    """Train the models and evaluate every case; ``{case id: record}``."""
    from vaelib.metrics.classifier import train_classifier

    data = {name: vaelib.load_dataset(name) for name in ("digits", "curve")}
    results = {name: train(config, data[config.dataset], progress=False) for name, config in MODELS.items()}
    clf = train_classifier(data["digits"], seed=0)
    out = {}
    for case, model, kwargs in CASES:
        kwargs = dict(kwargs)
        if kwargs.pop("classifier", False):
            kwargs["feature_classifier"] = clf
        result = results[model]
        subject = result.model if kwargs.pop("bare", False) else result
        record = metrics.evaluate(subject, data[result.config.dataset], **kwargs)
        for key in metrics.WALL_CLOCK_METRICS:   # wall clock: from this training run's history
            if key in record:
                assert record[key] == getattr(result.history, key)
                record[key] = "history"
        out[case] = record
    return out


@pytest.mark.skipif(numerics.current().mode != "canonical" or not numerics.current().bit_identical,
                    reason="the frozen records were computed under canonical numerics")
def test_evaluate_returns_the_frozen_records_bit_for_bit_in_the_same_key_order():
    frozen = json.loads(FIXTURE.read_text())
    records = _records()
    assert list(records) == list(frozen["records"])
    for case, record in records.items():
        assert list(record) == list(frozen["records"][case]), f"{case}: other keys or another order"
        different = {k: (v, frozen["records"][case][k]) for k, v in record.items() if v != frozen["records"][case][k]}
        assert not different, f"{case}: values differ (new, frozen): {different}"


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    FIXTURE.write_text(json.dumps({"numerics": numerics.current().describe(), "records": _records()}, indent=1) + "\n")
    print(f"wrote {FIXTURE}")
