"""Overlap losses for segmentation masks: Dice and Tversky, and their classes.

Both compare a predicted mask ``y_pred`` with the true one ``y_true`` (of the same shape, or
shapes the two broadcast to: the functions take the given shapes, as Keras's do, with no rank
alignment; the classes align ranks that differ by one first, as Keras's do) through sums over
``axis``: with the default ``axis=None`` (all axes) the sums run over the whole batch and the
result is one number (as in Keras 3.15.1); ``axis=(1, 2, 3)`` gives one loss per image of a
``(batch, height, width, channels)`` mask. The result has the shape without ``axis``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from custom_losses._common import (
    Axes,
    TensorLike,
    check_axes,
    is_tensor,
    per_sample_loss,
    squeeze_or_expand_to_same_rank,
)
from custom_losses.base import LossFunction, loss_class


@per_sample_loss(align_ranks=False)
def dice(y_true: TensorLike, y_pred: TensorLike, axis: Axes = None) -> TensorLike:
    """Dice loss: one minus twice the overlap over the total mass.

    Formula:

    ```python
    loss = 1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + eps)
    ```

    with every sum over ``axis`` (default None: all) and ``eps = 1e-7`` (two empty masks give 1,
    not 0/0).

    Example:
        >>> y_true = [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]]
        >>> y_pred = [[0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]]
        >>> [round(float(x), 6) for x in ops.convert_to_numpy(dice(y_true, y_pred, axis=1))]
        [0.5, 0.0]
    """
    axis = check_axes(axis)
    overlap = ops.sum(y_true * y_pred, axis=axis)
    total = ops.sum(y_true, axis=axis) + ops.sum(y_pred, axis=axis)
    # + eps: two empty masks give loss 1 instead of 0 / 0 (Keras's rule)
    return 1.0 - 2.0 * overlap / (total + keras.backend.epsilon())


@per_sample_loss(align_ranks=False)
def tversky(
    y_true: TensorLike,
    y_pred: TensorLike,
    alpha: float = 0.5,
    beta: float = 0.5,
    axis: Axes = None,
) -> TensorLike:
    """Tversky loss: Dice with false positives weighted by ``alpha``, false negatives by ``beta``.

    Formula:

    ```python
    tp = sum(y_true * y_pred)
    fp = sum((1 - y_pred) * y_true)     # as Keras 3.15.1 names them
    fn = sum(y_pred * (1 - y_true))
    loss = 1 - tp / (tp + alpha * fp + beta * fn + eps)
    ```

    with every sum over ``axis`` and ``eps = 1e-7``. ``alpha = beta = 0.5`` gives the Dice loss
    for 0/1 masks (Salehi et al., 2017).

    Args:
        alpha: the weight of ``fp``. Defaults to 0.5.
        beta: the weight of ``fn``. Defaults to 0.5.
        axis: the axes summed over, as in :func:`dice`. Defaults to None.

    Example:
        >>> loss = tversky([[1.0, 1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0, 1.0]], alpha=0.2, beta=0.8)
        >>> round(float(ops.convert_to_numpy(loss)), 6)  # 1 - 1 / (1 + 0.2 + 0.8)
        0.5
    """
    axis = check_axes(axis)
    tp = ops.sum(y_true * y_pred, axis=axis)
    fp = ops.sum((1.0 - y_pred) * y_true, axis=axis)
    fn = ops.sum(y_pred * (1.0 - y_true), axis=axis)
    # + eps: an empty overlap with no errors gives loss 1 instead of 0 / 0 (Keras's rule)
    return 1.0 - tp / (tp + alpha * fp + beta * fn + keras.backend.epsilon())


class _RankAligned(LossFunction):
    """Aligns ranks that differ by one before the function, as Keras's LossFunctionWrapper does
    (Keras's Dice and Tversky functions do not: the given shapes broadcast)."""

    def call(self, y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
        y_true, y_pred = (x if is_tensor(x) else np.asarray(x) for x in (y_true, y_pred))
        return super().call(*squeeze_or_expand_to_same_rank(y_true, y_pred))


Dice = loss_class(
    dice,
    "Dice",
    order=("reduction", "name", "axis", "dtype"),  # Keras's order
    base=_RankAligned,
    example="""
    Example:
        >>> float(Dice(axis=1, reduction=None)([[1.0, 1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0, 1.0]])[0])
        0.5
    """,
)
Tversky = loss_class(
    tversky,
    "Tversky",
    order=("alpha", "beta", "reduction", "name", "axis", "dtype"),  # Keras's order
    base=_RankAligned,
)
