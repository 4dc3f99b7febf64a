"""metrics.evaluate: one flat record per model, the same keys for every design, clear errors."""
import math

import pytest
import torch

import vaelib
from vaelib import TrainConfig, metrics, train
from vaelib.errors import UnknownNameError, VaelibError
from vaelib.metrics.registry import PER_SAMPLER


@pytest.fixture(scope="module")
def trained(digits_data):
    out = {}
    for design in ("ae", "vae"):
        cfg = TrainConfig(design=design, dataset="digits", latent_dim=4, hidden_dims=(64,), epochs=3)
        out[design] = train(cfg, digits_data, progress=False)
    return out


@pytest.fixture(scope="module")
def digits_data():
    return vaelib.load_dataset("digits")


@pytest.fixture(scope="module")
def clf(digits_data):
    from vaelib.metrics.classifier import train_classifier

    return train_classifier(digits_data, seed=0)


def _declared(key: str) -> str:
    """The name under which a record's key is declared: ``prior/fid`` -> ``<sampler>/fid``."""
    return PER_SAMPLER + key.split("/", 1)[1] if "/" in key else key


def test_record_is_flat_finite_and_documented(trained, digits_data, clf):
    rec = metrics.evaluate(trained["vae"], digits_data, feature_classifier=clf, n_samples=300)
    assert all(isinstance(v, float) and math.isfinite(v) for v in rec.values())
    documented = set(metrics.METRIC_DOCS)
    for key in rec:
        assert _declared(key) in documented, f"{key} is not in METRIC_DOCS"
    for s in ("prior", "gaussian", "gmm"):
        assert 0 <= rec[f"{s}/precision"] <= 1 and rec[f"{s}/fid"] >= 0
    assert rec["iwae_nats"] >= rec["elbo_nats"] - 0.5
    assert rec["mi_nats"] <= rec["mi_ceiling_nats"] + 1e-6
    assert rec["samples_per_second"] > 0


def test_deterministic_designs_get_the_labelled_bound_not_an_elbo(trained, digits_data, clf):
    rec = metrics.evaluate(trained["ae"], digits_data, feature_classifier=clf, n_samples=300,
                           groups=("likelihood", "latent"))
    assert "det_bound_nats" in rec and "elbo_nats" not in rec and "mi_nats" not in rec
    assert "NOT a VAE ELBO" in metrics.METRIC_DOCS["det_bound_nats"]


def test_same_seed_same_record(trained, digits_data, clf):
    a = metrics.evaluate(trained["vae"], digits_data, feature_classifier=clf, n_samples=300, seed=3)
    b = metrics.evaluate(trained["vae"], digits_data, feature_classifier=clf, n_samples=300, seed=3)
    assert a == b


def test_records_table_has_a_row_per_label():
    table = metrics.records_table({"vae": {"fid": 1.0, "kid": 0.5}, "ae": {"fid": 10.0}})
    assert list(table.index) == ["vae", "ae"] and list(table.columns) == ["fid", "kid"]
    assert table.loc["ae", "fid"] == 10.0 and math.isnan(table.loc["ae", "kid"])


def test_sample_quality_table_puts_the_real_floor_under_the_samplers():
    rec = {f"{s}/{k}": float(i * 10 + j) for i, s in enumerate(("prior", "gmm")) for j, k in enumerate(("fid", "kid"))}
    rec.update(real_fid_floor=1.5)
    table = metrics.sample_quality_table(rec, samplers=("prior", "gmm"), stats=("fid", "kid"))
    assert list(table.index) == ["prior", "gmm", "real (floor)"]
    assert table.loc["gmm", "kid"] == 11.0 and table.loc["real (floor)", "fid"] == 1.5
    assert math.isnan(table.loc["real (floor)", "kid"])
    with pytest.raises(VaelibError, match="gaussian"):
        metrics.sample_quality_table(rec, samplers=("gaussian",))

def test_evaluate_cached_returns_the_same_record_without_recomputing(trained, digits_data, clf, tmp_path,
                                                                    monkeypatch):
    first = metrics.evaluate_cached(trained["ae"], digits_data, cache_dir=tmp_path, groups=("latent",))
    monkeypatch.setattr(metrics, "evaluate", lambda *a, **k: pytest.fail("recomputed"))
    assert metrics.evaluate_cached(trained["ae"], digits_data, cache_dir=tmp_path, groups=("latent",)) == first


