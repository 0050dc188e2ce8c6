"""Loss classes for the further losses of ``keras.losses`` (3.15.1): focal and
generalized cross-entropy, Dice, Tversky, Circle, CTC.

The same pattern as :mod:`custom_losses.classes`: each class names its function and options,
``keras.losses.Loss.__call__`` does the reduction, ``get_config()`` holds every constructor
argument, and each option is also a public attribute (``loss.gamma``, ``loss.axis``, ...), as on
the Keras classes.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np

from custom_losses import focal, metric_learning, segmentation, sequence
from custom_losses._common import (
    Axes,
    TensorLike,
    check_axes,
    check_label_smoothing,
    is_tensor,
    squeeze_or_expand_to_same_rank,
)
from custom_losses.classes import LossFunction

_SERIALIZABLE = keras.saving.register_keras_serializable(package="custom_losses")
_DEFAULT_REDUCTION = "sum_over_batch_size"


class _LossWithAttributes(LossFunction):
    """A :class:`LossFunction` whose options are also attributes, as Keras users read them."""

    def __init__(
        self,
        fn: Callable[..., TensorLike],
        reduction: str | None,
        name: str | None,
        dtype: Any,
        **options: Any,
    ) -> None:
        super().__init__(fn, reduction, name, dtype, **options)
        for option, value in options.items():
            setattr(self, option, value)


@_SERIALIZABLE
class BinaryFocalCrossentropy(_LossWithAttributes):
    """Binary focal cross-entropy, see :func:`custom_losses.binary_focal_crossentropy`.

    Example:
        >>> loss = BinaryFocalCrossentropy(gamma=1.0)
        >>> round(float(loss([[1.0, 0.0]], [[0.5, 0.5]])), 6), loss.gamma  # 0.5 * log(2)
        (0.346574, 1.0)
    """

    def __init__(
        self,
        apply_class_balancing: bool = False,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: Axes = -1,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "binary_focal_crossentropy",
        dtype: Any = None,
    ) -> None:
        check_label_smoothing(label_smoothing)
        axis = check_axes(axis)  # a list (a JSON config's tuple) back to a tuple
        super().__init__(
            focal.binary_focal_crossentropy,
            reduction,
            name,
            dtype,
            apply_class_balancing=apply_class_balancing,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


@_SERIALIZABLE
class CategoricalFocalCrossentropy(_LossWithAttributes):
    """Categorical focal cross-entropy, see :func:`custom_losses.categorical_focal_crossentropy`."""

    def __init__(
        self,
        alpha: float | list[float] = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: Axes = -1,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "categorical_focal_crossentropy",
        dtype: Any = None,
    ) -> None:
        check_label_smoothing(label_smoothing)
        axis = check_axes(axis)  # a list (a JSON config's tuple) back to a tuple
        super().__init__(
            focal.categorical_focal_crossentropy,
            reduction,
            name,
            dtype,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


@_SERIALIZABLE
class CategoricalGeneralizedCrossEntropy(_LossWithAttributes):
    """Generalized cross-entropy, see :func:`custom_losses.categorical_generalized_cross_entropy`.

    Raises:
        ValueError: if ``q`` is not in (0, 1).
    """

    def __init__(
        self,
        q: float = 0.5,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "categorical_generalized_cross_entropy",
        dtype: Any = None,
    ) -> None:
        focal.check_q(q)
        super().__init__(focal.categorical_generalized_cross_entropy, reduction, name, dtype, q=q)


class _RankAligned(_LossWithAttributes):
    """Aligns ranks that differ by one before the function, as Keras's LossFunctionWrapper does
    (Keras's Dice and Tversky functions do not: the given shapes broadcast)."""

    def call(self, y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
        y_true, y_pred = (x if is_tensor(x) else np.asarray(x) for x in (y_true, y_pred))
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return super().call(y_true, y_pred)


@_SERIALIZABLE
class Dice(_RankAligned):
    """Dice loss, see :func:`custom_losses.dice` (argument order as in Keras).

    Example:
        >>> float(Dice(axis=1, reduction=None)([[1.0, 1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0, 1.0]])[0])
        0.5
    """

    def __init__(
        self,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "dice",
        axis: segmentation.Axis = None,
        dtype: Any = None,
    ) -> None:
        axis = check_axes(axis)  # a list (pickle and deepcopy go through a JSON config) -> tuple
        super().__init__(segmentation.dice, reduction, name, dtype, axis=axis)


@_SERIALIZABLE
class Tversky(_RankAligned):
    """Tversky loss, see :func:`custom_losses.tversky` (argument order as in Keras)."""

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.5,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "tversky",
        axis: segmentation.Axis = None,
        dtype: Any = None,
    ) -> None:
        axis = check_axes(axis)  # a list (pickle and deepcopy go through a JSON config) -> tuple
        super().__init__(
            segmentation.tversky, reduction, name, dtype, alpha=alpha, beta=beta, axis=axis
        )


@_SERIALIZABLE
class Circle(_LossWithAttributes):
    """Circle loss, see :func:`custom_losses.circle` (the references are the batch itself)."""

    def __init__(
        self,
        gamma: float = 80.0,
        margin: float = 0.4,
        remove_diagonal: bool = True,
        reduction: str | None = _DEFAULT_REDUCTION,
        name: str = "circle",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            metric_learning.circle,
            reduction,
            name,
            dtype,
            gamma=gamma,
            margin=margin,
            remove_diagonal=remove_diagonal,
        )


@_SERIALIZABLE
class CTC(_LossWithAttributes):
    """CTC loss, see :func:`custom_losses.ctc`."""

    def __init__(
        self, reduction: str | None = _DEFAULT_REDUCTION, name: str = "ctc", dtype: Any = None
    ) -> None:
        super().__init__(sequence.ctc, reduction, name, dtype)
