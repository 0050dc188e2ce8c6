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

#: Epochs per compiled call at most; longer runs are cut into calls of at most this many.
LOG_CAPACITY = 1024

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
    """Batches gathered from tensors in memory, in the orders of :func:`gd.epoch_orders`.

    ``seed`` is one shuffling seed, or one per start (K starts then visit the samples in
    K orders, and a batch has shape (K, batch, features)). A chunk of epochs is handed to
    the compiled loop as one (capacity, [K,] n) tensor of orders: always the same shape,
    so XLA compiles once.
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
        self.seeds = np.atleast_1d(np.asarray(seed, dtype=object))
        self.per_start = np.ndim(seed) > 0
        for value in self.seeds:
            checks.integer("seed", value, minimum=0, maximum=2**63 - 1)
        self.capacity = max(1, min(LOG_CAPACITY, 2**22 // (self.num_samples * len(self.seeds))))

    def chunk(self, first_epoch: int, num_epochs: int) -> tuple[tuple[tf.Tensor, ...], int]:
        """The compiled loop's inputs for up to ``num_epochs`` epochs from ``first_epoch``:
        ((orders, epochs), epochs)."""
        count = min(num_epochs, self.capacity)
        shape = (self.capacity, *([len(self.seeds)] if self.per_start else []), self.num_samples)
        orders = np.zeros(shape, np.int32)
        if not self.shuffle:
            orders[:] = np.arange(self.num_samples, dtype=np.int32)
        elif self.per_start:
            drawn: dict[int, np.ndarray] = {}  # starts that share a seed share its orders
            for k, seed in enumerate(self.seeds):
                if int(seed) not in drawn:
                    drawn[int(seed)] = epoch_orders(self.num_samples, int(seed), first_epoch, count)
                orders[:count, k] = drawn[int(seed)]
        else:
            orders[:count] = epoch_orders(self.num_samples, int(self.seeds[0]), first_epoch, count)
        return (tf.constant(orders), tf.constant(count, tf.int32)), count

    def input_signature(self) -> tuple[tf.TensorSpec, ...]:
        shape = (self.capacity, *([len(self.seeds)] if self.per_start else []), self.num_samples)
        return (tf.TensorSpec(shape, tf.int32), tf.TensorSpec([], tf.int32))

    @staticmethod
    def num_epochs(inputs: tuple[tf.Tensor, ...]) -> tf.Tensor:
        return inputs[1]

    def epoch(self, inputs: tuple[tf.Tensor, ...], index: tf.Tensor, step, state):
        """Fold ``step(x_batch, y_batch, state) -> state`` over the batches of epoch
        ``index`` of the chunk; stop early when ``state.stop`` (a failed step)."""
        order = inputs[0][index]
        bs, num_full = self.batch_size, self.num_full_batches
        b = tf.constant(0)
        # A while loop, not a for with break: a run stops at its first non-finite step,
        # and XLA compiles the loop whole.
        while b < num_full and not_stopped(state):
            index_b = order[..., b * bs : (b + 1) * bs]
            state = step(tf.gather(self.x, index_b), tf.gather(self.y, index_b), state)
            b += 1
        if self.remainder:  # static: the last, smaller batch (as model.fit keeps it)
            index_b = order[..., num_full * bs :]
            state = step(tf.gather(self.x, index_b), tf.gather(self.y, index_b), state)
        return state

    def all_batches(self) -> tuple[tf.Tensor, tf.Tensor]:
        """The whole training set, for evaluation."""
        return self.x, self.y


# ----------------------------------------------------------------------------- devices
class OneDevice:
    """The gradient on this process's default device: the batch loss as the loss computes it."""

    num_replicas = 1

    def __init__(self, strategy: tf.distribute.Strategy | None = None) -> None:
        self.strategy = tf.distribute.get_strategy()

    def run(self, gradient: Callable, x_batch: tf.Tensor, y_batch: tf.Tensor) -> tuple:
        return gradient(
            x_batch, y_batch, tf.shape(x_batch)[-2]
        )  # samples: the axis before features


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

    def run(self, gradient: Callable, x_batch: tf.Tensor, y_batch: tf.Tensor) -> tuple:
        global_size = tf.shape(x_batch)[0]

        def replica_part() -> tuple:
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            start, size = replica_slice(global_size, replica, self.num_replicas)
            return gradient(
                x_batch[start : start + size], y_batch[start : start + size], global_size
            )

        loss_parts, grad_parts = self.strategy.run(replica_part)
        total = tf.distribute.ReduceOp.SUM
        loss = self.strategy.reduce(total, loss_parts, axis=None)
        return loss, [self.strategy.reduce(total, g, axis=None) for g in grad_parts]


