"""keras_lab.lecture.backprop: the lecture's equations, its worked example and its numpy listing."""

import json
import math

import numpy as np
import pytest

from keras_lab.data import lecture_data
from keras_lab.lecture import backprop
from keras_lab.lecture.backprop import LECTURE_WEIGHTS
from keras_lab.lecture.listing import lecture_listing
from keras_lab.models import lecture_random_weights

SIGMOID_LINEAR = ["sigmoid", "linear"]


def hand_worked_example():
    """The lecture's worked example by hand, scalar by scalar with math.exp (no numpy)."""
    x, t, alpha = 1.0, 1.707, 0.1
    w11, w21, b11, b21 = -0.3, 0.5, 0.2, 0.1
    w2_1, w2_2, b2 = 0.5, 0.6, -0.1
    n1 = [w11 * x + b11, w21 * x + b21]
    y1 = [1 / (1 + math.exp(-n)) for n in n1]
    y2 = w2_1 * y1[0] + w2_2 * y1[1] + b2
    e = t - y2
    d2 = -2 * 1 * e  # F2 = 1 (linear output)
    d1 = [(1 - y1[0]) * y1[0] * w2_1 * d2, (1 - y1[1]) * y1[1] * w2_2 * d2]
    return {
        "n1": n1,
        "y1": y1,
        "y2": y2,
        "e": e,
        "sse": e * e,
        "d2": d2,
        "d1": d1,
        "W1": [w11 - alpha * d1[0] * x, w21 - alpha * d1[1] * x],
        "b1": [b11 - alpha * d1[0], b21 - alpha * d1[1]],
        "W2": [w2_1 - alpha * d2 * y1[0], w2_2 - alpha * d2 * y1[1]],
        "b2": b2 - alpha * d2,
    }


def test_worked_example_matches_the_hand_calculation():
    step = backprop.worked_example()
    hand = hand_worked_example()
    for key in ("n1", "y1", "y2", "e", "sse", "d2", "d1", "W1", "b1", "W2", "b2"):
        np.testing.assert_allclose(np.ravel(step[key]), np.ravel(hand[key]), rtol=1e-14, atol=1e-16)
    # Rounded values of the hand calculation, for a reader checking the slide:
    assert round(hand["y2"], 4) == 0.5249 and round(hand["d2"], 4) == -2.3642
    assert [round(v, 4) for v in hand["d1"]] == [-0.2948, -0.3245]
    # Shapes as in the lecture: W1, b1, n1, y1, d1 2x1; W2 1x2; y2, e, d2, b2 1x1.
    assert {k: np.shape(v) for k, v in step.items() if k != "sse"} == {
        "n1": (2, 1),
        "y1": (2, 1),
        "y2": (1, 1),
        "e": (1, 1),
        "d2": (1, 1),
        "d1": (2, 1),
        "W1": (2, 1),
        "b1": (2, 1),
        "W2": (1, 2),
        "b2": (1, 1),
    }


def test_worked_example_cli_json_has_exactly_the_lecture_keys(cli):
    result = cli("keras_lab.backprop", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert list(payload) == ["n1", "y1", "y2", "e", "sse", "d2", "d1", "W1", "b1", "W2", "b2"]
    hand = hand_worked_example()
    np.testing.assert_allclose(np.ravel(payload["W2"]), hand["W2"], rtol=1e-14)
    assert np.shape(payload["W1"]) == (2, 1) and np.shape(payload["b2"]) == (1, 1)


def test_worked_example_cli_prints_every_step(cli):
    result = cli("keras_lab.backprop")
    assert result.returncode == 0, result.stderr
    for label in (
        "n1 = W1 x + b1",
        "y1 = sigmoid(n1)",
        "y2 = W2 y1 + b2",
        "SSE = e^T e",
        "d2 = -2 F2(n2) (t - y2)",
        "d1 = F1(n1) W2^T d2",
        "W1 <- W1 - alpha d1 x^T",
        "b2 <- b2 - alpha d2",
    ):
        assert label in result.stdout
    assert "[[0.524904]]" in result.stdout  # y2 of the hand calculation, 6 decimals


@pytest.mark.parametrize(
    "args, match",
    [
        (["--alpha", "0"], "alpha must be a finite number > 0, got 0.0"),
        (["--alpha", "-0.1"], "alpha must be a finite number > 0, got -0.1"),
        (["--x", "nan"], "x must be a finite number, got nan"),
        (["--t", "inf"], "t must be a finite number, got inf"),
        (["--alpha", "fast"], "argument --alpha: invalid float value: 'fast'"),
    ],
)
def test_worked_example_cli_bad_input_exits_2_with_one_line(cli, args, match):
    result = cli("keras_lab.backprop", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert match in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("start", ["lecture", "random"])
def test_train_sgd_reproduces_the_lecture_listing(start):
    # The listing (keras_lab.lecture.listing, as printed): alfa = 0.3, epoch = 10, float32 X
    # and T, from the worked example's weights or a seeded uniform [0, 1) start (its draw).
    layers = LECTURE_WEIGHTS if start == "lecture" else lecture_random_weights(seed=0)
    (w1, b1), (w2, b2) = layers
    *listing_weights, listing_sse = lecture_listing(w1, b1, w2, np.reshape(b2, 1), 0.3, 10)
    x, t = lecture_data()  # float32, as the listing's X and T
    trained, history = backprop.train_sgd(layers, SIGMOID_LINEAR, x, t, alpha=0.3, epochs=10)
    # The listing casts F1 to float32 (line 43): agreement to float32 round-off, not better.
    np.testing.assert_allclose(history, listing_sse, rtol=1e-6)
    for ours, theirs in zip([w for layer in trained for w in layer], listing_weights):
        np.testing.assert_allclose(np.ravel(ours), np.ravel(theirs), rtol=1e-6, atol=1e-8)
    assert history[-1] < history[0]  # the listing's SSE falls over its 10 epochs


def test_train_sgd_shuffles_deterministically():
    x, t = lecture_data("float64")
    a = backprop.train_sgd(LECTURE_WEIGHTS, SIGMOID_LINEAR, x, t, 0.3, 5, shuffle_seed=1)[1]
    b = backprop.train_sgd(LECTURE_WEIGHTS, SIGMOID_LINEAR, x, t, 0.3, 5, shuffle_seed=1)[1]
    c = backprop.train_sgd(LECTURE_WEIGHTS, SIGMOID_LINEAR, x, t, 0.3, 5)[1]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    orders = np.stack([np.random.default_rng(1).permutation(9) for _ in range(1)])
    first = backprop.train_sgd(LECTURE_WEIGHTS, SIGMOID_LINEAR, x, t, 0.3, 1, orders=orders)[1]
    assert first.shape == (1,)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "linear"])
