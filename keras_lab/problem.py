"""The problem a training run solves, read from its config once: data, model, loss, task.

:func:`build` checks the whole config (:func:`validate`), names the loss once, loads the
data once and returns a :class:`Problem`; the pipeline (``keras_lab.train``) asks it for the
model, the loss and the metrics, and never reads the config's problem settings again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import numpy as np

import custom_losses
from keras_lab import checks, data, models
from keras_lab.checks import require
from keras_lab.config import REAL_DATASETS, TrainConfig
from keras_lab.engine.devices import per_sample_loss
from keras_lab.engine.stream import read_manifest, verify_shards
from keras_lab.lecture.gd import variant_batch_size

# Losses whose targets are class labels, by function name, and the label format each takes.
_BINARY = {"binary_crossentropy", "hinge", "squared_hinge"}
_ONE_HOT = {"categorical_crossentropy", "categorical_hinge", "kl_divergence", "poisson"}
_SPARSE = {"sparse_categorical_crossentropy"}
_HINGE = {"hinge", "squared_hinge", "categorical_hinge"}
_FOCAL = {"binary_focal_crossentropy", "categorical_focal_crossentropy"}
# Losses for other networks than a Dense net's (batch, outputs): a whole-batch score
# (Dice, Tversky: segmentation masks), sequences (CTC), embeddings with labels (Circle).
_NOT_FOR_DENSE = {
    "dice": "a whole batch's overlap score for segmentation masks",
    "tversky": "a whole batch's overlap score for segmentation masks",
    "ctc": "for sequences of logits, (batch, time, classes)",
    "circle": "for embeddings and their class labels",
}
# The cross entropies that take from_logits, by function name.
_FROM_LOGITS = {
    "binary_crossentropy": custom_losses.BinaryCrossentropy,
    "categorical_crossentropy": custom_losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": custom_losses.SparseCategoricalCrossentropy,
}


@dataclasses.dataclass
class Problem:
    """A validated config's problem. ``x``, ``y``: the training set in the loss's target
    format (None when streamed from --data); ``real``: a real data set's split."""

    config: TrainConfig
    loss_name: str  # the function name behind --loss (mse -> mean_squared_error)
    loss: Callable
    classification: bool
    num_classes: int
    num_samples: int
    real: data.RealData | None = None
    x: np.ndarray | None = None
    y: np.ndarray | None = None

    @property
    def on_logits(self) -> bool:
        """Whether the network's output is a logit (linear), not a probability."""
        return self.config.from_logits or self.loss_name in _HINGE

    @property
    def output_size(self) -> int:
        if not self.classification or self.loss_name in _BINARY:
            return 1
        return self.num_classes

    @property
    def batch_size(self) -> int:
        config = self.config
        return variant_batch_size(config.variant, self.num_samples, config.batch_size)

    def model(self) -> keras.Sequential:
        """The sine-fit network for the lecture's settings, otherwise an MLP fitted to the
        loss (build it inside the strategy's scope)."""
        config = self.config
        inputs = self.real.input_dim if self.real else (2 if config.dataset == "classes" else 1)
        lecture_net = tuple(config.hidden) == (2,) and config.activation == "sigmoid"
        if not self.classification and inputs == 1 and lecture_net:
            return models.sine_fit_model(init=config.init, seed=config.seed, dtype=config.dtype)
        output = "linear"
        if self.classification and not self.on_logits:
            output = "sigmoid" if self.loss_name in _BINARY else "softmax"
        return models.mlp(
            config.hidden,
            config.activation,
            inputs,
            self.output_size,
            output,
            config.seed,
            config.dtype,
        )

    def labels(self, y_pred: np.ndarray) -> np.ndarray:
        """The classes a network's outputs predict."""
        if y_pred.shape[1] > 1:
            return np.argmax(y_pred, axis=1)
        return (y_pred[:, 0] > (0.0 if self.on_logits else 0.5)).astype(int)

    def metrics(self, model: keras.Model, part: str = "test") -> dict[str, float]:
        """A real data set's numbers on its test (or ``part="train"``) set: RMSE and MAE in
        the target's units (regression) or the accuracy; keys test_rmse, ..."""
        real = self.real
        x, y = (real.x_test, real.y_test) if part == "test" else (real.x_train, real.y_train)
        output = predict(model, x).astype(np.float64)  # a diverged net's squares: no overflow
        if real.task == "regression":
            error = (output - np.asarray(y)) * real.target_std
            return {
                f"{part}_rmse": float(np.sqrt(np.mean(error**2))),
                f"{part}_mae": float(np.mean(np.abs(error))),
            }
        labels = np.asarray(y).reshape(-1).astype(int)
        return {f"{part}_accuracy": float(np.mean(self.labels(output) == labels))}


