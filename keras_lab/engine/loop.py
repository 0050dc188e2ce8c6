"""The one gradient-descent loop: batch, stochastic or mini-batch GD are batch sizes.

As in Keras's trainer, the train step's plug points are where batches come from
(engine.batches) and where gradients are computed (engine.devices); engine.chunks runs it.
"""

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_lab import checks
from keras_lab.engine.batches import BatchSource, InMemoryBatches
from keras_lab.engine.chunks import CompiledChunks, EpochStats, check_model
from keras_lab.engine.devices import BatchLoss, LossFn, OneDevice, Replicas


class GradientDescent(CompiledChunks):
    """Gradient descent on ``model`` (built; under a strategy, created in its scope).

    ``loss``: a Keras loss (object or name) or a function of per-sample losses; ``x, y`` in
    memory, or ``batches``; ``num_starts=K``: K networks at once (weights with a leading axis
    of K, one seed each), the gradient taken of the sum of their K losses.

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
        self.num_starts = check_model(model, num_starts, strategy)
        checks.require((x is None) != (batches is None), "give either x, y or batches")
        self.model, self.dtype = model, model.trainable_variables[0].dtype
        self.devices = OneDevice() if strategy is None else Replicas(strategy)
        self.loss = BatchLoss(loss, self.num_starts, must_split=strategy is not None)
        self.batches = batches or InMemoryBatches(
            x, y, batch_size, shuffle, seed, drop_remainder, self.dtype
        )
        self._whole_chunk_xla = jit_compile and strategy is None and batches is None
        self._make_variables(learning_rate, schedule, decay_rate, decay_steps, seed)
        self._compile(jit_compile)

    def _gradient(self, theta, x_batch, y_batch, global_size) -> tuple[tf.Tensor, tf.Tensor]:
        """The batch loss (on a replica: its share) and its gradient: the only GradientTape.
        The model runs on ``theta``, its weights as one flat vector (K starts: one each)."""
        with tf.GradientTape() as tape:
            tape.watch(theta)
            y_pred, _ = self.model.stateless_call(
                self._unflatten(theta), self._non_trainable(), x_batch, training=True
            )
            loss = self.loss(y_batch, y_pred, global_size)  # one per start
            objective = tf.reduce_sum(loss)  # K starts: d sum / d theta_k = d J_k / d theta_k
        return tf.cast(loss, self.dtype), tape.gradient(objective, theta)

    def train_step(self, x_batch, y_batch, step=None, carry=None, eta=None) -> dict:
        """One update theta <- theta - eta * grad J(theta; x_batch, y_batch) at ``step``.

        ``carry``: flat weights theta, ``failed`` (-1, or the step that failed) and the epoch's
        sums [loss * batch size, gradient norm]. A step whose loss, gradient or new weights
        are not finite applies nothing and records itself in ``failed`` (K starts: each).
        """
        if carry is None:  # one step on the model's variables, written back
            return self._step_on_variables(x_batch, y_batch)
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
        logs, remaining = [], int(num_epochs)
        while True:  # a loop that failed before runs no step: its chunk returns at once
            inputs, chunk = self.batches.chunk(self.epoch, remaining)
            log, completed, failed = (t.numpy() for t in self._chunk_function(inputs)(*inputs))
            logs.append(log[:completed])
            remaining -= chunk
            if remaining <= 0 or not np.any(failed < 0):
                return EpochStats.from_log(logs, failed, self.num_starts)

    def evaluate(self) -> float | np.ndarray:
        """The loss on the whole training set with the current weights (per start for K)."""
        value = self.loss.of_set(self.batches, lambda x: self.model(x, training=False))
        return value.numpy() if self.num_starts else float(value)
