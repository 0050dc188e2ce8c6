"""Shared input handling for every loss: convert, cast, align, check, and the float16 rule.

Each loss body is decorated with :func:`per_sample_loss`, which converts, casts and aligns
``(y_true, y_pred)`` before the body (:func:`prepare`), and casts its result to the result dtype
after it. In between the body computes in float32 or float64, never in half precision (the one
rule: :func:`compute_dtype`), and reduces over the sample's last axis with
:func:`sum_last_axis` / :func:`mean_last_axis`.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import warnings
from typing import Any, Callable, Union

import keras
import numpy as np
from keras import ops

#: Anything ``keras.ops.convert_to_tensor`` accepts: a backend tensor, a numpy array, a list.
TensorLike = Any

#: Half-precision dtypes: losses are computed in float32 and cast back to these.
HALF_DTYPES = ("float16", "bfloat16")


def compute_dtype(dtype: str) -> str:
    """The dtype a loss computes in: float32 for float16/bfloat16 inputs, else the input's."""
    return "float32" if dtype in HALF_DTYPES else dtype


def per_sample_loss(
    broadcast: bool = True,
    logits_op: str | None = None,
    labels: bool = False,
    logits_given: bool = False,
    mask_zeros: bool = False,
    inf_as_largest: bool = False,
    align_ranks: bool = True,
) -> Callable[[Callable], Callable]:
    """Decorator: the wrapper around every loss body, in one place.

    Before the body: ``None`` for ``y_true`` or ``y_pred`` refused (ValueError), the logits
    behind a sigmoid/softmax output (``logits_op``, see :func:`logits_from`; sets the body's
    ``from_logits``), then :func:`prepare` (or, with ``labels``, only the predictions: the
    targets are integer labels the body checks). After it:
    the result cast to the result dtype (``y_pred``'s, half precision included), keeping a Keras
    mask the body set. The function is registered as serializable (package "custom_losses") and
    keeps the body's name, signature and docstring.

    Args:
        broadcast: whether the targets broadcast against the predictions (regression losses) or
            must have their shape (crossentropies), as in Keras.
        logits_op: "Sigmoid" or "Softmax" for the crossentropies.
        labels: the targets are integer labels (sparse categorical crossentropy, CTC).
        logits_given: with ``from_logits=True``, take ``y_pred`` as the logits even if it carries
            others (Keras's binary focal loss applies its sigmoid before looking for logits).
        mask_zeros: mask out the losses that are 0 in the result dtype (Keras's circle loss:
            the "sum_over_batch_size" mean is over the losses > 0), decided after the cast.
        inf_as_largest: replace a loss of +inf, after the cast, by the largest finite number of
            the result dtype (CTC: a sequence no alignment gives, whose true loss is +inf). A
            sample weight of 0 then removes it (0 * max = 0; inf * 0 was NaN for the batch).
        align_ranks: align ranks that differ by one (Keras's squeeze or expand of a trailing 1)
            before the shape check; False: the given shapes broadcast as they are (Keras's Dice
            and Tversky functions; their classes align first).
    """

    def decorate(body: Callable) -> Callable:
        signature = inspect.signature(body)

        @functools.wraps(body)
        def loss(y_true: TensorLike, y_pred: TensorLike, *args: Any, **kwargs: Any) -> Any:
            options = signature.bind(y_true, y_pred, *args, **kwargs)
            options.apply_defaults()
            options = dict(options.arguments)
            check_not_none(options["y_true"], options["y_pred"])
            if logits_op is not None and not (logits_given and options["from_logits"]):
                options["y_pred"], options["from_logits"] = logits_from(
                    options["y_pred"], options["from_logits"], logits_op, body.__name__
                )
            if labels:
                options["y_pred"], dtype = prediction(options["y_pred"])
            else:
                options["y_true"], options["y_pred"], dtype = prepare(
                    options["y_true"], options["y_pred"], broadcast, align_ranks
                )
            result = body(**options)
            mask = get_keras_mask(result)
            result = ops.cast(result, dtype)
            if inf_as_largest:
                result = ops.where(result == float("inf"), largest_finite(dtype), result)
            if mask_zeros:
                mask = result > 0
            if mask is not None:  # Loss.__call__ reads it: the mean is over the valid entries
                set_keras_mask(result, mask)
            return result

        # the body's signature, but no __wrapped__: TensorFlow's autograph reads a function's
        # source through inspect.unwrap, so with __wrapped__ it converted and ran the BODY in
        # place of this wrapper inside tf.function (no prepare, no logits: measured)
        del loss.__wrapped__
        loss.__signature__ = signature
        return keras.saving.register_keras_serializable(package="custom_losses")(loss)

    return decorate


