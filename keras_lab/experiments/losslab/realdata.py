"""Real data, one set per problem type, each trained with the losses that compete for it.

    diabetes        regression: MSE vs MAE vs Huber; test RMSE and MAE in the target's units
                    (disease progression), a linear model (Dense(1)) on 10 features
    breast_cancer   binary: sigmoid + BCE vs sigmoid + MSE, logistic regression on 30
                    features, from the usual start and from a saturated one (kernel x 5):
                    test accuracy, and the epochs each needs to reach 95 % on training
    digits          10 classes: softmax + CCE on one-hot labels vs SCCE on integer labels
                    vs MSE on one-hot, one hidden layer of 32 tanh units; test accuracy,
                    the confusion matrix, the misclassified images

Data from :func:`keras_lab.data.load_real_data` (scikit-learn's bundled files, a seeded
stratified split, features standardised with training statistics). Within a data set
every run starts from the same weights (the model seed) and sees the same batches.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

import custom_losses
from keras_lab.data import RealData, load_real_data, one_hot
from keras_lab.engine.callbacks import fit
from keras_lab.engine.loop import GradientDescent
from keras_lab.experiments.losslab.training import RunRecord, train_and_measure
from keras_lab.models import mlp

#: Breast cancer's saturated start: the usual start's kernel times this (measured: 46 % of
#: the training samples then start with p < 0.01 or p > 0.99, seed 0; none otherwise).
SATURATION_SCALE = 5.0
#: Training accuracy that counts as "learned" in the epochs-needed numbers.
ACCURACY_TARGET = 0.95


@dataclass(frozen=True)
class Setup:
    """How one data set is trained: the model, the losses (factory, label format), the rates."""

    hidden: tuple[int, ...]
    output_activation: str
    losses: dict[str, tuple[Callable[[], Callable], str]]  # name -> (loss factory, labels)
    learning_rate: float
    batch_size: int
    keras_loss: Callable[[], Callable]  # the built-in loss of the model.fit cross-check
    crosscheck: str  # which of ``losses`` is cross-checked


SETUPS: dict[str, Setup] = {
    "diabetes": Setup(
        hidden=(),
        output_activation="linear",
        losses={"mse": (custom_losses.MeanSquaredError, "y"),
                "mae": (custom_losses.MeanAbsoluteError, "y"),
                "huber": (lambda: custom_losses.Huber(delta=1.0), "y")},
        learning_rate=0.05, batch_size=32,
        keras_loss=lambda: keras.losses.Huber(delta=1.0), crosscheck="huber",
    ),
    "breast_cancer": Setup(
        hidden=(),
        output_activation="sigmoid",
        losses={"bce": (custom_losses.BinaryCrossentropy, "y"),
                "mse": (custom_losses.MeanSquaredError, "y")},
        learning_rate=0.1, batch_size=32,
        keras_loss=keras.losses.BinaryCrossentropy, crosscheck="bce",
    ),
    "digits": Setup(
        hidden=(32,),
        output_activation="softmax",
        losses={"cce": (custom_losses.CategoricalCrossentropy, "one_hot"),
                "scce": (custom_losses.SparseCategoricalCrossentropy, "y"),
                "mse": (custom_losses.MeanSquaredError, "one_hot")},
        learning_rate=0.1, batch_size=32,
        keras_loss=keras.losses.SparseCategoricalCrossentropy, crosscheck="scce",
    ),
}  # fmt: skip


def build_model(data: RealData, setup: Setup, seed: int = 0, dtype: str = "float32"):
    """The data set's network, from the start given by ``seed`` (Glorot kernels, zero biases)."""
    return mlp(
        hidden=setup.hidden,
        activation="tanh",
        input_dim=data.input_dim,
        output_dim=1 if data.task != "multiclass" else data.num_classes,
        output_activation=setup.output_activation,
        seed=seed,
        dtype=dtype,
        name=data.name,
    )


def labels(data: RealData, kind: str, train: bool = True) -> np.ndarray:
    """The training (or test) labels in the format a loss wants: "y" as loaded, or "one_hot"."""
    y = data.y_train if train else data.y_test
    return one_hot(y, data.num_classes, str(data.x_train.dtype)) if kind == "one_hot" else y


def predict(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(x, training=False), np.float64)


def metrics(data: RealData, model) -> dict[str, float]:
    """Test-set metrics (and training accuracy for classification) of the model as it is."""
    if data.task == "regression":
        error = (predict(model, data.x_test) - data.y_test) * data.target_std  # target units
        return {
            "test_rmse": float(np.sqrt(np.mean(error**2))),
            "test_mae": float(np.mean(np.abs(error))),
        }
    out = {}
    for part, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        out[f"{part}_accuracy"] = float(np.mean(classes(data, predict(model, x)) == y.ravel()))
    return out


def classes(data: RealData, output: np.ndarray) -> np.ndarray:
    """Predicted classes: p > 0.5 for one sigmoid output, the argmax of a softmax."""
    if data.task == "binary":
        return (output[:, 0] > 0.5).astype(data.y_test.dtype)
    return np.argmax(output, axis=1)


