"""Where the loop's gradients are computed: one device, or the replicas of a strategy.

This process's devices: ``--devices N`` splits the one physical CPU into N logical devices
before TensorFlow's runtime starts (:func:`prepare`, called first by train.py); multi-worker
runs read TF_CONFIG (docs/distribute.md). The loop's plugs, :class:`OneDevice` and
:class:`Replicas`, have ``run(gradient, theta, x_batch, y_batch) -> (loss, grads)``, where
``gradient(theta, x, y, global_size)`` is the loop's: the loss of its share of the batch
(``sum_{i in share} loss_i / global_size`` for a mean) and that loss's gradient. Splitting a
batch needs a loss made of per-sample terms: :class:`BatchLoss`.
"""

import json
import os
from collections.abc import Callable

import keras
import tensorflow as tf

from custom_losses import registry
from keras_lab import checks

LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def per_sample_loss(loss_fn: LossFn | str) -> tuple[LossFn, str]:
    """(fn, reduction): fn(y_true, y_pred) gives one loss per sample; reduction is how the
    batch loss is made of them (:func:`custom_losses.registry.reduction_of`): "mean"
    (Keras's sum_over_batch_size, or a function's, as compile averages it) or "sum" (SSE).

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
    reduction = registry.reduction_of(loss_fn)
    return (loss_fn.call if isinstance(loss_fn, keras.losses.Loss) else loss_fn), reduction


class BatchLoss:
    """The loop's loss of a batch, ``loss(y_true, y_pred, global_size)``: the sum of its
    per-sample losses over ``global_size`` (a mean; on a replica, its share) or not (a sum),
    one value per start (``num_starts``). A loss that is neither (e.g. RMSE) is taken of
    the whole batch, unless ``must_split`` (replicas) or K starts: then ValueError."""

    def __init__(self, loss: LossFn | str, num_starts: int | None, must_split: bool) -> None:
        self.fn = keras.losses.get(loss) if isinstance(loss, str) else loss
        self.num_starts, self.shape = num_starts, [num_starts] if num_starts else []
        try:
            self.per_sample, self.reduction = per_sample_loss(self.fn)
        except ValueError:
            if must_split or num_starts:
                raise
            self.per_sample, self.reduction = None, "mean"

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor, global_size) -> tf.Tensor:
        if self.per_sample is None:  # a loss of the whole batch (e.g. RMSE)
            loss = tf.reduce_mean(self.fn(y_true, y_pred))
        else:
            total = tf.reduce_sum(self.per_sample(y_true, y_pred), axis=-1)
            loss = total / (tf.cast(global_size, total.dtype) if self.reduction == "mean" else 1.0)
        if loss.shape != self.shape:
            raise ValueError(f"the loss has shape {loss.shape}, num_starts={self.num_starts}")
        return loss

    def of_set(self, batches, predict: Callable[[tf.Tensor], tf.Tensor]) -> tf.Tensor:
        """The loss over a batch source's whole set (BatchSource.set_loss) of ``predict``."""
        if self.per_sample is None:  # a loss of the whole batch: in memory, one batch
            x, y = next(iter(batches.evaluation_batches()))
            return tf.reduce_mean(self.fn(y, predict(x)))
        return batches.set_loss(lambda x, y: self.per_sample(y, predict(x)), self.reduction)


class OneDevice:
    """The gradient on this process's default device."""

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
    slice of the global batch (each worker holds all of it) and computes the gradient of its
    share of the batch loss (scaled once, by the global batch size); an all-reduce (SUM) adds
    them. A replica may get no sample (sgd on 2 replicas): its gradient is zero."""

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


_STRATEGY: tf.distribute.Strategy | None = None  # the one strategy of this process
_PREPARED: tuple[str, int] | None = None


def configure_cpu_devices(num_devices: int) -> None:
    """Split the physical CPU into ``num_devices`` logical devices (before TF starts);
    ValueError if num_devices < 1 or TensorFlow's runtime started with another number."""
    checks.integer("devices", num_devices, minimum=1)
    cpu = tf.config.list_physical_devices("CPU")[0]
    configs = [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)]
    try:
        tf.config.set_logical_device_configuration(cpu, configs)
    except RuntimeError as error:
        current = len(tf.config.list_logical_devices("CPU"))
        if current != num_devices:
            raise ValueError(
                f"cannot split the CPU into {num_devices} devices: TensorFlow already "
                f"started with {current} ({error})"
            ) from None


def prepare(strategy: str, devices: int = 1) -> None:
    """Set up devices and, for multiworker, the strategy; call before any TF op runs (a
    second call with the same arguments does nothing)."""
    global _PREPARED, _STRATEGY
    if _PREPARED == (strategy, devices):
        return
    if strategy == "mirrored":
        configure_cpu_devices(devices)
    elif strategy == "multiworker":
        from keras_lab.engine.workers import peer_watchdog

        # collective ops must be configured at program start-up, hence here; joining the
        # cluster waits for every peer, in C++: the watchdog bounds it and takes signals
        with peer_watchdog(os.environ.get("TF_CONFIG", "")):
            _STRATEGY = tf.distribute.MultiWorkerMirroredStrategy(
                communication_options=tf.distribute.experimental.CommunicationOptions(
                    implementation=tf.distribute.experimental.CommunicationImplementation.RING
                )
            )
    _PREPARED = (strategy, devices)


def get_strategy(strategy: str, devices: int = 1) -> tf.distribute.Strategy:
    """The strategy named by --strategy: none -> TF's default (one device), mirrored over
    ``devices`` logical CPUs, or multiworker from TF_CONFIG.

    Example:
        >>> get_strategy("none").num_replicas_in_sync
        1
    """
    global _STRATEGY
    if strategy == "none":
        return tf.distribute.get_strategy()
    prepare(strategy, devices)
    if _STRATEGY is None:
        names = [d.name for d in tf.config.list_logical_devices("CPU")][:devices]
        if len(names) < devices:
            raise ValueError(f"--devices {devices}: only {len(names)} logical CPU devices")
        _STRATEGY = tf.distribute.MirroredStrategy(
            names, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    return _STRATEGY


def is_chief() -> bool:
    """True unless TF_CONFIG names this process a non-chief task (worker i > 0 with no
    chief, or any worker when a chief exists)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    kind, index = task.get("type", "chief"), int(task.get("index", 0))
    first_worker = kind == "worker" and index == 0 and "chief" not in config.get("cluster", {})
    return kind == "chief" or first_worker
