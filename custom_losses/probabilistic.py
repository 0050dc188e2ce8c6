"""Probabilistic losses: binary, categorical and sparse categorical cross-entropy, KL divergence,
Poisson, and their classes.

Each function returns one loss per sample (the reduction over the class axis that Keras does).
Probabilities are clipped to ``[epsilon, 1 - epsilon]`` as Keras does (epsilon = 1e-7), and the
clipping happens in float32 even for float16 inputs, where ``1 - 1e-7`` would round to 1.

The cross-entropies here and in :mod:`custom_losses.focal` share these arguments:

- ``y_true``: labels in [0, 1] (one-hot or soft for the categorical ones), shape
  ``(batch, d0, ..., dn)``; ``y_pred``: probabilities (or logits if ``from_logits``), same shape.
- ``from_logits``: whether ``y_pred`` holds logits. Defaults to False.
- ``label_smoothing``: squeezes the labels towards the uniform ones (0.5 for binary labels);
  in [0, 1] to keep them labels (any number is accepted, as in Keras). Defaults to 0.
- ``axis``: the (class) axis the loss reduces over, several (a tuple) or None for all.
  Defaults to -1. The loss per sample has ``y_pred``'s shape without ``axis``.

A ValueError names an ``axis`` that is not an int, None or a tuple of ints, or a
``label_smoothing`` that is not a number.
"""

from __future__ import annotations

import keras
from keras import ops

from custom_losses._common import (
    Axes,
    TensorLike,
    axes_size,
    check_axes,
    check_axis,
    check_label_smoothing,
    clip,
    label_in_range,
    mean_last_axis,
    per_sample_loss,
    set_keras_mask,
    sum_last_axis,
)
from custom_losses.base import loss_class


@per_sample_loss(broadcast=False, logits_op="Sigmoid")
def binary_crossentropy(
    y_true: TensorLike,
    y_pred: TensorLike,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: Axes = -1,
) -> TensorLike:
    """Binary cross-entropy (the lecture's BCE), averaged over ``axis``.

    Formula:

    ```python
    t = y_true * (1 - label_smoothing) + 0.5 * label_smoothing
    loss = mean(-(t * log(p) + (1 - t) * log(1 - p)), axis=axis)
    ```

    where ``p = y_pred``, or ``sigmoid(y_pred)`` if ``from_logits``. Finite for probabilities
    exactly 0 and 1 (clipped to [1e-7, 1 - 1e-7]) and for logits of any size, also in float16.
    The arguments: see the module's docstring.

    Example:
        >>> ops.convert_to_numpy(binary_crossentropy([[1.0, 0.0]], [[0.0, 1e9]], from_logits=True))
        array([5.e+08], dtype=float32)
    """
    check_label_smoothing(label_smoothing)
    axis = check_axes(axis)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        # -t log sigmoid(x) - (1 - t) log(1 - sigmoid(x)) = t softplus(-x) + (1 - t) softplus(x):
        # no overflow for any logit, and the gradient (1 - t) sigmoid(x) - t sigmoid(-x) is exact:
        # at x = 0 (where max(x, 0) + log1p(exp(-|x|)) has kinks: it gave -t) and for saturated
        # logits (softplus(x) - t x would give sigmoid(x) - 1, which cancels)
        losses = y_true * ops.softplus(-y_pred) + (1.0 - y_true) * ops.softplus(y_pred)
    else:
        losses = clipped_binary_crossentropy(y_true, y_pred)
    return mean_last_axis(losses, axis)


def clipped_binary_crossentropy(y_true: TensorLike, p: TensorLike) -> TensorLike:
    """``-(t log p + (1 - t) log(1 - p))`` elementwise, of probabilities ``p``."""
    epsilon = keras.backend.epsilon()
    # p in [eps, 1 - eps]: log(p) and log(1 - p) stay finite at p = 0 and p = 1 (Keras's rule)
    p = clip(p, epsilon, 1.0 - epsilon)
    return -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))


@per_sample_loss(broadcast=False, logits_op="Softmax")
def categorical_crossentropy(
    y_true: TensorLike,
    y_pred: TensorLike,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: Axes = -1,
) -> TensorLike:
    """Categorical cross-entropy (softmax loss) between one-hot labels and predictions.

    Formula:

    ```python
    t = y_true * (1 - label_smoothing) + label_smoothing / num_classes
    loss = -sum(t * log(p), axis=axis)
    ```

    where ``p = y_pred / sum(y_pred, axis)`` clipped to [1e-7, 1 - 1e-7], or
    ``softmax(y_pred, axis)`` if ``from_logits``. ``num_classes`` is the number of entries along
    ``axis`` (Keras 3.15.1 uses the last axis's size even when ``axis`` is another one). With a
    tuple ``axis`` or None (every axis) the distribution runs over those axes, from
    probabilities and from logits alike, as Keras on JAX computes it (Keras 3.15.1 on
    TensorFlow: from logits a tuple raises and None means the last axis). The arguments: see
    the module's docstring.

    Example:
        >>> loss = categorical_crossentropy([[0.0, 1.0]], [[0.0, 1.0]], from_logits=True)
        >>> round(float(ops.convert_to_numpy(loss)[0]), 6)
        0.313262
    """
    check_label_smoothing(label_smoothing)
    axis = check_axes(axis)
    if label_smoothing:
        num_classes = ops.cast(axes_size(y_pred, axis), y_pred.dtype)
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    log_p = _log_probabilities(y_pred, from_logits, axis)
    return -sum_last_axis(y_true * log_p, axis)


