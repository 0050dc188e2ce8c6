"""Seeded differential fuzzer: custom_losses against keras.losses on the same backend.

Random cases (seed FUZZ_SEED, or the environment's LOSS_FUZZ_SEED; LOSS_FUZZ_SCALE multiplies
the case counts) of every loss Keras has, values AND gradients: random shapes
(rank 1-3, dimensions 1-5), dtypes (float32, float64; float16/bfloat16 against Keras in float32,
our documented improvement), options (from_logits, label_smoothing, axis, delta, ignore_class),
the class with every reduction, sample weights and masks, special values (0, 1, +-inf, NaN, and
the logits +-1e9, 500, -200), eager, tf.function and XLA (jit_compile=True).

What "agree" means, per output element (values and gradients alike):
- NaN where Keras gives NaN; +-inf where Keras gives the same inf (NaN in, NaN out);
- a finite value within TOLERANCE * (k + 2) * eps * scale of Keras's, where k is the reduced
  axis' length and scale the magnitude of the terms summed (|value| plus the inputs' mean
  magnitude in that sample): two summation orders of k terms differ by at most
  (k - 1) * eps * sum|term| (Higham 4.4), and each term by a few ulps between two formulas
  (BCE from logits: log-sigmoid form against TensorFlow's max/log1p form);
- or, failing that, at least as close to the float64 result (keras.losses on float64 copies of
  the same inputs) as Keras's own float32 result is, to that same tolerance: ours is allowed to
  be MORE accurate (e.g. BCE-from-logits gradients at saturated logits, exact in ours).
Documented deliberate differences (docs/losses.md) are compared against their own oracle:
- float16/bfloat16: ours is computed in float32 and rounded once, so it is compared with Keras
  in float32 on the same (half-rounded) inputs, to 2 half-precision ulps; Keras in half precision
  is not the oracle (it overflows to inf/NaN where ours is finite);
- sparse categorical crossentropy on probabilities: against keras categorical_crossentropy of
  the one-hot labels (ours renormalises then clips, on every backend: Keras does this on JAX);
- categorical crossentropy with label_smoothing and axis != -1: not drawn (Keras 3.15.1 smooths
  with the last axis' size, ours with the class axis': test_losses_parity pins it).
Where Keras's value is NaN or inf but the sample holds a NaN or inf input, ours must be NaN or
the same inf too; where Keras's gradient is non-finite, ours is only required to be non-finite
when the float64 gradient is.
"""

from __future__ import annotations

import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.backend.common.masking import set_keras_mask

import custom_losses
from tests.loss_cases import fixed_cotangent, value_and_gradient

pytestmark = pytest.mark.slow  # ~1500 eager cases and ~60 compilations: ~50 s of CPU

#: The seed, and a multiplier of every case count: LOSS_FUZZ_SEED=7 LOSS_FUZZ_SCALE=10 runs ten
#: times as many cases of another draw (also for tests/test_losses_task_fuzz.py)
FUZZ_SEED = int(os.environ.get("LOSS_FUZZ_SEED", "20261201"))
FUZZ_SCALE = float(os.environ.get("LOSS_FUZZ_SCALE", "1"))


def scaled(count: int) -> int:
    """``count`` cases times LOSS_FUZZ_SCALE (at least 1)."""
    return max(1, round(count * FUZZ_SCALE))


NUM_EAGER = scaled(1500)  # function cases, eager
NUM_CLASS = scaled(300)  # class cases (reduction, sample weight, mask), eager
NUM_COMPILED = scaled(100)  # function cases, half tf.function, half XLA, on few traced signatures
TOLERANCE = 4.0  # x (k + 2) eps x scale; measured maximum: see test_fuzz_measured_tolerance
SPECIAL = [0.0, 1.0, np.inf, -np.inf, np.nan, 1e9, -1e9, 500.0, -200.0]

