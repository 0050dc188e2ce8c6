"""Where the loop's batches come from: the contract, and the batches of tensors in memory.

A batch source (:class:`BatchSource`) hands :class:`~keras_lab.engine.loop.GradientDescent`
a chunk of epochs at a time, folds the loop's update over the chunk's batches inside the
loop's compiled function, and sums the loss over the whole set. Two sources implement it:
:class:`InMemoryBatches` and :class:`keras_lab.engine.stream.StreamedBatches` (TFRecord
shards through tf.data).
"""

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import numpy as np
import tensorflow as tf

from keras_lab import checks
from keras_lab.lecture.gd import batching, epoch_keys, order_entries

#: Epochs per compiled call at most; longer runs are cut into calls of at most this many
#: (2048: the lecture's 2000-epoch run is one call; each call costs ~0.2 ms of TF overhead).
LOG_CAPACITY = 2048

#: In memory, a chunk's orders (shuffled) and its learning rates (one a step) are tables
#: made at its start: epochs per call are cut so that each table has at most this many
#: entries (or one epoch's), a few milliseconds' worth.
ORDER_ENTRIES = 2**16

#: ``update(x_batch, y_batch, epoch, batch, carry) -> carry``: one step of the loop.
Update = Callable[[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, dict], dict]
#: ``losses(x, y)``: one loss per sample (last axis), of the current weights.
Losses = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


class BatchSource(Protocol):
    """What the loop needs of a source of batches (Keras's data adapters play this part).

    ``capacity``: epochs per compiled call at most; ``input_signature``: the specs of
    :meth:`chunk`'s inputs (fixed shapes: traced once), or None (traced per input type, e.g.
    a dataset); ``autograph``: whether :meth:`fold` is a Python ``for`` (over a dataset).
    """

    num_samples: int
    batch_size: int
    steps_per_epoch: int
    capacity: int
    input_signature: tuple[tf.TensorSpec, ...] | None
    autograph: bool

    def chunk(self, epoch: tf.Variable, num_epochs: int) -> tuple[tuple, int]:
        """(inputs of the compiled chunk, epochs it runs) for up to ``num_epochs`` epochs
        from the loop's ``epoch``."""

    def fold(
        self,
        inputs: tuple,
        update: Update,
        carry: dict,
        first_epoch: tf.Tensor,
        static_shapes: bool,
    ) -> dict:
        """Fold ``update`` over the chunk's steps (epoch: its index in the chunk, which begins
        at ``first_epoch``; batch: its index in the epoch), stopping at a failed step
        (:func:`running` false). ``static_shapes``: XLA compiles the chunk whole."""

    def evaluation_batches(self) -> Iterable[tuple[tf.Tensor, tf.Tensor]]:
        """The whole set as (x, y) batches: for the loss and gradient of the current weights."""

    def set_loss(self, losses: Losses, reduction: str) -> tf.Tensor:
        """The whole set's loss in float64: the mean (or, reduction "sum", the sum) of
        ``losses`` over :meth:`evaluation_batches`, summed as this source sums."""


def running(carry: dict) -> tf.Tensor:
    """Whether any start (the one run) has not failed yet."""
    return tf.reduce_any(carry["failed"] < 0)


