"""One figure style for the whole book, and the plots every notebook needs.

Every function returns the matplotlib ``Figure`` it drew, with labelled axes (units in
brackets), so a notebook cell is one call.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch

from .claims import ClaimResult, NotTested
from .stats import ALPHA
from .training import History

#: One colour per design, used by every figure so a design looks the same everywhere.
DESIGN_COLOURS: dict[str, str] = {
    "ae": "#4c72b0", "rae": "#8172b3", "mean-only": "#dd8452", "vae": "#55a868",
    "wae-mmd": "#c44e52", "swae": "#937860", "moments": "#da8bc3", "fixed": "#e6a157", "fixed-mmd": "#a0522d",
    "learned": "#8fd19e", "learned-mmd": "#2f7d4a", "cv-vae": "#b07aa1",
}

#: One colour per encoder noise level (the factorial's rows), for figures drawn by noise level.
NOISE_COLOURS: dict[str, str] = {"none": "#4c72b0", "fixed": "#dd8452", "learned": "#55a868"}


def use_book_style() -> None:
    """Set the book's matplotlib style: small figures, readable fonts, light grid, no top/right spines."""
    mpl.rcParams.update({
        "figure.figsize": (6.0, 3.6), "figure.dpi": 100, "savefig.dpi": 120, "font.size": 10,
        "axes.titlesize": 10, "axes.labelsize": 10, "axes.grid": True, "grid.alpha": 0.3,
        "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
        "image.cmap": "gray_r",
    })


def design_colour(design: str) -> str:
    """The book's colour for ``design`` (grey for an unknown name)."""
    return DESIGN_COLOURS.get(design, "#777777")


