"""The one gradient-descent loop: one train_step, pluggable batches and devices.

:class:`GradientDescent` runs batch, stochastic or mini-batch GD (the variants are batch
sizes, :mod:`keras_lab.lecture.gd`) with two plug points, the Keras trainer's pattern:

- where batches come from: :class:`InMemoryBatches` (tensors in memory, visited in the
  orders of :func:`keras_lab.lecture.gd.epoch_order`) or :class:`keras_lab.stream.StreamedBatches`
  (TFRecord shards through tf.data);
- where gradients are computed: :class:`OneDevice`, or :class:`Replicas` under a
  tf.distribute strategy (each replica its slice of the global batch, then an all-reduce).

One update is always

    loss, grads = devices.run(gradient, x_batch, y_batch)    the only GradientTape
    theta <- theta - eta * grads                               the update rule

and a step whose loss, gradient or new weights are NaN or inf applies nothing and stops
the run at that step.

K starts at once
(:mod:`~keras_lab.experiments.multistart`) are the same loop on a model whose weights
have a leading axis of K independent networks: its loss is then a vector of K losses, the
gradient is taken of their sum (for independent networks, each its own gradient), and
the guard works per start: a start that hits NaN or inf stops, the others go on.

Speed: a whole chunk of epochs runs inside one ``tf.function`` (``jit_compile="loop"``:
one XLA program for all of it, on one device with in-memory data), or the loop stays a TF
graph with each step's forward and backward pass compiled (``"step"``: the only choice
under a strategy, whose collectives XLA does not compile here). Every run-time number
(learning rate, schedule, epochs, orders) is a variable or a tensor argument of fixed
shape, so the loop is traced and compiled once per :class:`GradientDescent`.

Threads: with ``"loop"``, XLA:CPU hands the loop body's independent kernels to
TensorFlow's intra-op thread pool at every step; for steps of ~100 us (a 1-64-64-1 MLP, batch 256)
the hand-offs cost more than they save: on 2 cores an epoch took 1.3-1.6x as long as with
one intra-op thread (same weights, bit for bit). A process that mainly runs this loop can
start with ``TF_NUM_INTRAOP_THREADS=1`` (or call
``tf.config.threading.set_intra_op_parallelism_threads(1)`` before TensorFlow's first op);
it is process-wide, and model.fit and the loop without XLA gained nothing from it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from keras_lab import checks
from keras_lab.lecture.gd import batching, epoch_keys, learning_rate_at, order_entries, schedule_id

#: Epochs per compiled call at most; longer runs are cut into calls of at most this many
#: (2048: the lecture's 2000-epoch run is one call; each call costs ~0.2 ms of TF overhead).
LOG_CAPACITY = 2048

#: In memory, a chunk's orders (shuffled) and its learning rates (one a step) are tables
#: made at its start: epochs per call are cut so that each table has at most this many
#: entries (or one epoch's). Made whether or not the call runs all of them, so not more
#: than a few milliseconds' worth.
ORDER_ENTRIES = 2**16

LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


@dataclass(frozen=True)
class EpochStats:
    """Per-epoch numbers of one :meth:`GradientDescent.run` call, numpy arrays.

    loss: the mean of the batch losses weighted by batch size (what model.fit reports);
    learning_rate: eta at the epoch's last step; grad_norm: the mean global gradient norm
    over the epoch's steps. ``failed_step`` is -1, or the global step (0-based) whose loss,
    gradient or new weights were NaN or inf; its update was not applied and the run
    stopped. With K starts, loss and grad_norm have shape (epochs, K) and failed_step one
    entry per start.
    """

    loss: np.ndarray
    learning_rate: np.ndarray
    grad_norm: np.ndarray
    failed_step: int | np.ndarray


# ----------------------------------------------------------------------------- the loss
def per_sample_loss(loss_fn: LossFn | str) -> tuple[LossFn, str]:
    """(fn, reduction): fn(y_true, y_pred) gives one loss per sample; reduction is how the
    batch loss is made of them: "mean" (Keras's sum_over_batch_size) or "sum" (SSE).

    Raises:
        ValueError: the batch loss is not a mean or a sum of per-sample losses (e.g. RMSE
            of the batch), so it cannot be split over replicas or K starts.

    Example:
        >>> fn, reduction = per_sample_loss("mse")
        >>> fn(np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]])).numpy().tolist(), reduction
        ([1.0, 0.0], 'mean')
    """
    if isinstance(loss_fn, str):
        loss_fn = keras.losses.get(loss_fn)
    if not isinstance(loss_fn, keras.losses.Loss):
        return loss_fn, "mean"  # a function returns per-sample losses, averaged (as compile)
    name = getattr(loss_fn, "name", type(loss_fn).__name__)
    own_call = [
        klass
        for klass in type(loss_fn).__mro__
        if "__call__" in vars(klass)
        and klass.__module__.startswith("custom_losses")
        and klass.__name__ != "LossFunction"
    ]
    if own_call:  # e.g. RootMeanSquaredError: sqrt of the batch mean, not a mean
        raise ValueError(f"loss {name!r} is not a mean or sum of per-sample losses")
    reduction = {"sum_over_batch_size": "mean", "mean": "mean", "sum": "sum"}.get(loss_fn.reduction)
    if reduction is None:
        raise ValueError(f"loss {name!r} has reduction {loss_fn.reduction!r}; need mean or sum")
    return loss_fn.call, reduction


# ----------------------------------------------------------------------------- batches
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
    function, and only the flat loop stays small enough (2000 epochs of SGD on the 9
    points: one compiled call).
    """

    autograph = False  # fold is a tf.while_loop: the loop is traced without AutoGraph

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
        """The compiled loop's inputs for up to ``num_epochs`` epochs from the loop's
        ``epoch``, which the loop reads itself (from Python, a read cost 0.03-0.2 ms a
        call): ((epochs,), epochs)."""
        count = min(num_epochs, self.capacity)
        return (_int32(count),), count

    @staticmethod
    def input_signature() -> tuple[tf.TensorSpec, ...]:
        return (tf.TensorSpec([], tf.int32),)

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
        update: Callable,
        carry: dict,
        first_epoch: tf.Tensor,
        static_shapes: bool = False,
    ) -> dict:
        """Fold ``update(x_batch, y_batch, epoch, batch, carry) -> carry`` over the chunk's
        steps (epoch: its index in the chunk, which begins at the loop's ``first_epoch``;
        batch: in the epoch), stopping at a failed step (``running(carry)`` false).

        The epoch's last batch may be smaller (as in model.fit). ``static_shapes`` (XLA
        compiles static shapes only): a branch per batch size, each tracing ``update``;
        otherwise one batch of dynamic size (``update`` traced once).
        """
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

    def all_batches(self) -> tuple[tf.Tensor, tf.Tensor]:
        """The whole training set, for evaluation."""
        return self.x, self.y


