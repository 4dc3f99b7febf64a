"""Sample-quality metrics and the feature classifier (vaelib.metrics)."""
from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from vaelib import CheckpointError, TrainConfig, VaelibError, build_model, load_dataset
from vaelib.metrics import classifier as classifier_mod
from vaelib.metrics.classifier import (
    FeatureClassifier, classifier_accuracy, classifier_cache_path, load_or_train_classifier, train_classifier,
)
from vaelib.samplers import SAMPLERS, fit_sampler
from vaelib.metrics.samples import (
    fid, kid, kid_scale, low_confidence_share, mean_pixel_entropy, precision_recall, real_floor,
    sample_quality, sharpness,
)

SAMPLE_KEYS = {"fid", "kid", "kid_std", "precision", "recall", "low_confidence_share", "pixel_entropy_nats",
               "sharpness"}


# ---- fixtures ------------------------------------------------------------------------


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def feats() -> torch.Tensor:
    """600 standard-normal 'features' in 16 dimensions."""
    return randn(600, 16)


@pytest.fixture(scope="module")
def mnist_classifier(tmp_path_factory):
    """(data, classifier, cache dir): the mnist5k classifier trained once into a private cache."""
    cache = tmp_path_factory.mktemp("clf-cache")
    data = load_dataset("mnist5k")
    return data, load_or_train_classifier(data, seed=0, cache_dir=cache), cache


# ---- FID / KID -----------------------------------------------------------------------


def test_fid_of_a_set_with_itself_is_zero(feats):
    assert fid(feats, feats) == pytest.approx(0.0, abs=1e-8)


def test_fid_and_kid_grow_with_noise(feats):
    noise = randn(*feats.shape, seed=2)
    scales = [0.0, 0.5, 1.0, 2.0]
    fids = [fid(feats, feats + s * noise) for s in scales]
    kids = [kid(feats, feats + s * noise, seed=0)[0] for s in scales]
    assert fids[0] == pytest.approx(0.0, abs=1e-8)
    # a set against itself: subsets share rows, which biases the unbiased estimate slightly below 0
    assert abs(kids[0]) < 0.05
    assert all(a < b for a, b in zip(fids, fids[1:])), fids
    assert all(a < b for a, b in zip(kids, kids[1:])), kids
    assert kids[-1] > 1.0


def test_fid_matches_closed_form_for_shifted_gaussians(feats):
    # same covariance, mean shifted by 1 in every one of 16 dims: FID = 16 (+ sampling error)
    other = randn(600, 16, seed=3) + 1.0
    assert fid(feats, other) == pytest.approx(16.0, rel=0.15)


def test_kid_of_independent_samples_is_near_zero_and_reports_spread(feats):
    mean, std = kid(feats, randn(600, 16, seed=4), subset_size=200, n_subsets=20, seed=1)
    assert abs(mean) < 3 * std + 0.01
    assert std > 0
    assert kid(feats, randn(600, 16, seed=4), seed=5) == kid(feats, randn(600, 16, seed=4), seed=5)


def test_fid_with_too_few_samples_raises():
    with pytest.raises(VaelibError, match=r"FID needs more samples than feature dimensions: got n=10, f=16"):
        fid(randn(10, 16), randn(100, 16))
    with pytest.raises(VaelibError, match="n=16, f=16"):
        fid(randn(100, 16), randn(16, 16))


@pytest.mark.parametrize("fn", [fid, kid, precision_recall])
def test_bad_features_raise(fn, feats):
    with pytest.raises(VaelibError, match="feature dimensions differ"):
        fn(feats, randn(600, 8))
    bad = feats.clone()
    bad[3, 2] = float("nan")
    with pytest.raises(VaelibError, match="NaN"):
        fn(feats, bad)
    with pytest.raises(VaelibError, match="shape"):
        fn(feats, feats[0])


def _gaussian_feats(n: int, seed: int) -> torch.Tensor:
    """n samples of one fixed 32-D Gaussian with an uneven spectrum (the 'real' distribution)."""
    scales = torch.linspace(0.2, 2.0, 32)
    return randn(n, 32, seed=seed) * scales


