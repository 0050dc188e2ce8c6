"""Cross-entropy variants for hard or noisy examples: binary and categorical focal cross-entropy
(Lin et al., 2018) and the generalized cross-entropy (Zhang and Sabuncu, 2018).

Each function returns one loss per sample, as its ``keras.losses`` namesake (Keras 3.15.1) does,
with the same formula and clipping; computed in float32 for float16/bfloat16 inputs. The focal
losses take the arguments of the cross-entropies (``from_logits``, ``label_smoothing``, ``axis``:
see :mod:`custom_losses.probabilistic`), and raise a ValueError also for an ``axis`` beyond the
rank of ``y_pred`` (after the alignment with ``y_true``).
"""

from __future__ import annotations

import keras
from keras import ops

from custom_losses._common import (
    Axes,
    TensorLike,
    check_axes,
    check_label_smoothing,
    check_q,
    clip,
    label_in_range,
    mean_last_axis,
    per_sample_loss,
)
from custom_losses.base import loss_class
from custom_losses.probabilistic import clipped_binary_crossentropy


@per_sample_loss(broadcast=False, logits_op="Sigmoid", logits_given=True)
def binary_focal_crossentropy(
    y_true: TensorLike,
    y_pred: TensorLike,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: Axes = -1,
) -> TensorLike:
    """Binary focal cross-entropy: binary cross-entropy down-weighted on easy examples.

    Formula:

    ```python
    t = y_true * (1 - label_smoothing) + 0.5 * label_smoothing
    p_t = t * p + (1 - t) * (1 - p)
    loss = (1 - p_t) ** gamma * bce(t, p)              # times w if apply_class_balancing
    w = t * alpha + (1 - t) * (1 - alpha)
    loss = mean(loss, axis=axis)
    ```

    where ``p = y_pred``, or ``sigmoid(y_pred)`` if ``from_logits``. With logits, ``bce`` is
    computed from the logits: exact for any logit, on every backend (as Keras 3.15.1 does on
    TensorFlow; Keras on JAX clips ``sigmoid(y_pred)``, so it differs beyond ``|logit| ~ 16``).
    From probabilities, ``p`` is clipped to [1e-7, 1 - 1e-7] inside ``bce`` (on TensorFlow the
    output of a sigmoid is traced back to its logits, as Keras does). ``gamma=0`` gives the
    binary cross-entropy.

    Args:
        apply_class_balancing: whether to weight class 1 by ``alpha`` and class 0 by
            ``1 - alpha``. Defaults to False.
        alpha: the class-1 weight of the balancing. Defaults to 0.25.
        gamma: the focusing exponent. Defaults to 2.

    Example:
        >>> loss = binary_focal_crossentropy([[1.0, 0.0]], [[0.5, 0.5]], gamma=1.0)
        >>> round(float(ops.convert_to_numpy(loss)[0]), 6)  # 0.5 * log(2)
        0.346574
    """
    check_label_smoothing(label_smoothing)
    axis = check_axes(axis)
    _check_axes_in_rank(axis, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        p = ops.sigmoid(y_pred)
        # -t log sigmoid(x) - (1 - t) log sigmoid(-x): log_sigmoid = -softplus(-x) never overflows
        bce = -(y_true * ops.log_sigmoid(y_pred) + (1.0 - y_true) * ops.log_sigmoid(-y_pred))
    else:
        p = y_pred
        bce = clipped_binary_crossentropy(y_true, p)
    p_t = y_true * p + (1.0 - y_true) * (1.0 - p)
    losses = ops.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        losses = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * losses
    return mean_last_axis(losses, axis)


@per_sample_loss(broadcast=False)
def categorical_focal_crossentropy(
    y_true: TensorLike,
    y_pred: TensorLike,
    alpha: float | list[float] = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: Axes = -1,
) -> TensorLike:
    """Categorical focal cross-entropy: each class's term times ``alpha * (1 - p) ** gamma``.

    Formula:

    ```python
    t = y_true * (1 - label_smoothing) + label_smoothing / num_classes
    p = clip(y_pred / sum(y_pred, axis), eps, 1 - eps)
    loss = sum(alpha * (1 - p) ** gamma * -t * log(p), axis=axis)
    ```

    where ``y_pred`` is first ``softmax(y_pred, axis)`` if ``from_logits``. As in Keras 3.15.1
    the probabilities are clipped even from logits (so a term is at most ``-log(1e-7) = 16.1``
    times its factor), ``num_classes`` is the size of the last axis, and a list ``alpha`` (one
    weight per class) is broadcast along the last axis.

    Args:
        alpha: a weight for all classes, or a list of one weight per class. Defaults to 0.25.
        gamma: the focusing exponent (as in :func:`binary_focal_crossentropy`).

    Example:
        >>> loss = categorical_focal_crossentropy([[0.0, 1.0]], [[0.5, 0.5]], alpha=1.0, gamma=1.0)
        >>> round(float(ops.convert_to_numpy(loss)[0]), 6)  # 0.5 * log(2)
        0.346574
    """
    check_label_smoothing(label_smoothing)
    axis = check_axes(axis)
    _check_axes_in_rank(axis, y_pred)
    if label_smoothing:
        num_classes = ops.cast(ops.shape(y_true)[-1], y_pred.dtype)
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    if from_logits:
        y_pred = ops.softmax(y_pred, axis=axis)
    epsilon = keras.backend.epsilon()
    # renormalise each row to sum 1, then clip to [eps, 1 - eps]: no log(0) (Keras's rule)
    p = clip(y_pred / ops.sum(y_pred, axis=axis, keepdims=True), epsilon, 1.0 - epsilon)
    alpha = ops.convert_to_tensor(alpha, dtype=p.dtype)
    losses = alpha * ops.power(1.0 - p, gamma) * (-y_true * ops.log(p))
    return ops.sum(losses, axis=axis)


def _check_axes_in_rank(axis: int | tuple[int, ...] | None, y_pred: TensorLike) -> None:
    """Raise ValueError naming ``axis`` unless every axis indexes ``y_pred`` (after the targets
    are aligned with it: ranks that differ by one lose a trailing 1), a raw TensorFlow error
    otherwise (Keras 3.15.1 raises an error too)."""
    rank = len(y_pred.shape)
    axes = () if axis is None else (axis,) if isinstance(axis, int) else axis
    if any(not -rank <= a < rank for a in axes):
        raise ValueError(
            f"axis must index an axis of y_pred (rank {rank} after aligning it with y_true), "
            f"got axis={axis!r}, y_pred.shape={tuple(y_pred.shape)}"
        )


@per_sample_loss(labels=True)
def categorical_generalized_cross_entropy(
    y_true: TensorLike, y_pred: TensorLike, q: float
) -> TensorLike:
    """Generalized cross-entropy: ``(1 - p**q) / q`` of the true class's probability ``p``.

    Formula:

    ```python
    p = y_pred[..., y_true]
    loss = (1 - p ** q) / q
    ```

    It tends to the cross-entropy ``-log(p)`` as ``q -> 0`` and equals the mean absolute error
    ``1 - p`` at ``q = 1``. ``y_pred`` is used as it is (not clipped, not renormalised), as in
    Keras. Labels of shape ``(batch, ..., 1)`` have the trailing 1 dropped (Keras 3.15.1
    broadcasts them to a ``(batch, batch)`` loss); a label outside ``[0, num_classes)`` gives
    NaN (Keras: a silent ``1 / q``).

    Args:
        y_true: integer class indices, shape ``(batch, d0, ..., dn)`` or with a trailing 1.
        y_pred: class probabilities, shape ``(batch, d0, ..., dn, num_classes)``.
        q: the noise parameter in (0, 1); no default, as in Keras.

    Returns:
        Loss per sample, shape ``(batch, d0, ..., dn)``.

    Raises:
        ValueError: if ``q`` is not in (0, 1) or the label shape does not match ``y_pred``'s.

    Example:
        >>> p = [[0.25, 0.75], [0.36, 0.64]]
        >>> loss = categorical_generalized_cross_entropy([0, 1], p, 0.5)
        >>> [round(float(x), 6) for x in ops.convert_to_numpy(loss)]  # (1 - .5) / .5, (1 - .8) / .5
        [1.0, 0.4]
    """
    check_q(q)
    labels = ops.convert_to_tensor(y_true)
    if keras.backend.standardize_dtype(labels.dtype) == "bool":  # read as 0/1, as in Keras
        labels = ops.cast(labels, "int32")
    if len(labels.shape) == len(y_pred.shape) and labels.shape[-1] == 1:
        labels = ops.squeeze(labels, axis=-1)
    expected = tuple(y_pred.shape[:-1])
    if len(labels.shape) != len(expected) or any(
        a is not None and b is not None and a != b for a, b in zip(labels.shape, expected)
    ):
        raise ValueError(
            "y_true must have y_pred's shape without the last axis: "
            f"y_true.shape={tuple(labels.shape)}, y_pred.shape={tuple(y_pred.shape)}"
        )
    num_classes = y_pred.shape[-1]
    # a label outside [0, num_classes) has no probability: NaN, not 1 / q. Checked in the labels'
    # own dtype: a cast to int32 first would wrap int64 labels >= 2**31 into range
    in_range = label_in_range(labels, num_classes)
    labels = ops.cast(ops.where(in_range, labels, 0), "int32")
    p = ops.sum(y_pred * ops.one_hot(labels, num_classes, dtype=y_pred.dtype), axis=-1)
    # where the label is out of range, p ** q of a safe 1, not of y_pred[..., 0]: at 0 its
    # derivative is inf, and inf times the 0 of the unused branch made the gradient NaN
    p = ops.where(in_range, p, 1.0)
    losses = (1.0 - ops.power(p, q)) / q
    return ops.where(in_range, losses, float("nan"))


BinaryFocalCrossentropy = loss_class(
    binary_focal_crossentropy,
    "BinaryFocalCrossentropy",
    example="""
    Example:
        >>> loss = BinaryFocalCrossentropy(gamma=1.0)
        >>> round(float(loss([[1.0, 0.0]], [[0.5, 0.5]])), 6), loss.gamma  # 0.5 * log(2)
        (0.346574, 1.0)
    """,
)
CategoricalFocalCrossentropy = loss_class(
    categorical_focal_crossentropy, "CategoricalFocalCrossentropy"
)
#: Keras's class has a default q = 0.5; its function has none.
CategoricalGeneralizedCrossEntropy = loss_class(
    categorical_generalized_cross_entropy,
    "CategoricalGeneralizedCrossEntropy",
    defaults={"q": 0.5},
)
