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
