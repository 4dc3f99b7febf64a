"""CI spot-check of the committed study records: a few models of every study, retrained, give the same bits.

The studies (``python -m vaelib study NAME``) run for hours, so CI cannot rerun them; it retrains a
seeded sample of their models instead. A *study* is every folder under ``book/_generated/studies``
(nested ones included, e.g. ``generality/conv``) that holds a ``records.csv`` or a
``provenance.json``; one with only one of the two is a broken study and fails
(:func:`vaelib.study.read_study`), and a folder with neither is not a study.

For every study:

* its provenance is read with :func:`vaelib.study.read_study` (which already refuses missing files and
  records made by other caches, metrics or numerics), has every field that
  :func:`vaelib.study.provenance` writes, names its own folder as its study, and was written from a
  committed tree (its ``git_commit`` does not end in ``+dirty``);
* a sample of at most :data:`PER_STUDY` records, drawn with ``random.Random(<study name>)`` (the same
  records on every run while the records stay the same), is retrained from each record's ``config``
  into an empty cache with :func:`vaelib.load_or_train`, and the digest of the weights
  (:func:`vaelib.study.weights_digest`, the function the study itself used) and the epochs trained
  must equal the committed ``weights_sha256`` and ``epochs_trained``.

Which records are drawn: only MLP-trunk models (a conv model costs about 30 MLP models), and only as
many as fit into :data:`TOTAL_SECONDS` shared equally by the studies found. The cost of a record is
estimated from its record as ``epochs_trained x n_train`` training images plus, when the config holds
a validation split out, one forward pass over it per epoch, at :data:`IMAGES_PER_SECOND` (the MLP on
28x28 images on one core; smaller images only make it an overestimate). Early-stopped records of the
budget study (``epochs_trained`` < ``epochs``) are drawn like any other: retraining must reproduce the
early stop, which the epochs check tests; a record whose (early-stopped or full) training does not fit
the study's share is left out by cost, not failed. A study with no record that fits (the conv variant)
skips with a message that says so; so does a study whose provenance says it was made on a GPU or
under non-canonical numerics, whose bits no CPU reproduces.

Under canonical numerics (``source scripts/numerics_env.sh``) the weights are bit-identical on any
x86-64 CPU with AVX2; under other numerics the retraining test skips and says why.
"""
from __future__ import annotations

import json
import random
import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

import vaelib
from vaelib import numerics
from vaelib.study import STUDIES_DIR, provenance, read_study, weights_digest

#: Seconds of training the whole retraining test may spend, on one core, shared equally by the studies.
TOTAL_SECONDS = 120.0
#: At most this many records of one study are retrained.
PER_STUDY = 3
#: Training throughput of the MLP on mnist5k's 28x28 images on one core of the book's machine (images per second).
IMAGES_PER_SECOND = 15_000.0
#: A validation image costs a forward pass only: about this share of a training image.
VALIDATION_SHARE = 1 / 3


def study_folders(root: Path = STUDIES_DIR) -> dict[str, Path]:
    """Every study under ``root`` by name (its folder relative to ``root``, e.g. ``generality/conv``): the folders
    with a ``records.csv`` or a ``provenance.json``."""
    folders = {p.parent for pattern in ("records.csv", "provenance.json") for p in root.rglob(pattern)}
    return {f.relative_to(root).as_posix(): f for f in sorted(folders)}


STUDIES = study_folders()


def estimated_seconds(row: dict) -> float:
    """The retraining seconds of the record ``row`` at :data:`IMAGES_PER_SECOND` (see the module docstring)."""
    config = json.loads(row["config"])
    epochs, n_train = float(row["epochs_trained"]), float(row["n_train"])
    fraction = float(config.get("validation_fraction") or 0.0)
    validation = n_train * fraction / (1 - fraction) * VALIDATION_SHARE
    return epochs * (n_train + validation) / IMAGES_PER_SECOND


def sample_records(name: str, records: pd.DataFrame, budget: float) -> tuple[list[int], dict[str, int]]:
    """The rows (index labels of ``records``) of study ``name`` to retrain, and what was left out and why.

    The models (rows with a config) with an MLP trunk are shuffled with ``random.Random(name)``; rows are
    taken in that order while their estimated seconds fit in what is left of ``budget``, at most
    :data:`PER_STUDY`. Returns (the rows, {reason: number of rows left out for it}).
    """
    left_out = {"not a model (no config)": 0, "not the MLP trunk": 0, "over the budget": 0}
    candidates = []
    for index, row in records.iterrows():
        if not isinstance(row.get("config"), str):
            left_out["not a model (no config)"] += 1
        elif json.loads(row["config"]).get("trunk", "mlp") != "mlp":
            left_out["not the MLP trunk"] += 1
        else:
            candidates.append(index)
    random.Random(name).shuffle(candidates)
    chosen, spent = [], 0.0
    for index in candidates:
        cost = estimated_seconds(records.loc[index].to_dict())
        if len(chosen) < PER_STUDY and spent + cost <= budget:
            chosen.append(index)
            spent += cost
        else:
            left_out["over the budget"] += 1
    return chosen, left_out


