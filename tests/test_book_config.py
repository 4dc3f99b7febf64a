"""The book's configuration: _config.yml, _toc.yml, the bibliography and the pages they name.

These checks are fast and need no build: every table-of-contents entry exists, every
citation resolves, math is served offline, execution fails loudly, and only the book's own
pages are built. The build itself (``bash scripts/build_book.sh``, warnings are errors) and
the browser check (tests/test_browser.py) test the rendered result.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
BIB = ROOT / "book" / "references.bib"

EXPECTED_ORDER = [
    "book/intro",
    "book/theory",
    "notebooks/01_deterministic_z",
    "notebooks/02_mean_only",
    "notebooks/03_mean_and_variance",
    "notebooks/04_empirical_prior",
    "notebooks/05_head_to_head",
    "notebooks/06_does_it_hold",
    "book/references",
]

# {cite}`a,b`, {cite:p}`a`, {cite:t}`a`, {cite:ps}`a` ... (sphinxcontrib-bibtex roles in MyST)
CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
DOC_ROLE = re.compile(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`")


def toc_entries() -> list[str]:
    """Every document of the table of contents, in reading order (root first)."""
    entries = [TOC["root"]]

    def walk(items):
        for item in items:
            if "file" in item:
                entries.append(item["file"])
            for key in ("sections", "chapters"):
                walk(item.get(key, []))
            for part in item.get("parts", []):
                walk(part.get("chapters", []))

    walk(TOC.get("chapters", []))
    for part in TOC.get("parts", []):
        walk(part.get("chapters", []))
    return entries


def book_markdown() -> list[Path]:
    return sorted((ROOT / "book").rglob("*.md"))


def notebook_markdown(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def cited_keys() -> dict[str, set[str]]:
    """Citation key -> the files citing it, over book/**/*.md and the notebooks' markdown cells."""
    sources = {p: p.read_text() for p in book_markdown()}
    sources.update({p: notebook_markdown(p) for p in sorted((ROOT / "notebooks").glob("*.ipynb"))})
    keys: dict[str, set[str]] = {}
    for path, text in sources.items():
        for match in CITE_ROLE.finditer(text):
            for key in match.group(1).split(","):
                keys.setdefault(key.strip(), set()).add(path.relative_to(ROOT).as_posix())
    return keys


def test_toc_is_a_jupyter_book_1_toc_in_reading_order():
    assert TOC["format"] == "jb-book"
    assert toc_entries() == EXPECTED_ORDER


@pytest.mark.parametrize("entry", EXPECTED_ORDER)
def test_every_toc_entry_exists(entry):
    candidates = [ROOT / f"{entry}{ext}" for ext in (".md", ".ipynb")]
    assert any(p.is_file() for p in candidates), f"_toc.yml lists {entry}, but neither .md nor .ipynb exists"


def test_bibliography_parses_and_every_entry_is_complete():
    from pybtex.database import parse_file

    bib = parse_file(str(BIB))  # raises on syntax errors and duplicate keys
    assert len(bib.entries) >= 18
    for key, entry in bib.entries.items():
        assert re.fullmatch(r"[a-z]+\d{4}[a-z]+", key), f"key {key!r} is not author+year+word"
        assert entry.persons.get("author"), f"{key}: no author"
        assert entry.fields.get("title"), f"{key}: no title"
        assert re.fullmatch(r"\d{4}", entry.fields.get("year", "")), f"{key}: no year"
        if entry.type == "inproceedings":
            assert entry.fields.get("booktitle"), f"{key}: no booktitle"


def test_every_cited_key_is_in_the_bibliography():
    from pybtex.database import parse_file

    known = set(parse_file(str(BIB)).entries.keys())
    cited = cited_keys()
    assert cited, "no {cite} role found in the book"
    missing = {key: sorted(files) for key, files in cited.items() if key not in known}
    assert not missing, f"cited but not in book/references.bib: {missing}"


def test_the_references_page_holds_the_bibliography_and_config_points_at_the_bib_file():
    assert "```{bibliography}" in (ROOT / "book" / "references.md").read_text()
    assert CONFIG["bibtex_bibfiles"] == ["book/references.bib"]
    assert CONFIG["sphinx"]["config"]["bibtex_reference_style"] == "author_year"


def test_doc_links_in_the_book_pages_point_at_toc_documents():
    entries = set(toc_entries())
    for page in book_markdown():
        for target in DOC_ROLE.findall(page.read_text()):
            resolved = (page.parent / target).resolve().relative_to(ROOT).as_posix()
            assert resolved in entries, f"{page.relative_to(ROOT)} links to {target}, not in _toc.yml"


def test_math_is_rendered_with_the_offline_mathjax_extension():
    extensions = CONFIG["sphinx"]["extra_extensions"]
    # The PyPI package sphinx-mathjax-offline installs a module spelled with hyphens.
    assert "sphinx-mathjax-offline" in extensions
    module = importlib.import_module("sphinx-mathjax-offline")
    assert (Path(module.__file__).parent / "static" / "mathjax" / "tex-chtml.js").is_file()
    sphinx_config = CONFIG["sphinx"].get("config") or {}
    assert "mathjax_path" not in sphinx_config, "mathjax_path would override the offline copy"
    myst = CONFIG["parse"]["myst_enable_extensions"]
    for ext in ("dollarmath", "amsmath", "colon_fence", "deflist", "substitution"):
        assert ext in myst


def test_the_book_renders_stored_outputs_without_executing_and_without_stderr_warnings():
    execute = CONFIG["execute"]
    assert execute["execute_notebooks"] == "off", "the build renders the committed outputs; nbval executes"
    # "warn", "remove-warn", "error" and "severe" turn every tqdm line on stderr into a
    # Sphinx warning, and the build runs with -W.
    assert execute["stderr_output"] in ("show", "remove")