def _log(log: tf.Variable, row: tf.Tensor, value: tf.Tensor) -> None:
    """log[row] = value (an assign of the whole log: mirrored variables have no scatter)."""
    log.assign(tf.tensor_scatter_nd_update(log, tf.reshape(row, [1, 1]), value[None]))


def not_stopped(state: dict) -> tf.Tensor:
    return tf.logical_not(state["stop"])


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
        scope = self._jit_scope(jit_compile)
        self.jit_compile = scope

        loss_shape = [self.num_starts] if self.num_starts else []
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
                tf.fill(loss_shape, tf.constant(-1, tf.int64)), tf.int64, "failed_step"
            )
            self.last_gradients = [
                tf.Variable(tf.zeros_like(v), trainable=False, name=f"grad_{i}")
                for i, v in enumerate(model.trainable_variables)
            ]
            capacity = getattr(batches, "capacity", 1)
            self._loss_log, self._norm_log = (
                self._variable(tf.zeros([capacity, *loss_shape], tf.float64), tf.float64, name)
                for name in ("loss_log", "norm_log")
            )
            self._lr_log = self._variable(tf.zeros([capacity], tf.float64), tf.float64, "lr_log")
        self._gradient_fn = (
            tf.function(self._gradient, jit_compile=True) if scope == "step" else self._gradient
        )
        signature = getattr(batches, "input_signature", lambda: None)()
        self._run_chunk = tf.function(
            self._chunk, jit_compile=scope == "loop", input_signature=signature
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
        self, x_batch: tf.Tensor, y_batch: tf.Tensor, global_size: tf.Tensor
    ) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """The batch loss (on a replica: its share) and its gradient: the only GradientTape."""
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self.model(x_batch, training=True)
            if self._per_sample is None:  # a loss of the whole batch (e.g. RMSE)
                loss = tf.reduce_mean(self.loss_fn(y_batch, y_pred))
            else:
                total = tf.reduce_sum(self._per_sample(y_batch, y_pred), axis=-1)
                scale = tf.cast(global_size, total.dtype) if self._reduction == "mean" else 1.0
                loss = total / scale  # per sample -> the batch's mean (or sum), per start
            objective = tf.reduce_sum(loss)  # K starts: d sum / d theta_k = d J_k / d theta_k
        grads = tape.gradient(objective, variables)
        grads = [tf.zeros_like(v) if g is None else g for v, g in zip(variables, grads)]
        return loss, grads

    def train_step(self, x_batch: tf.Tensor, y_batch: tf.Tensor) -> tuple:
        """One update theta <- theta - eta * grad J(theta; x_batch, y_batch).

        A step whose loss or gradient is NaN or inf applies no update and records itself
        in ``failed_step``; the run stops there (with K starts: that start stops).

        Returns:
            (loss, eta, grad_norm): the batch loss before the update, the learning rate
            used and the global gradient norm (per start with K starts), float64.
        """
        loss, grads = self.devices.run(self._gradient_fn, x_batch, y_batch)
        eta = learning_rate_at(
            self.step, self.learning_rate, self.schedule, self.decay_rate, self.decay_steps
        )
        if self.num_starts:
            axes = [list(range(1, len(g.shape))) for g in grads]
            squares = [tf.reduce_sum(tf.square(g), axis=a) for g, a in zip(grads, axes)]
            grad_norm = tf.sqrt(tf.add_n(squares))  # (K,): each start's own global norm
        else:
            grad_norm = tf.linalg.global_norm(grads)
        finite = tf.math.is_finite(loss) & tf.math.is_finite(grad_norm)
        applied = finite & (self.failed_step < 0)
        self.failed_step.assign(
            tf.where(~finite & (self.failed_step < 0), self.step, self.failed_step)
        )
        variables = self.model.trainable_variables
        if self.num_starts:  # a failed start keeps its last finite weights
            for variable, grad, last in zip(variables, grads, self.last_gradients):
                keep = tf.reshape(applied, [-1] + [1] * (len(grad.shape) - 1))
                grad = tf.where(keep, grad, tf.zeros_like(grad))
                variable.assign_sub(tf.cast(eta, variable.dtype) * grad)  # the update rule
                last.assign(grad)
            self.step.assign_add(1)
        elif applied:
            for variable, grad, last in zip(variables, grads, self.last_gradients):
                variable.assign_sub(tf.cast(eta, variable.dtype) * grad)  # the update rule
                last.assign(grad)
            self.step.assign_add(1)
        return tf.cast(loss, tf.float64), eta, tf.cast(grad_norm, tf.float64)

    # ------------------------------------------------------------------ the loop
    def _accumulate(self, x_batch: tf.Tensor, y_batch: tf.Tensor, state: dict) -> dict:
        """One step, added to the epoch's running sums."""
        size = tf.cast(tf.shape(x_batch)[-2], tf.float64)
        loss, eta, norm = self.train_step(x_batch, y_batch)
        stop = tf.reduce_all(self.failed_step >= 0)
        return {
            "loss": state["loss"] + loss * size,
            "norm": state["norm"] + norm,
            "seen": state["seen"] + size,
            "eta": eta,
            "stop": stop,
        }

    def _chunk(self, *inputs: tf.Tensor) -> tf.Tensor:
        """Up to a chunk's epochs, each logged into the fixed-size log variables.

        The logs are variables, not TensorArrays: XLA needs a TensorArray's size at
        compile time and would recompile for every new epoch count.
        """
        zeros = tf.zeros([self.num_starts] if self.num_starts else [], tf.float64)
        num_epochs = self.batches.num_epochs(inputs)
        i = tf.constant(0)
        while i < num_epochs and tf.reduce_any(self.failed_step < 0):
            start = {"loss": zeros, "norm": zeros, "seen": tf.constant(0.0, tf.float64)}
            start.update(eta=tf.constant(0.0, tf.float64), stop=tf.constant(False))
            state = self.batches.epoch(inputs, i, self._accumulate, start)
            _log(self._loss_log, i, state["loss"] / state["seen"])
            _log(self._lr_log, i, state["eta"])
            _log(self._norm_log, i, state["norm"] / self.steps_per_epoch)
            self.epoch.assign_add(tf.cast(tf.reduce_any(self.failed_step < 0), tf.int64))
            i += 1
        return i

    def run(self, num_epochs: int) -> EpochStats:
        """Train ``num_epochs`` more epochs in compiled chunks; stop at a non-finite step.

        Epochs that did not complete because of a failure are cut from the stats.
        """
        checks.integer("num_epochs", num_epochs, minimum=1)
        logs: list[list[np.ndarray]] = [[], [], []]
        remaining = int(num_epochs)
        while remaining > 0 and self._running():
            start = int(self.epoch.numpy())
            inputs, chunk = self.batches.chunk(start, remaining)
            self._run_chunk(*inputs)
            done = int(self.epoch.numpy()) - start
            for log, variable in zip(logs, (self._loss_log, self._norm_log, self._lr_log)):
                log.append(variable.numpy()[:done].copy())
            remaining -= chunk
        loss, norm, lr = (np.concatenate(log) for log in logs)
        failed = self.failed_step.numpy()
        return EpochStats(loss, lr, norm, failed_step=failed.copy() if failed.ndim else int(failed))

    def _running(self) -> bool:
        return bool(np.any(self.failed_step.numpy() < 0))

    def evaluate(self) -> float | np.ndarray:
        """The loss on the whole training set with the current weights (per start for K)."""
        return (
            self.batches.evaluate(self)
            if hasattr(self.batches, "evaluate")
            else (self._evaluate_in_memory())
        )

    def _evaluate_in_memory(self) -> float | np.ndarray:
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
