"""Each loss and its derivative, as curves: the values from custom_losses, the slopes from
tf.GradientTape on them (not from hand formulas; the tests pin them to the closed forms).

    regression      against the error e = y_pred - y_true (y_true = 0): MSE, MAE, Huber at
                    several deltas, log-cosh, per-sample RMSE (one output: sqrt(e^2) = |e|)
    mape            against the relative error r = (y_pred - y_true) / y_true: the value
                    100 |r| is the same for every target, the slope 100 sign(r) / |y_true| is not
    classification  against p, the predicted probability of the true class: BCE and CCE
                    (both -log p), MSE on the probability; slopes with respect to the logit
                    z of the true class (p = sigmoid(z)), where the lesson is: BCE's slope
                    is p - 1, MSE's -2 p (1 - p)^2 vanishes where a wrong answer is confident
    hinge           against the margin m = y_true * y_pred (labels +-1): hinge, squared hinge
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

import custom_losses
from keras_lab import checks

#: Huber's delta values drawn on the shapes figure.
HUBER_DELTAS: tuple[float, ...] = (0.5, 1.0, 2.0)
#: MAPE's slope is drawn for these targets (100 / |t| each).
MAPE_TARGETS: tuple[float, ...] = (1.0, 0.5, 0.1)


@dataclass
class Curves:
    """One panel's curves: x values, and {label: values} / {label: slopes} on them."""

    x: np.ndarray
    xlabel: str
    values: dict[str, np.ndarray]
    slopes: dict[str, np.ndarray]
    slope_label: str


