"""The table of loss cases that every backend's parity test draws from.

tests/test_losses_parity.py (TensorFlow, in the suite's process) and
tests/backend_parity_script.py (JAX and PyTorch, each in its own process) take their
inputs from here: per loss function, how to draw y_true and y_pred and which constructor
options to try. Pure numpy, so that a backend without TensorFlow can import it.
"""

import numpy as np

# (N,) (N,1) (N,k) (N,T,k), small on purpose (speed); N=6, T=3, k=4 are arbitrary
SHAPES = [(6,), (6, 1), (6, 4), (6, 3, 4)]
DTYPES = ["float32", "float64"]
LARGE = 1e4  # "large magnitude": one row of real-valued inputs is scaled by this


def make_real(rng, shape):
    x = rng.normal(0.0, 3.0, shape)
    x[0] *= LARGE
    return x


def make_positive(rng, shape):
    x = rng.uniform(0.0, 5.0, shape)
    x[0] *= LARGE
    return x


def make_rates(rng, shape):
    return rng.uniform(0.05, 5.0, shape)  # Poisson rates; large ones in make_positive targets


def make_counts(rng, shape):
    return rng.poisson(2.0, shape).astype(float)


def make_probabilities(rng, shape):
    p = rng.uniform(0.0, 1.0, shape)
    p.flat[0], p.flat[-1] = 0.0, 1.0  # exactly 0 and 1: Keras's clip must match ours
    return p


def make_distributions(rng, shape):
    p = rng.uniform(0.01, 1.0, shape)
    return p / p.sum(axis=-1, keepdims=True)


def make_binary(rng, shape):
    return rng.integers(0, 2, shape).astype(float)


def make_signed(rng, shape):
    return rng.choice([-1.0, 1.0], shape)


def make_one_hot(rng, shape):
    return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]


def make_distribution(rng, shape):
    x = rng.uniform(0.0, 1.0, shape)
    return x / x.sum(axis=-1, keepdims=True)


def make_logits(rng, shape):
    x = rng.normal(0.0, 4.0, shape)
    x.flat[0], x.flat[-1] = 1e9, -1e9  # overflow-size logits (Optax's test vectors use +-1e9)
    return x


# name -> (y_true maker, y_pred maker, options to try, y_pred maker for from_logits)
SPECS = {
    "mean_squared_error": (make_real, make_real, [{}]),
    "mean_absolute_error": (make_real, make_real, [{}]),
    "mean_absolute_percentage_error": (make_real, make_real, [{}]),
    "mean_squared_logarithmic_error": (make_positive, make_positive, [{}]),
    "log_cosh": (make_real, make_real, [{}]),
    "huber": (make_real, make_real, [{}, {"delta": 0.5}, {"delta": 4.0}]),
    "binary_crossentropy": (
        make_binary,
        make_probabilities,
        [{}, {"label_smoothing": 0.2}, {"axis": 1}, {"from_logits": True}],
    ),
    "categorical_crossentropy": (
        make_one_hot,
        make_probabilities,
        [{}, {"label_smoothing": 0.2}, {"axis": 1}, {"from_logits": True}],
    ),
    "hinge": (make_signed, make_real, [{}]),
    "squared_hinge": (make_binary, make_real, [{}]),
    "categorical_hinge": (make_one_hot, make_real, [{}]),
    "kl_divergence": (make_distribution, make_distribution, [{}]),
    "poisson": (make_counts, make_rates, [{}]),
    "cosine_similarity": (make_real, make_real, [{}, {"axis": 1}]),
}
CLASS_NAMES = {
    "mean_squared_error": "MeanSquaredError",
    "mean_absolute_error": "MeanAbsoluteError",
    "mean_absolute_percentage_error": "MeanAbsolutePercentageError",
    "mean_squared_logarithmic_error": "MeanSquaredLogarithmicError",
    "log_cosh": "LogCosh",
    "huber": "Huber",
    "binary_crossentropy": "BinaryCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
    "hinge": "Hinge",
    "squared_hinge": "SquaredHinge",
    "categorical_hinge": "CategoricalHinge",
    "kl_divergence": "KLDivergence",
    "poisson": "Poisson",
    "cosine_similarity": "CosineSimilarity",
}
# the four; "mean" and None are Keras synonyms of "sum_over_batch_size" and "none"
REDUCTIONS = ["sum_over_batch_size", "sum", "none", "mean_with_sample_weight"]


def valid(name, shape, options):
    """Combinations Keras itself cannot run or defines differently (each one says why)."""
    axis = options.get("axis", -1)
    if axis != -1 and len(shape) < 3:
        return False  # axis=1 of (N, k) is the batch-free case already covered; (N,) has no axis 1
    if name in ("categorical_crossentropy", "categorical_hinge") and shape[-1] == 1:
        return False  # one class: a softmax over one entry (Keras warns that this is an error)
    if name == "categorical_crossentropy" and axis != -1 and options.get("label_smoothing"):
        return False  # Keras 3.15.1 smooths with the size of the last axis: see test_cce_axis_*
    return True


def inputs(name, shape, options, dtype, seed):
    make_true, make_pred, _ = SPECS[name]
    rng = np.random.default_rng(seed)
    if options.get("from_logits"):
        make_pred = make_logits
    return make_true(rng, shape).astype(dtype), make_pred(rng, shape).astype(dtype)


# ------------------------------------------------------------------------------ shared helpers
#: The loss functions of keras.losses 3.15.1's core, then the lecture's two that Keras lacks.
KERAS_FUNCTIONS = [
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "log_cosh",
    "huber",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "kl_divergence",
    "poisson",
    "cosine_similarity",
]
LECTURE_FUNCTIONS = ["root_mean_squared_error", "sum_squared_error"]
#: Their classes, in the same order.
KERAS_CLASSES = [CLASS_NAMES[name] for name in KERAS_FUNCTIONS]
LECTURE_CLASSES = ["RootMeanSquaredError", "SumSquaredError"]


def fixed_cotangent(shape):
    """A fixed, non-uniform weight per output element, so every element's gradient counts."""
    size = int(np.prod(shape))
    return (1.0 + 0.25 * np.cos(np.arange(size))).reshape(shape)


def value_and_gradient(fn, y_true, y_pred, cotangent=None, as_tensors=False, **options):
    """``fn(y_true, y_pred, **options)`` and d sum(cotangent * loss) / d y_pred (TensorFlow).

    ``cotangent``: None (ones), an array of the loss's shape, or a function of that shape
    (e.g. :func:`fixed_cotangent`); the sum is taken in float64. A gradient of None (the loss
    does not depend on y_pred) is zeros. Numpy arrays, or with ``as_tensors`` the tensors:
    traceable inside tf.function (and XLA).
    """
    import tensorflow as tf  # here: this module stays importable without TensorFlow

    y_pred = tf.convert_to_tensor(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        loss = fn(y_true, y_pred, **options)
        if callable(cotangent):
            cotangent = tf.autograph.experimental.do_not_convert(cotangent)(loss.shape)
        weights = 1.0 if cotangent is None else tf.cast(cotangent, "float64")
        total = tf.reduce_sum(tf.cast(loss, "float64") * weights)
    gradient = tape.gradient(total, y_pred)
    gradient = tf.zeros_like(y_pred) if gradient is None else gradient
    return (loss, gradient) if as_tensors else (loss.numpy(), gradient.numpy())