def test_bad_input(trained, digits_data, clf):
    with pytest.raises(UnknownNameError, match="unknown sampler 'flow'"):
        metrics.evaluate(trained["vae"], digits_data, samplers=("flow",), feature_classifier=clf)
    with pytest.raises(UnknownNameError, match="unknown metric group 'speed'"):
        metrics.evaluate(trained["vae"], digits_data, groups=("speed",))
    mnist_like = vaelib.load_dataset("two-moons", n_points=200)
    with pytest.raises(VaelibError, match="expects 64 features"):
        metrics.evaluate(trained["vae"], mnist_like)
    with pytest.raises(VaelibError, match="FID needs more samples"):
        metrics.evaluate(trained["vae"], digits_data, feature_classifier=clf, n_samples=50, groups=("samples",))
    broken = TrainConfig(design="ae", dataset="digits", latent_dim=4, hidden_dims=(64,), epochs=0)
    model = train(broken, digits_data, progress=False)
    with torch.no_grad():
        model.model.to_code.bias.fill_(float("nan"))
    with pytest.raises(VaelibError, match="NaN"):
        metrics.evaluate(model, digits_data, feature_classifier=clf, groups=("latent",))


def test_the_code_space_group_is_asked_for_by_name_and_documented(trained, digits_data):
    """'code_space' is not a default group (records cached before it existed stay valid); asked for, it is complete."""
    assert "code_space" not in metrics.GROUPS and "code_space" in metrics.EXTRA_GROUPS
    latent_only = metrics.evaluate(trained["vae"], digits_data, groups=("latent",))
    assert "agg_c2st_accuracy" not in latent_only
    for design, model in trained.items():
        rec = metrics.evaluate(model, digits_data, groups=("code_space",))
        assert set(rec) == {"agg_c2st_accuracy", "agg_c2st_p", "codes_twonn_dim"}
        assert set(rec) <= set(metrics.METRIC_DOCS)
        assert 0.0 <= rec["agg_c2st_accuracy"] <= 1.0 and 0.0 <= rec["agg_c2st_p"] <= 1.0
        assert 0.0 < rec["codes_twonn_dim"] < 3 * model.model.latent_dim
        assert metrics.evaluate(model, digits_data, groups=("code_space",)) == rec, "seeded: the same record again"
    # the two groups share the sampled codes: together they give what each gives alone, in registry order
    together = metrics.evaluate(trained["vae"], digits_data, groups=("code_space", "latent"))
    alone = metrics.evaluate(trained["vae"], digits_data, groups=("code_space",))
    assert together == {**latent_only, **alone} and list(together) == [*latent_only, *alone]


def test_groups_declare_every_name_they_emit_and_the_docs_are_assembled_from_them(trained, digits_data, clf):
    names = [name for group in metrics.METRIC_GROUPS.values() for name in group.emits]
    assert len(names) == len(set(names)), "a name is declared by two groups"
    assert metrics.METRIC_DOCS == {n: d for g in metrics.METRIC_GROUPS.values() for n, d in g.emits.items()}
    assert all(doc.strip() for doc in metrics.METRIC_DOCS.values())
    assert set(metrics.GROUPS + metrics.EXTRA_GROUPS) == set(metrics.METRIC_GROUPS)
    assert set(metrics.WALL_CLOCK_METRICS) == set(metrics.COST_GROUP.emits)
    for design, model in trained.items():
        for name, group in metrics.METRIC_GROUPS.items():
            rec = metrics.evaluate(model, digits_data, groups=(name,), feature_classifier=clf, n_samples=300)
            assert rec, f"{name} emitted nothing for {design}"
            undeclared = [key for key in rec if _declared(key) not in group.emits]
            assert not undeclared, f"{name} emits {undeclared} without declaring them"


def test_timings_report_each_group_and_the_shared_products(trained, digits_data, clf):
    timings: dict[str, float] = {}
    metrics.evaluate(trained["vae"], digits_data, feature_classifier=clf, n_samples=300, timings=timings)
    assert list(timings) == ["likelihood", "codes", "latent", "classifier", "samples", "smoothness", "cost"]
    assert all(seconds >= 0 for seconds in timings.values())
