"""The variants' loss curves: one start, three variants, the SSE against epochs, samples
and seconds (the compare CLI's loss_vs_*.png).

Each variant trains the sine-fit network from the same seeded start with the one loop
(:class:`keras_lab.loop.GradientDescent`); the SSE over the whole training set is measured
at ``points`` places of the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from keras_lab import backprop, models
from keras_lab.config import variant_batch_size
from keras_lab.loop import GradientDescent


@dataclass
class VariantHistory:
    """One variant's run: the loss over the whole training set at measuring points.

    epochs, samples (per-sample gradient evaluations), updates and seconds (wall clock of
    compiled training alone: epochs times the measured time per epoch) locate each point;
    sse is the loss there (the lecture's SSE over the training set); epoch_loss is
    GradientDescent's per-epoch loss (mean squared error of the batches, epoch average).
    """

    variant: str
    batch_size: int
    epochs: list[int]
    samples: list[int]
    updates: list[int]
    seconds: list[float]
    sse: list[float]
    epoch_loss: list[float]
    final_sse: float
    weights: list


def _sse(model, x: np.ndarray, y: np.ndarray) -> float:
    """SSE over (x, y), in numpy from the weights (an eager Keras call costs milliseconds)."""
    layers = models.get_lecture_weights(model)
    y_pred = backprop.predict(layers, ["sigmoid", "linear"], np.asarray(x, np.float64).T)
    return float(np.sum((np.asarray(y, np.float64).T - y_pred) ** 2))


def run_variant(
    variant: str,
    x: np.ndarray,
    y: np.ndarray,
    num_epochs: int,
    learning_rate: float,
    batch_size: int,
    seed: int = 0,
    points: int = 100,
    dtype: str = "float32",
    jit_compile: bool = True,
) -> VariantHistory:
    """Train the sine-fit network from seed ``seed`` with one variant, measuring.

    The first epoch runs alone (it pays the tracing and XLA compilation), the rest in
    ``points`` chunks; after each, the SSE over the training set. Then the same number of
    epochs runs again in one call, timed: seconds = epoch * time per epoch. ``batch_size``
    is the mini-batch size (batch and sgd use n and 1).

    Example (batch GD, 3 epochs, measured after each):
        >>> from keras_lab.data import lecture_data
        >>> x, y = lecture_data()
        >>> h = run_variant("batch", x, y, 3, 0.3, 3, points=3, jit_compile=False)
        >>> h.epochs, h.samples, h.updates
        ([0, 1, 2, 3], [0, 9, 18, 27], [0, 1, 2, 3])
    """
    model = models.sine_fit_model(seed=seed, dtype=dtype)
    batch_size = variant_batch_size(variant, len(x), batch_size)
    gd = GradientDescent(
        model, "mse", x, y, batch_size, learning_rate, seed=seed, jit_compile=jit_compile
    )
    n = len(x)
    epochs, sse = [0], [_sse(model, x, y)]
    epoch_loss = list(gd.run(1).loss)  # compiles
    epochs.append(1)
    sse.append(_sse(model, x, y))
    remaining = num_epochs - 1
    chunks = max(1, min(points - 1, remaining))
    bounds = np.linspace(0, remaining, chunks + 1).round().astype(int)
    for todo in np.diff(bounds):
        if todo == 0 or gd.failed_step.numpy() >= 0:  # diverged: the loop has stopped
            continue
        epoch_loss.extend(gd.run(int(todo)).loss.tolist())
        epochs.append(epochs[-1] + int(todo))
        sse.append(_sse(model, x, y))
    weights = [{"W": w.tolist(), "b": b.tolist()} for w, b in models.get_lecture_weights(model)]
    # Wall clock: the chunked run above pays a Python call and an SSE per point, which
    # would swamp a 25-us epoch. So time the same number of epochs again, uninterrupted
    # (the cost of an epoch does not depend on the weights), and spread it evenly.
    started = time.perf_counter()
    if gd.failed_step.numpy() < 0:
        gd.run(num_epochs)
    per_epoch = (time.perf_counter() - started) / num_epochs
    return VariantHistory(
        variant=variant,
        batch_size=batch_size,
        epochs=epochs,
        samples=[e * n for e in epochs],
        updates=[e * gd.steps_per_epoch for e in epochs],
        seconds=[e * per_epoch for e in epochs],
        sse=sse,
        epoch_loss=[float(v) for v in epoch_loss],
        final_sse=sse[-1],
        weights=weights,
    )