def check_not_none(y_true: TensorLike, y_pred: TensorLike) -> None:
    """Raise ValueError naming ``y_true`` or ``y_pred`` if it is None (``np.asarray(None,
    "float32")`` is NaN: the losses were NaN, silently; Keras raises a ValueError)."""
    for argument, value in (("y_true", y_true), ("y_pred", y_pred)):
        if value is None:
            raise ValueError(f"{argument} must be a tensor, an array or a list, got None")


def largest_finite(dtype: str) -> float:
    """The largest finite number of a float dtype (ml_dtypes, a Keras dependency, knows bfloat16).

    Example:
        >>> largest_finite("float16"), largest_finite("float32")
        (65504.0, 3.4028234663852886e+38)
    """
    import ml_dtypes

    return float(ml_dtypes.finfo(dtype).max)


def get_keras_mask(x: Any) -> Any:
    """The Keras mask of ``x`` or None (keras.src: Keras 3 has no public getter)."""
    from keras.src.backend.common.masking import get_keras_mask

    return get_keras_mask(x)


def set_keras_mask(x: Any, mask: Any) -> None:
    """Attach a Keras mask (what keras.losses.sparse_categorical_crossentropy calls)."""
    from keras.src.backend.common.masking import set_keras_mask

    set_keras_mask(x, mask)