@dataclass
class DatasetRun:
    """One loss on one data set: its measurements and its final weights."""

    loss: str
    start: str  # "usual" or "saturated" (breast cancer)
    record: RunRecord
    weights: list[np.ndarray]
    epochs_to_target: int | None  # first epoch with training accuracy >= ACCURACY_TARGET
    saturated_share: float | None  # sigmoid output: training samples starting at p < 0.01 or > 0.99
    test_output: np.ndarray  # the model's output on the test set at the end


def train_one(
    data: RealData,
    loss: str,
    num_epochs: int,
    seed: int = 0,
    saturated: bool = False,
    measure_every: int = 1,
    logdir: str | None = None,
) -> DatasetRun:
    """Train the data set's network with one of its losses (GradientDescent, shuffled)."""
    setup = SETUPS[data.name]
    factory, label_kind = setup.losses[loss]
    model = build_model(data, setup, seed)
    if saturated:
        kernel = model.layers[-1].kernel
        kernel.assign(kernel * SATURATION_SCALE)
    saturated_share = None
    if data.task == "binary":
        p = predict(model, data.x_train)
        saturated_share = float(np.mean((p < 0.01) | (p > 0.99)))
    gd = GradientDescent(
        model,
        factory(),
        data.x_train,
        labels(data, label_kind),
        batch_size=setup.batch_size,
        learning_rate=setup.learning_rate,
        seed=seed,
    )
    record = train_and_measure(gd, num_epochs, lambda: metrics(data, model), measure_every, logdir)
    accuracy = record.metrics.get("train_accuracy", [])
    reached = next((e for e, a in zip(record.epochs, accuracy) if a >= ACCURACY_TARGET), None)
    return DatasetRun(
        loss=loss,
        start="saturated" if saturated else "usual",
        record=record,
        weights=[np.asarray(w) for w in model.get_weights()],
        epochs_to_target=reached,
        saturated_share=saturated_share,
        test_output=predict(model, data.x_test),
    )


def crosscheck_fit(data: RealData, num_epochs: int = 3, seed: int = 0) -> dict:
    """Our loop with custom_losses against model.fit with the Keras loss: the same weights?

    The same start (the model seed), no shuffling, the same batches, keras.optimizers.SGD
    with the same learning rate; after ``num_epochs`` epochs, the largest weight difference.
    """
    setup = SETUPS[data.name]
    factory, label_kind = setup.losses[setup.crosscheck]
    y = labels(data, label_kind)
    ours = build_model(data, setup, seed)
    fit(
        GradientDescent(
            ours, factory(), data.x_train, y, batch_size=setup.batch_size,
            learning_rate=setup.learning_rate, shuffle=False,
        ),
        num_epochs,
    )  # fmt: skip
    theirs = build_model(data, setup, seed)
    theirs.compile(optimizer=keras.optimizers.SGD(setup.learning_rate), loss=setup.keras_loss())
    theirs.fit(
        data.x_train, y, batch_size=setup.batch_size, epochs=num_epochs, shuffle=False, verbose=0
    )
    difference = max(
        float(np.max(np.abs(a - b))) for a, b in zip(ours.get_weights(), theirs.get_weights())
    )
    return {
        "loss": setup.crosscheck,
        "keras_loss": type(setup.keras_loss()).__name__,
        "epochs": num_epochs,
        "max_weight_difference": difference,
    }


def run_dataset(
    name: str,
    num_epochs: int,
    seed: int = 0,
    crosscheck_epochs: int = 3,
    test_fraction: float = 0.25,
    saturated_start: bool = True,
    logdir: str | None = None,
) -> dict:
    """Every loss of the data set (breast cancer: from both starts, if ``saturated_start``),
    and the cross-check.

    Returns:
        {"data": RealData, "runs": {run name: DatasetRun}, "crosscheck": crosscheck_fit(...)
        or None if crosscheck_epochs is 0}. Run names are the loss names; breast cancer's
        saturated starts add "<loss>_saturated".
    """
    data = load_real_data(name, test_fraction=test_fraction, seed=seed)
    starts = (False, True) if name == "breast_cancer" and saturated_start else (False,)
    runs = {}
    for saturated in starts:
        for loss in SETUPS[name].losses:
            key = f"{loss}_saturated" if saturated else loss
            runs[key] = train_one(
                data, loss, num_epochs, seed=seed, saturated=saturated,
                measure_every=1 if data.task != "regression" else max(1, num_epochs // 20),
                logdir=os.path.join(logdir, key) if logdir else None,
            )  # fmt: skip
    check = crosscheck_fit(data, crosscheck_epochs, seed) if crosscheck_epochs else None
    return {"data": data, "runs": runs, "crosscheck": check}


def confusion_matrix(
    labels_true: np.ndarray, labels_pred: np.ndarray, num_classes: int
) -> np.ndarray:
    """counts[i, j]: samples of class i predicted as j.

    Example:
        >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 0, 1]), 2).tolist()
        [[1, 0], [1, 1]]
    """
    counts = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(counts, (np.asarray(labels_true), np.asarray(labels_pred)), 1)
    return counts