def test_real_floor_is_what_a_perfect_generator_scores_at_the_same_sample_size():
    """Known answer: a 'generator' that draws fresh samples of the real distribution.

    Its FID against 1,000 real images with 1,000 samples is what real_floor must read, within
    the floor's own spread. The old half-vs-half floor (500 vs 500) reads about twice that,
    so a perfect generator scored 'below the floor'.
    """
    real, heldout = _gaussian_feats(1000, seed=10), _gaussian_feats(4000, seed=11)
    perfect = [fid(real, _gaussian_feats(1000, seed=100 + s)) for s in range(8)]
    floor = real_floor(real, heldout, 1000, seed=0)
    assert floor["n_subsets"] == 4 and floor["n"] == 1000
    assert floor["fid_std"] > 0
    mean_perfect = sum(perfect) / len(perfect)
    assert abs(floor["fid"] - mean_perfect) < 3 * floor["fid_std"] + 0.1 * mean_perfect
    old = fid(real[:500], real[500:])   # the old floor: half of the real images against the other half
    assert old > 1.6 * mean_perfect, "the half-vs-half floor should sit far above a perfect generator's FID"
    assert min(perfect) > 0.5 * floor["fid"]  # the perfect generator is not 'below the floor'
    assert -0.01 < floor["kid"] < 0.01 and floor["precision"] > 0.5 and floor["recall"] > 0.5


def test_real_floor_with_a_small_heldout_set_uses_one_subset_and_says_so():
    floor = real_floor(_gaussian_feats(300, seed=1), _gaussian_feats(200, seed=2), 1000)
    assert floor["n"] == 200 and floor["n_subsets"] == 1 and floor["fid_std"] == 0.0
    with pytest.raises(VaelibError, match="n_samples >= 2"):
        real_floor(_gaussian_feats(300, seed=1), _gaussian_feats(200, seed=2), 1)


def test_real_floor_remembers_its_inputs_contents_and_recomputes_for_other_ones(monkeypatch):
    from vaelib.metrics import samples as samples_mod

    monkeypatch.setattr(samples_mod, "_FLOOR_MEMO", type(samples_mod._FLOOR_MEMO)())
    computed = []
    compute = samples_mod._compute_real_floor
    monkeypatch.setattr(samples_mod, "_compute_real_floor", lambda *a: computed.append(a) or compute(*a))
    real, heldout = _gaussian_feats(300, seed=1), _gaussian_feats(600, seed=2)
    first = real_floor(real, heldout, 150, seed=0)
    first["fid"] = -1.0                                        # a caller's change does not reach the memory
    again = real_floor(real.clone(), heldout.clone(), 150, seed=0)   # same contents, other tensors
    assert len(computed) == 1 and again == compute(real, heldout, 150, 0, samples_mod.FLOOR_SUBSETS)
    changed = heldout.clone()
    changed[0, 0] += 1e-3
    for args in ((real, changed, 150, 0), (real, heldout, 150, 1), (real, heldout, 100, 0)):
        real_floor(args[0], args[1], args[2], seed=args[3])
    assert len(computed) == 4, "another input, seed or sample size must be computed, not remembered"
    assert real_floor(real, changed, 150, seed=0)["fid"] != again["fid"]
    for n in range(101, 101 + samples_mod.FLOOR_MEMO_SIZE):
        real_floor(real, heldout, n, seed=0)
    assert len(samples_mod._FLOOR_MEMO) == samples_mod.FLOOR_MEMO_SIZE


def test_kid_is_not_blown_up_by_a_feature_that_real_data_never_fires():
    """Known answer: a dead feature (0 on every real image) that a few samples fire a little.

    FID barely moves (the fired values are small next to the features' spread); KID must
    agree. Dividing by per-feature stds (the old standardisation: 0 -> 1 only when exactly 0,
    so a near-dead feature with std 1e-6 was divided by 1e-6) made KID explode.
    """
    real, fake = _gaussian_feats(600, seed=3), _gaussian_feats(600, seed=4)
    real[:, 0] = 0.0
    real[0, 0] = 1e-6                     # a feature that fires on one real image, barely: std ~ 4e-8
    fake[:, 0] = 0.0
    fake[:5, 0] = 0.3                     # five samples fire it, at a fraction of one std of the others
    clean = fake.clone()
    clean[:, 0] = 0.0
    k_fired, k_clean = kid(real, fake, seed=0)[0], kid(real, clean, seed=0)[0]
    f_fired, f_clean = fid(real, fake), fid(real, clean)
    assert abs(f_fired - f_clean) < 0.05 * f_clean + 0.05
    assert abs(k_fired - k_clean) < 0.02, (k_fired, k_clean)
    assert abs(k_fired) < 0.05