def value_and_slope(
    loss_fn: Callable, y_true: np.ndarray, y_pred: np.ndarray, link: Callable | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample losses and d loss_i / d u_i, where y_pred = link(u) (or u), by GradientTape.

    Each sample's loss depends on its own prediction only, so the gradient of the sum of
    the losses holds every sample's derivative. float64 throughout.

    Example (MSE at e = -1, 0, 2: e^2 and 2 e):
        >>> v, s = value_and_slope(custom_losses.mean_squared_error, np.zeros((3, 1)),
        ...                        np.array([[-1.0], [0.0], [2.0]]))
        >>> v.tolist(), s.tolist()
        ([1.0, 0.0, 4.0], [-2.0, 0.0, 4.0])
    """
    u = tf.Variable(np.asarray(y_pred, np.float64))
    with tf.GradientTape() as tape:
        prediction = link(u) if link is not None else u
        losses = loss_fn(tf.constant(np.asarray(y_true, np.float64)), prediction)
        total = tf.reduce_sum(losses)
    slope = tape.gradient(total, u).numpy()
    # the derivative with respect to each sample's own (first) input: one number per sample
    return np.asarray(losses.numpy(), np.float64).reshape(-1), slope[:, 0]


def regression_curves(errors: np.ndarray) -> Curves:
    """MSE, MAE, Huber (each of HUBER_DELTAS), log-cosh, per-sample RMSE against e."""
    y_pred = np.asarray(errors, np.float64).reshape(-1, 1)
    y_true = np.zeros_like(y_pred)
    fns = {
        "MSE": custom_losses.mean_squared_error,
        "MAE": custom_losses.mean_absolute_error,
        **{
            f"Huber, delta = {d:g}": (lambda t, p, d=d: custom_losses.huber(t, p, delta=d))
            for d in HUBER_DELTAS
        },
        "log-cosh": custom_losses.log_cosh,
        "RMSE per sample": custom_losses.root_mean_squared_error,
    }
    values, slopes = {}, {}
    for label, fn in fns.items():
        values[label], slopes[label] = value_and_slope(fn, y_true, y_pred)
    return Curves(
        y_pred[:, 0], "error e = prediction - target", values, slopes, "d loss / d prediction"
    )


def mape_curves(relative_errors: np.ndarray) -> Curves:
    """MAPE against r for each target in MAPE_TARGETS: one value curve, one slope per target."""
    r = np.asarray(relative_errors, np.float64).reshape(-1, 1)
    values, slopes = {}, {}
    for target in MAPE_TARGETS:
        y_true = np.full_like(r, target)
        values[f"target {target:g}"], slopes[f"target {target:g}"] = value_and_slope(
            custom_losses.mean_absolute_percentage_error, y_true, y_true * (1.0 + r)
        )
    xlabel = "relative error (prediction - target) / target"
    return Curves(r[:, 0], xlabel, values, slopes, "d MAPE / d prediction")


def classification_curves(probabilities: np.ndarray) -> Curves:
    """BCE, CCE (3 classes) and MSE on the probability against p; slopes by the true logit.

    BCE and MSE: one sigmoid output with target 1, p = sigmoid(z). CCE: three softmax
    outputs, logits (z, 0, 0) with z = log(2 p / (1 - p)) so that the true class has
    probability p. Every slope is d loss / d z.
    """
    p = np.asarray(probabilities, np.float64).reshape(-1, 1)
    logit = np.log(p / (1.0 - p))
    ones = np.ones_like(p)
    values, slopes = {}, {}
    values["BCE, -log p"], slopes["BCE, -log p"] = value_and_slope(
        lambda t, z: custom_losses.binary_crossentropy(t, z, from_logits=True), ones, logit
    )
    three_logits = np.concatenate([np.log(2.0 * p / (1.0 - p)), 0 * p, 0 * p], axis=1)
    one_hot_first = np.tile([[1.0, 0.0, 0.0]], (len(p), 1))
    values["CCE (3 classes), -log p"], slopes["CCE (3 classes), -log p"] = value_and_slope(
        lambda t, z: custom_losses.categorical_crossentropy(t, z, from_logits=True),
        one_hot_first,
        three_logits,
    )
    values["MSE on p, (1 - p)^2"], slopes["MSE on p, (1 - p)^2"] = value_and_slope(
        custom_losses.mean_squared_error, ones, logit, link=tf.sigmoid
    )
    xlabel = "predicted probability p of the true class"
    return Curves(p[:, 0], xlabel, values, slopes, "d loss / d logit of the true class")


def hinge_curves(margins: np.ndarray) -> Curves:
    """Hinge and squared hinge against the margin m = y_true * y_pred (y_true = +1)."""
    m = np.asarray(margins, np.float64).reshape(-1, 1)
    ones = np.ones_like(m)
    values, slopes = {}, {}
    for label, fn in (
        ("hinge", custom_losses.hinge),
        ("squared hinge", custom_losses.squared_hinge),
    ):
        values[label], slopes[label] = value_and_slope(fn, ones, m)
    return Curves(
        m[:, 0], "margin m = label * score (labels +-1)", values, slopes, "d loss / d score"
    )


def loss_shapes(points: int = 601) -> dict[str, Curves]:
    """Every panel of the shapes figure: {"regression", "mape", "classification", "hinge"}.

    ``points`` values per curve (an odd number puts e = 0, r = 0 and m = 0 on the grid).

    Example:
        >>> shapes = loss_shapes(points=5)
        >>> shapes["regression"].x.tolist(), shapes["regression"].slopes["MAE"].tolist()
        ([-3.0, -1.5, 0.0, 1.5, 3.0], [-1.0, -1.0, 0.0, 1.0, 1.0])
    """
    checks.integer("points", points, minimum=3)
    return {
        "regression": regression_curves(np.linspace(-3.0, 3.0, points)),
        "mape": mape_curves(np.linspace(-1.5, 1.5, points)),
        # an even count: p = 0.5 (logit exactly 0) stays off the grid, where a BCE-from-logits
        # gradient is most easily wrong (custom_losses' once gave -t instead of 0.5 - t)
        "classification": classification_curves(np.linspace(0.01, 0.99, points + points % 2)),
        "hinge": hinge_curves(np.linspace(-2.0, 3.0, points)),
    }
