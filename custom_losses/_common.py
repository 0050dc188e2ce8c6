"""Shared input handling for every loss: convert, cast, align, check, and the float16 rule.

Each loss function starts with ``y_true, y_pred, dtype = prepare(y_true, y_pred)`` and ends with
``ops.cast(loss, dtype)``. In between it computes in float32 or float64, never in half precision.
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
