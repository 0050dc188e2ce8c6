"""The lab's figures: each function returns a matplotlib Figure and writes nothing.

Built with the object-oriented API (``matplotlib.figure.Figure``), as keras_lab.plots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

#: (colour, name on the figures) of each loss, the same on every figure of the lab.
LOSS_STYLE: dict[str, tuple[str, str]] = {
    "mse": ("tab:red", "MSE"),
    "rmse": ("tab:orange", "RMSE"),
    "mae": ("tab:blue", "MAE"),
    "huber": ("tab:green", "Huber, delta = 1"),
    "huber_1": ("tab:green", "Huber, delta = 1"),
    "huber_0.25": ("tab:olive", "Huber, delta = 0.25"),
    "log_cosh": ("tab:purple", "log-cosh"),
    "mape": ("tab:brown", "MAPE"),
    "bce": ("tab:blue", "BCE"),
    "cce": ("tab:blue", "CCE, one-hot"),
    "scce": ("tab:cyan", "SCCE, integer labels"),
}


def _color(loss: str) -> str:
    return LOSS_STYLE.get(loss.removesuffix("_saturated"), ("black",))[0]


def _label(loss: str) -> str:
    base = LOSS_STYLE.get(loss.removesuffix("_saturated"), ("", loss))[1]
    return f"{base}, saturated start" if loss.endswith("_saturated") else base


def _margins(fig: Figure, left, right, bottom, top, wspace, hspace) -> None:
    """Fixed margins in inches (gaps: fractions of an axes), for figures with many axes,
    whose constrained layout costs more than drawing them."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left / width, bottom / height, 1 - right / width, 1 - top / height,
                        wspace, hspace)  # fmt: skip