class InMemoryBatches:
    """Batches of tensors in memory, in the orders of :func:`keras_lab.lecture.gd.epoch_order`.

    Shuffle off: contiguous rows. Shuffle on: a chunk's orders are computed in the compiled
    function at its start, from (seed, epoch), and each batch is gathered by its indices.
    ``seed``: one, or one per start (K orders; batches of shape (K, batch, features)).
    A chunk is one flat loop over all of its steps, not epochs around batches: XLA:CPU
    compiles a loop whose state is small into one function, and only the flat loop is.
    """

    autograph = False  # fold is a tf.while_loop
    input_signature = (tf.TensorSpec([], tf.int32),)  # the chunk's number of epochs

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        seed: int | Sequence[int] = 0,
        drop_remainder: bool = False,
        dtype: tf.DType = tf.float32,
    ) -> None:
        self.x = tf.constant(np.asarray(x), dtype=dtype)
        self.y = tf.constant(np.asarray(y), dtype=dtype)
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"x has {self.x.shape[0]} samples, y has {self.y.shape[0]}")
        self.num_samples = int(self.x.shape[0])
        self.batch_size, self.num_full_batches, self.remainder, self.steps_per_epoch = batching(
            self.num_samples, batch_size, drop_remainder
        )
        self.shuffle = bool(shuffle)
        self.per_start = np.ndim(seed) > 0
        seeds = [checks.integer("seed", s, 0, 2**63 - 1) for s in np.atleast_1d(seed)]
        self.num_starts = len(seeds) if self.per_start else None
        self.seed = tf.constant(seeds if self.per_start else seeds[0], tf.int64)
        # entries an epoch adds to the chunk's tables: orders (shuffled), learning rates
        per_epoch = max(self.num_samples * len(seeds) if self.shuffle else 1, self.steps_per_epoch)
        self.capacity = max(1, min(LOG_CAPACITY, ORDER_ENTRIES // per_epoch))

    def chunk(self, epoch: tf.Variable, num_epochs: int) -> tuple[tuple[tf.Tensor, ...], int]:
        """((epochs,), epochs): the compiled loop reads ``epoch`` itself (from Python, a
        read costs 0.03-0.2 ms a call)."""
        count = min(num_epochs, self.capacity)
        return (_int32(count),), count

    def _orders(self, first_epoch: tf.Tensor) -> tf.Tensor:
        """The orders of the chunk's epochs end to end: (capacity * n,), or (K, capacity * n)
        for K starts (each start its own orders)."""
        epochs = first_epoch + tf.range(self.capacity, dtype=tf.int64)
        orders = order_entries(
            self.num_samples, epoch_keys(self.seed, epochs), tf.range(self.num_samples)
        )  # (capacity, [K,] n)
        if self.per_start:
            return tf.reshape(tf.transpose(orders, [1, 0, 2]), [self.num_starts, -1])
        return tf.reshape(orders, [-1])

    def _batch(self, orders, epoch, first, size: int | tf.Tensor) -> tuple[tf.Tensor, ...]:
        """x, y of entries first .. first + size - 1 of epoch ``epoch``'s order (of the
        chunk's ``orders``; shuffle off: the samples in order)."""
        positions = tf.range(size) + first
        if self.shuffle:  # (size,), or (K, size): each start its own order
            at = epoch * self.num_samples + positions
            positions = tf.gather(orders, at, axis=orders.shape.rank - 1)
        # A gather, not a slice: XLA pads a dynamic slice's operand, and the padded copy
        # makes the loop too big to compile as one call.
        x, y = tf.gather(self.x, positions), tf.gather(self.y, positions)
        if self.num_starts and not self.shuffle:  # every start sees the same batch
            x, y = (
                tf.broadcast_to(t, tf.concat([[self.num_starts], tf.shape(t)], 0)) for t in (x, y)
            )
        return x, y

    def fold(
        self,
        inputs: tuple[tf.Tensor, ...],
        update: Update,
        carry: dict,
        first_epoch: tf.Tensor,
        static_shapes: bool = False,
    ) -> dict:
        """:meth:`BatchSource.fold`. The epoch's last batch may be smaller (as in model.fit):
        with ``static_shapes`` a branch per batch size, each tracing ``update``; otherwise
        one batch of dynamic size (``update`` traced once)."""
        (num_epochs,) = inputs
        bs, steps = self.batch_size, self.steps_per_epoch
        orders = self._orders(first_epoch) if self.shuffle else None  # made once

        def step(t: tf.Tensor, carry: dict) -> tuple[tf.Tensor, dict]:
            epoch, b = t // steps, t % steps

            def batch(size: int | tf.Tensor) -> Callable[[], dict]:
                return lambda: update(*self._batch(orders, epoch, b * bs, size), epoch, b, carry)

            if not self.remainder:  # static: every batch has bs samples
                return t + 1, batch(bs)()
            if static_shapes:
                return t + 1, tf.cond(b < self.num_full_batches, batch(bs), batch(self.remainder))
            return t + 1, batch(tf.where(b < self.num_full_batches, bs, self.remainder))()

        # One while loop, not a for with break: a run stops at its first non-finite step.
        # tf.logical_and: no conditional in the loop test.
        _, carry = tf.while_loop(
            lambda t, carry: tf.logical_and(t < num_epochs * steps, running(carry)),
            step,
            (tf.constant(0), carry),
        )
        return carry

    def evaluation_batches(self) -> list[tuple[tf.Tensor, tf.Tensor]]:
        """The whole training set as one batch."""
        return [(self.x, self.y)]

    def set_loss(self, losses: Losses, reduction: str) -> tf.Tensor:
        """:meth:`BatchSource.set_loss`: one batch, each sample's loss in float64."""
        values = tf.cast(losses(self.x, self.y), tf.float64)
        return (tf.reduce_mean if reduction == "mean" else tf.reduce_sum)(values, axis=-1)


@functools.lru_cache(maxsize=64)
def _int32(value: int) -> tf.Tensor:
    """A scalar int32 tensor, made once per value (a chunk's epochs: the same few)."""
    return tf.constant(value, tf.int32)
