"""The one gradient-descent loop: batch, stochastic or mini-batch GD are batch sizes.

As in Keras's trainer, one train step has two plug points: where batches come from
(:mod:`~keras_lab.engine.batches`: memory, or a TFRecord stream) and where gradients are
computed (:mod:`~keras_lab.engine.devices`: one device, or replicas). One update is

    loss, grads = devices.run(gradient, theta, x_batch, y_batch)   the only GradientTape
    theta <- theta - eta * grads                                     the update rule

and a step whose loss, gradient or new weights are NaN or inf applies nothing and stops
the run. K starts at once (a model whose weights have a leading axis of K networks,
``num_starts=K``) have K losses: the gradient is taken of their sum, each start stops alone.

A chunk of epochs runs in one ``tf.function``, traced once: every run-time number is a
variable or a tensor. ``jit_compile``: with in-memory data on one device, the whole chunk
is one XLA program (small steps on few cores may run faster with TF_NUM_INTRAOP_THREADS=1);
under a strategy or a stream, each step's forward and backward pass.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from keras_lab import checks
from keras_lab.engine.batches import BatchSource, CompiledChunks, InMemoryBatches, running
from keras_lab.engine.devices import LossFn, OneDevice, Replicas, per_sample_loss  # noqa: F401
from keras_lab.lecture.gd import schedule_id


@dataclass(frozen=True)
class EpochStats:
    """Per-epoch numbers of one :meth:`GradientDescent.run` call, numpy arrays: loss (the
    batch losses' mean weighted by batch size, as model.fit reports), learning_rate (eta at
    the epoch's last step), grad_norm (the epoch's mean global gradient norm); loss and
    grad_norm (epochs, K) for K starts. ``failed_step``: -1, or the update (0-based) whose
    loss, gradient or new weights were not finite: not applied, the run stopped there."""

    loss: np.ndarray
    learning_rate: np.ndarray
    grad_norm: np.ndarray
    failed_step: int | np.ndarray

    @property
    def failed(self) -> bool | np.ndarray:
        """Whether the run stopped at a non-finite step (K starts: one bool each)."""
        failed = np.asarray(self.failed_step) >= 0
        return failed if failed.ndim else bool(failed)


class GradientDescent(CompiledChunks):
    """Gradient descent on ``model`` (built; under a strategy, created in its scope).

    ``loss``: a keras.losses / custom_losses object or name, or a function of one loss per
    sample (averaged); ``x, y`` in memory, or ``batches`` (e.g. StreamedBatches);
    ``schedule``: one of :data:`keras_lab.lecture.gd.SCHEDULES`; ``seed``: of the epochs'
    orders (K starts: one each); ``jit_compile``: XLA's widest scope the plugs allow.

    Example (stochastic GD, the lecture's 9 points, one epoch):
        >>> from keras_lab.data import lecture_data
        >>> from keras_lab.models import sine_fit_model
        >>> x, y = lecture_data()
        >>> gd = GradientDescent(sine_fit_model(seed=0), "mse", x, y, batch_size=1,
        ...                      learning_rate=0.3)
        >>> stats = gd.run(1)
        >>> stats.loss.shape, int(gd.step.numpy()), stats.failed
        ((1,), 9, False)
    """

    def __init__(
        self,
        model: keras.Model,
        loss: LossFn | str,
        x: np.ndarray | None = None,
        y: np.ndarray | None = None,
        *,
        batches: BatchSource | None = None,
        batch_size: int | None = None,
        learning_rate: float = 0.01,
        schedule: str = "constant",
        decay_rate: float = 0.5,
        decay_steps: int = 1000,
        shuffle: bool = True,
        seed: int | Sequence[int] = 0,
        drop_remainder: bool = False,
        jit_compile: bool = False,
        num_starts: int | None = None,
        strategy: tf.distribute.Strategy | None = None,
    ) -> None:
        checks.require(model.built and bool(model.trainable_variables), "model not built")
        checks.require((x is None) != (batches is None), "give either x, y or batches")
        checks.one_of("jit_compile", jit_compile, (True, False))
        self.model, self.dtype = model, model.trainable_variables[0].dtype
        self.loss_fn = keras.losses.get(loss) if isinstance(loss, str) else loss
        self.devices = OneDevice() if strategy is None else Replicas(strategy)
        self.num_starts = _check_starts(model, num_starts, strategy)
        try:
            self._per_sample, self._reduction = per_sample_loss(self.loss_fn)
        except ValueError:
            if strategy is not None or num_starts:
                raise
            self._per_sample, self._reduction = None, "mean"  # the loss reduces the batch
        self.batches = batches or InMemoryBatches(
            x, y, batch_size, shuffle, seed, drop_remainder, self.dtype
        )
        self.steps_per_epoch = self.batches.steps_per_epoch
        self._whole_chunk_xla = jit_compile and strategy is None and batches is None
        number = functools.partial(checks.number, minimum=0, strict=True)
        with self.devices.strategy.scope():  # numbers as variables: new values never retrace
            self.learning_rate = _variable("learning_rate", number("learning_rate", learning_rate))
            self.schedule = _variable("schedule", schedule_id(schedule), tf.int32)
            self.decay_rate = _variable("decay_rate", number("decay_rate", decay_rate))
            self.decay_steps = _variable("decay_steps", number("decay_steps", decay_steps))
            seeds = np.atleast_1d(np.asarray(seed, dtype=np.int64))
            self.seed = _variable("seed", seeds if num_starts else seeds[0], tf.int64)
            self.epoch, self.step = _variable("epoch", 0, tf.int64), _variable("step", 0, tf.int64)
            self._loss_shape = [num_starts] if num_starts else []
            self.failed_step = _variable("failed_step", np.full(self._loss_shape, -1), tf.int64)
        self._gradient_fn = self._gradient
        if jit_compile and not self._whole_chunk_xla:  # XLA for each step's gradient
            self._gradient_fn = tf.function(self._gradient, jit_compile=True)
        self._run_chunk = tf.function(
            self._chunk,
            jit_compile=self._whole_chunk_xla,
            input_signature=self.batches.input_signature,
            autograph=self.batches.autograph,
        )
        self._concrete = None
        self._gradient_at_weights = tf.function(self._weights_gradient, autograph=False)

    def _gradient(self, theta, x_batch, y_batch, global_size) -> tuple[tf.Tensor, tf.Tensor]:
        """The batch loss (on a replica: its share) and its gradient: the only GradientTape.
        The model runs on ``theta``, its weights as one flat vector (K starts: one each)."""
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
            if loss.shape != self._loss_shape:
                raise ValueError(f"the loss has shape {loss.shape}, num_starts={self.num_starts}")
            objective = tf.reduce_sum(loss)  # K starts: d sum / d theta_k = d J_k / d theta_k
        grads = tape.gradient(objective, theta)
        return tf.cast(loss, self.dtype), grads

    def train_step(self, x_batch, y_batch, step=None, carry=None, eta=None) -> dict:
        """One update theta <- theta - eta * grad J(theta; x_batch, y_batch) at ``step``.

        ``carry``: the flat weights theta, ``failed`` (the step that failed, -1) and the
        epoch's sums [loss * batch size, gradient norm]; ``eta``: the rate at ``step``. A
        step whose loss, gradient or new weights are not finite applies nothing and records
        itself in ``failed`` (K starts: per start). Without ``carry``: one step on the
        model's variables, written back. Returns the new carry.
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
        size = tf.cast(tf.shape(x_batch)[-2], self.dtype)
        return {
            "theta": tf.where(ok[..., None], updated, theta),  # (1,) or (K, 1) over theta
            "failed": tf.where(ok | (failed >= 0), failed, step),
            "sums": carry["sums"] + tf.stack([tf.where(ok, loss * size, 0.0), grad_norm]),
        }

    def run(self, num_epochs: int) -> EpochStats:
        """Train ``num_epochs`` more epochs in compiled chunks; stop at a non-finite step
        (the epochs it cut short are not in the stats)."""
        checks.integer("num_epochs", num_epochs, minimum=1)
        rows, remaining = [], int(num_epochs)
        while True:  # a loop that failed before runs no step: its chunk returns at once
            inputs, chunk = self.batches.chunk(self.epoch, remaining)
            log, completed, failed = (t.numpy() for t in self._chunk_function(inputs)(*inputs))
            rows.append(log[:completed].astype(np.float64))
            remaining -= chunk
            if remaining <= 0 or not np.any(failed < 0):
                break
        k = self.num_starts or 1
        table = np.concatenate(rows)
        loss, rate, norm = table[:, :k], table[:, k], table[:, k + 1 :]
        if not self.num_starts:
            loss, norm = loss[:, 0], norm[:, 0]
        return EpochStats(loss, rate, norm, failed.copy() if failed.ndim else int(failed))

    def evaluate(self) -> float | np.ndarray:
        """The loss on the whole training set with the current weights (per start for K)."""
        batches = iter(self.batches.evaluation_batches())
        if self._per_sample is None:  # a loss of the whole batch: in memory, one batch
            x, y = next(batches)
            return float(tf.reduce_mean(self.loss_fn(y, self.model(x, training=False))))
        total, count = tf.constant(0.0, tf.float64), 0
        for x, y in batches:
            losses = tf.cast(self._per_sample(y, self.model(x, training=False)), tf.float64)
            total, count = total + tf.reduce_sum(losses, axis=-1), count + losses.shape[-1]
        value = (total / count if self._reduction == "mean" else total).numpy()
        return value if self.num_starts else float(value)


def _variable(name: str, value: object, dtype: tf.DType = tf.float64) -> tf.Variable:
    return tf.Variable(value, dtype=dtype, trainable=False, name=name)


def _check_starts(model: keras.Model, num_starts: int | None, strategy: object) -> int | None:
    """K, checked against the model's weights (each with a leading axis of K)."""
    if num_starts is None:
        return None
    checks.integer("num_starts", num_starts, minimum=1)
    checks.require(strategy is None, "K starts at once run on one device: give no strategy")
    for v in model.trainable_variables:
        checks.require(
            v.shape[0] == num_starts,
            f"num_starts={num_starts}, but weight {v.name!r} has shape {tuple(v.shape)}",
        )
    return num_starts