def mismatches(committed: pd.DataFrame, retrained: dict[int, tuple[str, int]]) -> list[str]:
    """One line per retrained record whose weights digest or epochs differ from the ``committed`` records
    (``retrained``: row index -> (weights digest, epochs trained)); empty when every one matches."""
    lines = []
    for index, (digest, epochs) in retrained.items():
        row = committed.loc[index]
        what = f"record {index} ({row['design']}, latent dim {int(row['latent_dim'])}, seed {int(row['seed'])})"
        if digest != row["weights_sha256"]:
            lines.append(f"{what}: weights {digest}, committed {row['weights_sha256']}")
        if epochs != int(row["epochs_trained"]):
            lines.append(f"{what}: {epochs} epochs trained, committed {int(row['epochs_trained'])}")
    return lines


def _records(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "records.csv", index_col=0)


def _provenance(folder: Path) -> dict:
    return json.loads((folder / "provenance.json").read_text())


def _plan() -> list[tuple[str, int | None, str]]:
    """(study, row, reason) for the retraining test: one per drawn row, or (study, None, why none) for a study
    none of whose records is drawn. Read at collection, so a broken study is reported by the provenance test."""
    plan = []
    budget = TOTAL_SECONDS / max(1, len(STUDIES))
    for name, folder in STUDIES.items():
        try:
            rows, left_out = sample_records(name, _records(folder), budget)
        except (OSError, ValueError, KeyError) as error:   # no or unreadable records: the provenance test fails
            plan.append((name, None, f"its records cannot be read ({error})"))
            continue
        reasons = ", ".join(f"{n} {why}" for why, n in left_out.items() if n)
        plan += [(name, i, "") for i in rows] or [(name, None, f"no record fits its {budget:.0f} s share of the "
                                                                 f"budget as an MLP model ({reasons})")]
    return plan


PLAN = _plan()


def test_the_head_to_head_is_among_the_studies_found():
    assert "head-to-head" in STUDIES, f"no committed head-to-head study under {STUDIES_DIR}: {sorted(STUDIES)}"


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_study_provenance_is_complete_and_read_by_read_study(name):
    folder = STUDIES[name]
    # read_study refuses a missing provenance.json or records.csv and other caches, metrics or numerics
    tables, meta = read_study(folder, ("records",), refresh=f"python -m vaelib study {name.split('/')[0]}")
    required = set(provenance(name, 0.0, "python -m vaelib study x"))
    missing = sorted(required - set(meta))
    assert not missing, f"{name}: provenance.json lacks {missing}"
    assert meta["study"] == name, f"{folder}/provenance.json says study {meta['study']!r}"
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", meta["git_commit"]), f"{name}: git_commit {meta['git_commit']!r}"
    records = tables["records"]
    models = records[records["config"].notna()]
    assert len(models), f"{name}: no model records"
    bad = [h for h in models["weights_sha256"] if not re.fullmatch(r"[0-9a-f]{16}", str(h))]
    assert not bad, f"{name}: weights_sha256 not 16 hex digits: {bad[:5]}"
    assert (models["epochs_trained"] >= 1).all() and models["epochs_trained"].notna().all()


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_study_records_were_written_from_a_committed_tree(name):
    meta = _provenance(STUDIES[name])
    # FAILS while a study's provenance.json says "+dirty" (the head-to-head's did when this test was written):
    # records must be rewritten from a committed checkout, not edited.
    assert not meta["git_commit"].endswith("+dirty"), (
        f"{name}: provenance.json git_commit {meta['git_commit']} ends in +dirty: the records were written from a "
        f"tree with uncommitted vaelib changes; rerun `python -m vaelib study {name.split('/')[0]}` from a commit")


@pytest.fixture(scope="module")
def datasets():
    loaded: dict[str, vaelib.Dataset] = {}

    def get(name: str) -> vaelib.Dataset:
        if name not in loaded:
            loaded[name] = vaelib.load_dataset(name)
        return loaded[name]

    return get


@pytest.mark.parametrize("name, index, reason", PLAN,
                         ids=[f"{n}-{'none' if i is None else i}" for n, i, _ in PLAN])