@functools.lru_cache(maxsize=64)
def _int32(value: int) -> tf.Tensor:
    """A scalar int32 tensor, made once per value (a chunk's epochs: the same few)."""
    return tf.constant(value, tf.int32)


def running(carry: dict) -> tf.Tensor:
    """Whether any start (the one run) has not failed yet."""
    return tf.reduce_any(carry["failed"] < 0)


# ----------------------------------------------------------------------------- devices
class OneDevice:
    """The gradient on this process's default device."""

    num_replicas = 1

    def __init__(self) -> None:
        self.strategy = tf.distribute.get_strategy()

    def run(self, gradient: Callable, theta: list, x_batch: tf.Tensor, y_batch: tf.Tensor):
        return gradient(theta, x_batch, y_batch, tf.shape(x_batch)[-2])  # samples: axis -2


def replica_slice(global_size: tf.Tensor, replica: tf.Tensor, num_replicas: int) -> tuple:
    """(start, size) of ``replica``'s part of a global batch, as numpy.array_split cuts it.

    Example:
        >>> [tuple(int(v) for v in replica_slice(5, r, 2)) for r in (0, 1)]
        [(0, 3), (3, 2)]
    """
    global_size = tf.convert_to_tensor(global_size, tf.int32)
    replica = tf.cast(replica, tf.int32)
    base, extra = global_size // num_replicas, global_size % num_replicas
    start = replica * base + tf.minimum(replica, extra)
    size = base + tf.cast(replica < extra, tf.int32)
    return start, size


