"""Edge cases: the lecture's headline four at their limits, half precision side by side with
keras.losses, NaN propagation, shape checks and Keras's (N,) vs (N, 1) alignment."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import custom_losses
from tests.loss_cases import KERAS_FUNCTIONS, LECTURE_FUNCTIONS, value_and_gradient

# asserts a behaviour of keras 3.15.1 measured when this was written (pyproject allows >=3.12,<4)
keras_3_15_1 = pytest.mark.skipif(
    keras.__version__ != "3.15.1", reason="asserts a measured keras 3.15.1 behaviour"
)

EPS = 1e-7  # keras.backend.epsilon()
ALL_FUNCTIONS = [
    n for n in KERAS_FUNCTIONS + LECTURE_FUNCTIONS if n != "sparse_categorical_crossentropy"
]
# valid inputs for every function: targets and predictions of shape (2, 3) in [0.1, 0.9]
Y_TRUE = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
Y_PRED = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])


# --- the headline four: MAPE, logcosh, Huber, BCE ----------------------------------------------


def test_mape_is_finite_at_zero_targets_by_keras_epsilon_rule():
    # y_true = 0: divide by eps. |0 - 0.5| / 1e-7 * 100 = 5e8 (hand); float64 for an exact check
    loss = custom_losses.mean_absolute_percentage_error(np.zeros((1, 1)), np.full((1, 1), 0.5))
    np.testing.assert_allclose(loss, [0.5 / EPS * 100], rtol=1e-12)
    value, gradient = value_and_gradient(
        custom_losses.mean_absolute_percentage_error, np.zeros((2, 1)), np.array([[0.5], [-0.5]])
    )
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(gradient))
    np.testing.assert_allclose(gradient, [[100 / EPS], [-100 / EPS]], rtol=1e-12)  # d|p|/eps


@pytest.mark.parametrize("accurate", [False, True])
@pytest.mark.parametrize("error", [1e4, -1e4, 1e5, 3e38, -3e38])
def test_log_cosh_is_finite_and_exact_for_huge_errors(error, accurate):
    # log cosh x = |x| - log 2 + log1p(exp(-2|x|)) and the last term underflows to 0 here
    for dtype in ["float32", "float64"]:
        value, gradient = value_and_gradient(
            custom_losses.log_cosh, np.zeros((1, 1)), np.array([[error]], dtype), accurate=accurate
        )
        np.testing.assert_allclose(gradient, [[math.copysign(1.0, error)]], rtol=0)  # tanh = +-1
        if not accurate and dtype == "float32" and error < -1.7e38:
            # Keras's x + softplus(-2x): -2x overflows float32 (max 3.4e38), so inf, as in Keras
            assert np.isinf(value[0]) and np.isinf(keras.losses.log_cosh([[0.0]], [[error]])[0])
            continue
        np.testing.assert_allclose(value, [abs(error) - math.log(2)], rtol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_accurate_log_cosh_gradient_is_tanh_from_tiny_to_huge_errors(dtype):
    # tanh x = x for |x| < 1e-10 (to 1e-20 relative); the clamp at |x| = 20 must not cancel it in
    # the backward pass (|x| - min(|x|, 20) would send -1 + x through the clamp: rounded to -1)
    errors = np.array([[1e-30], [-1e-10], [1e-3], [19.9], [20.0], [20.1], [-1e4]], dtype)
    value, gradient = value_and_gradient(
        custom_losses.log_cosh, np.zeros_like(errors), errors, accurate=True
    )
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(gradient, np.tanh(errors.astype(np.float64)), rtol=4 * eps)
    # 4 eps: measured 3.3 (float32) and 2.5 (float64) eps at most over 6000 |x| in [1e-30, 3e38]
    # against a 150-digit mpmath reference; values 3.9 and 2.8 eps at most
    x = errors[:5, 0].astype(np.float64)
    # Taylor series x^2/2 - x^4/12 + x^6/45 for the small ones (next term 1e-20 relative at 1e-3)
    truth = np.where(x < 1, x**2 / 2 - x**4 / 12 + x**6 / 45, np.log(np.cosh(x)))
    np.testing.assert_allclose(value[:5], truth, rtol=4 * eps, atol=np.finfo(dtype).tiny)


def test_huber_both_branches_and_exactly_at_delta():
    delta = 0.5  # arbitrary
    errors = np.array([[0.25], [0.5], [-0.5], [2.0], [-2.0]])  # inside, at +-delta, outside
    value, gradient = value_and_gradient(
        custom_losses.huber, np.zeros_like(errors), errors, delta=delta
    )
    # hand: 0.5 * 0.25^2 = 0.03125; at delta 0.5 * 0.25 = 0.125 = 0.5 * 0.5 - 0.125 (both branches
    # agree); outside 0.5 * 2 - 0.5 * 0.25 = 0.875
    np.testing.assert_allclose(value, [0.03125, 0.125, 0.125, 0.875, 0.875], rtol=1e-12)
    # slope e inside and at delta, delta * sign(e) outside: continuous at |e| = delta
    np.testing.assert_allclose(gradient[:, 0], [0.25, 0.5, -0.5, 0.5, -0.5], rtol=1e-12)


def test_bce_is_finite_for_probabilities_0_and_1_and_logits_1e9():
    y_true = np.array([[1.0], [0.0], [1.0], [0.0]])
    y_pred = np.array([[0.0], [1.0], [1.0], [0.0]])  # wrong and certain x2, right and certain x2
    value, gradient = value_and_gradient(custom_losses.binary_crossentropy, y_true, y_pred)
    # hand: -log(eps) for a wrong certain answer, -log(1 - eps) for a right one
    np.testing.assert_allclose(value, [-math.log(EPS)] * 2 + [-math.log1p(-EPS)] * 2, rtol=1e-9)
    assert np.all(np.isfinite(gradient))
    logits = np.array([[-1e9], [1e9], [1e9], [-1e9]])
    value, gradient = value_and_gradient(
        custom_losses.binary_crossentropy, y_true, logits, from_logits=True
    )
    np.testing.assert_allclose(value, [1e9, 1e9, 0.0, 0.0], rtol=0)  # hand: |x| when wrong
    np.testing.assert_allclose(gradient, [[-1.0], [1.0], [0.0], [0.0]], rtol=0)  # sigmoid(x) - t


def test_rmse_gradient_is_zero_not_nan_at_a_perfect_fit():
    value, gradient = value_and_gradient(
        custom_losses.root_mean_squared_error, Y_TRUE, Y_TRUE.copy()
    )
    np.testing.assert_array_equal(value, [0.0, 0.0])
    np.testing.assert_array_equal(gradient, np.zeros_like(Y_TRUE))
    loss = custom_losses.RootMeanSquaredError()
    y_pred = tf.Variable(Y_TRUE)
    with tf.GradientTape() as tape:
        total = loss(Y_TRUE, y_pred)
    np.testing.assert_array_equal(tape.gradient(total, y_pred), np.zeros_like(Y_TRUE))


# --- float16 / bfloat16, side by side with keras.losses 3.15.1 ------------------------------------

# (function, y_true, y_pred, options): inputs where Keras in half precision returns inf/NaN or a
# badly wrong value (all measured with keras 3.15.1 on TensorFlow 2.21, CPU)
HALF_CASES = {
    # clip(p, 1e-7, 1 - 1e-7): 1 - 1e-7 rounds to 1 in float16 -> log(0) -> 0 * -inf = NaN
    "bce_p_is_0_or_1": ("binary_crossentropy", [[1.0, 0.0, 1.0, 0.0]], [[1.0, 0.0, 0.5, 0.5]], {}),
    # wrong and certain: log(1 - 1) = -inf -> inf
    "bce_wrong_and_certain": ("binary_crossentropy", [[1.0, 0.0]], [[0.0, 1.0]], {}),
    # y_true / y_pred = 1 / 1.19e-7 overflows float16 (max 65504) -> inf
    "kld_zero_prediction": ("kl_divergence", [[0.0, 1.0]], [[1.0, 0.0]], {}),
}


@keras_3_15_1
@pytest.mark.parametrize("case", HALF_CASES)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_where_keras_returns_inf_or_nan(case, dtype):
    name, y_true, y_pred, options = HALF_CASES[case]
    float32 = getattr(custom_losses, name)(
        np.array(y_true, "float32"), np.array(y_pred, "float32"), **options
    )
    t, p = tf.constant(y_true, dtype), tf.constant(y_pred, dtype)
    ours = getattr(custom_losses, name)(t, p, **options)
    theirs = getattr(keras.losses, name)(t, p, **options)
    if case == "kld_zero_prediction" and dtype == "bfloat16":
        assert np.all(np.isfinite(theirs))  # measured: bfloat16 has float32's range, Keras is fine
    else:
        assert not np.all(np.isfinite(theirs)), f"Keras {dtype} {case} became finite: {theirs}"
    assert ours.dtype == dtype
    # close to float32: within the rounding of the half-precision result (2^-8 / 2^-11 relative)
    np.testing.assert_allclose(
        np.asarray(ours, "float32"), float32, rtol=1e-2 if dtype == "bfloat16" else 1e-3
    )


@keras_3_15_1
def test_half_precision_mape_at_zero_target():
    # float16: Keras rounds eps = 1e-7 to 1.19e-7 and returns 4224 instead of 5031.8 (-16%); ours
    # computes in float32 and is within float16 rounding of the float32 value
    y_true, y_pred = [[0.0, 1.0]], [[1e-5, 1.5]]  # inputs chosen to be exact-ish in float16
    float32 = custom_losses.mean_absolute_percentage_error(
        tf.constant(y_true, "float16"), tf.cast(tf.constant(y_pred, "float16"), "float32")
    ).numpy()
    t, p = tf.constant(y_true, "float16"), tf.constant(y_pred, "float16")
    ours = custom_losses.mean_absolute_percentage_error(t, p).numpy().astype("float32")
    theirs = keras.losses.mean_absolute_percentage_error(t, p).numpy().astype("float32")
    np.testing.assert_allclose(ours, float32, rtol=1e-3)
    assert abs(theirs[0] / float32[0] - 1) > 0.1  # measured: -16%
    # a zero target with an error of 0.01 gives 5e6 percent: no float16 can hold it (max 65504),
    # so ours is inf too -- returning the input's dtype is the contract. bfloat16 holds it:
    p = tf.constant([[0.01, 1.5]], "bfloat16")
    ours = custom_losses.mean_absolute_percentage_error(tf.constant(y_true, "bfloat16"), p)
    float32 = custom_losses.mean_absolute_percentage_error(
        np.array(y_true, "float32"), tf.cast(p, "float32")
    )
    np.testing.assert_allclose(np.asarray(ours, "float32"), float32, rtol=1e-2)
    assert np.isinf(
        custom_losses.mean_absolute_percentage_error(
            tf.constant(y_true, "float16"), tf.constant([[0.01, 1.5]], "float16")
        )
    )


@keras_3_15_1
def test_half_precision_cosine_of_large_vectors():
    # float16: Keras's sum of squares 300^2 + 400^2 overflows -> norm inf -> loss -0 instead of -1
    t = tf.constant([[300.0, 400.0]], "float16")
    assert float(keras.losses.cosine_similarity(t, t)[0]) == 0.0  # measured, Keras 3.15.1
    assert float(custom_losses.cosine_similarity(t, t)[0]) == -1.0  # hand: parallel vectors


@keras_3_15_1
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_loss_classes(dtype):
    # the classes cast inputs to their dtype: with dtype float16 Keras fails, ours does not
    y_true, y_pred = tf.constant([[1.0, 0.0]], "float16"), tf.constant([[1.0, 0.0]], "float16")
    theirs = keras.losses.BinaryCrossentropy(dtype=dtype)(y_true, y_pred)
    ours = custom_losses.BinaryCrossentropy(dtype=dtype)(y_true, y_pred)
    float32 = custom_losses.BinaryCrossentropy()(y_true, y_pred)  # default dtype: floatx float32
    assert np.isnan(float(tf.cast(theirs, "float32")))  # measured, keras 3.15.1
    assert ours.dtype == dtype
    np.testing.assert_allclose(float(tf.cast(ours, "float32")), float(float32), rtol=1e-2)
    # the default dtype (float32) upcasts half inputs in Keras too: both are fine there
    np.testing.assert_allclose(
        float(keras.losses.BinaryCrossentropy()(y_true, y_pred)), float(float32)
    )


def test_half_precision_class_reduces_in_float32():
    # 4096 samples of loss 16 sum to 65536 > float16 max: a float16 reduction would overflow
    y_true, y_pred = np.ones((4096, 1), "float16"), np.zeros((4096, 1), "float16")
    loss = custom_losses.BinaryCrossentropy(dtype="float16", reduction="sum_over_batch_size")
    value = float(loss(y_true, y_pred))
    np.testing.assert_allclose(value, -math.log(np.float32(EPS)), rtol=1e-3)  # hand: -log(eps)


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_returns_input_dtype_close_to_float32(name, dtype):
    # targets moved off 0 (+0.25) so that MAPE stays inside float16's range (max 65504)
    t, p = tf.constant(Y_TRUE + 0.25, dtype), tf.constant(Y_PRED, dtype)
    ours = getattr(custom_losses, name)(t, p)
    assert ours.dtype == dtype
    float32 = getattr(custom_losses, name)(tf.cast(t, "float32"), tf.cast(p, "float32"))
    # the only error left is rounding the result: 2^-11 (float16), 2^-8 (bfloat16) relative
    rtol = 2.0**-11 if dtype == "float16" else 2.0**-8
    np.testing.assert_allclose(np.asarray(ours, "float32"), float32, rtol=rtol, atol=1e-7)


# --- NaN in, NaN out -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
@pytest.mark.parametrize("where", ["y_pred", "y_true"])
def test_nan_in_gives_nan_out_for_that_sample_only(name, where):
    y_true, y_pred = Y_TRUE.copy(), Y_PRED.copy()
    (y_pred if where == "y_pred" else y_true)[0, 1] = np.nan
    loss = np.asarray(getattr(custom_losses, name)(y_true, y_pred))
    assert np.isnan(loss[0])
    if not (name in ("hinge", "squared_hinge") and where == "y_true"):
        assert np.isfinite(loss[1])  # (hinge: a NaN label makes the labels non-binary for all)


def test_nan_in_sparse_categorical_crossentropy_and_out_of_range_labels():
    loss = custom_losses.sparse_categorical_crossentropy([0, 1], [[np.nan, 0.5], [0.5, 0.5]])
    assert np.isnan(loss[0]) and np.isfinite(loss[1])
    # label 2 of 2 classes: Keras's TF kernel raises, a one-hot would silently give 0; ours: NaN
    loss = custom_losses.sparse_categorical_crossentropy([2, 1], [[0.5, 0.5], [0.5, 0.5]])
    assert np.isnan(loss[0]) and np.isclose(loss[1], math.log(2))  # hand: -log 0.5


# --- shapes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_unalignable_shapes_raise_naming_both(name):
    with pytest.raises(ValueError, match=r"y_true.shape=\(2, 3\), y_pred.shape=\(2, 2\)"):
        getattr(custom_losses, name)(np.zeros((2, 3)), np.full((2, 2), 0.5))


def test_rank_difference_of_two_broadcasts_as_keras_and_crossentropy_raises():
    # Keras 3.15.1 broadcasts (4,) against (4, 3, 1) in its regression losses (numpy's rule)
    y_true, y_pred = np.arange(4.0, dtype="float32"), np.ones((4, 3, 1), "float32")
    np.testing.assert_array_equal(
        custom_losses.mean_squared_error(y_true, y_pred),
        keras.losses.mean_squared_error(y_true, y_pred),
    )
    with pytest.raises(ValueError, match=r"y_true.shape=\(4,\), y_pred.shape=\(4, 3, 1\)"):
        custom_losses.binary_crossentropy(y_true, y_pred)


def test_crossentropy_does_not_broadcast_but_mse_does_as_in_keras():
    # keras 3.15.1 losses_test.py BinaryCrossentropyTest.test_shape_mismatch uses these shapes
    with pytest.raises(ValueError, match=r"y_true.shape=\(3, 1\), y_pred.shape=\(3, 3\)"):
        custom_losses.binary_crossentropy(np.zeros((3, 1)), np.full((3, 3), 0.5))
    np.testing.assert_allclose(
        custom_losses.mean_squared_error(np.zeros((3, 1)), np.ones((3, 3))),
        keras.losses.mean_squared_error(np.zeros((3, 1)), np.ones((3, 3))),
    )


def test_sparse_label_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"y_true.shape=\(3,\), y_pred.shape=\(2, 4\)"):
        custom_losses.sparse_categorical_crossentropy(np.zeros(3), np.full((2, 4), 0.25))


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_n_targets_against_n_by_1_predictions_align_like_keras(name):
    # (N,) targets with (N, 1) predictions: Keras expands the targets to (N, 1)
    y_true, y_pred = Y_TRUE[:, 0], Y_PRED[:, :1]
    ours = getattr(custom_losses, name)(y_true, y_pred)
    np.testing.assert_array_equal(ours, getattr(custom_losses, name)(y_true[:, None], y_pred))
    assert ours.shape == (2,)


def test_non_float_predictions_are_cast_to_floatx():
    ours = custom_losses.mean_squared_error(np.array([[1, 2]]), np.array([[3, 5]]))  # int64 in
    assert ours.dtype == keras.backend.floatx()
    np.testing.assert_array_equal(ours, [(4 + 9) / 2])  # hand
    keras_class = keras.losses.MeanSquaredError()(np.array([[1, 2]]), np.array([[3, 5]]))
    np.testing.assert_array_equal(custom_losses.MeanSquaredError()([[1, 2]], [[3, 5]]), keras_class)


def test_sparse_categorical_crossentropy_any_class_axis():
    # Keras on TensorFlow supports only axis=-1; ours: classes on axis 1 = moving them last
    rng = np.random.default_rng(2)
    y_pred = rng.uniform(0.1, 1.0, (4, 3, 5))  # classes on axis 1
    labels = rng.integers(0, 3, (4, 5))
    moved = custom_losses.sparse_categorical_crossentropy(labels, np.moveaxis(y_pred, 1, -1))
    np.testing.assert_allclose(
        custom_losses.sparse_categorical_crossentropy(labels, y_pred, axis=1), moved, rtol=1e-12
    )


def test_sparse_ignore_class_masks_the_mean():
    # labels -1 are ignored: loss 0 there, and "sum_over_batch_size" divides by 1 valid, not 2
    labels, p = np.array([-1, 1]), np.array([[0.5, 0.5], [0.5, 0.5]])
    loss = custom_losses.SparseCategoricalCrossentropy(ignore_class=-1)
    np.testing.assert_allclose(float(loss(labels, p)), math.log(2), rtol=1e-6)  # hand: -log 0.5
    keras_loss = keras.losses.SparseCategoricalCrossentropy(ignore_class=-1)(labels, p)
    np.testing.assert_allclose(float(loss(labels, p)), float(keras_loss), rtol=1e-6)


def test_sigmoid_and_softmax_outputs_use_their_logits_as_keras_does():
    # keras.activations.sigmoid/softmax attach the logits to the output (_keras_logits); Keras's
    # crossentropy then uses them. A logit of 40: sigmoid = 1.0 in float32, so probabilities alone
    # give the clipped -log(1 - float32(1 - 1e-7)) = -log(2^-23) = 15.942385 (hand) for label 0;
    # the logits give the exact softplus(40) = 40 (hand).
    logits = tf.constant([[40.0]])
    probabilities = keras.activations.sigmoid(logits)
    ours = custom_losses.binary_crossentropy([[0.0]], probabilities)
    np.testing.assert_allclose(ours, keras.losses.binary_crossentropy([[0.0]], probabilities))
    np.testing.assert_allclose(ours, [40.0], rtol=1e-6)
    np.testing.assert_allclose(
        custom_losses.binary_crossentropy([[0.0]], tf.constant([[1.0]])), [15.942385], rtol=1e-6
    )
    probabilities = keras.activations.softmax(tf.constant([[0.0, 40.0]]))
    ours = custom_losses.categorical_crossentropy([[1.0, 0.0]], probabilities)
    np.testing.assert_allclose(ours, [40.0], rtol=1e-6)  # hand: logsumexp(0, 40) - 0 = 40 + 4e-18


def test_sparse_ignore_class_mask_survives_half_precision():
    # a plain keras.losses.Loss in float16 around our function: the mask must reach its reduction
    class Float16SparseLoss(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return custom_losses.sparse_categorical_crossentropy(y_true, y_pred, ignore_class=-1)

    labels, p = np.array([-1, 1]), np.array([[0.5, 0.5], [0.5, 0.5]])
    loss = Float16SparseLoss(dtype="float16")(labels, p)
    assert loss.dtype == "float16"
    np.testing.assert_allclose(float(loss), math.log(2), rtol=1e-3)  # hand: 1 valid label, -log 0.5


# --- the per-sample reduction: a product with a ones vector (custom_losses._common) ------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 8, 33])
def test_mean_and_sum_last_axis_equal_ops_mean_and_sum_to_the_summation_bound(dtype, k):
    from custom_losses._common import mean_last_axis, sum_last_axis

    x = np.random.default_rng(k).normal(0.0, 1.0, (50, 3, k)).astype(dtype)
    eps = np.finfo(dtype).eps
    scale = np.sum(np.abs(x), axis=-1)
    for ours, theirs, divisor in [
        (sum_last_axis(x), keras.ops.sum(x, axis=-1), 1),
        (mean_last_axis(x), keras.ops.mean(x, axis=-1), k),
    ]:
        assert ours.dtype == dtype and ours.shape == (50, 3)
        # two summation orders of k terms differ by <= (k - 1) eps sum|x| (see test_losses_parity)
        bound = (k - 1) * eps * scale / divisor
        assert np.all(np.abs(np.asarray(ours, np.float64) - np.asarray(theirs)) <= bound)
        if k <= 2:  # one addition at most, and 1/k a power of two: bit-identical
            np.testing.assert_array_equal(ours, theirs)


def test_reductions_are_deterministic_and_fall_back_for_unknown_or_other_axes():
    from custom_losses._common import mean_last_axis, sum_last_axis

    x = tf.constant(np.random.default_rng(0).normal(0.0, 1.0, (4096, 8)), tf.float32)
    first = mean_last_axis(x).numpy()
    for _ in range(3):  # same input, same bits
        np.testing.assert_array_equal(mean_last_axis(x).numpy(), first)
    # an unknown last dimension (None at trace time) falls back to ops.mean: still correct
    unknown = tf.function(mean_last_axis, input_signature=[tf.TensorSpec([None, None])])
    # two summation orders of 8 terms: within 7 eps * mean|x| (the bound of test_losses_parity)
    bound = 7 * np.finfo(np.float32).eps * np.mean(np.abs(x.numpy()), axis=-1)
    assert np.all(np.abs(unknown(x).numpy() - first) <= bound)
    # another axis than the last: ops.sum itself
    np.testing.assert_array_equal(sum_last_axis(x, 0), keras.ops.sum(x, axis=0))
    # an empty last axis: what ops.sum/ops.mean give (0 and NaN)
    np.testing.assert_array_equal(sum_last_axis(tf.zeros((2, 0))), [0.0, 0.0])
    assert np.all(np.isnan(mean_last_axis(tf.zeros((2, 0)))))


@pytest.mark.parametrize("k", [3, 8])
def test_mean_last_axis_gradient_is_exactly_the_means(k):
    from custom_losses._common import mean_last_axis

    x = tf.Variable(np.random.default_rng(1).normal(0.0, 1.0, (5, k)).astype("float32"))
    cotangent = tf.constant(np.random.default_rng(2).uniform(0.5, 1.5, (5,)).astype("float32"))
    grads = []
    for reduce in (mean_last_axis, lambda v: keras.ops.mean(v, axis=-1)):
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(reduce(x) * cotangent)
        grads.append(tape.gradient(total, x).numpy())
    np.testing.assert_array_equal(grads[0], grads[1])  # g / k broadcast, in both


@pytest.mark.parametrize("name", ALL_FUNCTIONS)  # one small XLA compilation each, ~0.4 s
def test_every_function_under_xla_equals_eager(name):
    # what model.fit runs (Keras 3 compiles with XLA on CPU): the ones-vector product included
    y_true, y_pred = tf.constant(Y_TRUE + 0.25, "float32"), tf.constant(Y_PRED, "float32")
    fn = getattr(custom_losses, name)
    compiled = tf.function(fn, jit_compile=True)(y_true, y_pred)
    # XLA fuses and reorders elementwise code (e.g. FMA): a few float32 ulps of the value
    np.testing.assert_allclose(compiled, fn(y_true, y_pred), rtol=8 * np.finfo(np.float32).eps)
