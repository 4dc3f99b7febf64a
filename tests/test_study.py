"""The book's study: the factorial, the claim table, the settings the CLI shares, the records and `compare` on digits."""
import ast
import json
import re
from pathlib import Path

import pandas as pd
import pytest

import vaelib
from vaelib import study
from vaelib.claims import ClaimResult, NotTested, claim_results, verdict_table
from vaelib.cli import build_parser, main, settings_from_args
from vaelib.errors import UnknownNameError, VaelibError
from vaelib.study import (CELLS, CLAIMS, HeadToHeadSettings, book_claims, matched_epochs, mention_claims,
                          sanity_checks, summary_table)
from vaelib.training import History

VAELIB = Path(vaelib.__file__).parent
CLAIM_LIST = book_claims([2, 8, 32], above_intrinsic=[32], data_sizes=[1000, 2000, 4000], n_train=4000)


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
    """Each claim is confirmed when a is clearly on its predicted side of b, refuted when clearly on the other,
    inconclusive on noise."""
    low, high = [1.0, 1.1, 0.9, 1.05, 0.95], [5.0, 5.2, 4.8, 5.1, 4.9]
    noise_a, noise_b = [1.0, 3.0, 2.0, 2.5, 1.5], [2.0, 1.0, 3.0, 1.5, 2.5]
    predicted, other = (low, high) if claim.expected == "lower" else (high, low)
    assert claim.test(_claim_frame(claim, predicted, other)).verdict == "confirmed"
    assert claim.test(_claim_frame(claim, other, predicted)).verdict == "refuted"
    assert claim.test(_claim_frame(claim, noise_a, noise_b)).verdict == "inconclusive"
    assert claim.refuted_if and claim.literature and "BOOK_PLAN" not in claim.literature


def test_claims_are_tested_where_they_say():
    by_key = {c.key: c for c in CLAIM_LIST}
    assert list(by_key) == list(CLAIMS), "one claim per row of the table, in its order"
    assert [case.condition for case in by_key["R1.c2st"].cases] == [32], "R1 only above the intrinsic dim"
    assert [case.condition for case in by_key["L1.ae"].cases] == [2] and [c.condition for c in by_key["L2.ae"].cases] \
        == [8, 32], "the exact likelihood at d = 2, AIS above"
    assert by_key["D1"].condition == "n" and [case.condition for case in by_key["D1"].cases] == [1000, 2000]
    assert [case.a.design for case in by_key["D1"].cases] == ["vae-n1000", "vae-n2000"]
    assert {case.b.design for case in by_key["D1"].cases} == {"vae"} and {c.a.latent_dim for c in by_key["D1"].cases} == {8}
    assert {case.b[0] for case in by_key["T1"].cases} == {"ae-matched"}
    assert [case.condition for case in by_key["G1.fid"].cases] == [2, 8, 32]
    untested = claim_results(pd.DataFrame([{"design": "vae", "latent_dim": 2, "seed": 0}]), CLAIM_LIST)["G2.fid"]
    assert isinstance(untested, NotTested) and "not tested" in untested.measured
    table = verdict_table(pd.DataFrame([{"design": "vae", "latent_dim": 2, "seed": 0}]), CLAIM_LIST)
    assert set(table["verdict"]) == {"not tested"} and "refuted if" in table.columns


def test_sample_quality_is_four_rows_with_their_own_directions():
    fams = {k.split(".")[0] for k in CLAIMS if k.endswith(".fid")}
    assert fams == {"G1", "G2", "G3", "G4", "R4", "S1", "S2"}
    for f in fams:
        rows = study.claim_family(f)
        assert rows == [f"{f}.fid", f"{f}.precision", f"{f}.recall", f"{f}.blur"]
        assert [CLAIMS[k].expected for k in rows] == ["lower", "higher", "higher", "lower"]


@pytest.mark.parametrize("key", [k for k in CLAIMS if CLAIMS[k].changes.startswith("the noise only")
                                 or CLAIMS[k].changes.startswith("the regulariser only")])
