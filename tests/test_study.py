"""The book's study: the claim table, the settings the CLI and notebook 5 share, and `vaelib compare` on digits."""
import ast
import re
from pathlib import Path

import pandas as pd
import pytest

import vaelib
from vaelib import study
from vaelib.claims import ClaimResult, NotTested, claim_results, verdict_table
from vaelib.cli import build_parser, main, settings_from_args
from vaelib.errors import UnknownNameError, VaelibError
from vaelib.study import (CLAIMS, VERDICTS_0_3_0, ClaimRoles, HeadToHeadSettings, book_claims, matched_epochs,
                          mention_claims, sanity_checks, summary_table)
from vaelib.training import History

VAELIB = Path(vaelib.__file__).parent
ROLES = ClaimRoles(vae_tuned="vae-beta", mean_only_elbo="mean-only-elbo", small_data=((1000, "vae-n1000"),),
                   n_train=4000)
CLAIM_LIST = book_claims([2, 8, 32], above_intrinsic=[32], roles=ROLES)


def _claim_frame(claim, a_values, b_values) -> pd.DataFrame:
    """Records holding, for every case of ``claim``, a's metric = a_values and b's = b_values over the seeds."""
    rows: dict = {}
    for case in claim.cases:
        for (design, dim, metric), values in ((case.a, a_values), (case.b, b_values)):
            for seed, v in enumerate(values):
                rows.setdefault((design, dim, seed), {"design": design, "latent_dim": dim, "seed": seed})[metric] = v
    return pd.DataFrame(list(rows.values()))


@pytest.mark.parametrize("claim", CLAIM_LIST, ids=lambda c: c.key)
def test_every_claim_can_come_out_either_way(claim):
    """Each claim is confirmed when a is clearly lower, refuted when clearly higher, inconclusive on noise."""
    low, high = [1.0, 1.1, 0.9, 1.05, 0.95], [5.0, 5.2, 4.8, 5.1, 4.9]
    noise_a, noise_b = [1.0, 3.0, 2.0, 2.5, 1.5], [2.0, 1.0, 3.0, 1.5, 2.5]
    assert claim.test(_claim_frame(claim, low, high)).verdict == "confirmed"
    assert claim.test(_claim_frame(claim, high, low)).verdict == "refuted"
    assert claim.test(_claim_frame(claim, noise_a, noise_b)).verdict == "inconclusive"
    assert claim.refuted_if and claim.literature and "BOOK_PLAN" not in claim.literature


def test_claims_are_tested_where_they_say():
    by_key = {c.key: c for c in CLAIM_LIST}
    assert list(by_key) == list(CLAIMS), "one claim per row of the table, in its order"
    assert [case.condition for case in by_key["3"].cases] == [32], "claim 3 only above the intrinsic dim"
    assert by_key["7"].condition == "n" and [case.condition for case in by_key["7"].cases] == [1000, 4000]
    assert [case.a.design for case in by_key["7"].cases] == ["vae-n1000", "vae"]
    assert {case.a.latent_dim for case in by_key["7"].cases} == {8} and "latent dim 8" in by_key["7"].claim
    assert {case.a[0] for case in by_key["4"].cases} == {"vae-beta"}
    assert {case.b[0] for case in by_key["4"].cases} == {"mean-only"}
    assert {case.a[0] for case in by_key["8b"].cases} == {"mean-only-elbo"}
    assert {case.b[0] for case in by_key["8c"].cases} == {"ae-matched"}
    assert [case.condition for case in by_key["1"].cases] == [2, 8, 32]
    assert not {"6", "8a"} & set(by_key), "identities belong to the sanity checks, not to the claims"
    untested = claim_results(pd.DataFrame([{"design": "vae", "latent_dim": 2, "seed": 0}]), CLAIM_LIST)["1"]
    assert isinstance(untested, NotTested) and "not tested" in untested.measured
    table = verdict_table(pd.DataFrame([{"design": "vae", "latent_dim": 2, "seed": 0}]), CLAIM_LIST)
    assert set(table["verdict"]) == {"not tested"} and "refuted if" in table.columns


def test_default_roles_are_the_plain_contestants_and_claim_7_needs_its_sweep():
    by_key = {c.key: c for c in book_claims([2, 8, 32])}
    assert {case.a.design for case in by_key["4"].cases} == {"vae"}
    assert {case.a.design for case in by_key["8b"].cases} == {"mean-only"}
    assert by_key["7"].cases == () and by_key["3"].cases == ()
    assert ClaimRoles().label_of("vae_tuned") == "vae" and ClaimRoles().label_of("swae") == "swae"


def test_claims_are_cited_by_id_through_the_table():
    assert mention_claims("4") == "claim 4"
    assert mention_claims("2b", "3") == "claims 2b and 3"
    assert mention_claims("1", "2a", "3").capitalize() == "Claims 1, 2a and 3"
    assert study.claim("2c") is CLAIMS["2c"]
    with pytest.raises(UnknownNameError, match="unknown claim '6'"):
        mention_claims("2b", "6")
    with pytest.raises(VaelibError):
        mention_claims()


