"""Each loss against a numpy reference formula and hand-checked vectors, and Keras's published
docstring examples (keras 3.15.1 keras/src/losses/losses.py) run against ours."""

import math

import keras
import numpy as np
import pytest

import custom_losses

EPS = 1e-7  # keras.backend.epsilon(), Keras's default


# --- numpy references: the formulas, written once more, per sample (mean/sum over the last axis)


def np_mse(t, p):
    return np.mean((t - p) ** 2, axis=-1)


def np_mae(t, p):
    return np.mean(np.abs(t - p), axis=-1)


def np_mape(t, p):
    return 100 * np.mean(np.abs((t - p) / np.maximum(np.abs(t), EPS)), axis=-1)


def np_msle(t, p):
    return np.mean((np.log1p(np.maximum(p, EPS)) - np.log1p(np.maximum(t, EPS))) ** 2, axis=-1)


def np_rmse(t, p):
    return np.sqrt(np_mse(t, p))


def np_sse(t, p):
    return np.sum((t - p) ** 2, axis=-1)


def np_log_cosh(t, p):
    x = np.abs(p - t)
    return np.mean(x + np.log1p(np.exp(-2 * x)) - math.log(2), axis=-1)  # log cosh, overflow-free


def np_huber(t, p, delta=1.0):
    e = np.abs(p - t)
    return np.mean(np.where(e <= delta, 0.5 * e**2, delta * e - 0.5 * delta**2), axis=-1)


def np_bce(t, p, from_logits=False):
    if from_logits:
        p = 1 / (1 + np.exp(-p))
    p = np.clip(p, EPS, 1 - EPS)
    return np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p)), axis=-1)


def np_cce(t, p, from_logits=False):
    if from_logits:
        p = np.exp(p - p.max(axis=-1, keepdims=True))
    p = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
    return -np.sum(t * np.log(p), axis=-1)


def np_scce(labels, p):
    p = np.clip(p, EPS, 1 - EPS)
    p = p / p.sum(axis=-1, keepdims=True)
    return -np.log(np.take_along_axis(p, labels[..., None], axis=-1)[..., 0])


def np_hinge(t, p):
    t = 2 * t - 1 if np.all((t == 0) | (t == 1)) else t
    return np.mean(np.maximum(1 - t * p, 0), axis=-1)


def np_squared_hinge(t, p):
    t = 2 * t - 1 if np.all((t == 0) | (t == 1)) else t
    return np.mean(np.maximum(1 - t * p, 0) ** 2, axis=-1)


def np_categorical_hinge(t, p):
    return np.maximum(np.max((1 - t) * p, axis=-1) - np.sum(t * p, axis=-1) + 1, 0)


def np_kld(t, p):
    t, p = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    return np.sum(t * np.log(t / p), axis=-1)


def np_poisson(t, p):
    return np.mean(p - t * np.log(p + EPS), axis=-1)


def np_cosine(t, p):
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), EPS)  # noqa: E731
    return -np.sum(unit(t) * unit(p), axis=-1)


