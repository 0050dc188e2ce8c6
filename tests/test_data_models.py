"""keras_lab.data and keras_lab.models: the lecture's numbers and the builders' checks."""

import numpy as np
import pytest

from keras_lab import data, models
from keras_lab.lecture.backprop import LECTURE_WEIGHTS


def test_lecture_points_are_exactly_as_printed():
    x, y = data.lecture_data()
    # The lecture's "Training set" slide and listing lines 16 and 18.
    assert x.ravel().tolist() == [-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2]
    expected_t = np.array([0, 0.075, 0.292, 0.617, 1.0, 1.382, 1.707, 1.923, 2], np.float32)
    np.testing.assert_array_equal(y.ravel(), expected_t)
    assert x.dtype == np.float32 and x.shape == (9, 1)


def test_lecture_targets_are_close_to_g_but_not_its_rounding():
    # T approximates g(P) = 1 + sin(pi P / 4) (the listing's commented line 17), but is not
    # g rounded to 3 decimals: numpy gives g(-1.5) = 0.0761, g(1.5) = 1.9239, so the
    # printed 0.075 and 1.923 are off by 1.1e-3 and 0.9e-3. We keep T exactly as printed.
    x, y = data.lecture_data("float64")
    errors = np.abs(y - data.sine_target(x)).ravel()
    assert errors.max() < 1.2e-3
    np.testing.assert_allclose(errors[1], 0.0761204674887 - 0.075, rtol=1e-9)


def test_sine_data_is_seeded_and_noisy_when_asked():
    a = data.sine_data(100, noise=0.1, seed=3)
    b = data.sine_data(100, noise=0.1, seed=3)
    c = data.sine_data(100, noise=0.1, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    residual = a[1] - data.sine_target(a[0])
    assert 0.05 < residual.std() < 0.2  # noise std 0.1, 100 draws
    assert a[0].min() >= -2 and a[0].max() <= 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_samples": 0}, "num_samples must be an integer >= 1, got 0"),
        ({"num_samples": 5, "noise": -1.0}, "noise must be a finite number >= 0, got -1.0"),
        ({"num_samples": 5, "noise": float("nan")}, "noise must be a finite number >= 0, got nan"),
        ({"num_samples": 5, "low": 1.0, "high": 1.0}, "need finite low < high, got low=1.0"),
        ({"num_samples": 5, "dtype": "int8"}, "dtype must be 'float32' or 'float64', got 'int8'"),
    ],
)
def test_sine_data_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.sine_data(**kwargs)


def test_classes_data_is_balanced_and_separable():
    x, labels = data.classes_data(300, num_classes=3, noise=0.3, seed=1)
    assert np.bincount(labels).tolist() == [100, 100, 100]
    # Centres 2 (cos, sin)(2 pi k / 3) are 2*sqrt(3) apart; with std 0.3 the nearest centre
    # classifies almost every point.
    centres = 2 * np.stack(
        [np.cos(2 * np.pi * np.arange(3) / 3), np.sin(2 * np.pi * np.arange(3) / 3)], 1
    )
    nearest = np.argmin(((x[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == labels) > 0.98


def test_sine_fit_model_has_the_lecture_architecture_and_weights():
    model = models.sine_fit_model(init="lecture", dtype="float64")
    hidden, output = model.layers
    assert (hidden.units, output.units) == (2, 1)
    assert hidden.activation.__name__ == "sigmoid" and output.activation.__name__ == "linear"
    for (w, b), (w_ref, b_ref) in zip(models.get_lecture_weights(model), LECTURE_WEIGHTS):
        np.testing.assert_array_equal(w, w_ref)
        np.testing.assert_array_equal(b, b_ref)
    # Hand calculation (lecture's worked example, X = 1): n1 = [-0.1, 0.6],
    # y2 = 0.5 sigmoid(-0.1) + 0.6 sigmoid(0.6) - 0.1 = 0.5249041899960073 (math.exp).
    y = model.predict(np.array([[1.0]]), verbose=0)
    np.testing.assert_allclose(y, [[0.5249041899960073]], rtol=1e-14)


def test_random_start_is_seeded_uniform_like_the_listing():
    a = models.get_lecture_weights(models.sine_fit_model(seed=5, dtype="float64"))
    b = models.lecture_random_weights(5)
    for (wa, ba), (wb, bb) in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)
        assert np.all((wb >= 0) & (wb < 1))  # np.random.rand's range, as the listing
    c = models.get_lecture_weights(models.sine_fit_model(seed=6, dtype="float64"))
    assert not np.array_equal(a[0][0], c[0][0])


def test_mlp_shapes_activations_and_seed():
    model = models.mlp(
        hidden=(8, 4),
        activation=("tanh", "relu"),
        input_dim=3,
        output_dim=2,
        output_activation="softmax",
        seed=1,
    )
    assert [tuple(w.shape) for w in model.get_weights()] == [
        (3, 8),
        (8,),
        (8, 4),
        (4,),
        (4, 2),
        (2,),
    ]
    assert [layer.activation.__name__ for layer in model.layers] == ["tanh", "relu", "softmax"]
    again = models.mlp(
        hidden=(8, 4),
        activation=("tanh", "relu"),
        input_dim=3,
        output_dim=2,
        output_activation="softmax",
        seed=1,
    )
    for w1, w2 in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(w1, w2)


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: models.sine_fit_model(init="xavier"),
            "unknown init 'xavier'; expected one of",
        ),
        (lambda: models.mlp(hidden=(0,)), "layer sizes must be an integer >= 1, got 0"),
        (
            lambda: models.mlp(hidden=(2.5,)),
            "layer sizes must be an integer >= 1, got 2.5",
        ),
        (lambda: models.mlp(activation="swishy"), "unknown activation 'swishy'"),
        (lambda: models.mlp(hidden=(2, 2), activation=("tanh",)), "got 1 activations"),
        (lambda: models.mlp(output_activation="nope"), "unknown activation 'nope'"),
        (
            lambda: models.mlp(dtype="float16"),
            "dtype must be 'float32' or 'float64', got 'float16'",
        ),
        (
            lambda: models.set_lecture_weights(models.sine_fit_model(), [LECTURE_WEIGHTS[0]]),
            "model has 2 dense layers, got weights for 1",
        ),
        (
            lambda: models.set_lecture_weights(
                models.sine_fit_model(), [(np.zeros((1, 2)), np.zeros((2, 1))), LECTURE_WEIGHTS[1]]
            ),
            r"layer 1: expected W of shape \(2, 1\)",
        ),
    ],
)
def test_builders_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