def test_the_history_table_names_current_claims_or_the_retired_ones():
    retired = set(VERDICTS_0_3_0) - set(CLAIMS)
    assert retired == {"6", "8a"} and all("sanity checks" in VERDICTS_0_3_0[k][1] for k in retired)
    assert set(CLAIMS) <= set(VERDICTS_0_3_0)
    verdicts = pd.DataFrame({"verdict": {k: "confirmed" for k in CLAIMS}})
    changes = study.changes_since_0_3_0(verdicts)
    assert list(changes.columns) == ["0.3.0", "now", "what changed in the test"]
    assert changes.loc["6", "now"] == "(sanity check)" and changes.loc["1", "now"] == "confirmed"


def test_the_answer_cites_only_claims_of_the_table():
    text = (VAELIB / "study" / "answer.py").read_text()
    cited = set(re.findall(r"\bclaim (\d+[a-z]?)\b", text)) | set(re.findall(r"\bsay\('(\w+)'", text))
    assert cited and cited <= set(CLAIMS), cited - set(CLAIMS)


def test_summary_table_has_mean_and_std_over_seeds():
    rows = [{"design": d, "latent_dim": 2, "seed": i, "m": v} for d, vs in (("A", [1.0, 3.0]), ("B", [4.0, 4.0]))
            for i, v in enumerate(vs)]
    t = summary_table(rows)
    assert t.loc[("A", 2), ("m", "mean")] == 2.0 and t.loc[("B", 2), ("m", "std")] == 0.0
    assert list(study.format_mean_std(t)["m"]) == ["2.00 ± 1.41", "4.00 ± 0.00"]


def test_sanity_checks_pass_on_consistent_records_and_fail_on_a_broken_one():
    rows = [{"design": "vae", "latent_dim": 2, "seed": s, "elbo_nats": -100.0, "iwae_nats": -98.0,
             "elbo_exact_subset_nats": -101.0, "iwae_exact_subset_nats": -99.0, "loglik_exact_nats": -98.5,
             "loglik_exact_error_nats": 0.01} for s in range(3)]
    rows += [{"design": "noise-only", "latent_dim": 2, "seed": s, "mi_nats": 0.0} for s in range(3)]
    good = sanity_checks(rows)
    assert len(good) == 3 and set(good["result"]) == {"pass"}
    rows[0]["iwae_nats"] = -101.0          # an IWAE below the ELBO: a bug
    rows[1]["elbo_exact_subset_nats"] = -98.0   # an ELBO above the exact log-likelihood: a bug
    bad = sanity_checks(rows).set_index("check")["result"]
    assert bad.str.contains("FAIL").sum() == 2


def test_matched_epochs_is_the_first_epoch_at_or_below_the_target():
    h = History()
    h.train["reconstruction"] = [150.0, 110.0, 95.0, 90.0, 88.0]
    assert matched_epochs(h, 100.0) == 3 and matched_epochs(h, 95.0) == 3 and matched_epochs(h, 200.0) == 1
    assert matched_epochs(h, 50.0) == 5   # never reached: the whole run


