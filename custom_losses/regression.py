"""Regression losses: MSE, MAE, MAPE, MSLE, RMSE, SSE, log-cosh and Huber, and their classes.

Each function takes targets ``y_true`` and predictions ``y_pred`` of shape
``(batch, d0, ..., dn)`` (or shapes that broadcast, and (N,) aligned with (N, 1) as Keras aligns
them) and returns one loss per sample, of shape ``(batch, d0, ..., dn-1)``, in ``y_pred``'s dtype:
the reduction over the last axis that Keras does. Float16/bfloat16 inputs are computed in
float32 and the result is cast back.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from custom_losses._common import (
    TensorLike,
    check_delta,
    maximum,
    mean_last_axis,
    per_sample_loss,
    sum_last_axis,
)
from custom_losses.base import MEAN, SERIALIZABLE, LossFunction, loss_class


@per_sample_loss()
def mean_squared_error(y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
    """Mean squared error (the lecture's MSE, L2 loss).

    Formula:

    ```python
    loss = mean(square(y_true - y_pred), axis=-1)
    ```

    Example:
        >>> ops.convert_to_numpy(mean_squared_error([[0.0, 1.0]], [[1.0, 1.0]]))
        array([0.5], dtype=float32)
    """
    return mean_last_axis(ops.square(y_true - y_pred))


@per_sample_loss()
def mean_absolute_error(y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
    """Mean absolute error (the lecture's MAE, L1 loss).

    Formula:

    ```python
    loss = mean(abs(y_true - y_pred), axis=-1)
    ```

    Example:
        >>> ops.convert_to_numpy(mean_absolute_error([[0.0, 1.0]], [[1.0, 2.5]]))
        array([1.25], dtype=float32)
    """
    return mean_last_axis(ops.abs(y_true - y_pred))


@per_sample_loss()
def mean_absolute_percentage_error(y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
    """Mean absolute percentage error (the lecture's MAPE), in percent.

    Formula:

    ```python
    loss = 100 * mean(abs((y_true - y_pred) / maximum(abs(y_true), epsilon)), axis=-1)
    ```

    ``epsilon = keras.backend.epsilon()`` (1e-7): a zero target divides by epsilon, not by 0,
    which is Keras's rule. In float16 Keras rounds epsilon to 1.19e-7 (16% off); we do not.

    Example:
        >>> ops.convert_to_numpy(mean_absolute_percentage_error([[2.0, 4.0]], [[1.0, 5.0]]))
        array([37.5], dtype=float32)
    """
    # |y_true| below epsilon is replaced by epsilon: finite for y_true = 0 (Keras's rule)
    denominator = maximum(ops.abs(y_true), keras.backend.epsilon())
    return 100.0 * mean_last_axis(ops.abs((y_true - y_pred) / denominator))


@per_sample_loss()
def mean_squared_logarithmic_error(y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
    """Mean squared logarithmic error.

    Formula:

    ```python
    loss = mean(square(log(y_true + 1) - log(y_pred + 1)), axis=-1)
    ```

    Values below ``epsilon`` (1e-7) are raised to ``epsilon`` first, as Keras does, so negative
    inputs never reach the logarithm.

    Example:
        >>> loss = mean_squared_logarithmic_error([[0.0]], [[math.e - 1.0]])
        >>> float(ops.convert_to_numpy(loss)[0])
        1.0
    """
    epsilon = keras.backend.epsilon()
    # log(max(x, eps) + 1) as Keras writes it (not log1p): equal to the last digit
    log_pred = ops.log(maximum(y_pred, epsilon) + 1.0)
    log_true = ops.log(maximum(y_true, epsilon) + 1.0)
    return mean_last_axis(ops.square(log_pred - log_true))


@per_sample_loss()
def root_mean_squared_error(y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
    """Root mean squared error per sample (the lecture's RMSD = sqrt(MSE)).

    Formula:

    ```python
    loss = sqrt(mean(square(y_true - y_pred), axis=-1))
    ```

    This is the root of each sample's MSE. With one output per sample it equals ``|e|``; the
    class :class:`custom_losses.RootMeanSquaredError` takes the root after the batch reduction.
    Not in ``keras.losses``; ``keras.metrics.RootMeanSquaredError`` is the batch version.
    Gradient 0 (not NaN) at a perfect fit.

    Example:
        >>> ops.convert_to_numpy(root_mean_squared_error([[0.0, 0.0]], [[3.0, 4.0]])) ** 2
        array([12.5], dtype=float32)
    """
    return safe_sqrt(mean_last_axis(ops.square(y_true - y_pred)))


@ops.custom_gradient
def safe_sqrt(x: TensorLike) -> tuple[TensorLike, Any]:
    """sqrt(x) whose gradient at x = 0 is 0 instead of inf * 0 = NaN; NaN stays NaN.

    The forward pass is one sqrt, as in ``keras.ops.sqrt``; the guard is in the gradient only
    (a guard in the forward pass costs more passes over the values): ``upstream / (2 sqrt(x))``,
    and 0 where ``sqrt(x) == 0``.

    Example:
        >>> ops.convert_to_numpy(safe_sqrt(ops.convert_to_tensor([0.0, 4.0])))
        array([0., 2.], dtype=float32)
    """
    root = ops.sqrt(x)

    def grad(*args: Any, upstream: Any = None) -> Any:
        if upstream is None:
            (upstream,) = args
        return ops.where(ops.equal(root, 0.0), 0.0, upstream / (2.0 * root))

    return root, grad


@per_sample_loss()
def sum_squared_error(y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
    """Sum of squared errors per sample (the lecture's SSE, E = e^T e).

    Formula:

    ```python
    loss = sum(square(y_true - y_pred), axis=-1)
    ```

    Summed over the batch (reduction ``"sum"``, the default of :class:`SumSquaredError`) this is
    the lecture's ``E = sum_i (t_i - y_i)^2``. Not in ``keras.losses``.

    Example:
        >>> ops.convert_to_numpy(sum_squared_error([[0.0, 1.0]], [[1.0, 3.0]]))
        array([5.], dtype=float32)
    """
    return sum_last_axis(ops.square(y_true - y_pred))


@per_sample_loss()
def log_cosh(y_true: TensorLike, y_pred: TensorLike, *, accurate: bool = False) -> TensorLike:
    """Logarithm of the hyperbolic cosine of the prediction error (the lecture's logcosh).

    Formula:

    ```python
    loss = mean(log(cosh(y_pred - y_true)), axis=-1)
    ```

    ``log(cosh(x))`` is about ``x**2 / 2`` for small ``x`` and ``|x| - log(2)`` for large ``x``.

    By default this is Keras's formula, ``x + softplus(-2x) - log(2)``: equal to
    ``keras.losses.log_cosh`` and as fast (5 elementwise operations). It cancels for small
    errors: in float32 it is 7% off at ``|x| = 1e-3``, returns 0 at ``1e-4`` and can return
    -6e-8 (float32) or -1e-16 (float64) near 0, so its gradient ``tanh(x)`` is right but the
    *value* is not; and it is inf for ``x < -1.7e38`` in float32, where ``-2x`` overflows. (One
    deliberate difference: in float64 Keras subtracts float32's log 2, 1.9e-9 too large; we
    subtract float64's.)

    ``accurate=True`` computes ``log1p(u**2 / (2 + 2u))`` with ``u = expm1(|x|)``, which is
    ``log(1 + (cosh(x) - 1))`` without cancellation (clamped at ``|x| = 20``, continued linearly):
    within 4 eps (relative) of ``log(cosh(x))``, its gradient within 4 eps of ``tanh(x)``, for every
    error. It costs 12 elementwise operations instead of 5 (slower than Keras's formula eager,
    faster under XLA: docs/losses.md). Keyword only, so Keras-style calls never pass it.

    Args:
        accurate: the cancellation-free formula. Defaults to False (Keras's).

    Example:
        >>> ops.convert_to_numpy(log_cosh([[0.0, 0.0]], [[0.0, 1e4]]))
        array([4999.6533], dtype=float32)
        >>> ops.convert_to_numpy(log_cosh([[0.0]], [[1e-4]], accurate=True))  # Keras's: 0
        array([5.e-09], dtype=float32)
    """
    error = y_pred - y_true
    if accurate:
        losses = _log_cosh_accurate(error)
    else:
        # Keras 3.15.1's formula; finite for |x| < 1.7e38 in float32 (where 2x overflows)
        losses = error + ops.softplus(-2.0 * error) - math.log(2.0)
    return mean_last_axis(losses)


#: Beyond this |x|, log(cosh(x)) = log(cosh(T)) + (|x| - T) to within exp(-2T) = 4e-18 absolute.
_LOG_COSH_CLAMP = 20.0


def _log_cosh_accurate(x: TensorLike) -> TensorLike:
    """log(cosh(x)) to a few ulp for any x, with a finite gradient (tanh x) everywhere."""
    abs_x = ops.abs(x)
    # u = e^c - 1 for c = min(|x|, T): u**2 stays finite (e^40 < float32 max)
    clamped = ops.minimum(abs_x, _LOG_COSH_CLAMP)
    u = ops.expm1(clamped)
    # cosh(c) - 1 = (e^c - 1)^2 / (2 e^c) = u^2 / (2 + 2u): products and a quotient, no cancelling
    log_cosh_clamped = ops.log1p(ops.square(u) / (2.0 * u + 2.0))
    # + (|x| - c), written as relu(|x| - T): its gradient is 0 below T. (|x| - c) would send -1
    # through c, and -1 + tanh(x) rounds to -1 for |x| < 3e-8 (float32): a gradient of 0, not x.
    return log_cosh_clamped + ops.relu(abs_x - _LOG_COSH_CLAMP)


@per_sample_loss()
def huber(y_true: TensorLike, y_pred: TensorLike, delta: float = 1.0) -> TensorLike:
    """Huber loss (smooth mean absolute error): quadratic up to ``delta``, linear beyond.

    Formula:

    ```python
    e = y_pred - y_true
    loss = mean(0.5 * e**2 if abs(e) <= delta else delta * abs(e) - 0.5 * delta**2, axis=-1)
    ```

    Args:
        delta: where the loss turns from quadratic to linear, ``>= 0``. Defaults to 1.0.

    Raises:
        ValueError: if ``delta`` is a number below 0 or NaN.

    Example:
        >>> ops.convert_to_numpy(huber([[0.0, 0.0]], [[0.5, 3.0]], delta=1.0))
        array([1.3125], dtype=float32)
    """
    check_delta(delta)
    error = y_pred - y_true
    abs_error = ops.abs(error)
    # a select, not Optax's min(|e|, delta) split: under autodiff that split adds +delta and
    # -delta into the gradient, losing ~delta/|e| ulps for small errors (measured: 1.3e-6 at
    # |e| = 0.1, delta = 4); the select's gradient is exact on both branches and at |e| = delta
    quadratic = 0.5 * ops.square(error)
    linear = delta * abs_error - 0.5 * delta**2
    return mean_last_axis(ops.where(abs_error <= delta, quadratic, linear))


# ------------------------------------------------------------------------------------- classes
MeanSquaredError = loss_class(mean_squared_error, "MeanSquaredError")
MeanAbsoluteError = loss_class(mean_absolute_error, "MeanAbsoluteError")
MeanAbsolutePercentageError = loss_class(
    mean_absolute_percentage_error, "MeanAbsolutePercentageError"
)
MeanSquaredLogarithmicError = loss_class(
    mean_squared_logarithmic_error, "MeanSquaredLogarithmicError"
)
#: The lecture's SSE over the batch: the default reduction "sum" sums the per-sample SSEs.
SumSquaredError = loss_class(sum_squared_error, "SumSquaredError", reduction="sum")


@SERIALIZABLE
class RootMeanSquaredError(LossFunction):
    """The root of the reduced mean squared error: ``sqrt(MeanSquaredError(reduction)(...))``.

    The root is taken after the reduction, so the default gives the lecture's
    RMSD = sqrt(MSE) over the batch (as ``keras.metrics.RootMeanSquaredError`` does), not a mean
    of per-sample roots. With ``reduction="none"`` it equals
    :func:`custom_losses.root_mean_squared_error` per sample. Gradient 0 at a perfect fit.

    Example:
        >>> float(RootMeanSquaredError()([0.0, 0.0], [3.0, 4.0]))
        3.535533905029297
    """

    def __init__(
        self, reduction: str | None = MEAN, name: str = "root_mean_squared_error", dtype: Any = None
    ) -> None:
        super().__init__(mean_squared_error, reduction, name, dtype)

    def __call__(
        self, y_true: TensorLike, y_pred: TensorLike, sample_weight: TensorLike = None
    ) -> TensorLike:
        return safe_sqrt(super().__call__(y_true, y_pred, sample_weight))


LogCosh = loss_class(
    log_cosh,
    "LogCosh",
    example="""
    Example:
        >>> loss = LogCosh(accurate=True)([0.0, 0.0], [1e-4, -1e-4])  # Keras's formula gives 0.0
        >>> round(float(loss) / 5e-9, 6)  # log(cosh(x)) = x**2 / 2 - x**4 / 12 + ... = 5e-9
        1.0
    """,
)
Huber = loss_class(
    huber,
    "Huber",
    name="huber_loss",
    example="""
    Example:
        >>> float(Huber(delta=0.5)([0.0, 0.0], [0.25, 2.0]))
        0.453125
    """,
)
