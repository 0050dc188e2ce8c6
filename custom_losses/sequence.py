"""Connectionist Temporal Classification (Graves et al., 2006): the CTC forward algorithm.

The loss of a label sequence is minus the log of the total probability of every frame-by-frame
alignment that collapses to it (merge repeats, then drop blanks). The forward recursion below
sums those paths in log space, one frame at a time, with ``keras.ops`` only, so it runs and
differentiates on every backend (Keras itself calls ``tf.nn.ctc_loss`` on TensorFlow and an
optax-style scan on JAX).
"""

from __future__ import annotations

from typing import Callable

import keras
from keras import ops

from custom_losses._common import TensorLike, label_in_range, per_sample_loss
from custom_losses.base import loss_class

#: The blank label (and the padding of ``y_true``), as in keras.losses.ctc.
BLANK = 0


@per_sample_loss(labels=True, inf_as_largest=True)
def ctc(y_true: TensorLike, y_pred: TensorLike) -> TensorLike:
    """CTC loss of integer label sequences under per-frame logits.

    Formula (the forward algorithm), with ``l`` the labels with a blank around each one
    (``[0, l1, 0, l2, ..., 0]``, ``S = 2 * label_length + 1`` states) and
    ``lp = log_softmax(y_pred)``:

    ```python
    alpha[0, s] = lp[0, l[s]] if s < 2 else log(0)
    alpha[t, s] = logsumexp(alpha[t-1, s], alpha[t-1, s-1],
                            alpha[t-1, s-2] if s is odd and l[s] != l[s-2]) + lp[t, l[s]]
    loss = -logsumexp(alpha[T-1, S-1], alpha[T-1, S-2])
    ```

    ``label_length`` is the number of non-zero entries of a row of ``y_true`` (its zero padding
    is not part of the sequence); every sample uses all ``T`` frames, as in Keras. A sequence
    that no alignment of ``T`` frames can produce (``T < label_length + number of repeated
    neighbours``) has probability 0, so its true loss is ``+inf``: it is returned as the largest
    finite number of the result dtype (float32: 3.4e38), with zero gradient, so that a sample
    weight of 0 removes it (``inf * 0`` made the batch loss NaN). Keras 3.15.1 gives an
    arbitrary finite number there (about 709 on TensorFlow, about 1e5 on JAX). A loss too large
    for the dtype (logits beyond ~1e38) is that same largest number. Such a sequence with a NaN
    or +inf logit is NaN (NaN in, NaN out), as in Keras.

    Args:
        y_true: integer labels in ``[1, num_classes)``, zero-padded, shape ``(batch, max_length)``;
            a sample with a label outside ``[0, num_classes)`` gets a NaN loss.
        y_pred: logits (not softmax outputs), shape ``(batch, frames, num_classes)``.

    Returns:
        Loss per sequence, shape ``(batch,)``.

    Raises:
        ValueError: if ``y_true`` is not of rank 2 or ``y_pred`` not of rank 3, or their batch
            sizes (where known) differ.

    Example:
        >>> import numpy as np
        >>> loss = ctc([[1]], np.zeros((1, 2, 2)))  # paths 01, 10, 11 of 4 equally likely
        >>> round(float(ops.convert_to_numpy(loss)[0]), 6)  # -log(3 / 4)
        0.287682
    """
    labels = ops.convert_to_tensor(y_true)
    if keras.backend.standardize_dtype(labels.dtype) == "bool":  # read as 0/1, as in Keras
        labels = ops.cast(labels, "int32")
    if len(labels.shape) != 2:
        raise ValueError(
            "y_true must be integer labels of shape (batch_size, max_length), "
            f"got y_true.shape={tuple(labels.shape)}"
        )
    if len(y_pred.shape) != 3:
        raise ValueError(
            "y_pred must be logits of shape (batch_size, max_length, num_classes), "
            f"got y_pred.shape={tuple(y_pred.shape)}"
        )
    if None not in (labels.shape[0], y_pred.shape[0]) and labels.shape[0] != y_pred.shape[0]:
        # checked where the shapes are known (eagerly, or static when traced); Keras raises too
        raise ValueError(
            "y_true and y_pred must have the same batch size, got "
            f"y_true.shape={tuple(labels.shape)}, y_pred.shape={tuple(y_pred.shape)}"
        )
    # a label outside [0, num_classes) (checked before any cast: int64 would wrap) makes its
    # sample's loss NaN, as in the other losses with integer labels (Keras: a silent number)
    in_range = ops.all(label_in_range(labels, ops.shape(y_pred)[-1]), axis=-1)
    labels = ops.cast(ops.where(ops.expand_dims(in_range, 1), labels, 0), "int32")
    label_length = ops.sum(ops.cast(labels != BLANK, "int32"), axis=-1)
    if y_pred.shape[1] == 0:  # no frames: only the empty sequence is produced (loss 0)
        losses = ops.where(label_length > 0, float("inf"), 0.0)
        losses = losses + 0.0 * ops.sum(y_pred, axis=(1, 2))  # a gradient (of zeros), not None
        return ops.where(in_range, losses, float("nan"))
    states = _with_blanks(labels)  # (batch, S)
    log_p = ops.log_softmax(y_pred, axis=-1)  # (batch, T, classes)
    # lp[t, l[s]] for every frame and state: (T, batch, S), frames first
    emit = ops.transpose(_take_states(log_p, states), (1, 0, 2))
    can_skip = _can_skip(states)
    # which states a path can be in: tracked apart from alpha, so that no stand-in for log(0)
    # competes with a reachable log-probability (logits ~1e37 give log-probabilities of -1e37;
    # a finite log(0) of -1e30 outweighed them: the loss stuck at 1e30)
    reach = ops.broadcast_to(ops.arange(ops.shape(states)[1]) < 2, ops.shape(states))
    first = ops.where(reach, emit[0], 0.0)

    def step(alpha: TensorLike, reach: TensorLike, emit_t: TensorLike) -> tuple:
        came_from = ops.stack([alpha, _shift(alpha, 1), _shift(alpha, 2)])  # stay, advance, skip
        allowed = ops.stack([reach, _shift(reach, 1), ops.logical_and(can_skip, _shift(reach, 2))])
        alpha, reach = _logsumexp_where(came_from, allowed)
        return ops.where(reach, alpha + emit_t, 0.0), reach

    last, reach = _forward(step, first, reach, emit)
    # the path ends on the last label (state 2 * length - 1) or the blank after it (2 * length)
    ends = ops.stack([2 * label_length, ops.maximum(2 * label_length - 1, 0)], axis=1)
    end_alpha = ops.take_along_axis(last, ends, axis=1)  # (batch, 2)
    end_reach = ops.logical_and(
        ops.take_along_axis(reach, ends, axis=1),
        ops.stack([label_length >= 0, label_length > 0], axis=1),
    )
    log_likelihood, feasible = _logsumexp_where(ops.transpose(end_alpha), ops.transpose(end_reach))
    # no alignment of T frames gives the sequence (T < labels + repeated neighbours): p = 0, a
    # loss of +inf (the decorator turns it into the dtype's largest finite number); with a NaN or
    # +inf logit in the row, NaN (NaN in, NaN out: the infeasible branch ignores the logits)
    nan_in = ops.any(ops.logical_or(ops.isnan(y_pred), y_pred == float("inf")), axis=(1, 2))
    infeasible = ops.where(nan_in, float("nan"), float("inf"))
    losses = ops.where(feasible, -log_likelihood, infeasible)
    return ops.where(in_range, losses, float("nan"))


