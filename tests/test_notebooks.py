"""The notebooks as documents: Colab badge and install cell, parameters, smoke runs, bad parameters.

The outputs of each notebook are compared with nbval (see README: the test command runs
``pytest --nbval notebooks``); this file checks what nbval cannot.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
REPO_PATH = REPO_URL.split("github.com/")[1]
VERSION = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


#: The notebooks that read a committed study instead of training (their setup call is setup_study).
STUDY_NOTEBOOKS = ("05_head_to_head", "06_does_it_hold")


def test_the_book_has_its_six_notebooks_in_order():
    names = [p.stem for p in NOTEBOOKS]
    assert len(names) == 6, names
    assert names[0].startswith("01_deterministic") and names[4:] == list(STUDY_NOTEBOOKS)
    toc = (ROOT / "_toc.yml").read_text()
    positions = [toc.index(f"notebooks/{n}") for n in names]
    assert positions == sorted(positions)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_hold_no_wall_clock_metric_or_progress_bar(path):
    """nbval compares stored outputs with a fresh run: machine-dependent values must not be in them raw."""
    from vaelib.metrics import WALL_CLOCK_METRICS

    for i, cell in enumerate(cells(path)):
        for out in cell.get("outputs", []):
            assert not (out["output_type"] == "stream" and out["name"] == "stderr"), \
                f"cell {i} stores stderr (progress bars appear only when a model is not in the cache)"
            texts = [out.get("text", "")] + list(out.get("data", {}).values())
            text = "".join("".join(t) if isinstance(t, list) else str(t) for t in texts)
            for name in WALL_CLOCK_METRICS:
                assert name not in text, f"cell {i} shows the wall-clock metric {name!r}"


def _install_cell(path: Path) -> dict:
    return next(c for c in cells(path) if c["cell_type"] == "code" and "google.colab" in source(c))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_colab_badge_and_install_cell_point_at_this_repository_and_notebook(path):
    cs = cells(path)
    rel = path.relative_to(ROOT).as_posix()
    badge = f"https://colab.research.google.com/github/{REPO_PATH}/blob/v{VERSION}/{rel}"
    assert badge in source(cs[0]), f"first cell must carry the Colab badge {badge}"
    src = source(_install_cell(path))
    assert '"google.colab" in sys.modules' in src, "the install cell must run only in Colab"
    assert f"git+{REPO_URL}@v{VERSION}" in src, "Colab installs vaelib from this repository's release tag"
    for forbidden in ("torch", "numpy"):
        assert f"install {forbidden}" not in src and f"-U {forbidden}" not in src


def test_the_install_cell_is_the_same_in_every_notebook():
    assert len({source(_install_cell(p)) for p in NOTEBOOKS}) == 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_setup_call_after_the_install_cell(path):
    """The install guard runs before vaelib is imported; then one call checks the parameters, sets the style and
    prints what runs (vaelib.notebook.setup, or setup_study in the notebooks that read a committed study): no setup
    lines repeated here."""
    code = [c for c in cells(path) if c["cell_type"] == "code"]
    first_import = next(i for i, c in enumerate(code) if re.search(r"^import vaelib\b", source(c), re.M))
    assert code.index(_install_cell(path)) < first_import
    pattern = r"^\w+ = setup_study\(" if path.stem in STUDY_NOTEBOOKS else r"^\w+, data = setup\("
    calls = re.findall(pattern, source(code[first_import]), re.M)
    assert len(calls) == 1, "one setup call, in the cell that imports vaelib"
    everything = "".join(source(c) for c in code)
    for repeated in ("check_parameters", "use_book_style", "numerics.current()", "VAELIB_NUMERICS\"] ="):
        assert repeated not in everything, f"{repeated} belongs to the setup call"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_is_tagged_and_typed(path):
    tagged = [c for c in cells(path) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one papermill 'parameters' cell"
    src = source(tagged[0])
    for name in ("FAST",) + (("DATASET",) if path.stem not in STUDY_NOTEBOOKS else ()):
        assert re.search(rf"^{name}\s*(:\s*\w+\s*)?=", src, re.M), f"parameter {name} missing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_are_executed_and_error_free(path):
    code = [c for c in cells(path) if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code if source(c).strip()), "commit notebooks executed"
    for c in code:
        for out in c.get("outputs", []):
            assert out["output_type"] != "error", f"stored error output in {path.name}"
    assert any(o.get("data", {}).get("image/png") for c in code for o in c.get("outputs", [])), "no figure"


def _papermill(path: Path, out: Path, **parameters):
    import papermill

    return papermill.execute_notebook(str(path), str(out), parameters=parameters, kernel_name="python3",
                                      cwd=str(path.parent), progress_bar=False, log_output=False)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_smoke_run_with_fast_parameters(path, tmp_path, monkeypatch, kept_cache):
    """Each notebook runs top to bottom with FAST=True. The smoke runs share one cache, as the book's notebooks share
    theirs, kept between test runs: from an empty cache they train their models, later runs load them."""
    monkeypatch.setenv("VAELIB_CACHE_DIR", str(kept_cache("smoke-runs")))
    _papermill(path, tmp_path / path.name, FAST=True)
    executed = json.loads((tmp_path / path.name).read_text())
    assert not [o for c in executed["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]


@pytest.mark.parametrize("bad, message", [
    ({"DATASET": "cifar10"}, "unknown data set 'cifar10'"),
    ({"EPOCHS": -3}, "epochs must be > 0"),
    ({"LATENT_DIM": 0}, "latent_dim must be > 0"),
])
def test_bad_parameter_stops_the_notebook_in_its_first_cells_with_one_line(bad, message, tmp_path, monkeypatch):
    import papermill

    monkeypatch.setenv("VAELIB_CACHE_DIR", str(tmp_path / "cache"))
    path = NOTEBOOKS[0]
    with pytest.raises(papermill.PapermillExecutionError) as info:
        _papermill(path, tmp_path / "out.ipynb", FAST=True, **bad)
    assert message in str(info.value)
    executed = json.loads((tmp_path / "out.ipynb").read_text())
    errors = [(i, o) for i, c in enumerate(executed["cells"]) for o in c.get("outputs", [])
              if o["output_type"] == "error"]
    index, error = errors[0]
    assert index <= 6, "the parameter check must be among the first cells"
    assert len(error["traceback"]) == 1 and message in error["traceback"][0]


def test_notebook_5_shows_the_introductions_bottom_line():
    """The introduction includes book/_generated/bottom_line.md; notebook 5 shows the same answer, generated from the
    same committed study: a stale notebook or a stale file fails here."""
    generated = (ROOT / "book" / "_generated" / "bottom_line.md").read_text().strip()
    nb5 = ROOT / "notebooks" / "05_head_to_head.ipynb"
    shown = ["".join(o["data"]["text/markdown"]).strip() for c in cells(nb5) if "study.bottom_line(" in source(c)
             for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]
    assert shown == [generated], "re-execute notebooks/05_head_to_head.ipynb (scripts/execute_notebooks.sh)"
    assert "_generated/bottom_line.md" in (ROOT / "book" / "intro.md").read_text()


def test_notebook_6_shows_the_introductions_robustness_line():
    """The introduction's "Does it hold?" line (book/_generated/robustness.md) is the one notebook 6 shows first."""
    generated = (ROOT / "book" / "_generated" / "robustness.md").read_text().strip()
    nb6 = ROOT / "notebooks" / "06_does_it_hold.ipynb"
    shown = ["".join(o["data"]["text/markdown"]) for c in cells(nb6) if "study.robustness_line(" in source(c)
             for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]
    assert len(shown) == 1 and generated in shown[0], "re-execute notebooks/06_does_it_hold.ipynb"
    assert "_generated/robustness.md" in (ROOT / "book" / "intro.md").read_text()


