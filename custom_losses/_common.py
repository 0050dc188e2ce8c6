"""Shared input handling for every loss: convert, cast, align, check, and the float16 rule.

Each loss function starts with ``y_true, y_pred, dtype = prepare(y_true, y_pred)`` and ends with
``ops.cast(loss, dtype)``. In between it computes in float32 or float64, never in half precision,
and reduces over the sample's last axis with :func:`sum_last_axis` / :func:`mean_last_axis`.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

#: Anything ``keras.ops.convert_to_tensor`` accepts: a backend tensor, a numpy array, a list.
TensorLike = Any

#: Half-precision dtypes: losses are computed in float32 and cast back to these.
HALF_DTYPES = ("float16", "bfloat16")


def compute_dtype(dtype: str) -> str:
    """The dtype a loss computes in: float32 for float16/bfloat16 inputs, else the input's."""
    return "float32" if dtype in HALF_DTYPES else dtype


def prediction(y_pred: TensorLike) -> tuple[Any, str]:
    """``y_pred`` as a float tensor in its compute dtype, and the dtype the loss returns.

    Non-float predictions are cast to ``keras.backend.floatx()``, as ``keras.losses.Loss`` does.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    dtype = keras.backend.standardize_dtype(y_pred.dtype)
    if not keras.backend.is_float_dtype(dtype):
        dtype = keras.backend.floatx()
    return ops.cast(y_pred, compute_dtype(dtype)), dtype


def prepare(y_true: TensorLike, y_pred: TensorLike, broadcast: bool = True) -> tuple[Any, Any, str]:
    """Convert, cast and align ``(y_true, y_pred)``; return them and the result dtype.

    Raises:
        ValueError: if the two shapes cannot be aligned (see :func:`align`).
    """
    y_pred, dtype = prediction(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    y_true, y_pred = align(y_true, y_pred, broadcast)
    return y_true, y_pred, dtype


def align(y_true: Any, y_pred: Any, broadcast: bool = True) -> tuple[Any, Any]:
    """Keras's rank alignment, then a check that the shapes agree.

    (N,) against (N, 1) becomes (N, 1) against (N, 1), exactly as
    ``keras.src.losses.loss.squeeze_or_expand_to_same_rank`` (Keras 3.15.1) does it. Then the
    ranks must be equal and every dimension equal or unknown; with ``broadcast`` a dimension of 1
    also matches any other (Keras's regression losses broadcast, its crossentropies do not).

    Raises:
        ValueError: naming both shapes, if the ranks still differ or a dimension disagrees.
    """
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    if not _compatible(tuple(y_true.shape), tuple(y_pred.shape), broadcast):
        raise ValueError(
            f"y_true and y_pred must have the same shape{' (or 1)' if broadcast else ''}, "
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
    if len(shape1) != len(shape2):
        return False
    ones = (1,) if broadcast else ()
    return all(
        a is None or b is None or a == b or a in ones or b in ones for a, b in zip(shape1, shape2)
    )


def check_label_smoothing(label_smoothing: float) -> None:
    """Raise ValueError unless ``0 <= label_smoothing <= 1``."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")


def check_axis(axis: int) -> None:
    """Raise ValueError unless ``axis`` is an int (not a bool), as Keras checks for crossentropy."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"axis must be an int, got {axis!r} of type {type(axis).__name__}")


def keras_logits(y_pred: Any) -> Any:
    """The logits Keras attaches to sigmoid/softmax outputs (``_keras_logits``), or None.

    Keras's crossentropy uses them instead of the probabilities, so a model ending in a sigmoid or
    softmax trains on the exact log-probabilities; we do the same to train to the same weights.
    """
    return getattr(y_pred, "_keras_logits", None)


# ------------------------------------------------------------------------------ reductions
# Why a matrix product and not ops.sum/ops.mean: XLA:CPU (TensorFlow 2.21), which model.fit uses
# (Keras 3 compiles with XLA by default on CPU), emits a slow loop for a reduction over the last
# axis, several times the time of reading the inputs: mean(abs(t - p)) over 2**24 float32 values
# takes 75.8 ms against a 10.2 ms memory floor. A product with a vector of ones is a dot, which
# XLA emits as a fast kernel: the same loss takes 11.8 ms. Eager and in tf.function the product
# costs what reduce_mean costs (measured: docs/bench.md, "W3"). The sum order of a dot is the
# BLAS kernel's, so values can differ from ops.sum/ops.mean in the last bits for more than 2
# values per sample (at most (k - 1) * eps * sum(|x|): tests/test_losses_parity.py).


def last_axis_size(x: Any, axis: int = -1) -> int | None:
    """The static size of ``axis`` if it is ``x``'s last axis and not 0, else None (or unknown)."""
    rank = len(x.shape)
    if rank == 0 or axis not in (-1, rank - 1):
        return None
    return x.shape[-1] or None  # an empty axis: ops.sum/ops.mean say what it gives (0, NaN)


def sum_last_axis(x: Any, axis: int = -1) -> Any:
    """``ops.sum(x, axis)``, as a product with a ones vector when ``axis`` is the last axis.

    Falls back to ``ops.sum`` for another axis or an unknown (None) or empty last dimension; a
    last axis of size 1 is squeezed (exact).

    Example:
        >>> ops.convert_to_numpy(sum_last_axis(ops.convert_to_tensor([[1.0, 2.0, 4.0]])))
        array([7.], dtype=float32)
    """
    size = last_axis_size(x, axis)
    if size is None:
        return ops.sum(x, axis=axis)
    if size == 1:
        return ops.squeeze(x, axis=-1)
    return ops.matmul(x, ops.ones((size,), dtype=x.dtype))


def mean_last_axis(x: Any, axis: int = -1) -> Any:
    """``ops.mean(x, axis)``, as a product with a constant vector when ``axis`` is the last axis.

    The mean is the sum divided by the size k, as ops.mean computes it. For k a power of two the
    1/k goes into the vector instead (one kernel less): scaling by a power of two is exact, so the
    value is the same (barring results below float's smallest normal number, ~1e-38 in float32,
    which TensorFlow flushes to 0). Falls back to ``ops.mean`` for another axis or an unknown or
    empty last dimension; a last axis of size 1 is squeezed (exact).

    Example:
        >>> ops.convert_to_numpy(mean_last_axis(ops.convert_to_tensor([[1.0, 2.0, 4.0, 5.0]])))
        array([3.], dtype=float32)
    """
    size = last_axis_size(x, axis)
    if size is None:
        return ops.mean(x, axis=axis)
    if size == 1:
        return ops.squeeze(x, axis=-1)
    if size & (size - 1) == 0:  # a power of two: 1/size is exact
        return ops.matmul(x, ops.full((size,), 1.0 / size, dtype=x.dtype))
    return ops.matmul(x, ops.ones((size,), dtype=x.dtype)) / size