def test_a_contrast_that_says_it_changes_one_thing_does(key):
    """Claims whose text says only the noise (or only the regulariser) changes compare two cells that differ in
    exactly that: the same regulariser and weight setting (or the same noise)."""
    a, b = CELLS[CLAIMS[key].a.design], CELLS[CLAIMS[key].b.design]
    if CLAIMS[key].changes.startswith("the noise only"):
        assert a.noise != b.noise and a.weight == b.weight
        assert a.regulariser == b.regulariser or {a.regulariser, b.regulariser} == {"kl", "l2"}, \
            "the L2 penalty is the KL's sigma0 -> 0 limit, at the same beta"
    else:
        assert a.noise == b.noise and a.regulariser != b.regulariser


def test_the_factorial_is_three_by_three_and_its_cells_configure_as_they_say():
    grid = {(c.noise, c.column) for c in CELLS.values() if c.column}
    assert grid == {(n, r) for n in study.factorial.NOISE_LEVELS for r in study.factorial.REGULARISATION}
    tuned = study.Tuned(beta=2.0, mmd=300.0, sw=30.0, sigma0=0.1)
    cfg = {label: study.cell_config(label, dataset="digits", latent_dim=4, epochs=1, seed=0, tuned=tuned)
           for label in CELLS}
    assert cfg["vae"].weight == cfg["mean-only"].weight == cfg["rae"].weight == 2.0
    assert cfg["wae-mmd"].weight == cfg["fixed-mmd"].weight == cfg["learned-mmd"].weight == 300.0
    assert cfg["fixed"].sigma0 == cfg["mean-only"].sigma0 == cfg["fixed-mmd"].sigma0 == 0.1
    assert (cfg["cv-vae"].sigma0, cfg["cv-vae"].weight) == (0.7, 1.0)
    assert [cfg[k].encoder_noise for k in ("ae", "fixed", "learned")] == ["none", "fixed", "learned"]
    assert cfg["learned-mmd"].regulariser_name == "mmd" and cfg["learned-mmd"].head == "gaussian"
    with pytest.raises(VaelibError, match="L2 penalty on the codes: design 'rae'"):
        vaelib.TrainConfig(design="ae", regulariser="kl")


def test_claims_are_cited_by_id_through_the_table():
    assert mention_claims("S1") == "claim S1"
    assert mention_claims("G1", "P3") == "claims G1 and P3"
    assert mention_claims("G1.fid", "R1", "D2") == "claims G1.fid, R1 and D2"
    assert study.claim("P2") is CLAIMS["P2"]
    with pytest.raises(UnknownNameError, match="unknown claim '2b'"):
        mention_claims("G1", "2b")
    with pytest.raises(VaelibError):
        mention_claims()


def test_the_answer_cites_only_claims_of_the_table():
    text = (VAELIB / "study" / "answer.py").read_text()
    cited = set(re.findall(r'r\["([A-Z]\d[.\w-]*)"\]', text)) | set(re.findall(r"cite\('(\w+)'\)", text))
    assert cited, "the scan finds the citations"
    for key in cited:
        study.claim_family(key)


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
    """One definition: `python -m vaelib compare` without options runs HeadToHeadSettings() (the study's defaults)."""
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
    assert all(len(g) == 2 for g in (smoke.sigma0_grid, smoke.beta_grid, smoke.mmd_weight_grid, smoke.sw_weight_grid))


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


SMALL = ["--dataset", "digits", "--latent-dims", "2", "4", "--seeds", "0", "1", "--epochs", "2", "--n-samples", "300",
         "--sigma0-grid", "0.1", "1.0", "--beta-grid", "0.5", "1.0", "--mmd-weight-grid", "10", "100",
         "--sw-weight-grid", "10", "100"]