class Replicas:
    """The gradient under a tf.distribute strategy: replica r takes the r-th numpy.array_split
    slice of the global batch (every worker holds the whole global batch), computes the
    gradient of its share of the global batch loss, sum_{i in slice} loss_i / B, and an
    all-reduce (SUM) gives the gradient of the global batch's loss. B is the global batch
    size, so the loss is scaled once (Keras's Loss.__call__ would also divide by the number
    of replicas: the step uses per-sample losses and reduces them itself). A replica may
    get no sample (e.g. sgd on 2 replicas) and contributes a zero gradient.
    """

    def __init__(self, strategy: tf.distribute.Strategy) -> None:
        self.strategy = strategy
        self.num_replicas = strategy.num_replicas_in_sync

    def run(self, gradient: Callable, theta: list, x_batch: tf.Tensor, y_batch: tf.Tensor):
        global_size = tf.shape(x_batch)[0]

        def replica_part() -> tuple:
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            start, size = replica_slice(global_size, replica, self.num_replicas)
            part = slice(start, start + size)
            return gradient(theta, x_batch[part], y_batch[part], global_size)

        loss_parts, grad_parts = self.strategy.run(replica_part)
        total = tf.distribute.ReduceOp.SUM
        loss = self.strategy.reduce(total, loss_parts, axis=None)
        return loss, self.strategy.reduce(total, grad_parts, axis=None)