# name -> (class name, option draws, target kind, prediction kind)
LOSSES = {
    "mean_squared_error": ("MeanSquaredError", {}, "real", "real"),
    "mean_absolute_error": ("MeanAbsoluteError", {}, "real", "real"),
    "mean_absolute_percentage_error": ("MeanAbsolutePercentageError", {}, "real", "real"),
    "mean_squared_logarithmic_error": ("MeanSquaredLogarithmicError", {}, "positive", "positive"),
    "log_cosh": ("LogCosh", {}, "real", "real"),
    "huber": ("Huber", {"delta": [0.5, 1.0, 2.0]}, "real", "real"),
    "binary_crossentropy": (
        "BinaryCrossentropy",
        {"from_logits": [False, True], "label_smoothing": [0.0, 0.1], "axis": [-1]},
        "binary",
        "probability",
    ),
    "categorical_crossentropy": (
        "CategoricalCrossentropy",
        {"from_logits": [False, True], "label_smoothing": [0.0, 0.2], "axis": [-1, 1]},
        "one_hot",
        "probability",
    ),
    "sparse_categorical_crossentropy": (
        "SparseCategoricalCrossentropy",
        {"from_logits": [False, True], "ignore_class": [None, 0]},
        "label",
        "probability",
    ),
    "kl_divergence": ("KLDivergence", {}, "distribution", "distribution"),
    "poisson": ("Poisson", {}, "positive", "positive"),
    "hinge": ("Hinge", {}, "signed", "real"),
    "squared_hinge": ("SquaredHinge", {}, "signed", "real"),
    "categorical_hinge": ("CategoricalHinge", {}, "one_hot", "real"),
    "cosine_similarity": ("CosineSimilarity", {"axis": [-1, 1]}, "real", "real"),
}
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none"]


# ------------------------------------------------------------------------------ case generation
def _draw_options(rng, name, rank):
    options = {key: values[rng.integers(len(values))] for key, values in LOSSES[name][1].items()}
    if options.get("axis", -1) != -1 and rank < 3:
        options["axis"] = -1  # axis 1 of a rank-2 input is the batch-free case: not a class axis
    if name == "categorical_crossentropy" and options["axis"] != -1:
        options["label_smoothing"] = 0.0  # Keras 3.15.1 smooths with the last axis: see docstring
    return options


def _array(rng, kind, shape, options, class_axis):
    if kind == "real":
        return rng.normal(0.0, 3.0, shape) * (10.0 ** rng.integers(-3, 4))
    if kind == "positive":
        return rng.exponential(2.0, shape)
    if kind == "signed":
        return rng.choice([-1.0, 1.0], shape) if rng.random() < 0.5 else rng.integers(0, 2, shape)
    if kind == "binary":
        return rng.integers(0, 2, shape).astype(float) if rng.random() < 0.7 else rng.random(shape)
    if kind in ("one_hot", "label"):
        classes = rng.integers(0, shape[class_axis], np.delete(shape, class_axis))
        if kind == "label":
            return classes
        return np.moveaxis(np.eye(shape[class_axis])[classes], -1, class_axis)
    if kind == "distribution":
        p = rng.uniform(0.0, 1.0, shape)
        return p / p.sum(axis=-1, keepdims=True)
    if options.get("from_logits"):  # probability predictions, or logits
        return rng.normal(0.0, 4.0, shape)
    return rng.uniform(0.0, 1.0, shape)


def _inject_specials(rng, y_pred, probability):
    """Put special values into a few entries (all of SPECIAL; 0 and 1 favoured for p)."""
    flat = y_pred.reshape(-1)
    for _ in range(rng.integers(1, 3)):
        choices = [0.0, 1.0, np.nan] if probability and rng.random() < 0.7 else SPECIAL
        flat[rng.integers(flat.size)] = choices[rng.integers(len(choices))]
    return flat.reshape(y_pred.shape)


