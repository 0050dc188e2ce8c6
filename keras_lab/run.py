"""One training run as a pipeline: build -> fit(callbacks) -> evaluate -> write.

``train.py`` parses flags into a :class:`~keras_lab.config.TrainConfig` and calls
:func:`train_and_evaluate`. Everything a run writes goes into its run directory:

    config.json       the whole configuration (read back by --resume)
    events.out...     TensorBoard: per-epoch loss, learning rate, gradient norm; weight and
                      gradient histograms; the loop's graph; the config as text/hparams
    checkpoints/      tf.train.CheckpointManager: weights, epoch, step, seed, history
    loss.png, fit.png the lecture's two figures
    result.json       what --json prints

JSON files are written whole or not at all (a temporary file, then a rename), and hold
strict JSON: a non-finite number is written as null.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

import custom_losses
from keras_lab import callbacks, data, models, plots
from keras_lab.checks import require
from keras_lab.config import TrainConfig, check_values, variant_batch_size
from keras_lab.loop import GradientDescent, per_sample_loss
from keras_lab.stream import StreamedBatches, read_manifest

__all__ = ["Diverged", "RunResult", "TrainConfig", "train_and_evaluate", "validate"]

# Losses whose targets are class labels, by function name, and the label format each takes.
_BINARY = {"binary_crossentropy", "hinge", "squared_hinge"}
_ONE_HOT = {"categorical_crossentropy", "categorical_hinge", "kl_divergence", "poisson"}
_SPARSE = {"sparse_categorical_crossentropy"}
_HINGE = {"hinge", "squared_hinge", "categorical_hinge"}
# The cross entropies that take from_logits, by function name.
_FROM_LOGITS = {
    "binary_crossentropy": custom_losses.BinaryCrossentropy,
    "categorical_crossentropy": custom_losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": custom_losses.SparseCategoricalCrossentropy,
}


def finite_or_none(value: float | None) -> float | None:
    """``value``, or None if it is NaN or inf (strict JSON has no such numbers)."""
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass
class RunResult:
    """What a run produced; :meth:`to_json` is what ``--json`` prints."""

    config: TrainConfig
    run_dir: str
    weights: list[tuple[np.ndarray, np.ndarray]]
    history: list[float]
    final_loss: float
    train_seconds: float
    sse: float | None = None  # SSE over the training set, for regression
    accuracy: float | None = None  # for classification
    failed: str | None = None  # the divergence message, if the run stopped on NaN/inf
    checkpoint: str | None = None
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """Strict JSON: a NaN or inf number is null (``failed`` says why)."""
        return {
            "config": self.config.to_json(),
            "weights": [{"W": w.tolist(), "b": b.tolist()} for w, b in self.weights],
            "final_loss": finite_or_none(self.final_loss),
            "history": [finite_or_none(v) for v in self.history],
            "train_seconds": self.train_seconds,
            "run_dir": self.run_dir,
            "sse": finite_or_none(self.sse),
            "accuracy": self.accuracy,
            "failed": self.failed,
            "checkpoint": self.checkpoint,
        }


class Diverged(RuntimeError):
    """The loss or a gradient became NaN or inf; the message names the epoch and step."""

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message)
        self.result = result


# ----------------------------------------------------------------------------- validation
def canonical_loss(name: str) -> str:
    """The function name behind any name custom_losses.get accepts."""
    loss = custom_losses.get(name)
    return getattr(loss, "fn", loss).__name__


def validate(config: TrainConfig) -> None:
    """Raise ValueError, naming the bad value, for any setting that cannot run."""
    check_values(config)
    loss = canonical_loss(config.loss)  # raises ValueError listing the valid names
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
        read_manifest(config.data)  # raises ValueError naming the directory
        require(
            config.dataset != "classes",
            "--data holds the sine set: it cannot be used with --dataset classes",
        )
    if config.strategy != "none" or config.data:
        try:
            per_sample_loss(build_loss(config))
        except ValueError as error:
            raise ValueError(f"{error}: it cannot be split over replicas or batches") from None
    num_samples = _num_samples(config)
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
            config.dataset != "classes"
            and tuple(config.hidden) == (2,)
            and config.activation == "sigmoid",
            "init 'lecture' is the worked example's 1-2-1 sigmoid network: it needs "
            f"--hidden 2 --activation sigmoid and a sine dataset, got hidden={config.hidden!r}, "
            f"activation={config.activation!r}, dataset={config.dataset!r}",
        )
    if config.dataset == "classes":
        require(
            loss not in _BINARY or config.classes == 2,
            f"loss {config.loss!r} is binary: it needs --classes 2, got {config.classes}",
        )
        require(
            not config.from_logits or loss in set(_FROM_LOGITS) | _HINGE,
            f"--from-logits does not apply to loss {config.loss!r}",
        )
    else:
        require(
            loss not in _BINARY | _ONE_HOT | _SPARSE,
            f"loss {config.loss!r} is a classification loss: use --dataset classes",
        )
        require(
            not config.from_logits,
            "--from-logits needs a classification loss and --dataset classes",
        )


def _num_samples(config: TrainConfig) -> int:
    if config.data:
        return int(read_manifest(config.data)["samples"])
    return len(data.LECTURE_P) if config.dataset == "lecture" else config.samples


# ----------------------------------------------------------------------------- building
def build_data(config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """The training set (x, y), with y in the format the loss expects."""
    if config.dataset == "lecture":
        return data.lecture_data(config.dtype)
    if config.dataset == "sine":
        return data.sine_data(
            config.samples, noise=config.noise, seed=config.seed, dtype=config.dtype
        )
    x, labels = data.classes_data(
        config.samples,
        config.classes,
        noise=config.noise or 0.5,
        seed=config.seed,
        dtype=config.dtype,
    )
    loss = canonical_loss(config.loss)
    if loss in _SPARSE | _BINARY:
        return x, labels.reshape(-1, 1).astype(config.dtype)
    return x, np.eye(config.classes, dtype=config.dtype)[labels]


def build_model(config: TrainConfig) -> keras.Sequential:
    """The sine-fit network for the lecture's settings, otherwise an MLP fitted to the loss."""
    if config.dataset != "classes":
        if tuple(config.hidden) == (2,) and config.activation == "sigmoid":
            return models.sine_fit_model(init=config.init, seed=config.seed, dtype=config.dtype)
        return models.mlp(
            config.hidden, config.activation, 1, 1, "linear", config.seed, config.dtype
        )
    loss = canonical_loss(config.loss)
    on_logits = config.from_logits or loss in _HINGE
    output_dim = 1 if loss in _BINARY else config.classes
    probabilities = "sigmoid" if loss in _BINARY else "softmax"
    return models.mlp(
        config.hidden,
        config.activation,
        2,
        output_dim,
        "linear" if on_logits else probabilities,
        config.seed,
        config.dtype,
    )