def shapes(panels: Mapping) -> Figure:
    """Loss values (top row) and their slopes from GradientTape (bottom row), one column
    per panel of :func:`keras_lab.experiments.losslab.shapes.loss_shapes`.

    Example:
        >>> from keras_lab.experiments.losslab.shapes import Curves
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
    _margins(fig, left=0.6, right=0.15, bottom=0.55, top=1.0, wspace=0.3, hspace=0.18)
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
        top.set_ylabel("MAPE (%)" if key == "mape" else "loss")
        bottom.set_ylabel(curves.slope_label)
        bottom.set_xlabel(curves.xlabel)
        for ax in (top, bottom):
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
    claim = shapes_claim(panels)
    fig.suptitle(claim + "  (values: custom_losses; slopes: tf.GradientTape)", fontsize=11)
    return fig


def shapes_claim(panels: Mapping) -> str:
    """The shapes figure's claim, computed from its curves; ValueError if they contradict it.

    Gradient descent feels the slope: on the regression panel only MSE's slope grows past
    every bounded loss's (MAE 1, Huber delta, log-cosh tanh); on the classification panel
    MSE through a sigmoid has less than a tenth of BCE's slope at the most confident mistake.
    A panel that is absent is left out of the sentence.
    """
    parts = []
    if "regression" in panels and "MSE" in panels["regression"].slopes:
        curves = panels["regression"]
        mse = float(np.max(np.abs(curves.slopes["MSE"])))
        others = max(float(np.max(np.abs(v))) for k, v in curves.slopes.items() if k != "MSE")
        if not mse > 2 * others:
            raise ValueError(
                f"MSE's largest slope {mse:g} is not past twice the others' {others:g}"
            )
        parts.append(
            f"only MSE's grows with the error ({mse:g} at e = {np.max(curves.x):g}, "
            f"the others at most {others:g})"
        )
    if "classification" in panels and "BCE, -log p" in panels["classification"].slopes:
        curves = panels["classification"]
        i = int(np.argmin(curves.x))  # the most confident mistake: p of the true class lowest
        bce = float(curves.slopes["BCE, -log p"][i])
        mse = float(curves.slopes["MSE on p, (1 - p)^2"][i])
        if not abs(mse) < 0.1 * abs(bce):
            raise ValueError(f"MSE-on-sigmoid slope {mse:g} is not under a tenth of BCE's {bce:g}")
        parts.append(
            f"through a sigmoid, MSE barely learns a confident mistake (slope {mse:.3g} at "
            f"p = {curves.x[i]:g}, BCE {bce:.3g})"
        )
    if not parts:
        return "Loss shapes and their slopes"
    return "Gradient descent feels the slope (bottom row): " + ";\n".join(parts)


#: The losses whose slope is bounded (|slope| <= 1, delta or tanh < 1): the outlier claim's
#: "robust" side.
BOUNDED_LOSSES: tuple[str, ...] = ("mae", "huber_1", "huber_0.25", "log_cosh")
#: The outlier claim holds when MSE's distance to the clean curve is at least this many
#: times the farthest bounded loss's (measured with the lab's defaults: 0.437 / 0.108 = 4.0).
PULL_RATIO = 2.0


def outlier_claim(rms_to_clean: Mapping[str, float]) -> tuple[bool | None, str]:
    """The outlier figure's claim, computed: (does it hold, the sentence that says so).

    It holds when MSE's fit is at least PULL_RATIO times as far from the clean curve as
    every bounded loss's fit (MAE, Huber, log-cosh); None when MSE or every bounded loss is
    missing (nothing to compare). The sentence states what the numbers show either way.

    Example:
        >>> holds, text = outlier_claim({"mse": 0.437, "mae": 0.014, "huber_1": 0.108})
        >>> holds, text.split(":")[0]
        (True, "MSE's fit is pulled 0.437 (RMS) off the clean curve, 4.0x as far as MAE and \
Huber (0.108 at most)")
        >>> outlier_claim({"mse": 0.05, "mae": 0.04})[0]
        False
    """
    bounded = [loss for loss in BOUNDED_LOSSES if loss in rms_to_clean]
    if "mse" not in rms_to_clean or not bounded:
        return None, "Outliers: which loss is pulled away from the clean curve?"
    mse = rms_to_clean["mse"]
    farthest = max(rms_to_clean[loss] for loss in bounded)
    labels = list(dict.fromkeys(_label(loss).split(",")[0] for loss in bounded))  # Huber once
    names = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    ratio = mse / farthest if farthest > 0 else float("inf")
    if ratio >= PULL_RATIO:
        return True, (
            f"MSE's fit is pulled {mse:.3f} (RMS) off the clean curve, {ratio:.1f}x as far as "
            f"{names} ({farthest:.3f} at most): a bounded slope resists the outliers"
        )
    return False, (
        f"Here MSE's fit ({mse:.3f} RMS off the clean curve) is NOT pulled {PULL_RATIO:g}x "
        f"as far as {names} ({farthest:.3f} at most)"
    )


def check_visible(ax) -> None:
    """Raise ValueError if a labelled line of ``ax`` (what its legend, or the figure's,
    promises) has a finite point outside the axes' limits."""
    (x_low, x_high), (y_low, y_high) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    for line in ax.get_lines():
        if line.get_label().startswith("_"):
            continue
        x, y = (np.asarray(v, np.float64) for v in line.get_data())
        finite = np.isfinite(x) & np.isfinite(y)
        x, y = x[finite], y[finite]
        outside = (x < x_low) | (x > x_high) | (y < y_low) | (y > y_high)
        if outside.any():
            raise ValueError(
                f"{int(outside.sum())} points of {line.get_label()!r} lie outside the axes "
                f"({x_low:g}..{x_high:g}, {y_low:g}..{y_high:g})"
            )


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
    """Three panels. Left: every point (the outliers too), the clean curve and every loss's
    fit. Middle: the same fits, zoomed on the clean points (the outliers lie above it).
    Right: each fit's RMS distance to the clean curve, and half of MSE's. The title is
    :func:`outlier_claim` (``title``, the set-up, goes under it); every labelled point is
    checked to lie inside its axes (:func:`check_visible`).

    Example:
        >>> g = np.linspace(-2, 2, 3)
        >>> fig = outliers(g[:, None], np.array([[0.0], [5.0], [2.0]]),
        ...                np.array([False, True, False]), g, g, {"mse": g + 0.5}, {"mse": 0.5})
        >>> fig.axes[2].get_xlabel()
        'RMS distance to g(p) on [-2, 2] (units of t)'
        >>> bool(fig.axes[0].get_ylim()[1] > 5.0)
        True
    """
    fig = Figure(figsize=(14.0, 5.0), dpi=100, layout="constrained")
    full, zoom, bars = fig.subplots(1, 3, width_ratios=(1.1, 1.1, 0.9))
    x, y = np.ravel(x), np.ravel(y)
    is_outlier = np.asarray(is_outlier, bool)
    fits = np.concatenate([clean, *curves.values()]) if curves else np.asarray(clean)
    for ax, show_outliers in ((full, True), (zoom, False)):
        ax.plot(x[~is_outlier], y[~is_outlier], ".", color="grey", markersize=4, label="data")
        if show_outliers:
            ax.plot(x[is_outlier], y[is_outlier], "x", color="black", markersize=5,
                    label=f"outliers ({int(is_outlier.sum())})")  # fmt: skip
        # the clean curve dashed on top: a fit that lies on it shows in the gaps
        ax.plot(grid, clean, "k--", linewidth=2, label="clean curve g(p)", zorder=3)
        for loss, curve in curves.items():
            ax.plot(grid, curve, "-", color=_color(loss), linewidth=1.4, label=_label(loss))
        ax.set_xlabel("input p")
        ax.set_ylabel("target t, network output")
        ax.grid(True, alpha=0.3)
    shown = np.concatenate([y, fits])
    pad = 0.05 * (shown.max() - shown.min())
    full.set_ylim(shown.min() - pad, shown.max() + pad)
    full.set_title("Every point: the outliers lie 3 to 6 above the curve", fontsize=10)
    full.legend(fontsize=7, loc="upper left", ncol=2)
    inliers = np.concatenate([y[~is_outlier], fits])
    pad = 0.05 * (inliers.max() - inliers.min())
    zoom.set_ylim(inliers.min() - pad, inliers.max() + pad)
    zoom.set_title("Zoom on the clean points (the outliers are above)", fontsize=10)
    zoom.legend(fontsize=7, loc="upper left", ncol=2)
    for ax in (full, zoom):
        check_visible(ax)
    names = list(rms_to_clean)
    values = [rms_to_clean[n] for n in names]
    bars.barh(range(len(names)), values, color=[_color(n) for n in names])
    bars.set_yticks(range(len(names)), [_label(n) for n in names])
    bars.invert_yaxis()
    for row, value in enumerate(values):
        bars.annotate(f"{value:.3f}", (value, row), xytext=(3, 0), textcoords="offset points",
                      va="center", fontsize=8)  # fmt: skip
    if "mse" in rms_to_clean:
        bars.axvline(rms_to_clean["mse"] / PULL_RATIO, color="black", linestyle=":",
                     linewidth=1, label=f"MSE's distance / {PULL_RATIO:g}")  # fmt: skip
        bars.legend(fontsize=7, loc="lower right")
    bars.set_xlim(0, 1.2 * max(values))
    bars.set_xlabel("RMS distance to g(p) on [-2, 2] (units of t)")
    bars.grid(True, axis="x", alpha=0.3)
    _, claim = outlier_claim(rms_to_clean)
    fig.suptitle(claim + (f"\n{title}" if title else ""), fontsize=11)
    return fig


