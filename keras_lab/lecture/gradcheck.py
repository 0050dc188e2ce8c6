"""Gradient checking: centred finite differences against tf.GradientTape gradients.

For every trainable scalar theta_j of a model, the centred difference

    g_j ~= (J(theta + eps e_j) - J(theta - eps e_j)) / (2 eps)

has error O(eps^2); in float64 with eps = 1e-6 it agrees with the exact gradient to about
1e-9 relative, so a relative error above 1e-7 means the gradient is wrong. The lecture:
"If you derive the gradients yourself, then gradient checking is a good idea."

The objective is J(theta) = sum over samples of loss_fn(y, model(x)); use a float64 model
(``dtype="float64"``), as float32 round-off alone is about 1e-3 relative here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from keras_lab import checks

LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


@dataclass(frozen=True)
class GradCheckResult:
    """The outcome of :func:`check_gradients`: per variable (by path) the relative error
    ||a - n|| / (||a|| + ||n||) of the analytic gradient a (the tape's unless given) against
    the numerical n (Euclidean norms; 0 when both are zero), its maximum, and both gradients.
    """

    max_relative_error: float
    relative_errors: dict[str, float]
    analytic: list[np.ndarray]
    numerical: list[np.ndarray]

    def passed(self, tolerance: float = 1e-7) -> bool:
        """True when every relative error is at most ``tolerance``."""
        return bool(self.max_relative_error <= tolerance)


def objective(model: keras.Model, loss_fn: LossFn, x: np.ndarray, y: np.ndarray) -> tf.Tensor:
    """J = sum over samples of loss_fn(y, model(x)) (a scalar tensor)."""
    return tf.reduce_sum(loss_fn(tf.convert_to_tensor(y), model(x, training=False)))


def _tensors(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[tf.Tensor, tf.Tensor]:
    dtype = model.trainable_variables[0].dtype
    return tf.convert_to_tensor(x, dtype=dtype), tf.convert_to_tensor(y, dtype=dtype)


def tape_gradients(
    model: keras.Model, loss_fn: LossFn, x: np.ndarray, y: np.ndarray
) -> list[np.ndarray]:
    """dJ/dtheta for every trainable variable, by tf.GradientTape."""
    x, y = _tensors(model, x, y)
    with tf.GradientTape() as tape:
        value = objective(model, loss_fn, x, y)
    grads = tape.gradient(value, model.trainable_variables)
    return [np.asarray(g) for g in grads]


def numerical_gradients(
    model: keras.Model,
    loss_fn: LossFn,
    x: np.ndarray,
    y: np.ndarray,
    epsilon: float = 1e-6,
) -> list[np.ndarray]:
    """(J(theta + eps e_j) - J(theta - eps e_j)) / (2 eps) for every trainable scalar.

    The model's weights are restored exactly afterwards.
    """
    epsilon = checks.number("epsilon", epsilon, minimum=0, strict=True)
    x, y = _tensors(model, x, y)
    grads = []
    for variable in model.trainable_variables:
        original = np.array(variable.numpy())
        grad = np.zeros_like(original, dtype=np.float64)
        try:
            for index in np.ndindex(original.shape):
                j = []  # J(theta + eps e_j), J(theta - eps e_j)
                for step in (epsilon, -epsilon):
                    shifted = original.copy()
                    shifted[index] += step
                    variable.assign(shifted)
                    j.append(float(objective(model, loss_fn, x, y)))
                grad[index] = (j[0] - j[1]) / (2.0 * epsilon)
        finally:
            variable.assign(original)
        grads.append(grad)
    return grads


def check_gradients(
    model: keras.Model,
    loss_fn: LossFn,
    x: np.ndarray,
    y: np.ndarray,
    epsilon: float = 1e-6,
    gradients: Sequence[np.ndarray] | None = None,
) -> GradCheckResult:
    """Compare analytic gradients (tape, or ``gradients`` if given) with finite differences.

    Args:
        model: a built Keras model; float64 for a tight check.
        loss_fn: ``loss_fn(y_true, y_pred)`` returning one loss per sample (or a scalar).
        x, y: inputs and targets.
        epsilon: the finite-difference step.
        gradients: gradients to check instead of the tape's, one array per trainable
            variable (e.g. from your own back propagation).

    Returns:
        A :class:`GradCheckResult`.

    Example:
        >>> from keras_lab.models import sine_fit_model
        >>> from keras_lab.data import lecture_data
        >>> x, y = lecture_data("float64")
        >>> sse = lambda t, p: keras.ops.sum(keras.ops.square(t - p), axis=-1)
        >>> check_gradients(sine_fit_model(seed=1, dtype="float64"), sse, x, y).passed(1e-7)
        True
    """
    numerical = numerical_gradients(model, loss_fn, x, y, epsilon)
    if gradients is None:
        analytic = tape_gradients(model, loss_fn, x, y)
    else:
        analytic = [np.asarray(g, dtype=np.float64) for g in gradients]
        shapes = [tuple(v.shape) for v in model.trainable_variables]
        given = [g.shape for g in analytic]
        checks.require(
            given == shapes, f"gradients have shapes {given}, the model's variables {shapes}"
        )
    errors = {}
    for variable, a, n in zip(model.trainable_variables, analytic, numerical):
        # Norm-wise, not elementwise: an element whose true gradient is ~0 (a dead relu,
        # a saturated sigmoid) would otherwise turn finite-difference noise into error ~1.
        scale = np.linalg.norm(a) + np.linalg.norm(n)
        errors[variable.path] = float(np.linalg.norm(a - n) / scale) if scale > 0 else 0.0
    return GradCheckResult(
        max_relative_error=max(errors.values()),
        relative_errors=errors,
        analytic=analytic,
        numerical=numerical,
    )
