"""vaelib.store and the three caches on it: keys that do not move, atomic writes, leftovers cleaned at start."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import vaelib
from vaelib import TrainConfig, metrics, numerics, store
from vaelib.cache import CACHE_VERSION, cache_path, load_or_train
from vaelib.errors import CheckpointError
from vaelib.metrics import classifier as classifier_mod


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ---- the root and the keys ---------------------------------------------------------------------


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VAELIB_CACHE_DIR", str(tmp_path / "a"))
    assert store.cache_root() == tmp_path / "a"
    assert store.cache_root(tmp_path / "b") == tmp_path / "b"
    monkeypatch.delenv("VAELIB_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert store.cache_root() == tmp_path / "xdg" / "vaelib"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert store.cache_root() == tmp_path / "home" / ".cache" / "vaelib"


def test_a_key_is_the_sha256_of_the_canonical_json_of_its_parts():
    parts = {"b": (1, 2), "a": Path("x")}
    expected = hashlib.sha256(b'{"a": "x", "b": [1, 2]}').hexdigest()
    assert store.key(parts, length=64) == expected and store.key(parts) == expected[:16]
    assert store.key(parts, b"raw", length=20) == hashlib.sha256(b'{"a": "x", "b": [1, 2]}raw').hexdigest()[:20]
    assert store.key({"a": "x", "b": [1, 2]}) == store.key(parts)   # key order and tuples do not matter
    assert store.key({"a": 1}) != store.key({"a": 2})


def test_the_model_cache_keeps_the_path_of_every_model_trained_before(tmp_path):
    """``<root>/models/<design>-<dataset>-z<dim>-<16 hex of "<version>:<numerics>:<config JSON>">.pt``, as since 0.1."""
    config = TrainConfig(design="wae-mmd", dataset="digits", latent_dim=8, seed=3, n_train=300)
    text = f"{CACHE_VERSION}:{numerics.current().cache_tag}:{config.to_json()}"
    name = f"wae-mmd-digits-z8-{hashlib.sha256(text.encode()).hexdigest()[:16]}.pt"
    assert cache_path(config, tmp_path) == tmp_path / "models" / name
    assert cache_path(config) == store.cache_root() / "models" / name


def test_the_metric_and_classifier_caches_keep_their_keys(tmp_path, digits):
    """Classifiers computed before the store keep their files (the keys of vaelib 0.4); a metric record's key is 0.4's
    plus the model cache's version, so that a change to training never serves the record of an older model, and the
    evaluation kernels' version, so that a record computed on older kernels is not served either."""
    config = TrainConfig(dataset="digits")
    kwargs = {"n_samples": 300, "groups": ("likelihood",)}
    src = json.dumps({"v": metrics.METRICS_VERSION, "kernels": metrics.EVALUATION_KERNELS, "cache_version": CACHE_VERSION,
                      "numerics": numerics.current().cache_tag,
                      "config": config.to_dict(), "data": "digits", "n_test": 359,
                      "args": {"n_samples": 300, "groups": ["likelihood"]}}, sort_keys=True, default=str)
    assert metrics.evaluation_cache_path(config, digits, cache_dir=tmp_path, **kwargs) == \
        tmp_path / "metrics" / f"vae-{hashlib.sha256(src.encode()).hexdigest()[:20]}.json"
    meta = {"version": classifier_mod.CLASSIFIER_VERSION, "numerics": numerics.current().cache_tag,
            "dataset": "digits", "seed": 1, "hidden": list(classifier_mod.HIDDEN_DIMS), "epochs": classifier_mod.EPOCHS,
            "batch_size": classifier_mod.BATCH_SIZE, "lr": classifier_mod.LR, "n_classes": 10, "image_shape": [8, 8],
            "shape": list(digits.x_train.shape)}
    h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    h.update(digits.x_train.numpy().tobytes())
    h.update(digits.y_train.numpy().tobytes())
    assert classifier_mod.classifier_cache_path(digits, seed=1, cache_dir=tmp_path) == \
        tmp_path / "classifiers" / f"digits-{h.hexdigest()[:16]}.pt"



def test_a_metric_record_is_not_served_for_a_model_that_training_code_changed(tmp_path, digits, monkeypatch):
    """Raising the model cache's version retrains every model, so it must also file their records elsewhere."""
    config = TrainConfig(dataset="digits")
    before = metrics.evaluation_cache_path(config, digits, cache_dir=tmp_path, groups=("likelihood",))
    monkeypatch.setattr(metrics, "CACHE_VERSION", CACHE_VERSION + 1)
    after = metrics.evaluation_cache_path(config, digits, cache_dir=tmp_path, groups=("likelihood",))
    assert after != before and after.parent == before.parent

# ---- atomic writes -----------------------------------------------------------------------------


class _Unpicklable:
    def __reduce__(self):
        raise RuntimeError("crash in the middle of the payload")


def _crash_bytes(path: Path) -> None:
    def writer(f):
        f.write(b"half of a new file")
        raise RuntimeError("crash in the middle of the payload")

    store.write_atomic(path, writer)


def _crash_json(path: Path) -> None:
    store.write_json(path, {"fine": 1.0, "then": _Unpicklable()})


