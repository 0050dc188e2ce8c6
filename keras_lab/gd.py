"""The lecture's gradient descent without state: batching, the epoch's order, the schedules.

The lecture's equations (1)-(3) are one update rule applied to different slices of data:

    batch GD         theta <- theta - eta * grad J(theta; x, y)                  (1)
    stochastic GD    theta <- theta - eta * grad J(theta; x^(i), y^(i))          (2)
    mini-batch GD    theta <- theta - eta * grad J(theta; x^(i:i+n), y^(i:i+n))  (3)

so the variants differ only in the batch size (n, 1 or b: :func:`variant_batch_size`), and
one loop (:class:`keras_lab.loop.GradientDescent`) runs all three. This module holds what
that loop computes from plain numbers:

- :func:`batching`: how an epoch of n samples is cut into batches (the last one smaller,
  as model.fit keeps it, unless dropped);
- :func:`epoch_orders`: the order in which an epoch visits the samples ("we shuffle the
  training data at every epoch"), a pure function of (seed, epoch), made in numpy on the
  host. Every mode (XLA or not, one device or replicas, K starts, a resumed run) receives
  the same integers, so the same seed visits the samples in the same order everywhere;
- :func:`learning_rate_at`: eta at an update, for the schedules of keras.optimizers.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_lab import checks
from keras_lab.config import SCHEDULES, VARIANTS, variant_batch_size

__all__ = [
    "SCHEDULES",
    "VARIANTS",
    "batching",
    "epoch_orders",
    "learning_rate_at",
    "orders_block_size",
    "variant_batch_size",
]


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


def orders_block_size(num_samples: int) -> int:
    """Epochs whose orders are drawn together: at most 256, and at most ~2^20 indices a block."""
    return max(1, min(256, 2**20 // num_samples))


def _block_orders(num_samples: int, seed: int, block: int) -> np.ndarray:
    """The orders of the epochs of block ``block``: one seeded draw, one row per epoch."""
    rng = np.random.default_rng([seed, block])
    rows = orders_block_size(num_samples)
    return rng.permuted(
        np.broadcast_to(np.arange(num_samples, dtype=np.int32), (rows, num_samples)), axis=1
    )


def epoch_orders(num_samples: int, seed: int, first_epoch: int, num_epochs: int) -> np.ndarray:
    """The visiting orders of epochs first_epoch .. first_epoch + num_epochs - 1, (epochs, n).

    Epoch e's order is row e mod B of the block of B = :func:`orders_block_size` (n) epochs
    that numpy's generator seeded by (seed, e // B) shuffles at once (``Generator.permuted``,
    a Fisher-Yates shuffle of each row). A pure function of (n, seed, e): any cut of a run
    into calls, and a resumed run, see the same orders. int32.

    Example:
        >>> orders = epoch_orders(5, seed=0, first_epoch=0, num_epochs=3)
        >>> orders.shape, [sorted(row) == [0, 1, 2, 3, 4] for row in orders.tolist()]
        ((3, 5), [True, True, True])
        >>> bool((epoch_orders(5, 0, 2, 1)[0] == orders[2]).all())
        True
    """
    checks.integer("seed", seed, minimum=0)
    block = orders_block_size(num_samples)
    out = np.empty((num_epochs, num_samples), np.int32)
    epoch, row = first_epoch, 0
    while row < num_epochs:
        index, offset = divmod(epoch, block)
        take = min(block - offset, num_epochs - row)
        out[row : row + take] = _block_orders(num_samples, seed, index)[offset : offset + take]
        epoch, row = epoch + take, row + take
    return out


def learning_rate_at(
    step: tf.Tensor,
    initial_learning_rate: tf.Tensor,
    schedule: tf.Tensor,
    decay_rate: tf.Tensor,
    decay_steps: tf.Tensor,
) -> tf.Tensor:
    """eta(step) for schedule 0 (constant), 1 (exponential) or 2 (inverse time).

    The same formulas as keras.optimizers.schedules (``staircase=False``), in the dtype of
    ``initial_learning_rate`` (the loop uses the model's):

        constant      eta_0
        exponential   eta_0 * decay_rate ** (step / decay_steps)
        inverse_time  eta_0 / (1 + decay_rate * step / decay_steps)

    Example:
        >>> f64 = lambda v: tf.constant(v, tf.float64)
        >>> [round(float(learning_rate_at(f64(10), f64(0.1), k, f64(0.5), f64(10))), 6)
        ...  for k in (0, 1, 2)]
        [0.1, 0.05, 0.066667]
    """
    eta_0 = tf.convert_to_tensor(initial_learning_rate)
    progress = tf.cast(step, eta_0.dtype) / tf.cast(decay_steps, eta_0.dtype)
    decay_rate = tf.cast(decay_rate, eta_0.dtype)
    exponential = eta_0 * tf.pow(decay_rate, progress)
    inverse_time = eta_0 / (1.0 + decay_rate * progress)
    # All three are a handful of scalar flops: select, rather than branch, so that the
    # schedule is a run-time number and XLA sees no control flow.
    schedule = tf.convert_to_tensor(schedule)
    return tf.where(schedule == 0, eta_0, tf.where(schedule == 1, exponential, inverse_time))


def schedule_id(schedule: str) -> int:
    """The number of a schedule name in the compiled loop (its index in SCHEDULES)."""
    checks.one_of("learning-rate schedule", schedule, SCHEDULES)
    return SCHEDULES.index(schedule)
