"""Similarity losses: cosine similarity (Keras's former ``cosine_proximity``) and its class."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from custom_losses._common import TensorLike, minimum, per_sample_loss, sum_last_axis
from custom_losses.base import MEAN, SERIALIZABLE, LossFunction


@per_sample_loss()
def cosine_similarity(y_true: TensorLike, y_pred: TensorLike, axis: int = -1) -> TensorLike:
    """Negative cosine similarity: -1 for parallel vectors, 0 if orthogonal or either is zero.

    Formula:

    ```python
    loss = -sum(l2_normalize(y_true) * l2_normalize(y_pred), axis=axis)
    ```

    A target that broadcasts against the predictions (a scalar, a row, a column of 1) is
    broadcast first, as in the regression losses: a scalar target ``c`` is the vector
    ``(c, ..., c)``, so ``cosine_similarity(2.0, [[1.0, 1.0, 1.0]])`` is -1. (Keras 3.15.1
    normalises the target before broadcasting it: -1.73 there, which is not a cosine.)

    Args:
        y_true: targets, shape ``(batch, d0, ..., dn)``, or a shape that broadcasts to it.
        y_pred: predictions, shape ``(batch, d0, ..., dn)``.
        axis: the axis the vectors lie along. Defaults to -1.

    Returns:
        Loss per sample, the shape without ``axis``.

    Example:
        >>> loss = cosine_similarity([[0.0, 2.0], [1.0, 0.0]], [[0.0, 3.0], [0.0, 1.0]])
        >>> ops.convert_to_numpy(loss)
        array([-1., -0.], dtype=float32)
    """
    if len(y_pred.shape) == 0:  # two numbers: vectors of length 1, as Keras treats them
        y_true, y_pred = ops.reshape(y_true, (1,)), ops.reshape(y_pred, (1,))
    if tuple(y_true.shape) != tuple(y_pred.shape):
        # broadcast before normalising: a scalar target c stands for (c, ..., c). Keras 3.15.1
        # normalises first, so c against (1, 1, 1) gives -sqrt(3) there, not a cosine
        shape = ops.shape(y_true + y_pred)
        y_true, y_pred = ops.broadcast_to(y_true, shape), ops.broadcast_to(y_pred, shape)
    return -sum_last_axis(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis)


def _l2_normalize(x: TensorLike, axis: int) -> TensorLike:
    """x / ||x||, with Keras's guard: 1/||x|| is capped at 1/epsilon, so a zero vector stays 0."""
    inverse_norm = ops.rsqrt(ops.sum(ops.square(x), axis=axis, keepdims=True))
    return x * minimum(inverse_norm, 1.0 / keras.backend.epsilon())


@SERIALIZABLE
class CosineSimilarity(LossFunction):
    """The class of :func:`custom_losses.cosine_similarity`; ``axis`` is saved too."""

    def __init__(
        self,
        axis: int = -1,
        reduction: str | None = MEAN,
        name: str = "cosine_similarity",
        dtype: Any = None,
    ) -> None:
        super().__init__(cosine_similarity, reduction, name, dtype, axis=axis)