# name -> (numpy reference, y_true, y_pred, options, expected per-sample losses by hand)
HAND_CHECKED = {
    # rows: errors (1, 0) -> (1 + 0) / 2; errors (0, 2) -> (0 + 4) / 2
    "mean_squared_error": (np_mse, [[0, 1], [2, 3]], [[1, 1], [2, 5]], {}, [0.5, 2.0]),
    # (1 + 0) / 2; (0 + 2) / 2
    "mean_absolute_error": (np_mae, [[0, 1], [2, 3]], [[1, 1], [2, 5]], {}, [0.5, 1.0]),
    # 100 * (|1/2| + |-1/4|) / 2 = 37.5; a zero target divides by eps: 100 * 1e-7 / 1e-7 = 100
    "mean_absolute_percentage_error": (
        np_mape,
        [[2, 4], [0, 0]],
        [[1, 5], [1e-7, 0]],
        {},
        [37.5, 50.0],
    ),
    # (log(e) - log(1 + 1e-7))^2 / 2 with y_true = 0 raised to eps: (1 - 1e-7)^2 / 2
    "mean_squared_logarithmic_error": (
        np_msle,
        [[0.0, math.e - 1]],
        [[math.e - 1, math.e - 1]],
        {},
        [(1 - 1e-7) ** 2 / 2],
    ),
    # sqrt((9 + 16) / 2) = sqrt(12.5)
    "root_mean_squared_error": (np_rmse, [[0, 0]], [[3, 4]], {}, [math.sqrt(12.5)]),
    # the lecture's E = e^T e: 1 + 4
    "sum_squared_error": (np_sse, [[0, 1]], [[1, 3]], {}, [5.0]),
    # log cosh 0 = 0; log cosh 1 = log(1.5430806348) = 0.4337808305; 1e4 - log 2 (cosh overflows)
    "log_cosh": (
        np_log_cosh,
        [[0], [0], [0]],
        [[0], [1], [1e4]],
        {},
        [0, 0.4337808305, 1e4 - math.log(2)],
    ),
    # delta 1: e = 0.5 -> 0.125; e = 1 -> 0.5 on both branches; e = 3 -> 3 - 0.5
    "huber": (np_huber, [[0], [0], [0]], [[0.5], [1.0], [3.0]], {}, [0.125, 0.5, 2.5]),
    # t = 1, p = 0.5: log 2; t = 0, p = 0.25: -log(0.75)
    "binary_crossentropy": (
        np_bce,
        [[1], [0]],
        [[0.5], [0.25]],
        {},
        [math.log(2), -math.log(0.75)],
    ),
    # p = [1, 2, 1] renormalised to [.25, .5, .25]: -log(0.5)
    "categorical_crossentropy": (np_cce, [[0, 1, 0]], [[1.0, 2.0, 1.0]], {}, [math.log(2)]),
    # t = [1, -1], p = 0.5: (0.5 + 1.5) / 2; binary labels [1, 0] mean the same
    "hinge": (np_hinge, [[1, 0]], [[0.5, 0.5]], {}, [1.0]),
    # (0.25 + 2.25) / 2
    "squared_hinge": (np_squared_hinge, [[1, 0]], [[0.5, 0.5]], {}, [1.25]),
    # pos = 1, neg = max(0.5, 0, 0.25) = 0.5: max(0.5 - 1 + 1, 0)
    "categorical_hinge": (np_categorical_hinge, [[0, 1, 0]], [[0.5, 1.0, 0.25]], {}, [0.5]),
    # 0.5 log(0.5 / 0.25) + 0.5 log(0.5 / 0.75) = 0.5 (log 2 + log(2/3))
    "kl_divergence": (
        np_kld,
        [[0.5, 0.5]],
        [[0.25, 0.75]],
        {},
        [0.5 * (math.log(2) + math.log(2 / 3))],
    ),
    # ((1 - 0) + (3 - 2 log 3)) / 2, eps ignored: (4 - 2 log 3) / 2
    "poisson": (np_poisson, [[0, 2]], [[1, 3]], {}, [(4 - 2 * math.log(3)) / 2]),
    # parallel: -1; orthogonal: 0; 45 degrees: -1/sqrt 2
    "cosine_similarity": (
        np_cosine,
        [[0, 2], [1, 0], [1, 1]],
        [[0, 3], [0, 1], [1, 0]],
        {},
        [-1, 0, -1 / math.sqrt(2)],
    ),
}


@pytest.mark.parametrize("name", HAND_CHECKED)
def test_reference_and_ours_give_the_hand_values(name):
    reference, y_true, y_pred, options, expected = HAND_CHECKED[name]
    y_true, y_pred = np.array(y_true, np.float64), np.array(y_pred, np.float64)
    np.testing.assert_allclose(
        reference(y_true, y_pred, **options), expected, rtol=1e-6, atol=1e-12
    )
    ours = getattr(custom_losses, name)(y_true, y_pred, **options)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-12)