def learning_curves(panels: Mapping[str, dict], title: str = "") -> Figure:
    """One panel per data set: {title: {"ylabel", "runs": {loss: (epochs, values)},
    "hline": optional (level, legend label), "ylim": optional}}; ``title`` over them all.

    Example:
        >>> fig = learning_curves({"t": {"ylabel": "acc", "runs": {"bce": ([0, 1], [0.5, 0.9])}}})
        >>> fig.axes[0].get_ylabel()
        'acc'
    """
    fig = Figure(figsize=(4.4 * len(panels), 4.2), dpi=100, layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (panel_title, panel) in zip(axes, panels.items()):
        for loss, (epochs, values) in panel["runs"].items():
            # dashed: a saturated start, or SCCE (on top of CCE: the same weights)
            style = "--" if loss.endswith("_saturated") or loss == "scce" else "-"
            ax.plot(epochs, values, style, color=_color(loss), label=_label(loss), linewidth=1.4)
        if panel.get("hline") is not None:
            level, label = panel["hline"]
            ax.axhline(level, color="black", linewidth=0.8, alpha=0.6, label=label)
        if panel.get("ylim") is not None:
            ax.set_ylim(*panel["ylim"])
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel(panel["ylabel"])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        check_visible(ax)
    fig.suptitle(title or "Real data: one loss per run, the same start and batches", fontsize=11)
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