def _logsumexp_where(x: TensorLike, where: TensorLike) -> tuple[TensorLike, TensorLike]:
    """``log(sum(exp(x)))`` over axis 0 of the entries ``where`` holds, and whether any does.

    With no entry held the value is 0 (a placeholder: the caller masks it) and its gradient 0,
    never NaN; an entry of -inf (a genuine underflow of float32) contributes exp(-inf) = 0; NaN
    propagates. The max is subtracted first (the usual shift), outside the gradient: its
    derivative cancels exactly.
    """
    held = ops.any(where, axis=0)
    # initial: an empty batch gives an empty max (Keras's TensorFlow max raises without it)
    top = ops.max(ops.where(where, x, float("-inf")), axis=0, initial=float("-inf"))
    top = ops.stop_gradient(ops.where(ops.isfinite(top), top, 0.0))
    # exp of (x - top) where held, of 0 elsewhere (then dropped): no exp of what is not held
    terms = ops.where(where, ops.exp(ops.where(where, x, top) - top), 0.0)
    total = ops.sum(terms, axis=0)
    empty = total == 0.0  # nothing held, or every held entry -inf: log(0) = -inf, no NaN gradient
    value = ops.where(empty, float("-inf"), top + ops.log(ops.where(empty, 1.0, total)))
    return ops.where(held, value, 0.0), held


