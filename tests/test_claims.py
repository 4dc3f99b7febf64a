"""Claim machinery on crafted records: Welch + Holm per claim, results, "not tested", the verdict table."""
import pandas as pd
import pytest

from vaelib.claims import (Case, Claim, ClaimResult, ClaimSide, Measurement, NotTested, claim_results,
                           lower_claim_result, metric_values, verdict_table)
from vaelib.errors import VaelibError


def frame(a_values: dict, b_values: dict, metric="m"):
    rows = [{"design": "A", "latent_dim": d, "seed": i, metric: v} for d, vs in a_values.items() for i, v in enumerate(vs)]
    rows += [{"design": "B", "latent_dim": d, "seed": i, metric: v} for d, vs in b_values.items() for i, v in enumerate(vs)]
    return pd.DataFrame(rows)


A, B = ClaimSide("A", "m", "A"), ClaimSide("B", "m", "B")


@pytest.mark.parametrize("a, b, verdict", [
    ({2: [1, 1.1, 0.9], 8: [1, 1.1, 0.9]}, {2: [5, 5.1, 4.9], 8: [5, 5.1, 4.9]}, "confirmed"),
    ({2: [9, 9.1, 8.9], 8: [9, 9.1, 8.9]}, {2: [5, 5.1, 4.9], 8: [5, 5.1, 4.9]}, "refuted"),
    ({2: [1, 1.1, 0.9], 8: [9, 9.1, 8.9]}, {2: [5, 5.1, 4.9], 8: [5, 5.1, 4.9]}, "depends on latent dim"),
    ({2: [1, 9, 5], 8: [1, 9, 5]}, {2: [5, 5.1, 4.9], 8: [5, 5.1, 4.9]}, "inconclusive"),
    ({2: [1, 1.1, 0.9], 8: [1, 9, 5]}, {2: [5, 5.1, 4.9], 8: [5, 5.1, 4.9]}, "confirmed at d=2; inconclusive at d=8"),
    ({2: [1, 9, 5], 8: [9, 9.1, 8.9]}, {2: [5, 5.1, 4.9], 8: [5, 5.1, 4.9]}, "refuted at d=8; inconclusive at d=2"),
])
def test_verdict_follows_welch_and_holm(a, b, verdict):
    result = lower_claim_result(frame(a, b), A, B)
    assert isinstance(result, ClaimResult) and result.verdict == verdict
    text = result.measured
    assert "d=2" in text and "d=8" in text and "95% CI" in text and "Holm p" in text


def test_lower_claim_result_tests_only_the_dims_asked_for():
    result = lower_claim_result(frame({2: [1, 1.1, 0.9], 8: [9, 9.1, 8.9]}, {2: [5, 5.1, 4.9], 8: [5, 5.1, 4.9]}), A, B,
                                dims=[2], digits=1)
    assert result.conditions == [2] and result.verdict == "confirmed" and "A 1.0 vs B 5.0" in result.measured


def test_outcome_text_quotes_both_means_per_condition():
    claim = Claim("x", "", "", "", "A", "B", tuple(Case(d, Measurement("A", d, "m"), Measurement("B", d, "m"))
                                                   for d in (2, 8)), digits=3)
    r = claim.test(frame({2: [1.0, 1.1, 0.9], 8: [1.0, 1.1, 0.9]}, {2: [5.0, 5.2, 4.8], 8: [5.0, 5.2, 4.8]}))
    assert r.outcome_text("better", "worse") == "better at d=2 (1.000 vs 5.000), better at d=8 (1.000 vs 5.000)"
    assert r.outcome_text("better", "worse", digits=1).startswith("better at d=2 (1.0 vs 5.0)")


def test_a_claim_without_records_is_not_tested_and_says_why():
    claims = [Claim("1", "a below b", "lit", "b below a", "A", "B", (Case(2, Measurement("A", 2, "m"), Measurement("B", 2, "m")),)),
              Claim("2", "no cases", "lit", "never", "A", "B", ())]
    records = [{"design": "A", "latent_dim": 2, "seed": 0, "m": 1.0}]
    results = claim_results(records, claims)
    assert results["1"] == NotTested("1", "no records for design 'B' at latent dim 2 with metric 'm'")
    assert results["2"] == NotTested("2", "claim 2 has no case to test")
    table = verdict_table(records, claims)
    assert list(table.index) == ["1", "2"] and set(table["verdict"]) == {"not tested"}
    assert table.loc["1", "measured"] == "not tested: no records for design 'B' at latent dim 2 with metric 'm'"
    assert list(table.columns) == ["claim", "literature expects", "refuted if", "measured", "verdict"]


def test_metric_values_are_one_per_seed_and_missing_ones_raise():
    f = frame({2: [1.0, 2.0]}, {2: [3.0, 4.0]})
    assert metric_values(f, "A", 2, "m") == [1.0, 2.0]
    with pytest.raises(VaelibError, match="no records for design 'A' at latent dim 8"):
        metric_values(f, "A", 8, "m")