def draw_case(rng, half_ok=True):
    name = list(LOSSES)[rng.integers(len(LOSSES))]
    rank = int(rng.integers(1, 4))
    shape = tuple(int(d) for d in rng.integers(1, 6, rank))
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy", "categorical_hinge"):
        shape = shape[:-1] + (max(shape[-1], 2),)  # one class is a degenerate softmax
    options = _draw_options(rng, name, rank)
    class_axis = options.get("axis", -1) % rank
    _, _, true_kind, pred_kind = LOSSES[name]
    y_true = _array(rng, true_kind, shape, options, class_axis)
    y_pred = _array(rng, pred_kind, shape, options, class_axis)
    if rng.random() < 0.3:
        probability = pred_kind in ("probability", "distribution") and not options.get(
            "from_logits"
        )
        y_pred = _inject_specials(rng, y_pred, probability)
    dtypes = ["float32"] * 5 + ["float64"] * 3 + (["float16", "bfloat16"] if half_ok else [])
    dtype = dtypes[rng.integers(len(dtypes))]
    if name == "sparse_categorical_crossentropy" and options.get("ignore_class") == 0:
        y_true = y_true.copy()
        y_true.flat[0] = 0  # at least one ignored label
    return name, options, y_true, y_pred, dtype


# -------------------------------------------------------------------------------------- oracles
def _to_tensor(x, dtype):
    return tf.constant(np.asarray(x, np.float64).astype("float32"), dtype=dtype)


def _value_and_gradient(fn, y_true, y_pred):
    value, gradient = value_and_gradient(fn, y_true, y_pred, fixed_cotangent)
    return np.asarray(value, np.float64), np.asarray(gradient, np.float64)


def keras_oracle(name, options):
    """The keras.losses function computing what ours should (see the module docstring)."""
    if name == "sparse_categorical_crossentropy" and not options.get("from_logits"):
        return lambda y_true, y_pred: _scce_as_cce(y_true, y_pred, options)
    fn = getattr(keras.losses, name)
    return lambda y_true, y_pred: fn(y_true, y_pred, **options)


def _scce_as_cce(y_true, y_pred, options):
    labels = tf.cast(y_true, "int32")
    num_classes = y_pred.shape[-1]
    one_hot = tf.one_hot(tf.maximum(labels, 0), num_classes, dtype=y_pred.dtype)
    loss = keras.losses.categorical_crossentropy(one_hot, y_pred)
    if options.get("ignore_class") is not None:
        loss = tf.where(tf.equal(labels, options["ignore_class"]), tf.zeros_like(loss), loss)
    return loss


def _ours(name, options):
    fn = getattr(custom_losses, name)
    return lambda y_true, y_pred: fn(y_true, y_pred, **options)


def _true_tensor(name, y_true, dtype):
    if name == "sparse_categorical_crossentropy":
        return tf.constant(np.asarray(y_true, np.int32))
    return _to_tensor(y_true, dtype)


# ----------------------------------------------------------------------------------- comparison
class Mismatch(AssertionError):
    pass


def _scale(name, y_true, y_pred, value_shape, axis):
    """Per-output magnitude of the summed terms: the inputs' mean |.| along the reduced axis."""
    t = np.abs(np.nan_to_num(np.asarray(y_true, np.float64), posinf=0, neginf=0))
    p = np.abs(np.nan_to_num(np.asarray(y_pred, np.float64), posinf=0, neginf=0))
    if name == "sparse_categorical_crossentropy":
        magnitude = p.mean(axis=-1)
    else:
        if t.shape != p.shape:
            t = np.broadcast_to(t.reshape(t.shape + (1,) * (p.ndim - t.ndim)), p.shape)
        squared = name in ("mean_squared_error", "squared_hinge", "huber")
        magnitude = ((t + p) ** 2 if squared else t + p).mean(axis=axis)
        if name in ("kl_divergence", "poisson", "binary_crossentropy", "categorical_crossentropy"):
            magnitude = magnitude + 17.0  # |log(1e-7)| = 16.1: the clipped logarithms
    return np.broadcast_to(magnitude, value_shape) if magnitude.size > 1 else magnitude


