"""The k-NN classifier two-sample test (vaelib.metrics.twosample) on samples with known answers.

Same distribution: accuracy inside the binomial band around 0.5 and a false-positive rate
near the nominal 5 %; different distributions (a smaller variance, a shifted mean,
separated clouds): accuracy high and p tiny; the blind spot the docstring describes
(smaller variance in 32 dims); exact ties broken by index; seeds reproducible to the bit;
every bad input a VaelibError. (The distances: tests/test_metrics_distances.py.)
"""
from __future__ import annotations

import pytest
import torch
from scipy import stats

from vaelib.errors import VaelibError
from vaelib.metrics.twosample import classifier_two_sample_test


def knn_test(a, b, **kwargs):
    """The k-nearest-neighbour variant: the tests below pin its behaviour, limits included."""
    return classifier_two_sample_test(a, b, classifier="knn", **kwargs)

def _normal(n: int, dim: int, seed: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    return shift + scale * torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _null_band(n_test: int, level: float = 0.999) -> tuple[float, float]:
    """Accuracies a Binomial(n_test, 1/2) count reaches with probability ``level`` (two-sided)."""
    lo, hi = stats.binom.interval(level, n_test, 0.5)
    return lo / n_test, hi / n_test


def test_same_distribution_accuracy_is_inside_the_null_band():
    result = knn_test(_normal(1000, 8, 10), _normal(1000, 8, 11), seed=0)
    assert result["n_test"] == 1000
    lo, hi = _null_band(1000)
    assert lo <= result["accuracy"] <= hi
    assert result["p_value"] > 1e-3


def test_false_positive_rate_is_near_nominal():
    p_values = [knn_test(_normal(300, 8, 2 * r), _normal(300, 8, 2 * r + 1), seed=r)["p_value"]
                for r in range(50)]
    assert all(0.0 <= p <= 1.0 for p in p_values)
    assert sum(p < 0.05 for p in p_values) / len(p_values) <= 0.10


def test_smaller_variance_is_detected_in_8_dims_whichever_sample_comes_first():
    wide, narrow = _normal(1000, 8, 20), _normal(1000, 8, 21, scale=0.3)
    for a, b in ((wide, narrow), (narrow, wide)):
        result = knn_test(a, b)
        assert result["accuracy"] > 0.8   # measured 0.87 to 0.91 over seeds
        assert result["p_value"] < 1e-6


def test_smaller_variance_in_32_dims_is_the_documented_blind_spot():
    # In 32 dims a wide point's nearest neighbours are narrow points, so everything is voted
    # "narrow": accuracy stays at chance although the distributions differ (see the docstring).
    result = knn_test(_normal(1000, 32, 22), _normal(1000, 32, 23, scale=0.3))
    lo, hi = _null_band(int(result["n_test"]))
    assert lo <= result["accuracy"] <= hi


@pytest.mark.parametrize("dim, shift", [(8, 1.0), (32, 0.5)])
def test_shifted_mean_is_detected(dim, shift):
    a, b = _normal(1000, dim, 30), _normal(1000, dim, 31, shift=shift)
    for x, y in ((a, b), (b, a)):
        result = knn_test(x, y)
        assert result["accuracy"] > 0.8
        assert result["p_value"] < 1e-6


def test_separated_clouds_give_accuracy_one_and_the_smallest_binomial_p():
    result = knn_test(_normal(50, 4, 40), _normal(50, 4, 41, shift=100.0), k=3)
    assert result["accuracy"] == 1.0
    assert result["n_test"] == 50
    assert result["p_value"] == pytest.approx(0.5 ** 50, rel=1e-9)


def test_exact_ties_go_to_the_lower_fit_index():
    # Every distance is 0: the k nearest are the first k fit rows, which belong to a (label 0),
    # so every held-out point is predicted 0: a's half right, b's half wrong.
    result = knn_test(torch.zeros(10, 2), torch.zeros(10, 2), k=5)
    assert result["accuracy"] == 0.5
    assert result["n_test"] == 10
    assert result["p_value"] == pytest.approx(stats.binom.sf(4, 10, 0.5), rel=1e-12)


def test_uses_min_rows_of_each_and_balances_the_held_out_set():
    result = knn_test(_normal(101, 3, 50), _normal(7, 3, 51), k=1)
    assert result["n_test"] == 8.0  # n = 7: 3 per class fit, 4 per class held out
    assert result["accuracy"] * 8 == round(result["accuracy"] * 8)


def test_same_seed_is_bit_identical_and_dtype_does_not_matter():
    a, b = _normal(400, 16, 60), _normal(300, 16, 61, scale=0.8)
    first = knn_test(a, b, k=7, seed=3)
    assert knn_test(a, b, k=7, seed=3) == first
    assert knn_test(a.float().double(), b.float().double(), k=7, seed=3) == \
        knn_test(a.float(), b.float(), k=7, seed=3)
    assert set(first) == {"accuracy", "p_value", "n_test"}
    assert all(isinstance(v, float) for v in first.values())


def test_does_not_touch_the_global_random_state():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    knn_test(_normal(20, 2, 70), _normal(20, 2, 71))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("a, b, kwargs, message", [
    (torch.zeros(10), torch.zeros(10, 2), {}, "2-D"),
    (torch.zeros(10, 2), torch.zeros(10, 2, 1), {}, "2-D"),
    ([[0.0, 1.0]] * 10, torch.zeros(10, 2), {}, "torch.Tensor"),
    (torch.zeros(10, 2), torch.zeros(10, 3), {}, "columns"),
    (torch.zeros(3, 2), torch.zeros(10, 2), {}, "at least 4"),
    (torch.zeros(10, 2), torch.zeros(10, 0), {}, "no columns"),
    (torch.tensor([[float("nan"), 0.0]] * 10), torch.zeros(10, 2), {}, "NaN"),
    (torch.zeros(10, 2), torch.tensor([[float("inf"), 0.0]] * 10), {}, "infinite"),
    (torch.zeros(10, 2), torch.zeros(10, 2), {"k": 4}, "odd"),
    (torch.zeros(10, 2), torch.zeros(10, 2), {"k": 0}, "odd"),
    (torch.zeros(10, 2), torch.zeros(10, 2), {"k": -1}, "odd"),
    (torch.zeros(10, 2), torch.zeros(10, 2), {"k": 3.0}, "odd"),
    (torch.zeros(10, 2), torch.zeros(10, 2), {"k": True}, "odd"),
    (torch.zeros(10, 2), torch.zeros(10, 2), {"k": 11}, "larger than the fit set"),
    (torch.zeros(10, 2), torch.zeros(10, 2), {"seed": 1.5}, "seed"),
])
def test_bad_input_raises_a_vaelib_error_naming_the_problem(a, b, kwargs, message):
    with pytest.raises(VaelibError, match=message):
        knn_test(a, b, **kwargs)


# --- the default classifier: a small network --------------------------------------------------------------


def test_the_network_sees_a_narrower_sample_in_32_dims_where_knn_is_blind():
    a, b = _normal(1000, 32, 22), _normal(1000, 32, 23, scale=0.3)
    assert knn_test(a, b)["p_value"] > 0.01
    result = classifier_two_sample_test(a, b)
    assert result["accuracy"] > 0.9 and result["p_value"] < 1e-20


@pytest.mark.parametrize("dim", [2, 32])
def test_the_network_keeps_its_false_positive_rate_on_null_data(dim):
    """Two samples of the same N(0, I): p < 0.05 in about 5 % of 40 repetitions (at most 5 of 40 here)."""
    flagged = sum(classifier_two_sample_test(_normal(600, dim, 3 * r), _normal(600, dim, 3 * r + 1), seed=r)["p_value"]
                  < 0.05 for r in range(40))
    assert flagged <= 5, f"{flagged} of 40 null comparisons flagged"


def test_the_network_is_seeded_and_refuses_unknown_classifiers():
    a, b = _normal(200, 8, 1), _normal(200, 8, 2, shift=0.5)
    assert classifier_two_sample_test(a, b, seed=4) == classifier_two_sample_test(a, b, seed=4)
    with pytest.raises(VaelibError, match="unknown classifier 'svm'"):
        classifier_two_sample_test(a, b, classifier="svm")
