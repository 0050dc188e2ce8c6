"""Outliers: the sine-fit network on noisy sine points of which a fraction are gross outliers.

The lecture's network (1-2-1, sigmoid hidden layer) is trained from the same start once
per regression loss on the same points: t = g(p) + noise, and for a fraction of them
t + U(3, 6) on top (gross outliers, all above the curve). Each fitted curve is compared
with the clean curve g(p) = 1 + sin(pi p / 4) on a grid of 201 points of [-2, 2].

What it shows (measured, see docs/losslab.md): MSE and RMSE are pulled towards the
outliers, by about the fraction times their mean offset (their slope grows with the
error); MAE, Huber and log-cosh stay close to the clean curve (their slope is bounded:
at equilibrium the inliers' pull balances fraction x delta, so MAE, delta -> 0, is pulled
least). MAPE weights each point by 1 / |t|: the sine reaches 0 at p = -2, and the few
points there carry most of the loss and need a learning rate thousands of times smaller.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import custom_losses
from keras_lab.data import sine_data, sine_target
from keras_lab.engine.loop import GradientDescent
from keras_lab.experiments.losslab.training import RunRecord, train_and_measure
from keras_lab.models import sine_fit_model

#: The regression losses of the outlier experiment, by name: a factory of the loss object.
OUTLIER_LOSSES: dict[str, Callable[[], Callable]] = {
    "mse": custom_losses.MeanSquaredError,
    "rmse": custom_losses.RootMeanSquaredError,  # the root of the batch MSE
    "mae": custom_losses.MeanAbsoluteError,
    "huber_1": lambda: custom_losses.Huber(delta=1.0),
    "huber_0.25": lambda: custom_losses.Huber(delta=0.25),
    "log_cosh": custom_losses.LogCosh,
    "mape": custom_losses.MeanAbsolutePercentageError,
}
#: Targets closer to 0 than this are "near zero" in MAPE's numbers.
NEAR_ZERO = 0.1
#: The outliers' offset above the curve: uniform in this range.
OUTLIER_OFFSET = (3.0, 6.0)
#: Updates per halving of the learning rate. With a constant alpha, mini-batches holding
#: 0 to 6 outliers kick MSE's fit around (its distance to g measured 0.29-0.60 over the last
#: 300 of 500 epochs); decayed, every fit settles.
DECAY_STEPS = 1000
#: The grid on which fits are compared with the clean curve.
GRID = np.linspace(-2.0, 2.0, 201)


def outlier_data(
    num_samples: int = 200,
    outlier_fraction: float = 0.1,
    noise: float = 0.05,
    seed: int = 0,
    dtype: str = "float32",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy sine points, round(fraction * n) of them moved up by U(3, 6): (x, y, is_outlier).

    Example:
        >>> x, y, is_outlier = outlier_data(20, outlier_fraction=0.1)
        >>> x.shape, int(is_outlier.sum()), bool(np.all(y[is_outlier, 0] > 2.5))
        ((20, 1), 2, True)
    """
    if not (isinstance(outlier_fraction, (int, float)) and 0 <= outlier_fraction < 1):
        raise ValueError(f"outlier_fraction must be in [0, 1), got {outlier_fraction!r}")
    x, y = sine_data(num_samples, noise=noise, seed=seed, dtype=dtype)
    rng = np.random.default_rng([seed, 1])  # a stream of its own: x and y stay sine_data's
    num_outliers = int(round(outlier_fraction * num_samples))
    chosen = rng.choice(num_samples, num_outliers, replace=False)
    is_outlier = np.zeros(num_samples, bool)
    is_outlier[chosen] = True
    y = y.copy()
    y[chosen, 0] += rng.uniform(*OUTLIER_OFFSET, size=num_outliers).astype(y.dtype)
    return x, y, is_outlier


@dataclass
class OutlierFit:
    """One loss's run: the fitted curve on GRID and how far it is from the clean curve."""

    loss: str
    learning_rate: float
    curve: np.ndarray  # (len(GRID),) the network's output on GRID
    rms_to_clean: float  # sqrt(mean((curve - g)^2)) over GRID
    max_to_clean: float  # max |curve - g| over GRID
    bias: float  # mean(curve - g): > 0 is pulled up, towards the outliers
    final_loss: float  # the training loss after the last epoch (the loss's own units)
    record: RunRecord


