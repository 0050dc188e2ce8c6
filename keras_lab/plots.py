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
#: One colour, marker and line per GD variant, the same on every comparison figure. Batch
#: GD is drawn on top (solid, thick) and mini-batch GD dashed: where their curves
#: coincide, both stay visible; SGD's noisy curve is thin and underneath.
VARIANT_STYLE: dict[str, dict] = {
    "batch": {"color": "tab:blue", "marker": "o", "label": "batch GD", "linestyle": "-",
              "linewidth": 2.2, "zorder": 3},
    "sgd": {"color": "tab:red", "marker": "x", "label": "stochastic GD", "linestyle": "-",
            "linewidth": 0.9, "zorder": 1},
    "minibatch": {"color": "tab:green", "marker": "s", "label": "mini-batch GD",
                  "linestyle": "--", "linewidth": 1.6, "zorder": 2},
}  # fmt: skip


def _style(variant: str) -> dict:
    default = {"color": "black", "marker": ".", "label": variant, "linestyle": "-"}
    return VARIANT_STYLE.get(variant, {**default, "linewidth": 1.5, "zorder": 2})


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
    return variant_curve_panels(
        [{"curves": curves, "xlabel": xlabel, "logx": logx}], ylabel=ylabel, title=title
    )


def variant_curve_panels(
    panels: Sequence[dict],
    ylabel: str = "loss (SSE over the training set)",
    title: str = "",
    level: float | None = None,
) -> Figure:
    """Side-by-side panels of variant loss curves sharing the loss axis.

    Args:
        panels: each {"curves": {variant: (x, loss)}, "xlabel": str, and optionally
            "logx": bool (log from 1 on, linear from 0 to 1), "subtitle": str, "marks":
            {variant: x}}: a mark is a point on the variant's curve at x (e.g. where it
            first reaches ``level``), labelled x.
        level: a loss drawn as a dotted horizontal line on every panel.

    Example:
        >>> fig = variant_curve_panels([
        ...     {"curves": {"batch": ([0, 1, 2], [2.0, 1.0, 0.5])}, "xlabel": "epoch",
        ...      "marks": {"batch": 1}},
        ...     {"curves": {"batch": ([0, 1, 2], [2.0, 1.0, 0.5])}, "xlabel": "update"}],
        ...     level=1.0)
        >>> [ax.get_xlabel() for ax in fig.axes], len(fig.axes[0].texts)
        (['epoch', 'update'], 1)
    """
    width = 7.6 if len(panels) == 1 else 5.8 * len(panels)
    fig = Figure(figsize=(width, 4.8), dpi=100, layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    every = [np.asarray(loss, np.float64) for p in panels for _, loss in p["curves"].values()]
    positive = all(bool(np.all(loss > 0)) for loss in every)
    for ax, panel in zip(axes, panels):
        for variant, (xs, losses) in panel["curves"].items():
            xs, losses = np.asarray(xs, np.float64), np.asarray(losses, np.float64)
            style = _style(variant)
            keys = ("linestyle", "color", "linewidth", "zorder", "label")
            ax.plot(xs, losses, **{key: style[key] for key in keys})
            mark = panel.get("marks", {}).get(variant)
            if mark is not None:
                at = float(np.interp(mark, xs, losses))
                ax.plot(mark, at, marker=style["marker"], color=style["color"], markersize=9,
                        markeredgewidth=2, linestyle="none", zorder=4)  # fmt: skip
                ax.annotate(
                    f"{mark:g}", (mark, at),
                    xytext=(-4, -30 - 14 * len(ax.texts)),  # one below the other, not on top
                    textcoords="offset points", color=style["color"], fontsize=9,
                    fontweight="bold", ha="center",
                    arrowprops={"arrowstyle": "-", "color": style["color"], "linewidth": 0.8},
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "linewidth": 0},
                )  # fmt: skip
        if level is not None:
            ax.axhline(level, color="black", linestyle=":", linewidth=1, zorder=0,
                       label=f"SSE = {level:g}")  # fmt: skip
        if positive:
            ax.set_yscale("log")
        if panel.get("logx"):  # logarithmic from 1 on, linear from 0 to 1: x = 0 stays shown
            ax.set_xscale("symlog", linthresh=1.0, linscale=0.4)
            ax.set_xlim(0, 1.2 * max(float(np.max(xs)) for xs, _ in panel["curves"].values()))
        ax.set_xlabel(panel["xlabel"])
        if panel.get("subtitle"):
            ax.set_title(panel["subtitle"], fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel(ylabel)
    if len(panels) == 1:
        axes[0].set_title(title or "GD variants", fontsize=10)
    else:
        fig.suptitle(title or "GD variants", fontsize=10)
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
    fig = Figure(figsize=(7.6, 6.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    levels = np.geomspace(max(loss_grid.min(), 1e-6), loss_grid.max(), 14)
    ax.contourf(w_grid, b_grid, loss_grid, levels=levels, cmap="Blues", alpha=0.3)
    contours = ax.contour(w_grid, b_grid, loss_grid, levels=levels, colors="grey", linewidths=0.6)
    ax.clabel(contours, contours.levels[::2], fontsize=7, fmt="%.2g")
    for variant, path in paths.items():
        path = np.asarray(path, np.float64)
        style = _style(variant)
        ax.plot(
            path[:, 0], path[:, 1], linestyle=style["linestyle"], color=style["color"],
            marker=style["marker"], markersize=3, linewidth=min(style["linewidth"], 1.2),
            zorder=style["zorder"] + 2, label=f"{style['label']} ({len(path) - 1} updates)",
        )  # fmt: skip
    if paths:
        start = np.asarray(next(iter(paths.values())))[0]
        ax.plot(*start, "ko", markersize=7, label="start", zorder=6)
    if minimum is not None:
        ax.plot(*minimum, "k*", markersize=14, label="minimum (least squares)", zorder=6,
                markerfacecolor="none")  # fmt: skip
    ax.set_xlabel("w (slope)")
    ax.set_ylabel("b (intercept)")
    ax.set_title(title or "Paths of the GD variants on the loss surface", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def multistart_distribution(
    final_losses: dict[str, np.ndarray],
    settled_losses: dict[str, np.ndarray] | None = None,
    xlabel: str = "final SSE over the training set",
    title: str = "",
    subtitles: tuple[str, str] = ("where the runs end", "then continued with batch GD"),
) -> Figure:
    """Strip plot of each variant's final losses over many starts; with ``settled_losses``,
    a second panel below (same x axis) with the losses after continuing every run.

    Each row is annotated with its range and the ratio of its ends (max / min). NaN marks a
    run that diverged (counted in the row's label).

    Example:
        >>> fig = multistart_distribution({"batch": np.array([0.1, 0.1, 2.0])})
        >>> fig.axes[0].get_xlabel(), fig.axes[0].texts[0].get_text()
        ('final SSE over the training set', '0.1 to 2 (20x)')
    """
    panels = [final_losses] if settled_losses is None else [final_losses, settled_losses]
    rows = len(final_losses)
    fig = Figure(figsize=(7.6, 0.9 + 1.05 * rows * len(panels)), dpi=100, layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    rng = np.random.default_rng(0)  # vertical jitter only, so points do not hide each other
    every = np.concatenate([np.asarray(v, np.float64).ravel() for p in panels for v in p.values()])
    finite = every[np.isfinite(every)]
    for ax, losses_by_variant, subtitle in zip(axes, panels, subtitles):
        labels = []
        for row, (variant, losses) in enumerate(losses_by_variant.items()):
            losses = np.asarray(losses, np.float64)
            style = _style(variant)
            jitter = rng.uniform(-0.25, 0.25, size=losses.size)
            ax.plot(losses, row + jitter, ".", color=style["color"], alpha=0.5, markersize=5)
            ok = losses[np.isfinite(losses)]
            if ok.size:
                ax.annotate(
                    f"{ok.min():.2g} to {ok.max():.2g} ({ok.max() / ok.min():.3g}x)",
                    (ok.max(), row), xytext=(8, 0), textcoords="offset points", va="center",
                    fontsize=8, color=style["color"],
                )  # fmt: skip
            diverged = int(np.sum(~np.isfinite(losses)))
            note = f", {diverged} diverged" if diverged else ""
            labels.append(f"{style['label']}\n(K = {losses.size}{note})")
        ax.set_yticks(range(rows), labels)
        ax.set_ylim(rows - 0.5, -0.5)  # the first variant on top
        ax.set_title(subtitle, fontsize=9, loc="left")
        ax.grid(True, axis="x", which="both", alpha=0.3)
    if finite.size and np.all(finite > 0) and finite.max() / finite.min() > 5:
        low, high = finite.min(), finite.max()
        axes[-1].set_xscale("log")
        axes[-1].set_xlim(low / 1.15, high * 2.2)  # room on the right for the range labels
        ticks = np.outer(10.0 ** np.arange(-8, 8), [1, 1.5, 2, 3, 5, 7]).ravel()
        ticks = [float(t) for t in ticks if low / 1.15 <= t <= high * 2.2]  # plain labels
        axes[-1].set_xticks(ticks, [f"{t:g}" for t in ticks])
        axes[-1].minorticks_off()
    elif finite.size and finite.max() > finite.min():
        low, high = finite.min(), finite.max()
        axes[-1].set_xlim(low - 0.05 * (high - low), high + 0.6 * (high - low))
    axes[-1].set_xlabel(xlabel)
    fig.suptitle(title or "Where many random starts end", fontsize=10)
    return fig
