"""Parity table: every custom_losses function and class against keras.losses 3.15.1.

Values AND gradients (tf.GradientTape w.r.t. y_pred, contracted with a random cotangent so every
output element counts) over shapes (N,), (N,1), (N,k), (N,T,k), dtypes float32 and float64,
random inputs with one row scaled to large magnitudes, every constructor option, every reduction
and sample weights of shapes (N,), (N,1) and (N,T).

Tolerance of the per-sample VALUES: the summation order, nothing else. Ours reduce over the
last axis with a product with a ones vector (custom_losses._common.mean_last_axis: fast under
XLA), Keras with ops.mean/ops.sum; the terms themselves are computed by the same formulas. Two
summation orders of k terms differ by at most (k - 1) * eps * sum(|term|) (each order's error is
at most (k - 1) * eps/2 * sum(|term|) to first order: Higham, "Accuracy and Stability of Numerical
Algorithms", 2nd ed., eq. 4.4), eps of the dtype; for terms of one sign sum(|term|) = |sum|, so
this is rtol (k - 1) * eps: 0 (bit-identical) for k = 1, 3 eps for the k = 4 here. The losses whose
terms take both signs are bounded by sum(|term|) itself (see _terms_scale). Measured: at most
1.4 eps relative, and float32 values bit-identical on these inputs (TensorFlow 2.21, CPU).
Gradients are not changed by the reduction (the product's gradient is g/k broadcast, as the
mean's): RTOL, 1e-6 relative, as before. Documented exceptions:
- log_cosh in float64: Keras subtracts float32's log 2 (1.9e-9 larger than log 2), ours the
  float64 one: absolute tolerance LOG2_FLOAT32_ERROR. Otherwise ours is Keras's formula, with its
  cancellation for small errors; accurate=True is compared to a float64 reference instead.
- binary crossentropy from logits: ours is t softplus(-x) + (1 - t) softplus(x) (exact
  gradient at x = 0 and for saturated logits, docs/losses.md), TensorFlow's the max/log1p form:
  values within (k + 1) eps relative, gradients as for the softmax ones below.
- crossentropy from logits, gradients: TensorFlow's fused softmax_cross_entropy kernels return
  softmax(x) - t directly; the keras.ops form (log_softmax) gets softmax back as
  exp(log_softmax(x)), whose rounding is ~1 ulp of |log p| times p. Gradient elements then
  differ by up to 3e-8 times the largest gradient element (measured 2.8e-8 with a largest element
  near 1, 1.2e-7 with a largest element of 2.9, and up to ~8e-8 relative to the largest element
  in float64-input SCCE): absolute tolerance 2e-7 * max|gradient|, below 4 ulps of it.
- root_mean_squared_error / sum_squared_error have no keras.losses counterpart: they are
  compared with sqrt(keras mse) and k * keras mse, and the RMSE class with
  keras.metrics.RootMeanSquaredError.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import custom_losses
from tests.loss_cases import (
    CLASS_NAMES,
    DTYPES,
    REDUCTIONS,
    SHAPES,
    SPECS,
    inputs,
    make_distribution,
    make_distributions,
    make_logits,
    make_one_hot,
    make_probabilities,
    make_real,
    valid,
    value_and_gradient,
)

# asserts a behaviour of keras 3.15.1 measured when this was written (pyproject allows >=3.12,<4)
keras_3_15_1 = pytest.mark.skipif(
    keras.__version__ != "3.15.1", reason="asserts a measured keras 3.15.1 behaviour"
)

RTOL = 1e-6  # the tolerance (relative, float32): gradients, classes
# float32(log 2) - log 2 = 0.693147182464599609375 - 0.693147180559945309 (Keras's log 2 in float64)
LOG2_FLOAT32_ERROR = 1.91e-9
EPS = 1e-7  # keras.backend.epsilon()
LOGITS_GRADIENT_ATOL = 2e-7  # times max|gradient|; crossentropy from logits: see the docstring


def _cotangent(shape, seed):
    return np.random.default_rng(seed + 1000).uniform(0.5, 1.5, shape)


def assert_parity(ours, theirs, gradient_atol=0.0, what="", value_rtol=RTOL, value_atol=0.0):
    (value, gradient), (keras_value, keras_gradient) = ours, theirs
    assert value.shape == keras_value.shape, what
    # assert_allclose's test, with an atol per sample (value_atol may be an array)
    difference = np.abs(value.astype(np.float64) - keras_value)
    bound = value_atol + value_rtol * np.abs(keras_value.astype(np.float64))
    assert np.all(difference <= bound), f"value {what}: {value} != {keras_value}"
    atol = gradient_atol * np.max(np.abs(keras_gradient), initial=0.0)  # relative to the largest
    np.testing.assert_allclose(
        gradient, keras_gradient, rtol=RTOL, atol=atol, err_msg=f"gradient {what}"
    )


def _gradient_atol(name, options):
    logit_names = (
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
        "binary_crossentropy",
    )
    return LOGITS_GRADIENT_ATOL if name in logit_names and options.get("from_logits") else 0.0


# losses whose terms take both signs: their summation error is relative to sum(|term|), not |sum|
MIXED_SIGN = ("kl_divergence", "poisson", "cosine_similarity")


def _terms_scale(name, y_true, y_pred, axis):
    """sum(|term|) per sample (over k terms; / k for a mean) for the MIXED_SIGN losses, in numpy."""
    if name == "cosine_similarity":
        return 1.0  # sum |unit(t)_i unit(p)_i| <= |unit(t)| |unit(p)| = 1 (Cauchy-Schwarz)
    if name == "kl_divergence":
        t, p = np.clip(y_true, EPS, 1.0), np.clip(y_pred, EPS, 1.0)
        return np.sum(np.abs(t * np.log(t / p)), axis=axis)
    return np.mean(np.abs(y_pred - y_true * np.log(y_pred + EPS)), axis=axis)  # poisson


def value_tolerance(name, shape, options, dtype, y_true, y_pred):
    """(rtol, atol) for the per-sample values of ``name``: see the module docstring."""
    axis = options.get("axis", -1)
    k = shape[axis]
    eps = np.finfo(dtype).eps
    if axis != -1 and len(shape) - 1 != axis % len(shape):
        return 0.0, 0.0  # not the last axis: ops.mean/ops.sum, as Keras, bit-identical
    if name in MIXED_SIGN:
        return 0.0, (k - 1) * eps * _terms_scale(name, y_true, y_pred, axis)
    atol = LOG2_FLOAT32_ERROR if name == "log_cosh" and dtype == "float64" else 0.0
    if name == "binary_crossentropy" and options.get("from_logits"):
        # t softplus(-x) + (1 - t) softplus(x) against TensorFlow's max(x, 0) - x t +
        # log1p(exp(-|x|)): each term within 1 ulp of the exact one, so 2 eps more per sample
        return (k + 1) * eps, atol
    return (k - 1) * eps, atol


@pytest.mark.parametrize("name", list(SPECS))
def test_function_matches_keras(name):
    ours, theirs = getattr(custom_losses, name), getattr(keras.losses, name)
    checked = 0
    for shape in SHAPES:
        for dtype in DTYPES:
            for options in SPECS[name][2]:
                if not valid(name, shape, options):
                    continue
                y_true, y_pred = inputs(name, shape, options, dtype, seed=len(shape))
                keras_result = value_and_gradient(theirs, y_true, y_pred, **options)
                cotangent = _cotangent(keras_result[0].shape, seed=0)
                rtol, atol = value_tolerance(name, shape, options, dtype, y_true, y_pred)
                assert_parity(
                    value_and_gradient(ours, y_true, y_pred, cotangent, **options),
                    value_and_gradient(theirs, y_true, y_pred, cotangent, **options),
                    gradient_atol=_gradient_atol(name, options),
                    what=f"{name} {shape} {dtype} {options}",
                    value_rtol=rtol,
                    value_atol=atol,
                )
                assert value_and_gradient(ours, y_true, y_pred, **options)[0].dtype == dtype
                checked += 1
    assert checked >= 6  # the loops really ran (guards against an empty parameter table)


def _sample_weights(loss_shape, seed):
    """Sample weights of the shapes the issue lists that fit a per-sample loss of this shape."""
    rng = np.random.default_rng(seed)
    n = loss_shape[0]
    if len(loss_shape) == 2:  # per-sample loss (N, T): weights (N, 1) and (N, T)
        return [None, rng.uniform(0, 2, (n, 1)), rng.uniform(0, 2, loss_shape)]
    return [None, rng.uniform(0, 2, (n,)), rng.uniform(0, 2, (n, 1))]


@pytest.mark.parametrize("name", list(SPECS))
def test_class_matches_keras_for_every_reduction_and_sample_weight(name):
    # float32; Keras's own reduction of per-sample values that differ by (k - 1) eps at most
    # (test_function_matches_keras): RTOL = 1e-6 = 8.4 float32 eps covers that and the rounding
    # of the reduction over the batch (cosine_similarity, whose sum can cancel: absolute 1e-6)
    ours_class = getattr(custom_losses, CLASS_NAMES[name])
    keras_class = getattr(keras.losses, CLASS_NAMES[name])
    checked = 0
    for shape in [(6, 4), (6, 3, 4)]:
        for options in SPECS[name][2]:
            if not valid(name, shape, options):
                continue
            y_true, y_pred = inputs(name, shape, options, "float32", seed=7)
            loss_shape = getattr(keras.losses, name)(y_true, y_pred, **options).shape
            for reduction in REDUCTIONS:
                ours = ours_class(reduction=reduction, **options)
                theirs = keras_class(reduction=reduction, **options)
                for sample_weight in _sample_weights(loss_shape, seed=3):
                    kwargs = {"sample_weight": sample_weight}
                    assert_parity(
                        value_and_gradient(ours, y_true, y_pred, **kwargs),
                        value_and_gradient(theirs, y_true, y_pred, **kwargs),
                        gradient_atol=_gradient_atol(name, options),
                        what=f"{name} {shape} {options} {reduction} sw={np.shape(sample_weight)}",
                        value_atol=RTOL if name in MIXED_SIGN else 0.0,
                    )
                    checked += 1
    assert checked >= 2 * len(REDUCTIONS) * 3


SCCE_SHAPES = [((6,), (6, 4)), ((6, 1), (6, 4)), ((6, 3), (6, 3, 4))]  # labels, predictions


@pytest.mark.parametrize("options", [{}, {"from_logits": True}, {"ignore_class": 0}])
def test_sparse_categorical_crossentropy_matches_keras(options):
    checked = 0
    for label_shape, pred_shape in SCCE_SHAPES:
        rng = np.random.default_rng(len(pred_shape))
        labels = rng.integers(0, pred_shape[-1], label_shape)
        labels.flat[0] = 0  # at least one ignored label when ignore_class=0
        for dtype in DTYPES:
            # probabilities: distributions away from the clip, where Keras on TensorFlow (clip,
            # then renormalise) and ours (renormalise, then clip: test_scce_is_cce_of_one_hot_*)
            # agree to rounding
            maker = make_logits if options.get("from_logits") else make_distributions
            y_pred = maker(rng, pred_shape).astype(dtype)
            ours, theirs = (
                custom_losses.sparse_categorical_crossentropy,
                keras.losses.sparse_categorical_crossentropy,
            )
            assert_parity(
                value_and_gradient(ours, labels, y_pred, **options),
                value_and_gradient(theirs, labels, y_pred, **options),
                gradient_atol=_gradient_atol("sparse_categorical_crossentropy", options),
                what=f"function {label_shape} {dtype} {options}",
            )
            loss_shape = label_shape[:1] if len(pred_shape) == 2 else label_shape
            for reduction in REDUCTIONS:
                for sample_weight in [None, rng.uniform(0, 2, loss_shape)]:
                    kwargs = {"sample_weight": sample_weight}
                    assert_parity(
                        value_and_gradient(
                            custom_losses.SparseCategoricalCrossentropy(
                                reduction=reduction, **options
                            ),
                            labels,
                            y_pred,
                            **kwargs,
                        ),
                        value_and_gradient(
                            keras.losses.SparseCategoricalCrossentropy(
                                reduction=reduction, **options
                            ),
                            labels,
                            y_pred,
                            **kwargs,
                        ),
                        gradient_atol=_gradient_atol("sparse_categorical_crossentropy", options),
                        what=f"class {label_shape} {dtype} {options} {reduction}",
                    )
                    checked += 1
    assert checked == len(SCCE_SHAPES) * len(DTYPES) * len(REDUCTIONS) * 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_scce_is_cce_of_one_hot_labels_also_where_probabilities_are_clipped(dtype):
    # our documented choice (docs/losses.md): sparse CE == CE of the one-hot labels, on every
    # backend; the oracle is keras.losses.categorical_crossentropy. Inputs: rows that are not
    # distributions, with exact 0 and 1 (where Keras's TensorFlow SCCE differs: 16.53 vs 16.12)
    rng = np.random.default_rng(5)
    y_pred = make_probabilities(rng, (6, 4)).astype(dtype)
    labels = rng.integers(0, 4, (6,))
    labels[0] = 0  # the exact 0 at [0, 0]: clipped
    one_hot = np.eye(4, dtype=dtype)[labels]
    cotangent = _cotangent((6,), seed=0)
    assert_parity(
        value_and_gradient(
            custom_losses.sparse_categorical_crossentropy, labels, y_pred, cotangent
        ),
        value_and_gradient(keras.losses.categorical_crossentropy, one_hot, y_pred, cotangent),
        what=f"scce vs cce {dtype}",
    )


def _log_cosh_float64(y_true, y_pred):
    """numpy float64 reference: log(cosh(x)) = |x| + log1p(exp(-2|x|)) - log 2 (no overflow)."""
    x = np.abs(np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64))
    small = np.log(np.cosh(np.minimum(x, 1.0)))  # exact enough in float64 where cosh is tame
    large = x + np.log1p(np.exp(-2.0 * x)) - math.log(2.0)
    return np.mean(np.where(x < 1.0, small, large), axis=-1)


def test_accurate_log_cosh_matches_float64_reference():
    for shape in SHAPES:
        for dtype in DTYPES:
            y_true, y_pred = inputs("log_cosh", shape, {}, dtype, seed=len(shape))
            value, gradient = value_and_gradient(
                custom_losses.log_cosh, y_true, y_pred, accurate=True
            )
            np.testing.assert_allclose(value, _log_cosh_float64(y_true, y_pred), rtol=RTOL)
            # d/dx log cosh x = tanh x, times 1/k for the mean
            k = shape[-1]
            expected_gradient = np.tanh(y_pred.astype(np.float64) - y_true) / k
            np.testing.assert_allclose(gradient, expected_gradient, rtol=RTOL)


@keras_3_15_1
def test_accurate_log_cosh_is_exact_for_small_errors_where_keras_and_the_default_are_not():
    # float64 truth via log(cosh(x)) ~ x^2/2 - x^4/12 for the listed small x (Taylor series)
    x = np.array([1e-4, 1e-3, 1e-2], np.float32)
    truth = x.astype(np.float64) ** 2 / 2 - x.astype(np.float64) ** 4 / 12
    zeros = np.zeros((3, 1), np.float32)
    accurate = custom_losses.log_cosh(zeros, x[:, None], accurate=True).numpy()
    default = custom_losses.log_cosh(zeros, x[:, None]).numpy()
    theirs = keras.losses.log_cosh(zeros, x[:, None]).numpy()
    np.testing.assert_allclose(accurate, truth, rtol=RTOL)
    np.testing.assert_array_equal(default, theirs)  # k = 1: Keras's formula, bit for bit
    keras_error = np.abs(theirs - truth) / truth
    assert keras_error[0] > 0.5  # measured: Keras 3.15.1 returns 0 at 1e-4 (-100%)
    assert keras_error[1] > 1e-2  # measured: +7.3% at 1e-3


def test_accurate_log_cosh_class_matches_keras_within_keras_error():
    y_true, y_pred = inputs("log_cosh", (6, 3, 4), {}, "float32", seed=7)
    for reduction in REDUCTIONS:
        for sample_weight in _sample_weights((6, 3), seed=3):
            ours = custom_losses.LogCosh(reduction=reduction, accurate=True)
            theirs = keras.losses.LogCosh(reduction=reduction)(y_true, y_pred, sample_weight)
            # |error| >~ 0.1 here (normal(0, 3) draws): Keras's cancellation costs < 4e-7 absolute
            value = ours(y_true, y_pred, sample_weight)
            np.testing.assert_allclose(value, theirs, rtol=RTOL, atol=4e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_and_root_mean_squared_error_match_keras_mse(dtype):
    for shape in SHAPES:
        y_true, y_pred = inputs("mean_squared_error", shape, {}, dtype, seed=len(shape))
        k = shape[-1]
        sse = value_and_gradient(custom_losses.sum_squared_error, y_true, y_pred)
        mse = value_and_gradient(keras.losses.mean_squared_error, y_true, y_pred)
        # SSE = k * MSE per sample (same for the gradient)
        np.testing.assert_allclose(sse[0], k * mse[0], rtol=RTOL)
        np.testing.assert_allclose(sse[1], k * mse[1], rtol=RTOL)
        rmse = value_and_gradient(custom_losses.root_mean_squared_error, y_true, y_pred)
        # RMSE = sqrt(MSE); d sqrt(m) = dm / (2 sqrt(m))
        np.testing.assert_allclose(rmse[0], np.sqrt(mse[0]), rtol=RTOL)
        y_pred_var = tf.Variable(y_pred)
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(tf.sqrt(keras.losses.mean_squared_error(y_true, y_pred_var)))
        np.testing.assert_allclose(rmse[1], tape.gradient(total, y_pred_var), rtol=RTOL)


def test_root_mean_squared_error_class_matches_keras_metric():
    rng = np.random.default_rng(11)
    y_true, y_pred = make_real(rng, (6, 1)), make_real(rng, (6, 1))
    for sample_weight in [None, rng.uniform(0, 2, (6,)), rng.uniform(0, 2, (6, 1))]:
        metric = keras.metrics.RootMeanSquaredError()
        metric.update_state(y_true, y_pred, sample_weight=sample_weight)
        loss = custom_losses.RootMeanSquaredError(reduction="mean_with_sample_weight")
        np.testing.assert_allclose(loss(y_true, y_pred, sample_weight), metric.result(), rtol=RTOL)


def test_sum_squared_error_class_is_k_times_keras_mse_summed():
    rng = np.random.default_rng(12)
    y_true, y_pred = make_real(rng, (6, 4)), make_real(rng, (6, 4))
    for reduction in REDUCTIONS:
        ours = custom_losses.SumSquaredError(reduction=reduction)(y_true, y_pred)
        theirs = keras.losses.MeanSquaredError(reduction=reduction)(y_true, y_pred)
        np.testing.assert_allclose(ours, 4 * np.asarray(theirs), rtol=RTOL)  # k = 4


def test_cce_axis_label_smoothing_uses_the_class_axis():
    # Keras 3.15.1 divides label_smoothing by the size of the LAST axis even for axis=1; we use
    # the class axis. Reference: numpy, smoothing with the size of axis 1 (= 3 here, last = 4).
    rng = np.random.default_rng(13)
    y_true = np.moveaxis(make_one_hot(rng, (6, 4, 3)), -1, 1)  # classes along axis 1
    y_pred = np.moveaxis(make_distribution(rng, (6, 4, 3)), -1, 1)
    smoothed = y_true * 0.8 + 0.2 / 3
    clipped = np.clip(y_pred / y_pred.sum(axis=1, keepdims=True), 1e-7, 1 - 1e-7)
    expected = -np.sum(smoothed * np.log(clipped), axis=1)
    ours = custom_losses.categorical_crossentropy(y_true, y_pred, label_smoothing=0.2, axis=1)
    np.testing.assert_allclose(ours, expected, rtol=RTOL)
