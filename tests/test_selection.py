"""Selections on a validation split: the split itself, the config fields behind it, and the choice."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

import vaelib
from vaelib import TrainConfig, metrics
from vaelib.cache import cache_path
from vaelib.data import training_view, validation_view
from vaelib.errors import VaelibError
from vaelib.selection import VALIDATION_FRACTION, Selection, select, validation_sweep


@pytest.fixture(scope="module")
def digits():
    return vaelib.load_dataset("digits")


def _rows(x: torch.Tensor) -> set[bytes]:
    return {bytes(r.numpy().tobytes()) for r in x}


def test_validation_images_come_from_the_training_split_and_never_from_the_test_split(digits):
    config = TrainConfig(dataset="digits", validation_fraction=0.2)
    val, own = validation_view(digits, config), training_view(digits, config)
    n = digits.x_train.shape[0]
    assert val.x_test.shape[0] == round(0.2 * n) and own.x_train.shape[0] == n - round(0.2 * n)
    assert torch.equal(val.x_train, own.x_train) and torch.equal(own.x_test, digits.x_test)
    assert not (_rows(val.x_test) & _rows(own.x_train)), "a validation image is also trained on"
    assert _rows(val.x_test) <= _rows(digits.x_train)
    # stratified: every digit's share of the validation images is its share of the training split, within one image
    for c in range(10):
        expected = 0.2 * float((digits.y_train == c).sum())
        assert abs(float((val.y_test == c).sum()) - expected) <= 1
    # seeded by the data seed: the same split again, another one for another data seed
    assert torch.equal(validation_view(digits, config).x_test, val.x_test)
    assert not torch.equal(validation_view(digits, config.replace(data_seed=1)).x_test, val.x_test)


def test_n_train_cuts_a_stratified_subset_and_rejects_too_many(digits):
    own = training_view(digits, TrainConfig(dataset="digits", n_train=500))
    assert own.x_train.shape[0] == 500 and _rows(own.x_train) <= _rows(digits.x_train)
    assert int(own.y_train.bincount().min()) >= 45
    both = training_view(digits, TrainConfig(dataset="digits", n_train=500, validation_fraction=0.2))
    held_out = validation_view(digits, TrainConfig(dataset="digits", n_train=500, validation_fraction=0.2)).x_test
    assert not (_rows(both.x_train) & _rows(held_out))
    with pytest.raises(VaelibError, match="n_train = 5000 but the training split has only"):
        training_view(digits, TrainConfig(dataset="digits", n_train=5000))
    assert training_view(digits, TrainConfig(dataset="digits")) is digits


@pytest.mark.parametrize("kwargs, message", [({"validation_fraction": 1.0}, "validation_fraction must be in"),
                                             ({"validation_fraction": -0.1}, "validation_fraction must be in"),
                                             ({"n_train": 1}, "n_train must be an integer >= 2"),
                                             ({"n_train": 10.5}, "n_train must be an integer >= 2")])
def test_bad_split_settings_are_refused(kwargs, message):
    with pytest.raises(VaelibError, match=message):
        TrainConfig(**kwargs)


def test_new_fields_leave_earlier_cache_keys_alone():
    """Models trained before the fields existed keep their cache entries: defaults are not serialised."""
    plain = TrainConfig(dataset="digits")
    assert "validation_fraction" not in plain.to_dict() and "n_train" not in plain.to_dict()
    held = plain.replace(validation_fraction=0.2, n_train=300)
    assert held.to_dict()["validation_fraction"] == 0.2 and held.to_dict()["n_train"] == 300
    assert TrainConfig.from_dict(held.to_dict()) == held and TrainConfig.from_dict(plain.to_dict()) == plain
    assert len({cache_path(plain), cache_path(held), cache_path(plain.replace(n_train=300))}) == 3


def test_a_model_trains_only_on_its_own_images(digits):
    config = TrainConfig(design="ae", dataset="digits", latent_dim=2, hidden_dims=(32,), epochs=1, n_train=300)
    result = vaelib.train(config, data=digits, progress=False)
    assert result.history.n_train == 300


def test_validation_scores_use_the_held_out_images(digits):
    config = TrainConfig(design="vae", dataset="digits", latent_dim=2, hidden_dims=(32,), epochs=2,
                         validation_fraction=0.2)
    result = vaelib.train(config, data=digits, progress=False)
    on_val = metrics.evaluate(result, digits, groups=("likelihood",), split="validation")
    on_test = metrics.evaluate(result, digits, groups=("likelihood",))
    held_out = validation_view(digits, config).x_test
    expected = metrics.likelihood.reconstruction_errors(result.model, held_out)["bce_nats"]
    assert on_val["recon_bce_nats"] == pytest.approx(expected, rel=1e-6)
    assert on_val["recon_bce_nats"] != on_test["recon_bce_nats"]
    with pytest.raises(VaelibError, match="validation_fraction = 0"):
        metrics.evaluate(vaelib.train(config.replace(validation_fraction=0.0), data=digits, progress=False), digits,
                         groups=("likelihood",), split="validation")


def test_select_picks_the_best_and_flags_the_edge():
    table = pd.DataFrame({"prior/fid": [30.0, 20.0, 25.0], "elbo_nats": [-120.0, -110.0, -100.0]},
                         index=pd.Index([0.1, 0.3, 1.0], name="sigma0"))
    by_fid = select(table, "prior/fid")
    assert by_fid.best == 0.3 and not by_fid.at_edge and by_fid.field == "sigma0"
    by_elbo = select(table, "elbo_nats", maximise=True)
    assert by_elbo.best == 1.0 and by_elbo.at_edge and "at the edge of the grid" in by_elbo.describe()
    assert "0.3: 20.0" in by_fid.describe()
    with pytest.raises(VaelibError, match="no metric 'kid'"):
        select(table, "kid")
    assert Selection("x", "m", False, {1.0: 2.0}).at_edge is False   # one candidate: no edge to speak of


def test_validation_sweep_trains_on_train_minus_validation_and_scores_there(tmp_path, digits):
    base = TrainConfig(design="mean-only", dataset="digits", latent_dim=2, hidden_dims=(32,), epochs=2)
    table = validation_sweep(base, "sigma0", [0.1, 1.0], data=digits, n_samples=300, cache_dir=str(tmp_path),
                             progress=False)
    assert list(table.index) == [0.1, 1.0] and table.index.name == "sigma0"
    assert {"prior/fid", "elbo_nats", "recon_bce_nats"} <= set(table.columns)
    assert all(math.isfinite(v) for v in table["prior/fid"])
    n_val = round(VALIDATION_FRACTION * digits.x_train.shape[0])
    assert table["classifier_accuracy"].notna().all()
    models = sorted((tmp_path / "models").glob("*.pt"))
    assert len(models) == 2
    result = vaelib.load_or_train(base.replace(sigma0=0.1, validation_fraction=VALIDATION_FRACTION), data=digits,
                                  cache_dir=str(tmp_path), progress=False)
    assert result.history.n_train == digits.x_train.shape[0] - n_val
    with pytest.raises(VaelibError, match="repeats values"):
        validation_sweep(base, "sigma0", [0.1, 0.1], data=digits, cache_dir=str(tmp_path))
    with pytest.raises(VaelibError, match="not a TrainConfig field"):
        validation_sweep(base, "temperature", [0.1], data=digits, cache_dir=str(tmp_path))


def test_a_sweep_without_data_trains_on_the_split_its_base_config_names(tmp_path):
    """The candidates train on the base config's own split (its test_fraction and n_points too), so that the
    cached models are the ones ``vaelib.train`` makes of their configs."""
    base = TrainConfig(design="ae", dataset="digits", latent_dim=2, hidden_dims=(16,), epochs=1, test_fraction=0.5)
    validation_sweep(base, "seed", [0], n_samples=200, cache_dir=str(tmp_path), progress=False)
    config = base.replace(validation_fraction=VALIDATION_FRACTION)
    cached = vaelib.load_checkpoint(cache_path(config, tmp_path), expected_config=config)
    assert cached.history.n_test == round(0.5 * 1797)
    fresh = vaelib.train(config, progress=False)
    for name, value in fresh.model.state_dict().items():
        assert torch.equal(cached.model.state_dict()[name], value)
