"""Checkpoints round-trip, are written atomically, and bad files give a clear error."""
import os

import pytest
import torch

from vaelib import TrainConfig, load_checkpoint, load_or_train, save_checkpoint, train
from vaelib.cache import cache_path
from vaelib.errors import CheckpointError


def _digits():
    import vaelib

    return vaelib.load_dataset("digits")


@pytest.fixture(scope="module")
def trained():
    cfg = TrainConfig(design="vae", dataset="digits", latent_dim=3, hidden_dims=(32,), epochs=2)
    return train(cfg, _digits(), progress=False)


def test_round_trip_restores_weights_config_and_history(trained, tmp_path):
    path = save_checkpoint(trained, tmp_path / "sub" / "m.pt")
    loaded = load_checkpoint(path)
    assert loaded.config == trained.config
    assert loaded.history.to_dict() == trained.history.to_dict()
    for k, v in trained.model.state_dict().items():
        assert torch.equal(v, loaded.model.state_dict()[k])
    x = torch.rand(5, 64)
    torch.testing.assert_close(loaded.model.encode(x).mean, trained.model.encode(x).mean)
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]  # no temporary file left behind


def test_failed_save_leaves_the_old_checkpoint_intact(trained, tmp_path, monkeypatch):
    path = save_checkpoint(trained, tmp_path / "m.pt")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(trained, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_truncated_checkpoint(trained, tmp_path):
    path = save_checkpoint(trained, tmp_path / "m.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(path)


def test_garbage_and_missing_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(os.urandom(1000))
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"hello": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a vaelib checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "vaelib-checkpoint", "x": Evil()}, path)
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(path)


def test_config_mismatch(trained, tmp_path):
    path = save_checkpoint(trained, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="different config.*latent_dim"):
        load_checkpoint(path, expected_config=trained.config.replace(latent_dim=5))


@pytest.mark.parametrize("field, value", [("n_train", 500), ("validation_fraction", 0.2)])
def test_config_mismatch_in_a_field_left_out_at_its_default(trained, tmp_path, field, value):
    """``to_dict`` omits n_train and validation_fraction at their defaults; a mismatch there is still named."""
    path = save_checkpoint(trained, tmp_path / "m.pt")
    expected = trained.config.replace(**{field: value})
    default = TrainConfig.OPTIONAL_FIELDS[field]
    with pytest.raises(CheckpointError, match=rf"different config: \{{'{field}': \({default}, {value}\)\}}"):
        load_checkpoint(path, expected_config=expected)
    trained_with = save_checkpoint(train(expected.replace(epochs=0), _digits(), progress=False), tmp_path / "n.pt")
    with pytest.raises(CheckpointError, match=rf"different config: .*'{field}': \({value}, {default}\)"):
        load_checkpoint(trained_with, expected_config=trained.config)


def test_weights_that_do_not_fit_the_config(trained, tmp_path):
    path = save_checkpoint(trained, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"] = trained.config.replace(latent_dim=5).to_json()
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="weights do not match"):
        load_checkpoint(path)


def test_load_or_train_trains_once_then_loads(tmp_path, monkeypatch):
    import vaelib.cache

    cfg = TrainConfig(design="ae", dataset="digits", latent_dim=2, hidden_dims=(16,), epochs=1)
    first = load_or_train(cfg, cache_dir=tmp_path, progress=False)
    assert cache_path(cfg, tmp_path).exists()
    calls = []
    monkeypatch.setattr(vaelib.cache, "train", lambda *a, **k: calls.append(1))
    second = load_or_train(cfg, cache_dir=tmp_path)
    assert calls == []
    assert second.history.to_dict() == first.history.to_dict()
    assert cache_path(cfg, tmp_path) != cache_path(cfg.replace(seed=1), tmp_path)


def test_default_cache_dir_comes_from_the_environment(private_cache):
    cfg = TrainConfig(design="ae", dataset="digits")
    assert str(cache_path(cfg)).startswith(str(private_cache))