def _parameters(path: Path) -> dict:
    """The default values of a notebook's parameters cell."""
    import ast

    cell = next(c for c in cells(path) if "parameters" in c.get("metadata", {}).get("tags", []))
    values = {}
    for node in ast.parse(source(cell)).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            values[target.id] = ast.literal_eval(node.value)
    return values


@pytest.mark.parametrize("stem", STUDY_NOTEBOOKS)
def test_a_study_notebook_reads_records_and_trains_nothing(stem, tmp_path, monkeypatch, kept_cache):
    """Notebooks 5 and 6 read committed records: notebook 6 asks for no model and notebook 5 only for the models
    whose samples it shows (seed 0, the middle latent dim, one per cell of the 3 x 3 factorial), trained or loaded
    (the cache is kept between test runs; the train log counts both); pointed at a folder without records they stop
    in their first cells, naming the command that writes them."""
    import papermill

    from vaelib.cache import TRAIN_LOG_ENV

    monkeypatch.setenv("VAELIB_CACHE_DIR", str(kept_cache("study-notebooks")))
    log = tmp_path / "train-log.jsonl"
    monkeypatch.setenv(TRAIN_LOG_ENV, str(log))
    path = ROOT / "notebooks" / f"{stem}.ipynb"
    _papermill(path, tmp_path / "ok.ipynb", FAST=True)
    asked = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    if stem.startswith("05"):
        models = {(e["design"], e["dataset"], e["latent_dim"], e["seed"]) for e in asked}
        assert 0 < len(models) <= 9 and all(m[1:] == ("mnist5k", 8, 0) for m in models), models
    else:
        assert not asked, f"notebook 6 trained or loaded models: {asked}"
    folder = "STUDY_DIR" if stem.startswith("05") else "STUDY_ROOT"
    with pytest.raises(papermill.PapermillExecutionError) as info:
        _papermill(path, tmp_path / "bad.ipynb", **{folder: str(tmp_path / "nowhere")})
    assert "python -m vaelib study" in str(info.value)


