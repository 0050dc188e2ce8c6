"""The losses of keras.losses 3.15.1 added in issue #11, part 2: BinaryFocalCrossentropy,
CategoricalFocalCrossentropy, CategoricalGeneralizedCrossEntropy, Dice, Tversky, Circle, CTC,
and Loss / serialize / deserialize.

Oracle: keras.losses on the same backend (TensorFlow here; JAX in a subprocess). Values and
gradients over the seeded cases of tests/new_losses_cases.py, eagerly, in tf.function and under
XLA; every reduction and sample-weight kind through the classes; special values; Keras's own
losses_test.py classes run against ours; a model.fit + .keras save/load round trip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.losses import losses_test as keras_suite

import custom_losses
from custom_losses import extra_classes, focal, metric_learning, segmentation, sequence
from custom_losses.serialization import Loss, deserialize, serialize
from tests.new_losses_cases import (
    CASES,
    COMPILED_CASES,
    FLOAT32_REFERENCE,
    TOLERANCE,
    compare,
    ctc_inputs,
    kwargs_for,
    unit_rows,
    weights_for,
)

HERE = os.path.dirname(os.path.abspath(__file__))
OURS = {
    "binary_focal_crossentropy": focal.binary_focal_crossentropy,
    "categorical_focal_crossentropy": focal.categorical_focal_crossentropy,
    "categorical_generalized_cross_entropy": focal.categorical_generalized_cross_entropy,
    "dice": segmentation.dice,
    "tversky": segmentation.tversky,
    "circle": metric_learning.circle,
    "ctc": sequence.ctc,
}
DTYPES = ("float32", "float64")


# --------------------------------------------------------------------------- parity, functions
def _value_and_gradient(fn, y_true, y_pred, weights, kwargs):
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        loss = fn(y_true, y_pred, **kwargs)
        total = tf.reduce_sum(loss * tf.cast(weights, loss.dtype))
    return loss, tape.gradient(total, y_pred)


def _cases_run(side: str, data: dict, names: set[str], mode: str) -> dict:
    """{case id: (value, gradient)} of the cases of the loss functions ``names``, one side,
    each case eagerly or as its own tf.function (one small graph each: faster to trace and
    compile than one graph of all the cases)."""
    results = {}
    for case in CASES:
        if case.name in names and case.id in data:
            fn = OURS[case.name] if side == "ours" else getattr(keras.losses, case.name)
            y_true, y_pred, weights, kwargs = data[case.id]

            def run(fn=fn, y_true=y_true, y_pred=y_pred, weights=weights, kwargs=kwargs):
                return _value_and_gradient(fn, y_true, y_pred, weights, kwargs)

            if mode != "eager":
                run = tf.function(run, jit_compile=mode == "xla")
            results[case.id] = run()
    return results


_RESULTS: dict = {}


def _results(mode: str, dtype: str) -> dict:
    """Computed once per (mode, dtype), an error too (so that one failure is not recomputed)."""
    if (mode, dtype) not in _RESULTS:
        try:
            _RESULTS[mode, dtype] = _compute_results(mode, dtype)
        except Exception as error:  # re-raised by every test that needs it
            _RESULTS[mode, dtype] = error
    if isinstance(_RESULTS[mode, dtype], Exception):
        raise _RESULTS[mode, dtype]
    return _RESULTS[mode, dtype]


def _compute_results(mode: str, dtype: str) -> dict:
    """{case id: (ours value, ours gradient, keras value, keras gradient)} as numpy arrays."""
    rng = np.random.default_rng(11)
    data = {}
    for case in CASES:
        y_true, y_pred = case.make(rng, dtype)
        kwargs = kwargs_for(case, dtype)
        shape = tuple(getattr(keras.losses, case.name)(y_true, y_pred, **kwargs).shape)
        weights = tf.constant(weights_for(shape, rng, dtype))
        data[case.id] = (tf.constant(y_true), tf.constant(y_pred), weights, kwargs)
    if mode != "eager":
        data = {case_id: data[case_id] for case_id in COMPILED_CASES}
    names = set(OURS)
    ours = _cases_run("ours", data, names, mode)
    # under XLA ours is compared with Keras's tf.function run: on these finite inputs the two
    # differ in rounding only, and it halves the compile time (tf.nn.ctc_loss, Keras's CTC on
    # TensorFlow, has no XLA kernel anyway)
    reference = _cases_run("keras", data, names, "function" if mode == "xla" else mode)
    return {
        case_id: tuple(np.asarray(t) for t in (*ours[case_id], *reference[case_id]))
        for case_id in ours
    }


PARITY_RUNS = [
    pytest.param(case.id, dtype, "eager", id=f"{case.id}-{dtype}-eager")
    for case in CASES
    for dtype in DTYPES
] + [
    pytest.param(case_id, "float32", mode, id=f"{case_id}-float32-{mode}")
    for case_id in COMPILED_CASES
    for mode in ("function", "xla")
]


@pytest.mark.parametrize("case_id, dtype, mode", PARITY_RUNS)
def test_values_and_gradients_equal_keras(case_id, dtype, mode):
    ours_value, ours_grad, keras_value, keras_grad = _results(mode, dtype)[case_id]
    float32_reference = case_id in FLOAT32_REFERENCE["tensorflow"]
    rtol, atol = TOLERANCE["float32" if float32_reference else dtype]
    assert ours_value.dtype == keras_value.dtype
    assert compare(ours_value, keras_value, rtol, atol) <= 1.0, (ours_value, keras_value)
    assert compare(ours_grad, keras_grad, rtol, atol) <= 1.0, (ours_grad, keras_grad)
    assert np.all(np.isfinite(ours_value)) and np.all(np.isfinite(ours_grad))
