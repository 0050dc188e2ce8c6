"""Many starts at once: K copies of the sine-fit network trained in one compiled computation.

The lecture says SGD's fluctuation "enables it to jump to new and potentially better local
minima" while batch GD "converges to the minimum of the basin the parameters are placed
in". To see that, train the 1-h-1 sigmoid network from K seeded random starts with each
variant and look at where the K runs end. Doing that as K separate runs costs K times one
run; here the K networks are one set of tensors with a leading K axis:

    kernel1 (K, 1, h)   bias1 (K, h)   kernel2 (K, h, 1)   bias2 (K, 1)      (Keras layout)
    y_k = sigmoid(x_k @ kernel1_k + bias1_k) @ kernel2_k + bias2_k            (einsum over k)

and one ``tf.function`` runs every epoch of all K at once with the update written out,
theta <- theta - eta * grad. The K losses are independent, so the gradient of their sum
with respect to the stacked weights is, slice by slice, each start's own gradient.

Start i is ``models.sine_fit_model(seed=seeds[i])`` (``models.lecture_random_weights``),
the loss is the mean squared error per batch (as :class:`keras_lab.gd.GradientDescent`
with loss "mse"), and each epoch visits the samples in the order GradientDescent uses:
``argsort(stateless_uniform([n], seed=[shuffle_seed, epoch]))``, with shuffle_seed = the
start's own seed (the train CLI's "one seed for everything") or one shared seed. So start
i ends with the same weights as ``GradientDescent(sine_fit_model(seed=seeds[i]), "mse",
..., seed=shuffle seed, jit_compile=same)`` (tested to 1e-6 in float64). Note: with XLA
(jit_compile=True) TensorFlow draws different stateless numbers than without, so the
shuffled orders, hence the runs, match only at the same jit_compile setting.

One difference from GradientDescent: a start whose loss or gradient becomes NaN or inf
stops updating (its ``failed`` flag is set) while the others go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from keras_lab.gd import epoch_permutation
from keras_lab.models import lecture_random_weights

#: Epochs per compiled call (the size of the loss log); longer runs are split.
LOG_CAPACITY = 512


@dataclass(frozen=True)
class MultiStartResult:
    """What :meth:`MultiStartGD.run` returns, numpy arrays with starts on the last axis.

    loss: (epochs, K) each start's epoch loss (batch losses weighted by batch size, as
    GradientDescent reports); final_sse: (K,) the SSE over the training set at the end;
    failed: (K,) whether the start stopped on a NaN or inf.
    """

    loss: np.ndarray
    final_sse: np.ndarray
    failed: np.ndarray


class MultiStartGD:
    """Batch, stochastic or mini-batch GD on K sine-fit networks at once (see module doc).

    Args:
        x, y: the training set, shape (n, 1) each.
        seeds: one seed per start; start i is ``lecture_random_weights(seeds[i])``.
        batch_size: 1 <= batch_size <= n (n: batch GD, 1: SGD, b: mini-batch).
        learning_rate: eta > 0, constant.
        shuffle: reshuffle every epoch, or visit samples in order.
        shuffle_seed: None: start i shuffles with seeds[i]; an int: all starts share it.
        hidden: hidden units h of the 1-h-1 network (2: the lecture's).
        dtype: "float32" or "float64".
        jit_compile: compile the loop with XLA.

    Example (4 starts, SGD, 2 epochs on the lecture's 9 points):
        >>> from keras_lab.data import lecture_data
        >>> x, y = lecture_data()
        >>> result = MultiStartGD(x, y, seeds=range(4), batch_size=1, learning_rate=0.3).run(2)
        >>> result.loss.shape, result.final_sse.shape, bool(result.failed.any())
        ((2, 4), (4,), False)
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        seeds: Sequence[int],
        batch_size: int,
        learning_rate: float,
        shuffle: bool = True,
        shuffle_seed: int | None = None,
        hidden: int = 2,
        dtype: str = "float32",
        jit_compile: bool = False,
    ) -> None:
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 2 or y.ndim != 2 or x.shape[1] != 1 or y.shape[1] != 1:
            raise ValueError(f"x and y must have shape (n, 1), got {x.shape} and {y.shape}")
        if len(x) != len(y) or len(x) < 1:
            raise ValueError(f"x has {len(x)} samples, y has {len(y)}; need the same, >= 1")
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError("seeds is empty: need at least one start")
        n = len(x)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise ValueError(f"batch_size must be an integer, got {batch_size!r}")
        if not 1 <= batch_size <= n:
            raise ValueError(f"batch_size must be between 1 and the {n} samples, got {batch_size}")
        learning_rate = float(learning_rate)
        if not np.isfinite(learning_rate) or learning_rate <= 0:
            raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")

        self.num_starts, self.num_samples, self.batch_size = len(seeds), n, int(batch_size)
        self.num_full_batches, self.remainder = divmod(n, self.batch_size)
        self.steps_per_epoch = self.num_full_batches + (1 if self.remainder else 0)
        self.dtype = tf.as_dtype(dtype)
        self.x = tf.constant(x, self.dtype)
        self.y = tf.constant(y, self.dtype)
        self.shuffle = bool(shuffle)
        self.jit_compile = bool(jit_compile)
        self.learning_rate = tf.Variable(learning_rate, dtype=tf.float64, trainable=False)
        self.shared_shuffle = shuffle_seed is not None
        own = seeds if shuffle_seed is None else [int(shuffle_seed)]
        self.shuffle_seeds = tf.constant(own, tf.int64)
        self.seeds = tuple(seeds)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.failed = tf.Variable(tf.zeros([len(seeds)], tf.bool), trainable=False)

        # The lecture's layout (W (s^m, s^(m-1)), b (s^m, 1)) -> Keras layout, stacked over K.
        starts = [lecture_random_weights(s, (1, hidden, 1)) for s in seeds]
        self.kernel1, self.bias1, self.kernel2, self.bias2 = (
            tf.Variable(np.stack(values).astype(dtype), name=name)
            for name, values in (
                ("kernel1", [w1.T for (w1, _), _ in starts]),  # (K, 1, h)
                ("bias1", [b1[:, 0] for (_, b1), _ in starts]),  # (K, h)
                ("kernel2", [w2.T for _, (w2, _) in starts]),  # (K, h, 1)
                ("bias2", [b2[:, 0] for _, (_, b2) in starts]),  # (K, 1)
            )
        )
        self._loss_log = tf.Variable(tf.zeros([LOG_CAPACITY, len(seeds)], tf.float64))
        self._run_epochs = tf.function(self._epochs, jit_compile=self.jit_compile)

    @property
    def variables(self) -> list[tf.Variable]:
        return [self.kernel1, self.bias1, self.kernel2, self.bias2]

    # ------------------------------------------------------------------ the model
    def predict(self, x: tf.Tensor) -> tf.Tensor:
        """All K networks on inputs of shape (K, B, 1) -> outputs (K, B, 1)."""
        hidden = tf.sigmoid(tf.einsum("kbi,kih->kbh", x, self.kernel1) + self.bias1[:, None, :])
        return tf.einsum("kbh,kho->kbo", hidden, self.kernel2) + self.bias2[:, None, :]

    def train_step(self, x_batch: tf.Tensor, y_batch: tf.Tensor) -> tf.Tensor:
        """One update of every start, theta_k <- theta_k - eta * grad J_k; returns J_k (K,)."""
        with tf.GradientTape() as tape:
            errors = y_batch - self.predict(x_batch)
            losses = tf.reduce_mean(tf.square(errors), axis=[1, 2])  # MSE per start
            total = tf.reduce_sum(losses)  # d total / d theta_k = d J_k / d theta_k
        grads = tape.gradient(total, self.variables)
        finite = tf.math.is_finite(losses)
        for grad in grads:
            axes = list(range(1, len(grad.shape)))
            finite &= tf.reduce_all(tf.math.is_finite(grad), axis=axes)
        self.failed.assign(self.failed | ~finite)
        applied = tf.cast(~self.failed, self.dtype)
        eta = tf.cast(self.learning_rate, self.dtype)
        for variable, grad in zip(self.variables, grads):
            mask = tf.reshape(applied, [-1] + [1] * (len(grad.shape) - 1))
            grad = tf.where(mask > 0, grad, tf.zeros_like(grad))  # a failed start stays put
            variable.assign_sub(eta * grad * mask)  # the update rule
        return tf.cast(losses, tf.float64)

    # ------------------------------------------------------------------ the loop
    def _orders(self) -> tf.Tensor:
        """This epoch's visiting order per start, (K, n): as GradientDescent._order."""
        n, k = self.num_samples, self.num_starts
        if not self.shuffle:
            return tf.tile(tf.range(n)[None, :], [k, 1])
        if self.shared_shuffle:  # one permutation for every start: one draw
            order = epoch_permutation(n, self.shuffle_seeds[0], self.epoch)
            return tf.tile(order[None, :], [k, 1])
        # K draws, one per start's seed: the costliest part of a shuffled epoch (a loop of
        # K small random-number ops; TF has no batched stateless draw over many seeds)
        seeds = tf.stack([self.shuffle_seeds, tf.fill([k], self.epoch)], axis=1)
        uniform = tf.map_fn(
            lambda seed: tf.random.stateless_uniform([n], seed=seed, dtype=tf.float32),
            seeds,
            fn_output_signature=tf.float32,
        )
        return tf.argsort(uniform, axis=1)

    def _epoch(self) -> tf.Tensor:
        bs, num_full = self.batch_size, self.num_full_batches
        order = self._orders()
        batches = tf.reshape(order[:, : num_full * bs], [self.num_starts, num_full, bs])
        loss_sum = tf.zeros([self.num_starts], tf.float64)
        for b in tf.range(num_full):
            index = batches[:, b]  # (K, bs)
            loss_sum += self.train_step(tf.gather(self.x, index), tf.gather(self.y, index)) * bs
        if self.remainder:  # static: the last, smaller batch, as GradientDescent keeps it
            index = order[:, num_full * bs :]
            loss_sum += (
                self.train_step(tf.gather(self.x, index), tf.gather(self.y, index)) * self.remainder
            )
        return loss_sum / self.num_samples

    def _epochs(self, num_epochs: tf.Tensor) -> tf.Tensor:
        for i in tf.range(num_epochs):
            loss = self._epoch()
            self._loss_log.scatter_nd_update(tf.reshape(i, [1, 1]), loss[None, :])
            self.epoch.assign_add(1)
        return num_epochs

    def run(self, num_epochs: int) -> MultiStartResult:
        """Train every start ``num_epochs`` more epochs, in compiled chunks."""
        if isinstance(num_epochs, bool) or not isinstance(num_epochs, (int, np.integer)):
            raise ValueError(f"num_epochs must be an integer, got {num_epochs!r}")
        if num_epochs < 1:
            raise ValueError(f"num_epochs must be >= 1, got {num_epochs}")
        logs = []
        remaining = int(num_epochs)
        while remaining > 0:
            chunk = min(remaining, LOG_CAPACITY)
            self._run_epochs(tf.constant(chunk, tf.int32))
            logs.append(self._loss_log.numpy()[:chunk].copy())
            remaining -= chunk
        return MultiStartResult(
            loss=np.concatenate(logs),
            final_sse=self.sse(),
            failed=self.failed.numpy().copy(),
        )

    def sse(self) -> np.ndarray:
        """Each start's SSE over the training set, sum_q (t_q - y_q)^2, shape (K,)."""
        x = tf.tile(self.x[None], [self.num_starts, 1, 1])
        errors = tf.cast(self.y[None] - self.predict(x), tf.float64)
        return tf.reduce_sum(tf.square(errors), axis=[1, 2]).numpy()

    def lecture_weights(self, start: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Start ``start``'s weights in the lecture's layout [(W1, b1), (W2, b2)]."""
        if not 0 <= start < self.num_starts:
            raise ValueError(f"start must be in [0, {self.num_starts}), got {start}")
        k1, b1, k2, b2 = (np.asarray(v.numpy()[start], np.float64) for v in self.variables)
        return [(k1.T, b1.reshape(-1, 1)), (k2.T, b2.reshape(-1, 1))]


@dataclass(frozen=True)
class Cluster:
    """A group of final losses within ``tolerance`` of their neighbours: a local minimum."""

    value: float  # the median of the members
    count: int
    low: float
    high: float


def cluster_values(values: Sequence[float], tolerance: float = 1e-3) -> list[Cluster]:
    """Group sorted values where consecutive gaps are <= tolerance (single linkage in 1-D).

    Runs that end at the same local minimum end with the same SSE up to how far they
    converged; different minima are separated by gaps. NaN values are left out.

    Example:
        >>> [(c.count, round(c.value, 2)) for c in cluster_values([0.5, 0.01, 0.5004, 0.0102])]
        [(2, 0.01), (2, 0.5)]
    """
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    values = np.sort(np.asarray(values, np.float64).ravel())
    values = values[np.isfinite(values)]
    if values.size == 0:
        return []
    splits = np.flatnonzero(np.diff(values) > tolerance) + 1
    return [
        Cluster(float(np.median(group)), int(group.size), float(group[0]), float(group[-1]))
        for group in np.split(values, splits)
    ]