def _check_stored_outputs():
    spec = importlib.util.spec_from_file_location("check_stored_outputs", ROOT / "scripts" / "check_stored_outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _notebook(path, cells):
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def _code(outputs, count=1):
    return {"cell_type": "code", "source": ["print(1)"], "metadata": {}, "execution_count": count, "outputs": outputs}


@pytest.mark.parametrize("cells, message", [
    ([_code([], None), _code([], None)], "stored without outputs"),
    ([_code([{"output_type": "stream", "name": "stdout", "text": "1"}]), _code([], None)], "cell 1 was not executed"),
    ([_code([{"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []}])],
     "cell 0 stores an error (ValueError: bad)"),
])
def test_the_build_refuses_a_notebook_that_was_not_committed_executed(tmp_path, capsys, cells, message):
    check = _check_stored_outputs()
    bad = _notebook(tmp_path / "07_bad.ipynb", cells)
    good = _notebook(tmp_path / "06_good.ipynb", [_code([{"output_type": "stream", "name": "stdout", "text": "1"}])])
    assert check.main([str(good)]) == 0
    assert check.main([str(good), str(bad)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "07_bad.ipynb" in lines[0] and message in lines[0], lines
    assert "scripts/execute_notebooks.sh" in lines[0]


def test_every_committed_notebook_passes_the_build_check():
    notebooks = sorted(str(p) for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert _check_stored_outputs().main(notebooks) == 0


def test_only_the_book_pages_are_built():
    assert CONFIG["only_build_toc_files"] is True
    excluded = set(CONFIG["exclude_patterns"])
    for pattern in (".venv", "_build", "tests", "benchmarks", "README.md", "vaelib"):
        assert pattern in excluded


def test_repository_launch_and_download_buttons():
    repo = CONFIG["repository"]
    assert repo["url"] == "https://github.com/vaelib/why-sample-z"
    assert repo["branch"] == "main"
    assert repo.get("path_to_book", "") == ""  # the book root is the repository root
    launch = CONFIG["launch_buttons"]
    assert launch["colab_url"] == "https://colab.research.google.com"
    assert launch["notebook_interface"] == "classic"
    html = CONFIG["html"]
    assert html["use_repository_button"] is True and html["use_issues_button"] is True
    assert CONFIG["sphinx"]["config"]["html_theme_options"]["use_download_button"] is True
    # sphinx.config.html_theme_options must be merged into, not replace, the theme options
    # Jupyter Book derives from repository/launch_buttons/html.
    assert CONFIG["sphinx"]["recursive_update"] is True


def test_footer_states_the_licences_and_how_to_cite():
    footer = CONFIG["html"]["extra_footer"]
    assert "MIT" in footer and "CC BY 4.0" in footer
    assert "cite" in footer.lower() and CONFIG["repository"]["url"] in footer


INTRO = ROOT / "book" / "intro.md"
GENERATED = ROOT / "book" / "_generated"


def test_intro_includes_the_generated_bottom_line_in_a_bottom_line_admonition():
    intro = INTRO.read_text()
    match = re.search(r"```\{include\}\s+(\S+)", intro)
    assert match, "book/intro.md must include the generated bottom line"
    assert (INTRO.parent / match.group(1)).resolve() == GENERATED / "bottom_line.md"
    assert (GENERATED / "bottom_line.md").is_file(), "run scripts/execute_notebooks.sh (study.write_bottom_line)"
    # the include sits inside the admonition whose class the browser check finds on the first screen
    admonition = re.search(r":::\{admonition\}[^\n]*\n:class: bottom-line\n(.*?)\n:::", intro, flags=re.S)
    assert admonition and match.group(0) in admonition.group(1), "the include is not inside the bottom-line admonition"


def test_intro_shows_the_generated_answer_figure_with_alt_text_of_its_own():
    intro = INTRO.read_text()
    figure = re.search(r"```\{figure\}\s+(\S+)\n((?::[\w-]+:[^\n]*\n)*)", intro)
    assert figure, "book/intro.md must show the answer figure"
    assert (INTRO.parent / figure.group(1)).resolve() == GENERATED / "answer_figure.png"
    assert (GENERATED / "answer_figure.png").is_file(), "run scripts/execute_notebooks.sh (study.write_answer_figure)"
    options = dict(re.findall(r":([\w-]+):[ \t]*([^\n]*)", figure.group(2)))
    assert options.get("class") == "answer-figure", options
    alt = options.get("alt", "").strip()
    assert len(alt) > 40, f"the answer figure needs alt text that describes it, got {alt!r}"
    assert not re.fullmatch(r"\S+\.(png|jpe?g|svg|gif)", alt) and "/" not in alt.split()[0], \
        f"the answer figure's alt text is a path: {alt!r}"


def test_the_committed_bottom_line_is_the_one_the_committed_head_to_head_gives():
    from vaelib import study

    # regenerated from the committed records: a bottom line left stale by new records or new wording fails here
    expected = study.bottom_line(study.load_head_to_head())
    assert (GENERATED / "bottom_line.md").read_text() == expected, \
        "book/_generated/bottom_line.md is stale: regenerate it with scripts/execute_notebooks.sh"


def test_the_book_does_not_read_outside_the_repository():
    files = [ROOT / "_config.yml", ROOT / "_toc.yml", *book_markdown(), *sorted((ROOT / "notebooks").glob("*.ipynb"))]
    for path in files:
        text = path.read_text()
        assert "../shared" not in text and "/work/shared" not in text, f"{path.relative_to(ROOT)} reads ../shared"
