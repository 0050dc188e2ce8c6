"""The lab's figures: each function returns a matplotlib Figure and writes nothing.

Built with the object-oriented API (``matplotlib.figure.Figure``), as keras_lab.plots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

#: One colour per loss, the same on every figure of the lab.
LOSS_COLORS: dict[str, str] = {
    "mse": "tab:red",
    "rmse": "tab:orange",
    "mae": "tab:blue",
    "huber": "tab:green",
    "huber_1": "tab:green",
    "huber_0.25": "tab:olive",
    "log_cosh": "tab:purple",
    "mape": "tab:brown",
    "bce": "tab:blue",
    "cce": "tab:blue",
    "scce": "tab:cyan",
}
#: How each loss is named on the figures.
LOSS_LABELS: dict[str, str] = {
    "mse": "MSE",
    "rmse": "RMSE",
    "mae": "MAE",
    "huber": "Huber, delta = 1",
    "huber_1": "Huber, delta = 1",
    "huber_0.25": "Huber, delta = 0.25",
    "log_cosh": "log-cosh",
    "mape": "MAPE",
    "bce": "BCE",
    "cce": "CCE, one-hot",
    "scce": "SCCE, integer labels",
}


def _color(loss: str) -> str:
    return LOSS_COLORS.get(loss.removesuffix("_saturated"), "black")


def _label(loss: str) -> str:
    base = LOSS_LABELS.get(loss.removesuffix("_saturated"), loss)
    return f"{base}, saturated start" if loss.endswith("_saturated") else base


def _margins(fig: Figure, left, right, bottom, top, wspace, hspace) -> None:
    """Fixed margins in inches (and gaps as fractions of an axes): for the figures with
    many axes, whose constrained layout cost more than drawing them (measured: ~0.3 s of
    the shapes figure's ~0.8 s)."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=wspace,
        hspace=hspace,
    )


def shapes(panels: Mapping) -> Figure:
    """Loss values (top row) and their slopes from GradientTape (bottom row), one column
    per panel of :func:`keras_lab.losslab.shapes.loss_shapes`.

    Example:
        >>> from keras_lab.losslab.shapes import Curves
        >>> c = Curves(np.array([0.0, 1.0]), "e", {"a": np.array([0.0, 1.0])},
        ...            {"a": np.array([1.0, 1.0])}, "slope")
        >>> len(shapes({"regression": c}).axes)
        2
    """
    titles = {
        "regression": "Regression losses against the error",
        "mape": "MAPE: the same value for every target,\na slope of 100 / |target|",
        "classification": "Classification losses against p of the true class",
        "hinge": "Hinge losses against the margin",
    }
    fig = Figure(figsize=(4.0 * len(panels), 7.2), dpi=100)
    axes = fig.subplots(2, len(panels), squeeze=False)
    _margins(fig, left=0.6, right=0.15, bottom=0.55, top=0.8, wspace=0.3, hspace=0.18)
    for column, (key, curves) in enumerate(panels.items()):
        top, bottom = axes[0, column], axes[1, column]
        for index, (label, values) in enumerate(curves.values.items()):
            # dashed: the curves that lie on another (RMSE per sample on MAE, CCE on BCE)
            style = "--" if label.startswith(("RMSE", "CCE")) else "-"
            if key == "mape" and index > 0:
                continue  # one value curve: MAPE's value does not depend on the target
            top.plot(curves.x, values, style, label="MAPE, any target" if key == "mape" else label)
        for label, slopes in curves.slopes.items():
            style = "--" if label.startswith(("RMSE", "CCE")) else "-"
            bottom.plot(curves.x, slopes, style, label=label)
        if key == "classification":
            top.set_ylim(0, 5)
        if key == "mape":
            bottom.set_yscale("symlog", linthresh=100)
        top.set_title(titles.get(key, key), fontsize=10)
        top.set_ylabel("loss")
        bottom.set_ylabel(curves.slope_label)
        bottom.set_xlabel(curves.xlabel)
        for ax in (top, bottom):
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle("Loss shapes (custom_losses) and their derivatives (tf.GradientTape)")
    return fig


