"""The parity cases of the losses added in issue #11 (focal, generalized CE, Dice, Tversky,
Circle, CTC), shared by the TensorFlow tests (tests/test_losses_task.py) and the JAX run
(tests/jax_parity_task_losses.py, in a subprocess with KERAS_BACKEND=jax).

Backend-neutral: numpy and keras only. Each case is a loss function name (the same in
keras.losses and custom_losses), its keyword arguments and a seeded input maker; every option of
every function appears in at least one case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from custom_losses import focal, metric_learning, segmentation, sequence

#: The task-specific loss functions, by name.
OURS = {
    fn.__name__: fn
    for fn in (
        focal.binary_focal_crossentropy,
        focal.categorical_focal_crossentropy,
        focal.categorical_generalized_cross_entropy,
        segmentation.dice,
        segmentation.tversky,
        metric_learning.circle,
        sequence.ctc,
    )
}

#: Inputs of one case: (y_true, y_pred), both numpy arrays; the gradient is taken for y_pred.
Inputs = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Case:
    id: str
    name: str  # the function's name in keras.losses and custom_losses
    make: Callable[[np.random.Generator, str], Inputs]
    kwargs: dict[str, Any] = field(default_factory=dict)


def _binary(shape: tuple[int, ...], logits: bool = False) -> Callable:
    def make(rng: np.random.Generator, dtype: str) -> Inputs:
        y_true = rng.integers(0, 2, shape).astype(dtype)
        if logits:
            return y_true, rng.normal(0.0, 4.0, shape).astype(dtype)
        return y_true, rng.uniform(0.02, 0.98, shape).astype(dtype)

    return make


def _one_hot(shape: tuple[int, ...], logits: bool = False, class_axis: int = -1) -> Callable:
    def make(rng: np.random.Generator, dtype: str) -> Inputs:
        others = tuple(d for i, d in enumerate(shape) if i != class_axis % len(shape))
        labels = rng.integers(0, shape[class_axis], others)
        y_true = np.moveaxis(np.eye(shape[class_axis])[labels], -1, class_axis).astype(dtype)
        if logits:
            return y_true, rng.normal(0.0, 3.0, shape).astype(dtype)
        # positive, rows not summing to 1: the renormalisation is exercised too
        return y_true, rng.uniform(0.05, 1.0, shape).astype(dtype)

    return make


def _labels_and_probabilities(shape: tuple[int, ...]) -> Callable:
    def make(rng: np.random.Generator, dtype: str) -> Inputs:
        logits = rng.normal(0.0, 1.5, shape)
        p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        return rng.integers(0, shape[-1], shape[:-1]), p.astype(dtype)

    return make


def _masks(shape: tuple[int, ...], soft: bool = False) -> Callable:
    def make(rng: np.random.Generator, dtype: str) -> Inputs:
        y_true = rng.uniform(0, 1, shape) if soft else rng.integers(0, 2, shape)
        return y_true.astype(dtype), rng.uniform(0.0, 1.0, shape).astype(dtype)

    return make


def unit_rows(rng: np.random.Generator, rows: int, dim: int) -> np.ndarray:
    x = rng.normal(size=(rows, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _embeddings(batch: int = 8, dim: int = 5, classes: int = 3) -> Callable:
    def make(rng: np.random.Generator, dtype: str) -> Inputs:
        # label 9 once: a query with no positive (loss 0, masked out of the mean)
        labels = np.concatenate([rng.integers(0, classes, batch - 1), [9]])
        return labels, unit_rows(rng, batch, dim).astype(dtype)

    return make


def ctc_inputs(batch: int = 3, frames: int = 8, classes: int = 5, max_length: int = 4) -> Callable:
    def make(rng: np.random.Generator, dtype: str) -> Inputs:
        labels = np.zeros((batch, max_length), dtype="int32")
        for row, length in enumerate(rng.integers(1, max_length + 1, batch)):
            labels[row, :length] = rng.integers(1, classes, length)
        labels[0, :2] = [2, 2]  # a repeated label: needs a blank frame between the two
        return labels, rng.normal(0.0, 2.0, (batch, frames, classes)).astype(dtype)

    return make


_REF = np.random.default_rng(7)
REF_LABELS = np.array([0, 1, 2, 0, 1, 4])
REF_EMBEDDINGS = unit_rows(_REF, 6, 5)

CASES: list[Case] = [
    # binary focal crossentropy: every option, probabilities and logits, another axis
    Case("bfce", "binary_focal_crossentropy", _binary((6, 4))),
    Case("bfce-gamma0", "binary_focal_crossentropy", _binary((6, 4)), {"gamma": 0.0}),
    Case(
        "bfce-balanced",
        "binary_focal_crossentropy",
        _binary((6, 4)),
        {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5},
    ),
    Case("bfce-smooth", "binary_focal_crossentropy", _binary((6, 4)), {"label_smoothing": 0.2}),
    Case("bfce-axis1", "binary_focal_crossentropy", _binary((3, 4, 2)), {"axis": 1}),
    Case("bfce-logits", "binary_focal_crossentropy", _binary((6, 4), True), {"from_logits": True}),
    Case(
        "bfce-logits-all",
        "binary_focal_crossentropy",
        _binary((2, 3, 4), True),
        {
            "from_logits": True,
            "apply_class_balancing": True,
            "alpha": 0.7,
            "gamma": 3.0,
            "label_smoothing": 0.1,
        },
    ),
    # categorical focal crossentropy
    Case("cfce", "categorical_focal_crossentropy", _one_hot((6, 4))),
    Case(
        "cfce-alpha-list",
        "categorical_focal_crossentropy",
        _one_hot((6, 4)),
        {"alpha": [0.1, 0.2, 0.3, 0.4], "gamma": 1.0},
    ),
    Case(
        "cfce-smooth", "categorical_focal_crossentropy", _one_hot((6, 4)), {"label_smoothing": 0.1}
    ),
    Case(
        "cfce-logits",
        "categorical_focal_crossentropy",
        _one_hot((6, 4), True),
        {"from_logits": True},
    ),
    Case(
        "cfce-logits-all",
        "categorical_focal_crossentropy",
        _one_hot((2, 3, 4), True),
        {"from_logits": True, "gamma": 0.5, "alpha": 0.9, "label_smoothing": 0.3},
    ),
    Case(
        "cfce-axis1",
        "categorical_focal_crossentropy",
        _one_hot((3, 4, 2), class_axis=1),
        {"axis": 1},
    ),
    # generalized crossentropy
    Case(
        "gce",
        "categorical_generalized_cross_entropy",
        _labels_and_probabilities((6, 4)),
        {"q": 0.5},
    ),
    Case(
        "gce-q0.1",
        "categorical_generalized_cross_entropy",
        _labels_and_probabilities((6, 4)),
        {"q": 0.1},
    ),
    Case(
        "gce-3d",
        "categorical_generalized_cross_entropy",
        _labels_and_probabilities((2, 3, 4)),
        {"q": 0.9},
    ),
    # Dice and Tversky: the whole batch, one axis, several axes, soft targets
    Case("dice", "dice", _masks((4, 5))),
    Case("dice-axis1", "dice", _masks((4, 5)), {"axis": 1}),
    Case("dice-axes", "dice", _masks((2, 3, 4, 1), soft=True), {"axis": (1, 2, 3)}),
    Case("tversky", "tversky", _masks((4, 5))),
    Case("tversky-coeffs", "tversky", _masks((4, 5)), {"alpha": 0.2, "beta": 0.8, "axis": -1}),
    Case(
        "tversky-axes",
        "tversky",
        _masks((2, 3, 4), soft=True),
        {"alpha": 0.7, "beta": 0.3, "axis": (1, 2)},
    ),
    # Circle: the batch as references, explicit references, the diagonal kept
    Case("circle", "circle", _embeddings()),
    Case("circle-256", "circle", _embeddings(), {"gamma": 256.0, "margin": 0.25}),
    Case(
        "circle-refs",
        "circle",
        _embeddings(),
        {
            "ref_labels": REF_LABELS,
            "ref_embeddings": REF_EMBEDDINGS,
            "remove_diagonal": False,
            "gamma": 30.0,
        },
    ),
    # CTC: variable label lengths, a repeated label
    Case("ctc", "ctc", ctc_inputs()),
    Case("ctc-short", "ctc", ctc_inputs(batch=4, frames=5, classes=4, max_length=2)),
    Case("ctc-long", "ctc", ctc_inputs(batch=2, frames=12, classes=7, max_length=5)),
]

#: dtype -> (rtol, atol) for values and gradients, ours against Keras 3.15.1 on the same
#: backend. Both sides evaluate the same formula in a possibly different order (a fused XLA
#: kernel, a log-sigmoid for a clipped log, a loop for tf.nn.ctc_loss's C++): the difference is
#: a few roundings, so the bound is ~100 ulp relative (float32 eps 1.2e-7, float64 eps 2.2e-16)
#: plus an absolute floor for entries that cancel to ~0. Measured (Keras 3.15.1, TF 2.21, JAX
#: 0.10, seed 11): TensorFlow float32 values within 2.8e-7 relative, gradients within 2.1e-6
#: relative (floored), worst case at 0.10 of the bound (ctc-long); float64 values within
#: 3.4e-16; JAX (jit) worst at 0.38 of the float32 bound (bfce-logits-all: Keras on JAX takes
#: the BCE from clipped probabilities, ours from the logits).
TOLERANCE = {"float32": (2e-5, 2e-6), "float64": (1e-12, 1e-13)}

#: float64 cases whose Keras 3.15.1 reference (TensorFlow) is only float32-accurate, compared at
#: float32 tolerance: tf.nn.ctc_loss has no float64 kernel (Keras casts to float32,
#: keras/src/backend/tensorflow/nn.py); a list ``alpha`` becomes a float32 tensor in Keras's
#: ops.multiply before the float64 product (ours keeps alpha in float64).
FLOAT32_REFERENCE = {"ctc", "ctc-short", "ctc-long", "cfce-alpha-list"}

#: The cases also run in tf.function and under XLA (float32): one per function (two for the
#: binary focal loss: probabilities and logits), with the most options; tracing and compiling
#: every case in both dtypes would take minutes.
COMPILED_CASES = (
    "bfce-balanced",
    "bfce-logits-all",
    "cfce-alpha-list",
    "gce-3d",
    "dice-axes",
    "tversky-coeffs",
    "circle-refs",
    "ctc",
)


def kwargs_for(case: Case, dtype: str) -> dict[str, Any]:
    """The case's keyword arguments, float arrays (Circle's references) in ``dtype``."""
    return {
        key: value.astype(dtype)
        if isinstance(value, np.ndarray) and value.dtype.kind == "f"
        else value
        for key, value in case.kwargs.items()
    }


def weights_for(loss_shape: tuple[int, ...], rng: np.random.Generator, dtype: str) -> np.ndarray:
    """A random cotangent: the gradient taken is that of sum(weights * loss)."""
    return rng.uniform(0.5, 1.5, loss_shape).astype(dtype)


def compare(ours: Any, reference: Any, rtol: float, atol: float) -> float:
    """The worst ratio |ours - ref| / (atol + rtol |ref|): at most 1 passes (inf/NaN must match)."""
    ours, reference = np.asarray(ours, dtype="float64"), np.asarray(reference, dtype="float64")
    if ours.shape != reference.shape:
        return float("inf")
    same_special = (np.isnan(ours) & np.isnan(reference)) | (ours == reference)
    if not np.all(np.isfinite(reference) | same_special):
        return float("inf")
    error = np.abs(ours - reference) / (atol + rtol * np.abs(reference))
    return float(np.max(np.where(same_special, 0.0, error), initial=0.0))


# ------------------------------------------------------------------ model.fit + .keras round trip
#: Each new class with non-default options (they must survive the round trip), by output name.
def fitted_losses() -> dict[str, Any]:
    import custom_losses as c

    return {
        "bfce": c.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=1.5),
        "cfce": c.CategoricalFocalCrossentropy(alpha=0.5, gamma=1.0, label_smoothing=0.1),
        "gce": c.CategoricalGeneralizedCrossEntropy(q=0.3),
        "dice": c.Dice(axis=-1),
        "tversky": c.Tversky(alpha=0.3, beta=0.7, axis=-1),
        "circle": c.Circle(gamma=30.0, margin=0.3),
        "ctc": c.CTC(),
    }


def fit_and_reload(directory: str, seed: int = 0) -> dict[str, Any]:
    """Fit a model with one output per new loss class for one epoch, save it as .keras, load it
    back without custom_objects; return the loaded loss classes and configs and both evaluations.
    """
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    batch, frames, features = 16, 6, 3
    inputs = keras.Input((frames, features))
    flat = keras.layers.Flatten()(inputs)
    outputs = {
        "bfce": keras.layers.Dense(4, activation="sigmoid", name="bfce")(flat),
        "cfce": keras.layers.Dense(4, activation="softmax", name="cfce")(flat),
        "gce": keras.layers.Dense(4, activation="softmax", name="gce")(flat),
        "dice": keras.layers.Dense(4, activation="sigmoid", name="dice")(flat),
        "tversky": keras.layers.Dense(4, activation="sigmoid", name="tversky")(flat),
        "circle": keras.layers.UnitNormalization(name="circle")(keras.layers.Dense(5)(flat)),
        "ctc": keras.layers.Dense(5, name="ctc")(inputs),
    }
    model = keras.Model(inputs, outputs)
    # TensorFlow without XLA: the parity tests cover XLA; compiling this step costs ~10 s more
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=fitted_losses(),
        jit_compile=False if keras.backend.backend() == "tensorflow" else "auto",
    )
    x = rng.normal(size=(batch, frames, features)).astype("float32")
    labels = rng.integers(0, 4, batch)
    ctc_labels = np.zeros((batch, 3), dtype="int32")
    ctc_labels[:, :2] = rng.integers(1, 5, (batch, 2))
    y = {
        "bfce": rng.integers(0, 2, (batch, 4)).astype("float32"),
        "cfce": np.eye(4, dtype="float32")[labels],
        "gce": labels,
        "dice": rng.integers(0, 2, (batch, 4)).astype("float32"),
        "tversky": rng.integers(0, 2, (batch, 4)).astype("float32"),
        "circle": labels,
        "ctc": ctc_labels,
    }
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    path = f"{directory}/model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects: the classes are registered
    loaded_losses = (
        loaded.loss if isinstance(loaded.loss, dict) else dict(zip(outputs, loaded.loss))
    )
    return {
        "fit_loss": float(history.history["loss"][-1]),
        "before": model.evaluate(x, y, batch_size=batch, verbose=0, return_dict=True),
        "after": loaded.evaluate(x, y, batch_size=batch, verbose=0, return_dict=True),
        "classes": {
            name: type(loss).__module__ + "." + type(loss).__name__
            for name, loss in loaded_losses.items()
        },
        "configs_equal": {
            name: loaded_losses[name].get_config() == loss.get_config()
            for name, loss in fitted_losses().items()
        },
    }