def compare(what, ours, theirs, reference, scale, k, eps, input_nonfinite, atol=0.0):
    """Raise Mismatch unless ``ours`` agrees with ``theirs`` (see the module docstring).

    ``reference`` is a callable giving the float64 result (computed only when needed);
    ``input_nonfinite`` marks the outputs whose inputs hold a NaN or an inf. Returns the largest
    |ours - theirs| / ((k + 2) eps scale) over the elements compared directly.
    """
    ours, theirs = (np.asarray(a, np.float64) for a in (ours, theirs))
    if ours.shape != theirs.shape:
        raise Mismatch(f"{what}: shape {ours.shape} != {theirs.shape}")
    input_nonfinite = np.broadcast_to(input_nonfinite, ours.shape)
    scale = np.broadcast_to(np.abs(np.asarray(scale, np.float64)), ours.shape)
    bound = atol + TOLERANCE * (k + 2) * eps * (np.abs(theirs) + scale)
    both_finite = np.isfinite(ours) & np.isfinite(theirs)
    difference = np.where(both_finite, np.abs(ours - theirs), 0.0)
    suspect = both_finite & (difference > bound)
    # NaN in, NaN out: where Keras is NaN on a NaN/inf input, ours is NaN or inf, never finite
    suspect |= np.isnan(theirs) & np.isfinite(ours) & input_nonfinite
    suspect |= np.isinf(theirs) & ~input_nonfinite & (ours != theirs)
    suspect |= ~np.isfinite(ours) & np.isfinite(theirs) & ~input_nonfinite
    ratio = np.where(both_finite, difference / np.maximum(bound, 1e-300) * TOLERANCE, 0.0)
    if not np.any(suspect):
        return float(np.max(ratio, initial=0.0))
    reference = np.broadcast_to(np.asarray(reference(), np.float64), ours.shape)
    # ours may be closer to the float64 result than Keras is (more accurate), never farther
    closer = np.abs(ours - reference) <= np.abs(theirs - reference) + bound
    # where Keras is NaN, ours may be finite only as the (finite) float64 result: NaN in, NaN out
    exact_bound = atol + TOLERANCE * (k + 2) * eps * (np.abs(reference) + scale)
    closer = np.where(np.isnan(theirs), np.abs(ours - reference) <= exact_bound, closer)
    bad = suspect & ~(closer & np.isfinite(ours) | (ours == reference))
    if np.any(bad):
        index = tuple(np.argwhere(bad)[0])
        raise Mismatch(
            f"{what}: at {index} ours {ours[index]!r}, keras {theirs[index]!r}"
            f", float64 {reference[index]!r}, bound {bound[index]!r}"
        )
    return float(np.max(np.where(suspect, 0.0, ratio), initial=0.0))


def compare_gradients(what, ours, theirs, reference, scale, k, eps):
    """:func:`compare` of the gradients of two (value, gradient) pairs, of finite inputs."""
    return compare("gradient " + what, ours[1], theirs[1], reference, scale, k, eps, False)


def _half_compare(what, ours, reference, dtype):
    """float16/bfloat16: ours is the float32 result rounded once: within 2 ulps of the half type,
    or inf where the float32 result is beyond the half type's largest value (docs/losses.md)."""
    finfo = tf.experimental.numpy.finfo(dtype)
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    overflow = np.abs(reference) > float(finfo.max)
    close = np.abs(ours - reference) <= 2 * float(finfo.eps) * np.abs(reference) + float(finfo.tiny)
    # a NaN reference (Keras in float32: inf - inf on an inf input) may be NaN or inf in ours
    same_special = (ours == reference) | (np.isnan(reference) & ~np.isfinite(ours))
    bad = ~(close | same_special | (overflow & np.isinf(ours)))
    if np.any(bad):
        index = tuple(np.argwhere(bad)[0])
        raise Mismatch(f"{what}: at {index} ours {ours[index]!r}, float32 {reference[index]!r}")


#: Keras's log_cosh subtracts float32's log 2 also in float64: 1.9e-9 off (docs/losses.md)
LOG2_FLOAT32_ERROR = 1.91e-9


