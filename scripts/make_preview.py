"""Copy the README's preview figure out of the executed head-to-head notebook into docs/preview.png.

The figure is the first plot after the heading "The trade-offs, plotted" (reconstruction vs
sample quality). Run after re-executing the notebooks: .venv/bin/python scripts/make_preview.py
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    cells = json.loads((ROOT / "notebooks" / "05_head_to_head.ipynb").read_text())["cells"]
    start = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and "trade-offs" in "".join(c["source"]))
    png = next(o["data"]["image/png"] for c in cells[start:] for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
    out = ROOT / "docs" / "preview.png"
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(base64.b64decode(png))
    print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
