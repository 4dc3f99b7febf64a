"""A study's committed records: tables written with their provenance, and read back only by matching code.

Work too long for CI (an hour or more of training) runs once, with
``python -m vaelib study NAME``, and its tables are committed under
``book/_generated/studies/NAME/`` with ``provenance.json``: the vaelib version and git commit,
the numerics and the machine (CPU or GPU model), the torch version, the versions of the
caches and metrics that made the numbers, and the seconds it took. The notebooks read them with
:func:`read_study`, which refuses, with one line naming the command that refreshes them, records
whose metrics or training code are not the current ones.
"""
from __future__ import annotations

import datetime
import io
import json
import platform
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__, numerics, store
from ..errors import VaelibError

#: Where the book keeps its studies' records: ``book/_generated/studies/<name>/`` of the repository.
STUDIES_DIR: Path = Path(__file__).resolve().parents[2] / "book" / "_generated" / "studies"

#: The provenance entries that must equal the running code's for the records to be read.
MATCHING: tuple[str, ...] = ("cache_version", "metrics_version", "numerics_mode")


def git_commit() -> str:
    """The git commit of vaelib's checkout (``+dirty`` when it has uncommitted changes), or 'unknown'."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "vaelib"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def provenance(name: str, seconds: float, command: str) -> dict[str, Any]:
    """Who made a study's records, with what, where and how long: a JSON-compatible dict.

    ``seconds`` is the study's wall time, ``command`` the command that reproduces it.
    """
    import torch

    from ..cache import CACHE_VERSION
    from ..metrics import METRICS_VERSION

    state = numerics.current()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() and state.device == "cuda" else None
    return {"study": name, "command": command, "vaelib_version": __version__, "git_commit": git_commit(),
            "cache_version": CACHE_VERSION, "metrics_version": METRICS_VERSION, "numerics_mode": state.mode,
            "numerics": state.describe(), "device": gpu or f"cpu: {numerics.cpu_model()}",
            "torch_version": torch.__version__, "python_version": platform.python_version(),
            "written_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "seconds": round(float(seconds), 1)}


def write_study(folder: str | Path, tables: Mapping[str, pd.DataFrame], meta: Mapping[str, Any]) -> list[Path]:
    """Write each table as ``<name>.csv`` (floats as the shortest text that reads back to the same bits) and
    ``meta`` as ``provenance.json`` into ``folder``, every file atomically; returns the paths written."""
    folder = Path(folder)
    paths = []
    for name, table in tables.items():
        buffer = io.StringIO()
        table.to_csv(buffer)
        paths.append(store.write_bytes(folder / f"{name}.csv", buffer.getvalue().encode()))
    paths.append(store.write_bytes(folder / "provenance.json", (json.dumps(dict(meta), indent=1) + "\n").encode()))
    return paths


def read_study(folder: str | Path, names: Sequence[str], *, refresh: str) -> tuple[dict[str, pd.DataFrame], dict]:
    """The tables ``names`` of the study in ``folder`` and its provenance, checked against the running code.

    Raises VaelibError, in one line that names ``refresh`` (the command that rewrites the records),
    when the folder or a table is missing, or when the records were made with other caches,
    metrics or numerics (:data:`MATCHING`) than this vaelib's.
    """
    from ..cache import CACHE_VERSION
    from ..metrics import METRICS_VERSION

    folder = Path(folder)
    meta_path = folder / "provenance.json"
    if not meta_path.is_file():
        raise VaelibError(f"no study records at {folder}: run `{refresh}` (or clone the repository, which commits them)")
    meta = json.loads(meta_path.read_text())
    here = {"cache_version": CACHE_VERSION, "metrics_version": METRICS_VERSION, "numerics_mode": numerics.current().mode}
    stale = [f"{k} {meta.get(k)!r} (this vaelib: {v!r})" for k, v in here.items() if meta.get(k) != v]
    if stale:
        raise VaelibError(f"the records in {folder} were made by other code ({'; '.join(stale)}): refresh them with "
                          f"`{refresh}`")
    tables = {}
    for name in names:
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise VaelibError(f"the study at {folder} has no {name}.csv: run `{refresh}`")
        try:
            tables[name] = pd.read_csv(path, index_col=0)
        except pd.errors.EmptyDataError:   # an empty table (a study without sweeps)
            tables[name] = pd.DataFrame()
    return tables, meta


__all__ = ["MATCHING", "STUDIES_DIR", "git_commit", "provenance", "read_study", "write_study"]
