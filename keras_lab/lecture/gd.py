"""The lecture's gradient descent without state: batching, the epoch's order, the schedules.

The lecture's equations (1)-(3) are one update rule applied to different slices of data:

    batch GD         theta <- theta - eta * grad J(theta; x, y)                  (1)
    stochastic GD    theta <- theta - eta * grad J(theta; x^(i), y^(i))          (2)
    mini-batch GD    theta <- theta - eta * grad J(theta; x^(i:i+n), y^(i:i+n))  (3)

so the variants differ only in the batch size (n, 1 or b: :func:`variant_batch_size`), and
one loop (:class:`keras_lab.engine.loop.GradientDescent`) runs all three. This module holds what
that loop computes from plain numbers:

- :func:`batching`: how an epoch of n samples is cut into batches (the last one smaller,
  as model.fit keeps it, unless dropped);
- :func:`epoch_order`: the order in which an epoch visits the samples ("we shuffle the
  training data at every epoch"), a pure function of (seed, epoch) in integer arithmetic
  (:mod:`keras_lab.lecture.order`, whose numpy :func:`epoch_orders` is the reference), computed
  inside the compiled loop entry by entry. Every mode (XLA or not, one device or
  replicas, K starts, a resumed run) computes the same integers, so the same seed visits
  the samples in the same order everywhere;
- :func:`learning_rate_at`: eta at an update, for the schedules of keras.optimizers
  (:func:`learning_rates`: at every update of a chunk of the compiled loop).

The vocabulary (:data:`VARIANTS`, :data:`SCHEDULES`) needs no TensorFlow, so that
:mod:`keras_lab.config` re-exports it before the slow import: the functions that compute
with tensors import TensorFlow themselves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from keras_lab import checks
from keras_lab.lecture import order
from keras_lab.lecture.order import epoch_orders

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "SCHEDULES",
    "VARIANTS",
    "batching",
    "epoch_order",
    "epoch_orders",
    "learning_rate_at",
    "learning_rates",
    "variant_batch_size",
]

#: The three variants of the lecture and how each picks its batch size.
VARIANTS: tuple[str, ...] = ("batch", "sgd", "minibatch")
#: Learning-rate schedules, by their number in the compiled loop.
SCHEDULES: tuple[str, ...] = ("constant", "exponential", "inverse_time")


def variant_batch_size(variant: str, num_samples: int, batch_size: int | None = None) -> int:
    """The batch size that makes each variant: n (batch), 1 (sgd), b (minibatch; 32 when
    not given, at most n: Keras's default batch size).

    Example:
        >>> [variant_batch_size(v, 9, 4) for v in VARIANTS]
        [9, 1, 4]
    """
    checks.one_of("variant", variant, VARIANTS)
    if variant == "batch":
        return num_samples
    if variant == "sgd":
        return 1
    return min(32, num_samples) if batch_size is None else batch_size


def batching(num_samples: int, batch_size: int, drop_remainder: bool) -> tuple[int, int, int, int]:
    """(batch_size, full batches, remainder, steps per epoch) of an epoch over num_samples.

    Example:
        >>> batching(9, 4, drop_remainder=False), batching(9, 4, drop_remainder=True)
        ((4, 2, 1, 3), (4, 2, 0, 2))
    """
    if num_samples < 1:
        raise ValueError("the training set is empty")
    checks.integer("batch_size", batch_size)
    if not 1 <= batch_size <= num_samples:
        raise ValueError(
            f"batch_size must be between 1 and the {num_samples} samples, got {batch_size}"
        )
    num_full_batches, remainder = divmod(num_samples, int(batch_size))
    if drop_remainder:
        remainder = 0
    return int(batch_size), num_full_batches, remainder, num_full_batches + (1 if remainder else 0)


def epoch_order(
    num_samples: int, seed: tf.Tensor, epoch: tf.Tensor, positions: tf.Tensor
) -> tf.Tensor:
    """Entries ``positions`` of epoch ``epoch``'s visiting order (:func:`order.epoch_order`).

    The order is a bijection computed entry by entry (a Feistel network, cycle-walked
    into [0, n)), so a step computes just its batch's sample indices: no order of the
    whole epoch is made or kept. ``seed`` is an int64 scalar, or a vector of K seeds (one
    order per seed: the result has shape (K, len(positions))); ``epoch`` an integer
    scalar; ``num_samples`` a Python int. Integer arithmetic only, so the entries are
    bit-identical to the numpy reference in eager, tf.function and XLA, on any device
    and under any strategy. int32.

    Example:
        >>> import tensorflow as tf
        >>> epoch_order(9, tf.constant(0, tf.int64), 0, tf.range(9)).numpy().tolist()
        [8, 6, 5, 1, 3, 2, 7, 4, 0]
        >>> order.epoch_order(9, seed=0, epoch=0).tolist()
        [8, 6, 5, 1, 3, 2, 7, 4, 0]
    """
    import tensorflow as tf

    return order_entries(num_samples, epoch_keys(seed, tf.reshape(epoch, [1]))[0], positions)


def epoch_keys(seed: tf.Tensor, epochs: tf.Tensor) -> tf.Tensor:
    """The Feistel round keys of the orders of ``epochs`` (a vector), uint32 of shape
    (epochs, ROUNDS), or (epochs, K, ROUNDS) for a vector of K seeds."""
    import tensorflow as tf

    seed = tf.cast(seed, tf.int64)
    epochs = tf.reshape(tf.cast(epochs, tf.int64), [-1] + [1] * seed.shape.rank)
    keys = order.round_keys(_uint32(seed), _uint32(tf.bitwise.right_shift(seed, 32)),
                            _uint32(epochs))  # fmt: skip
    return tf.stack(keys, axis=-1)


def order_entries(num_samples: int, keys: tf.Tensor, positions: tf.Tensor) -> tf.Tensor:
    """Entries ``positions`` (a vector) of the orders whose round keys are ``keys``, of
    shape (..., ROUNDS): the result has shape (..., len(positions)), one row per order."""
    import tensorflow as tf

    n = int(num_samples)
    # expand_dims, not keys[..., r, None]: in the loop's graph (no XLA), TF 2.21 ran that
    # slice with shape (E,) instead of (E, 1) (an "Incompatible shapes" error; not reduced)
    columns = [tf.expand_dims(tf.gather(keys, r, axis=-1), -1) for r in range(order.ROUNDS)]
    f = functools.partial(order.feistel, num_samples=n, keys=columns, where=tf.where)
    shape = tf.concat([tf.shape(keys)[:-1], tf.shape(positions)], 0)  # (..., positions)
    visit = tf.broadcast_to(tf.cast(positions, tf.uint32), shape)
    a, b = order.grid(n)
    if a * b == n:  # static: the grid is [0, n)
        return tf.cast(f(visit), tf.int32)
    # A few values of the grid lie outside [0, n): walk on from them. f is applied to
    # every entry first, then again to those outside; one f in the graph (traced once).
    _, visit = tf.while_loop(
        lambda first, v: tf.logical_or(first, tf.reduce_any(v >= n)),
        lambda first, v: (tf.constant(False), tf.where(first | (v >= n), f(v), v)),
        (tf.constant(True), visit),
    )
    return tf.cast(visit, tf.int32)


def _uint32(value: tf.Tensor) -> tf.Tensor:
    """An integer tensor mod 2^32, as uint32 (the low 32 bits)."""
    import tensorflow as tf

    low = tf.bitwise.bitwise_and(tf.cast(value, tf.int64), tf.constant(0xFFFFFFFF, tf.int64))
    return tf.cast(low, tf.uint32)


def learning_rate_at(
    step: tf.Tensor,
    initial_learning_rate: tf.Tensor,
    schedule: tf.Tensor,
    decay_rate: tf.Tensor,
    decay_steps: tf.Tensor,
) -> tf.Tensor:
    """eta(step) for schedule 0 (constant), 1 (exponential) or 2 (inverse time).

    The same formulas as keras.optimizers.schedules (``staircase=False``), in the dtype of
    ``initial_learning_rate`` (the loop uses the model's) from the numbers given (Keras
    3.15.1's schedules cast a Python float decay_rate through float32 first: equal to ours
    in float64 when given numpy float64 numbers; tests/test_gd_fit_fuzz.py):

        constant      eta_0
        exponential   eta_0 * decay_rate ** (step / decay_steps)
        inverse_time  eta_0 / (1 + decay_rate * step / decay_steps)

    Example:
        >>> import tensorflow as tf
        >>> f64 = lambda v: tf.constant(v, tf.float64)
        >>> [round(float(learning_rate_at(f64(10), f64(0.1), k, f64(0.5), f64(10))), 6)
        ...  for k in (0, 1, 2)]
        [0.1, 0.05, 0.066667]
    """
    import tensorflow as tf

    eta_0 = tf.convert_to_tensor(initial_learning_rate)
    progress = tf.cast(step, eta_0.dtype) / tf.cast(decay_steps, eta_0.dtype)
    decay_rate = tf.cast(decay_rate, eta_0.dtype)
    exponential = eta_0 * tf.pow(decay_rate, progress)
    inverse_time = eta_0 / (1.0 + decay_rate * progress)
    # All three are a handful of scalar flops: select, rather than branch, so that the
    # schedule is a run-time number and XLA sees no control flow.
    schedule = tf.convert_to_tensor(schedule)
    return tf.where(schedule == 0, eta_0, tf.where(schedule == 1, exponential, inverse_time))


def learning_rates(
    first_step: tf.Tensor, num_steps: int, numbers: tuple, table: bool
) -> Callable[[tf.Tensor], tf.Tensor]:
    """eta at update ``first_step + t`` of a chunk of at most ``num_steps`` updates, as a
    function of t; ``numbers``: :func:`learning_rate_at`'s (eta_0, schedule, rate, steps).

    ``table`` (under XLA): a table made before the chunk's loop, one gather a step (a
    constant schedule fills it). XLA computes the table's powers as its scalar ones, bit
    for bit; TensorFlow's vectorised Pow does not always (1 ulp), so without XLA eta is
    computed at every step, as Keras's schedule computes it.
    """
    import tensorflow as tf

    steps = lambda t: first_step + tf.cast(t, tf.int64)  # noqa: E731
    if not table:
        return lambda t: learning_rate_at(steps(t), *numbers)
    rates = tf.cond(
        numbers[1] == 0,
        lambda: tf.fill([num_steps], numbers[0]),
        lambda: learning_rate_at(steps(tf.range(num_steps)), *numbers),
    )
    return lambda t: tf.gather(rates, t)


def schedule_id(schedule: str) -> int:
    """The number of a schedule name in the compiled loop (its index in SCHEDULES)."""
    checks.one_of("learning-rate schedule", schedule, SCHEDULES)
    return SCHEDULES.index(schedule)
