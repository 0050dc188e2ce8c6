"""lecture.gradcheck: finite differences agree with the tape, and catch a wrong gradient."""

import keras
import numpy as np
import pytest

from keras_lab.data import lecture_data
from keras_lab.lecture.gradcheck import check_gradients, tape_gradients
from keras_lab.models import mlp, sine_fit_model


def sse(y_true, y_pred):
    return keras.ops.sum(keras.ops.square(y_true - y_pred), axis=-1)


def test_sine_fit_network_passes_below_1e_7():
    x, y = lecture_data("float64")
    result = check_gradients(sine_fit_model(seed=1, dtype="float64"), sse, x, y)
    assert result.max_relative_error < 1e-7
    assert len(result.relative_errors) == 4  # W1, b1, W2, b2


def test_three_layer_tanh_relu_linear_stack_passes_below_1e_7():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    model = mlp(
        hidden=(6, 5),
        activation=("tanh", "relu"),
        input_dim=3,
        output_dim=2,
        seed=3,
        dtype="float64",
    )
    # Biases start at zero; move them off zero so every parameter is exercised.
    for layer in model.layers:
        layer.bias.assign(rng.normal(size=layer.bias.shape) * 0.1)
    result = check_gradients(model, keras.losses.mean_squared_error, x, y)
    assert result.max_relative_error < 1e-7, result.relative_errors


def test_a_planted_wrong_gradient_is_caught():
    x, y = lecture_data("float64")
    model = sine_fit_model(seed=1, dtype="float64")
    grads = tape_gradients(model, sse, x, y)
    grads[2] = grads[2].copy()
    grads[2][0, 0] *= 1.01  # one element of dE/dW2 off by 1%
    result = check_gradients(model, sse, x, y, gradients=grads)
    assert not result.passed(1e-7)
    assert result.max_relative_error > 1e-4
    worst = max(result.relative_errors, key=result.relative_errors.get)
    assert worst == model.trainable_variables[2].path  # and it names the right variable


def test_weights_are_restored_after_checking():
    x, y = lecture_data("float64")
    model = sine_fit_model(seed=2, dtype="float64")
    before = [w.copy() for w in model.get_weights()]
    check_gradients(model, sse, x, y)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_epsilon_and_gradient_shapes_are_rejected():
    x, y = lecture_data("float64")
    model = sine_fit_model(dtype="float64")
    with pytest.raises(ValueError, match="epsilon must be a finite number > 0, got 0"):
        check_gradients(model, sse, x, y, epsilon=0)
    with pytest.raises(ValueError, match=r"gradients have shapes \[\(2,\)\]"):
        check_gradients(model, sse, x, y, gradients=[np.zeros(2)])
