"""Hinge losses (max-margin): hinge, squared hinge, categorical hinge, and their classes.

Each function takes labels ``y_true`` (in {-1, 1}, or {0, 1}: mapped to {-1, 1} first, as Keras
does, only if every label is 0 or 1; one-hot for the categorical hinge) and scores ``y_pred`` of
the same shape ``(batch, d0, ..., dn)``, and returns one loss per sample, of shape
``(batch, d0, ..., dn-1)``.
"""

from __future__ import annotations

from keras import ops

from custom_losses._common import TensorLike, maximum, mean_last_axis, per_sample_loss
from custom_losses.base import loss_class


def signed_labels(y_true: TensorLike) -> TensorLike:
    """``2 * y_true - 1`` if every label is 0 or 1, else ``y_true`` unchanged (Keras's rule)."""
    is_binary = ops.all(ops.logical_or(ops.equal(y_true, 0.0), ops.equal(y_true, 1.0)))
    # A branch, not a select: the select would compute 2 y - 1 and a where over every element.
    return ops.cond(is_binary, lambda: 2.0 * y_true - 1.0, lambda: y_true)


@per_sample_loss()
def hinge(y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
    """Hinge loss.

    Formula:

    ```python
    loss = mean(maximum(1 - y_true * y_pred, 0), axis=-1)
    ```

    Example:
        >>> ops.convert_to_numpy(hinge([[1.0, 0.0]], [[0.5, 0.5]]))
        array([1.], dtype=float32)
    """
    y_true = signed_labels(y_true)
    return mean_last_axis(maximum(1.0 - y_true * y_pred, 0.0))


@per_sample_loss()
def squared_hinge(y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
    """Squared hinge loss.

    Formula:

    ```python
    loss = mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)
    ```

    Example:
        >>> ops.convert_to_numpy(squared_hinge([[1.0, 0.0]], [[0.5, 0.5]]))
        array([1.25], dtype=float32)
    """
    y_true = signed_labels(y_true)
    margin = maximum(1.0 - y_true * y_pred, 0.0)
    return mean_last_axis(ops.square(margin))


@per_sample_loss()
def categorical_hinge(y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
    """Categorical (multi-class) hinge loss.

    Formula:

    ```python
    pos = sum(y_true * y_pred, axis=-1)              # score of the true class
    neg = max((1 - y_true) * y_pred, axis=-1)        # best score of a wrong class
    loss = maximum(neg - pos + 1, 0)
    ```

    Example:
        >>> ops.convert_to_numpy(categorical_hinge([[0.0, 1.0, 0.0]], [[0.5, 1.0, 0.25]]))
        array([0.5], dtype=float32)
    """
    pos = ops.sum(y_true * y_pred, axis=-1)
    neg = ops.max((1.0 - y_true) * y_pred, axis=-1)
    return maximum(neg - pos + 1.0, 0.0)


Hinge = loss_class(hinge, "Hinge")
SquaredHinge = loss_class(squared_hinge, "SquaredHinge")
CategoricalHinge = loss_class(categorical_hinge, "CategoricalHinge")
