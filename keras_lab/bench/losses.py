"""w3: every custom loss against its keras.losses counterpart, timed eager, in tf.function
and in tf.function(jit_compile=True), against a memory-bandwidth floor."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from keras_lab.bench.timing import copy_bandwidth, interleaved_medians, peak_rss_mb, ratio

ELEMENTS, ELEMENTS_QUICK = 2**24, 2**16  # 64 MiB of float32 per input: beyond the caches
WIDTH = 8  # elements per sample: losses reduce over this last axis


def loss_inputs(name: str, num_elements: int) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_pred) valid for loss ``name``: num_elements values of y_pred, float32.

    Samples are rows of WIDTH values: probabilities for the crossentropies,
    +-1 labels for the hinges, positive values for the logarithmic ones.
    """
    rng = np.random.default_rng(0)
    rows = num_elements // WIDTH
    shape = (rows, WIDTH)
    if name == "sparse_categorical_crossentropy":
        logits = rng.standard_normal(shape).astype(np.float32)
        probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        return rng.integers(0, WIDTH, rows).astype(np.float32), probs.astype(np.float32)
    if name in ("categorical_crossentropy", "kl_divergence", "categorical_hinge"):
        logits = rng.standard_normal(shape).astype(np.float32)
        probs = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
        labels = np.eye(WIDTH, dtype=np.float32)[rng.integers(0, WIDTH, rows)]
        if name == "kl_divergence":
            labels = np.roll(probs, 1, axis=0)
        return labels, probs
    if name == "binary_crossentropy":
        labels = rng.integers(0, 2, shape).astype(np.float32)
        return labels, rng.uniform(0.01, 0.99, shape).astype(np.float32)
    if name in ("hinge", "squared_hinge"):
        labels = rng.choice(np.array([-1.0, 1.0], np.float32), shape)
        return labels, rng.standard_normal(shape).astype(np.float32)
    # Regression, poisson, msle, mape: positive targets and predictions.
    return (
        rng.uniform(0.5, 2.0, shape).astype(np.float32),
        rng.uniform(0.5, 2.0, shape).astype(np.float32),
    )


def keras_counterpart(name: str) -> tuple[Callable, str]:
    """The keras.losses function for ``name``, or the Keras expression it replaces."""
    import keras

    if hasattr(keras.losses, name):
        return getattr(keras.losses, name), f"keras.losses.{name}"
    if name == "root_mean_squared_error":
        return (
            lambda t, p: keras.ops.sqrt(keras.losses.mean_squared_error(t, p)),
            "sqrt(keras.losses.mean_squared_error)",
        )
    if name == "sum_squared_error":
        return (
            lambda t, p: keras.ops.sum(keras.ops.square(p - t), axis=-1),
            "sum(square(y_pred - y_true), -1) in keras.ops",
        )
    raise ValueError(f"no Keras counterpart for loss {name!r}")


#: The losses compared with the memory floor in the XLA (fused) mode: elementwise, one pass.
FLOOR_LOSSES = (
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "huber",
)
MODES = ("eager", "function", "xla")
#: --quick times every loss eager (no compilation) but compiles only these two, in
#: tf.function and XLA; the JSON's "modes_skipped" says which loss skipped which mode.
QUICK_COMPILED = ("mean_absolute_error", "log_cosh")
#: Losses not timed here: not a function of rows of WIDTH values (generalized CE needs q
#: and integer labels, circle compares every pair of samples, ctc takes label and frame sequences).
NOT_ROWWISE = ("categorical_generalized_cross_entropy", "circle", "ctc")


def loss_functions(quick: bool, repeats: int) -> dict[str, Any]:
    """Each custom loss vs Keras, eager / tf.function / XLA: median time of mean(loss)."""
    import tensorflow as tf

    from custom_losses import registry

    num_elements = ELEMENTS_QUICK if quick else ELEMENTS
    bandwidth = copy_bandwidth(num_elements, repeats)
    best_bandwidth = max(bandwidth.values())
    floor_bytes = 2 * 4 * num_elements  # two float32 inputs, read once
    floor_s = floor_bytes / (best_bandwidth * 1e9)

    losses: dict[str, Any] = {}
    modes_skipped: dict[str, list[str]] = {}
    for name, ours_fn in registry.FUNCTIONS.items():
        if name in NOT_ROWWISE:
            continue
        y_true, y_pred = (tf.constant(v) for v in loss_inputs(name, num_elements))
        if name == "sparse_categorical_crossentropy":
            y_true = tf.cast(y_true, tf.int32)
        keras_fn, keras_name = keras_counterpart(name)
        entry: dict[str, Any] = {"keras": keras_name, "median_seconds": {}, "ours_over_keras": {}}
        for mode in MODES:
            if quick and mode != "eager" and name not in QUICK_COMPILED:
                modes_skipped.setdefault(name, []).append(mode)
                continue
            fns = {}
            for who, fn in (("ours", ours_fn), ("keras", keras_fn)):
                # a partial, not a lambda: tf.function counts retracing per code object,
                # and one lambda's code shared by every loss read as one function retraced
                mean_loss = functools.partial(_mean_of, fn)
                if mode != "eager":
                    mean_loss = tf.function(mean_loss, jit_compile=mode == "xla")
                mean_loss(y_true, y_pred).numpy()  # warm-up (and trace)
                fns[who] = lambda f=mean_loss: f(y_true, y_pred).numpy()
            medians = interleaved_medians(fns, repeats)
            entry["median_seconds"][mode] = medians
            entry["ours_over_keras"][mode] = ratio(medians["ours"], medians["keras"])
        if name in FLOOR_LOSSES and "xla" in entry["median_seconds"]:
            entry["ours_xla_over_floor"] = ratio(entry["median_seconds"]["xla"]["ours"], floor_s)
            entry["ours_function_over_floor"] = ratio(
                entry["median_seconds"]["function"]["ours"], floor_s
            )
        losses[name] = entry

    slower = sorted(
        f"{name}/{mode}"
        for name, entry in losses.items()
        for mode, value in entry["ours_over_keras"].items()
        if value > 1.05
    )
    fused = {
        name: losses[name]["ours_xla_over_floor"]
        for name in FLOOR_LOSSES
        if "ours_xla_over_floor" in losses[name]
    }
    return {
        "description": f"mean(loss) over {num_elements} float32 elements, rows of {WIDTH}",
        "elements": num_elements,
        "modes": {
            "eager": "eager ops",
            "function": "tf.function",
            "xla": "tf.function(jit_compile=True) (fused)",
        },
        "copy_bandwidth_gbs": bandwidth,
        "floor_formula": "2 inputs * 4 bytes * n / max(copy bandwidth, read+written bytes)",
        "floor_seconds": floor_s,
        "losses": losses,
        "modes_skipped": modes_skipped,  # --quick only: loss -> modes not timed
        "slower_than_keras_by_5pct": slower,
        "targets": {
            "no_loss_5pct_slower": not slower,
            "fused_within_2x_floor": all(v <= 2.0 for v in fused.values()),
        },
        "peak_rss_mb": peak_rss_mb(),
    }


def _mean_of(fn: Callable, y_true: Any, y_pred: Any) -> Any:
    import tensorflow as tf

    return tf.reduce_mean(fn(y_true, y_pred))
