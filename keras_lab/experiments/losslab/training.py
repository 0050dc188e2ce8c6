"""One training run of the lab: the loop's :func:`~keras_lab.engine.callbacks.fit` in
chunks, the run's own measurements (test accuracy, distance to the clean curve ...) after
each, and TensorBoard scalars once a chunk; the loss of every epoch is in the returned
record (and so in result.json).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from keras_lab import checks
from keras_lab.engine.callbacks import History, Measure, TensorBoardScalars, fit
from keras_lab.engine.loop import GradientDescent


@dataclass
class RunRecord:
    """A run's numbers: measurements at ``epochs`` (0 is the start), the loop's per-epoch
    loss, the step it stopped at (-1: none failed), its wall time with measurements."""

    epochs: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    epoch_loss: list[float] = field(default_factory=list)
    failed_step: int = -1
    seconds: float = 0.0

    def final(self, name: str) -> float:
        """The last measured value of metric ``name``."""
        return self.metrics[name][-1]

    def convergence(self, name: str, tolerance: float) -> dict:
        """Has metric ``name`` settled? Its trend over the run's last half, against
        ``tolerance``: see :func:`convergence`."""
        return convergence(self.epochs, self.metrics[name], tolerance, metric=name)


#: The share of a run's epochs over which :func:`convergence` takes the trend: the last
#: half (a quarter was fooled by plateaus: breast cancer's MSE run holds 0.937 test accuracy
#: over epochs 8-11, then reaches 0.958 at epoch 13).
LAST_SHARE = 0.5


def recent_change(epochs: list[int], values: list[float], share: float = LAST_SHARE):
    """How much ``values`` moved over the last ``share`` of the epochs: (change, epochs).

    The change is the least-squares slope through the measurements at epochs >=
    (1 - share) x the last epoch (at least the last two), times the epochs they span: a
    trend, so that the noise of single measurements (mini-batches) does not decide it.

    Example (a metric falling by 1 per epoch, measured at epochs 0..8: the window is
    epochs 4..8):
        >>> recent_change(list(range(9)), [8.0 - e for e in range(9)])
        (-4.0, 4)
    """
    e = np.asarray(epochs, np.float64)
    v = np.asarray(values, np.float64)
    if len(e) < 2 or len(e) != len(v):
        raise ValueError(f"need two or more measurements at as many epochs, got {len(v)}")
    first = min(int(np.searchsorted(e, (1.0 - share) * e[-1])), len(e) - 2)
    e, v = e[first:], v[first:]
    centred = e - e.mean()
    slope = np.sum(centred * (v - v.mean())) / np.sum(centred**2)  # least squares
    span = e[-1] - e[0]
    return float(slope * span), int(span)


def convergence(
    epochs: list[int], values: list[float], tolerance: float, metric: str = "metric"
) -> dict:
    """Whether a run's headline number (not its training loss, which keeps falling on
    nearly separable data) has settled: it moved by at most ``tolerance`` over the last
    half of the epochs (:func:`recent_change`).

    Returns:
        {"metric", "change", "over_epochs", "tolerance", "settled"}.

    Example (test accuracy still rising 0.02 an epoch):
        >>> convergence([0, 1, 2, 3], [0.5, 0.9, 0.92, 0.94], 0.01)["settled"]
        False
    """
    change, span = recent_change(epochs, values)
    return {
        "metric": metric,
        "change": change,
        "over_epochs": span,
        "tolerance": tolerance,
        "settled": bool(abs(change) <= tolerance),
    }


def train_and_measure(
    gd: GradientDescent,
    num_epochs: int,
    measure: Callable[[], dict[str, float]],
    measure_every: int = 1,
    logdir: str | None = None,
) -> RunRecord:
    """Train ``gd`` ``num_epochs`` epochs in chunks of ``measure_every``, ``measure()``
    ({metric name: value} of the model as it is) at the start and after each chunk, and
    with ``logdir`` TensorBoard scalars (:class:`~keras_lab.engine.callbacks.TensorBoardScalars`).
    A run that hits a non-finite step stops there."""
    checks.integer("num_epochs", num_epochs, minimum=1)
    checks.integer("measure_every", measure_every, minimum=1)
    started = time.perf_counter()
    measured = Measure(lambda loop: measure())
    history = History(num_epochs)
    board = [TensorBoardScalars(logdir, measured)] if logdir else []
    stats = fit(gd, num_epochs, [history, measured, *board], measure_every)
    return RunRecord(
        epochs=measured.epochs,
        metrics=measured.values,
        epoch_loss=history.loss(measured.epochs[-1]),
        failed_step=int(stats.failed_step),
        seconds=time.perf_counter() - started,
    )
