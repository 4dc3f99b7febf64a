"""The statistics behind every verdict: Welch's t-test, Holm's correction, and the rule's rate on null data."""
import math

import numpy as np
import pytest
from scipy import stats

from vaelib.errors import VaelibError
from vaelib.stats import ALPHA, compare_means, holm, null_false_positive_rate, verdict_over_dims


def test_compare_means_is_welchs_t_test():
    c = compare_means([1.0, 2.0, 3.0], [5.0, 5.0, 5.0])
    assert c.difference == -3.0 and c.standard_error == pytest.approx((1.0 / 3) ** 0.5)
    assert c.significant
    assert not compare_means([1.0, 3.0], [2.0, 2.5]).significant
    with pytest.raises(VaelibError):
        compare_means([], [1.0])
    with pytest.raises(VaelibError, match="NaN"):
        compare_means([float("nan")], [1.0])


@pytest.mark.parametrize("a, b", [([1.0, 2.5, 2.0, 4.0], [3.0, 3.5, 6.0]), ([10.2, 9.1, 11.7], [8.0, 8.1, 7.9, 8.2, 8.05]),
                                  ([0.0, 1.0, 0.0, 1.0, 0.5], [0.2, 0.9, 0.4, 0.3, 0.6])])
def test_welch_p_value_df_and_interval_match_scipy(a, b):
    c = compare_means(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert c.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert c.df == pytest.approx(ref.df, rel=1e-9)
    low, high = ref.confidence_interval(0.95)
    assert (c.ci_low, c.ci_high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))


def test_degenerate_samples():
    one = compare_means([1.0], [5.0, 5.1])
    assert math.isnan(one.p_value) and not one.significant
    assert compare_means([2.0, 2.0], [2.0, 2.0]).p_value == 1.0
    constant = compare_means([2.0, 2.0], [3.0, 3.0])
    assert constant.p_value == 0.0 and constant.significant and constant.ci_low == constant.ci_high == -1.0


def test_holm_adjusts_step_down_and_stays_monotone():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, float("nan")]) == [1.0, 1.0]
    assert holm([0.001]) == [0.001]


def test_verdict_over_dims_names_the_dims_that_differ():
    low, high, same = compare_means([1, 1.1, 0.9], [5, 5.1, 4.9]), compare_means([9, 9.1, 8.9], [5, 5.1, 4.9]), \
        compare_means([1, 9, 5], [5, 5.1, 4.9])
    outcomes, adjusted, verdict = verdict_over_dims([low, same], [2, 8])
    assert outcomes == ["lower", "same"] and verdict == "confirmed at d=2; inconclusive at d=8"
    assert adjusted == holm([low.p_value, same.p_value])
    assert verdict_over_dims([same, high], [1000, 4000], name="n")[2] == "refuted at n=4000; inconclusive at n=1000"
    assert verdict_over_dims([low, high], [2, 8])[2] == "depends on latent dim"


def _old_rule_false_positive_rate(n: int, dims: int, trials: int, seed: int) -> float:
    """The same null claims under the earlier rule: any dim whose difference exceeds two standard errors."""
    rng = np.random.default_rng(seed)
    flagged = 0
    for _ in range(trials):
        comparisons = [compare_means(rng.normal(size=n), rng.normal(scale=rng.choice([0.5, 1.0, 2.0]), size=n))
                       for _ in range(dims)]
        flagged += any(abs(c.difference) > 2 * c.standard_error for c in comparisons)
    return flagged / trials


@pytest.mark.parametrize("n", [3, 5])
def test_the_rule_keeps_its_false_positive_rate_on_null_data(n):
    """Simulated claims with no true difference at any of 3 latent dims: at most ALPHA flag (plus Monte Carlo error)."""
    trials = 3000
    ours = null_false_positive_rate(n, 3, trials=trials, seed=n)
    margin = 3 * math.sqrt(ALPHA * (1 - ALPHA) / trials)
    assert ours <= ALPHA + margin, f"the rule flags {ours:.3f} of null claims at n = {n}"
    assert null_false_positive_rate(n, 1, trials=trials, seed=10 + n) <= ALPHA + margin
    if n == 3:   # the old two-standard-error rule: the test can tell a rule that does not hold its level
        assert _old_rule_false_positive_rate(n, 3, trials, seed=n) > 0.2


def test_null_rate_rejects_a_family_it_cannot_simulate():
    with pytest.raises(VaelibError, match="n_seeds >= 2"):
        null_false_positive_rate(1, 3)