def test_kid_and_fid_agree_in_ordering_on_constructed_cases():
    """Within each kind of defect (shift, widening, narrowing, a spurious mode), KID ranks as FID does.

    Across kinds they need not agree (FID weighs a mean shift and a variance change by its own
    formula, KID by its kernel's), so the test ranks each family, worst defect last.
    """
    real = _gaussian_feats(800, seed=5)
    base = _gaussian_feats(800, seed=6)
    families = {
        "shift": [base + t for t in (0.0, 0.2, 0.5, 1.0, 2.0)],
        "widen": [base * t for t in (1.0, 1.2, 1.5, 2.0, 3.0)],
        "narrow": [base * t for t in (1.0, 0.8, 0.5, 0.3, 0.1)],
        "spurious mode": [torch.cat([base[: 800 - m], base[:m] + 4.0]) for m in (0, 40, 100, 200, 400)],
    }
    for name, sets in families.items():
        fids = [fid(real, v) for v in sets]
        kids = [kid(real, v, seed=0)[0] for v in sets]
        assert all(a < b for a, b in zip(fids, fids[1:])), (name, fids)
        assert all(a < b for a, b in zip(kids, kids[1:])), (name, kids)


def test_kid_scale_is_one_scalar_in_feature_units():
    x = _gaussian_feats(2000, seed=7)
    expected = float(torch.linspace(0.2, 2.0, 32).pow(2).mean().sqrt())
    assert kid_scale(x) == pytest.approx(expected, rel=0.05)
    assert kid_scale(torch.zeros(10, 3)) == 1.0
    # invariance: KID does not change when every feature is scaled by the same factor
    y = _gaussian_feats(600, seed=8) + 0.3
    assert kid(x[:600] * 7.0, y * 7.0, seed=0)[0] == pytest.approx(kid(x[:600], y, seed=0)[0], rel=1e-4)


# ---- precision / recall --------------------------------------------------------------


def test_precision_recall_identical_and_disjoint(feats):
    assert precision_recall(feats, feats) == (1.0, 1.0)
    assert precision_recall(feats, feats + 100.0) == (0.0, 0.0)


def test_precision_recall_mode_dropping(two_clusters):
    fake = randn(200, 2, seed=5) * 0.5 + torch.tensor([4.0, 0.0])  # new samples of one cluster only
    precision, recall = precision_recall(two_clusters, fake, k=3)
    assert precision > 0.9
    assert recall < 0.6


def test_precision_recall_needs_more_than_k_samples(feats):
    with pytest.raises(VaelibError, match="at least 4 samples"):
        precision_recall(feats, feats[:3], k=3)


# ---- classifier confidence and blur --------------------------------------------------


def test_low_confidence_share():
    probs = torch.tensor([[0.8, 0.1, 0.1], [0.4, 0.3, 0.3], [0.5, 0.25, 0.25], [0.34, 0.33, 0.33]])
    assert low_confidence_share(probs) == pytest.approx(0.5)
    with pytest.raises(VaelibError, match="logits"):
        low_confidence_share(probs * 3)


def _binary_images(n: int = 20, side: int = 12) -> torch.Tensor:
    return (torch.rand(n, side * side, generator=torch.Generator().manual_seed(6)) > 0.7).float()


def _blur(images: torch.Tensor, side: int = 12) -> torch.Tensor:
    kernel = torch.full((1, 1, 3, 3), 1 / 9)
    return F.conv2d(images.view(-1, 1, side, side), kernel, padding=1).view(len(images), -1)


def test_pixel_entropy_is_higher_for_blurred_images():
    sharp = _binary_images()
    assert mean_pixel_entropy(sharp) == pytest.approx(0.0, abs=1e-12)
    assert mean_pixel_entropy(torch.full((2, 4), 0.5)) == pytest.approx(math.log(2))
    assert mean_pixel_entropy(_blur(sharp)) > 0.3
    with pytest.raises(VaelibError, match=r"\[0, 1\]"):
        mean_pixel_entropy(sharp * 2)


def test_sharpness_is_lower_for_blurred_images():
    sharp = _binary_images()
    assert sharpness(sharp, (12, 12)) > 3 * sharpness(_blur(sharp), (12, 12))
    assert sharpness(torch.full((3, 144), 0.7), (12, 12)) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(VaelibError, match="pixels"):
        sharpness(sharp, (10, 10))


# ---- classifier ----------------------------------------------------------------------


def test_classifier_accuracy_on_mnist5k(mnist_classifier):
    data, clf, _ = mnist_classifier
    acc = classifier_accuracy(clf, data.x_test, data.y_test)
    # measured: 0.963 (seed 0; seed 1 also 0.963), about 2 s of training on one CPU thread
    assert acc >= 0.93
    assert clf.features(data.x_test[:5]).shape == (5, clf.feature_dim)
    probs = clf.predict_proba(data.x_test[:5])
    assert torch.allclose(probs.sum(1), torch.ones(5))


