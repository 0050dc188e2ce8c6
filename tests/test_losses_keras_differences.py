"""The last silent differences from keras.losses (Keras 3.15.1 on TensorFlow 2.21), each pinned.

One test (or a few) per difference; each failed on the code before its fix (checked by running
it first). Oracles: keras.losses on the same inputs, or a float64 reference written here from
the loss's definition (stated next to it), never our own code.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import custom_losses

#: Keras-side values are asserted on the version they were measured on only.
KERAS_3_15_1 = keras.__version__ == "3.15.1"


def _ctc_value_and_gradient(fn, y_true, logits, jit_compile):
    @tf.function(jit_compile=jit_compile)
    def run(logits):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = fn(y_true, logits)
            total = tf.reduce_sum(loss)
        return loss, tape.gradient(total, logits)

    loss, gradient = run(tf.constant(logits))
    return loss.numpy(), gradient.numpy()


# --- CTC: one frame under XLA ---
@pytest.mark.parametrize("jit_compile", [False, True])
def test_ctc_gradient_with_one_frame_compiles_and_equals_keras(jit_compile):
    # T = 1: the gradient of the frame loop did not compile under XLA ("Update dim size 1
    # greater than dynamic slice dimension: 0"); Keras's tf.nn.ctc_loss does
    rng = np.random.default_rng(1)
    y_true = tf.constant([[1], [2]])
    logits = rng.normal(0.0, 1.0, (2, 1, 3)).astype("float32")
    ours = _ctc_value_and_gradient(custom_losses.ctc, y_true, logits, jit_compile)
    theirs = _ctc_value_and_gradient(keras.losses.ctc, y_true, logits, jit_compile)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5, atol=1e-7)


def test_ctc_model_with_one_frame_fits_under_xla():
    # the user's case: model.compile(loss=CTC(), jit_compile=True).fit(...) with one frame
    rng = np.random.default_rng(2)
    x = rng.normal(0.0, 1.0, (4, 1, 3)).astype("float32")
    y = np.array([[1], [2], [1], [2]], "int32")
    model = keras.Sequential([keras.Input((1, 3)), keras.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=custom_losses.CTC(), jit_compile=True)
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert all(math.isfinite(v) for v in history.history["loss"])