def prediction(y_pred: TensorLike) -> tuple[Any, str]:
    """``y_pred`` as a float tensor in its compute dtype, and the dtype the loss returns.

    Non-float predictions are cast to ``keras.backend.floatx()``, as ``keras.losses.Loss`` does.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    dtype = keras.backend.standardize_dtype(y_pred.dtype)
    if not keras.backend.is_float_dtype(dtype):
        dtype = keras.backend.floatx()
    return ops.cast(y_pred, compute_dtype(dtype)), dtype


def prepare(
    y_true: TensorLike, y_pred: TensorLike, broadcast: bool = True, align_ranks: bool = True
) -> tuple[Any, Any, str]:
    """Convert, cast and align ``(y_true, y_pred)``; return them and the result dtype.

    Targets that are not yet tensors (Python lists, numpy arrays) are converted straight to the
    predictions' compute dtype: float64 predictions get float64 targets, not targets rounded
    through float32 first.

    Raises:
        ValueError: if the two shapes cannot be aligned (see :func:`align`).
    """
    y_pred, dtype = prediction(y_pred)
    if is_tensor(y_true):
        y_true = ops.cast(y_true, y_pred.dtype)
    else:
        y_true = ops.convert_to_tensor(
            np.asarray(y_true, dtype=keras.backend.standardize_dtype(y_pred.dtype))
        )
    y_true, y_pred = align(y_true, y_pred, broadcast, align_ranks)
    return y_true, y_pred, dtype


def is_tensor(x: Any) -> bool:
    """Whether ``x`` is a backend tensor or a Keras variable (not a list or a numpy array)."""
    return ops.is_tensor(x) or isinstance(x, keras.Variable)


def align(
    y_true: Any, y_pred: Any, broadcast: bool = True, align_ranks: bool = True
) -> tuple[Any, Any]:
    """Keras's rank alignment, then a check that the shapes agree.

    (N,) against (N, 1) becomes (N, 1) against (N, 1), exactly as
    ``keras.src.losses.loss.squeeze_or_expand_to_same_rank`` (Keras 3.15.1) does it. Then, with
    ``broadcast`` (Keras's regression losses), the shapes must broadcast as numpy broadcasts them
    (a scalar or ``(k,)`` target against ``(N, k)`` predictions, a dimension of 1 against any);
    without it (Keras's crossentropies) the ranks must be equal and every dimension equal or
    unknown. With ``align_ranks=False`` only the check (the given shapes must broadcast).

    Raises:
        ValueError: naming both shapes, if they do not agree.
    """
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if align_ranks:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    if not _compatible(tuple(y_true.shape), tuple(y_pred.shape), broadcast):
        raise ValueError(
            f"y_true and y_pred must have the same shape{' (or broadcast)' if broadcast else ''}, "
            f"got y_true.shape={true_shape}, y_pred.shape={pred_shape}"
        )
    return y_true, y_pred


def squeeze_or_expand_to_same_rank(x1: Any, x2: Any) -> tuple[Any, Any]:
    """If the ranks differ by one and the longer shape ends in 1: expand a rank-1 tensor, else
    squeeze the trailing 1 (the rule of keras.src.losses.loss, copied: it is not public API)."""
    rank1, rank2 = len(x1.shape), len(x2.shape)
    if rank1 == rank2 + 1 and x1.shape[-1] == 1:
        if rank2 == 1:
            x2 = ops.expand_dims(x2, axis=-1)
        else:
            x1 = ops.squeeze(x1, axis=-1)
    if rank2 == rank1 + 1 and x2.shape[-1] == 1:
        if rank1 == 1:
            x1 = ops.expand_dims(x1, axis=-1)
        else:
            x2 = ops.squeeze(x2, axis=-1)
    return x1, x2


def _compatible(shape1: tuple, shape2: tuple, broadcast: bool) -> bool:
    if len(shape1) != len(shape2) and not broadcast:
        return False
    ones = (1,) if broadcast else ()
    # zip from the right: missing leading dimensions broadcast (numpy's rule)
    return all(
        a is None or b is None or a == b or a in ones or b in ones
        for a, b in zip(reversed(shape1), reversed(shape2))
    )


def label_in_range(labels: Any, num_classes: Any) -> Any:
    """Whether each integer label is in ``[0, num_classes)``, compared in the labels' own dtype.

    A cast to int32 before the check would wrap int64 labels >= 2**31 into range (2**32 + 1
    becomes 1). ``num_classes`` may be a traced tensor (an unknown class dimension).

    Example:
        >>> labels = ops.convert_to_tensor([-1, 0, 2, 2**32], "int64")
        >>> ops.convert_to_numpy(label_in_range(labels, 3))
        array([False,  True,  True, False])
    """
    return ops.logical_and(labels >= 0, labels < ops.cast(num_classes, labels.dtype))


def check_label_smoothing(label_smoothing: float | None) -> float | None:
    """``label_smoothing``; ValueError unless it is a number (or None, read as 0, as in Keras).

    Any number is accepted, as Keras 3.15.1 accepts it: outside [0, 1] the smoothed targets
    ``t * (1 - s) + s / k`` leave [0, 1] (and the loss may be negative), which is the formula.
    """
    if label_smoothing is not None and not isinstance(label_smoothing, numbers.Real):
        raise ValueError(f"label_smoothing must be a number, got {label_smoothing!r}")
    return label_smoothing


def check_axis(axis: int) -> int:
    """``axis``; ValueError unless it is an int (not a bool): a class axis (sparse labels)."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"axis must be an int, got {axis!r} of type {type(axis).__name__}")
    return axis


def check_delta(delta: float) -> float:
    """``delta``; ValueError unless a numeric ``delta`` is >= 0 (tensors are not checked)."""
    if isinstance(delta, (int, float)) and not delta >= 0:
        raise ValueError(f"delta must be >= 0, got {delta!r}")
    return delta


def check_q(q: float) -> float:
    """``q``; ValueError unless ``0 < q < 1`` (the generalized cross-entropy's noise parameter)."""
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
        raise ValueError(f"q must be a number in the interval (0, 1), got {q!r}")
    return q


#: The axes a loss reduces over: one, several, or None for all of them.
Axes = Union[int, tuple[int, ...], list[int], None]


def check_axes(axis: Axes) -> int | tuple[int, ...] | None:
    """``axis`` as ops.sum takes it (a list, e.g. from a JSON config, becomes a tuple).

    Raises:
        ValueError: unless ``axis`` is an int, None, or a tuple or list of ints (bools refused).

    Example:
        >>> check_axes([1, 2]), check_axes(None), check_axes(-1)
        ((1, 2), None, -1)
    """

    def is_int(a: Any) -> bool:
        return isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_))

    if axis is None or is_int(axis):
        return axis
    if isinstance(axis, (tuple, list)) and all(is_int(a) for a in axis):
        return tuple(int(a) for a in axis)
    raise ValueError(f"axis must be an int, None or a tuple of ints, got {axis!r}")


def axes_size(x: Any, axis: int | tuple[int, ...] | None) -> Any:
    """The number of entries of ``x`` along ``axis`` (all axes for None): a number or a tensor."""
    if axis is None:
        axis = tuple(range(len(x.shape)))
    size = 1
    for a in (axis,) if isinstance(axis, int) else axis:
        size = size * ops.shape(x)[a]
    return size