def test_compare_cli_on_digits_writes_records_that_read_back_and_refuses_stale_ones(tmp_path, capsys, monkeypatch,
                                                                                    kept_cache):
    monkeypatch.setenv("VAELIB_CACHE_DIR", str(kept_cache("compare-cli")))   # trained and evaluated once, then read
    out = tmp_path / "cmp"
    args = ["compare", *SMALL, "--out", str(out), "--bottom-line", str(tmp_path / "bottom.md"), "--no-progress"]
    code = main(args)
    assert code == 0, capsys.readouterr().err
    records = pd.read_csv(out / "records.csv", index_col=0)
    assert set(CELLS) | {"ae-matched", "vae-n360", "ae-n719", "noise-only"} <= set(records["design"])
    assert set(study.HEAD_TO_HEAD_RECORD_DOCS) <= set(records.columns), "the head-to-head's own keys are documented"
    assert {"two-stage/fid", "agg_c2st_accuracy", "loglik_ais_nats"} <= set(records.columns)
    verdicts = pd.read_csv(out / "verdicts.csv", index_col=0)
    assert list(verdicts.index.astype(str)) == list(CLAIMS)
    selections = pd.read_csv(out / "selections.csv", index_col=0)
    assert len(selections) == 5 * 2 and set(selections["setting"]) == {n for n, *_ in study.runner.SWEEPS}
    sanity = pd.read_csv(out / "sanity.csv", index_col=0)
    assert set(sanity["result"]) == {"pass"}
    assert "**Scope.** `digits`" in (tmp_path / "bottom.md").read_text()
    # the records read back into the same verdicts, and the same command gives the same numbers
    loaded = study.load_head_to_head(out)
    assert loaded.verdicts()["verdict"].tolist() == verdicts["verdict"].tolist()
    first = (out / "records.csv").read_text()
    assert main(args) == 0
    assert (out / "records.csv").read_text() == first
    # records made by other metrics are refused, naming the command that refreshes them
    meta = json.loads((out / "provenance.json").read_text())
    (out / "provenance.json").write_text(json.dumps({**meta, "metrics_version": meta["metrics_version"] - 1}))
    with pytest.raises(VaelibError, match=r"made by other code \(metrics_version .*python -m vaelib study head-to-head"):
        study.load_head_to_head(out)


def test_compare_cli_bad_input(tmp_path, capsys):
    assert main(["compare", "--dataset", "cifar", "--out", str(tmp_path / "x")]) == 2
    assert "unknown data set 'cifar'" in capsys.readouterr().err
    assert main(["compare", "--latent-dims", "0", "--out", str(tmp_path / "x")]) == 2
    assert "latent_dim must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["study", "nonsense"]) == 2
    assert "unknown study 'nonsense'; accepted: 'head-to-head', 'budget', 'generality'" in capsys.readouterr().err


def test_plot_verdicts_draws_a_row_per_claim_and_fills_only_significant_markers():
    import matplotlib

    matplotlib.use("Agg")
    from vaelib.plotting import plot_verdicts

    claims = CLAIM_LIST[:3]
    frames = [_claim_frame(claims[0], [1.0, 1.1, 0.9, 1.05, 0.95], [5.0, 5.2, 4.8, 5.1, 4.9]),   # significant
              _claim_frame(claims[1], [1.0, 3.0, 2.0, 2.5, 1.5], [2.0, 1.0, 3.0, 1.5, 2.5])]   # not significant
    results = {claims[0].key: claims[0].test(frames[0]), claims[1].key: claims[1].test(frames[1]),
               claims[2].key: NotTested(claims[2].key, "no records")}
    assert isinstance(results[claims[0].key], ClaimResult)
    fig = plot_verdicts(results)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"claim {k}" for k in reversed(list(results))]
    markers = [line for line in ax.get_lines() if line.get_marker() == "o" and len(line.get_xdata()) == 1]
    filled = [m for m in markers if m.get_markerfacecolor() != "white"]
    assert len(markers) == 6 and len(filled) == 3, "3 dims of the first claim significant, 3 of the second not"
    texts = [t.get_text() for t in ax.texts]
    assert "confirmed" in texts and "inconclusive" in texts and "not tested" in texts