def test_classifier_is_loaded_from_cache(mnist_classifier, monkeypatch):
    data, clf, cache = mnist_classifier
    assert classifier_cache_path(data, seed=0, cache_dir=cache).is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("the classifier was retrained instead of loaded")

    monkeypatch.setattr(classifier_mod, "train_classifier", no_training)
    again = load_or_train_classifier(data, seed=0, cache_dir=cache)
    for a, b in zip(clf.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_corrupted_classifier_cache_raises(tmp_path, digits, monkeypatch):
    path = classifier_cache_path(digits, seed=0, cache_dir=tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a torch file")
    monkeypatch.setattr(classifier_mod, "train_classifier",
                        lambda *a, **k: pytest.fail("a damaged cache file must raise, not retrain"))
    with pytest.raises(CheckpointError, match="corrupted"):
        load_or_train_classifier(digits, seed=0, cache_dir=tmp_path)


def test_classifier_training_is_deterministic(digits):
    before, threads = torch.random.get_rng_state(), torch.get_num_threads()
    a = train_classifier(digits, seed=1, epochs=2)
    b = train_classifier(digits, seed=1, epochs=2)
    assert torch.equal(torch.random.get_rng_state(), before)  # global RNG untouched
    assert torch.get_num_threads() == threads  # thread count restored
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)


# ---- end to end ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_setup():
    data = load_dataset("digits")
    clf = train_classifier(data, seed=0, epochs=5)
    config = TrainConfig(design="vae", dataset="digits", latent_dim=4, hidden_dims=(32,))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model(config, data.dim, data.image_shape).eval()
    return data, clf, model


def test_sample_quality_returns_every_statistic(digits_setup):
    data, clf, model = digits_setup
    with torch.no_grad():
        codes = model.encode(data.x_train).mean
    for name in SAMPLERS:
        sampler = fit_sampler(name, codes, seed=0)
        q = sample_quality(model, clf, data, sampler=sampler, n_samples=300, seed=0)
        assert set(q) == SAMPLE_KEYS
        assert all(math.isfinite(v) for v in q.values()), q
        assert 0 <= q["precision"] <= 1 and 0 <= q["recall"] <= 1 and 0 <= q["low_confidence_share"] <= 1
        again = sample_quality(model, clf, data, sampler=sampler, n_samples=300, seed=0)
        assert q == again


def test_sample_quality_errors(digits_setup):
    data, clf, model = digits_setup
    with pytest.raises(VaelibError, match="FID needs more samples"):
        sample_quality(model, clf, data, sampler=fit_sampler("prior", randn(10, 4)), n_samples=50, seed=0)
    with pytest.raises(VaelibError, match="latent_dim"):
        sample_quality(model, clf, data, sampler=fit_sampler("prior", randn(10, 3)), n_samples=300, seed=0)


def test_feature_classifier_rejects_wrong_shapes():
    clf = FeatureClassifier(dim=64, n_classes=10)
    with pytest.raises(VaelibError, match=r"\(n, 64\)"):
        clf.features(torch.zeros(3, 10))


def test_classifier_augmentation_shifts_by_whole_pixels_exactly():
    """Every shifted image is its input moved by the drawn (dx, dy), zero-filled: the very same float values."""
    from vaelib.metrics.classifier import _shift

    x = torch.rand(64, 28 * 28, dtype=torch.float32, generator=torch.Generator().manual_seed(1)) + 0.1
    out = _shift(x, (28, 28), 2, torch.Generator().manual_seed(5))
    shifts = torch.randint(-2, 3, (64, 2), generator=torch.Generator().manual_seed(5))
    img, moved = x.view(64, 28, 28), out.view(64, 28, 28)
    for i, (dx, dy) in enumerate(shifts.tolist()):
        expected = torch.zeros(28, 28)
        r0, r1 = max(0, -dy), min(28, 28 - dy)
        c0, c1 = max(0, -dx), min(28, 28 - dx)
        expected[r0:r1, c0:c1] = img[i, r0 + dy:r1 + dy, c0 + dx:c1 + dx]
        assert torch.equal(moved[i], expected), (i, dx, dy)
    assert {tuple(s) for s in shifts.tolist()} >= {(0, 0), (2, -2), (-1, 1)}  # every kind of shift was drawn