def build_loss(config: TrainConfig) -> Callable:
    """The loss object: --loss rmse is the lecture's RMSD of the batch, sqrt(MSE); with
    --from-logits, the cross entropy's class built with from_logits=True."""
    name = canonical_loss(config.loss)
    if name == "root_mean_squared_error":
        return custom_losses.RootMeanSquaredError()
    if config.from_logits and name in _FROM_LOGITS:
        return _FROM_LOGITS[name](from_logits=True)
    return custom_losses.get(config.loss)


def build_loop(config: TrainConfig) -> tuple[GradientDescent, np.ndarray | None, np.ndarray | None]:
    """(loop, x, y): the model, loss, batches and devices as configured; x, y in memory
    (None when streamed from --data)."""
    from keras_lab import strategy as strategies

    strategy = (
        None
        if config.strategy == "none"
        else strategies.get_strategy(config.strategy, config.devices)
    )
    with (strategy or tf.distribute.get_strategy()).scope():  # mirrored variables
        model = build_model(config)
    batch_size = variant_batch_size(config.variant, _num_samples(config), config.batch_size)
    x = y = batches = None
    if config.data:
        batches = StreamedBatches(
            config.data,
            batch_size,
            config.shuffle,
            config.seed,
            config.drop_remainder,
            config.dtype,
        )
    else:
        x, y = build_data(config)
    loop = GradientDescent(
        model,
        build_loss(config),
        x,
        y,
        batch_size,
        config.lr,
        config.lr_schedule,
        config.decay_rate,
        config.decay_steps,
        config.shuffle,
        config.seed,
        config.drop_remainder,
        jit_compile=config.jit,  # "loop" on one device in memory, else each step
        batches=batches,
        strategy=strategy,
    )
    return loop, x, y