def fit_one(
    loss: str,
    x: np.ndarray,
    y: np.ndarray,
    num_epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int = 0,
    measure_every: int = 50,
    logdir: str | None = None,
) -> OutlierFit:
    """Train sine_fit_model(seed) with one loss of OUTLIER_LOSSES; compare with g on GRID."""
    if loss not in OUTLIER_LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {tuple(OUTLIER_LOSSES)}")
    model = sine_fit_model(seed=seed)
    gd = GradientDescent(
        model,
        OUTLIER_LOSSES[loss](),
        x,
        y,
        batch_size=batch_size,
        learning_rate=learning_rate,
        schedule="exponential",  # alpha halves every DECAY_STEPS updates: each fit settles
        decay_rate=0.5,
        decay_steps=DECAY_STEPS,
        seed=seed,
    )
    grid = GRID.reshape(-1, 1).astype(np.float32)
    clean = sine_target(GRID)

    def curve() -> np.ndarray:
        return np.asarray(model(grid, training=False), np.float64)[:, 0]

    def measure() -> dict[str, float]:
        return {"rms_to_clean": float(np.sqrt(np.mean((curve() - clean) ** 2)))}

    record = train_and_measure(gd, num_epochs, measure, measure_every, logdir)
    fitted = curve()
    return OutlierFit(
        loss, learning_rate, fitted, measure()["rms_to_clean"],
        max_to_clean=float(np.max(np.abs(fitted - clean))), bias=float(np.mean(fitted - clean)),
        final_loss=record.epoch_loss[-1] if record.epoch_loss else float("nan"), record=record,
    )  # fmt: skip


def mape_near_zero(model_output: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Where MAPE's weight goes: the share of the loss on targets with |t| < NEAR_ZERO.

    Returns the number and share of such samples, their share of the summed per-sample
    MAPE, and the largest and the median weight 100 / |t| that MAPE's slope puts on a sample.

    Example (two targets, 0.05 and 1, both predicted 0.1 too high):
        >>> m = mape_near_zero(np.array([0.15, 1.1]), np.array([0.05, 1.0]))
        >>> m["near_zero_samples"], round(m["near_zero_loss_share"], 4)
        (1, 0.9524)
    """
    t = np.asarray(y, np.float64).ravel()
    f = np.asarray(model_output, np.float64).ravel()
    ape = 100.0 * np.abs(f - t) / np.maximum(np.abs(t), 1e-7)  # custom_losses' epsilon rule
    near = np.abs(t) < NEAR_ZERO
    weight = 100.0 / np.maximum(np.abs(t), 1e-7)
    return {
        "near_zero_samples": int(near.sum()),
        "near_zero_sample_share": float(near.mean()),
        "near_zero_loss_share": float(ape[near].sum() / ape.sum()),
        "max_slope_weight": float(weight.max()),
        "median_slope_weight": float(np.median(weight)),
    }


def run_outliers(
    num_samples: int = 200,
    outlier_fraction: float = 0.1,
    num_epochs: int = 500,
    batch_size: int = 20,
    learning_rate: float = 0.1,
    mape_learning_rate: float = 3e-5,
    seed: int = 0,
    losses: tuple[str, ...] = tuple(OUTLIER_LOSSES),
    logdir: str | None = None,
) -> dict:
    """Every loss of ``losses`` on the same outlier data from the same start (MAPE, in
    percent and weighting a sample by 1 / |t|, at its own learning rate).

    Returns:
        {"data": (x, y, is_outlier), "fits": {loss: OutlierFit}, "mape": mape_near_zero of
        the MAPE run on the training data (if MAPE ran)}.
    """
    x, y, is_outlier = outlier_data(num_samples, outlier_fraction, seed=seed)
    fits = {}
    for loss in losses:
        fits[loss] = fit_one(
            loss, x, y, num_epochs, batch_size,
            mape_learning_rate if loss == "mape" else learning_rate, seed=seed,
            measure_every=max(1, num_epochs // 20),
            logdir=os.path.join(logdir, loss) if logdir else None,
        )  # fmt: skip
    out = {"data": (x, y, is_outlier), "fits": fits, "mape": None}
    if "mape" in fits:
        # the MAPE run's output on the training points, from its curve (p is on [-2, 2])
        output = np.interp(x[:, 0], GRID, fits["mape"].curve)
        out["mape"] = mape_near_zero(output, y)
    return out