def run_case(name, options, y_true, y_pred, dtype, wrap=lambda fn: fn):
    """Compare ours with the oracle on one case; return the measured ratio (see compare)."""
    rank = y_pred.ndim
    axis = options.get("axis", -1) % rank
    k = 1 if name == "sparse_categorical_crossentropy" else y_pred.shape[axis]
    half = dtype in ("float16", "bfloat16")
    compute = "float32" if half else dtype
    y_pred_rounded = tf.cast(tf.constant(y_pred, "float64"), dtype)  # as the user's tensor holds it
    pred = tf.cast(y_pred_rounded, compute)
    true = tf.cast(
        _true_tensor(name, y_true, dtype),
        compute if name != "sparse_categorical_crossentropy" else "int32",
    )
    ours_value, ours_gradient = _value_and_gradient(
        wrap(_ours(name, options)), _true_tensor(name, y_true, dtype), y_pred_rounded
    )
    theirs_value, theirs_gradient = _value_and_gradient(
        wrap(keras_oracle(name, options)), true, pred
    )
    what = f"{name} {options} {dtype} {y_pred.shape}"
    if half:  # the contract is the value: float32's, rounded once
        _half_compare(f"value {what}", ours_value, theirs_value, dtype)
        return 0.0

    def reference(part):
        pred64, true64 = tf.cast(pred, "float64"), _true_tensor(name, y_true, "float64")
        return lambda: _value_and_gradient(keras_oracle(name, options), true64, pred64)[part]

    eps = np.finfo(dtype).eps
    nonfinite = ~np.isfinite(y_pred_rounded.numpy().astype(np.float64))
    reduced = -1 if name == "sparse_categorical_crossentropy" else axis
    sample_nonfinite = nonfinite.any(axis=reduced)
    scale = _scale(name, y_true, pred.numpy(), theirs_value.shape, axis)
    atol = LOG2_FLOAT32_ERROR if name == "log_cosh" and dtype == "float64" else 0.0
    ratio = compare(
        f"value {what}",
        ours_value,
        theirs_value,
        reference(0),
        scale,
        k,
        eps,
        sample_nonfinite,
        atol,
    )
    # gradients: where every input of the sample is finite (at a NaN/inf input the gradient of
    # every element of that sample is undefined: 0 * inf, NaN propagation order)
    finite_sample = np.expand_dims(~sample_nonfinite, reduced)
    finite_sample = np.broadcast_to(finite_sample, ours_gradient.shape)
    gradient_scale = np.max(np.abs(np.nan_to_num(theirs_gradient, posinf=0, neginf=0)))
    if "crossentropy" in name:  # p - t: terms of magnitude 1 (1/k for a mean) cancel
        gradient_scale = max(gradient_scale, 1.0 / k)
    compare(
        f"gradient {what}",
        np.where(finite_sample, ours_gradient, 0.0),
        np.where(finite_sample, theirs_gradient, 0.0),
        lambda: np.where(finite_sample, reference(1)(), 0.0),
        gradient_scale,
        k,
        eps,
        False,
    )
    return ratio


# ---------------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def eager_cases():
    rng = np.random.default_rng(FUZZ_SEED)
    return [draw_case(rng) for _ in range(NUM_EAGER)]


def test_fuzz_functions_eager(eager_cases):
    failures, ratios = [], []
    for case in eager_cases:
        try:
            ratios.append(run_case(*case))
        except Mismatch as error:
            failures.append(str(error))
    assert not failures, f"{len(failures)} of {len(eager_cases)} cases differ:\n" + "\n".join(
        failures[:10]
    )
    # the measured worst case, in units of (k + 2) eps scale, stays below TOLERANCE
    assert max(ratios) <= TOLERANCE


