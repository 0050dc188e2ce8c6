"""Where the loop's gradients are computed: one device, or the replicas of a strategy.

Both have ``run(gradient, theta, x_batch, y_batch) -> (loss, grads)``, where
``gradient(theta, x, y, global_size)`` is the loop's: the loss of its share of the batch
(``sum_{i in share} loss_i / global_size`` for a mean) and that loss's gradient. Splitting a
batch needs a loss made of per-sample terms: :func:`per_sample_loss`.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

from custom_losses import registry

LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]

#: Loss class -> its per-sample function, from the loss table.
_PER_SAMPLE = {row.cls: row.function for row in registry.TABLE}
_REDUCTIONS = {"sum_over_batch_size": "mean", "mean": "mean", "sum": "sum"}


def per_sample_loss(loss_fn: LossFn | str) -> tuple[LossFn, str]:
    """(fn, reduction): fn(y_true, y_pred) gives one loss per sample; reduction is how the
    batch loss is made of them: "mean" (Keras's sum_over_batch_size) or "sum" (SSE).

    A class of the loss table splits when what it calls is its row's per-sample function.

    Raises:
        ValueError: the batch loss is not a mean or a sum of per-sample losses (e.g. RMSE
            of the batch), so it cannot be split over replicas or K starts.

    Example:
        >>> fn, reduction = per_sample_loss("mse")
        >>> fn([[0.0], [1.0]], [[1.0], [1.0]]).numpy().tolist(), reduction
        ([1.0, 0.0], 'mean')
    """
    if isinstance(loss_fn, str):
        loss_fn = keras.losses.get(loss_fn)
    if not isinstance(loss_fn, keras.losses.Loss):
        return loss_fn, "mean"  # a function returns per-sample losses, averaged (as compile)
    function = _PER_SAMPLE.get(type(loss_fn))
    if function is not None and loss_fn.fn is not function:  # e.g. RMSE: sqrt of the mean
        raise ValueError(f"loss {loss_fn.name!r} is not a mean or sum of per-sample losses")
    reduction = _REDUCTIONS.get(loss_fn.reduction)
    if reduction is None:
        raise ValueError(f"loss {loss_fn.name!r} has reduction {loss_fn.reduction!r}; need a mean")
    return loss_fn.call, reduction


class OneDevice:
    """The gradient on this process's default device."""

    num_replicas = 1

    def __init__(self) -> None:
        self.strategy = tf.distribute.get_strategy()

    def run(self, gradient: Callable, theta: tf.Tensor, x_batch: tf.Tensor, y_batch: tf.Tensor):
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
    gradient of its share of the global batch loss, and an all-reduce (SUM) gives the
    gradient of the global batch's loss. The loss is scaled once, by the global batch size
    (Keras's Loss.__call__ would also divide by the number of replicas). A replica may get
    no sample (e.g. sgd on 2 replicas) and contributes a zero gradient.
    """

    def __init__(self, strategy: tf.distribute.Strategy) -> None:
        self.strategy = strategy
        self.num_replicas = strategy.num_replicas_in_sync

    def run(self, gradient: Callable, theta: tf.Tensor, x_batch: tf.Tensor, y_batch: tf.Tensor):
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