def _log_probabilities(y_pred: TensorLike, from_logits: bool, axis: Axes) -> TensorLike:
    """log p along ``axis``: log_softmax of logits, or the log of renormalised clipped p."""
    if from_logits:
        # log_softmax = x - logsumexp(x): no exp overflow, no log(0)
        return ops.log_softmax(y_pred, axis=axis)
    epsilon = keras.backend.epsilon()
    # renormalise so each row sums to 1, then clip to [eps, 1 - eps] (Keras's rule)
    p = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    return ops.log(clip(p, epsilon, 1.0 - epsilon))


@per_sample_loss(logits_op="Softmax", labels=True)
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

    where ``p = softmax(y_pred)`` if ``from_logits``, else ``y_pred`` renormalised to sum 1 and then
    clipped to [1e-7, 1 - 1e-7]: exactly :func:`categorical_crossentropy` of the one-hot labels,
    on every backend. (Keras 3.15.1 does this on JAX; on TensorFlow it clips first and
    renormalises after, which differs where a probability is clipped, e.g. 0, 1, or rows that
    are not distributions: docs/losses.md.) Labels equal to ``ignore_class`` get loss 0, no
    gradient, and are masked out of the mean; labels outside ``[0, num_classes)`` give NaN
    (never a silent 0).

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
    num_classes = ops.shape(y_pred)[class_axis]  # a tensor if unknown when traced
    in_range = label_in_range(labels, num_classes)  # before any cast: int64 would wrap
    is_valid = in_range if ignore_class is None else ops.not_equal(labels, ignore_class)
    labels = ops.cast(ops.where(in_range, labels, 0), "int32")
    if ignore_class is not None:
        # an ignored row takes no part: zero logits there, so a NaN in it sends no NaN gradient
        y_pred = ops.where(ops.expand_dims(is_valid, class_axis), y_pred, 0.0)
    log_p = _log_probabilities(y_pred, from_logits, axis)
    # pick log p[label] (a gather, not a one-hot product: 0 * log 0 would make a -inf logit NaN)
    index = ops.expand_dims(labels, class_axis)
    losses = -ops.squeeze(ops.take_along_axis(log_p, index, axis=class_axis), axis=class_axis)
    # a label outside [0, num_classes) has no probability: report NaN, not a silent 0; and so
    # does a row of probabilities holding a NaN or inf anywhere (the gather reads one entry)
    if not from_logits:
        in_range = ops.logical_and(in_range, ops.isfinite(ops.sum(y_pred, axis=class_axis)))
    losses = ops.where(in_range, losses, float("nan"))
    if ignore_class is None:
        return losses
    losses = ops.where(is_valid, losses, 0.0)
    # Loss.__call__ reads this mask, so "sum_over_batch_size" divides by the valid count
    set_keras_mask(losses, is_valid)
    return losses


@per_sample_loss()
def kl_divergence(y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
    """Kullback-Leibler divergence KL(y_true || y_pred).

    Formula:

    ```python
    loss = sum(y_true * log(y_true / y_pred), axis=-1)
    ```

    ``y_true`` and ``y_pred`` are distributions over the last axis, clipped to [1e-7, 1] first,
    as Keras does, so zeros give finite values.

    Example:
        >>> ops.convert_to_numpy(kl_divergence([[0.5, 0.5]], [[0.5, 0.5]]))
        array([0.], dtype=float32)
    """
    epsilon = keras.backend.epsilon()
    # clip to [eps, 1]: no log(0) and no division by 0 (Keras's rule)
    y_true = clip(y_true, epsilon, 1.0)
    y_pred = clip(y_pred, epsilon, 1.0)
    return sum_last_axis(y_true * ops.log(y_true / y_pred))


@per_sample_loss()
def poisson(y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
    """Poisson negative log-likelihood (up to the constant log(y_true!)).

    Formula:

    ```python
    loss = mean(y_pred - y_true * log(y_pred + epsilon), axis=-1)
    ```

    ``y_true`` are observed counts, ``y_pred`` predicted rates (>= 0) of the same shape;
    ``epsilon`` (1e-7) keeps ``log`` finite at ``y_pred = 0``, as in Keras.

    Example:
        >>> ops.convert_to_numpy(poisson([[0.0, 2.0]], [[1.0, 3.0]]))  # (4 - 2 ln 3) / 2
        array([0.90139], dtype=float32)
    """
    # + eps: log stays finite at a zero rate (Keras's rule)
    log_rate = ops.log(y_pred + keras.backend.epsilon())
    return mean_last_axis(y_pred - y_true * log_rate)


BinaryCrossentropy = loss_class(binary_crossentropy, "BinaryCrossentropy")
CategoricalCrossentropy = loss_class(categorical_crossentropy, "CategoricalCrossentropy")
SparseCategoricalCrossentropy = loss_class(
    sparse_categorical_crossentropy,
    "SparseCategoricalCrossentropy",
    order=("from_logits", "ignore_class", "reduction", "axis", "name", "dtype"),  # as in Keras
    checks={"axis": check_axis},
)
KLDivergence = loss_class(kl_divergence, "KLDivergence")
Poisson = loss_class(poisson, "Poisson")
