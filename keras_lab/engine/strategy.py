"""Devices and machines for tf.distribute: splitting the CPU, the strategy of this process.

``--devices N`` splits the one physical CPU into N logical devices; this must happen before
TensorFlow's runtime starts (:func:`prepare`, called first by train.py). Multi-worker runs
read TF_CONFIG (docs/distribute.md); :mod:`keras_lab.engine.workers` starts local workers.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from keras_lab import checks
from keras_lab.config import STRATEGIES

__all__ = ["STRATEGIES", "configure_cpu_devices", "get_strategy", "is_chief", "prepare"]

_STRATEGY: tf.distribute.Strategy | None = None  # the one strategy of this process
_PREPARED: tuple[str, int] | None = None


def configure_cpu_devices(num_devices: int) -> None:
    """Split the physical CPU into ``num_devices`` logical devices (before TF starts).

    Raises:
        ValueError: num_devices < 1, or TensorFlow's runtime is already initialised.
    """
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