def test_activation_derivatives_match_central_differences(activation):
    n = np.array([-3.0, -0.7, 0.3, 2.5])  # no relu kink at 0
    h = 1e-6
    numeric = (backprop.activate(activation, n + h) - backprop.activate(activation, n - h)) / (
        2 * h
    )
    analytic = backprop.derivative(activation, n, backprop.activate(activation, n))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-8, atol=1e-10)


def test_sigmoid_does_not_overflow():
    with np.errstate(over="raise"):
        np.testing.assert_allclose(backprop.sigmoid(np.array([-1000.0, 1000.0])), [0.0, 1.0])


def test_batch_gradient_is_the_sum_of_per_sample_gradients():
    rng = np.random.default_rng(0)
    layers = [
        (rng.normal(size=(3, 2)), rng.normal(size=(3, 1))),
        (rng.normal(size=(1, 3)), rng.normal(size=(1, 1))),
    ]
    x, t = rng.normal(size=(2, 5)), rng.normal(size=(1, 5))
    batch = backprop.gradients(layers, ["tanh", "linear"], x, t)
    per_sample = [
        backprop.gradients(layers, ["tanh", "linear"], x[:, q], t[:, q]) for q in range(5)
    ]
    for m in range(2):
        for k in range(2):
            np.testing.assert_allclose(batch[m][k], sum(g[m][k] for g in per_sample), rtol=1e-12)


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: backprop.forward(LECTURE_WEIGHTS, ["sigmoid", "softplus"], np.ones(1)),
            "unknown activation 'softplus'",
        ),
        (lambda: backprop.forward(LECTURE_WEIGHTS, ["sigmoid"], np.ones(1)), "got 1 activations"),
        (lambda: backprop.forward(LECTURE_WEIGHTS, "sigmoid", np.ones(1)), "one name per layer"),
        (
            lambda: backprop.forward(LECTURE_WEIGHTS, SIGMOID_LINEAR, np.ones(3)),
            r"x has shape \(3,\)",
        ),
        (
            lambda: backprop.forward(
                [(np.ones((2, 1)), np.ones((2, 1))), (np.ones((1, 3)), np.ones((1, 1)))],
                SIGMOID_LINEAR,
                np.ones(1),
            ),
            r"W\^2 has shape \(1, 3\)",
        ),
        (
            lambda: backprop.forward([(np.ones((2, 1)), np.ones((3, 1)))], ["linear"], np.ones(1)),
            r"b\^1 has shape \(3, 1\)",
        ),
        (
            lambda: backprop.forward(
                [(np.full((1, 1), np.nan), np.ones((1, 1)))], ["linear"], np.ones(1)
            ),
            "holds NaN or inf",
        ),
        (
            lambda: backprop.sgd_step(LECTURE_WEIGHTS, SIGMOID_LINEAR, np.ones(1), 1.0, alpha=0),
            "alpha must be a finite number > 0, got 0",
        ),
        (
            lambda: backprop.sgd_step(LECTURE_WEIGHTS, SIGMOID_LINEAR, np.ones(1), 1.0, alpha=-1),
            "alpha must be a finite number > 0, got -1",
        ),
        (
            lambda: backprop.sgd_step(
                LECTURE_WEIGHTS, SIGMOID_LINEAR, np.ones(1), np.ones(2), alpha=0.1
            ),
            r"t has shape \(2,\)",
        ),
        (
            lambda: backprop.train_sgd(
                LECTURE_WEIGHTS, SIGMOID_LINEAR, np.ones(3), np.ones(4), 0.1, 1
            ),
            "x has 3 samples, t has 4",
        ),
        (
            lambda: backprop.train_sgd(
                LECTURE_WEIGHTS, SIGMOID_LINEAR, np.ones(3), np.ones(3), 0.1, 0
            ),
            "epochs must be an integer >= 1, got 0",
        ),
        (
            lambda: backprop.worked_example(alpha=float("nan")),
            "alpha must be a finite number > 0, got nan",
        ),
    ],
)
def test_bad_input_raises_value_error_naming_the_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()
