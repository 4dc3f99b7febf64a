"""Beyond bit-equality: the head-to-head's verdicts do not hang on the numerics (its committed record).

``benchmarks/numerics_robustness.py --reduced`` runs a reduced head-to-head
(:data:`vaelib.study.numerics_runs.REDUCED`: every design on digits, dims 2 and 8, 3 seeds, 10 epochs)
twice in fresh processes, under canonical numerics and under native numerics with MKL's AUTO branch
and two threads, and commits both runs with their provenance to
``book/_generated/numerics_robustness.json`` (about 14 minutes on 2 cores: too long for every test run,
so it is a record, like the studies). This file

* checks that the record is current: made by this training and metrics code (:func:`read_record` refuses
  others), from a committed tree, of the reduced grid;
* tests the record's claim: the two runs really ran under different numerics and differ, every verdict is
  the same, and every headline figure moved by less than its standard deviation over seeds;
* spot-checks the canonical run, whose bits every x86-64 CPU with AVX2 reproduces: a seeded sample of its
  models is retrained into an empty cache and must give the recorded weights, and one of them is evaluated
  again and must give every recorded metric (wall-clock ones aside).

The native run's bits are those of the CPU the provenance names; no other machine reproduces them.
"""
from __future__ import annotations

import json
import math
import random
import re

import pytest

import vaelib
from vaelib import numerics
from vaelib.cache import cache_path
from vaelib.errors import VaelibError
from vaelib.metrics import WALL_CLOCK_METRICS
from vaelib.study import CELLS, numerics_runs, weights_digest
from vaelib.study.runner import main_evaluations, model_record

#: Canonical models retrained from the record (digits, 10 epochs: about a second each).
RETRAINED = 3


@pytest.fixture(scope="module")
def record():
    return numerics_runs.read_record()


@pytest.fixture(scope="module")
def runs(record):
    return record["runs"]


def test_the_record_is_of_the_reduced_grid_from_a_committed_tree(record):
    meta = record["provenance"]
    assert record["settings"] == numerics_runs.REDUCED, "the record ran other settings: rewrite it"
    assert re.fullmatch(r"[0-9a-f]{40}", meta["git_commit"]), (
        f"git_commit {meta['git_commit']!r}: rewrite the record from a committed tree with "
        f"`{numerics_runs.RECORD_COMMAND}`")
    assert meta["device"].startswith("cpu: ") and meta["seconds"] > 0
    assert list(record["runs"]) == list(numerics_runs.RUNS)


def test_a_stale_or_missing_record_is_refused_naming_the_command(tmp_path):
    with pytest.raises(VaelibError, match=r"no numerics robustness record .* benchmarks/numerics_robustness.py"):
        numerics_runs.read_record(tmp_path / "missing.json")
    stale = json.loads(numerics_runs.RECORD_PATH.read_text())
    stale["provenance"]["metrics_version"] -= 1
    (tmp_path / "stale.json").write_text(json.dumps(stale))
    with pytest.raises(VaelibError, match=r"made by other code \(metrics_version .* --reduced"):
        numerics_runs.read_record(tmp_path / "stale.json")


def test_the_two_runs_really_ran_under_different_numerics(runs):
    assert runs["canonical"]["numerics"].startswith("numerics: canonical")
    assert "bit-identical to the book" in runs["canonical"]["numerics"]
    native = runs["native, MKL AUTO"]["numerics"]
    assert native.startswith("numerics: native") and "MKL branch AUTO" in native
    a, b = ([r.get("recon_bce_nats") for r in run["records"]] for run in runs.values())
    assert a != b, "the numerics changed nothing: nothing was tested"


def test_every_verdict_is_the_same_under_other_numerics(runs):
    changed = numerics_runs.verdict_changes_between(runs)
    assert len(runs["canonical"]["verdicts"]) > 20
    assert not changed, f"verdicts that flip with the numerics (canonical, native): {changed}"


def test_headline_figures_move_less_than_their_spread_over_seeds(runs):
    moves = numerics_runs.headline_moves(runs)
    assert len(moves) > 50
    worst = moves[0]
    print("\nlargest moves, in seed standard deviations:", [(round(m, 2), metric, key) for m, metric, key in moves[:6]])
    assert worst[0] < 1.0, f"moved by {worst[0]:.2f} seed standard deviations: {worst[1]} at {worst[2]}"


def test_headline_moves_are_measured_in_seed_standard_deviations():
    """A constructed case with a known answer: means 1.0 and 1.5, seed SD 0.5 -> a move of 1.0 SD."""
    first = [{"design": "vae", "latent_dim": 2, "seed": s, "recon_bce_nats": v, "elbo_nats": math.nan}
             for s, v in enumerate((0.5, 1.0, 1.5))]
    second = [{**r, "recon_bce_nats": r["recon_bce_nats"] + 0.5} for r in first]
    runs = {"a": {"records": first}, "b": {"records": second}}
    moves = numerics_runs.headline_moves(runs, ("recon_bce_nats", "elbo_nats"))
    assert moves == [(pytest.approx(1.0), "recon_bce_nats", ("vae", 2))]   # the NaN metric is left out
    second[0]["elbo_nats"] = 1.0
    with pytest.raises(VaelibError, match="missing in one run only"):
        numerics_runs.headline_moves(runs, ("recon_bce_nats", "elbo_nats"))
    with pytest.raises(VaelibError, match="different claims"):
        numerics_runs.verdict_changes_between({"a": {"verdicts": {"G1": "confirmed"}}, "b": {"verdicts": {}}})


def _drawn(runs: dict) -> list[dict]:
    models = [r for r in runs["canonical"]["records"] if r.get("config") and r["design"] in CELLS]
    return random.Random("numerics-robustness").sample(models, RETRAINED)


def _canonical_here() -> None:
    here = numerics.current()
    if here.mode != "canonical" or not here.bit_identical:
        pytest.skip(f"this process runs {here.describe()}: source scripts/numerics_env.sh to retrain bit for bit")


def test_a_retrained_sample_of_the_canonical_run_reproduces_its_weights_and_metrics(record, runs, digits,
                                                                                    private_cache):
    _canonical_here()
    drawn = _drawn(runs)
    for row in drawn:
        config = vaelib.TrainConfig.from_dict(json.loads(row["config"]))
        assert not cache_path(config).exists()
        result = vaelib.load_or_train(config, data=digits, progress=False)
        assert (weights_digest(result.model), result.history.epochs) == (row["weights_sha256"],
                                                                        row["epochs_trained"]), row["design"]
    row = drawn[0]
    again = model_record(row["design"], vaelib.TrainConfig.from_dict(json.loads(row["config"])), digits,
                         main_evaluations(record["settings"]))
    compared = [k for k in row if k not in WALL_CLOCK_METRICS and isinstance(row[k], float)]
    assert len(compared) > 30
    differ = {k: (row[k], again[k]) for k in compared
              if not (row[k] == again[k] or (math.isnan(row[k]) and math.isnan(again[k])))}
    assert not differ, f"{row['design']} d={row['latent_dim']} seed {row['seed']}: {differ}"