COMPILED_SHAPE = (4, 3)  # one traced shape per loss and option set: the compilations are reused


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fuzz_functions_compiled(jit_compile):
    rng = np.random.default_rng(FUZZ_SEED + int(jit_compile) + 1)
    compiled = {}

    def wrap_for(key):
        def wrap(fn):
            slot = (key, id(fn.__code__))
            if slot not in compiled:
                compiled[slot] = tf.function(fn, jit_compile=jit_compile, reduce_retracing=True)
            return compiled[slot]

        return wrap

    failures = []
    for _ in range(NUM_COMPILED // 2):
        name, options, _, _, _ = draw_case(rng, half_ok=False)
        dtype = "float32"
        options = {**options, **({"axis": -1} if "axis" in options else {})}
        if name == "categorical_crossentropy":
            options["label_smoothing"] = options.get("label_smoothing", 0.0)
        class_axis = -1
        _, _, true_kind, pred_kind = LOSSES[name]
        y_true = _array(rng, true_kind, COMPILED_SHAPE, options, class_axis % 2)
        y_pred = _array(rng, pred_kind, COMPILED_SHAPE, options, class_axis % 2)
        if rng.random() < 0.4:
            y_pred = _inject_specials(rng, y_pred, pred_kind == "probability")
        key = (name, tuple(sorted(options.items())), dtype)
        try:
            run_case(name, options, y_true, y_pred, dtype, wrap=wrap_for(key))
        except Mismatch as error:
            failures.append(str(error))
    assert not failures, f"{len(failures)} cases differ:\n" + "\n".join(failures[:10])


def test_fuzz_classes_with_reductions_sample_weights_and_masks():
    rng = np.random.default_rng(FUZZ_SEED + 7)
    failures = []
    for _ in range(NUM_CLASS):
        name, options, y_true, y_pred, dtype = draw_case(rng, half_ok=False)
        if name == "sparse_categorical_crossentropy" and not options.get("from_logits"):
            continue  # the oracle is the function composition above; the class reduces the same
        class_name = LOSSES[name][0]
        reduction = REDUCTIONS[rng.integers(len(REDUCTIONS))]
        loss_shape = getattr(keras.losses, name)(
            _true_tensor(name, y_true, dtype), tf.constant(y_pred, dtype), **options
        ).shape
        sample_weight = None
        if rng.random() < 0.5 and len(loss_shape) > 0:
            sample_weight = rng.uniform(0.0, 2.0, loss_shape).astype(dtype)
        mask = None
        if rng.random() < 0.3 and len(loss_shape) > 0:
            mask = rng.random(loss_shape) < 0.7

        def as_class(module, name=class_name, options=options, reduction=reduction):
            loss = getattr(module, name)(reduction=reduction, **options)

            def fn(y_true, y_pred):
                if mask is not None:
                    y_pred = tf.identity(y_pred)
                    set_keras_mask(y_pred, tf.constant(mask))
                return loss(y_true, y_pred, sample_weight=sample_weight)

            return fn

        true = _true_tensor(name, y_true, dtype)
        ours = _value_and_gradient(as_class(custom_losses), true, tf.constant(y_pred, dtype))
        theirs = _value_and_gradient(as_class(keras.losses), true, tf.constant(y_pred, dtype))

        def reference(part):
            true64 = _true_tensor(name, y_true, "float64")
            pred64 = tf.constant(y_pred, "float64")
            return lambda: _value_and_gradient(as_class(keras.losses), true64, pred64)[part]

        # the batch reduction sums the per-sample values too: k becomes the element count
        k = int(np.prod(y_pred.shape))
        eps = np.finfo("float32").eps  # the classes compute in their dtype: floatx, float32
        scale = np.max(np.abs(np.nan_to_num(theirs[0], posinf=0, neginf=0)), initial=0) + 17.0
        what = f"class {class_name} {options} {reduction} sw={sample_weight is not None} "
        what += f"mask={mask is not None} {dtype} {y_pred.shape}"
        finite = bool(np.all(np.isfinite(y_pred)))
        atol = LOG2_FLOAT32_ERROR if name == "log_cosh" and dtype == "float64" else 0.0
        try:
            compare(
                "value " + what, ours[0], theirs[0], reference(0), scale, k, eps, not finite, atol
            )
            if finite:
                gradient_scale = np.max(np.abs(theirs[1]))
                if "crossentropy" in name:  # p - t: terms of magnitude 1 cancel
                    gradient_scale = max(gradient_scale, 1.0 / k)
                compare_gradients(what, ours, theirs, reference(1), gradient_scale, k, eps)
        except Mismatch as error:
            failures.append(str(error))
    assert not failures, f"{len(failures)} cases differ:\n" + "\n".join(failures[:10])


def test_fuzz_cases_cover_every_loss_dtype_and_special_value(eager_cases):
    names = {case[0] for case in eager_cases}
    dtypes = {case[4] for case in eager_cases}
    assert names == set(LOSSES) and dtypes == {"float32", "float64", "float16", "bfloat16"}
    values = np.concatenate([np.ravel(case[3]) for case in eager_cases])
    for special in SPECIAL:
        assert np.any(np.isnan(values)) if math.isnan(special) else np.any(values == special)