# ------------------------------------------------------------------------ NaN-preserving clips
# XLA:CPU swallows NaN in a clamp or max that it fuses into a dot: under jit_compile the BCE of a
# NaN probability was 8.41 (clip(NaN) -> 1e-7), not NaN. A select on a comparison keeps NaN
# (every comparison with NaN is false) and has the gradient of ops.clip/ops.maximum (the input's
# where it is kept, 0 where it is replaced). Under XLA it fuses and costs nothing more; outside
# XLA it is 2-4 kernels instead of one (KL divergence eager 2.9x Keras's time, measured), and
# there ops.clip/ops.maximum keep NaN anyway: so the select only under XLA.


def clip(x: Any, low: float, high: float) -> Any:
    """``ops.clip(x, low, high)`` that keeps NaN under every compiler.

    Example:
        >>> ops.convert_to_numpy(clip(ops.convert_to_tensor([float("nan"), -1.0, 2.0]), 0.0, 1.0))
        array([nan,  0.,  1.], dtype=float32)
    """
    if not compiling_with_xla():
        return ops.clip(x, low, high)
    return ops.where(x < low, low, ops.where(x > high, high, x))


def maximum(x: Any, low: float) -> Any:
    """``ops.maximum(x, low)`` for a number ``low``, keeping NaN (see :func:`clip`)."""
    return ops.where(x < low, low, x) if compiling_with_xla() else ops.maximum(x, low)


def minimum(x: Any, high: float) -> Any:
    """``ops.minimum(x, high)`` for a number ``high``, keeping NaN (see :func:`clip`)."""
    return ops.where(x > high, high, x) if compiling_with_xla() else ops.minimum(x, high)


# ------------------------------------------------------------------ logits behind probabilities
def keras_logits(y_pred: Any) -> Any:
    """The logits Keras attaches to sigmoid/softmax outputs (``_keras_logits``), or None.

    On TensorFlow only: Keras's losses there use them (keras/src/backend/tensorflow/nn.py,
    ``_get_logits``), and there the attribute survives tracing. Keras's JAX and torch losses
    ignore it, and on JAX it exists on concrete arrays but not on traced ones (so using it would
    make ``run_eagerly=True`` and jit give different losses): off TensorFlow this returns None.
    """
    if keras.backend.backend() != "tensorflow":
        return None
    return getattr(y_pred, "_keras_logits", None)


def logits_from(
    y_pred: Any, from_logits: bool, op_type: str, loss_name: str = "loss"
) -> tuple[Any, bool]:
    """``(y_pred, from_logits)``, or the logits behind a sigmoid/softmax output and True.

    Keras 3.15.1's ``_get_logits`` on TensorFlow: the attached ``_keras_logits``, else, for a
    graph tensor made by an ``op_type`` op ("Sigmoid" or "Softmax", e.g. ``tf.nn.softmax``
    applied by the user inside ``tf.function``), that op's input. The crossentropy is then taken
    from the logits: exact where the clipped probabilities lose everything (softmax of
    [-30, 10, 40] against class 0: 70 from the logits, 16.12 = -log(1e-7) from probabilities).
    This holds also with ``from_logits=True`` (such an output is not logits: read as logits, the
    CCE above was 1.55), with Keras's warning. Off TensorFlow ``(y_pred, from_logits)`` is
    returned unchanged, as Keras does there.
    """
    logits = keras_logits(y_pred)
    if logits is None and keras.backend.backend() == "tensorflow":
        op = _graph_op(y_pred)
        if op is not None and op.type == op_type and len(op.inputs) == 1:
            logits = op.inputs[0]
    if logits is None:
        return y_pred, from_logits
    if from_logits:  # Keras's words, so that a filter on its warning catches ours too
        warnings.warn(
            f'"`{loss_name}` received `from_logits=True`, but the `output` argument was '
            f"produced by a {op_type} activation and thus does not represent logits. "
            "Was this intended?",
            stacklevel=4,
        )
    return logits, True


def _graph_op(x: Any) -> Any:
    """The op that made a TensorFlow graph tensor, or None (eager tensors, variables, arrays)."""
    if type(x).__name__ in ("EagerTensor", "ResourceVariable", "Variable", "ndarray"):
        return None
    try:
        return x.op
    except AttributeError:  # eager tensors raise "Tensor.op is undefined when eager ..."
        return None