#: One claim id: a letter and a number, then optionally a dot and a part ("G3", "R1.c2st", "L2.wae-mmd").
CLAIM_ID = r"[A-Z]\d+(?:\.[\w-]+)?"
#: How the book's prose cites claims: "claim G3", "Claims P3 and R1.c2st", "claims G1.fid, R2 and S3".
CLAIM_MENTION = re.compile(rf"\b[Cc]laims?\s+({CLAIM_ID}(?:(?:,\s*|\s+and\s+){CLAIM_ID})*)")
#: How code cites them: study.mention_claims('2b', '3') and study.claim('4') (every id), verdicts.loc['5', ...].
CLAIM_CALL = re.compile(r"\b(?:mention_claims|claim|cite)\(((?:\s*['\"][\w.-]+['\"]\s*,?)+)\)")
VERDICT_ROW = re.compile(r"verdicts\.loc\[\s*['\"]([\w.-]+)['\"]")


def claim_ids_cited(text: str) -> list[str]:
    """Every claim id ``text`` cites: in prose, in calls, and in the column of a Markdown table headed "claim"."""
    ids = [i for m in CLAIM_MENTION.findall(text) for i in re.split(r",\s*|\s+and\s+", m)]
    ids += [i for m in CLAIM_CALL.findall(text) for i in re.findall(r"['\"]([\w.-]+)['\"]", m)]
    ids += VERDICT_ROW.findall(text)
    header = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        row = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = row
        elif not set("".join(row)) <= set("-: "):
            ids += [i for name, c in zip(header, row) if "claim" in name for i in re.split(r",\s*|\s+and\s+", c)]
    return ids


def test_the_claim_scan_sees_every_way_of_citing():
    text = ("see claim G6 and Claims P2 and R1.c2st; claims G1.fid, S2 and L2.wae-mmd.\n"
            "x = study.mention_claims('D3', \"T1\") + verdicts.loc['S3', 'verdict']\n\n"
            "| label | for claim |\n|---|---|\n| `a` | G4.fid |\n| `b` | R2 |\n")
    assert sorted(claim_ids_cited(text)) == sorted(["G6", "P2", "R1.c2st", "G1.fid", "S2", "L2.wae-mmd", "D3", "T1",
                                                    "S3", "G4.fid", "R2"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_claim_a_notebook_cites_is_in_the_study_table(path):
    """A claim cited by an id the table does not have (a stale reference) fails here, before anyone executes."""
    from vaelib.study import CLAIMS, claim_families

    cited = [i for c in cells(path) for i in claim_ids_cited(source(c))]
    stale = sorted(set(cited) - set(CLAIMS) - set(claim_families()))
    assert not stale, f"{path.name} cites claims the study does not have: {stale}"
    if path.stem.startswith(("04", "05")):
        assert cited, "the scan finds this notebook's citations"


def test_no_notebook_writes_the_books_generated_files():
    """book/_generated is written by `python -m vaelib study` and scripts/execute_notebooks.sh, not by a cell."""
    for path in NOTEBOOKS:
        code = "".join(source(c) for c in cells(path) if c["cell_type"] == "code")
        assert "write_" not in code and "to_csv" not in code and "savefig" not in code, path.name
    script = (ROOT / "scripts" / "execute_notebooks.sh").read_text()
    assert 'write_bottom_line(h2h, "book/_generated/bottom_line.md")' in script