def test_a_retrained_sample_of_the_study_reproduces_its_weights_and_epochs(name, index, reason, datasets, tmp_path,
                                                                           monkeypatch):
    if index is None:
        pytest.skip(f"{name}: nothing retrained: {reason}")
    folder = STUDIES[name]
    meta = _provenance(folder)
    if meta.get("numerics_mode") != "canonical":
        pytest.skip(f"{name}: made under {meta.get('numerics_mode')!r} numerics, not canonical: no CPU reproduces "
                    f"its bits")
    if not str(meta.get("device", "")).startswith("cpu"):
        pytest.skip(f"{name}: made on {meta.get('device')!r}, not a CPU: no CPU reproduces its bits")
    if "NOT bit-identical" in str(meta.get("numerics", "")):
        pytest.skip(f"{name}: its provenance says its numerics were not bit-identical: {meta['numerics']}")
    here = numerics.current()
    if here.mode != "canonical" or not here.bit_identical:
        pytest.skip(f"this process runs {here.describe()}: source scripts/numerics_env.sh to retrain bit for bit")
    row = _records(folder).loc[index]
    monkeypatch.setenv("VAELIB_CACHE_DIR", str(tmp_path))   # an empty cache: the model is trained, not loaded
    config = vaelib.TrainConfig.from_dict(json.loads(row["config"]))
    from vaelib.cache import cache_path

    assert not cache_path(config).exists()
    start = time.perf_counter()
    result = vaelib.load_or_train(config, data=datasets(config.dataset), progress=False)
    seconds = time.perf_counter() - start
    assert cache_path(config).is_file(), "the model was not trained into the empty cache"
    found = mismatches(_records(folder), {index: (weights_digest(result.model), result.history.epochs)})
    estimate = estimated_seconds(row.to_dict())
    assert not found, f"{name}: {found} (retrained in {seconds:.1f} s, estimated {estimate:.1f} s)"


def test_the_comparison_reports_a_corrupted_hash_and_epochs(tmp_path):
    """The checker itself: a copy of a study with one digest and one epoch count altered must be reported, and
    only those (the "retrained" values are the committed ones, so no training is needed)."""
    folder = STUDIES["head-to-head"]
    copy = tmp_path / "head-to-head"
    shutil.copytree(folder, copy)
    committed = _records(folder)
    models = [i for i in committed.index if isinstance(committed.loc[i, "config"], str)]
    retrained = {i: (committed.loc[i, "weights_sha256"], int(committed.loc[i, "epochs_trained"])) for i in models}
    assert mismatches(_records(copy), retrained) == []
    corrupted = _records(copy)
    first, second = models[3], models[7]
    digest = corrupted.loc[first, "weights_sha256"]
    corrupted.loc[first, "weights_sha256"] = ("0" if digest[0] != "0" else "1") + digest[1:]
    corrupted.loc[second, "epochs_trained"] = corrupted.loc[second, "epochs_trained"] - 1
    corrupted.to_csv(copy / "records.csv")
    found = mismatches(_records(copy), retrained)
    assert len(found) == 2, found
    assert found[0].startswith(f"record {first} ") and f"committed {corrupted.loc[first, 'weights_sha256']}" in found[0]
    assert found[1].startswith(f"record {second} ") and "epochs trained" in found[1]


def test_the_sample_is_deterministic_mlp_only_and_within_the_budget():
    records = _records(STUDIES["head-to-head"])
    budget = TOTAL_SECONDS / max(1, len(STUDIES))
    rows, left_out = sample_records("head-to-head", records, budget)
    assert rows and (rows, left_out) == sample_records("head-to-head", records, budget)
    assert len(rows) <= PER_STUDY
    assert sum(estimated_seconds(records.loc[i].to_dict()) for i in rows) <= budget
    assert left_out["not a model (no config)"] == int(records["config"].isna().sum())
    conv = records.copy()
    conv["config"] = [c if not isinstance(c, str) else json.dumps({**json.loads(c), "trunk": "conv"})
                      for c in conv["config"]]
    assert sample_records("head-to-head", conv, budget)[0] == []
    assert sample_records("head-to-head", records, 1.0)[0] == []   # one second fits no model


def test_every_folder_with_records_or_provenance_is_a_study_nested_ones_included(tmp_path):
    (tmp_path / "head-to-head").mkdir()
    (tmp_path / "head-to-head" / "records.csv").write_text("")
    (tmp_path / "head-to-head" / "provenance.json").write_text("{}")
    (tmp_path / "generality" / "conv").mkdir(parents=True)
    (tmp_path / "generality" / "conv" / "provenance.json").write_text("{}")   # half a study: found, so it fails
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "summary.md").write_text("")                       # neither file: not a study
    assert list(study_folders(tmp_path)) == ["generality/conv", "head-to-head"]