def plot_history(histories: Mapping[str, History], term: str = "total", title: str | None = None) -> plt.Figure:
    """Train (dashed) and test (solid) curves of one loss ``term`` per labelled history; y in nats/example."""
    fig, ax = plt.subplots()
    for i, (label, h) in enumerate(histories.items()):
        colour = design_colour(label.split()[0]) if label.split()[0] in DESIGN_COLOURS else f"C{i}"
        epochs = np.arange(1, h.epochs + 1)
        ax.plot(epochs, h.train[term], "--", color=colour, alpha=0.6)
        ax.plot(epochs, h.test[term], "-", color=colour, label=label)
    ax.set(xlabel="epoch", ylabel=f"{term} loss [nats / example]", title=title or f"{term}: train (dashed), test (solid)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def image_grid(images: torch.Tensor, image_shape: Sequence[int], ncols: int = 10, title: str | None = None,
               ax: plt.Axes | None = None) -> plt.Figure:
    """Show ``images`` (n, H*W, values in [0, 1]) as a grid with ``ncols`` columns; returns the figure."""
    imgs = images.detach().cpu().reshape(-1, *image_shape).numpy()
    n = imgs.shape[0]
    nrows = int(np.ceil(n / ncols))
    h, w = image_shape
    canvas = np.ones((nrows * (h + 1) - 1, ncols * (w + 1) - 1))
    for i, img in enumerate(imgs):
        r, c = divmod(i, ncols)
        canvas[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = 1 - img
    if ax is None:
        fig, ax = plt.subplots(figsize=(ncols * 0.6, nrows * 0.6 + (0.3 if title else 0)))
    else:
        fig = ax.figure
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def scatter_codes(codes: torch.Tensor, labels: torch.Tensor | None = None, ax: plt.Axes | None = None,
                  title: str = "codes", prior_contours: bool = True, max_points: int = 2000) -> plt.Figure:
    """Scatter the first two code dimensions (coloured by label) over the N(0, I) 1-, 2- and 3-sigma circles."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(4, 4))
    else:
        fig = ax.figure
    z = codes.detach().cpu()[:max_points]
    c = labels.detach().cpu()[:max_points] if labels is not None else None
    ax.scatter(z[:, 0], z[:, 1], c=c, s=3, cmap="tab10", alpha=0.6, linewidths=0)
    if prior_contours:
        t = np.linspace(0, 2 * np.pi, 200)
        for r in (1, 2, 3):
            ax.plot(r * np.cos(t), r * np.sin(t), color="k", lw=0.7, alpha=0.5)
    ax.set(xlabel="$z_1$", ylabel="$z_2$", title=title, aspect="equal")
    return fig




def plot_unit_statistics(units: Mapping[str, Mapping[str, torch.Tensor]], active_by_dim: Mapping[int, int],
                         threshold_var: float, threshold_kl: float) -> plt.Figure:
    """Three panels: active units vs latent dim, and per dimension Var_x(mu_d) and KL (log scales), per run.

    ``units`` maps a run's label to :func:`vaelib.metrics.latent.unit_statistics` (tensors
    ``mean_variance`` in latent units^2 and ``kl_nats`` in nats per image, one value per
    dimension); ``active_by_dim`` maps latent dim to its active-unit count. Thresholds are drawn
    as dashed lines. Returns the figure.
    """
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    dims = list(active_by_dim)
    axes[0].plot(dims, list(active_by_dim.values()), "o-", color=design_colour("vae"), label="VAE")
    axes[0].plot(dims, dims, "k:", lw=1, label="all active")
    axes[0].set(xlabel="latent dim", ylabel="active units [count]", title="active units (Var > 0.01)")
    axes[0].legend()
    for (label, u), marker in zip(units.items(), ("o", "^", "s", "v")):
        for ax, key in ((axes[1], "mean_variance"), (axes[2], "kl_nats")):
            values = np.sort(u[key].double().clamp(min=1e-8).cpu().numpy())[::-1]
            ax.plot(np.arange(1, len(values) + 1), values, marker, ms=4, label=label)
    axes[1].axhline(threshold_var, color="k", ls="--", lw=1, label=f"threshold {threshold_var:g}")
    axes[2].axhline(threshold_kl, color="k", ls="--", lw=1, label=f"threshold {threshold_kl:g} nats")
    axes[1].set(yscale="log", xlabel="dimension, sorted [rank]", ylabel="Var_x(μ_d) [latent units²]",
                title="variance of each dimension's mean")
    axes[2].set(yscale="log", xlabel="dimension, sorted [rank]", ylabel="KL(q(z_d|x) ‖ N(0,1)) [nats/image]",
                title="KL of each dimension")
    for ax in axes[1:]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig



def plot_verdicts(results: Mapping[str, ClaimResult | NotTested], alpha: float = ALPHA) -> plt.Figure:
    """The verdicts at a glance: one row per claim, one marker per latent dim (or training-set size).

    Each marker is the claim's difference a - b as a percentage of |mean of b| with its 95 %
    confidence interval (x axis symlog, linear within ±10 %); left of 0 is the direction the
    claim predicts. Filled markers differ significantly after Holm's correction (p < ``alpha``),
    open ones do not. The verdict is written at the right. ``results`` maps claim keys to
    :class:`vaelib.claims.ClaimResult` or :class:`vaelib.claims.NotTested` (listed as "not tested").
    """
    keys = list(results)
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(keys) + 1.4))
    conditions = sorted({(r.condition, k) for r in results.values() if isinstance(r, ClaimResult) for k in r.conditions},
                        key=lambda t: (t[0] != "d", t[1]))
    colours = {c: f"C{i}" for i, c in enumerate(conditions)}
    offsets = {c: (i - (len(conditions) - 1) / 2) * 0.12 for i, c in enumerate(conditions)}
    for row, key in enumerate(keys):
        y = len(keys) - 1 - row
        r = results[key]
        ax.text(1.02, y, r.verdict, transform=ax.get_yaxis_transform(), va="center", fontsize=8)
        if not isinstance(r, ClaimResult):
            continue
        sign = 1.0 if r.expected == "lower" else -1.0    # drawn so that left of 0 is the predicted direction
        for k, c, q in zip(r.conditions, r.comparisons, r.adjusted):
            scale = abs(c.mean_b) or 1.0
            mid = 100 * sign * c.difference / scale
            lo, hi = sorted(100 * sign * v / scale for v in (c.ci_low, c.ci_high))
            colour = colours[(r.condition, k)]
            yy = y + offsets[(r.condition, k)]
            if np.isfinite(lo) and np.isfinite(hi):
                ax.plot([lo, hi], [yy, yy], color=colour, lw=1.2)
            ax.plot(mid, yy, "o", ms=6, color=colour, mfc=colour if q < alpha else "white", mew=1.3)
    for c, colour in colours.items():
        ax.plot([], [], "o", color=colour, label=f"{c[0]} = {c[1]}")
    ax.plot([], [], "o", color="k", mfc="k", label="significant (Holm)")
    ax.plot([], [], "o", color="k", mfc="white", label="not significant")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_yticks(range(len(keys)), [f"claim {k}" for k in reversed(keys)])
    ax.set_ylim(-0.6, len(keys) - 0.4)
    ax.set_xlabel("difference a - b [% of |b|, symlog], signed so that left of 0 is the direction the claim predicts")
    ax.legend(fontsize=7, ncol=min(6, len(colours) + 2), loc="upper center", bbox_to_anchor=(0.5, -0.18 - 0.3 / len(keys)))
    ax.grid(axis="y", alpha=0)
    fig.tight_layout()
    return fig


def plot_factorial(frame, cells: Mapping[str, tuple[str, str]], metrics: Mapping[str, str], dims: Sequence[int],
                                  ) -> plt.Figure:
    """The factorial at a glance: for each latent dim (row) and metric (column), each regulariser column on the x
    axis and one line per encoder noise level, the mean over seeds with its 95 % interval (t over seeds).

    ``frame`` holds one record per model (``design``, ``latent_dim`` and the metrics); ``cells`` maps a
    design label to its (noise level, regulariser column); ``metrics`` maps a metric to its axis label
    (with units). The gap between the lines in one column is what the encoder's randomness changes
    there; the slope along a line is what the regulariser changes.
    """
    from scipy import stats

    columns = list(dict.fromkeys(col for _, col in cells.values()))
    noises = list(dict.fromkeys(noise for noise, _ in cells.values()))
    fig, axes = plt.subplots(len(dims), len(metrics), figsize=(3.6 * len(metrics), 2.6 * len(dims) + 0.4),
                             squeeze=False)
    for i, d in enumerate(dims):
        for j, (metric, label) in enumerate(metrics.items()):
            ax = axes[i, j]
            for k, noise in enumerate(noises):
                xs, ms, hs = [], [], []
                for x, col in enumerate(columns):
                    design = next((lab for lab, (n, c) in cells.items() if n == noise and c == col), None)
                    rows = frame[(frame["design"] == design) & (frame["latent_dim"] == d)][metric].dropna()
                    if design is None or rows.empty:
                        continue
                    half = float(stats.t.ppf(0.975, len(rows) - 1) * rows.std(ddof=1) / np.sqrt(len(rows))) \
                        if len(rows) > 1 else 0.0
                    xs.append(x + (k - 1) * 0.08)
                    ms.append(float(rows.mean()))
                    hs.append(half)
                ax.errorbar(xs, ms, yerr=hs, marker="o", ms=4, capsize=2, color=NOISE_COLOURS.get(noise, "k"),
                            label=f"noise: {noise}")
            ax.set_xticks(range(len(columns)), columns, fontsize=8)
            ax.set_title(f"{label.split(' [')[0]}, latent dim {d}", fontsize=9)
            ax.set_ylabel(label, fontsize=8)
            if i == len(dims) - 1:
                ax.set_xlabel("regulariser on the codes", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


__all__ = ["DESIGN_COLOURS", "NOISE_COLOURS", "design_colour", "plot_factorial", "image_grid", "plot_history", "plot_unit_statistics", "plot_verdicts", "scatter_codes",
           "use_book_style"]