def predict(model: keras.Model, x: np.ndarray, batch_size: int = 65536) -> np.ndarray:
    """model(x) in batches, without model.predict (which would set up a strategy)."""
    parts = [
        np.asarray(model(x[start : start + batch_size], training=False))
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts)


def canonical_loss(name: str) -> str:
    """The function name behind any name custom_losses.get accepts."""
    loss = custom_losses.get(name)
    loss = getattr(loss, "fn", loss)
    if not hasattr(loss, "__name__"):  # "Loss": get gives keras.losses.Loss(), as Keras's does
        raise ValueError(f"--loss {name} is the base class keras.losses.Loss, not a loss")
    return loss.__name__


def labelled(config: TrainConfig) -> TrainConfig:
    """``config`` with a --data run's data described as what it is: the sine set, of the
    manifest's size and noise (not the defaults' lecture set)."""
    if not config.data or config.dataset == "classes":
        return config
    manifest = read_manifest(config.data)
    return dataclasses.replace(
        config, dataset="sine", samples=int(manifest["samples"]), noise=float(manifest["noise"])
    )


def build(config: TrainConfig) -> Problem:
    """The problem of ``config``, checked whole (ValueError naming the first bad setting)."""
    problem = validate(config)
    config = problem.config
    if config.data:
        return problem
    if config.dataset == "lecture":
        problem.x, problem.y = data.lecture_data(config.dtype)
    elif config.dataset == "sine":
        problem.x, problem.y = data.sine_data(
            config.samples, noise=config.noise, seed=config.seed, dtype=config.dtype
        )
    elif problem.real is not None and problem.real.task == "regression":
        problem.x, problem.y = problem.real.x_train, problem.real.y_train
    else:
        if problem.real is not None:
            x, labels = problem.real.x_train, np.asarray(problem.real.y_train)
        else:
            x, labels = data.classes_data(
                config.samples, config.classes, config.noise or 0.5, config.seed, config.dtype
            )
        labels = labels.reshape(-1).astype(int)
        if problem.loss_name in _SPARSE | _BINARY:  # a column of labels, else one-hot rows
            problem.y = labels.reshape(-1, 1).astype(config.dtype)
        else:
            problem.y = data.one_hot(labels, problem.num_classes, config.dtype)
        problem.x = x
    return problem