# ----------------------------------------------------------------------------- run directory
def default_run_dir(config: TrainConfig) -> str:
    """runs/<date-time>-<variant>-<pid>: two runs started in the same second differ."""
    return os.path.join("runs", f"{time.strftime('%Y%m%d-%H%M%S')}-{config.variant}-{os.getpid()}")


def check_writable(path: str) -> None:
    """Raise ValueError unless ``path`` can be created (or exists as an empty folder)."""
    path = os.path.abspath(path)
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise ValueError(f"logdir {path!r} exists and is not a directory")
        if os.listdir(path):
            raise ValueError(f"logdir {path!r} is not empty; use --resume {path} to continue it")
        probe = path
    else:
        probe = os.path.dirname(path)
        while probe and not os.path.exists(probe):
            probe = os.path.dirname(probe)
        if not os.path.isdir(probe):
            raise ValueError(f"logdir {path!r} cannot be created: {probe!r} is not a directory")
    try:  # os.access trusts root; a real probe does not (e.g. /proc, read-only mounts)
        os.rmdir(tempfile.mkdtemp(prefix=".keras-lab-probe-", dir=probe))
    except OSError as error:
        raise ValueError(f"logdir {path!r} cannot be created: {error.strerror}") from None


def write_json(path: str, value: object) -> None:
    """``value`` as strict JSON in ``path``, whole or not at all (temporary file, rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=folder)
    try:
        with os.fdopen(handle, "w") as f:
            json.dump(value, f, indent=2, allow_nan=False)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


# ----------------------------------------------------------------------------- the run
def train_and_evaluate(
    config: TrainConfig,
    run_dir: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> RunResult:
    """Train as configured, writing everything into ``run_dir``; see the module docstring.

    Raises:
        ValueError: a bad setting (nothing written).
        Diverged: the loss or a gradient became NaN or inf (the result so far is saved,
            the last finite checkpoint kept); its ``result`` attribute holds the RunResult.
    """
    validate(config)
    run_dir = run_dir or config.logdir or default_run_dir(config)
    chief = _is_chief(config)
    if not resume and chief:
        check_writable(run_dir)
    loop, x, y = build_loop(config)
    if not resume and chief:
        os.makedirs(run_dir, exist_ok=True)
        write_json(os.path.join(run_dir, "config.json"), config.to_json())
    history = callbacks.History(config.epochs)
    # multiworker: only the chief writes the run directory; the others checkpoint into a
    # temporary directory (every worker must save: the save is a collective step)
    scratch = None if chief else tempfile.mkdtemp(prefix="keras-lab-worker-")
    checkpoints = callbacks.Checkpoints(
        os.path.join(run_dir, "checkpoints"),
        loop,
        history,
        config.epochs,
        config.checkpoint_every,
        resume,
        save_to=scratch,
    )
    steps = [history, checkpoints]
    if config.tensorboard and chief:
        steps.append(callbacks.TensorBoard(run_dir, None if resume else config.to_json()))
    if progress and chief:
        steps.append(callbacks.ProgressBar(config.epochs))
    if scratch:
        steps.append(callbacks.WorkerScratch(scratch))
    chunk = config.checkpoint_every or max(1, min(config.epochs, 2000 // loop.steps_per_epoch))
    started = time.perf_counter()
    stats = callbacks.fit(loop, config.epochs, steps, chunk)
    train_seconds = time.perf_counter() - started
    result = evaluate(loop, config, history, x, y, run_dir, train_seconds, chief)
    result.checkpoint = checkpoints.latest if chief else None
    if stats is not None and stats.failed_step >= 0:
        result.failed = _failure_message(loop, stats.failed_step, checkpoints.latest)
    if chief:
        write(result, loop, x, y)
    if result.failed:
        raise Diverged(result.failed, result)
    return result


def _is_chief(config: TrainConfig) -> bool:
    if config.strategy != "multiworker":
        return True
    from keras_lab.strategy import is_chief

    return is_chief()


def _failure_message(loop: GradientDescent, failed_step: int, checkpoint: str | None) -> str:
    epoch = int(loop.epoch.numpy())
    step_in_epoch = failed_step - epoch * loop.steps_per_epoch + 1
    return (
        f"loss or gradient became NaN or inf at epoch {epoch + 1}, step {step_in_epoch} "
        f"(update {failed_step + 1}); stopped. Last finite checkpoint: {checkpoint}"
    )


def evaluate(
    loop: GradientDescent,
    config: TrainConfig,
    history: callbacks.History,
    x: np.ndarray | None,
    y: np.ndarray | None,
    run_dir: str,
    train_seconds: float,
    chief: bool,
) -> RunResult:
    """The trained model's numbers: final loss, and the SSE (regression) or accuracy."""
    model = loop.model
    result = RunResult(
        config=config,
        run_dir=run_dir,
        weights=models.get_lecture_weights(model),
        history=history.loss(int(loop.epoch.numpy())),
        final_loss=loop.evaluate(),
        train_seconds=train_seconds,
    )
    if not chief:
        return result
    if config.dataset == "classes":
        labels = np.argmax(y, axis=1) if y.shape[1] > 1 else y[:, 0].astype(int)
        result.accuracy = float(np.mean(_predicted_labels(predict(model, x), config) == labels))
    elif x is None:  # streamed from disk: the SSE streamed too
        result.sse = _streamed_sse(model, loop.batches)
    else:
        result.sse = float(np.sum((np.asarray(y, np.float64) - predict(model, x)) ** 2))
    return result


