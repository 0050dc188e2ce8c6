"""Gradient descent beyond one device: the same step under tf.distribute, and from disk.

:class:`DistributedGradientDescent` is the sibling of :class:`keras_lab.gd.GradientDescent`
(whose single-device XLA fast path stays untouched). One update is

    every replica r:  g_r = grad( sum_{i in its slice} loss_i / B )    B: this global batch
    all-reduce:       g   = sum_r g_r          (= grad of the global batch's mean loss)
    every replica:    theta <- theta - eta * g                      (the same update rule)

The loss is scaled exactly once, by 1/B. Keras 3 ``Loss.__call__`` would divide a mean
loss by the number of replicas as well (``keras.src.losses.loss.scale_loss_for_distribution``)
whenever a strategy is in scope; the step therefore takes the per-sample losses
(``Loss.call``) and reduces them itself, so nothing is scaled twice.

Global-batch semantics. Batch b of an epoch is the same set of samples as in the
single-device loop (the same permutation argsort(stateless_uniform([n], (seed, epoch)))),
split over the R replicas in contiguous slices of near-equal size (numpy.array_split).
The last, smaller batch of an epoch (if kept) is split the same way, and B is its actual
size, so every update equals the single-device one up to summation order; a replica may
get no sample (e.g. sgd on 2 replicas) and then contributes a zero gradient.

Devices. ``--devices N`` splits the one physical CPU into N logical devices; this must
happen before TensorFlow's runtime starts (:func:`prepare`, called first by train.py).
Multi-worker runs read TF_CONFIG (see docs/distribute.md); :func:`launch_workers`
starts N local workers on 127.0.0.1 for trying it on one machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_lab.gd import (
    EpochStats,
    _positive,
    _schedule_id,
    apply_update,
    batching,
    epoch_permutation,
)

#: The values of --strategy.
STRATEGIES: tuple[str, ...] = ("none", "mirrored", "multiworker")

_STRATEGY: tf.distribute.Strategy | None = None  # the one strategy of this process
_PREPARED: tuple[str, int] | None = None


# ----------------------------------------------------------------------------- set-up
def configure_cpu_devices(num_devices: int) -> None:
    """Split the physical CPU into ``num_devices`` logical devices (before TF starts).

    Raises:
        ValueError: num_devices < 1, or TensorFlow's runtime is already initialised.
    """
    if isinstance(num_devices, bool) or not isinstance(num_devices, int) or num_devices < 1:
        raise ValueError(f"devices must be an integer >= 1, got {num_devices!r}")
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
    """Set up devices and, for multiworker, the strategy; call before any TF op runs.

    A second call with the same arguments does nothing.
    """
    global _PREPARED, _STRATEGY
    if _PREPARED == (strategy, devices):
        return
    if strategy == "mirrored":
        configure_cpu_devices(devices)
    elif strategy == "multiworker":
        # collective ops must be configured at program start-up, hence here
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
    if kind == "chief":
        return True
    return kind == "worker" and index == 0 and "chief" not in config.get("cluster", {})


# ----------------------------------------------------------------------------- the loss
def per_sample_loss(loss_fn: Callable | str) -> tuple[Callable, str]:
    """(fn, reduction): fn(y_true, y_pred) gives one loss per sample; reduction is how the
    batch loss is made of them: "mean" (Keras's sum_over_batch_size) or "sum" (SSE).

    Raises:
        ValueError: the batch loss is not a mean or a sum of per-sample losses (e.g. RMSE),
            so it cannot be split over replicas.

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
    overrides = [
        klass
        for klass in type(loss_fn).__mro__
        if "__call__" in vars(klass) and klass.__module__.startswith("custom_losses")
    ]
    own_call = [k for k in overrides if k.__name__ != "LossFunction"]
    if own_call:  # e.g. RootMeanSquaredError: sqrt of the mean, not a mean
        raise ValueError(f"loss {name!r} is not a mean or sum of per-sample losses")
    reduction = {"sum_over_batch_size": "mean", "mean": "mean", "sum": "sum"}.get(loss_fn.reduction)
    if reduction is None:
        raise ValueError(f"loss {name!r} has reduction {loss_fn.reduction!r}; need mean or sum")
    return loss_fn.call, reduction


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


# ----------------------------------------------------------------------------- the loop
class DistributedGradientDescent:
    """Mini-batch gradient descent under a tf.distribute strategy, in memory or streamed.

    Create the model (and this object) inside ``strategy.scope()``. Either ``x, y`` (in
    memory) or ``dataset_fn`` (``dataset_fn(epoch) -> tf.data.Dataset`` of global batches,
    e.g. :func:`keras_lab.stream.make_dataset`) with ``num_samples``.

    The interface is :class:`keras_lab.gd.GradientDescent`'s: ``run``, ``evaluate``,
    ``epoch``, ``step``, ``seed``, ``failed_step``, ``last_gradients``, ``steps_per_epoch``.
    """

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        model: keras.Model,
        loss_fn: Callable | str,
        x: np.ndarray | None = None,
        y: np.ndarray | None = None,
        batch_size: int = 32,
        learning_rate: float = 0.01,
        schedule: str = "constant",
        decay_rate: float = 0.5,
        decay_steps: int = 1000,
        shuffle: bool = True,
        seed: int = 0,
        drop_remainder: bool = False,
        dataset_fn: Callable[[int], tf.data.Dataset] | None = None,
        num_samples: int | None = None,
        jit_compile: bool = False,
    ) -> None:
        if not model.built or not model.trainable_variables:
            raise ValueError(f"model {model.name!r} must be built and have trainable weights")
        if (x is None) == (dataset_fn is None):
            raise ValueError("give either x, y (in memory) or dataset_fn (streamed), not both")
        self.strategy = strategy
        self.model = model
        self.loss_fn = keras.losses.get(loss_fn) if isinstance(loss_fn, str) else loss_fn
        self._per_sample, self._reduction = per_sample_loss(self.loss_fn)
        self.dtype = model.trainable_variables[0].dtype
        self.dataset_fn = dataset_fn
        if x is not None:
            self.x = tf.constant(np.asarray(x), dtype=self.dtype)
            self.y = tf.constant(np.asarray(y), dtype=self.dtype)
            if self.x.shape[0] != self.y.shape[0]:
                raise ValueError(f"x has {self.x.shape[0]} samples, y has {self.y.shape[0]}")
            num_samples = int(self.x.shape[0])
        self.num_samples = int(num_samples or 0)
        self.batch_size, self.num_full_batches, self.remainder, self.steps_per_epoch = batching(
            self.num_samples, batch_size, drop_remainder
        )
        self.drop_remainder = bool(drop_remainder)
        self.shuffle = bool(shuffle)
        self.num_replicas = strategy.num_replicas_in_sync
        self.jit_compile = bool(jit_compile)
        # XLA compiles what each replica computes (forward, loss, tape gradients); the
        # collectives, the update and the epoch's loop stay outside, in the TF graph
        self._gradients = (
            tf.function(self._replica_gradients, jit_compile=True)
            if self.jit_compile
            else self._replica_gradients
        )

        with strategy.scope():
            self.learning_rate = tf.Variable(
                _positive(learning_rate, "learning_rate"), dtype=tf.float64, trainable=False
            )
            self.schedule = tf.Variable(_schedule_id(schedule), dtype=tf.int32, trainable=False)
            self.decay_rate = tf.Variable(
                _positive(decay_rate, "decay_rate"), dtype=tf.float64, trainable=False
            )
            self.decay_steps = tf.Variable(
                _positive(decay_steps, "decay_steps"), dtype=tf.float64, trainable=False
            )
            self.seed = tf.Variable(int(seed), dtype=tf.int64, trainable=False, name="seed")
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.failed_step = tf.Variable(-1, dtype=tf.int64, trainable=False)
            self.last_gradients = [
                tf.Variable(tf.zeros_like(v), trainable=False, name=f"grad_{i}")
                for i, v in enumerate(model.trainable_variables)
            ]
        self._run_epoch = tf.function(
            self._epoch_in_memory if x is not None else self._epoch_streamed
        )
        self._evaluate = tf.function(self._evaluate_streamed)

    # ------------------------------------------------------------------ the step
    def _replica_gradients(
        self, x_local: tf.Tensor, y_local: tf.Tensor, global_size: tf.Tensor
    ) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """On one replica: its share of the global batch loss and of the gradient."""
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self.model(x_local, training=True)
            loss_sum = tf.reduce_sum(self._per_sample(y_local, y_pred))
            scale = tf.cast(global_size, loss_sum.dtype) if self._reduction == "mean" else 1.0
            loss = loss_sum / scale  # the one scaling: 1/B of the whole global batch
        grads = tape.gradient(loss, variables)
        grads = [tf.zeros_like(v) if g is None else g for v, g in zip(variables, grads)]
        return loss, grads

    def _apply(self, per_replica: tuple) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """All-reduce (SUM) the replicas' parts, then theta <- theta - eta * grad."""
        loss_parts, grad_parts = per_replica
        sum_ = tf.distribute.ReduceOp.SUM
        loss = self.strategy.reduce(sum_, loss_parts, axis=None)
        grads = [self.strategy.reduce(sum_, g, axis=None) for g in grad_parts]
        # cross-replica context: the same update lands on every replica's copy
        eta, grad_norm, _ = apply_update(self, loss, grads)
        return tf.cast(loss, tf.float64), eta, tf.cast(grad_norm, tf.float64)

    # ------------------------------------------------------------------ the loop
    def _order(self) -> tf.Tensor:
        """The single-device loop's order: argsort(stateless_uniform([n], (seed, epoch)))."""
        if not self.shuffle:
            return tf.range(self.num_samples)
        return epoch_permutation(self.num_samples, self.seed, self.epoch)

    def _in_memory_replica(self, index: tf.Tensor) -> tuple:
        context = tf.distribute.get_replica_context()
        global_size = tf.shape(index)[0]
        start, size = replica_slice(
            global_size, context.replica_id_in_sync_group, self.num_replicas
        )
        mine = index[start : start + size]  # this replica's slice of the global batch
        return self._gradients(tf.gather(self.x, mine), tf.gather(self.y, mine), global_size)

    def _epoch_in_memory(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        order = self._order()
        seen = self.num_full_batches * self.batch_size + self.remainder
        loss_sum = tf.constant(0.0, tf.float64)
        norm_sum = tf.constant(0.0, tf.float64)
        eta = tf.constant(0.0, tf.float64)
        b = tf.constant(0)
        while b < self.steps_per_epoch and self.failed_step < 0:
            start = b * self.batch_size
            index = order[start : tf.minimum(start + self.batch_size, seen)]
            loss, eta, norm = self._apply(self.strategy.run(self._in_memory_replica, (index,)))
            loss_sum += loss * tf.cast(tf.shape(index)[0], tf.float64)
            norm_sum += norm
            b += 1
        return loss_sum / seen, eta, norm_sum / self.steps_per_epoch

    def _streamed_replica(self, x_local: tf.Tensor, y_local: tf.Tensor) -> tuple:
        context = tf.distribute.get_replica_context()
        local_size = tf.shape(x_local)[0]
        global_size = context.all_reduce(tf.distribute.ReduceOp.SUM, local_size)
        loss, grads = self._gradients(x_local, y_local, global_size)
        return loss, grads, tf.cast(local_size, tf.float64)

    def _epoch_streamed(self, dataset) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        loss_sum = tf.constant(0.0, tf.float64)
        norm_sum = tf.constant(0.0, tf.float64)
        seen = tf.constant(0.0, tf.float64)
        eta = tf.constant(0.0, tf.float64)
        for x_batch, y_batch in dataset:
            loss_part, grads, sizes = self.strategy.run(self._streamed_replica, (x_batch, y_batch))
            size = self.strategy.reduce(tf.distribute.ReduceOp.SUM, sizes, axis=None)
            loss, eta, norm = self._apply((loss_part, grads))
            loss_sum += loss * size
            seen += size
            norm_sum += norm
        return loss_sum / seen, eta, norm_sum / self.steps_per_epoch

    def _epoch_dataset(self, epoch: int):
        """Epoch ``epoch``'s dataset of global batches, distributed over the replicas.

        Every worker reads the whole stream and keeps its replicas' part of each global
        batch (auto-shard policy DATA): TF cuts a batch of B into one piece per replica,
        the first B mod R pieces one sample larger (numpy.array_split; measured: 40
        samples in batches of 7 on 2 workers give 4 + 3 six times and 3 + 2 once; batch
        1 gives 1 + 0), so every worker takes the same number of steps and the update is
        the single-device one. FILE sharding (TF's AUTO choice for TFRecord files) would
        give each worker other files: other batches, other step counts.
        """
        dataset = self.dataset_fn(epoch)
        if self.num_replicas == 1 and not self._multiworker:
            return dataset
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return self.strategy.experimental_distribute_dataset(dataset.with_options(options))

    @property
    def _multiworker(self) -> bool:
        return isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)

    def run(self, num_epochs: int) -> EpochStats:
        """Train ``num_epochs`` more epochs, one compiled call each; stop at a non-finite step."""
        if isinstance(num_epochs, bool) or not isinstance(num_epochs, (int, np.integer)):
            raise ValueError(f"num_epochs must be an integer, got {num_epochs!r}")
        if num_epochs < 1:
            raise ValueError(f"num_epochs must be >= 1, got {num_epochs}")
        logs: list[list[float]] = [[], [], []]
        for _ in range(int(num_epochs)):
            if int(self.failed_step.numpy()) >= 0:
                break
            if self.dataset_fn is None:
                values = self._run_epoch()
            else:
                values = self._run_epoch(self._epoch_dataset(int(self.epoch.numpy())))
            if int(self.failed_step.numpy()) >= 0:
                break
            with self.strategy.scope():
                self.epoch.assign_add(1)
            for log, value in zip(logs, values):
                log.append(float(value.numpy()))
        loss, lr, norm = (np.asarray(log, np.float64) for log in logs)
        return EpochStats(loss, lr, norm, failed_step=int(self.failed_step.numpy()))

    def _evaluate_streamed(self, dataset) -> tf.Tensor:
        total = tf.constant(0.0, tf.float64)
        count = tf.constant(0.0, tf.float64)
        for x_batch, y_batch in dataset:
            losses = self._per_sample(y_batch, self.model(x_batch, training=False))
            total += tf.cast(tf.reduce_sum(losses), tf.float64)
            count += tf.cast(tf.size(losses), tf.float64)
        return total / count if self._reduction == "mean" else total

    def evaluate(self) -> float:
        """The loss on the whole training set with the current weights (streamed if on disk)."""
        if self.dataset_fn is None:
            losses = self._per_sample(self.y, self.model(self.x, training=False))
            reduce = tf.reduce_mean if self._reduction == "mean" else tf.reduce_sum
            return float(reduce(tf.cast(losses, tf.float64)))
        return float(self._evaluate(self.dataset_fn(int(self.epoch.numpy()))))

    def concrete_function(self) -> tf.types.experimental.ConcreteFunction:
        """The compiled epoch (for TensorBoard's Graphs tab): the batches, strategy.run of
        the replicas' gradients, the all-reduce and the update, in one graph.

        Streamed: traced for a dataset of the same kind as :meth:`run`'s, so after a run
        this is the function that ran (no new tracing).
        """
        if self.dataset_fn is None:
            return self._run_epoch.get_concrete_function()
        return self._run_epoch.get_concrete_function(self._epoch_dataset(int(self.epoch.numpy())))

    @property
    def tracing_count(self) -> int:
        """How often the epoch function was traced."""
        return self._run_epoch.experimental_get_tracing_count()


