"""The head-to-head: the verdict rule on crafted numbers, and `vaelib compare` end to end on digits."""
import pandas as pd
import pytest

from vaelib.cli import main
from vaelib.compare import compare_means, lower_is_confirmed, summary_table
from vaelib.errors import VaelibError


def frame(a_values: dict, b_values: dict, metric="m"):
    rows = [{"design": "A", "latent_dim": d, "seed": i, metric: v} for d, vs in a_values.items() for i, v in enumerate(vs)]
    rows += [{"design": "B", "latent_dim": d, "seed": i, metric: v} for d, vs in b_values.items() for i, v in enumerate(vs)]
    return pd.DataFrame(rows)


A, B = ("A", "m", "A"), ("B", "m", "B")


def test_compare_means_standard_error():
    c = compare_means([1.0, 2.0, 3.0], [5.0, 5.0, 5.0])
    assert c.difference == -3.0 and c.standard_error == pytest.approx((1.0 / 3) ** 0.5)
    assert c.significant
    assert not compare_means([1.0, 3.0], [2.0, 2.5]).significant
    with pytest.raises(VaelibError):
        compare_means([], [1.0])
    with pytest.raises(VaelibError, match="NaN"):
        compare_means([float("nan")], [1.0])


@pytest.mark.parametrize("a, b, verdict", [
    ({2: [1, 1.1, 0.9], 8: [1, 1.1, 0.9]}, {2: [5, 5.1, 4.9], 8: [5, 5.1, 4.9]}, "confirmed"),
    ({2: [9, 9.1, 8.9], 8: [9, 9.1, 8.9]}, {2: [5, 5.1, 4.9], 8: [5, 5.1, 4.9]}, "refuted"),
    ({2: [1, 1.1, 0.9], 8: [9, 9.1, 8.9]}, {2: [5, 5.1, 4.9], 8: [5, 5.1, 4.9]}, "depends on latent dim"),
    ({2: [1, 9, 5], 8: [1, 9, 5]}, {2: [5, 5.1, 4.9], 8: [5, 5.1, 4.9]}, "inconclusive"),
])
def test_verdict_follows_the_two_standard_error_rule(a, b, verdict):
    text, got = lower_is_confirmed(frame(a, b), A, B)
    assert got == verdict
    assert "d=2" in text and "d=8" in text and "SE" in text


def test_summary_table_has_mean_and_std_over_seeds():
    t = summary_table(frame({2: [1.0, 3.0]}, {2: [4.0, 4.0]}).to_dict("records"))
    assert t.loc[("A", 2), ("m", "mean")] == 2.0 and t.loc[("B", 2), ("m", "std")] == 0.0


def test_compare_cli_on_digits(tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(["compare", "--dataset", "digits", "--latent-dims", "2", "4", "--seeds", "0", "1", "--epochs", "2",
                 "--n-samples", "300", "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    summary = pd.read_csv(out / "summary.csv", header=[0, 1], index_col=[0, 1])
    designs = {d for d, _ in summary.index}
    assert designs == {"ae", "mean-only", "vae", "wae-mmd", "swae"}
    assert len(summary) == 5 * 2
    assert ("prior/fid", "mean") in summary.columns and ("prior/fid", "std") in summary.columns
    verdicts = pd.read_csv(out / "verdicts.csv", index_col=0)
    assert set(verdicts["verdict"]) <= {"confirmed", "refuted", "inconclusive", "depends on latent dim"}
    assert {"1", "2a", "5", "8a", "8c"} <= set(verdicts.index.astype(str))
    assert (out / "summary.md").read_text().count("±") > 10
    # the same command gives the same numbers (models and records come from the cache or retrain bit-identically)
    first = (out / "records.csv").read_text()
    assert main(["compare", "--dataset", "digits", "--latent-dims", "2", "4", "--seeds", "0", "1", "--epochs", "2",
                 "--n-samples", "300", "--out", str(out), "--no-progress"]) == 0
    assert (out / "records.csv").read_text() == first


def test_compare_cli_bad_input(tmp_path, capsys):
    assert main(["compare", "--dataset", "cifar", "--out", str(tmp_path / "x")]) == 2
    assert "unknown data set 'cifar'" in capsys.readouterr().err
    assert main(["compare", "--latent-dims", "0", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
