"""Exact squared Euclidean distances between point clouds, reproducible on every CPU, block by block.

:func:`squared_distance_blocks` computes them in float64 on the CPU, as the explicit sum over
coordinates of squared differences ``((x[:, None] - y[None]) ** 2).sum(-1)``, tile by tile. Not
``torch.cdist`` and not the ``|x|^2 - 2 x.y + |y|^2`` matrix-product form: those round differently
from one CPU (and BLAS kernel) to the next and lose precision for close points, which can reorder
neighbours. Used by the classifier two-sample test (:mod:`vaelib.metrics.twosample`) and the TwoNN
intrinsic dimension (:mod:`vaelib.metrics.intrinsic`); :func:`check_points` is their shared check
of a point cloud. Bad input raises :class:`~vaelib.errors.VaelibError`.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from ..errors import VaelibError

#: Elements (float64) of one tile of coordinate differences in :func:`squared_distance_blocks`
#: when torch runs one thread: 2**17 doubles = 1 MiB, which stays in a core's cache (measured
#: fastest on 784-dim data).
_TILE_ELEMENTS: int = 1 << 17

#: The same with several threads: just under ATen's grain size (32,768 elements), so each tile's
#: operations run on the calling thread without a fork/join of the thread pool. Tiles of 2**17
#: made torch split every small operation across threads, and on a machine busy with other
#: processes that ran 20 to 40 times slower than one thread (measured with 2 threads).
_TILE_ELEMENTS_THREADED: int = (1 << 15) - 1

#: Elements (float64) of one block of whole distance rows yielded by :func:`squared_distance_blocks`
#: (2**22 doubles = 32 MiB), which bounds the memory of callers that reduce block by block.
_BLOCK_ELEMENTS: int = 1 << 22

#: With ``upper=True``, :func:`squared_distance_blocks` uses at least this many blocks of rows, so
#: the squares on the diagonal it computes in full (both triangles) add at most ~1/16 to the work.
_UPPER_BLOCKS: int = 16


def check_points(x: object, what: str, name: str) -> None:
    """Raise VaelibError unless ``x`` is a 2-D real tensor with at least one column and finite values."""
    if not isinstance(x, torch.Tensor):
        raise VaelibError(f"{what}: {name} must be a 2-D torch.Tensor (n, dim), got {type(x).__name__}")
    if x.ndim != 2:
        raise VaelibError(f"{what}: {name} must be 2-D (n, dim), got shape {tuple(x.shape)}")
    if x.dtype == torch.bool or x.is_complex():
        raise VaelibError(f"{what}: {name} must hold real numbers, got dtype {x.dtype}")
    if x.shape[1] < 1:
        raise VaelibError(f"{what}: {name} has no columns (shape {tuple(x.shape)})")
    if x.is_floating_point():
        n_nan = int(torch.isnan(x).sum())
        if n_nan:
            raise VaelibError(f"{what}: {name} contains {n_nan} NaN values (of {x.numel()})")
        n_inf = int(torch.isinf(x).sum())
        if n_inf:
            raise VaelibError(f"{what}: {name} contains {n_inf} infinite values (of {x.numel()})")


def squared_distance_blocks(x: torch.Tensor, y: torch.Tensor, *,
                            upper: bool = False) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, block)``, block[i, j] = squared Euclidean distance of x[start + i] and y[j].

    ``x`` (n, d) and ``y`` (m, d) must be float64 CPU tensors. Each entry is
    ``((x_i - y_j) ** 2).sum()`` over the d coordinates, bit for bit what
    ``((x[:, None] - y[None]) ** 2).sum(-1)`` gives, computed in cache-sized tiles of
    (rows, cols, d) differences written into one reused buffer: no n x m x d temporary, no
    fresh allocation per tile. The tiling changes the speed only: each entry is one sum over
    d contiguous coordinates whatever the tile's shape. A block holds whole rows (about
    32 MiB at most), so callers that reduce each block (nearest neighbours) need memory of
    order n + block, not n x m. Entries are symmetric bit for bit: x_i - y_j is the exact
    negative of y_j - x_i.

    ``upper=True`` (for ``y`` = ``x``) computes about half the pairs: the block of rows
    [start, stop) holds only columns [start, m), block[i, j] = distance of x[start + i] and
    y[start + j] (the square [start, stop)^2 whole, with both (i, j) and (j, i)); the pairs
    left out are the transposes of earlier blocks' entries right of their square.
    """
    n, d = x.shape
    m = y.shape[0]
    budget = _TILE_ELEMENTS if torch.get_num_threads() == 1 else _TILE_ELEMENTS_THREADED
    pairs = max(1, budget // d)                                  # (row, col) pairs per tile
    tile_rows = max(1, min(n, math.isqrt(max(1, pairs // 8))))   # tiles about 8 times wider than tall
    tile_cols = max(1, min(m, pairs // tile_rows))
    block_rows = min(n, _BLOCK_ELEMENTS // max(1, m))
    if upper:   # the square on the diagonal is computed whole: keep it a small share of the pairs
        block_rows = min(block_rows, n // _UPPER_BLOCKS)
    block_rows = max(tile_rows, block_rows // tile_rows * tile_rows)
    buffer = torch.empty(tile_rows * tile_cols * d, dtype=torch.float64)
    for start in range(0, n, block_rows):
        stop = min(n, start + block_rows)
        first = start if upper else 0
        block = torch.empty(stop - start, m - first, dtype=torch.float64)
        for i in range(start, stop, tile_rows):
            i_end = min(stop, i + tile_rows)
            xi = x[i:i_end, None]
            for j in range(first, m, tile_cols):
                j_end = min(m, j + tile_cols)
                tile = buffer[: (i_end - i) * (j_end - j) * d].view(i_end - i, j_end - j, d)
                torch.sub(xi, y[None, j:j_end], out=tile)
                tile.mul_(tile)
                block[i - start:i_end - start, j - first:j_end - first] = tile.sum(-1)
        yield start, block


__all__ = ["check_points", "squared_distance_blocks"]
