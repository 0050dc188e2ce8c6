"""Loss classes: each wraps one function and adds reduction and sample weights.

The reduction lives in one place, ``keras.losses.Loss.__call__`` (it casts, applies masks and
sample weights, reduces); every class here only says which function to call with which options.

Differences from ``keras.losses`` (3.15.1), all deliberate:

- ``get_config()`` holds every constructor argument (Keras drops Huber's ``delta``,
  CosineSimilarity's and SparseCategoricalCrossentropy's ``axis``, and every ``dtype``).
- A float16/bfloat16 loss (``dtype="float16"``, or floatx float16) computes *and reduces* in
  float32 and casts the result, so it stays finite where Keras returns inf or NaN.
- Registered as serializable under the package ``custom_losses``: a model compiled with any of
  them saves to ``.keras`` and loads back without ``custom_objects``.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
from keras import ops

from custom_losses import hinge_losses, probabilistic, regression, similarity
from custom_losses._common import (
    Axes,
    TensorLike,
    check_axes,
    check_axis,
    check_label_smoothing,
    check_not_none,
    compute_dtype,
)

_SERIALIZABLE = keras.saving.register_keras_serializable(package="custom_losses")
_DEFAULT_REDUCTION = "sum_over_batch_size"


class LossFunction(keras.losses.Loss):
    """A loss class around a per-sample loss function ``fn(y_true, y_pred, **options)``.

    Args:
        fn: the per-sample loss function.
        reduction: as in ``keras.losses.Loss``: "sum_over_batch_size", "sum", "mean",
            "mean_with_sample_weight", "none" or None.
        name: the loss name.
        dtype: the result dtype (None means ``keras.backend.floatx()``).
        **options: keyword arguments of ``fn``; all of them go into ``get_config()``.
    """

    def __init__(
        self,
        fn: Callable[..., TensorLike],
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str | None = None,
        dtype: Any = None,
        **options: Any,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self.options = options
        self._fn_kwargs = options  # the name keras.losses.LossFunctionWrapper uses
        for option, value in options.items():  # from_logits, axis, delta ...: read as in Keras
            setattr(self, option, value)
        self._dtype_argument = dtype
        self._float32_loss = None
        if compute_dtype(self.dtype) != self.dtype:
            # half precision: the same loss reduced in float32 (_common.compute_dtype, the one
            # rule for functions and classes); a float16 sum over the batch overflows at 65504
            self._float32_loss = LossFunction(
                fn, reduction, name, compute_dtype(self.dtype), **options
            )

    def call(self, y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
        return self.fn(y_true, y_pred, **self.options)

    def __call__(
        self, y_true: TensorLike, y_pred: TensorLike, sample_weight: TensorLike = None
    ) -> TensorLike:
        check_not_none(y_true, y_pred)  # before Loss.__call__'s error, which names neither
        if self._float32_loss is None:
            return super().__call__(y_true, y_pred, sample_weight)
        return ops.cast(self._float32_loss(y_true, y_pred, sample_weight), self.dtype)

    def get_config(self) -> dict[str, Any]:
        dtype = self._dtype_argument
        if dtype is not None and not isinstance(dtype, str):
            dtype = keras.dtype_policies.get(dtype).name  # a DTypePolicy: keep its name
        return {"name": self.name, "reduction": self.reduction, "dtype": dtype, **self.options}

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({options})"


@_SERIALIZABLE
class MeanSquaredError(LossFunction):
    """Mean squared error, see :func:`custom_losses.mean_squared_error`.

    Example:
        >>> float(MeanSquaredError()([1.0, 0.0, 1.0], [0.5, 0.0, 1.0]))
        0.0833333358168602
    """

    def __init__(
        self,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "mean_squared_error",
        dtype: Any = None,
    ) -> None:
        super().__init__(regression.mean_squared_error, reduction, name, dtype)


@_SERIALIZABLE
class MeanAbsoluteError(LossFunction):
    """Mean absolute error, see :func:`custom_losses.mean_absolute_error`."""

    def __init__(
        self,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "mean_absolute_error",
        dtype: Any = None,
    ) -> None:
        super().__init__(regression.mean_absolute_error, reduction, name, dtype)


@_SERIALIZABLE
class MeanAbsolutePercentageError(LossFunction):
    """Mean absolute percentage error, see :func:`custom_losses.mean_absolute_percentage_error`."""

    def __init__(
        self,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "mean_absolute_percentage_error",
        dtype: Any = None,
    ) -> None:
        super().__init__(regression.mean_absolute_percentage_error, reduction, name, dtype)


@_SERIALIZABLE
class MeanSquaredLogarithmicError(LossFunction):
    """Mean squared log error, see :func:`custom_losses.mean_squared_logarithmic_error`."""

    def __init__(
        self,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "mean_squared_logarithmic_error",
        dtype: Any = None,
    ) -> None:
        super().__init__(regression.mean_squared_logarithmic_error, reduction, name, dtype)


@_SERIALIZABLE
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
        self,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "root_mean_squared_error",
        dtype: Any = None,
    ) -> None:
        super().__init__(regression.mean_squared_error, reduction, name, dtype)

    def __call__(
        self, y_true: TensorLike, y_pred: TensorLike, sample_weight: TensorLike = None
    ) -> TensorLike:
        return regression.safe_sqrt(super().__call__(y_true, y_pred, sample_weight))


@_SERIALIZABLE
class SumSquaredError(LossFunction):
    """The lecture's SSE, ``E = sum (t - y)^2``; the default reduction "sum" sums over the batch.

    Example:
        >>> float(SumSquaredError()([0.0, 1.0, 2.0], [1.0, 1.0, 0.0]))
        5.0
    """

    def __init__(
        self, reduction: str | None = "sum", name: str = "sum_squared_error", dtype: Any = None
    ) -> None:
        super().__init__(regression.sum_squared_error, reduction, name, dtype)


@_SERIALIZABLE
class LogCosh(LossFunction):
    """Log-cosh of the error, see :func:`custom_losses.log_cosh`.

    By default Keras's formula (equal to ``keras.losses.LogCosh``, as fast); keyword-only
    ``accurate=True`` selects the cancellation-free one (exact for small errors, about twice the
    cost in eager mode). ``accurate`` is saved in the config.

    Example:
        >>> loss = LogCosh(accurate=True)([0.0, 0.0], [1e-4, -1e-4])  # Keras's formula gives 0.0
        >>> round(float(loss) / 5e-9, 6)  # log(cosh(x)) = x**2 / 2 - x**4 / 12 + ... = 5e-9
        1.0
    """

    def __init__(
        self,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "log_cosh",
        dtype: Any = None,
        *,
        accurate: bool = False,
    ) -> None:
        super().__init__(regression.log_cosh, reduction, name, dtype, accurate=accurate)


@_SERIALIZABLE
class Huber(LossFunction):
    """Huber loss, see :func:`custom_losses.huber`; ``delta`` survives save and load.

    Example:
        >>> float(Huber(delta=0.5)([0.0, 0.0], [0.25, 2.0]))
        0.453125
    """

    def __init__(
        self,
        delta: float = 1.0,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "huber_loss",
        dtype: Any = None,
    ) -> None:
        regression.check_delta(delta)
        super().__init__(regression.huber, reduction, name, dtype, delta=delta)


@_SERIALIZABLE
class BinaryCrossentropy(LossFunction):
    """Binary cross-entropy, see :func:`custom_losses.binary_crossentropy`."""

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: Axes = -1,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "binary_crossentropy",
        dtype: Any = None,
    ) -> None:
        check_label_smoothing(label_smoothing)
        axis = check_axes(axis)  # a list (a JSON config's tuple) back to a tuple
        super().__init__(
            probabilistic.binary_crossentropy,
            reduction,
            name,
            dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


@_SERIALIZABLE
class CategoricalCrossentropy(LossFunction):
    """Categorical cross-entropy, see :func:`custom_losses.categorical_crossentropy`."""

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: Axes = -1,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        check_label_smoothing(label_smoothing)
        axis = check_axes(axis)  # a list (a JSON config's tuple) back to a tuple
        super().__init__(
            probabilistic.categorical_crossentropy,
            reduction,
            name,
            dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


@_SERIALIZABLE
class SparseCategoricalCrossentropy(LossFunction):
    """Sparse categorical cross-entropy, see
    :func:`custom_losses.sparse_categorical_crossentropy` (argument order as in Keras)."""

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = _DEFAULT_REDUCTION,
        axis: int = -1,
        name: str = "sparse_categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        check_axis(axis)
        super().__init__(
            probabilistic.sparse_categorical_crossentropy,
            reduction,
            name,
            dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )


@_SERIALIZABLE
class KLDivergence(LossFunction):
    """Kullback-Leibler divergence, see :func:`custom_losses.kl_divergence`."""

    def __init__(
        self,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "kl_divergence",
        dtype: Any = None,
    ) -> None:
        super().__init__(probabilistic.kl_divergence, reduction, name, dtype)


@_SERIALIZABLE
class Poisson(LossFunction):
    """Poisson loss, see :func:`custom_losses.poisson`."""

    def __init__(
        self, reduction: str | None = _DEFAULT_REDUCTION, name: str = "poisson", dtype: Any = None
    ) -> None:
        super().__init__(probabilistic.poisson, reduction, name, dtype)


@_SERIALIZABLE
class Hinge(LossFunction):
    """Hinge loss, see :func:`custom_losses.hinge`."""

    def __init__(
        self, reduction: str | None = _DEFAULT_REDUCTION, name: str = "hinge", dtype: Any = None
    ) -> None:
        super().__init__(hinge_losses.hinge, reduction, name, dtype)


@_SERIALIZABLE
class SquaredHinge(LossFunction):
    """Squared hinge loss, see :func:`custom_losses.squared_hinge`."""

    def __init__(
        self,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "squared_hinge",
        dtype: Any = None,
    ) -> None:
        super().__init__(hinge_losses.squared_hinge, reduction, name, dtype)


@_SERIALIZABLE
class CategoricalHinge(LossFunction):
    """Categorical hinge loss, see :func:`custom_losses.categorical_hinge`."""

    def __init__(
        self,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "categorical_hinge",
        dtype: Any = None,
    ) -> None:
        super().__init__(hinge_losses.categorical_hinge, reduction, name, dtype)


@_SERIALIZABLE
class CosineSimilarity(LossFunction):
    """Negative cosine similarity, see :func:`custom_losses.cosine_similarity` (axis is saved)."""

    def __init__(
        self,
        axis: int = -1,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "cosine_similarity",
        dtype: Any = None,
    ) -> None:
        super().__init__(similarity.cosine_similarity, reduction, name, dtype, axis=axis)