def outliers(
    x: np.ndarray,
    y: np.ndarray,
    is_outlier: np.ndarray,
    grid: np.ndarray,
    clean: np.ndarray,
    curves: Mapping[str, np.ndarray],
    rms_to_clean: Mapping[str, float],
    title: str = "",
) -> Figure:
    """Left: the points, the clean curve and every loss's fit. Right: each fit's RMS
    distance to the clean curve.

    Example:
        >>> g = np.linspace(-2, 2, 3)
        >>> fig = outliers(g[:, None], g[:, None], np.array([False, True, False]), g, g,
        ...                {"mse": g + 0.5}, {"mse": 0.5})
        >>> fig.axes[1].get_xlabel()
        'RMS distance to the clean curve g(p) on [-2, 2]'
    """
    fig = Figure(figsize=(11.0, 4.6), dpi=100, layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(1.6, 1.0))
    x, y = np.ravel(x), np.ravel(y)
    left.plot(x[~is_outlier], y[~is_outlier], ".", color="grey", markersize=4, label="data")
    left.plot(x[is_outlier], y[is_outlier], "x", color="black", markersize=5, label="outliers")
    left.plot(grid, clean, "k--", linewidth=2, label="clean curve g(p)")
    for loss, curve in curves.items():
        left.plot(grid, curve, "-", color=_color(loss), linewidth=1.4, label=_label(loss))
    left.set_xlabel("p")
    left.set_ylabel("t")
    left.set_ylim(-0.5, 3.0)
    left.set_title("Fits from the same start (outliers above the plot are cut)", fontsize=10)
    left.legend(fontsize=7, loc="upper left", ncol=2)
    left.grid(True, alpha=0.3)
    names = list(rms_to_clean)
    values = [rms_to_clean[n] for n in names]
    right.barh(range(len(names)), values, color=[_color(n) for n in names])
    right.set_yticks(range(len(names)), [_label(n) for n in names])
    right.invert_yaxis()
    for row, value in enumerate(values):
        right.annotate(
            f"{value:.3f}",
            (value, row),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    right.set_xlim(0, 1.2 * max(values))
    right.set_xlabel("RMS distance to the clean curve g(p) on [-2, 2]")
    right.grid(True, axis="x", alpha=0.3)
    fig.suptitle(title or "Outliers: which loss is pulled away from the clean curve?")
    return fig


def learning_curves(panels: Mapping[str, dict]) -> Figure:
    """One panel per data set: {title: {"ylabel", "runs": {loss: (epochs, values)},
    "hline": optional level}}.

    Example:
        >>> fig = learning_curves({"t": {"ylabel": "acc", "runs": {"bce": ([0, 1], [0.5, 0.9])}}})
        >>> fig.axes[0].get_ylabel()
        'acc'
    """
    fig = Figure(figsize=(4.4 * len(panels), 4.2), dpi=100, layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, panel) in zip(axes, panels.items()):
        for loss, (epochs, values) in panel["runs"].items():
            # dashed: a saturated start, or SCCE (on top of CCE: the same weights)
            style = "--" if loss.endswith("_saturated") or loss == "scce" else "-"
            ax.plot(epochs, values, style, color=_color(loss), label=_label(loss), linewidth=1.4)
        if panel.get("hline") is not None:
            ax.axhline(panel["hline"], color="black", linewidth=0.8, alpha=0.6)
        if panel.get("ylim") is not None:
            ax.set_ylim(*panel["ylim"])
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel(panel["ylabel"])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Real data: the right loss for each problem type (same start, same batches)")
    return fig


def confusion(counts: np.ndarray, class_names: Sequence[str], title: str = "") -> Figure:
    """The confusion matrix, counts written in the cells (rows: true class).

    Example:
        >>> fig = confusion(np.array([[3, 1], [0, 4]]), ["a", "b"])
        >>> fig.axes[0].get_ylabel()
        'true class'
    """
    counts = np.asarray(counts)
    fig = Figure(figsize=(5.6, 5.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="Blues")
    for (i, j), value in np.ndenumerate(counts):
        if value:
            color = "white" if value > counts.max() / 2 else "black"
            ax.text(j, i, str(value), ha="center", va="center", fontsize=8, color=color)
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names)
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or "Confusion matrix", fontsize=10)
    return fig


def misclassified(
    images: np.ndarray, true: np.ndarray, predicted: np.ndarray, title: str = "", columns: int = 8
) -> Figure:
    """A grid of images (n, h, w), each titled "true -> predicted".

    Example:
        >>> fig = misclassified(np.zeros((3, 8, 8)), np.array([1, 2, 3]), np.array([7, 5, 8]))
        >>> fig.axes[0].get_title()
        '1 -> 7'
    """
    count = len(images)
    rows = max(1, -(-count // columns))
    fig = Figure(figsize=(1.3 * columns, 1.45 * rows + 0.6), dpi=100)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    _margins(fig, left=0.05, right=0.05, bottom=0.05, top=0.55, wspace=0.1, hspace=0.3)
    for ax in axes:
        ax.set_axis_off()
    for ax, image, t, p in zip(axes, images, true, predicted):
        ax.imshow(image, cmap="gray_r", interpolation="nearest")
        ax.set_title(f"{t} -> {p}", fontsize=9, color="tab:red")
    fig.suptitle(title or "Misclassified test images (true -> predicted)", fontsize=10)
    return fig
