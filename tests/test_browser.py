"""The built book in a real browser: every page renders, math is typeset, figures show, no errors.

Needs the HTML from ``bash scripts/build_book.sh`` (the test command builds it first) and
Debian's ``chromium`` (installed by ``scripts/setup.sh`` where apt-get is available). It
skips with a visible reason only when there is no browser outside CI; in CI it fails.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    entries = [toc["root"]] + [c["file"] for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}])
                               for c in part["chapters"]]
    return entries


PAGES = _pages()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("no chromium in CI: scripts/setup.sh should have installed Debian's chromium")
        pytest.skip("no chromium/chrome on this machine: install Debian's chromium to run the browser check")
    if not (HTML / "index.html").exists():
        pytest.fail("no built book at _build/html: run `bash scripts/build_book.sh` first")
    return CHROMIUM


def rendered_dom(browser: str, page: str) -> str:
    """The page's DOM after its scripts (MathJax included) have run, as Chromium serialises it."""
    url = (HTML / f"{page}.html").as_uri()
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=15000",
             "--dump-dom", url],
            capture_output=True, text=True, timeout=120,
        )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_typeset_math_and_no_error_output(browser, page):
    dom = rendered_dom(browser, page)
    assert "<article" in dom and len(dom) > 5000, "page did not render"
    body = re.sub(r"<script.*?</script>", "", dom, flags=re.S)
    main = body[body.find("<main"):]
    # raw TeX delimiters left in the text mean MathJax did not run
    text = re.sub(r"<[^>]+>", " ", main)
    assert "$$" not in text and "\\[" not in text and "\\begin{" not in text, "untypeset math left on the page"
    if "math" in dom and ("\\(" in dom or "mjx" in dom):
        assert "<mjx-container" in dom, "math present but MathJax produced no output"
    assert "Traceback (most recent call last)" not in text
    assert 'class="output error"' not in dom and "output_error" not in dom


@pytest.mark.parametrize("page", [p for p in PAGES if p.startswith("notebooks/")])
def test_notebook_page_shows_its_figures_and_colab_link(browser, page):
    dom = rendered_dom(browser, page)
    figures = re.findall(r'<img[^>]+src="(\.\./_images/[^"]+\.png)"', dom)
    assert figures, "no figure on the notebook page"
    for src in figures:
        assert (HTML / "notebooks" / src).resolve().exists(), f"missing image {src}"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].rstrip("/").split("github.com/")[1]
    branch = config["repository"].get("branch", "main")
    colab = f"https://colab.research.google.com/github/{repo}/blob/{branch}/{page}.ipynb"
    assert colab in dom, f"launch button should point at {colab}"


#: The reader's screen for the layout checks: a laptop browser window.
SCREEN = (1280, 800)

#: Runs in the page after it has loaded and MathJax has typeset: measures the layout as the reader sees it and
#: writes it into the DOM, where --dump-dom can read it.
_LAYOUT_PROBE = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const top = el => el.getBoundingClientRect().top + window.scrollY;
  const report = {
    viewport: [window.innerWidth, window.innerHeight],
    images: [...document.querySelectorAll("img")].map(i => ({src: i.getAttribute("src"), alt: i.getAttribute("alt") || ""})),
    wide_tables: [...document.querySelectorAll("main table")].filter(t => {
      const box = t.closest(".cell_output, .output, .table-wrapper, .pst-scrollable-table-container") || t.parentElement;
      return t.scrollWidth > box.clientWidth + 1;
    }).map(t => t.innerText.slice(0, 80)),
    bottom_line: [...document.querySelectorAll("main .bottom-line")].map(top),
    answer_figure: [...document.querySelectorAll("main .answer-figure img, main img.answer-figure")].map(top),
  };
  const pre = document.createElement("pre");
  pre.id = "layout-report";
  pre.textContent = JSON.stringify(report);
  document.body.appendChild(pre);
}, 3000));
</script>
"""


def layout(browser: str, page: str) -> dict:
    """The layout of ``page`` at :data:`SCREEN` size: its images (src, alt), the tables wider than their box, and
    the vertical positions (px from the top of the page) of the bottom line and the answer figure."""
    source = HTML / f"{page}.html"
    probe = source.with_name(f".layout-probe-{source.name}")   # beside the page, so relative links resolve
    probe.write_text(source.read_text().replace("</body>", _LAYOUT_PROBE + "</body>"))
    try:
        with tempfile.TemporaryDirectory() as profile:
            out = subprocess.run(
                [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={SCREEN[0]},{SCREEN[1]}",
                 "--virtual-time-budget=20000", "--dump-dom", probe.as_uri()],
                capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink(missing_ok=True)
    assert out.returncode == 0, out.stderr[-2000:]
    found = re.search(r'<pre id="layout-report">(.*?)</pre>', out.stdout, flags=re.S)
    assert found, "the layout probe did not run"
    import html

    return json.loads(html.unescape(found.group(1)))


def alt_text_of_its_own(alt: str, src: str) -> bool:
    """Whether ``alt`` describes an image: not empty, and not a file path or name (the image's own or any other)."""
    alt = alt.strip()
    if not alt:
        return False
    name = src.rsplit("/", 1)[-1]
    looks_like_path = bool(re.fullmatch(r"\S+\.(png|jpe?g|svg|gif|webp)", alt, flags=re.I)) or \
        (" " not in alt and ("/" in alt or "\\" in alt))
    return not looks_like_path and alt not in (src, name)


def test_the_alt_text_check_refuses_paths_and_empty_alt_text():
    assert alt_text_of_its_own("Nine panels: FID against the regulariser, one line per noise level.", "a.png")
    for alt in ("", "  ", "../_images/answer_figure.png", "answer_figure.png", "_generated/answer_figure",
                "book\\_generated\\fig", "fig_1.PNG"):
        assert not alt_text_of_its_own(alt, "../_images/answer_figure.png"), alt


def test_at_laptop_size_the_introduction_gives_the_answer_on_the_first_screen(browser):
    report = layout(browser, PAGES[0])   # the root page: the introduction
    assert report["viewport"][0] == SCREEN[0], report["viewport"]
    assert report["bottom_line"], "no .bottom-line element on the introduction"
    assert report["bottom_line"][0] < SCREEN[1], \
        f"the bottom line starts {report['bottom_line'][0]:.0f} px down, below the first {SCREEN[1]} px screen"
    assert report["answer_figure"], "no .answer-figure img on the introduction"
    assert report["answer_figure"][0] < 2 * SCREEN[1], \
        f"the answer figure starts {report['answer_figure'][0]:.0f} px down, below the second screen ({2 * SCREEN[1]} px)"


@pytest.mark.parametrize("page", PAGES)
def test_at_laptop_size_every_figure_has_alt_text_and_no_table_scrolls_sideways(browser, page):
    report = layout(browser, page)
    assert report["viewport"][0] == SCREEN[0], report["viewport"]
    # Jupyter Book writes the file's path as the alt text of an output image that has none of its own
    # (a cell's ``mystnb.image.alt`` metadata sets it)
    missing = [i["src"] for i in report["images"] if not alt_text_of_its_own(i["alt"], i["src"])]
    assert not missing, f"figures without alt text of their own: {missing}"
    assert not report["wide_tables"], f"tables wider than the page at {SCREEN[0]} px: {report['wide_tables']}"
