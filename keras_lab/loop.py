"""The one gradient-descent loop: one train_step, pluggable batches and devices.

:class:`GradientDescent` runs batch, stochastic or mini-batch GD (the variants are batch
sizes, :mod:`keras_lab.gd`) with two plug points, the Keras trainer's pattern:

- where batches come from: :class:`InMemoryBatches` (tensors in memory, visited in the
  orders of :func:`keras_lab.gd.epoch_orders`) or :class:`keras_lab.stream.StreamedBatches`
  (TFRecord shards through tf.data);
- where gradients are computed: :class:`OneDevice`, or :class:`Replicas` under a
  tf.distribute strategy (each replica its slice of the global batch, then an all-reduce).

One update is always

    loss, grads = devices.run(gradient, x_batch, y_batch)    the only GradientTape
    theta <- theta - eta * grads                               the update rule

and a loss or gradient that is NaN or inf applies nothing and stops the run at that step.

K starts at once (:mod:`keras_lab.multistart`) are the same loop on a model whose weights
have a leading axis of K independent networks: its loss is then a vector of K losses, the
gradient is taken of their sum (for independent networks, each its own gradient), and
the guard works per start: a start that hits NaN or inf stops, the others go on.

Speed: a whole chunk of epochs runs inside one ``tf.function`` (``jit_compile="loop"``:
one XLA program for all of it, on one device with in-memory data), or the loop stays a TF
graph with each step's forward and backward pass compiled (``"step"``: the only choice
under a strategy, whose collectives XLA does not compile here). Every run-time number
(learning rate, schedule, epochs, orders) is a variable or a tensor argument of fixed
shape, so the loop is traced and compiled once per :class:`GradientDescent`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from keras_lab import checks
from keras_lab.gd import batching, epoch_orders, learning_rate_at, schedule_id

#: Epochs per compiled call at most; longer runs are cut into calls of at most this many
#: (2048: the bench's W1, 2000 epochs, is one call; each call costs ~0.2 ms of TF overhead).
LOG_CAPACITY = 2048

LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


@dataclass(frozen=True)
class EpochStats:
    """Per-epoch numbers of one :meth:`GradientDescent.run` call, numpy arrays.

    loss: the mean of the batch losses weighted by batch size (what model.fit reports);
    learning_rate: eta at the epoch's last step; grad_norm: the mean global gradient norm
    over the epoch's steps. ``failed_step`` is -1, or the global step (0-based) whose loss
    or gradient was NaN or inf; its update was not applied and the run stopped. With K
    starts, loss and grad_norm have shape (epochs, K) and failed_step one entry per start.
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
    """Batches of tensors in memory, in the orders of :func:`keras_lab.gd.epoch_orders`.

    Shuffle off: contiguous rows (gathered). Shuffle on: the orders of a chunk of epochs
    are handed to the compiled loop as one (capacity, [K,] n) tensor, always of that shape
    (so XLA compiles once), and each batch is gathered by its indices. ``seed`` is one
    shuffling seed, or one per start (K starts then visit the samples in K orders, and a
    batch has shape (K, batch, features)).
    """

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
        self.seeds = [checks.integer("seed", s, 0, 2**63 - 1) for s in np.atleast_1d(seed)]
        self.num_starts = len(self.seeds) if self.per_start else None
        per_epoch = self.num_samples * len(self.seeds) if self.shuffle else 1
        self.capacity = max(1, min(LOG_CAPACITY, 2**22 // per_epoch))

    def _orders_shape(self) -> tuple[int, ...]:
        if not self.shuffle:
            return (1,)  # unused
        return (self.capacity, *([len(self.seeds)] if self.per_start else []), self.num_samples)

    def chunk(self, first_epoch: int, num_epochs: int) -> tuple[tuple[tf.Tensor, ...], int]:
        """The compiled loop's inputs for up to ``num_epochs`` epochs from ``first_epoch``:
        ((orders, epochs), epochs)."""
        count = min(num_epochs, self.capacity)
        orders = np.zeros(self._orders_shape(), np.int32)
        if self.shuffle:
            drawn: dict[int, np.ndarray] = {}  # starts that share a seed share its orders
            for k, seed in enumerate(self.seeds):
                if seed not in drawn:
                    drawn[seed] = epoch_orders(self.num_samples, seed, first_epoch, count)
                if self.per_start:
                    orders[:count, k] = drawn[seed]
                else:
                    orders[:count] = drawn[seed]
        return (tf.constant(orders), tf.constant(count, tf.int32)), count

    def input_signature(self) -> tuple[tf.TensorSpec, ...]:
        return (tf.TensorSpec(self._orders_shape(), tf.int32), tf.TensorSpec([], tf.int32))

    @staticmethod
    def num_epochs(inputs: tuple[tf.Tensor, ...]) -> tf.Tensor:
        return inputs[1]

    def _batch(self, x: tf.Tensor, y: tf.Tensor, first, size: int) -> tuple[tf.Tensor, ...]:
        """Rows first .. first + size - 1 of the epoch's x, y (size static)."""
        positions = tf.range(size) + first
        # A gather, not a slice: XLA pads a dynamic slice's operand, and the padded copy
        # makes the step loop too big to compile as one call.
        x, y = (tf.gather(t, positions, axis=t.shape.rank - 2) for t in (x, y))
        if self.num_starts and not self.shuffle:  # every start sees the same batch
            x, y = (tf.broadcast_to(t, [self.num_starts, *t.shape]) for t in (x, y))
        return x, y

    def epoch(self, inputs: tuple[tf.Tensor, ...], index: tf.Tensor, step: Callable, carry):
        """Fold ``step(x_batch, y_batch, carry) -> carry`` over the batches of epoch
        ``index`` of the chunk, stopping at a failed step (``running(carry)`` false)."""
        x, y = self.x, self.y
        if self.shuffle:  # the epoch's samples in its order, gathered once: the step loop
            order = inputs[0][index]  # then holds no order (XLA compiles it as one call)
            x, y = tf.gather(x, order), tf.gather(y, order)
        bs = self.batch_size
        b = tf.constant(0)
        # A while loop, not a for with break: a run stops at its first non-finite step,
        # and XLA compiles the loop whole. tf.logical_and, not `and`: no conditional.
        while tf.logical_and(b < self.num_full_batches, running(carry)):
            carry = step(*self._batch(x, y, b * bs, bs), carry)
            b += 1
        if self.remainder:  # static: the last, smaller batch (as model.fit keeps it)
            first = tf.constant(self.num_full_batches * bs)
            carry = step(*self._batch(x, y, first, self.remainder), carry)
        return carry

    def all_batches(self) -> tuple[tf.Tensor, tf.Tensor]:
        """The whole training set, for evaluation."""
        return self.x, self.y


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
        return loss, [self.strategy.reduce(total, g, axis=None) for g in grad_parts]


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
        schedule: one of :data:`keras_lab.gd.SCHEDULES`.
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
            self.last_gradients = [
                tf.Variable(tf.zeros_like(v), trainable=False, name=f"grad_{i}")
                for i, v in enumerate(model.trainable_variables)
            ]
        self._gradient_fn = (
            tf.function(self._gradient, jit_compile=True)
            if self.jit_compile == "step"
            else self._gradient
        )
        signature = getattr(batches, "input_signature", lambda: None)()
        self._run_chunk = tf.function(
            self._chunk, jit_compile=self.jit_compile == "loop", input_signature=signature
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
        self, theta: list[tf.Tensor], x_batch: tf.Tensor, y_batch: tf.Tensor, global_size
    ) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """The batch loss (on a replica: its share) and its gradient: the only GradientTape.

        The model runs on the weights ``theta`` (``Model.stateless_call``): the loop carries
        them as tensors and writes the variables once per chunk.
        """
        with tf.GradientTape() as tape:
            tape.watch(theta)
            y_pred, _ = self.model.stateless_call(
                theta, self._non_trainable(), x_batch, training=True
            )
            if self._per_sample is None:  # a loss of the whole batch (e.g. RMSE)
                loss = tf.reduce_mean(self.loss_fn(y_batch, y_pred))
            else:
                total = tf.reduce_sum(self._per_sample(y_batch, y_pred), axis=-1)
                scale = tf.cast(global_size, total.dtype) if self._reduction == "mean" else 1.0
                loss = total / scale  # per sample -> the batch's mean (or sum), per start
            objective = tf.reduce_sum(loss)  # K starts: d sum / d theta_k = d J_k / d theta_k
        grads = tape.gradient(objective, theta)
        grads = [tf.zeros_like(t) if g is None else g for t, g in zip(theta, grads)]
        return tf.cast(loss, self.dtype), grads

    def _non_trainable(self) -> list[tf.Tensor]:
        return [tf.convert_to_tensor(v) for v in self.model.non_trainable_variables]

    def train_step(self, x_batch: tf.Tensor, y_batch: tf.Tensor, carry: dict | None = None):
        """One update theta <- theta - eta * grad J(theta; x_batch, y_batch).

        ``carry`` holds the weights theta, the step counter, ``failed`` (the step that
        failed, -1) and the epoch's running sums. A step whose loss or gradient is NaN or
        inf applies no update and records itself in ``failed``; the run stops there
        (with K starts: that start stops, the others go on). Returns the new carry.
        Without ``carry`` (a single step, e.g. to check it against numpy): the step runs
        on the model's variables and writes them back.
        """
        if carry is None:
            carry = self.train_step(x_batch, y_batch, self._read_state())
            self._write_state(carry)
            return carry
        theta, step, failed = carry["theta"], carry["step"], carry["failed"]
        loss, grads = self.devices.run(self._gradient_fn, theta, x_batch, y_batch)
        eta = learning_rate_at(
            step, self._hyper["eta_0"], self._hyper["schedule"], self._hyper["rate"],
            self._hyper["decay_steps"],
        )  # fmt: skip
        grad_norm = _grad_norm(grads, self.num_starts)
        ok = tf.math.is_finite(loss) & tf.math.is_finite(grad_norm) & (failed < 0)
        theta = tuple(
            tf.where(_per_start(ok, t), t - eta * g, t)  # the update rule
            for t, g in zip(theta, grads)
        )
        size = tf.cast(tf.shape(x_batch)[-2], self.dtype)
        return {
            "theta": theta,
            "grads": tuple(
                tf.where(_per_start(ok, g), g, last) for g, last in zip(grads, carry["grads"])
            ),
            "step": step + tf.cast(tf.reduce_any(ok), tf.int64),
            "failed": tf.where(ok | (failed >= 0), failed, step),
            "loss": carry["loss"] + tf.where(ok, loss * size, 0.0),
            "norm": carry["norm"] + grad_norm,
            "seen": carry["seen"] + size,
            "eta": eta,
        }

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
        zeros = tf.zeros(self._loss_shape, dtype)
        return {
            # tuples, not lists: tf.data (a streamed epoch) would pack a list into a tensor
            "theta": tuple(tf.convert_to_tensor(v) for v in self.model.trainable_variables),
            "grads": tuple(tf.convert_to_tensor(g) for g in self.last_gradients),
            "step": tf.convert_to_tensor(self.step),
            "failed": tf.convert_to_tensor(self.failed_step),
            "loss": zeros,
            "norm": zeros,
            "seen": tf.zeros([], dtype),
            "eta": tf.zeros([], dtype),
        }

    def _write_state(self, carry: dict) -> None:
        """The carried weights, last gradients and counters back into the variables."""
        for variable, value in zip(self.model.trainable_variables, carry["theta"]):
            variable.assign(value)
        for variable, value in zip(self.last_gradients, carry["grads"]):
            variable.assign(value)
        self.step.assign(carry["step"])
        self.failed_step.assign(carry["failed"])

    def _chunk(self, *inputs: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """Up to a chunk's epochs in one call: the weights are read once, carried through
        the epochs' steps as tensors, and written back once; per-epoch numbers are logged
        into one fixed-size TensorArray (XLA needs the size at compile time), one row an
        epoch: [loss (K), learning rate, gradient norm (K)], K = 1 for one run.

        Returns (the log, epochs completed).
        """
        dtype = self.dtype
        carry = self._read_state()
        sums = {k: carry[k] for k in ("loss", "norm", "seen", "eta")}  # zeros
        capacity = getattr(self.batches, "capacity", 1)
        log = tf.TensorArray(dtype, size=capacity, element_shape=[2 * (self.num_starts or 1) + 1])
        num_epochs = self.batches.num_epochs(inputs)
        completed = tf.constant(0)
        i = tf.constant(0)
        while tf.logical_and(i < num_epochs, running(carry)):
            carry = self.batches.epoch(inputs, i, self.train_step, {**carry, **sums})
            row = [
                carry["loss"] / carry["seen"],
                carry["eta"],
                carry["norm"] / self.steps_per_epoch,
            ]
            log = log.write(i, tf.concat([tf.reshape(v, [-1]) for v in row], 0))  # one write
            completed += tf.cast(running(carry), tf.int32)  # a failed epoch is not counted
            i += 1
        self._write_state(carry)
        self.epoch.assign_add(tf.cast(completed, tf.int64))
        return log.stack(), completed

    def run(self, num_epochs: int) -> EpochStats:
        """Train ``num_epochs`` more epochs in compiled chunks; stop at a non-finite step.

        Epochs that did not complete because of a failure are cut from the stats.
        """
        checks.integer("num_epochs", num_epochs, minimum=1)
        rows: list[np.ndarray] = []
        remaining = int(num_epochs)
        while remaining > 0 and self._running():
            inputs, chunk = self.batches.chunk(int(self.epoch.numpy()), remaining)
            log, completed = self._run_chunk(*inputs)
            rows.append(np.asarray(log, np.float64)[: int(completed)])
            remaining -= chunk
        k = self.num_starts or 1
        # nothing ran if the loop had already failed: no epochs, the failure as it was
        table = np.concatenate(rows) if rows else np.empty((0, 2 * k + 1))
        loss, lr, norm = table[:, :k], table[:, k], table[:, k + 1 :]
        if not self.num_starts:
            loss, norm = loss[:, 0], norm[:, 0]
        failed = self.failed_step.numpy()
        return EpochStats(loss, lr, norm, failed_step=failed.copy() if failed.ndim else int(failed))

    def _running(self) -> bool:
        return bool(np.any(self.failed_step.numpy() < 0))

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

    def concrete_function(self) -> tf.types.experimental.ConcreteFunction:
        """The compiled loop's graph (traced now if it has not been yet; never retraced)."""
        inputs, _ = self.batches.chunk(int(self.epoch.numpy()), 1)
        return self._run_chunk.get_concrete_function(*inputs)

    @property
    def tracing_count(self) -> int:
        """How often the compiled loop was traced (1 after the first run, and stays 1)."""
        return self._run_chunk.experimental_get_tracing_count()


def _per_start(ok: tf.Tensor, weight: tf.Tensor) -> tf.Tensor:
    """``ok`` (scalar, or (K,) for K starts) shaped to select over ``weight``."""
    if ok.shape.rank == 0:
        return ok
    return tf.reshape(ok, [-1] + [1] * (weight.shape.rank - 1))


def _grad_norm(grads: list[tf.Tensor], num_starts: int | None) -> tf.Tensor:
    """The global gradient norm; with K starts, each start's own (shape (K,))."""
    if not num_starts:
        return tf.linalg.global_norm(grads)
    squares = [tf.reduce_sum(tf.square(g), axis=list(range(1, g.shape.rank))) for g in grads]
    return tf.sqrt(tf.add_n(squares))
