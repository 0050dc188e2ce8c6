"""Where the loop's batches come from: the contract, and the batches of tensors in memory.

A batch source (:class:`BatchSource`) hands :class:`~keras_lab.engine.loop.GradientDescent`
a chunk of epochs at a time and folds the loop's update over the chunk's batches, inside
the loop's compiled function. Two sources implement it: :class:`InMemoryBatches` and
:class:`keras_lab.engine.stream.StreamedBatches` (TFRecord shards through tf.data).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import numpy as np
import tensorflow as tf

from keras_lab import checks
from keras_lab.lecture.gd import (
    batching,
    epoch_keys,
    learning_rate_at,
    learning_rates,
    order_entries,
)

#: Epochs per compiled call at most; longer runs are cut into calls of at most this many
#: (2048: the lecture's 2000-epoch run is one call; each call costs ~0.2 ms of TF overhead).
LOG_CAPACITY = 2048

#: In memory, a chunk's orders (shuffled) and its learning rates (one a step) are tables
#: made at its start: epochs per call are cut so that each table has at most this many
#: entries (or one epoch's), a few milliseconds' worth.
ORDER_ENTRIES = 2**16

#: ``update(x_batch, y_batch, epoch, batch, carry) -> carry``: one step of the loop.
Update = Callable[[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, dict], dict]


class BatchSource(Protocol):
    """What the loop needs of a source of batches (Keras's data adapters play this part).

    Attributes: ``num_samples``, ``batch_size``, ``steps_per_epoch`` (updates an epoch);
    ``capacity``: epochs per compiled call at most; ``input_signature``: the specs of
    :meth:`chunk`'s inputs (fixed shapes: the loop is traced once), or None (traced per
    input type, e.g. a dataset); ``autograph``: whether :meth:`fold` needs AutoGraph (a
    Python ``for`` over a dataset) or is written with ``tf.while_loop``.
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


def running(carry: dict) -> tf.Tensor:
    """Whether any start (the one run) has not failed yet."""
    return tf.reduce_any(carry["failed"] < 0)


