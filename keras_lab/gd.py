"""Gradient descent, explicitly: one GradientTape step, three variants by batch size.

The lecture's equations (1)-(3) are one update rule applied to different slices of data:

    batch GD         theta <- theta - eta * grad J(theta; x, y)                  (1)
    stochastic GD    theta <- theta - eta * grad J(theta; x^(i), y^(i))          (2)
    mini-batch GD    theta <- theta - eta * grad J(theta; x^(i:i+n), y^(i:i+n))  (3)

so :class:`GradientDescent` has one step function, :meth:`GradientDescent.train_step`, and
the variants differ only in ``batch_size`` (n, 1 or b). The data are shuffled every epoch
(the lecture: "we shuffle the training data at every epoch") by a permutation that is a
pure function of (seed, epoch), so a resumed run sees the same orders as an uninterrupted
one. A last, smaller batch is kept (as model.fit does) unless ``drop_remainder``.

Speed: a whole chunk of epochs runs inside one ``tf.function`` over in-memory tensors.
Every run-time number (learning rate, schedule, epoch count) is a variable or a tensor
argument, so the function is traced once per :class:`GradientDescent` and never again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

#: Learning-rate schedules, by their number in the compiled loop.
SCHEDULES: tuple[str, ...] = ("constant", "exponential", "inverse_time")
#: The three variants of the lecture and how each picks its batch size.
VARIANTS: tuple[str, ...] = ("batch", "sgd", "minibatch")

#: Epochs per compiled call; longer runs are split into calls of at most this many.
LOG_CAPACITY = 1024

LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def variant_batch_size(variant: str, num_samples: int, batch_size: int | None = None) -> int:
    """The batch size that makes each variant: n (batch), 1 (sgd), b (minibatch).

    Example:
        >>> [variant_batch_size(v, 9, 4) for v in VARIANTS]
        [9, 1, 4]
    """
    if variant == "batch":
        return num_samples
    if variant == "sgd":
        return 1
    if variant == "minibatch":
        if batch_size is None:
            return min(32, num_samples)
        return batch_size
    raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")


def epoch_permutation(num_samples: int, seed: tf.Tensor, epoch: tf.Tensor) -> tf.Tensor:
    """The visiting order of one epoch: argsort(stateless_uniform([n], seed=(seed, epoch))).

    A pure function of (seed, epoch): a resumed run, the distributed loop and the K-start
    runner all see the orders a single uninterrupted run sees (under the same XLA setting).

    Example:
        >>> order = epoch_permutation(5, tf.constant(0, tf.int64), tf.constant(0, tf.int64))
        >>> sorted(order.numpy().tolist())
        [0, 1, 2, 3, 4]
    """
    keys = tf.random.stateless_uniform([num_samples], seed=tf.stack([seed, epoch]))
    return tf.argsort(keys)


def learning_rate_at(
    step: tf.Tensor,
    initial_learning_rate: tf.Tensor,
    schedule: tf.Tensor,
    decay_rate: tf.Tensor,
    decay_steps: tf.Tensor,
) -> tf.Tensor:
    """eta(step) for schedule 0 (constant), 1 (exponential) or 2 (inverse time).

    The same formulas as keras.optimizers.schedules (``staircase=False``), in float64:

        constant      eta_0
        exponential   eta_0 * decay_rate ** (step / decay_steps)
        inverse_time  eta_0 / (1 + decay_rate * step / decay_steps)

    Example:
        >>> f64 = lambda v: tf.constant(v, tf.float64)
        >>> [round(float(learning_rate_at(f64(10), f64(0.1), k, f64(0.5), f64(10))), 6)
        ...  for k in (0, 1, 2)]
        [0.1, 0.05, 0.066667]
    """
    eta_0 = tf.convert_to_tensor(initial_learning_rate, tf.float64)
    progress = tf.cast(step, tf.float64) / decay_steps
    exponential = eta_0 * tf.pow(decay_rate, progress)
    inverse_time = eta_0 / (1.0 + decay_rate * progress)
    # All three are a handful of scalar flops: select, rather than branch, so that the
    # schedule is a run-time number and XLA sees no control flow.
    schedule = tf.convert_to_tensor(schedule)
    return tf.where(schedule == 0, eta_0, tf.where(schedule == 1, exponential, inverse_time))


@dataclass(frozen=True)
class EpochStats:
    """Per-epoch numbers of one :meth:`GradientDescent.run` call, numpy arrays.

    loss: the mean of the batch losses weighted by batch size (what model.fit reports);
    learning_rate: eta at the epoch's last step; grad_norm: the mean global gradient norm
    over the epoch's steps. ``failed_step`` is -1, or the global step (0-based) whose
    loss or gradient was NaN or inf; its update was not applied and the run stopped.
    """

    loss: np.ndarray
    learning_rate: np.ndarray
    grad_norm: np.ndarray
    failed_step: int


def apply_update(loop: Any, loss: tf.Tensor, grads: list[tf.Tensor]) -> tuple:
    """The update rule, theta <- theta - eta * grad, as every loop of this package applies it.

    ``loop`` holds ``model``, the learning-rate variables (``learning_rate``, ``schedule``,
    ``decay_rate``, ``decay_steps``), ``step``, ``failed_step`` and ``last_gradients``
    (:class:`GradientDescent`, :class:`keras_lab.distribute.DistributedGradientDescent`).
    A non-finite loss or gradient applies nothing and records the step in ``failed_step``;
    so does every step after it. Returns ``(eta, grad_norm, applied)``.
    """
    grad_norm = tf.linalg.global_norm(grads)
    finite = tf.math.is_finite(loss) & tf.math.is_finite(grad_norm)
    applied = finite & (loop.failed_step < 0)
    eta = learning_rate_at(
        loop.step, loop.learning_rate, loop.schedule, loop.decay_rate, loop.decay_steps
    )
    if applied:
        variables = loop.model.trainable_variables
        for variable, grad, last in zip(variables, grads, loop.last_gradients):
            variable.assign_sub(tf.cast(eta, variable.dtype) * grad)  # the update rule
            last.assign(grad)
        loop.step.assign_add(1)
    elif loop.failed_step < 0:
        loop.failed_step.assign(loop.step)
    return eta, grad_norm, applied


class GradientDescent:
    """Batch, stochastic or mini-batch gradient descent on in-memory data.

    Args:
        model: a built Keras model.
        loss_fn: ``loss_fn(y_true, y_pred)``: a keras.losses / custom_losses object
            (returns the batch loss) or function (returns one loss per sample; averaged
            over the batch, as model.compile does).
        x, y: the training set, samples as rows.
        batch_size: 1 <= batch_size <= len(x).
        learning_rate: eta_0 > 0.
        schedule: one of :data:`SCHEDULES`.
        decay_rate, decay_steps: the schedule's parameters (steps are updates).
        shuffle: reshuffle every epoch (seeded) or visit samples in order.
        seed: the shuffling seed.
        drop_remainder: drop the last, smaller batch of each epoch.
        jit_compile: compile the loop with XLA.

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
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        learning_rate: float,
        schedule: str = "constant",
        decay_rate: float = 0.5,
        decay_steps: int = 1000,
        shuffle: bool = True,
        seed: int = 0,
        drop_remainder: bool = False,
        jit_compile: bool = False,
    ) -> None:
        if not model.built or not model.trainable_variables:
            raise ValueError(f"model {model.name!r} must be built and have trainable weights")
        self.model = model
        self.loss_fn = keras.losses.get(loss_fn) if isinstance(loss_fn, str) else loss_fn
        dtype = model.trainable_variables[0].dtype
        self.x = tf.constant(np.asarray(x), dtype=dtype)
        self.y = tf.constant(np.asarray(y), dtype=dtype)
        self.num_samples = int(self.x.shape[0])
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"x has {self.x.shape[0]} samples, y has {self.y.shape[0]}")
        self.batch_size, self.num_full_batches, self.remainder, self.steps_per_epoch = batching(
            self.num_samples, batch_size, drop_remainder
        )
        self.shuffle = bool(shuffle)
        self.jit_compile = bool(jit_compile)

        # Run-time numbers are variables: changing them never retraces the loop.
        self.learning_rate = tf.Variable(
            _positive(learning_rate, "learning_rate"),
            dtype=tf.float64,
            trainable=False,
            name="learning_rate",
        )
        self.schedule = tf.Variable(
            _schedule_id(schedule), dtype=tf.int32, trainable=False, name="schedule"
        )
        self.decay_rate = tf.Variable(
            _positive(decay_rate, "decay_rate"),
            dtype=tf.float64,
            trainable=False,
            name="decay_rate",
        )
        self.decay_steps = tf.Variable(
            _positive(decay_steps, "decay_steps"),
            dtype=tf.float64,
            trainable=False,
            name="decay_steps",
        )
        self.seed = tf.Variable(int(seed), dtype=tf.int64, trainable=False, name="seed")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.failed_step = tf.Variable(-1, dtype=tf.int64, trainable=False, name="failed_step")
        self.last_gradients = [
            tf.Variable(tf.zeros_like(v), trainable=False, name=f"grad_{i}")
            for i, v in enumerate(model.trainable_variables)
        ]
        self._loss_log, self._lr_log, self._norm_log = (
            tf.Variable(tf.zeros([LOG_CAPACITY], tf.float64), trainable=False, name=name)
            for name in ("loss_log", "lr_log", "norm_log")
        )
        self._run_epochs = tf.function(self._epochs, jit_compile=self.jit_compile)

    # ------------------------------------------------------------------ the step
    def train_step(
        self, x_batch: tf.Tensor, y_batch: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """One update theta <- theta - eta * grad J(theta; x_batch, y_batch).

        The only place a gradient is taken. A step whose loss or gradient is NaN or inf
        applies no update and records itself in ``failed_step``; so does every step after.

        Returns:
            (loss, eta, grad_norm, applied): the batch loss before the update, the learning
            rate used, the global gradient norm, and whether the update was applied.
        """
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self.model(x_batch, training=True)
            loss = tf.reduce_mean(self.loss_fn(y_batch, y_pred))  # per-sample -> batch mean
        grads = tape.gradient(loss, variables)
        eta, grad_norm, applied = apply_update(self, loss, grads)
        return tf.cast(loss, tf.float64), eta, tf.cast(grad_norm, tf.float64), applied

    # ------------------------------------------------------------------ the loop
    def _order(self) -> tf.Tensor:
        """This epoch's visiting order: a permutation seeded by (seed, epoch), or 0..n-1."""
        if not self.shuffle:
            return tf.range(self.num_samples)
        return epoch_permutation(self.num_samples, self.seed, self.epoch)

    def _epoch(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """One pass over the data: full batches of batch_size, then the remainder if kept."""
        bs, num_full = self.batch_size, self.num_full_batches
        order = self._order()
        batches = tf.reshape(order[: num_full * bs], [num_full, bs])
        loss_sum = tf.constant(0.0, tf.float64)
        norm_sum = tf.constant(0.0, tf.float64)
        eta = tf.constant(0.0, tf.float64)
        b = tf.constant(0)
        # A while loop, not a for with break: a run stops at its first non-finite step,
        # and XLA compiles the loop whole.
        while b < num_full and self.failed_step < 0:
            index = batches[b]
            loss, eta, norm, _ = self.train_step(tf.gather(self.x, index), tf.gather(self.y, index))
            loss_sum += loss * bs
            norm_sum += norm
            b += 1
        if self.remainder:  # static: the last, smaller batch (as model.fit keeps it)
            index = order[num_full * bs :]
            loss, eta, norm, _ = self.train_step(tf.gather(self.x, index), tf.gather(self.y, index))
            loss_sum += loss * self.remainder
            norm_sum += norm
        seen = num_full * bs + self.remainder
        return loss_sum / seen, eta, norm_sum / self.steps_per_epoch

    def _epochs(self, num_epochs: tf.Tensor) -> tf.Tensor:
        """Up to ``num_epochs`` epochs, logging each into the fixed-size log variables.

        The logs are variables, not TensorArrays: XLA needs a TensorArray's size at
        compile time and would recompile for every new epoch count.
        """
        i = tf.constant(0)
        while i < num_epochs and self.failed_step < 0:
            loss, eta, norm = self._epoch()
            at = tf.reshape(i, [1, 1])
            self._loss_log.scatter_nd_update(at, tf.reshape(loss, [1]))
            self._lr_log.scatter_nd_update(at, tf.reshape(eta, [1]))
            self._norm_log.scatter_nd_update(at, tf.reshape(norm, [1]))
            self.epoch.assign_add(tf.cast(self.failed_step < 0, tf.int64))
            i += 1
        return i

    def run(self, num_epochs: int) -> EpochStats:
        """Train ``num_epochs`` more epochs in compiled chunks; stop at a non-finite step.

        Epochs that did not complete because of a failure are cut from the stats.
        """
        if isinstance(num_epochs, bool) or not isinstance(num_epochs, (int, np.integer)):
            raise ValueError(f"num_epochs must be an integer, got {num_epochs!r}")
        if num_epochs < 1:
            raise ValueError(f"num_epochs must be >= 1, got {num_epochs}")
        logs: list[list[np.ndarray]] = [[], [], []]
        remaining = int(num_epochs)
        while remaining > 0 and int(self.failed_step.numpy()) < 0:
            chunk = min(remaining, LOG_CAPACITY)
            start = int(self.epoch.numpy())
            self._run_epochs(tf.constant(chunk, tf.int32))
            done = int(self.epoch.numpy()) - start
            for log, variable in zip(logs, (self._loss_log, self._lr_log, self._norm_log)):
                log.append(variable.numpy()[:done].copy())
            remaining -= chunk
        loss, lr, norm = (np.concatenate(log) if log else np.empty(0) for log in logs)
        return EpochStats(loss, lr, norm, failed_step=int(self.failed_step.numpy()))

    def evaluate(self) -> float:
        """The loss on the whole training set with the current weights."""
        loss = self.loss_fn(self.y, self.model(self.x, training=False))
        return float(tf.reduce_mean(loss))

    def concrete_function(self) -> tf.types.experimental.ConcreteFunction:
        """The compiled loop's graph (traced now if it has not been yet; never retraced)."""
        return self._run_epochs.get_concrete_function(tf.constant(1, tf.int32))

    @property
    def tracing_count(self) -> int:
        """How often the compiled loop was traced (1 after the first run, and stays 1)."""
        return self._run_epochs.experimental_get_tracing_count()


def batching(num_samples: int, batch_size: int, drop_remainder: bool) -> tuple[int, int, int, int]:
    """(batch_size, full batches, remainder, steps per epoch) of an epoch over num_samples.

    Example:
        >>> batching(9, 4, drop_remainder=False), batching(9, 4, drop_remainder=True)
        ((4, 2, 1, 3), (4, 2, 0, 2))
    """
    if num_samples < 1:
        raise ValueError("the training set is empty")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise ValueError(f"batch_size must be an integer, got {batch_size!r}")
    if not 1 <= batch_size <= num_samples:
        raise ValueError(
            f"batch_size must be between 1 and the {num_samples} samples, got {batch_size}"
        )
    num_full_batches, remainder = divmod(num_samples, int(batch_size))
    if drop_remainder:
        remainder = 0
    return int(batch_size), num_full_batches, remainder, num_full_batches + (1 if remainder else 0)


def _positive(value: float, what: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a finite number > 0, got {value!r}")
    return value


def _schedule_id(schedule: str) -> int:
    if schedule not in SCHEDULES:
        raise ValueError(
            f"unknown learning-rate schedule {schedule!r}; expected one of {SCHEDULES}"
        )
    return SCHEDULES.index(schedule)