def _forward(step: Callable, alpha: TensorLike, reach: TensorLike, emit: TensorLike) -> tuple:
    """``(alpha, reach)`` after the last frame: ``step`` applied over frames 1 .. T-1.

    The loop is the backend's differentiable one: on TensorFlow a while loop with its iteration
    count given (the gradient of ``ops.scan``'s loop does not compile under XLA without it); on
    JAX (and torch) ``ops.scan`` (JAX cannot differentiate a while loop). With one frame (known
    when traced) there is no loop: the gradient of a while loop that runs 0 times does not
    compile under XLA ("Update dim size 1 greater than dynamic slice dimension: 0").
    """
    if emit.shape[0] == 1:
        return alpha, reach
    if keras.backend.backend() != "tensorflow":
        return ops.scan(
            lambda carry, emit_t: (step(*carry, emit_t), None), (alpha, reach), emit[1:]
        )[0]
    frames = ops.shape(emit)[0]
    _, alpha, reach = ops.while_loop(
        lambda t, alpha, reach: t < frames,
        lambda t, alpha, reach: (t + 1, *step(alpha, reach, emit[t])),
        (1, alpha, reach),
        maximum_iterations=frames - 1,
    )
    return alpha, reach


def _with_blanks(labels: TensorLike) -> TensorLike:
    """``[l1, l2, ..., lL]`` -> ``[0, l1, 0, l2, ..., 0, lL, 0]`` (per row), shape (batch, 2L+1)."""
    blanks = ops.full(ops.shape(labels), BLANK, dtype=labels.dtype)
    batch, length = ops.shape(labels)[0], ops.shape(labels)[1]  # no -1: a batch may be empty
    interleaved = ops.reshape(ops.stack([blanks, labels], axis=-1), (batch, 2 * length))
    return ops.pad(interleaved, ((0, 0), (0, 1)), constant_values=BLANK)


def _take_states(log_p: TensorLike, states: TensorLike) -> TensorLike:
    """``log_p[b, t, states[b, s]]``: shape (batch, T, S)."""
    batch, frames = ops.shape(log_p)[0], ops.shape(log_p)[1]
    index = ops.broadcast_to(ops.expand_dims(states, 1), (batch, frames, ops.shape(states)[1]))
    return ops.take_along_axis(log_p, index, axis=2)


def _can_skip(states: TensorLike) -> TensorLike:
    """Whether state s may be reached from s - 2: a label (odd s) unlike the label before it.

    Decided by position, not by value, so that a 0 inside a row's first ``label_length`` entries
    counts as a label, as both of Keras's backends (3.15.1) count it.
    """
    is_label = ops.arange(ops.shape(states)[1]) % 2 == 1
    return ops.logical_and(is_label, states != _shift(states, 2))  # BLANK = 0 comes in


def _shift(x: TensorLike, by: int) -> TensorLike:
    """``x`` moved ``by`` places right along axis 1, zeros (False) coming in: x[:, s - by]."""
    padded = ops.pad(x, ((0, 0), (by, 0)))
    return padded[:, : ops.shape(x)[1]]


CTC = loss_class(ctc, "CTC")