def validate(config: TrainConfig) -> Problem:
    """Raise ValueError, naming the bad value, for any combination of settings that cannot
    run (each setting alone was checked when the config was made); else the problem without
    its training set (:func:`build` adds it)."""
    loss = canonical_loss(config.loss)  # raises ValueError listing the valid names
    require(
        loss not in _NOT_FOR_DENSE,
        f"--loss {config.loss} is {_NOT_FOR_DENSE.get(loss)}: it cannot train this CLI's "
        "networks (it is in custom_losses for model.compile)",
    )
    models._check_activation(config.activation)
    require(
        config.devices == 1 or config.strategy == "mirrored",
        f"--devices {config.devices} needs --strategy mirrored",
    )
    require(
        config.workers == 1 or config.strategy == "multiworker",
        f"--workers {config.workers} needs --strategy multiworker",
    )
    if config.data:
        verify_shards(config.data)  # raises ValueError naming the bad file
        require(
            config.dataset != "classes",
            "--data holds the sine set: it cannot be used with --dataset classes",
        )
        config = labelled(config)
    if loss == "root_mean_squared_error":  # the lecture's RMSD of the batch, sqrt(MSE)
        loss_object = custom_losses.RootMeanSquaredError()
    elif config.from_logits and loss in _FROM_LOGITS:
        loss_object = _FROM_LOGITS[loss](from_logits=True)
    else:
        loss_object = custom_losses.get(config.loss)
    if config.strategy != "none" or config.data:
        try:
            per_sample_loss(loss_object)
        except ValueError as error:
            raise ValueError(f"{error}: it cannot be split over replicas or batches") from None
    kind = REAL_DATASETS.get(config.dataset)
    real = None
    if kind:
        real = data.load_real_data(config.dataset, seed=config.seed, dtype=config.dtype)
    problem = Problem(
        config=config,
        loss_name=loss,
        loss=loss_object,
        classification=config.dataset == "classes" or kind in ("binary", "multiclass"),
        num_classes=real.num_classes if kind in ("binary", "multiclass") else config.classes,
        num_samples=(  # (a --data run's config is labelled: its samples are the manifest's)
            len(real.x_train)
            if real
            else (len(data.LECTURE_P) if config.dataset == "lecture" else config.samples)
        ),
        real=real,
    )
    require(
        loss != "cosine_similarity" or problem.output_size > 1,
        f"loss {config.loss!r} cannot train a network with one output (the cosine of two "
        "numbers is their sign: its gradient is zero); use it with --dataset classes",
    )
    num_samples = problem.num_samples
    if config.dataset == "classes" and not config.data:
        require(
            config.samples >= config.classes,
            f"--samples {config.samples} is fewer than --classes {config.classes} "
            "(one sample per class at least)",
        )
    # the loss squares the targets, and no normal draw reaches 100 standard deviations
    huge = float(np.sqrt(np.finfo(config.dtype).max)) / 100
    require(
        config.noise <= huge,
        f"--noise {config.noise!r} overflows --dtype {config.dtype} when squared (at most "
        f"{huge:.3g})",
    )
    tiny = float(np.finfo(config.dtype).tiny)  # the least normal number of the run's dtype
    require(
        config.lr >= tiny,
        f"--lr {config.lr!r} underflows in --dtype {config.dtype} (its least normal number "
        f"is {tiny:.3g})",
    )
    if config.batch_size is not None:
        require(
            1 <= config.batch_size <= num_samples,
            f"batch size must be between 1 and the {num_samples} samples, "
            f"got {config.batch_size!r}",
        )
        require(
            config.variant == "minibatch"
            or config.batch_size == variant_batch_size(config.variant, num_samples),
            f"--batch-size {config.batch_size} contradicts variant "
            f"{config.variant!r} (batch uses all {num_samples} samples, sgd uses 1)",
        )
    if config.init == "lecture":
        require(
            config.dataset in ("lecture", "sine")
            and tuple(config.hidden) == (2,)
            and config.activation == "sigmoid",
            "init 'lecture' is the worked example's 1-2-1 sigmoid network: it needs "
            f"--hidden 2 --activation sigmoid and a sine dataset, got hidden={config.hidden!r}, "
            f"activation={config.activation!r}, dataset={config.dataset!r}",
        )
    if problem.classification:
        require(
            loss not in _BINARY | {"binary_focal_crossentropy"} or problem.num_classes == 2,
            f"loss {config.loss!r} is binary: it needs --classes 2, got {problem.num_classes}"
            + (f" (--dataset {config.dataset})" if config.dataset != "classes" else ""),
        )
        require(
            not config.from_logits or loss in set(_FROM_LOGITS) | _HINGE,
            f"--from-logits does not apply to loss {config.loss!r}",
        )
    else:
        require(
            loss not in _BINARY | _ONE_HOT | _SPARSE | _FOCAL,
            f"loss {config.loss!r} is a classification loss: use --dataset classes, "
            f"breast_cancer or digits with --loss {config.loss}, not --dataset {config.dataset}",
        )
        require(
            not config.from_logits,
            "--from-logits needs a classification loss and --dataset classes",
        )
    sizes = f"--hidden {','.join(map(str, config.hidden))}"
    if config.dataset in ("sine", "classes") and not config.data:
        sizes += f" --samples {config.samples}"
    if config.dataset == "classes":
        sizes += f" --classes {config.classes}"
    checks.fits_in_memory(memory_needed(problem), f"{sizes} --dtype {config.dtype}")
    return problem


def memory_needed(problem: Problem) -> int:
    """Bytes a run of ``problem`` holds at once, estimated from above: 4 copies of the
    weights (the weights, their gradients, the update's and a checkpoint's copy), the
    activations of a batch and their gradients, and the training set (drawn in float64,
    cast to the dtype, copied once more into TensorFlow; none when streamed from --data)."""
    config = problem.config
    itemsize = np.dtype(config.dtype).itemsize
    inputs = problem.real.input_dim if problem.real else (2 if config.dataset == "classes" else 1)
    sizes = (inputs, *config.hidden, problem.output_size)
    parameters = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    needed = (4 * parameters + 2 * problem.batch_size * sum(sizes)) * itemsize
    if not config.data:
        targets = problem.num_classes if problem.classification else 1
        needed += problem.num_samples * (inputs + targets) * (8 + 2 * itemsize)
    return needed
