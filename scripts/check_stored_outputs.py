"""Refuse to build the book from notebooks that were not committed executed.

The book is rendered from the notebooks' stored outputs (Jupyter Book's ``execute_notebooks:
off``): a notebook stored without outputs, executed only in part, or holding an error output
would publish a page without its numbers. Prints one line per bad notebook, naming it and
what to run, and exits 1; prints nothing and exits 0 when every notebook is fine.

Usage: python scripts/check_stored_outputs.py notebooks/*.ipynb
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

FIX = "re-execute it: bash scripts/execute_notebooks.sh"


def problem(path: Path) -> str | None:
    """Why ``path`` cannot be rendered as stored (one line), or None when it can."""
    try:
        notebook = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        return f"{path}: not a readable notebook ({e})"
    code = [c for c in notebook.get("cells", []) if c.get("cell_type") == "code" and "".join(c.get("source", [])).strip()]
    if code and not any(c.get("outputs") for c in code):
        return f"{path}: stored without outputs; {FIX} {path}"
    for i, cell in enumerate(notebook.get("cells", [])):
        if cell in code and cell.get("execution_count") is None:
            return f"{path}: cell {i} was not executed (stored in part); {FIX} {path}"
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                return f"{path}: cell {i} stores an error ({out.get('ename')}: {out.get('evalue', '')[:80]}); {FIX} {path}"
    return None


def main(paths: list[str]) -> int:
    """Print a line for every bad notebook among ``paths``; return the exit status (1 if any)."""
    problems = [p for p in (problem(Path(a)) for a in paths) if p]
    for line in problems:
        print(f"book: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