def test_sparse_categorical_crossentropy_hand_values():
    # label 1 of p = [.25, .5, .25]: -log 0.5; label 0 of [.5, .5, 0]: -log 0.5 (0 clipped to eps)
    labels, p = np.array([1, 0]), np.array([[0.25, 0.5, 0.25], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(np_scce(labels, p), [math.log(2)] * 2, rtol=1e-6)
    ours = custom_losses.sparse_categorical_crossentropy(labels, p)
    np.testing.assert_allclose(ours, [math.log(2)] * 2, rtol=1e-6)


def test_crossentropy_from_logits_hand_values():
    # logits 0 -> p = 1/2 -> log 2; logit 1e9 with t = 0 -> 1e9; logit -1e9 with t = 0 -> 0
    ours = custom_losses.binary_crossentropy(
        np.array([[1.0], [0.0], [0.0]]), np.array([[0.0], [1e9], [-1e9]]), from_logits=True
    )
    np.testing.assert_allclose(ours, [math.log(2), 1e9, 0.0], rtol=1e-12, atol=0)
    # three equal logits: -log(1/3) = log 3
    ours = custom_losses.categorical_crossentropy([[0, 0, 1]], [[5.0, 5.0, 5.0]], from_logits=True)
    np.testing.assert_allclose(ours, [math.log(3)], rtol=1e-6)


# references on random float64 data (numpy draws, seeded), beyond the hand vectors
RANDOM = {
    "mean_squared_error": (np_mse, "real", "real"),
    "mean_absolute_error": (np_mae, "real", "real"),
    "mean_absolute_percentage_error": (np_mape, "real", "real"),
    "mean_squared_logarithmic_error": (np_msle, "positive", "positive"),
    "root_mean_squared_error": (np_rmse, "real", "real"),
    "sum_squared_error": (np_sse, "real", "real"),
    "log_cosh": (np_log_cosh, "real", "real"),
    "huber": (np_huber, "real", "real"),
    "binary_crossentropy": (np_bce, "binary", "probability"),
    "categorical_crossentropy": (np_cce, "one_hot", "probability"),
    "hinge": (np_hinge, "binary", "real"),
    "squared_hinge": (np_squared_hinge, "binary", "real"),
    "categorical_hinge": (np_categorical_hinge, "one_hot", "real"),
    "kl_divergence": (np_kld, "probability", "probability"),
    "poisson": (np_poisson, "positive", "positive"),
    "cosine_similarity": (np_cosine, "real", "real"),
}


def _draw(kind, rng, shape=(5, 4)):
    return {
        "real": lambda: rng.normal(0, 3, shape),
        "positive": lambda: rng.uniform(0, 5, shape),
        "binary": lambda: rng.integers(0, 2, shape).astype(float),
        "probability": lambda: rng.uniform(0, 1, shape),
        "one_hot": lambda: np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])],
    }[kind]()


@pytest.mark.parametrize("name", RANDOM)
def test_ours_equals_numpy_reference_on_random_float64(name):
    reference, true_kind, pred_kind = RANDOM[name]
    rng = np.random.default_rng(5)
    y_true, y_pred = _draw(true_kind, rng), _draw(pred_kind, rng)
    ours = getattr(custom_losses, name)(y_true, y_pred)
    assert ours.dtype == "float64"
    # 1e-12: float64, same formulas up to rounding order (MSLE: log1p vs log(1 + x), ~1e-16)
    np.testing.assert_allclose(ours, reference(y_true, y_pred), rtol=1e-12)


def test_accurate_log_cosh_equals_numpy_reference_on_random_float64():
    rng = np.random.default_rng(5)
    y_true, y_pred = _draw("real", rng), _draw("real", rng)
    ours = custom_losses.log_cosh(y_true, y_pred, accurate=True)
    # 1e-12 as above; the accurate formula is within 3 eps of log(cosh(x)) (test_losses_numerics)
    np.testing.assert_allclose(ours, np_log_cosh(y_true, y_pred), rtol=1e-12)


# --- Keras's docstring examples (keras 3.15.1, keras/src/losses/losses.py), against ours ---------


def test_keras_docstring_examples_for_classes():
    cl = custom_losses
    # MeanSquaredError docstring: 0.02
    assert np.isclose(cl.MeanSquaredError()([1.0, 0.0, 1.0], [0.9, 0.1, 0.8]), 0.02)
    # MeanAbsoluteError docstring: 0.5666667
    assert np.isclose(cl.MeanAbsoluteError()([1.0, 0.3, 1.0], [1.9, 0.3, 1.8]), 0.5666667)
    # MeanAbsolutePercentageError docstring: 6.111111
    mape = cl.MeanAbsolutePercentageError()([100.0, 200.0, 300.0], [90.0, 210.0, 310.0])
    assert np.isclose(mape, 6.111111)


