"""The task-specific losses of keras.losses 3.15.1 (focal, generalized cross-entropy, segmentation,
metric learning, sequence): BinaryFocalCrossentropy, CategoricalFocalCrossentropy,
CategoricalGeneralizedCrossEntropy, Dice, Tversky, Circle, CTC, and Loss / serialize / deserialize.

Oracle: keras.losses on the same backend (TensorFlow here; JAX in a subprocess). Values and
gradients over the seeded cases of tests/task_loss_cases.py, eagerly, in tf.function and under
XLA; every reduction and sample-weight kind through the classes; special values; Keras's own
losses_test.py classes run against ours; a model.fit + .keras save/load round trip.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import custom_losses
from custom_losses import focal, segmentation, sequence
from tests.loss_cases import value_and_gradient
from tests.task_loss_cases import (
    CASES,
    COMPILED_CASES,
    FLOAT32_REFERENCE,
    OURS,
    TOLERANCE,
    compare,
    fit_and_reload,
    fitted_losses,
    kwargs_for,
    unit_rows,
    weights_for,
)
from tests.test_losses_keras_suite import (
    _ours_as_keras_losses,  # the same stand-in
    keras_suite,  # None where Keras ships no tests
)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DTYPES = ("float32", "float64")
#: Keras-side differences are asserted on the version they were measured on only.
KERAS_3_15_1 = keras.__version__ == "3.15.1"


# --------------------------------------------------------------------------- parity, functions
def _cases_run(side: str, data: dict, names: set[str], mode: str) -> dict:
    """{case id: (value, gradient)} of the cases of the loss functions ``names``, one side,
    each case eagerly or as its own tf.function (one small graph each: faster to trace and
    compile than one graph of all the cases). Ours compiled also runs once more on the same
    inputs with a NaN first prediction (same shapes: no retrace): {case id + "/nan": ...}."""
    results = {}
    for case in CASES:
        if case.name in names and case.id in data:
            fn = OURS[case.name] if side == "ours" else getattr(keras.losses, case.name)
            y_true, y_pred, weights, kwargs = data[case.id]

            def run(y_pred, fn=fn, y_true=y_true, weights=weights, kwargs=kwargs):
                return value_and_gradient(fn, y_true, y_pred, weights, True, **kwargs)

            if mode != "eager":
                run = tf.function(run, jit_compile=mode == "xla")
            results[case.id] = run(y_pred)
            if mode != "eager" and side == "ours":
                results[case.id + "/nan"] = run(_first_nan(y_pred))
    return results


def _first_nan(y_pred):
    values = np.array(y_pred)
    values.reshape(-1)[0] = np.nan
    return tf.constant(values)


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


@functools.cache
def _inputs(dtype: str) -> dict:
    """{case id: (y_true, y_pred, weights, kwargs)}, seeded: the same in every mode."""
    rng = np.random.default_rng(11)
    data = {}
    for case in CASES:
        y_true, y_pred = case.make(rng, dtype)
        kwargs = kwargs_for(case, dtype)
        shape = tuple(getattr(keras.losses, case.name)(y_true, y_pred, **kwargs).shape)
        weights = tf.constant(weights_for(shape, rng, dtype))
        data[case.id] = (tf.constant(y_true), tf.constant(y_pred), weights, kwargs)
    return data


def _compute_results(mode: str, dtype: str) -> dict:
    """{case id: (ours value, ours gradient, keras value, keras gradient)} as numpy arrays."""
    data = _inputs(dtype)
    if mode != "eager":
        data = {case_id: data[case_id] for case_id in COMPILED_CASES}
    names = set(OURS)
    ours = _cases_run("ours", data, names, mode)
    if mode == "eager":
        reference = _cases_run("keras", data, names, mode)
    else:
        # compiled, ours is compared with Keras's eager run of the same inputs: on these finite
        # inputs Keras's graph and XLA runs differ from its eager one in rounding only, and
        # tracing Keras again would double the time (tf.nn.ctc_loss, Keras's CTC on
        # TensorFlow, has no XLA kernel anyway)
        eager = _results("eager", dtype)
        reference = {case_id: eager[case_id][2:] for case_id in data}
    results = {
        case_id: tuple(np.asarray(t) for t in (*ours[case_id], *reference[case_id]))
        for case_id in reference
    }
    results.update({k: tuple(np.asarray(t) for t in v) for k, v in ours.items() if "/nan" in k})
    return results


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
    float32_reference = dtype == "float64" and case_id in FLOAT32_REFERENCE
    rtol, atol = TOLERANCE["float32" if float32_reference else dtype]
    assert ours_value.dtype == keras_value.dtype
    assert compare(ours_value, keras_value, rtol, atol) <= 1.0, (ours_value, keras_value)
    assert compare(ours_grad, keras_grad, rtol, atol) <= 1.0, (ours_grad, keras_grad)
    assert np.all(np.isfinite(ours_value)) and np.all(np.isfinite(ours_grad))


# ------------------------------------------------------------ classes: reductions, weights, config
#: (class name, constructor options, the function case whose float32 inputs it uses)
CLASS_CASES = [
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "gamma": 1.5}, "bfce"),
    ("BinaryFocalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "bfce-logits"),
    ("CategoricalFocalCrossentropy", {"alpha": 0.5, "gamma": 1.0}, "cfce"),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "axis": -1}, "cfce-logits"),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.3}, "gce"),
    ("Dice", {}, "dice"),
    ("Dice", {"axis": (1, 2, 3)}, "dice-axes"),
    ("Tversky", {"alpha": 0.2, "beta": 0.8, "axis": -1}, "tversky"),
    ("Circle", {"gamma": 40.0, "margin": 0.3}, "circle"),
    ("Circle", {"remove_diagonal": False}, "circle"),
    ("CTC", {}, "ctc-short"),
]
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]
_CASE_BY_ID = {case.id: case for case in CASES}


def _sample_weights(batch: int):
    return {
        "none": None,
        "scalar": 0.7,
        "per-sample": np.linspace(0.0, 2.0, batch).astype("float32"),  # a zero weight included
        "column": np.linspace(0.5, 1.5, batch).reshape(batch, 1).astype("float32"),
    }


@pytest.mark.parametrize(
    "class_name, options, case_id",
    CLASS_CASES,
    ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CLASS_CASES)],
)
def test_class_every_reduction_and_sample_weight_equals_keras(class_name, options, case_id):
    y_true, y_pred = _CASE_BY_ID[case_id].make(np.random.default_rng(5), "float32")
    rtol, atol = TOLERANCE["float32"]
    compared = 0
    weights = _sample_weights(len(y_pred))
    for reduction in REDUCTIONS:
        ours = getattr(custom_losses, class_name)(reduction=reduction, **options)
        theirs = getattr(keras.losses, class_name)(reduction=reduction, **options)
        # every weight kind with the default reduction, per-sample weights with every reduction
        kinds = weights if reduction == "sum_over_batch_size" else ["per-sample"]
        for kind in kinds:
            weight = weights[kind]
            try:
                expected = np.asarray(theirs(y_true, y_pred, sample_weight=weight))
            except Exception as error:  # Keras refuses this weight shape: so must ours
                with pytest.raises(type(error)):
                    ours(y_true, y_pred, sample_weight=weight)
                continue
            got = np.asarray(ours(y_true, y_pred, sample_weight=weight))
            assert compare(got, expected, rtol, atol) <= 1.0, (reduction, kind, got, expected)
            compared += 1
    assert compared >= 2  # Keras accepted at least two of the combinations (all, for most)


@pytest.mark.parametrize("class_name, options, case_id", CLASS_CASES[::2], ids=lambda v: str(v))
def test_class_attributes_and_config_as_keras(class_name, options, case_id):
    ours = getattr(custom_losses, class_name)(name="x", **options)
    theirs = getattr(keras.losses, class_name)(name="x", **options)
    assert isinstance(ours, keras.losses.Loss) and isinstance(ours, custom_losses.Loss)
    # every public attribute Keras's instance has, ours has with the same value
    public = {k: v for k, v in vars(theirs).items() if not k.startswith("_") and k != "fn"}
    assert {k: getattr(ours, k) for k in public} == public
    # Keras's config is contained in ours (ours adds dtype); every constructor argument is there
    config = ours.get_config()
    assert {k: config[k] for k in theirs.get_config()} == theirs.get_config()
    signature = inspect.signature(getattr(keras.losses, class_name))
    assert set(signature.parameters) <= set(config)
    assert type(ours).from_config(config).get_config() == config


def test_signatures_and_defaults_equal_keras():
    for name in [*OURS, *(c for c, _, _ in CLASS_CASES)]:
        ours, theirs = getattr(custom_losses, name), getattr(keras.losses, name)
        ours_parameters = inspect.signature(ours).parameters
        theirs_parameters = inspect.signature(theirs).parameters
        assert list(ours_parameters) == list(theirs_parameters), name
        assert [p.default for p in ours_parameters.values()] == [
            p.default for p in theirs_parameters.values()
        ], name


def test_class_argument_errors_name_the_value():
    with pytest.raises(ValueError, match="q must be .* got 1.5"):
        custom_losses.CategoricalGeneralizedCrossEntropy(q=1.5)
    with pytest.raises(ValueError, match="q must be .* got 0"):
        custom_losses.categorical_generalized_cross_entropy([0], [[1.0, 0.0]], q=0)
    with pytest.raises(ValueError, match="label_smoothing must be a number, got '2'"):
        custom_losses.BinaryFocalCrossentropy(label_smoothing="2")  # 2 is accepted, as in Keras
    with pytest.raises(ValueError, match="axis must be an int, None or a tuple of ints, got True"):
        custom_losses.CategoricalFocalCrossentropy(axis=True)
    with pytest.raises(ValueError, match="y_true.shape=\\(2, 3, 1\\)"):
        custom_losses.ctc(np.ones((2, 3, 1)), np.zeros((2, 4, 3)))
    with pytest.raises(ValueError, match="y_pred.shape=\\(2, 4\\)"):
        custom_losses.ctc(np.ones((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="y_true.shape=\\(4, 8\\), y_pred.shape=\\(4, 8\\)"):
        custom_losses.circle(np.zeros((4, 8)), np.ones((4, 8)))  # labels must be (batch,)
    with pytest.raises(ValueError, match="y_true.shape=\\(2, 3\\), y_pred.shape=\\(2, 4\\)"):
        custom_losses.categorical_generalized_cross_entropy(np.zeros((2, 3)), np.ones((2, 4)), 0.5)


# ------------------------------------------------------------------ serialize, deserialize, Loss
def test_loss_is_keras_loss():
    assert custom_losses.Loss is keras.losses.Loss


@pytest.mark.parametrize("class_name, options, case_id", CLASS_CASES[::2], ids=lambda v: str(v))
def test_serialize_round_trips_through_both_deserializers(class_name, options, case_id):
    loss = getattr(custom_losses, class_name)(name="mine", **options)
    config = custom_losses.serialize(loss)
    assert config == keras.losses.serialize(loss)
    for back in (custom_losses.deserialize(config), keras.losses.deserialize(config)):
        assert type(back) is type(loss)
        assert back.get_config() == loss.get_config()
    # through JSON (tuples become lists) too
    back = custom_losses.deserialize(json.loads(json.dumps(config)))
    assert type(back) is type(loss)


def test_serialize_functions_and_names():
    for name, function in OURS.items():
        config = custom_losses.serialize(function)
        assert custom_losses.deserialize(config) is function
        assert keras.losses.deserialize(config) is function
        assert custom_losses.deserialize(name) is function  # a bare name: ours, not Keras's
    # a config of Keras's class names it by its bare name: our namespace gives ours
    keras_config = keras.losses.serialize(keras.losses.Dice(axis=(1, 2)))
    assert type(custom_losses.deserialize(keras_config)) is custom_losses.Dice
    assert custom_losses.deserialize(keras_config).axis == (1, 2)


# ------------------------------------------------------------------------------ special values
def _tf_value_and_gradient(fn, y_true, y_pred, **kwargs):
    return value_and_gradient(fn, tf.constant(y_true), y_pred, **kwargs)


SPECIAL = [
    # probabilities exactly 0 and 1, right and wrong (clipped to [1e-7, 1 - 1e-7] in both)
    ("bfce-0-1", "binary_focal_crossentropy", [[1.0, 0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0, 1.0]], {}),
    # logits 0 (sigmoid 0.5: gradient exact), +-100 and +-1e9 (no overflow, exact from logits)
    (
        "bfce-logits",
        "binary_focal_crossentropy",
        [[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]],
        [[0.0, 0.0, 100.0, -100.0, -1e9, 1e9]],
        {"from_logits": True, "gamma": 1.0},
    ),
    ("cfce-0-1", "categorical_focal_crossentropy", [[0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0]], {}),
    (
        "cfce-logits-huge",
        "categorical_focal_crossentropy",
        [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]],
        [[1e4, -1e4, 0.0], [0.0, 0.0, 0.0]],
        {"from_logits": True},
    ),
    (
        "gce-1",
        "categorical_generalized_cross_entropy",
        [0, 1],
        [[1.0, 0.0], [0.5, 0.5]],
        {"q": 0.5},
    ),
    ("dice-empty", "dice", [[0.0, 0.0]], [[0.0, 0.0]], {}),
    ("tversky-empty", "tversky", [[0.0, 0.0]], [[0.0, 0.0]], {"axis": -1}),
    ("circle-one-class", "circle", [1, 1, 1], unit_rows(np.random.default_rng(0), 3, 4), {}),
    (
        "ctc-huge-logits",
        "ctc",
        [[1, 2, 0]],
        np.array([[[1e4, -1e4, 0.0], [0.0, 1e4, -1e4], [-1e4, 0.0, 1e4], [1e4, 0.0, 0.0]]]),
        {},
    ),
]


@pytest.mark.parametrize(
    "case_id, name, y_true, y_pred, kwargs", SPECIAL, ids=[s[0] for s in SPECIAL]
)
def test_special_values_equal_keras_and_finite(case_id, name, y_true, y_pred, kwargs):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred, dtype="float32")
    ours = _tf_value_and_gradient(OURS[name], y_true, y_pred, **kwargs)
    theirs = _tf_value_and_gradient(getattr(keras.losses, name), y_true, y_pred, **kwargs)
    rtol, atol = TOLERANCE["float32"]
    assert compare(ours[0], theirs[0], rtol, atol) <= 1.0, (ours[0], theirs[0])
    assert compare(ours[1], theirs[1], rtol, atol) <= 1.0, (ours[1], theirs[1])
    assert np.all(np.isfinite(ours[0])) and np.all(np.isfinite(ours[1]))


def test_special_values_by_hand():
    # BFCE from logits at 0, gamma 0 = BCE: log 2 per entry; d/dx = (sigmoid(0) - t) / n = -0.25
    value, gradient = _tf_value_and_gradient(
        focal.binary_focal_crossentropy, [[1.0, 0.0]], [[0.0, 0.0]], from_logits=True, gamma=0.0
    )
    np.testing.assert_allclose(value, [np.log(2.0)], rtol=1e-6)
    np.testing.assert_allclose(gradient, [[-0.25, 0.25]], rtol=1e-6)
    # the same logit 1e9 wrong: loss 1e9 * focal factor 1 (exact); Keras on JAX would give 16.1
    np.testing.assert_allclose(
        focal.binary_focal_crossentropy([[0.0]], [[1e9]], from_logits=True), [1e9], rtol=1e-6
    )
    # Dice of two empty masks: 1 - 0 / (0 + 1e-7) = 1
    assert float(segmentation.dice([[0.0, 0.0]], [[0.0, 0.0]])) == 1.0
    # GCE at p = 1: (1 - 1) / q = 0; at p = 0: 1 / q
    np.testing.assert_allclose(
        focal.categorical_generalized_cross_entropy([0, 1], [[1.0, 0.0], [1.0, 0.0]], 0.25), [0, 4]
    )
    # CTC of one label in two frames, uniform over 2 classes: -log(3/4) (paths 01, 10, 11)
    np.testing.assert_allclose(sequence.ctc([[1]], np.zeros((1, 2, 2))), [-np.log(0.75)], rtol=1e-6)


def test_documented_differences_from_keras_on_tensorflow():
    # CTC with no possible alignment ([1, 1, 1] needs 5 frames, has 3): ours the largest float32
    # (it stands for +inf, and a sample weight of 0 removes it), zero gradient;
    # Keras on TensorFlow a finite number below log(DBL_MAX) = 709.78 (tf.nn.ctc_loss's value:
    # 708.97 for these logits, 709.45 for others), on JAX ~1e5
    y_true, logits = np.array([[1, 1, 1], [1, 2, 0]]), np.zeros((2, 3, 4), dtype="float32")
    value, gradient = _tf_value_and_gradient(sequence.ctc, y_true, logits)
    assert value[0] == np.finfo("float32").max and np.all(gradient[0] == 0.0)
    assert np.isfinite(value[1])
    if not KERAS_3_15_1:
        return  # Keras's side below was measured on 3.15.1: a later Keras may have fixed it
    assert 100 < float(keras.losses.ctc(y_true, logits)[0]) < 710  # measured 708.97 here
    # GCE with (batch, 1) labels: ours drops the 1; Keras 3.15.1 broadcasts to (batch, batch)
    labels, p = np.array([[0], [1]]), np.array([[0.25, 0.75], [0.36, 0.64]], dtype="float32")
    np.testing.assert_allclose(
        focal.categorical_generalized_cross_entropy(labels, p, 0.5), [1.0, 0.4]
    )
    # GCE with a label outside [0, classes): ours NaN, Keras a silent 1 / q
    label, p_one = np.array([5]), np.array([[0.5, 0.5]], dtype="float32")
    assert np.isnan(focal.categorical_generalized_cross_entropy(label, p_one, 0.5)[0])
    if KERAS_3_15_1:
        assert keras.losses.categorical_generalized_cross_entropy(labels, p, 0.5).shape == (2, 2)
        assert float(keras.losses.categorical_generalized_cross_entropy(label, p_one, 0.5)[0]) == 2


@pytest.mark.parametrize("mode", ["eager", "function", "xla"])
def test_nan_in_nan_out(mode):
    # a NaN prediction gives a NaN loss (XLA's fused clamp/max would swallow it: ours keeps it)
    for case_id in COMPILED_CASES:
        if mode == "eager":
            case = _CASE_BY_ID[case_id]
            y_true, y_pred = case.make(np.random.default_rng(3), "float32")
            value = OURS[case.name](y_true, _first_nan(y_pred), **kwargs_for(case, "float32"))
        else:  # the compiled functions of the parity run, called with a NaN
            value = _results(mode, "float32")[case_id + "/nan"][0]
        assert np.isnan(np.asarray(value)).any(), case_id


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_computes_in_float32(dtype):
    for case in CASES:
        if case.id in COMPILED_CASES:
            y_true, y_pred = case.make(np.random.default_rng(4), "float32")
            half = tf.cast(y_pred, dtype)
            got = OURS[case.name](y_true, half, **kwargs_for(case, "float32"))
            assert got.dtype == dtype, case.id
            # the float32 loss of the rounded inputs, rounded once: the same numbers
            expected = OURS[case.name](
                y_true, tf.cast(half, "float32"), **kwargs_for(case, "float32")
            )
            np.testing.assert_array_equal(np.asarray(got), np.asarray(tf.cast(expected, dtype)))


# ------------------------------------------------------------- Keras's own losses_test.py classes
KERAS_SUITES = [
    "BinaryFocalCrossentropyTest",
    "CategoricalFocalCrossentropyTest",
    "CategoricalGeneralizedCrossEntropyTest",
    "DiceTest",
    "TverskyTest",
    "CircleTest",
    "CTCTest",
]


def _keras_suite_cases():
    # every method passes against ours (no expected difference): nothing to mark xfail
    if keras_suite is None:  # an empty parameter set: the test is reported skipped
        return
    for suite in KERAS_SUITES:
        test_class = getattr(keras_suite, suite)
        for method in sorted(m for m in dir(test_class) if m.startswith("test_")):
            yield pytest.param(suite, method, id=f"{suite}.{method}")


@pytest.mark.parametrize("suite, method", list(_keras_suite_cases()))
def test_keras_suite_passes_on_ours(suite, method, monkeypatch):
    monkeypatch.setattr(keras_suite, "losses", _ours_as_keras_losses())
    assert keras_suite.losses.Dice is custom_losses.Dice  # really ours
    getattr(keras_suite, suite)(method).debug()  # setUp, the test, tearDown; raises on failure


# -------------------------------------------------------------- model.fit + .keras round trip
def test_fit_save_load_without_custom_objects(tmp_path):
    result = fit_and_reload(str(tmp_path))
    assert np.isfinite(result["fit_loss"])
    assert all(result["configs_equal"].values()), result["configs_equal"]
    assert all(name.startswith("custom_losses.") for name in result["classes"].values())
    assert set(result["classes"]) == set(fitted_losses())
    for key, value in result["before"].items():
        assert result["after"][key] == pytest.approx(value, rel=1e-6), key


# -------------------------------------------------------------- JAX, in a parallel subprocess
JAX_SCRIPT = os.path.join(HERE, "jax_parity_task_losses.py")


@pytest.fixture(scope="module", autouse=True)
def jax_run():
    """Start the JAX parity run at the first test of this module: it runs beside the TensorFlow
    tests (it costs tens of seconds of compilation) and test_jax_parity reads its output."""
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONPATH=REPO)
    process = subprocess.Popen(
        [sys.executable, JAX_SCRIPT],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.kill()
        process.communicate()


def _jax_report(process) -> dict:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def test_jax_parity_values_and_gradients_jitted(jax_run):
    report = _jax_report(jax_run)
    assert report["backend"] == "jax"
    assert report["runs"] >= 10 and report["failures"] == [], report
    # tolerance as on TensorFlow (float32 rtol 2e-5, atol 2e-6): every case within it
    assert max(report["worst_ratio"].values()) <= 1.0, report["worst_ratio"]
    # where Keras on JAX differs from Keras on TensorFlow, ours gives TensorFlow's exact value:
    # BFCE from logits [-100, 100] against [1, 0] (focal factors 1): the mean of
    # -log sigmoid(-100) = 100 twice (hand calculation). Keras on JAX clips the probabilities to
    # [1e-7, float32(1 - 1e-7)]: (-log(1e-7) - log(1.1920929e-7)) / 2 = (16.118 + 15.942) / 2
    # = 16.03
    bfce = report["differences"]["bfce_logits_100"]
    assert bfce["ours"] == pytest.approx(100.0, rel=1e-6)
    # CTC of [1, 1, 1] in 3 frames (needs 5): ours the largest float32 (for +inf); Keras on JAX
    # ~1e5 (its log(0) = -1e5)
    ctc = report["differences"]["ctc_impossible"]
    assert ctc["ours"] == float(np.finfo("float32").max)
    if KERAS_3_15_1:  # Keras's side as measured on 3.15.1 (a later Keras may agree)
        assert bfce["keras"] == pytest.approx(16.03, abs=0.01)
        assert 1e5 <= ctc["keras"] < 2e5