def write(
    result: RunResult, loop: GradientDescent, x: np.ndarray | None, y: np.ndarray | None
) -> None:
    """The figures and result.json into the run directory."""
    config, run_dir = result.config, result.run_dir
    if config.plots and result.history:
        _save(plots.loss_curve(result.history, ylabel=f"loss ({config.loss})"), run_dir, "loss.png")
        if config.dataset != "classes":
            if x is None:  # streamed: the plot shows the first 200 samples
                x, y = _first_samples(loop.batches, 200)
            grid = np.linspace(x.min(), x.max(), 200).reshape(-1, 1).astype(x.dtype)
            show = slice(0, 200)
            figure = plots.fit(
                x[show],
                y[show],
                predict(loop.model, x[show]),
                curve=(grid, predict(loop.model, grid)),
            )
            _save(figure, run_dir, "fit.png")
    write_json(os.path.join(run_dir, "result.json"), result.to_json())


def predict(model: keras.Model, x: np.ndarray, batch_size: int = 65536) -> np.ndarray:
    """model(x) in batches, without model.predict (which would set up a strategy)."""
    parts = [
        np.asarray(model(x[start : start + batch_size], training=False))
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts)


def _streamed_sse(model: keras.Model, batches: StreamedBatches) -> float:
    @tf.function
    def sse(dataset: tf.data.Dataset) -> tf.Tensor:
        total = tf.constant(0.0, tf.float64)
        for x_batch, y_batch in dataset:
            error = tf.cast(y_batch - model(x_batch, training=False), tf.float64)
            total += tf.reduce_sum(error**2)
        return total

    return float(sse(batches.dataset(0, batch_size=65536)))


def _first_samples(batches: StreamedBatches, count: int) -> tuple[np.ndarray, np.ndarray]:
    for x, y in batches.dataset(0, batch_size=count).take(1):
        return x.numpy(), y.numpy()
    raise ValueError(f"--data {batches.data_dir!r} holds no samples")


def _predicted_labels(y_pred: np.ndarray, config: TrainConfig) -> np.ndarray:
    if y_pred.shape[1] > 1:
        return np.argmax(y_pred, axis=1)
    on_logits = config.from_logits or canonical_loss(config.loss) in {"hinge", "squared_hinge"}
    return (y_pred[:, 0] > (0.0 if on_logits else 0.5)).astype(int)


def _save(figure, run_dir: str, name: str) -> None:
    figure.savefig(os.path.join(run_dir, name))