def test_keras_docstring_examples_binary_crossentropy():
    # BinaryCrossentropy docstring, "Recommended Usage" (printed to 3-4 digits there: atol 1e-3)
    bce = custom_losses.BinaryCrossentropy(from_logits=True)
    y_true, y_pred = np.array([0, 1, 0, 0]), np.array([-18.6, 0.51, 2.94, -12.8])
    np.testing.assert_allclose(bce(y_true, y_pred), 0.8654, atol=1e-3)  # Example 1
    y_true, y_pred = np.array([[0, 1], [0, 0]]), np.array([[-18.6, 0.51], [2.94, -12.8]])
    np.testing.assert_allclose(bce(y_true, y_pred), 0.8654, atol=1e-3)  # Example 2
    np.testing.assert_allclose(bce(y_true, y_pred, sample_weight=[0.8, 0.2]), 0.243, atol=1e-3)
    bce_sum = custom_losses.BinaryCrossentropy(from_logits=True, reduction="sum")
    np.testing.assert_allclose(bce_sum(y_true, y_pred), 1.730, atol=1e-3)
    bce_none = custom_losses.BinaryCrossentropy(from_logits=True, reduction=None)
    np.testing.assert_allclose(bce_none(y_true, y_pred), [0.235, 1.496], atol=1e-3)
    # binary_crossentropy function docstring: [0.916, 0.714]
    loss = custom_losses.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    np.testing.assert_allclose(loss, [0.916, 0.714], atol=1e-3)


def test_keras_docstring_examples_categorical_crossentropy():
    # CategoricalCrossentropy and SparseCategoricalCrossentropy docstrings: same numbers
    one_hot, labels = np.array([[0, 1, 0], [0, 0, 1]]), np.array([1, 2])
    y_pred = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    for loss_class, y_true in [
        (custom_losses.CategoricalCrossentropy, one_hot),
        (custom_losses.SparseCategoricalCrossentropy, labels),
    ]:
        np.testing.assert_allclose(loss_class()(y_true, y_pred), 1.177, atol=1e-3)
        weighted = loss_class()(y_true, y_pred, sample_weight=np.array([0.3, 0.7]))
        np.testing.assert_allclose(weighted, 0.814, atol=1e-3)
        np.testing.assert_allclose(loss_class(reduction="sum")(y_true, y_pred), 2.354, atol=1e-3)
        none = loss_class(reduction=None)(y_true, y_pred)
        np.testing.assert_allclose(none, [0.0513, 2.303], atol=1e-3)


def test_keras_docstring_examples_functions():
    # huber docstring: 0.155 (the mean of the per-sample values it prints)
    huber = custom_losses.huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    np.testing.assert_allclose(np.mean(huber), 0.155, atol=1e-3)
    # log_cosh docstring: 0.108 (the mean)
    log_cosh = custom_losses.log_cosh([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(np.mean(log_cosh), 0.108, atol=1e-3)
    # cosine_similarity docstring: [-0., -0.99999994, 0.99999994]
    cosine = custom_losses.cosine_similarity(
        [[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]], axis=-1
    )
    np.testing.assert_allclose(cosine, [-0.0, -0.99999994, 0.99999994], rtol=1e-7)
    # categorical_crossentropy / sparse_categorical_crossentropy docstrings: [0.0513, 2.303]
    cce = custom_losses.categorical_crossentropy(
        [[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    )
    np.testing.assert_allclose(cce, [0.0513, 2.303], atol=1e-3)
    scce = custom_losses.sparse_categorical_crossentropy([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    np.testing.assert_allclose(scce, [0.0513, 2.303], atol=1e-3)
    # kl_divergence docstring: equals numpy sum(t log(t / p)) after clipping to [1e-7, 1]
    y_true = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]], np.float32)
    y_pred = np.array([[0.2, 0.5, 0.9], [0.6, 0.3, 0.1]], np.float32)
    t, p = np.clip(y_true, 1e-7, 1), np.clip(y_pred, 1e-7, 1)
    expected = np.sum(t * np.log(t / p), axis=-1)
    np.testing.assert_allclose(custom_losses.kl_divergence(y_true, y_pred), expected, rtol=1e-6)
    # poisson docstring: allclose to mean(p - t log p) with p += 1e-7, atol 1e-5
    y_true, y_pred = np.array([[0, 1, 1], [1, 0, 1]]), np.array([[0.2, 0.5, 0.9], [0.6, 0.3, 0.1]])
    p = y_pred + 1e-7
    expected = np.mean(p - y_true * np.log(p), axis=-1)
    np.testing.assert_allclose(custom_losses.poisson(y_true, y_pred), expected, atol=1e-5)
    assert keras.losses.poisson(y_true, y_pred).shape == custom_losses.poisson(y_true, y_pred).shape
