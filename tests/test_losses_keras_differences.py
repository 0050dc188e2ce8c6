"""The last silent differences from keras.losses (Keras 3.15.1 on TensorFlow 2.21), each pinned.

One test (or a few) per difference; each failed on the code before its fix (checked by running
it first). Oracles: keras.losses on the same inputs, or a float64 reference written here from
the loss's definition (stated next to it), never our own code.
"""

from __future__ import annotations

import functools
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import custom_losses
from custom_losses import registry

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


# --- CTC: huge logits ---
def _ctc_reference(labels, logits):
    """float64 CTC by brute force: -log of the summed probability of every frame-by-frame path
    that collapses (merge repeats, drop blanks 0) to the row's non-zero labels; the probability
    of a path is the product of its frames' softmax entries (log-softmax in float64). Also the
    gradient w.r.t. the logits: softmax - the posterior of each class at each frame."""
    import itertools

    losses, gradients = [], []
    for row, x in zip(labels, logits.astype(np.float64)):
        log_p = x - x.max(-1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
        target = [int(v) for v in row if v != 0]
        frames, classes = x.shape
        paths, scores = [], []
        for path in itertools.product(range(classes), repeat=frames):
            collapsed = [k for t, k in enumerate(path) if k and (t == 0 or path[t - 1] != k)]
            if collapsed == target:
                paths.append(path)
                scores.append(sum(log_p[t, k] for t, k in enumerate(path)))
        scores = np.array(scores)
        top = scores.max()
        loss = -(top + np.log(np.exp(scores - top).sum()))
        weights = np.exp(scores - top) / np.exp(scores - top).sum()
        posterior = np.zeros_like(x)
        for path, weight in zip(paths, weights):
            posterior[np.arange(frames), path] += weight
        losses.append(loss)
        gradients.append(np.exp(log_p) - posterior)
    return np.array(losses), np.array(gradients)


@pytest.mark.parametrize("scale", [1.0, 1e30, 1e37, 3e37, 1e38])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_ctc_at_huge_logits_equals_a_float64_reference(scale, jit_compile):
    # logits ~ N(0, 1) * scale (one draw): a reachable path's log-probability can be far below
    # the old log(0) stand-in, -1e30, which then outweighed it. Measured, first sample, float64
    # reference / ours before / Keras 3.15.1 (tf.nn.ctc_loss): scale 1e37: 8.703e36 / 6.333e36 /
    # 2.371e36; 3e37: 2.611e37 / 1.900e37 / 7.112e36; 1e38: 8.703e37 / 6.333e37 / NaN
    labels = np.array([[1, 2], [2, 0]])
    logits = (np.random.default_rng(3).normal(0.0, 1.0, (2, 3, 3)) * scale).astype("float32")
    expected, expected_gradient = _ctc_reference(labels, logits)
    loss, gradient = _ctc_value_and_gradient(custom_losses.ctc, labels, logits, jit_compile)
    np.testing.assert_allclose(loss, expected, rtol=1e-5, atol=1e-5)
    # float32 softmax rounds differently from float64: 1e-6 absolute on probabilities
    np.testing.assert_allclose(gradient, expected_gradient, atol=1e-6)


def test_ctc_at_huge_logits_by_hand():
    # one label in two frames, logits (3e37, -3e37) in each: log p(blank) = 0, log p(1) = -6e37,
    # so the paths 01 and 10 have log-probability -6e37 and 11 -1.2e38: the loss is
    # 6e37 - log 2 = 6e37 in float32 (hand). Before: 1e30 (the old log(0) stand-in);
    # Keras 3.15.1: 706.89 (tf.nn.ctc_loss)
    logits = np.array([[[3e37, -3e37], [3e37, -3e37]]], "float32")
    for jit_compile in (False, True):
        loss, gradient = _ctc_value_and_gradient(custom_losses.ctc, [[1]], logits, jit_compile)
        assert float(loss[0]) == np.float32(6e37)
        # d loss / d logits = softmax - posterior = (1, 0) - (1/2, 1/2) in each frame (hand)
        np.testing.assert_allclose(gradient, [[[0.5, -0.5], [0.5, -0.5]]], rtol=1e-6)


# --- CTC: an impossible sample masked by a sample weight of 0 ---
IMPOSSIBLE_LABELS = np.array([[1, 2, 3], [2, 0, 0]])  # the first needs 3 frames, has 2


def _impossible_logits():
    return np.random.default_rng(5).normal(0.0, 1.0, (2, 2, 4)).astype("float32")


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
def test_ctc_weight_zero_removes_an_impossible_sample_as_in_keras(reduction):
    # before: inf * 0 = NaN for the whole batch. Keras 3.15.1: 1.2699 here (sum_over_batch_size:
    # the second sample's 2.5398 over the batch of 2); the oracle is Keras on the same inputs
    weights = np.array([0.0, 1.0], "float32")
    ours = custom_losses.CTC(reduction=reduction)(IMPOSSIBLE_LABELS, _impossible_logits(), weights)
    theirs = keras.losses.CTC(reduction=reduction)(IMPOSSIBLE_LABELS, _impossible_logits(), weights)
    np.testing.assert_allclose(float(ours), float(theirs), rtol=1e-6)


def test_ctc_weight_zero_removes_an_impossible_sample_in_compile_and_fit():
    # model.compile(loss=the function) wraps it in Keras's LossFunctionWrapper: the same
    # multiplication by the weight, so the function's own value must be finite
    x = _impossible_logits()
    weights = np.array([0.0, 1.0], "float32")
    results = []
    for loss in (custom_losses.ctc, custom_losses.CTC(), keras.losses.ctc):
        model = keras.Sequential([keras.Input((2, 4)), keras.layers.Identity()])
        model.compile(loss=loss, jit_compile=True)
        results.append(model.evaluate(x, IMPOSSIBLE_LABELS, sample_weight=weights, verbose=0))
    np.testing.assert_allclose(results[:2], [results[2]] * 2, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_ctc_impossible_sample_is_the_largest_finite_value_with_zero_gradient(dtype):
    # the true loss is +inf (probability 0); ours is the dtype's largest finite number (so that
    # 0 * it = 0), float32: 3.4028235e38; its gradient is 0
    logits = _impossible_logits().astype(dtype)
    loss, gradient = _ctc_value_and_gradient(custom_losses.ctc, IMPOSSIBLE_LABELS, logits, False)
    assert loss.dtype == dtype and loss[0] == np.finfo(dtype).max and np.isfinite(loss[1])
    assert np.all(gradient[0] == 0.0) and np.all(np.isfinite(gradient))


# --- None for y_true or y_pred ---
@pytest.mark.parametrize(
    "row", registry.TABLE, ids=[row.function.__name__ for row in registry.TABLE]
)
@pytest.mark.parametrize("argument", ["y_true", "y_pred"])
def test_none_is_refused_with_a_one_line_value_error_naming_the_argument(row, argument):
    # before: y_true=None gave NaN for 13 functions (mean_squared_error ... categorical_hinge,
    # dice, tversky) and a raw TensorFlow error for cosine_similarity; Keras 3.15.1 raises
    # ValueError ("Attempt to convert a value (None) ... to a Tensor")
    value = np.array([[0.25, 0.75], [0.5, 0.5]], "float32")
    args = {"y_true": value, "y_pred": value, argument: None}
    options = {"q": 0.5} if row.cls.__name__ == "CategoricalGeneralizedCrossEntropy" else {}
    for loss in (functools.partial(row.function, **options), row.cls()):
        with pytest.raises(ValueError, match=f"^{argument} must be [^\\n]*, got None$"):
            loss(args["y_true"], args["y_pred"])


# --- labels out of range: NaN, also for int64 labels beyond int32 ---
BEYOND_INT32 = [2**32, 2**32 + 1, 2**31, -1]  # wrapped into [0, 2) by a cast to int32: 0, 1


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize(
    "name, options",
    [
        ("categorical_generalized_cross_entropy", {"q": 0.5}),
        ("sparse_categorical_crossentropy", {}),
        ("sparse_categorical_crossentropy", {"from_logits": True}),
    ],
)
def test_int64_labels_out_of_range_give_nan(name, options, jit_compile):
    # docs/losses.md: a label outside [0, num_classes) gives NaN. Before: int64 labels were cast
    # to int32 first, so 2**32 + 1 became 1 and gave a finite loss (CGCE 0.586 for p = 0.5,
    # q = 0.5; SCCE 0.693). Keras 3.15.1: CGCE a silent 1 / q = 2.0; SCCE raises (TensorFlow)
    fn = tf.function(
        functools.partial(getattr(custom_losses, name), **options), jit_compile=jit_compile
    )
    labels = tf.constant(BEYOND_INT32 + [1], "int64")
    p = tf.constant([[0.5, 0.5]] * len(BEYOND_INT32) + [[0.25, 0.75]])
    loss = fn(labels, p).numpy()
    assert np.all(np.isnan(loss[:-1])) and np.isfinite(loss[-1]), loss


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("bad", [-1, 4, 7, 2**32 + 1])
def test_ctc_label_out_of_range_gives_nan_for_its_sample(bad, jit_compile):
    # 4 classes (blank 0 and labels 1-3): before, -1 and 2**32 + 1 gave a silent finite loss
    # (-1 read as class 3 under TensorFlow's gather), 7 a raw TensorFlow error eagerly and a
    # finite loss under XLA. Keras 3.15.1 (tf.nn.ctc_loss): silent numbers (0.6931 for -1 and 7
    # with zero logits). Ours: NaN for that sample, the others unchanged, gradient 0 there
    labels = tf.constant([[1, bad], [1, 2]], "int64")
    logits = np.random.default_rng(6).normal(0.0, 1.0, (2, 3, 4)).astype("float32")
    loss, gradient = _ctc_value_and_gradient(custom_losses.ctc, labels, logits, jit_compile)
    expected = keras.losses.ctc(np.array([[1, 2]]), logits[1:]).numpy()  # the good sample
    assert np.isnan(loss[0])
    np.testing.assert_allclose(loss[1:], expected, rtol=1e-6)
    assert np.all(gradient[0] == 0.0) and np.all(np.isfinite(gradient[1]))


# --- cosine similarity with a target that broadcasts ---
def _cosine_reference(y_true, y_pred):
    """float64: the target broadcast to the predictions' shape, then minus the cosine of each
    pair of rows (0 where either row is zero), the definition of the cosine similarity loss."""
    y_true, y_pred = np.broadcast_arrays(np.float64(y_true), np.float64(y_pred))
    dot = (y_true * y_pred).sum(-1)
    norms = np.linalg.norm(y_true, axis=-1) * np.linalg.norm(y_pred, axis=-1)
    return -np.divide(dot, norms, out=np.zeros_like(dot), where=norms > 0)


@pytest.mark.parametrize(
    "y_true",
    [2.0, -0.5, [[2.0], [3.0]], [1.0, 2.0, 3.0], [[1.0, 2.0, 3.0]]],
    ids=["scalar", "negative-scalar", "column", "row", "row-2d"],
)
def test_cosine_similarity_of_a_broadcast_target_is_the_cosine(y_true):
    # before: a scalar target raised TensorFlow's "Invalid reduction dimension"; Keras 3.15.1
    # normalises the target before broadcasting it: scalar 2 against [1, 1, 1] gives
    # -1.7320508 (= -sqrt(3)), not a cosine; the cosine of (2, 2, 2) and (1, 1, 1) is -1
    y_pred = np.array([[1.0, 1.0, 1.0], [0.5, -1.0, 2.0]], "float32")
    loss = custom_losses.cosine_similarity(np.float32(y_true), y_pred)
    np.testing.assert_allclose(loss, _cosine_reference(y_true, y_pred), rtol=1e-6, atol=1e-7)
    loss_class = custom_losses.CosineSimilarity(reduction=None)(np.float32(y_true), y_pred)
    np.testing.assert_allclose(loss_class, loss, rtol=1e-7)
    if KERAS_3_15_1 and np.ndim(y_true) == 0:
        keras_value = keras.losses.cosine_similarity(np.float32(y_true), y_pred).numpy()
        assert keras_value[0] == pytest.approx(-math.sqrt(3.0) * np.sign(y_true), rel=1e-6)


# --- get(): "Loss" and a class ---
def test_get_loss_names_the_base_class_as_in_keras():
    # keras.losses.get("Loss") (3.15.1) returns Loss(), the base class's instance; ours raised
    # "unknown loss name"
    ours, theirs = custom_losses.get("Loss"), keras.losses.get("Loss")
    assert type(ours) is type(theirs) is keras.losses.Loss
    assert "Loss" in custom_losses.LOSS_NAMES


@pytest.mark.parametrize(
    "cls", [custom_losses.Huber, custom_losses.CTC, keras.losses.Huber, keras.losses.Loss]
)
def test_get_of_a_class_returns_a_new_default_instance_as_in_keras(cls):
    # keras.losses.get(SomeLossClass) instantiates it with default arguments; ours returned the
    # class itself
    ours, theirs = custom_losses.get(cls), keras.losses.get(cls)
    assert type(ours) is type(theirs) is cls
    ours_config, theirs_config = ours.get_config(), theirs.get_config()
    if cls is keras.losses.Loss:  # the base class numbers its default names: loss_1, loss_2 ...
        del ours_config["name"], theirs_config["name"]
    assert ours is not theirs and ours_config == theirs_config


# --- from_logits=True on a sigmoid/softmax output: the logits behind it, as Keras ---
@pytest.mark.parametrize(
    "name, activation, y",
    [
        ("categorical_crossentropy", tf.nn.softmax, [[1.0, 0.0, 0.0]]),
        ("sparse_categorical_crossentropy", tf.nn.softmax, [0]),
        ("binary_crossentropy", tf.sigmoid, [[1.0, 0.0, 1.0]]),
        ("categorical_crossentropy", keras.activations.softmax, [[1.0, 0.0, 0.0]]),
        ("binary_crossentropy", keras.activations.sigmoid, [[1.0, 0.0, 1.0]]),
    ],
)
def test_from_logits_on_a_softmax_output_uses_its_logits_and_warns_as_keras(name, activation, y):
    # Keras 3.15.1's _get_logits (TensorFlow): a Softmax/Sigmoid op's output (or a tensor with
    # _keras_logits) is replaced by its input even with from_logits=True, with a warning. Ours
    # read the probabilities as logits: CCE 1.5514 where Keras gives 70 (hand: -log
    # softmax([-30, 10, 40])[0] = 70); BCE 1.1065 where Keras gives 26.6667
    x = tf.constant([[-30.0, 10.0, 40.0]])
    values = []
    for module in (custom_losses, keras.losses):
        fn = getattr(module, name)
        with pytest.warns(UserWarning, match="received `from_logits=True`"):
            traced = tf.function(
                lambda x, fn=fn: fn(tf.constant(y), activation(x), from_logits=True)
            )
            values.append(traced(x).numpy())
    np.testing.assert_allclose(values[0], values[1], rtol=1e-6)
    from_logits = getattr(custom_losses, name)(tf.constant(y), x, from_logits=True).numpy()
    np.testing.assert_allclose(values[0], from_logits, rtol=1e-6)


# --- constructor arguments Keras accepts: label_smoothing outside [0, 1], axis tuple or None ---
def _classification_inputs(name):
    rng = np.random.default_rng(9)
    p = rng.uniform(0.05, 0.95, (2, 3, 4)).astype("float32")
    if name.startswith("Binary"):
        return (rng.uniform(size=(2, 3, 4)) > 0.5).astype("float32"), p
    return np.eye(4, dtype="float32")[rng.integers(0, 4, (2, 3))], p


CROSSENTROPIES = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalFocalCrossentropy",
]
KERAS_ACCEPTS = [
    {"label_smoothing": 1.5},
    {"label_smoothing": -0.5},
    {"axis": (0, 1)},
    {"axis": (1, 2)},
    {"axis": [1, 2]},
    {"axis": None},
    {"axis": (1, 2), "from_logits": True},
    {"axis": None, "from_logits": True},
    {"axis": (0, 1), "label_smoothing": 0.2},
]


@pytest.mark.parametrize("options", KERAS_ACCEPTS, ids=str)
@pytest.mark.parametrize("name", CROSSENTROPIES)
def test_constructor_arguments_keras_accepts_give_keras_values(name, options):
    # before: ValueError "label_smoothing must be in [0, 1]" / "axis must be an int"; Keras 3.15.1
    # accepts these. Oracle: the Keras class on the same inputs, except where Keras on TensorFlow
    # is not the loss's definition (CategoricalCrossentropy: from logits with a tuple axis it
    # raises, with axis=None it takes the last axis, while on probabilities it takes every axis;
    # label smoothing counts the classes along the last axis, not along `axis`). There the
    # oracle is Keras's own probability path, fed softmax(x, axis) and the smoothed labels:
    # what Keras on JAX computes
    y_true, p = _classification_inputs(name)
    ours = getattr(custom_losses, name)(reduction=None, **options)(y_true, p).numpy()
    cce_own_rule = name == "CategoricalCrossentropy" and (
        options.get("from_logits") or (options.get("label_smoothing") and "axis" in options)
    )
    if not cce_own_rule:
        theirs = getattr(keras.losses, name)(reduction=None, **options)(y_true, p).numpy()
    else:
        axis = options["axis"]
        if options.get("from_logits"):  # as numpy: Keras's softmax output carries its logits
            probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(p, axis=axis))
        else:
            probabilities = p
        smoothing = options.get("label_smoothing", 0.0)
        classes = p.size if axis is None else np.prod([p.shape[a] for a in axis])
        targets = y_true * (1.0 - smoothing) + smoothing / classes
        theirs = keras.losses.CategoricalCrossentropy(reduction=None, axis=axis)(
            targets, probabilities
        ).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("name", CROSSENTROPIES + ["Dice", "Tversky"])