# ----------------------------------------------------------------------------- the loop
class GradientDescent:
    """Batch, stochastic or mini-batch gradient descent (see the module docstring).

    Args:
        model: a built Keras model (created inside ``strategy.scope()`` for a strategy).
        loss_fn: ``loss_fn(y_true, y_pred)``: a keras.losses / custom_losses object or name,
            or a function returning one loss per sample (averaged over the batch, as
            model.compile does).
        x, y: the training set in memory, samples as rows (or give ``batches``).
        batch_size: 1 <= batch_size <= len(x).
        learning_rate: eta_0 > 0.
        schedule: one of :data:`keras_lab.lecture.gd.SCHEDULES`.
        decay_rate, decay_steps: the schedule's parameters (steps are updates).
        shuffle: reshuffle every epoch (seeded) or visit samples in order.
        seed: the shuffling seed (a sequence: one per start, for K starts).
        drop_remainder: drop the last, smaller batch of each epoch.
        jit_compile: XLA's scope: "loop" (the whole chunk of epochs; one device, in
            memory), "step" (each step's forward and backward pass), False (none); True is
            the widest scope the plugs allow.
        batches: instead of x, y: a batch source, e.g. keras_lab.stream.StreamedBatches.
        strategy: a tf.distribute strategy: gradients over its replicas (:class:`Replicas`).

    Example (stochastic GD, the lecture's 9 points, one epoch):
        >>> from keras_lab.data import lecture_data
        >>> from keras_lab.models import sine_fit_model
        >>> x, y = lecture_data()
        >>> gd = GradientDescent(sine_fit_model(seed=0), "mse", x, y, batch_size=1,
        ...                      learning_rate=0.3)
        >>> stats = gd.run(1)
        >>> stats.loss.shape, int(gd.step.numpy()), stats.failed_step
        ((1,), 9, -1)
    """

    def __init__(
        self,
        model: keras.Model,
        loss_fn: LossFn | str,
        x: np.ndarray | None = None,
        y: np.ndarray | None = None,
        batch_size: int | None = None,
        learning_rate: float = 0.01,
        schedule: str = "constant",
        decay_rate: float = 0.5,
        decay_steps: int = 1000,
        shuffle: bool = True,
        seed: int | Sequence[int] = 0,
        drop_remainder: bool = False,
        jit_compile: bool | str = False,
        *,
        batches: object | None = None,
        strategy: tf.distribute.Strategy | None = None,
    ) -> None:
        if not model.built or not model.trainable_variables:
            raise ValueError(f"model {model.name!r} must be built and have trainable weights")
        if (x is None) == (batches is None):
            raise ValueError("give either x, y (in memory) or batches (a batch source)")
        self.model = model
        self.dtype = model.trainable_variables[0].dtype
        self.loss_fn = keras.losses.get(loss_fn) if isinstance(loss_fn, str) else loss_fn
        self.devices = OneDevice() if strategy is None else Replicas(strategy)
        self.strategy = self.devices.strategy
        #: K independent networks (a leading axis of K on every weight), or None.
        self.num_starts: int | None = getattr(model, "num_starts", None)
        if self.num_starts and strategy is not None:
            raise ValueError("K starts at once run on one device: give no strategy")
        try:
            self._per_sample, self._reduction = per_sample_loss(self.loss_fn)
        except ValueError:
            if strategy is not None or self.num_starts:
                raise
            self._per_sample, self._reduction = None, "mean"  # the loss reduces the batch
        if batches is None:
            checks.integer("batch_size", batch_size)
            batches = InMemoryBatches(
                x, y, batch_size, shuffle, seed, drop_remainder, dtype=self.dtype
            )
        self.batches = batches
        self.num_samples = batches.num_samples
        self.batch_size = batches.batch_size
        self.steps_per_epoch = batches.steps_per_epoch
        self.shuffle = bool(shuffle)
        self.jit_compile = self._jit_scope(jit_compile)

        self._loss_shape = [self.num_starts] if self.num_starts else []
        with self.strategy.scope():  # under a strategy: mirrored, one copy per replica
            # Run-time numbers are variables: changing them never retraces the loop.
            self.learning_rate = self._variable(
                checks.number("learning_rate", learning_rate, minimum=0, strict=True),
                tf.float64,
                "learning_rate",
            )
            self.schedule = self._variable(schedule_id(schedule), tf.int32, "schedule")
            self.decay_rate = self._variable(
                checks.number("decay_rate", decay_rate, minimum=0, strict=True),
                tf.float64,
                "decay_rate",
            )
            self.decay_steps = self._variable(
                checks.number("decay_steps", decay_steps, minimum=0, strict=True),
                tf.float64,
                "decay_steps",
            )
            seeds = np.atleast_1d(np.asarray(seed, dtype=np.int64))
            self.seed = self._variable(seeds if self.num_starts else seeds[0], tf.int64, "seed")
            self.epoch = self._variable(0, tf.int64, "epoch")
            self.step = self._variable(0, tf.int64, "step")
            self.failed_step = self._variable(
                tf.fill(self._loss_shape, tf.constant(-1, tf.int64)), tf.int64, "failed_step"
            )
        self._gradient_fn = (
            tf.function(self._gradient, jit_compile=True)
            if self.jit_compile == "step"
            else self._gradient
        )
        self._concrete = None
        # the full-set gradient for TensorBoard, traced (eagerly it cost ~10 ms a call)
        self._gradient_at_weights = tf.function(self._weights_gradient, autograph=False)
        signature = getattr(batches, "input_signature", lambda: None)()
        self._run_chunk = tf.function(
            self._chunk,
            jit_compile=self.jit_compile == "loop",
            input_signature=signature,
            # AutoGraph's conversion of every function the loop calls took ~2 s of the
            # ~2.5 s trace; a source whose fold is written with tf.while_loop needs none.
            autograph=getattr(batches, "autograph", True),
        )

    @staticmethod
    def _variable(value, dtype: tf.DType, name: str) -> tf.Variable:
        return tf.Variable(value, dtype=dtype, trainable=False, name=name)

    def _jit_scope(self, jit_compile: bool | str) -> str | bool:
        fused = isinstance(self.devices, OneDevice) and isinstance(self.batches, InMemoryBatches)
        if jit_compile is True:
            return "loop" if fused else "step"
        checks.one_of("jit_compile", jit_compile, (False, "loop", "step"))
        if jit_compile == "loop" and not fused:
            raise ValueError(
                "jit_compile='loop' needs one device and in-memory data; use 'step' "
                "(XLA for each step's forward and backward pass)"
            )
        return jit_compile

    # ------------------------------------------------------------------ the step
    def _gradient(
        self, theta: tf.Tensor, x_batch: tf.Tensor, y_batch: tf.Tensor, global_size
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """The batch loss (on a replica: its share) and its gradient: the only GradientTape.

        The model runs on the weights ``theta`` (``Model.stateless_call``), all of them in
        one flat vector (per start, for K starts) that the loop carries as a tensor.
        """
        with tf.GradientTape() as tape:
            tape.watch(theta)
            y_pred, _ = self.model.stateless_call(
                self._unflatten(theta), self._non_trainable(), x_batch, training=True
            )
            if self._per_sample is None:  # a loss of the whole batch (e.g. RMSE)
                loss = tf.reduce_mean(self.loss_fn(y_batch, y_pred))
            else:
                total = tf.reduce_sum(self._per_sample(y_batch, y_pred), axis=-1)
                scale = tf.cast(global_size, total.dtype) if self._reduction == "mean" else 1.0
                loss = total / scale  # per sample -> the batch's mean (or sum), per start
            objective = tf.reduce_sum(loss)  # K starts: d sum / d theta_k = d J_k / d theta_k
        grads = tape.gradient(objective, theta)
        return tf.cast(loss, self.dtype), grads

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

    def train_step(
        self,
        x_batch: tf.Tensor,
        y_batch: tf.Tensor,
        step: tf.Tensor | None = None,
        carry: dict | None = None,
        eta: tf.Tensor | None = None,
    ) -> dict:
        """One update theta <- theta - eta * grad J(theta; x_batch, y_batch) at ``step``.

        ``carry`` holds the flat weights theta, ``failed`` (the step that failed, -1) and
        the epoch's running sums [loss * batch size, gradient norm]; ``eta`` is the
        schedule's learning rate at ``step``. A step whose loss, gradient or new weights
        are NaN or inf applies no update and records itself in ``failed``; the run stops
        there (with K starts: that start stops, the others go on). Returns the new carry.
        Without ``carry`` (a single step, e.g. to check it against numpy): the step runs
        on the model's variables at their step and writes them back.
        """
        if carry is None:
            step = tf.convert_to_tensor(self.step)
            carry = self._read_state()
            carry = self.train_step(x_batch, y_batch, step, carry, self._learning_rate(step))
            self._write_state(carry, tf.cast(running(carry), tf.int64))  # 1 if it applied
            return carry
        theta, failed = carry["theta"], carry["failed"]
        loss, grads = self.devices.run(self._gradient_fn, theta, x_batch, y_batch)
        grad_norm = tf.norm(grads, axis=-1)  # the global norm (K starts: each start's)
        updated = theta - eta * grads  # the update rule
        # eta * grad can overflow with both finite: the new weights are checked too
        finite = tf.math.is_finite(loss) & tf.math.is_finite(grad_norm)
        ok = finite & tf.reduce_all(tf.math.is_finite(updated), axis=-1) & (failed < 0)
        per_start = ok[..., None]  # (1,) or (K, 1): selects over the flat weights
        size = tf.cast(tf.shape(x_batch)[-2], self.dtype)
        return {
            "theta": tf.where(per_start, updated, theta),
            "failed": tf.where(ok | (failed >= 0), failed, step),
            "sums": carry["sums"] + tf.stack([tf.where(ok, loss * size, 0.0), grad_norm]),
        }

    def _learning_rate(self, step: tf.Tensor) -> tf.Tensor:
        """eta at update ``step`` (a tensor of steps: one eta each), the schedule of
        :func:`keras_lab.lecture.gd.learning_rate_at` on the numbers read by _read_state."""
        h = self._hyper
        return learning_rate_at(step, h["eta_0"], h["schedule"], h["rate"], h["decay_steps"])

    def _learning_rates(self, first_step: tf.Tensor, num_steps: int) -> Callable:
        """eta at update ``first_step + t`` of a chunk of at most ``num_steps``, as a
        function of t.

        Under XLA (the chunk compiled whole, in memory: at most ORDER_ENTRIES steps or one
        epoch's), a table made before the chunk's loop, one gather a step: the schedule's
        three formulas at every step (all computed, one selected) had taken ~10 of the ~70
        ns of an SGD step on the 9 points (measured); a constant schedule fills the table.
        XLA computes the
        table's powers as its scalar ones, bit for bit; TensorFlow's vectorised Pow does
        not always (1 ulp, e.g. step 149 of test_gd's exponential schedule), so without
        XLA eta is computed at every step, as Keras's schedule computes it.
        """
        steps = lambda t: first_step + tf.cast(t, tf.int64)  # noqa: E731
        if self.jit_compile != "loop":
            return lambda t: self._learning_rate(steps(t))
        table = tf.cond(
            self._hyper["schedule"] == 0,
            lambda: tf.fill([num_steps], self._hyper["eta_0"]),
            lambda: self._learning_rate(steps(tf.range(num_steps))),
        )
        return lambda t: tf.gather(table, t)

    # ------------------------------------------------------------------ the loop
    def _read_state(self) -> dict:
        """The loop's state as tensors (read once per chunk), with the epoch's sums at 0."""
        dtype = self.dtype
        self._hyper = {  # the schedule's numbers, in the model's dtype
            "eta_0": tf.cast(self.learning_rate, dtype),
            "schedule": tf.convert_to_tensor(self.schedule),
            "rate": tf.cast(self.decay_rate, dtype),
            "decay_steps": tf.cast(self.decay_steps, dtype),
        }
        return {
            "theta": self._flatten(self.model.trainable_variables),
            "failed": tf.convert_to_tensor(self.failed_step),
            "sums": tf.zeros([2, *self._loss_shape], dtype),
        }

    def _write_state(self, carry: dict, steps: tf.Tensor) -> None:
        """The carried weights and the failure back into the variables; ``steps`` updates
        more (a failed step is not one)."""
        for variable, value in zip(self.model.trainable_variables, self._unflatten(carry["theta"])):
            variable.assign(value)
        self.failed_step.assign(carry["failed"])
        self.step.assign_add(tf.cast(steps, tf.int64))

    def _chunk(self, *inputs: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """Up to a chunk's epochs in one call: the weights are read once, carried through
        the chunk's steps as one flat tensor, and written back once. Per-epoch numbers go
        into one fixed-size TensorArray (XLA needs the size at compile time), one row an
        epoch: [loss (K), learning rate, gradient norm (K)], K = 1 for one run.

        The loop carries only what it must (XLA:CPU compiles a loop whose per-step bytes
        are few into one function): the step counter, the epochs completed and the
        number of samples seen are derived from the step's index in the chunk.

        Returns (the log, epochs completed, failed step(s)).
        """
        row_size = 2 * (self.num_starts or 1) + 1
        first_step = tf.convert_to_tensor(self.step)  # read once; each step adds its index
        first_epoch = tf.convert_to_tensor(self.epoch)
        carry = {
            **self._read_state(),
            "log": tf.TensorArray(self.dtype, size=self.batches.capacity, element_shape=[row_size]),
            "steps": tf.constant(0),  # steps run in this chunk
        }
        num_steps = self.batches.capacity * self.steps_per_epoch
        update = functools.partial(
            self._update, first_step, self._learning_rates(first_step, num_steps)
        )
        static_shapes = self.jit_compile == "loop"
        carry = self.batches.fold(inputs, update, carry, first_epoch, static_shapes)
        # Every step ran to the end of the chunk, or the last one failed (and counts not),
        # or none ran (the loop had failed before).
        steps = carry["steps"]
        applied = tf.where(running(carry), steps, tf.maximum(steps - 1, 0))
        completed = applied // self.steps_per_epoch
        self._write_state(carry, applied)
        self.epoch.assign_add(tf.cast(completed, tf.int64))
        return carry["log"].stack(), completed, carry["failed"]

    def _update(
        self,
        first_step: tf.Tensor,
        learning_rate: Callable,
        x_batch: tf.Tensor,
        y_batch: tf.Tensor,
        epoch: tf.Tensor,
        batch: tf.Tensor,
        carry: dict,
    ) -> dict:
        """One step of the chunk (which began at update ``first_step``; ``learning_rate(t)``
        is eta at its t-th step): batch ``batch`` of its epoch ``epoch``.

        The epoch's sums start at its first batch; its log row is written at every step
        (the last write is the epoch's: loss weighted by batch size, eta at its last step,
        mean gradient norm).
        """
        sums = tf.where(batch == 0, tf.zeros_like(carry["sums"]), carry["sums"])
        step = first_step + tf.cast(carry["steps"], tf.int64)
        eta = learning_rate(carry["steps"])
        state = self.train_step(x_batch, y_batch, step, {**carry, "sums": sums}, eta)
        seen = tf.cast(batch * self.batch_size + tf.shape(x_batch)[-2], self.dtype)
        loss_sum, norm_sum = tf.unstack(state["sums"])
        row = [loss_sum / seen, eta, norm_sum / tf.cast(batch + 1, self.dtype)]
        log = carry["log"].write(epoch, tf.concat([tf.reshape(v, [-1]) for v in row], 0))
        return {**state, "log": log, "steps": carry["steps"] + 1}

    def run(self, num_epochs: int) -> EpochStats:
        """Train ``num_epochs`` more epochs in compiled chunks; stop at a non-finite step.

        Epochs that did not complete because of a failure are cut from the stats.
        """
        checks.integer("num_epochs", num_epochs, minimum=1)
        rows: list[np.ndarray] = []
        remaining = int(num_epochs)
        while True:  # a loop that failed before runs no step: its chunk returns at once
            inputs, chunk = self.batches.chunk(self.epoch, remaining)
            log, completed, failed = (t.numpy() for t in self._chunk_function(inputs)(*inputs))
            rows.append(log[:completed].astype(np.float64))
            remaining -= chunk
            if remaining <= 0 or not np.any(failed < 0):
                break
        k = self.num_starts or 1
        table = np.concatenate(rows)
        loss, lr, norm = table[:, :k], table[:, k], table[:, k + 1 :]
        if not self.num_starts:
            loss, norm = loss[:, 0], norm[:, 0]
        return EpochStats(loss, lr, norm, failed_step=failed.copy() if failed.ndim else int(failed))

    def evaluate(self) -> float | np.ndarray:
        """The loss on the whole training set with the current weights (per start for K)."""
        if hasattr(self.batches, "evaluate"):
            return self.batches.evaluate(self)
        x, y = self.batches.all_batches()
        y_pred = self.model(x, training=False)
        if self._per_sample is None:
            return float(tf.reduce_mean(self.loss_fn(y, y_pred)))
        losses = tf.cast(self._per_sample(y, y_pred), tf.float64)
        reduce = tf.reduce_mean if self._reduction == "mean" else tf.reduce_sum
        value = reduce(losses, axis=-1).numpy()
        return value if self.num_starts else float(value)

    def gradients(self) -> list[np.ndarray]:
        """The gradient of the loss at the current weights, one array per weight, over the
        training set (in memory) or its first 65,536 samples (streamed): what TensorBoard's
        gradient histograms show."""
        if hasattr(self.batches, "all_batches"):
            x, y = self.batches.all_batches()
        else:
            x, y = next(iter(self.batches.dataset(0, batch_size=65536)))
        return [g.numpy() for g in self._gradient_at_weights(x, y)]

    def _weights_gradient(self, x: tf.Tensor, y: tf.Tensor) -> list[tf.Tensor]:
        theta = self._flatten(self.model.trainable_variables)
        _, grads = self._gradient(theta, x, y, tf.shape(x)[-2])
        return self._unflatten(grads)

    def _chunk_function(self, inputs: tuple) -> Callable:
        """The compiled loop; with fixed input shapes its concrete function, called directly
        (~0.1 ms less per call than through tf.function's argument binding)."""
        if getattr(self.batches, "input_signature", None) is None:
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