def test_the_cli_options_are_the_settings_fields_with_their_defaults(capsys, monkeypatch):
    """One definition: `python -m vaelib compare` without options runs HeadToHeadSettings() (notebook 5's defaults)."""
    import dataclasses

    args = build_parser().parse_args(["compare", "--out", "x"])
    assert settings_from_args(args, HeadToHeadSettings) == HeadToHeadSettings()
    monkeypatch.setenv("COLUMNS", "1000")   # one help line per option: argparse wraps to the terminal's width
    with pytest.raises(SystemExit):
        build_parser().parse_args(["compare", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for f in dataclasses.fields(HeadToHeadSettings):
        option = f"--{f.name.replace('_', '-')}"
        assert f"{f.metadata['help']} (default {study.as_option_text(f.default)})" in shown and option in shown
    given = build_parser().parse_args(["compare", "--latent-dims", "2", "4", "--sigma0-grid", "0.1", "1",
                                       "--dataset", "digits", "--out", "x"])
    settings = settings_from_args(given, HeadToHeadSettings)
    assert settings.latent_dims == (2, 4) and settings.sigma0_grid == (0.1, 1.0) and settings.epochs == 30
    assert settings.cli_command() == ("python -m vaelib compare --dataset digits --latent-dims 2 4 --sigma0-grid 0.1 1 "
                                      "--out results/")
    assert HeadToHeadSettings().cli_command("out/") == "python -m vaelib compare --out out/"


def test_settings_keep_tuples_and_the_smoke_run_cuts_the_budget():
    s = HeadToHeadSettings(latent_dims=[2, 8, 32], seeds=[0, 1, 2])
    assert s.latent_dims == (2, 8, 32) and s == HeadToHeadSettings(seeds=(0, 1, 2))
    smoke = s.smoke_run()
    assert (smoke.latent_dims, smoke.seeds, smoke.epochs, smoke.n_samples) == ((2, 8), (0, 1), 2, 200)
    assert (smoke.sigma0_grid, smoke.beta_grid, smoke.selection_dim) == ((0.01, 1.0), (0.5, 1.0), s.selection_dim)


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, as absolute names (relative imports resolved against vaelib's layout)."""
    package = ".".join(("vaelib", *path.relative_to(VAELIB).parent.parts))
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    return names


def test_nothing_below_the_study_imports_it():
    """vaelib.study is the top floor: only the study itself, the CLI and the notebook helpers import it."""
    above = {VAELIB / "cli.py", VAELIB / "notebook.py"}
    offenders = []
    for path in sorted(VAELIB.rglob("*.py")):
        if path in above or (VAELIB / "study") in path.parents:
            continue
        if any(name == "vaelib.study" or name.startswith("vaelib.study.") for name in _imported_modules(path)):
            offenders.append(str(path.relative_to(VAELIB)))
    assert not offenders, f"modules below the study import it: {offenders}"
    assert "vaelib.study" in _imported_modules(VAELIB / "notebook.py"), "the walk resolves relative imports"
    assert "vaelib.claims" in _imported_modules(VAELIB / "study" / "runner.py")


def test_compare_cli_on_digits(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", "--dataset", "digits", "--latent-dims", "2", "4", "--seeds", "0", "1", "--epochs", "2",
            "--n-samples", "300", "--sigma0-grid", "0.1", "1.0", "--beta-grid", "0.5", "1.0", "--selection-dim", "2",
            "--out", str(out), "--answer", str(tmp_path / "answer.md"), "--no-progress"]
    code = main(args)
    assert code == 0, capsys.readouterr().err
    summary = pd.read_csv(out / "summary.csv", header=[0, 1], index_col=[0, 1])
    designs = {d for d, _ in summary.index}
    assert {"ae", "mean-only", "vae", "wae-mmd", "swae", "ae-matched"} <= designs
    assert any(d.startswith("vae-n") for d in designs), "claim 7's small-data VAE is in the table"
    assert ("prior/fid", "mean") in summary.columns and ("prior/fid", "std") in summary.columns
    records = pd.read_csv(out / "records.csv", index_col=0)
    assert set(study.HEAD_TO_HEAD_RECORD_DOCS) <= set(records.columns), "the head-to-head's own keys are documented"
    verdicts = pd.read_csv(out / "verdicts.csv", index_col=0)
    assert all(v in {"confirmed", "refuted", "inconclusive", "depends on latent dim", "not tested"} or " at " in v
               for v in verdicts["verdict"])
    assert list(verdicts.index.astype(str)) == list(CLAIMS)
    assert (out / "summary.md").read_text().count("±") > 10
    sanity = pd.read_csv(out / "sanity.csv", index_col=0)
    assert set(sanity["result"]) == {"pass"}
    selections = pd.read_csv(out / "selections.csv", index_col=0)
    assert list(selections["selection"]) == ["sigma0 (prior FID)", "sigma0 (ELBO)", "beta (prior FID)"]
    answer = (tmp_path / "answer.md").read_text()
    assert answer.startswith("Measured on `digits` with 2 seeds at latent dimensions [2, 4]")
    assert re.search(r"\(claim 7: \*[^*]+\*\)\.\n$", answer), "the answer ends with claim 7's verdict"
    # the same command gives the same numbers (models and records come from the cache or retrain bit-identically)
    first = (out / "records.csv").read_text()
    assert main(args) == 0
    assert (out / "records.csv").read_text() == first


def test_compare_cli_bad_input(tmp_path, capsys):
    assert main(["compare", "--dataset", "cifar", "--out", str(tmp_path / "x")]) == 2
    assert "unknown data set 'cifar'" in capsys.readouterr().err
    assert main(["compare", "--latent-dims", "0", "--out", str(tmp_path / "x")]) == 2
    assert main(["compare", "--selection-dim", "0", "--out", str(tmp_path / "x")]) == 2
    assert "latent_dim must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_plot_verdicts_draws_a_row_per_claim_and_fills_only_significant_markers():
    import matplotlib

    matplotlib.use("Agg")
    from vaelib.plotting import plot_verdicts

    claims = CLAIM_LIST[:3]
    frames = [_claim_frame(claims[0], [1.0, 1.1, 0.9, 1.05, 0.95], [5.0, 5.2, 4.8, 5.1, 4.9]),   # significant
              _claim_frame(claims[1], [1.0, 3.0, 2.0, 2.5, 1.5], [2.0, 1.0, 3.0, 1.5, 2.5])]   # not significant
    results = {claims[0].key: claims[0].test(frames[0]), claims[1].key: claims[1].test(frames[1]),
               claims[2].key: NotTested(claims[2].key, "no records")}
    assert isinstance(results["1"], ClaimResult)
    fig = plot_verdicts(results)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"claim {k}" for k in reversed(list(results))]
    markers = [line for line in ax.get_lines() if line.get_marker() == "o" and len(line.get_xdata()) == 1]
    filled = [m for m in markers if m.get_markerfacecolor() != "white"]
    assert len(markers) == 6 and len(filled) == 3, "3 dims of claim 1 significant, 3 dims of claim 2a not"
    texts = [t.get_text() for t in ax.texts]
    assert "confirmed" in texts and "inconclusive" in texts and "not tested" in texts