# ----------------------------------------------------------------------------- workers
def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (bound, read, released)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports: Sequence[int], index: int) -> str:
    """The TF_CONFIG of worker ``index`` in a cluster of workers on 127.0.0.1.

    Example:
        >>> json.loads(tf_config([2222, 2223], 1))
        {'cluster': {'worker': ['127.0.0.1:2222', '127.0.0.1:2223']},
         'task': {'type': 'worker', 'index': 1}}
    """
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def launch_workers(
    argv: Sequence[str],
    num_workers: int,
    module: str = "keras_lab.train",
    timeout: float | None = None,
    started: list[int] | None = None,
) -> int:
    """Run ``python -m module argv`` as ``num_workers`` workers on 127.0.0.1, with TF_CONFIG.

    The chief (worker 0) prints to this process's stdout; the others' output goes to
    temporary files and the first line of a failing worker's last error is reported. Every
    worker is killed when this returns or raises (and, on Linux, if this process dies).

    Args:
        argv: the flags every worker gets (the same for all; TF_CONFIG tells them apart).
        num_workers: how many processes.
        module: the module each runs with ``python -m``.
        timeout: seconds before the workers are killed and TimeoutError raised; None: wait.
        started: if given, the workers' process ids are appended to it.

    Returns:
        0 if every worker exited 0, else the first non-zero exit code (the chief's first).
    """
    ports = free_ports(num_workers)
    processes: list[subprocess.Popen] = []
    logs = []
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        for index in range(num_workers):
            env = dict(os.environ, TF_CONFIG=tf_config(ports, index))
            log = tempfile.TemporaryFile(mode="w+")
            logs.append(log)
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", module, *argv],
                    env=env,
                    stdout=None if index == 0 else subprocess.DEVNULL,
                    stderr=log,
                    preexec_fn=_die_with_parent,
                )
            )
            if started is not None:
                started.append(processes[-1].pid)
        codes: list[int | None] = [None] * num_workers
        while any(code is None for code in codes):
            for index, process in enumerate(processes):
                if codes[index] is None:
                    codes[index] = process.poll()
            failing = [c for c in codes if c not in (None, 0)]
            if failing:  # one worker failed: the others would wait for it forever
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"workers still running after {timeout} s")
            time.sleep(0.1)
        order = [0, *range(1, num_workers)]
        for index in order:
            if codes[index] not in (None, 0):
                logs[index].seek(0)
                lines = [line for line in logs[index].read().splitlines() if line.strip()]
                if lines:
                    sys.stderr.write(lines[-1] + "\n")
                return int(codes[index])
        return 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        for process in processes:
            with contextlib.suppress(Exception):
                process.wait(timeout=30)
        for log in logs:
            log.close()
