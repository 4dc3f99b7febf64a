"""Intrinsic dimension of a point cloud (codes, features, images) by the TwoNN estimator.

Facco, E., d'Errico, M., Rodriguez, A. & Laio, A. (2017). Estimating the intrinsic dimension
of datasets by a minimal neighborhood information. Scientific Reports 7, 12140.

For each point, mu = r2 / r1 is the ratio of the distances to its second and first
nearest neighbours. If the density is roughly constant over the scale of the second
neighbour, mu follows a Pareto law with F(mu) = 1 - mu^(-d), d the intrinsic dimension, so
-log(1 - F(mu)) = d log(mu): a line through the origin whose slope is d. The estimate uses
only the two nearest neighbours, so it sees the local dimension of the data (a curled-up
circle in 5 dims is 1-dimensional) and not the number of coordinates.

Distances are exact, float64 on the CPU, as the explicit sum of squared coordinate
differences (:func:`vaelib.metrics.distances.squared_distance_blocks`; not ``torch.cdist``,
not a matrix product), and the final fit is an exactly rounded sum (``math.fsum``), so the
estimate does not depend on the CPU's matrix-product kernels or thread count: bit-identical
under vaelib's canonical numerics, and measured identical with torch's AVX-512 kernels too.
Bad input raises :class:`~vaelib.errors.VaelibError`.
"""
from __future__ import annotations

import math

import torch

from ..errors import VaelibError
from .distances import check_points, squared_distance_blocks

#: Fewest points (after dropping points with a duplicate) :func:`two_nn_dimension` estimates from.
MIN_POINTS: int = 10


def _smallest_two(candidates: torch.Tensor) -> torch.Tensor:
    """The two smallest values of each row of ``candidates`` (rows, >= 2), ascending."""
    return torch.topk(candidates, 2, dim=1, largest=False, sorted=True).values


def _two_nearest_squared(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distances (r1^2, r2^2) of each row of ``points`` (n >= 3, float64) to its two nearest other rows.

    Each pair's distance is computed once (``upper=True``) and offered to both points: a
    block of rows [start, stop) holds their distances to every point from ``start`` on, so
    it updates its own rows' two nearest and, column-wise, those of the points after
    ``stop``; every pair reaches each of its two points exactly once. Only values are
    kept, so which of two equidistant neighbours is "first" does not matter.
    """
    n = points.shape[0]
    best = torch.full((n, 2), math.inf, dtype=torch.float64)
    for start, block in squared_distance_blocks(points, points, upper=True):
        rows = block.shape[0]
        stop = start + rows
        local = torch.arange(rows)
        block[local, local] = math.inf                            # a point is not its own neighbour
        best[start:stop] = _smallest_two(torch.cat([best[start:stop], block], dim=1))
        if stop < n:
            after = block[:, rows:].T                             # (n - stop, rows): points after the block
            best[stop:] = _smallest_two(torch.cat([best[stop:], after], dim=1))
    return best[:, 0], best[:, 1]


def two_nn_dimension(x: torch.Tensor, *, discard_fraction: float = 0.1) -> float:
    """TwoNN intrinsic dimension (Facco et al. 2017) of the rows of ``x`` (n, dim), in dimensions.

    For each point the ratio mu = r2 / r1 of the Euclidean distances to its second and
    first nearest neighbours is taken. The N ratios are sorted, mu_(1) <= ... <= mu_(N),
    with empirical CDF F(mu_(i)) = i / N, N the number of ratios *before* any is discarded
    (as in the paper); the largest ``discard_fraction`` of them (the tail, where the
    constant-density assumption fails most) are discarded, keeping the floor(N (1 -
    discard_fraction)) smallest, and never the largest one, whose F = 1 would give an
    infinite -log(1 - F). The estimate is the least-squares slope through the origin of
    -log(1 - F(mu)) against log(mu):

        d = sum_i log(mu_i) (-log(1 - i/N)) / sum_i log(mu_i)^2.

    Returns d, a float in dimensions, not rounded to an integer: 2,000 points uniform in a
    3-dimensional cube give 2.8 to 3.0 (points near a boundary pull it down), a 6-dimensional
    Gaussian 5.8 to 6.3. It is unchanged by rotating, translating or scaling the cloud (up
    to rounding). In many dimensions with few points it underestimates (4,000 uniform points
    of a 784-dimensional cube give about 180): read it as a lower bound there.

    Points whose nearest neighbour is at distance 0 (an exact duplicate row, r1 = 0, mu
    undefined) are dropped before the estimate, every copy of the row, and N counts only
    the points kept; the dropped points still count as neighbours of the others.

    ``x`` may be on any device and of any real dtype; it is copied to float64 on the CPU.
    Exact distances cost O(n^2 dim) time but only O(n) memory beyond a fixed-size buffer.
    Raises VaelibError for non-2-D input, NaN or infinite values, ``discard_fraction`` not
    in [0, 1), fewer than :data:`MIN_POINTS` points left after dropping duplicates, too
    few ratios left to fit, or when every kept ratio is 1 (points on a regular grid, where
    first and second neighbours are equidistant: the slope is undefined).
    """
    what = "TwoNN intrinsic dimension"
    check_points(x, what, "x")
    if isinstance(discard_fraction, bool) or not isinstance(discard_fraction, (int, float)) \
            or not 0.0 <= discard_fraction < 1.0:     # NaN fails the comparison too
        raise VaelibError(f"{what}: discard_fraction must be a number in [0, 1), got {discard_fraction!r}")
    if x.shape[0] < MIN_POINTS:
        raise VaelibError(f"{what} needs at least {MIN_POINTS} points, got {x.shape[0]}")

    points = x.detach().to(device="cpu", dtype=torch.float64).contiguous()
    n = points.shape[0]
    r1_sq, r2_sq = _two_nearest_squared(points)

    keep = r1_sq > 0
    n_kept = int(keep.sum())
    if n_kept < MIN_POINTS:
        raise VaelibError(f"{what}: {n - n_kept} of {n} points have an exact duplicate (nearest neighbour at "
                          f"distance 0) and are dropped, leaving {n_kept}; at least {MIN_POINTS} are needed")
    # The last steps run on n floats in Python: math.log and math.fsum (an exactly rounded sum) give
    # the same bits whatever SIMD width torch's vectorised log and sum kernels would use.
    log_mu = sorted(0.5 * math.log(ratio) for ratio in (r2_sq[keep] / r1_sq[keep]).tolist())  # log(r2 / r1)
    n_fit = min(n_kept - 1, int(n_kept * (1.0 - discard_fraction) + 1e-9))
    if n_fit < 2:
        raise VaelibError(f"{what}: discard_fraction = {discard_fraction} leaves {n_fit} of {n_kept} ratios to fit; "
                          "at least 2 are needed (lower discard_fraction or pass more points)")
    log_mu = log_mu[:n_fit]
    minus_log_survival = [-math.log1p(-i / n_kept) for i in range(1, n_fit + 1)]   # -log(1 - F(mu_i)), F = i / N
    denominator = math.fsum(v * v for v in log_mu)
    if denominator == 0.0:
        raise VaelibError(f"{what}: every kept ratio r2/r1 is exactly 1 (first and second neighbours equidistant, "
                          "as on a regular grid); the dimension cannot be estimated")
    return math.fsum(v * w for v, w in zip(log_mu, minus_log_survival)) / denominator


__all__ = ["MIN_POINTS", "two_nn_dimension"]
