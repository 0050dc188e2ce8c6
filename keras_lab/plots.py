"""matplotlib figures: each function returns a Figure and writes nothing; callers save it.

Figures are built with the object-oriented API (``matplotlib.figure.Figure``), so no
pyplot state, GUI backend or display is involved.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure


def loss_curve(history: Sequence[float], ylabel: str = "Loss (SSE)", title: str = "") -> Figure:
    """The lecture's first figure: loss per epoch, red line with circles ('r-o').

    Example:
        >>> fig = loss_curve([3.0, 1.0, 0.5])
        >>> fig.axes[0].get_xlabel(), len(fig.axes[0].lines[0].get_xdata())
        ('epoch', 3)
    """
    history = np.asarray(history, dtype=np.float64)
    fig = Figure(figsize=(6.4, 4.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    epochs = np.arange(1, len(history) + 1)
    marker = "o" if len(history) <= 50 else None
    ax.plot(epochs, history, "r-", marker=marker)
    if len(history) and np.all(history > 0) and history.max() / history.min() > 100:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Training loss per epoch")
    ax.grid(True, alpha=0.3)
    return fig


def fit(
    inputs: np.ndarray,
    targets: np.ndarray,
    predictions: np.ndarray,
    curve: tuple[np.ndarray, np.ndarray] | None = None,
    title: str = "",
) -> Figure:
    """The lecture's second figure: targets 'b*' and the network's predictions 'r-*'.

    Args:
        inputs, targets, predictions: one value per sample (sorted by input here).
        curve: optional (p, prediction) on a dense grid, drawn as a thin line.

    Example:
        >>> fig = fit(np.array([0.0, 1.0]), np.array([1.0, 1.7]), np.array([1.1, 1.6]))
        >>> [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
        ['target', 'predict']
    """
    inputs, targets, predictions = (np.ravel(a) for a in (inputs, targets, predictions))
    order = np.argsort(inputs)
    fig = Figure(figsize=(6.4, 4.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(inputs[order], targets[order], "b*", label="target")
    ax.plot(inputs[order], predictions[order], "r-*", label="predict")
    if curve is not None:
        ax.plot(np.ravel(curve[0]), np.ravel(curve[1]), "r-", alpha=0.3, linewidth=1)
    ax.set_xlabel("IN (p)")
    ax.set_ylabel("OUT")
    ax.set_title(title or "Target vs prediction")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return fig


# ----------------------------------------------------------------------------- comparison
#: One colour and marker per GD variant, the same on every comparison figure.
VARIANT_STYLE: dict[str, dict[str, str]] = {
    "batch": {"color": "tab:blue", "marker": "o", "label": "batch GD"},
    "sgd": {"color": "tab:red", "marker": "x", "label": "stochastic GD"},
    "minibatch": {"color": "tab:green", "marker": "s", "label": "mini-batch GD"},
}


def _style(variant: str) -> dict[str, str]:
    return VARIANT_STYLE.get(variant, {"color": "black", "marker": ".", "label": variant})


def variant_curves(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    xlabel: str,
    ylabel: str = "loss (SSE over the training set)",
    title: str = "",
    logx: bool = False,
) -> Figure:
    """Loss curves of several GD variants on one axes: {variant: (x, loss)}.

    Example:
        >>> fig = variant_curves({"batch": ([0, 1], [2.0, 1.0]), "sgd": ([0, 1], [2.0, 0.5])},
        ...                      xlabel="epoch")
        >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        ['batch GD', 'stochastic GD']
    """
    fig = Figure(figsize=(6.4, 4.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    positive = True
    for variant, (xs, losses) in curves.items():
        xs, losses = np.asarray(xs, np.float64), np.asarray(losses, np.float64)
        positive &= bool(np.all(losses > 0))
        style = _style(variant)
        ax.plot(xs, losses, "-", color=style["color"], label=style["label"], linewidth=1.5)
    if positive:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "GD variants")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


def trajectories(
    w_grid: np.ndarray,
    b_grid: np.ndarray,
    loss_grid: np.ndarray,
    paths: dict[str, np.ndarray],
    minimum: tuple[float, float] | None = None,
    title: str = "",
) -> Figure:
    """The lecture's comparison graph: loss contours over (w, b) and each variant's path.

    Args:
        w_grid, b_grid: 1-D grids of the two parameters.
        loss_grid: loss at (b_grid[i], w_grid[j]), shape (len(b_grid), len(w_grid)).
        paths: {variant: (num_updates + 1, 2) array of (w, b) after each update}.
        minimum: the exact minimiser, marked with a star.

    Example:
        >>> w, b = np.linspace(-1, 1, 5), np.linspace(-1, 1, 4)
        >>> fig = trajectories(w, b, np.add.outer(b**2, w**2), {"batch": np.zeros((3, 2))})
        >>> fig.axes[0].get_xlabel()
        'w (slope)'
    """
    fig = Figure(figsize=(6.4, 5.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    levels = np.geomspace(max(loss_grid.min(), 1e-6), loss_grid.max(), 14)
    ax.contourf(w_grid, b_grid, loss_grid, levels=levels, cmap="Blues", alpha=0.3)
    contours = ax.contour(w_grid, b_grid, loss_grid, levels=levels, colors="grey", linewidths=0.6)
    ax.clabel(contours, contours.levels[::2], fontsize=7, fmt="%.2g")
    for variant, path in paths.items():
        path = np.asarray(path, np.float64)
        style = _style(variant)
        ax.plot(
            path[:, 0],
            path[:, 1],
            "-",
            color=style["color"],
            marker=style["marker"],
            markersize=3,
            linewidth=1.2,
            label=f"{style['label']} ({len(path) - 1} updates)",
        )
    if paths:
        start = np.asarray(next(iter(paths.values())))[0]
        ax.plot(*start, "ko", markersize=7, label="start")
    if minimum is not None:
        ax.plot(*minimum, "k*", markersize=14, label="minimum")
    ax.set_xlabel("w (slope)")
    ax.set_ylabel("b (intercept)")
    ax.set_title(title or "Paths of the GD variants on the loss surface")
    ax.legend(loc="best", fontsize=8)
    return fig


def multistart_distribution(
    final_losses: dict[str, np.ndarray],
    clusters: dict[str, Sequence] | None = None,
    xlabel: str = "final SSE over the training set",
    title: str = "",
) -> Figure:
    """Strip plot of each variant's final losses over many starts, clusters annotated.

    Args:
        final_losses: {variant: (K,) final losses}; NaN marks a run that diverged.
        clusters: {variant: [objects with .value and .count]}, e.g. multistart.Cluster.

    Example:
        >>> fig = multistart_distribution({"batch": np.array([0.1, 0.1, 2.0])})
        >>> fig.axes[0].get_xlabel()
        'final SSE over the training set'
    """
    fig = Figure(figsize=(7.2, 1.2 + 1.3 * len(final_losses)), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)  # vertical jitter only, so points do not hide each other
    labels = []
    for row, (variant, losses) in enumerate(final_losses.items()):
        losses = np.asarray(losses, np.float64)
        style = _style(variant)
        jitter = rng.uniform(-0.25, 0.25, size=losses.size)
        ax.plot(losses, row + jitter, ".", color=style["color"], alpha=0.5, markersize=5)
        diverged = int(np.sum(~np.isfinite(losses)))
        note = f", {diverged} diverged" if diverged else ""
        labels.append(f"{style['label']}\n(K = {losses.size}{note})")
        for cluster in (clusters or {}).get(variant, [])[:4]:
            ax.annotate(
                f"{cluster.count}",
                (cluster.value, row + 0.3),
                ha="center",
                va="bottom",
                fontsize=8,
                color=style["color"],
            )
    ax.set_yticks(range(len(final_losses)), labels)
    ax.set_ylim(-0.6, len(final_losses) - 0.2)
    finite = np.concatenate([np.asarray(v, np.float64).ravel() for v in final_losses.values()])
    finite = finite[np.isfinite(finite)]
    if finite.size and np.all(finite > 0) and finite.max() / finite.min() > 20:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_title(title or "Where many random starts end (numbers: runs per local minimum)")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    return fig