# ------------------------------------------------------------------------------- reductions
# The per-sample mean/sum over the last axis (the measurements: docs/losses.md; the accuracy is
# pinned by tests/test_losses_numerics.py). Under XLA (model.fit, every op on JAX) ops.sum over
# a short last axis compiles into a slow loop and over a long one loses accuracy: a product with
# a ones vector is fast and accurate up to 4096 values per row, and longer rows are summed in
# blocks of 4096. Outside XLA reduce_sum is a tree, accurate and fastest from 16 values per row
# on: a dot only up to 8.
_DOT_MAX_XLA = 4096  # the longest row a dot sums to ~3 eps under XLA (docs/losses.md)
_DOT_MAX = 8  # outside XLA, the longest row a dot sums faster than reduce_sum (docs/losses.md)


def compiling_with_xla() -> bool:
    """Whether the ops being built now run under XLA: always on JAX, under jit_compile on TF."""
    backend = keras.backend.backend()
    if backend == "jax":
        return True
    if backend != "tensorflow":
        return False
    try:  # TensorFlow is already imported here (the backend is TensorFlow)
        from tensorflow.python.framework import ops as tf_ops
        from tensorflow.python.ops import control_flow_util

        return bool(control_flow_util.GraphOrParentsInXlaContext(tf_ops.get_default_graph()))
    except (ImportError, AttributeError):  # a TF without these private helpers: the safe choice
        return True


def last_axis_size(x: Any, axis: int = -1) -> int | None:
    """The static size of ``axis`` if it is ``x``'s last axis and not 0, else None (or unknown)."""
    rank = len(x.shape)
    if rank == 0 or axis not in (-1, rank - 1):
        return None
    return x.shape[-1] or None  # an empty axis: ops.sum/ops.mean say what it gives (0, NaN)


def sum_last_axis(x: Any, axis: int = -1) -> Any:
    """``ops.sum(x, axis)``, fast and accurate for short and long rows (see the notes above).

    Falls back to ``ops.sum`` for another axis or an unknown (None) or empty last dimension; a
    last axis of size 1 is squeezed (exact). NaN and inf propagate as in ``ops.sum``.

    Example:
        >>> ops.convert_to_numpy(sum_last_axis(ops.convert_to_tensor([[1.0, 2.0, 4.0]])))
        array([7.], dtype=float32)
    """
    size = last_axis_size(x, axis)
    if size is None:
        return ops.sum(x, axis=axis)
    if size == 1:
        return ops.squeeze(x, axis=-1)
    xla = compiling_with_xla()
    if size <= (_DOT_MAX_XLA if xla else _DOT_MAX):
        return ops.matmul(x, ops.ones((size,), dtype=x.dtype))
    if not xla:
        return ops.sum(x, axis=-1)
    return _blocked_sum(x)


def _blocked_sum(x: Any) -> Any:
    """Sum of a long last axis under XLA: rows of 4096 summed by a dot, then their sums alike.

    Error: that of two dots of <= 4096 terms (about 3 eps each, measured) instead of one long
    accumulation; a tail of fewer than 4096 values is summed on its own and added.
    """
    size = x.shape[-1]
    if size <= _DOT_MAX_XLA:
        return ops.matmul(x, ops.ones((size,), dtype=x.dtype))
    rows, tail = divmod(size, _DOT_MAX_XLA)
    head = x if tail == 0 else x[..., : rows * _DOT_MAX_XLA]
    blocks = ops.reshape(head, tuple(ops.shape(x)[:-1]) + (rows, _DOT_MAX_XLA))
    total = _blocked_sum(ops.matmul(blocks, ops.ones((_DOT_MAX_XLA,), dtype=x.dtype)))
    return total if tail == 0 else total + _blocked_sum(x[..., rows * _DOT_MAX_XLA :])


def mean_last_axis(x: Any, axis: int = -1) -> Any:
    """``ops.mean(x, axis)``: :func:`sum_last_axis` divided by the size k, as ops.mean does.

    Example:
        >>> ops.convert_to_numpy(mean_last_axis(ops.convert_to_tensor([[1.0, 2.0, 4.0, 5.0]])))
        array([3.], dtype=float32)
    """
    size = last_axis_size(x, axis)
    if size is None:
        return ops.mean(x, axis=axis)
    total = sum_last_axis(x, axis)  # a size of 1: squeezed, exact
    return total if size == 1 else total / size