class InMemoryBatches:
    """Batches of tensors in memory, visited in the orders of
    :func:`keras_lab.lecture.gd.epoch_order`.

    Shuffle off: contiguous rows. Shuffle on: the orders of a chunk's epochs are computed
    inside the compiled function, at the chunk's start, from (seed, epoch) (integer
    arithmetic, the same in every mode), and each batch is gathered by its indices.
    ``seed`` is one shuffling seed, or one per start (K starts then visit the samples in K
    orders, and a batch has shape (K, batch, features)).

    A chunk of epochs is one flat loop over all of its steps (not a loop over epochs
    around a loop over batches): XLA:CPU compiles a loop whose state is small into one
    function, and only the flat loop stays that small.
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


class CompiledChunks:
    """The loop's bookkeeping around its train step (the base of
    :class:`~keras_lab.engine.loop.GradientDescent`): a chunk of epochs in one compiled call.

    The weights are read once, carried through the chunk's steps as one flat tensor theta,
    and written back once; the step counter, the epochs completed and the samples seen are
    derived from the step's index in the chunk (XLA:CPU compiles a loop whose per-step
    state is small into one function). Per-epoch numbers go into one fixed-size
    TensorArray, one row an epoch: [loss (K), learning rate, gradient norm (K)].
    """

    def _non_trainable(self) -> list[tf.Tensor]:
        return [tf.convert_to_tensor(v) for v in self.model.non_trainable_variables]

    def _flatten(self, weights: Sequence[tf.Tensor]) -> tf.Tensor:
        """The weights as one vector (K starts: one row per start)."""
        lead = [self.num_starts] if self.num_starts else []
        return tf.concat([tf.reshape(w, [*lead, -1]) for w in weights], axis=-1)

    def _unflatten(self, theta: tf.Tensor) -> list[tf.Tensor]:
        """The model's weights, shaped, from the flat vector."""
        variables = self.model.trainable_variables
        sizes = [int(np.prod(v.shape[1:] if self.num_starts else v.shape)) for v in variables]
        parts = tf.split(theta, sizes, axis=-1)
        return [tf.reshape(p, v.shape) for p, v in zip(parts, variables)]

    def _learning_rate(self, step: tf.Tensor) -> tf.Tensor:
        """eta at update ``step``, from the numbers read by _read_state."""
        return learning_rate_at(step, *self._schedule)

    def _read_state(self) -> dict:
        """The loop's state as tensors (read once per chunk), with the epoch's sums at 0."""
        self._schedule = (  # eta_0, schedule, rate, decay steps in the model's dtype
            tf.cast(self.learning_rate, self.dtype),
            tf.convert_to_tensor(self.schedule),
            tf.cast(self.decay_rate, self.dtype),
            tf.cast(self.decay_steps, self.dtype),
        )
        return {
            "theta": self._flatten(self.model.trainable_variables),
            "failed": tf.convert_to_tensor(self.failed_step),
            "sums": tf.zeros([2, *self._loss_shape], self.dtype),
        }

    def _write_state(self, carry: dict, steps: tf.Tensor) -> None:
        """The carried weights and the failure back into the variables; ``steps`` updates
        more (a failed step is not one)."""
        for variable, value in zip(self.model.trainable_variables, self._unflatten(carry["theta"])):
            variable.assign(value)
        self.failed_step.assign(carry["failed"])
        self.step.assign_add(tf.cast(steps, tf.int64))

    def _chunk(self, *inputs: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """Up to a chunk's epochs in one call: (the log, epochs completed, failed step(s))."""
        row_size = 2 * (self.num_starts or 1) + 1
        first_step = tf.convert_to_tensor(self.step)  # read once; each step adds its index
        first_epoch = tf.convert_to_tensor(self.epoch)
        carry = {
            **self._read_state(),
            "log": tf.TensorArray(self.dtype, size=self.batches.capacity, element_shape=[row_size]),
            "steps": tf.constant(0),  # steps run in this chunk
        }
        num_steps = self.batches.capacity * self.steps_per_epoch
        rates = learning_rates(first_step, num_steps, self._schedule, self._whole_chunk_xla)
        update = functools.partial(self._update, first_step, rates)
        carry = self.batches.fold(inputs, update, carry, first_epoch, self._whole_chunk_xla)
        # Every step ran to the end of the chunk, or the last one failed (and counts not),
        # or none ran (the loop had failed before).
        steps = carry["steps"]
        applied = tf.where(running(carry), steps, tf.maximum(steps - 1, 0))
        completed = applied // self.steps_per_epoch
        self._write_state(carry, applied)
        self.epoch.assign_add(tf.cast(completed, tf.int64))
        return carry["log"].stack(), completed, carry["failed"]

    def _update(self, first_step, learning_rate, x_batch, y_batch, epoch, batch, carry) -> dict:
        """One step of the chunk (which began at update ``first_step``; ``learning_rate(t)``
        is eta at its t-th step): batch ``batch`` of its epoch ``epoch``. The epoch's sums
        start at its first batch; its log row is written at every step (the last write is
        the epoch's: loss weighted by batch size, eta at its last step, mean gradient norm).
        """
        sums = tf.where(batch == 0, tf.zeros_like(carry["sums"]), carry["sums"])
        step = first_step + tf.cast(carry["steps"], tf.int64)
        eta = learning_rate(carry["steps"])
        state = self.train_step(x_batch, y_batch, step, {**carry, "sums": sums}, eta)
        seen = tf.cast(batch * self.batches.batch_size + tf.shape(x_batch)[-2], self.dtype)
        loss_sum, norm_sum = tf.unstack(state["sums"])
        row = [loss_sum / seen, eta, norm_sum / tf.cast(batch + 1, self.dtype)]
        log = carry["log"].write(epoch, tf.concat([tf.reshape(v, [-1]) for v in row], 0))
        return {**state, "log": log, "steps": carry["steps"] + 1}

    def _chunk_function(self, inputs: tuple) -> Callable:
        """The compiled loop; with fixed input shapes its concrete function, called directly
        (~0.1 ms less per call than through tf.function's argument binding)."""
        if self.batches.input_signature is None:
            return self._run_chunk
        if self._concrete is None:
            self._concrete = self._run_chunk.get_concrete_function(*inputs)
        return self._concrete

    def concrete_function(self) -> tf.types.experimental.ConcreteFunction:
        """The compiled loop's graph (traced now if it has not been yet; never retraced)."""
        inputs, _ = self.batches.chunk(self.epoch, 1)
        return self._run_chunk.get_concrete_function(*inputs)

    @property
    def tracing_count(self) -> int:
        """How often the compiled loop was traced (1 after the first run, and stays 1)."""
        return self._run_chunk.experimental_get_tracing_count()

    def gradients(self) -> list[np.ndarray]:
        """The gradient of the loss at the current weights, one array per weight, over the
        first evaluation batch (what TensorBoard's gradient histograms show)."""
        x, y = next(iter(self.batches.evaluation_batches()))
        return [g.numpy() for g in self._gradient_at_weights(x, y)]

    def _weights_gradient(self, x: tf.Tensor, y: tf.Tensor) -> list[tf.Tensor]:
        theta = self._flatten(self.model.trainable_variables)
        _, grads = self._gradient(theta, x, y, tf.shape(x)[-2])
        return self._unflatten(grads)


@functools.lru_cache(maxsize=64)
def _int32(value: int) -> tf.Tensor:
    """A scalar int32 tensor, made once per value (a chunk's epochs: the same few)."""
    return tf.constant(value, tf.int32)
