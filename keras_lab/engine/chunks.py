"""The loop's bookkeeping around its train step: a chunk of epochs in one compiled call,
its numbers as variables, its log read back as :class:`EpochStats`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from keras_lab import checks
from keras_lab.engine.batches import running
from keras_lab.lecture.gd import learning_rate_at, learning_rates, schedule_id


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

    @classmethod
    def from_log(cls, logs: list, failed: np.ndarray, num_starts: int | None) -> EpochStats:
        """The stats of the chunks' completed log rows, [loss (K), learning rate, norm (K)]."""
        k = num_starts or 1
        table = np.concatenate(logs).astype(np.float64)
        loss, rate, norm = table[:, :k], table[:, k], table[:, k + 1 :]
        if not num_starts:
            loss, norm = loss[:, 0], norm[:, 0]
        return cls(loss, rate, norm, failed.copy() if failed.ndim else int(failed))


def check_model(model: keras.Model, num_starts: int | None, strategy: object) -> int | None:
    """The model checked: built, and for K starts each weight with a leading axis of K; K."""
    checks.require(model.built and bool(model.trainable_variables), "model not built")
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


def _variable(name: str, value: object, dtype: tf.DType = tf.float64) -> tf.Variable:
    return tf.Variable(value, dtype=dtype, trainable=False, name=name)


class CompiledChunks:
    """The base of :class:`~keras_lab.engine.loop.GradientDescent`, around its ``train_step``.

    The weights are read once, carried through the chunk's steps as one flat tensor theta,
    and written back once; the step counter, the epochs completed and the samples seen are
    derived from the step's index in the chunk (XLA:CPU compiles a loop whose per-step
    state is small into one function). Per-epoch numbers go into one fixed-size
    TensorArray, one row an epoch: [loss (K), learning rate, gradient norm (K)].
    """

    def _make_variables(self, learning_rate, schedule, decay_rate, decay_steps, seed) -> None:
        """The run-time numbers as variables (new values never retrace), on the devices."""
        number = functools.partial(checks.number, minimum=0, strict=True)
        with self.devices.strategy.scope():
            self.learning_rate = _variable("learning_rate", number("learning_rate", learning_rate))
            self.schedule = _variable("schedule", schedule_id(schedule), tf.int32)
            self.decay_rate = _variable("decay_rate", number("decay_rate", decay_rate))
            self.decay_steps = _variable("decay_steps", number("decay_steps", decay_steps))
            seeds = np.atleast_1d(np.asarray(seed, dtype=np.int64))
            self.seed = _variable("seed", seeds if self.num_starts else seeds[0], tf.int64)
            self.epoch, self.step = _variable("epoch", 0, tf.int64), _variable("step", 0, tf.int64)
            self._loss_shape = [self.num_starts] if self.num_starts else []
            self.failed_step = _variable("failed_step", np.full(self._loss_shape, -1), tf.int64)

    @property
    def steps_per_epoch(self) -> int:
        return self.batches.steps_per_epoch

    def _compile(self, jit_compile: bool) -> None:
        """The compiled chunk (one XLA program if ``_whole_chunk_xla``; else, with
        ``jit_compile``, XLA for each step's gradient)."""
        checks.one_of("jit_compile", jit_compile, (True, False))
        self._gradient_fn = self._gradient
        if jit_compile and not self._whole_chunk_xla:
            self._gradient_fn = tf.function(self._gradient, jit_compile=True)
        self._run_chunk = tf.function(
            self._chunk,
            jit_compile=self._whole_chunk_xla,
            input_signature=self.batches.input_signature,
            autograph=self.batches.autograph,
        )
        self._concrete = None
        self._gradient_at_weights = tf.function(self._weights_gradient, autograph=False)

    def _non_trainable(self) -> list[tf.Tensor]:
        return [tf.convert_to_tensor(v) for v in self.model.non_trainable_variables]

    def _flatten(self, weights: Sequence[tf.Tensor]) -> tf.Tensor:
        """The weights as one vector (K starts: one row per start)."""
        return tf.concat([tf.reshape(w, [*self._loss_shape, -1]) for w in weights], axis=-1)

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

    def _step_on_variables(self, x_batch: tf.Tensor, y_batch: tf.Tensor) -> dict:
        """``train_step`` on the model's variables, written back; returns its carry."""
        step = tf.convert_to_tensor(self.step)
        carry = self._read_state()
        carry = self.train_step(x_batch, y_batch, step, carry, self._learning_rate(step))
        self._write_state(carry, tf.cast(running(carry), tf.int64))  # 1 if it applied
        return carry

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
        """Batch ``batch`` of the chunk's epoch ``epoch`` (the chunk began at update
        ``first_step``; ``learning_rate(t)``: eta at its t-th step). The epoch's log row is
        written at every step; the last write stays (loss by batch size, eta, mean norm)."""
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
