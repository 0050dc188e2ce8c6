"""Probabilistic losses: binary, categorical and sparse categorical cross-entropy, KL divergence,
Poisson.

Each function returns one loss per sample (the reduction over the class axis that Keras does).
Probabilities are clipped to ``[epsilon, 1 - epsilon]`` as Keras does (epsilon = 1e-7), and the
clipping happens in float32 even for float16 inputs, where ``1 - 1e-7`` would round to 1.
"""

from __future__ import annotations

import keras
from keras import ops

from custom_losses._common import (
    TensorLike,
    check_axis,
    check_label_smoothing,
    keras_logits,
    mean_last_axis,
    prediction,
    prepare,
    sum_last_axis,
)

_SERIALIZABLE = keras.saving.register_keras_serializable(package="custom_losses")


@_SERIALIZABLE
def binary_crossentropy(
    y_true: TensorLike,
    y_pred: TensorLike,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> TensorLike:
    """Binary cross-entropy (the lecture's BCE), averaged over ``axis``.

    Formula:

    ```python
    t = y_true * (1 - label_smoothing) + 0.5 * label_smoothing
    loss = mean(-(t * log(p) + (1 - t) * log(1 - p)), axis=axis)
    ```

    where ``p = y_pred``, or ``sigmoid(y_pred)`` if ``from_logits``. Finite for probabilities
    exactly 0 and 1 (clipped to [1e-7, 1 - 1e-7]) and for logits of any size, also in float16.

    Args:
        y_true: labels in [0, 1], shape ``(batch, d0, ..., dn)``.
        y_pred: probabilities (or logits if ``from_logits``), same shape.
        from_logits: whether ``y_pred`` holds logits. Defaults to False.
        label_smoothing: in [0, 1]; squeezes the labels towards 0.5. Defaults to 0.
        axis: the axis the mean is taken over. Defaults to -1.

    Returns:
        Loss per sample, shape ``(batch, d0, ..., dn-1)``.

    Example:
        >>> ops.convert_to_numpy(binary_crossentropy([[1.0, 0.0]], [[0.0, 1e9]], from_logits=True))
        array([5.e+08], dtype=float32)
    """
    check_label_smoothing(label_smoothing)
    check_axis(axis)
    if keras_logits(y_pred) is not None:
        y_pred, from_logits = keras_logits(y_pred), True
    y_true, y_pred, dtype = prepare(y_true, y_pred, broadcast=False)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        # -t log sigmoid(x) - (1 - t) log(1 - sigmoid(x)) = max(x, 0) - x t + log(1 + exp(-|x|)):
        # exp never sees a positive argument, so no overflow for any logit
        losses = ops.relu(y_pred) - y_pred * y_true + ops.log1p(ops.exp(-ops.abs(y_pred)))
    else:
        epsilon = keras.backend.epsilon()
        # p in [eps, 1 - eps]: log(p) and log(1 - p) stay finite at p = 0 and p = 1 (Keras's rule)
        p = ops.clip(y_pred, epsilon, 1.0 - epsilon)
        losses = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    return ops.cast(mean_last_axis(losses, axis), dtype)


@_SERIALIZABLE
def categorical_crossentropy(
    y_true: TensorLike,
    y_pred: TensorLike,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> TensorLike:
    """Categorical cross-entropy (softmax loss) between one-hot labels and predictions.

    Formula:

    ```python
    t = y_true * (1 - label_smoothing) + label_smoothing / num_classes
    loss = -sum(t * log(p), axis=axis)
    ```

    where ``p = y_pred / sum(y_pred, axis)`` clipped to [1e-7, 1 - 1e-7], or
    ``softmax(y_pred, axis)`` if ``from_logits``. ``num_classes`` is the size of ``axis``
    (Keras 3.15.1 uses the last axis even when ``axis`` is another one).

    Args:
        y_true: one-hot (or soft) labels, shape ``(batch, d0, ..., num_classes)``.
        y_pred: probabilities (or logits if ``from_logits``), same shape.
        from_logits: whether ``y_pred`` holds logits. Defaults to False.
        label_smoothing: in [0, 1]. Defaults to 0.
        axis: the class axis. Defaults to -1.

    Returns:
        Loss per sample, ``y_pred``'s shape without ``axis``.

    Raises:
        ValueError: if ``axis`` is not an int or ``label_smoothing`` is outside [0, 1].

    Example:
        >>> loss = categorical_crossentropy([[0.0, 1.0]], [[0.0, 1.0]], from_logits=True)
        >>> round(float(ops.convert_to_numpy(loss)[0]), 6)
        0.313262
    """
    check_label_smoothing(label_smoothing)
    check_axis(axis)
    if keras_logits(y_pred) is not None:
        y_pred, from_logits = keras_logits(y_pred), True
    y_true, y_pred, dtype = prepare(y_true, y_pred, broadcast=False)
    if label_smoothing:
        num_classes = ops.cast(ops.shape(y_pred)[axis], y_pred.dtype)
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    log_p = _log_probabilities(y_pred, from_logits, axis)
    return ops.cast(-sum_last_axis(y_true * log_p, axis), dtype)


def _log_probabilities(y_pred: TensorLike, from_logits: bool, axis: int) -> TensorLike:
    """log p along ``axis``: log_softmax of logits, or the log of renormalised clipped p."""
    if from_logits:
        # log_softmax = x - logsumexp(x): no exp overflow, no log(0)
        return ops.log_softmax(y_pred, axis=axis)
    epsilon = keras.backend.epsilon()
    # renormalise so each row sums to 1, then clip to [eps, 1 - eps] (Keras's rule)
    p = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    return ops.log(ops.clip(p, epsilon, 1.0 - epsilon))


@_SERIALIZABLE
def sparse_categorical_crossentropy(
    y_true: TensorLike,
    y_pred: TensorLike,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> TensorLike:
    """Categorical cross-entropy with integer labels.

    Formula:

    ```python
    loss = -log(p[y_true])
    ```

    where ``p = softmax(y_pred)`` if ``from_logits``, else ``softmax(log(clip(y_pred)))``, which is
    ``y_pred`` clipped to [1e-7, 1 - 1e-7] and renormalised (Keras's rule). Labels equal to
    ``ignore_class`` get loss 0 and are masked out of the mean; labels outside
    ``[0, num_classes)`` give NaN (never a silent 0).

    Args:
        y_true: integer labels, shape ``(batch, d0, ..., dn)`` or with a trailing 1.
        y_pred: probabilities (or logits), shape ``(batch, d0, ..., dn, num_classes)``.
        from_logits: whether ``y_pred`` holds logits. Defaults to False.
        ignore_class: a label to ignore (e.g. -1 or 255 for "void"). Defaults to None.
        axis: the class axis of ``y_pred``. Defaults to -1.

    Returns:
        Loss per sample, shape ``(batch, d0, ..., dn)``.

    Raises:
        ValueError: if the label shape does not match ``y_pred``'s shape without ``axis``.

    Example:
        >>> loss = sparse_categorical_crossentropy([1, 0], [[0.5, 0.5], [0.25, 0.75]])
        >>> [round(float(x), 6) for x in ops.convert_to_numpy(loss)]
        [0.693147, 1.386294]
    """
    check_axis(axis)
    if keras_logits(y_pred) is not None:
        y_pred, from_logits = keras_logits(y_pred), True
    y_pred, dtype = prediction(y_pred)
    labels = ops.convert_to_tensor(y_true)
    if len(labels.shape) == len(y_pred.shape) and labels.shape[axis] == 1:
        labels = ops.squeeze(labels, axis=axis)
    class_axis = axis % len(y_pred.shape)
    expected = tuple(d for i, d in enumerate(y_pred.shape) if i != class_axis)
    if len(labels.shape) != len(expected) or any(
        a is not None and b is not None and a != b for a, b in zip(labels.shape, expected)
    ):
        raise ValueError(
            f"y_true must have y_pred's shape without axis {axis}: "
            f"y_true.shape={tuple(labels.shape)}, y_pred.shape={tuple(y_pred.shape)}"
        )
    labels = ops.cast(labels, "int32")
    if ignore_class is not None:
        is_valid = ops.not_equal(labels, ignore_class)
        labels = ops.where(is_valid, labels, 0)
    num_classes = y_pred.shape[class_axis]
    if from_logits:
        log_p = ops.log_softmax(y_pred, axis=axis)
    else:
        epsilon = keras.backend.epsilon()
        # Keras feeds log(clip(p)) to a softmax as logits: this renormalises the clipped p
        log_p = ops.log_softmax(ops.log(ops.clip(y_pred, epsilon, 1.0 - epsilon)), axis=axis)
    one_hot = ops.one_hot(labels, num_classes, axis=class_axis, dtype=log_p.dtype)
    losses = -ops.sum(one_hot * log_p, axis=class_axis)
    # a label outside [0, num_classes) has an all-zero one-hot row: report NaN, not 0
    in_range = ops.logical_and(labels >= 0, labels < num_classes)
    losses = ops.where(in_range, losses, float("nan"))
    if ignore_class is None:
        return ops.cast(losses, dtype)
    losses = ops.cast(ops.where(is_valid, losses, 0.0), dtype)
    # Loss.__call__ reads this mask, so "sum_over_batch_size" divides by the valid count
    _set_keras_mask(losses, is_valid)
    return losses


def _set_keras_mask(x: TensorLike, mask: TensorLike) -> None:
    # Keras 3 has no public setter; this is what keras.losses.sparse_categorical_crossentropy calls
    from keras.src.backend.common.masking import set_keras_mask

    set_keras_mask(x, mask)


@_SERIALIZABLE
def kl_divergence(y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
    """Kullback-Leibler divergence KL(y_true || y_pred).

    Formula:

    ```python
    loss = sum(y_true * log(y_true / y_pred), axis=-1)
    ```

    Both are clipped to [1e-7, 1] first, as Keras does, so zeros give finite values.

    Args:
        y_true: a probability distribution, shape ``(batch, d0, ..., num_classes)``.
        y_pred: a probability distribution, same shape.

    Returns:
        Loss per sample, shape ``(batch, d0, ..., dn-1)``.

    Example:
        >>> ops.convert_to_numpy(kl_divergence([[0.5, 0.5]], [[0.5, 0.5]]))
        array([0.], dtype=float32)
    """
    y_true, y_pred, dtype = prepare(y_true, y_pred)
    epsilon = keras.backend.epsilon()
    # clip to [eps, 1]: no log(0) and no division by 0 (Keras's rule)
    y_true = ops.clip(y_true, epsilon, 1.0)
    y_pred = ops.clip(y_pred, epsilon, 1.0)
    return ops.cast(sum_last_axis(y_true * ops.log(y_true / y_pred)), dtype)


@_SERIALIZABLE
def poisson(y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
    """Poisson negative log-likelihood (up to the constant log(y_true!)).

    Formula:

    ```python
    loss = mean(y_pred - y_true * log(y_pred + epsilon), axis=-1)
    ```

    ``epsilon`` (1e-7) keeps ``log`` finite at ``y_pred = 0``, as in Keras.

    Args:
        y_true: observed counts, shape ``(batch, d0, ..., dn)``.
        y_pred: predicted rates (>= 0), same shape.

    Returns:
        Loss per sample, shape ``(batch, d0, ..., dn-1)``.

    Example:
        >>> ops.convert_to_numpy(poisson([[0.0, 2.0]], [[1.0, 3.0]]))  # (4 - 2 ln 3) / 2
        array([0.90139], dtype=float32)
    """
    y_true, y_pred, dtype = prepare(y_true, y_pred)
    # + eps: log stays finite at a zero rate (Keras's rule)
    log_rate = ops.log(y_pred + keras.backend.epsilon())
    return ops.cast(mean_last_axis(y_pred - y_true * log_rate), dtype)