def test_tuple_axis_survives_pickle_deepcopy_and_config(name):
    # before: Dice(axis=(1, 2)) came back with axis [1, 2] from pickle or copy.deepcopy (Keras
    # 3.15.1's own Dice too): Keras pickles through the JSON config, which has no tuples
    import copy
    import pickle

    loss = getattr(custom_losses, name)(axis=(1, 2))
    for restored in (
        copy.deepcopy(loss),
        pickle.loads(pickle.dumps(loss)),
        type(loss).from_config(loss.get_config()),
        keras.losses.deserialize(keras.losses.serialize(loss)),
    ):
        assert restored.axis == (1, 2) and restored.get_config()["axis"] == (1, 2)


@pytest.mark.parametrize("name", CROSSENTROPIES)
@pytest.mark.parametrize(
    "options, message",
    [
        ({"axis": 1.0}, r"^axis must be an int, None or a tuple of ints, got 1\.0$"),
        ({"axis": True}, r"^axis must be an int, None or a tuple of ints, got True$"),
        ({"axis": (1, "2")}, r"^axis must be an int, None or a tuple of ints, got \(1, '2'\)$"),
        ({"label_smoothing": "0.1"}, r"^label_smoothing must be a number, got '0\.1'$"),
    ],
)
def test_constructor_refuses_what_keras_cannot_use(name, options, message):
    # Keras 3.15.1 fails on these only when the loss is called (TypeError "Cannot convert 1.0
    # to EagerTensor of dtype int32"; its BCE reads axis=True as 1, its CCE refuses it); ours
    # refuses them when built, with a one-line ValueError
    with pytest.raises(ValueError, match=message):
        getattr(custom_losses, name)(**options)


def test_train_cli_refuses_the_base_class_name(cli):
    # get("Loss") now returns Loss() as Keras's does; the train CLI, which resolves --loss
    # through get, must refuse it with its one-line error (exit 2), not a traceback
    result = cli("keras_lab.train", "--loss", "Loss", "--epochs", "1", "--json")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "python -m keras_lab.train: error: --loss Loss is the base class keras.losses.Loss, "
        "not a loss"
    ]
