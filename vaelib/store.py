"""The store: where vaelib keeps what it computes once, and how it names and writes those files.

Three caches live in it: trained models (:mod:`vaelib.cache`, ``<root>/models``), metric records
(:func:`vaelib.metrics.evaluate_cached`, ``<root>/metrics``) and feature classifiers
(:func:`vaelib.metrics.classifier.load_or_train_classifier`, ``<root>/classifiers``); the full
OpenML data sets are kept under ``<root>/data``. This module holds what they share:

- **the root**: :func:`cache_root`, ``$VAELIB_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/vaelib``,
  else ``~/.cache/vaelib``;
- **keys**: :func:`key` (sha256 of the canonical JSON of the key's parts, as a hex prefix) and
  :func:`digest`, the hash under it;
- **atomic writes**: :func:`write_atomic` and its forms for bytes, JSON and torch payloads. Each
  writes a temporary file ``.<name>.<pid>-<random>.tmp`` in the target's folder, flushes it to
  disk and renames it over the target, so an interrupted write leaves the previous file (or
  none) under the real name, never half a file;
- **leftovers**: a process killed in the middle of a write leaves its temporary file behind.
  :func:`cache_folder` removes them (:func:`clean`) the first time a process uses a folder.

A temporary file names the process writing it, and :func:`clean` removes only those whose
process is no longer running on this machine, so that workers writing into one folder at once
(:func:`vaelib.train_many`) never remove each other's files.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import torch

#: The environment variable naming the cache root.
CACHE_DIR_ENV = "VAELIB_CACHE_DIR"

#: ``.<name>.<pid>-<random>.tmp``: the temporary file of an atomic write of ``<name>`` by process ``<pid>``.
_TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp$")

#: A temporary file that names no process (written by vaelib before 0.5) is left over once it is this old, in seconds.
LEGACY_TEMPORARY_AGE = 3600.0

#: The folders :func:`cache_folder` has cleaned in this process.
_CLEANED: set[Path] = set()


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache root: ``cache_dir`` when given, else vaelib's default folder (not created here).

    The default is ``$VAELIB_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/vaelib``, else ``~/.cache/vaelib``.
    """
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "vaelib"
    return Path.home() / ".cache" / "vaelib"


def cache_folder(kind: str, cache_dir: str | Path | None = None) -> Path:
    """The folder ``<root>/<kind>`` of one cache (not created here), e.g. ``kind="models"``.

    The first time a process asks for a folder, the temporary files that killed processes left
    in it are removed (:func:`clean`).
    """
    folder = cache_root(cache_dir) / kind
    if folder not in _CLEANED:
        clean(folder)
        _CLEANED.add(folder)
    return folder


def digest(*chunks: str | bytes, length: int = 16) -> str:
    """The first ``length`` hex digits of the sha256 of ``chunks`` one after another (text as UTF-8)."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk.encode() if isinstance(chunk, str) else chunk)
    return h.hexdigest()[:length]


def key(parts: Mapping[str, Any], *data: bytes, length: int = 16) -> str:
    """A cache key: :func:`digest` of the canonical JSON of ``parts``, then of the raw bytes ``data``, if any.

    Canonical JSON: sorted keys, values JSON cannot hold written as their ``str``. Returns
    ``length`` hex digits.
    """
    return digest(json.dumps(parts, sort_keys=True, default=str), *data, length=length)


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Create ``path`` (and its folder) from ``write(file)`` atomically; return the path.

    ``write`` writes the content into the binary file it is given. The content goes to a
    temporary file ``.<name>.<pid>-<random>.tmp`` beside ``path``, is flushed to disk, and
    replaces ``path`` in one rename. If ``write`` (or anything else) fails, the temporary file
    is removed, any previous file at ``path`` is left untouched, and the error is raised.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`write_atomic`); return the path."""
    return write_atomic(path, lambda f: f.write(data))


def write_json(path: str | Path, value: Any) -> Path:
    """Write ``value`` as JSON (``json.dumps`` with its defaults) to ``path`` atomically; return the path."""
    return write_bytes(path, json.dumps(value).encode())


def write_torch(path: str | Path, payload: object) -> Path:
    """``torch.save(payload)`` to ``path`` atomically (:func:`write_atomic`); return the path."""
    return write_atomic(path, lambda f: torch.save(payload, f))


def clean(folder: str | Path) -> list[Path]:
    """Remove the temporary files that interrupted writes left in ``folder``; return the paths removed.

    A temporary file is any ``*.tmp`` file directly in ``folder``. One named by :func:`write_atomic`
    is removed when the process it names is no longer running; one that names no process (written
    by vaelib before 0.5, e.g. the ``tmp*.tmp`` of an interrupted metric write) when it is older
    than :data:`LEGACY_TEMPORARY_AGE`, so that an older vaelib writing into the folder at this
    moment keeps its file. Nothing happens when ``folder`` does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for tmp in folder.glob("*.tmp"):
        if _left_over(tmp):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _left_over(tmp: Path) -> bool:
    """True when no running process will finish the temporary file ``tmp`` (see :func:`clean`)."""
    match = _TEMPORARY.match(tmp.name)
    if match is not None:
        return not _running(int(match["pid"]))
    try:
        return time.time() - tmp.stat().st_mtime > LEGACY_TEMPORARY_AGE
    except FileNotFoundError:   # its writer has just renamed it
        return False


def _running(pid: int) -> bool:
    """True when a process ``pid`` runs on this machine (always True where that cannot be asked)."""
    if os.name != "posix":   # os.kill(pid, 0) would end the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


__all__ = ["CACHE_DIR_ENV", "LEGACY_TEMPORARY_AGE", "cache_folder", "cache_root", "clean", "digest", "key",
           "write_atomic", "write_bytes", "write_json", "write_torch"]