def _crash_torch(path: Path) -> None:
    store.write_torch(path, {"weights": torch.zeros(1000), "then": _Unpicklable()})


@pytest.mark.parametrize("crash", [_crash_bytes, _crash_json, _crash_torch])
def test_a_write_that_fails_midway_leaves_the_previous_file_and_no_temporary(tmp_path, crash):
    path = tmp_path / "entry"
    store.write_bytes(path, b"the previous file")
    with pytest.raises((RuntimeError, TypeError)):
        crash(path)
    assert path.read_bytes() == b"the previous file"
    assert _files(tmp_path) == ["entry"]


def test_writes_round_trip_and_name_their_temporary_files_by_process(tmp_path, monkeypatch):
    assert json.loads(store.write_json(tmp_path / "sub" / "r.json", {"fid": 1.5}).read_text()) == {"fid": 1.5}
    weights = {"w": torch.arange(6.0)}
    assert torch.equal(torch.load(store.write_torch(tmp_path / "m.pt", weights), weights_only=True)["w"], weights["w"])
    seen = []
    store.write_atomic(tmp_path / "x.bin", lambda f: seen.extend(os.listdir(tmp_path)))
    temporary = [name for name in seen if name.endswith(".tmp")]
    assert len(temporary) == 1 and temporary[0].startswith(f".x.bin.{os.getpid()}-")


# ---- leftovers ---------------------------------------------------------------------------------

#: A process that starts an atomic write into argv[1], says so, and hangs in the middle of it.
HANGING_WRITER = r"""
import sys, time
from vaelib import store
def writer(f):
    f.write(b"half")
    f.flush()
    print("writing", flush=True)
    time.sleep(600)
store.write_atomic(sys.argv[1], writer)
"""


def test_leftovers_of_a_killed_process_are_removed_when_the_folder_is_first_used(tmp_path):
    models = tmp_path / "models"
    store.write_bytes(models / "done.pt", b"complete")
    proc = subprocess.Popen([sys.executable, "-c", HANGING_WRITER, str(models / "killed.pt")], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    leftovers = [p for p in _files(models) if p.endswith(".tmp")]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".killed.pt.{proc.pid}-")
    mine = models / f".busy.pt.{os.getpid()}-abc123.tmp"        # a write in progress in a running process
    mine.write_bytes(b"")
    old_metric = models / "tmpk3j4_9x.tmp"                     # vaelib 0.4's metric temporary, left long ago
    old_metric.write_bytes(b"{")
    os.utime(old_metric, (time.time() - 2 * store.LEGACY_TEMPORARY_AGE,) * 2)
    recent_legacy = models / ".m.pt.q8w7e6r5.tmp"              # an older vaelib writing at this moment
    recent_legacy.write_bytes(b"")

    assert store.cache_folder("models", tmp_path) == models    # the first use in this process cleans
    assert _files(models) == sorted([".busy.pt.%d-abc123.tmp" % os.getpid(), ".m.pt.q8w7e6r5.tmp", "done.pt"])
    assert (models / "done.pt").read_bytes() == b"complete"
    mine.unlink()
    (models / f".again.pt.{proc.pid}-x.tmp").write_bytes(b"")
    store.cache_folder("models", tmp_path)                     # later uses do not scan the folder again
    assert len(_files(models)) == 3
    assert store.clean(models) == [models / f".again.pt.{proc.pid}-x.tmp"]   # an explicit clean does
    assert store.clean(tmp_path / "missing") == []


# ---- the caches on the store: damaged entries raise as before ----------------------------------


def test_a_damaged_model_in_the_cache_raises_checkpoint_error(tmp_path):
    config = TrainConfig(design="ae", dataset="digits", latent_dim=2, hidden_dims=(8,), epochs=1)
    path = cache_path(config, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x80\x02 not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupted or truncated.*delete it and train again"):
        load_or_train(config, cache_dir=tmp_path, progress=False)


def test_a_damaged_metric_record_is_computed_again_and_replaced(tmp_path, digits, monkeypatch):
    config = TrainConfig(design="ae", dataset="digits", latent_dim=2, hidden_dims=(8,), epochs=1)
    result = vaelib.train(config, digits, progress=False)
    path = metrics.evaluation_cache_path(config, digits, cache_dir=tmp_path, groups=("likelihood",))
    path.parent.mkdir(parents=True)
    path.write_text('{"recon_bce_nats": 12')                    # truncated
    record = metrics.evaluate_cached(result, digits, cache_dir=tmp_path, groups=("likelihood",))
    assert json.loads(path.read_text()) == record and "recon_bce_nats" in record
    assert _files(path.parent) == [path.name]


def test_a_damaged_classifier_raises_checkpoint_error(tmp_path, digits, monkeypatch):
    path = classifier_mod.classifier_cache_path(digits, seed=0, cache_dir=tmp_path)
    store.write_torch(path, {"dim": 64, "n_classes": 10})      # no state_dict
    monkeypatch.setattr(classifier_mod, "train_classifier", lambda *a, **k: pytest.fail("must raise, not retrain"))
    with pytest.raises(CheckpointError, match=f"cached classifier {path} is corrupted or truncated"):
        classifier_mod.load_or_train_classifier(digits, seed=0, cache_dir=tmp_path)
