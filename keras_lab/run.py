"""One training run, end to end: config -> data + model -> GD loop -> history, outputs.

``train.py`` parses flags into a :class:`TrainConfig` and calls :func:`train_and_evaluate`.
Everything a run writes goes into its run directory:

    config.json       the whole configuration (read back by --resume)
    events.out...     TensorBoard: per-epoch loss, learning rate, gradient norm; weight and
                      gradient histograms; the loop's graph; the config as text/hparams
    checkpoints/      tf.train.CheckpointManager: weights, epoch, step, seed, history
    loss.png, fit.png the lecture's two figures
    result.json       what --json prints
"""

from __future__ import annotations

import dataclasses
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
from keras_lab import data, distribute, models, plots, stream
from keras_lab.gd import SCHEDULES, VARIANTS, GradientDescent, variant_batch_size
from keras_lab.summaries import SummaryWriter

DATASETS: tuple[str, ...] = ("lecture", "sine", "classes")
INITS: tuple[str, ...] = ("lecture", "random")

# Losses whose targets are class labels, by function name, and the label format each takes.
_BINARY = {"binary_crossentropy", "hinge", "squared_hinge"}
_ONE_HOT = {"categorical_crossentropy", "categorical_hinge", "kl_divergence", "poisson"}
_SPARSE = {"sparse_categorical_crossentropy"}
_LOGIT_LOSSES = {
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
}


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a run. The defaults are the lecture's experiment."""

    variant: str = "sgd"  # batch | sgd | minibatch: the lecture's equations (1), (2), (3)
    batch_size: int | None = None  # minibatch only; None -> 32 (at most the data size)
    loss: str = "mse"  # any name custom_losses.get accepts; mse of one sample = its SSE
    from_logits: bool = False  # classification losses on a linear (logit) output layer
    lr: float = 0.3  # alpha, the lecture listing's learning rate
    lr_schedule: str = "constant"  # constant | exponential | inverse_time
    decay_rate: float = 0.5  # of the schedule
    decay_steps: int = 1000  # of the schedule, in updates
    epochs: int = 2000  # passes over the data
    seed: int = 0  # one seed for the start, the data and the shuffling
    init: str = "random"  # lecture: the worked example's weights; random: seeded uniform
    shuffle: bool = True  # reshuffle every epoch (the lecture's prose); off: in order
    dataset: str = "lecture"  # lecture (its 9 points) | sine (--samples) | classes
    samples: int = 1000  # size of the sine and classes sets
    noise: float = 0.0  # sine: target noise std; classes: blob std (0 -> 0.5)
    classes: int = 2  # classes: number of classes K
    hidden: tuple[int, ...] = (2,)  # hidden layer sizes: (2,) is the lecture's 1-2-1
    activation: str = "sigmoid"  # of the hidden layers
    dtype: str = "float32"  # float32 | float64
    logdir: str = ""  # run directory; "" -> runs/<time>-<variant>
    tensorboard: bool = True  # write TensorBoard events
    plots: bool = True  # write loss.png and fit.png
    checkpoint_every: int = 0  # epochs between checkpoints; 0 -> only at the end
    jit: bool = True  # XLA: the whole loop on one device (30-60x faster per step on the
    # lecture's net, see README); under a strategy or --data each replica's forward and
    # backward pass (collectives and update outside; docs/distribute.md has the numbers)
    drop_remainder: bool = False  # drop the last, smaller batch of each epoch
    strategy: str = "none"  # none | mirrored | multiworker (tf.distribute; see distribute.py)
    devices: int = 1  # mirrored: logical CPU devices to split the CPU into
    workers: int = 1  # multiworker: local worker processes to launch (no TF_CONFIG given)
    data: str = ""  # a shard directory (python -m keras_lab.data write): stream from disk

    def to_json(self) -> dict:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_json(cls, values: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        values = dict(values)
        if "hidden" in values:
            values["hidden"] = tuple(values["hidden"])
        return cls(**values)


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
        return {
            "config": self.config.to_json(),
            "weights": [{"W": w.tolist(), "b": b.tolist()} for w, b in self.weights],
            "final_loss": self.final_loss,
            "history": [float(v) for v in self.history],
            "train_seconds": self.train_seconds,
            "run_dir": self.run_dir,
            "sse": self.sse,
            "accuracy": self.accuracy,
            "failed": self.failed,
            "checkpoint": self.checkpoint,
        }


class Diverged(RuntimeError):
    """The loss or a gradient became NaN or inf; the message names the epoch and step."""


# ----------------------------------------------------------------------------- validation
def canonical_loss(name: str) -> str:
    """The function name behind any name custom_losses.get accepts."""
    loss = custom_losses.get(name)
    return getattr(loss, "fn", loss).__name__


def validate(config: TrainConfig) -> None:
    """Raise ValueError, naming the bad value, for any setting that cannot run."""

    def need(condition: bool, message: str) -> None:
        if not condition:
            raise ValueError(message)

    def is_int(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    need(
        config.variant in VARIANTS,
        f"unknown variant {config.variant!r}; expected one of {VARIANTS}",
    )
    need(
        config.dataset in DATASETS,
        f"unknown dataset {config.dataset!r}; expected one of {DATASETS}",
    )
    need(config.init in INITS, f"unknown init {config.init!r}; expected one of {INITS}")
    need(
        config.lr_schedule in SCHEDULES,
        f"unknown lr schedule {config.lr_schedule!r}; expected one of {SCHEDULES}",
    )
    need(
        config.dtype in ("float32", "float64"),
        f"dtype must be float32 or float64, got {config.dtype!r}",
    )
    canonical_loss(config.loss)  # raises ValueError listing the valid names
    for name in ("lr", "decay_rate"):
        value = getattr(config, name)
        need(
            isinstance(value, (int, float)) and math.isfinite(value) and value > 0,
            f"{name} must be a finite number > 0, got {value!r}",
        )
    need(
        is_int(config.decay_steps) and config.decay_steps >= 1,
        f"decay_steps must be an integer >= 1, got {config.decay_steps!r}",
    )
    need(
        is_int(config.epochs) and config.epochs >= 1,
        f"epochs must be an integer >= 1, got {config.epochs!r}",
    )
    need(
        is_int(config.samples) and config.samples >= 1,
        f"samples must be an integer >= 1, got {config.samples!r}",
    )
    need(
        math.isfinite(config.noise) and config.noise >= 0,
        f"noise must be a finite number >= 0, got {config.noise!r}",
    )
    need(
        is_int(config.classes) and config.classes >= 2,
        f"classes must be an integer >= 2, got {config.classes!r}",
    )
    need(
        is_int(config.checkpoint_every) and config.checkpoint_every >= 0,
        f"checkpoint_every must be an integer >= 0, got {config.checkpoint_every!r}",
    )
    need(
        all(is_int(h) and h >= 1 for h in config.hidden),
        f"hidden layer sizes must be integers >= 1, got {config.hidden!r}",
    )
    models._check_activation(config.activation)
    need(
        config.strategy in distribute.STRATEGIES,
        f"unknown strategy {config.strategy!r}; expected one of {distribute.STRATEGIES}",
    )
    need(
        is_int(config.devices) and config.devices >= 1,
        f"devices must be an integer >= 1, got {config.devices!r}",
    )
    need(
        config.devices == 1 or config.strategy == "mirrored",
        f"--devices {config.devices} needs --strategy mirrored",
    )
    need(
        is_int(config.workers) and config.workers >= 1,
        f"workers must be an integer >= 1, got {config.workers!r}",
    )
    need(
        config.workers == 1 or config.strategy == "multiworker",
        f"--workers {config.workers} needs --strategy multiworker",
    )
    if config.data:
        stream.read_manifest(config.data)  # raises ValueError naming the directory
        need(
            config.dataset != "classes",
            "--data holds the sine set: it cannot be used with --dataset classes",
        )
    if config.strategy != "none" or config.data:
        try:
            distribute.per_sample_loss(build_loss(config))
        except ValueError as error:
            raise ValueError(f"{error}: it cannot be split over replicas or batches") from None
    num_samples = _num_samples(config)
    if config.batch_size is not None:
        need(
            is_int(config.batch_size) and 1 <= config.batch_size <= num_samples,
            f"batch size must be between 1 and the {num_samples} samples, "
            f"got {config.batch_size!r}",
        )
        need(
            config.variant == "minibatch"
            or config.batch_size == variant_batch_size(config.variant, num_samples),
            f"--batch-size {config.batch_size} contradicts variant "
            f"{config.variant!r} (batch uses all {num_samples} samples, sgd uses 1)",
        )
    if config.init == "lecture":
        need(
            config.dataset != "classes"
            and tuple(config.hidden) == (2,)
            and config.activation == "sigmoid",
            "init 'lecture' is the worked example's 1-2-1 sigmoid network: it needs "
            f"--hidden 2 --activation sigmoid and a sine dataset, got hidden={config.hidden!r}, "
            f"activation={config.activation!r}, dataset={config.dataset!r}",
        )
    loss = canonical_loss(config.loss)
    if config.dataset == "classes":
        need(
            loss not in _BINARY or config.classes == 2,
            f"loss {config.loss!r} is binary: it needs --classes 2, got {config.classes}",
        )
        need(
            not config.from_logits
            or loss in _LOGIT_LOSSES | {"hinge", "squared_hinge", "categorical_hinge"},
            f"--from-logits does not apply to loss {config.loss!r}",
        )
    else:
        need(
            loss not in _BINARY | _ONE_HOT | _SPARSE,
            f"loss {config.loss!r} is a classification loss: use --dataset classes",
        )
        need(
            not config.from_logits,
            "--from-logits needs a classification loss and --dataset classes",
        )


def _num_samples(config: TrainConfig) -> int:
    if config.data:
        return int(stream.read_manifest(config.data)["samples"])
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
    if loss in _SPARSE:
        return x, labels.reshape(-1, 1).astype(config.dtype)
    if loss in _BINARY:
        return x, labels.reshape(-1, 1).astype(config.dtype)
    return x, np.eye(config.classes, dtype=config.dtype)[labels]


def build_model(config: TrainConfig) -> keras.Sequential:
    """The sine-fit network for the lecture's settings, otherwise an MLP fitted to the loss."""
    if (
        config.dataset != "classes"
        and tuple(config.hidden) == (2,)
        and config.activation == "sigmoid"
    ):
        return models.sine_fit_model(init=config.init, seed=config.seed, dtype=config.dtype)
    if config.dataset != "classes":
        return models.mlp(
            config.hidden, config.activation, 1, 1, "linear", config.seed, config.dtype
        )
    loss = canonical_loss(config.loss)
    hinge_like = loss in {"hinge", "squared_hinge", "categorical_hinge"}
    if loss in _BINARY:
        output_dim, activation = 1, "linear" if config.from_logits or hinge_like else "sigmoid"
    else:
        output_dim = config.classes
        activation = "linear" if config.from_logits or hinge_like else "softmax"
    return models.mlp(
        config.hidden, config.activation, 2, output_dim, activation, config.seed, config.dtype
    )


def build_loss(config: TrainConfig) -> Callable:
    """The loss object; with --from-logits, its class built with from_logits=True."""
    if not config.from_logits:
        return custom_losses.get(config.loss)
    by_function = {cls().fn.__name__: cls for cls in custom_losses.registry.CLASSES.values()}
    return by_function[canonical_loss(config.loss)](from_logits=True)


def default_run_dir(config: TrainConfig) -> str:
    return os.path.join("runs", f"{time.strftime('%Y%m%d-%H%M%S')}-{config.variant}")


def check_writable(path: str) -> None:
    """Raise ValueError unless ``path`` can be created (or exists as a writable folder)."""
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
    # multiworker: only the chief writes the run directory; the others checkpoint into a
    # temporary directory (every worker must save: the save is a collective step)
    chief = config.strategy != "multiworker" or distribute.is_chief()
    if not resume and chief:
        check_writable(run_dir)
    if config.strategy == "none" and not config.data:
        x, y = build_data(config)
        model = build_model(config)
        loss_fn = build_loss(config)
        batch_size = variant_batch_size(config.variant, len(x), config.batch_size)
        gd = GradientDescent(
            model,
            loss_fn,
            x,
            y,
            batch_size=batch_size,
            learning_rate=config.lr,
            schedule=config.lr_schedule,
            decay_rate=config.decay_rate,
            decay_steps=config.decay_steps,
            shuffle=config.shuffle,
            seed=config.seed,
            drop_remainder=config.drop_remainder,
            jit_compile=config.jit,
        )
    else:
        x, y, gd = _distributed_loop(config)
        model = gd.model
    history = tf.Variable(tf.zeros([3, config.epochs], tf.float64), trainable=False)
    checkpoint = tf.train.Checkpoint(
        model=model, epoch=gd.epoch, step=gd.step, seed=gd.seed, history=history
    )
    checkpoint_dir = os.path.join(run_dir, "checkpoints")
    scratch = None if chief else tempfile.mkdtemp(prefix="keras-lab-worker-")
    manager = tf.train.CheckpointManager(checkpoint, scratch or checkpoint_dir, max_to_keep=3)
    if resume:
        latest = tf.train.latest_checkpoint(checkpoint_dir)
        if latest is None:
            raise ValueError(f"--resume: no checkpoint in {checkpoint_dir!r}")
        checkpoint.restore(latest).assert_existing_objects_matched()
    else:
        if chief:
            os.makedirs(run_dir, exist_ok=True)
            with open(os.path.join(run_dir, "config.json"), "w") as f:
                json.dump(config.to_json(), f, indent=2)
        manager.save(checkpoint_number=0)  # the start: a finite checkpoint exists from here on

    writer = SummaryWriter(run_dir) if config.tensorboard and chief else None
    if writer and not resume:
        writer.config(config.to_json())

    steps_per_epoch = gd.steps_per_epoch
    chunk = config.checkpoint_every or max(1, min(config.epochs, 2000 // steps_per_epoch))
    bar = None
    train_seconds = 0.0
    failed = None
    traced = False
    while int(gd.epoch.numpy()) < config.epochs:
        start_epoch = int(gd.epoch.numpy())
        todo = min(chunk, config.epochs - start_epoch)
        started = time.perf_counter()
        stats = gd.run(todo)
        train_seconds += time.perf_counter() - started
        if writer and not traced:
            graph = gd.concrete_function()
            if graph is not None:
                writer.graph(graph)
            traced = True
        done = len(stats.loss)
        if done:
            history[:, start_epoch : start_epoch + done].assign(
                np.stack([stats.loss, stats.learning_rate, stats.grad_norm])
            )
            if writer:
                writer.epochs(start_epoch + 1, stats.loss, stats.learning_rate, stats.grad_norm)
                writer.histograms(
                    start_epoch + done,
                    [v.path for v in model.trainable_variables],
                    [v.numpy() for v in model.trainable_variables],
                    [g.numpy() for g in gd.last_gradients],
                )
        if stats.failed_step >= 0:
            epoch = int(gd.epoch.numpy()) + 1
            step_in_epoch = stats.failed_step - int(gd.epoch.numpy()) * steps_per_epoch + 1
            failed = (
                f"loss or gradient became NaN or inf at epoch {epoch}, step {step_in_epoch} "
                f"(update {stats.failed_step + 1}); stopped. Last finite checkpoint: "
                f"{manager.latest_checkpoint}"
            )
            break
        at_end = int(gd.epoch.numpy()) >= config.epochs
        if at_end or (
            config.checkpoint_every and int(gd.epoch.numpy()) % config.checkpoint_every == 0
        ):
            manager.save(checkpoint_number=int(gd.epoch.numpy()))
        if progress and chief:
            if bar is None and train_seconds * config.epochs / max(1, gd.epoch.numpy()) > 1.0:
                bar = keras.utils.Progbar(
                    config.epochs, unit_name="epoch", stateful_metrics=["loss"]
                )
            if bar is not None:
                bar.update(int(gd.epoch.numpy()), values=[("loss", float(stats.loss[-1]))])
    if writer:
        writer.close()
    if scratch:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)

    epochs_done = int(gd.epoch.numpy())
    loss_history = history.numpy()[0, :epochs_done].tolist()
    result = RunResult(
        config=config,
        run_dir=run_dir,
        weights=models.get_lecture_weights(model),
        history=loss_history,
        final_loss=gd.evaluate(),
        train_seconds=train_seconds,
        failed=failed,
        checkpoint=manager.latest_checkpoint if chief else None,
    )
    if not chief:
        return result
    if x is None:  # streamed from disk: the SSE streamed too, the plots show a sample
        result.sse = _streamed_sse(model, config)
        x, y = _first_samples(config, 200)
    if isinstance(gd, GradientDescent):
        y_pred = model.predict(x, verbose=0, batch_size=65536)
    else:
        y_pred = _predict(model, x)
    if config.dataset == "classes":
        labels = np.argmax(y, axis=1) if y.shape[1] > 1 else y[:, 0].astype(int)
        guess = _predicted_labels(y_pred, config)
        result.accuracy = float(np.mean(guess == labels))
    else:
        if result.sse is None:
            result.sse = float(np.sum((np.asarray(y, np.float64) - y_pred) ** 2))
    if config.plots and loss_history:
        _save(plots.loss_curve(loss_history, ylabel=f"loss ({config.loss})"), run_dir, "loss.png")
        if config.dataset != "classes":
            grid = np.linspace(x.min(), x.max(), 200).reshape(-1, 1).astype(x.dtype)
            curve = (
                grid,
                model.predict(grid, verbose=0)
                if isinstance(gd, GradientDescent)
                else _predict(model, grid),
            )
            show = slice(None) if len(x) <= 200 else slice(0, 200)
            _save(plots.fit(x[show], y[show], y_pred[show], curve=curve), run_dir, "fit.png")
    with open(os.path.join(run_dir, "result.json"), "w") as f:
        json.dump(result.to_json(), f, indent=2)
    if failed:
        error = Diverged(failed)
        error.result = result
        raise error
    return result


def _distributed_loop(config: TrainConfig) -> tuple:
    """(x, y, loop) for --strategy mirrored/multiworker or --data (x, y None when streamed)."""
    strategy = distribute.get_strategy(config.strategy, config.devices)
    loss_fn = build_loss(config)
    with strategy.scope():  # variables are mirrored: create them inside the scope
        model = build_model(config)
    common = dict(
        learning_rate=config.lr,
        schedule=config.lr_schedule,
        decay_rate=config.decay_rate,
        decay_steps=config.decay_steps,
        shuffle=config.shuffle,
        seed=config.seed,
        drop_remainder=config.drop_remainder,
        jit_compile=config.jit,  # XLA for each replica's forward and backward pass
    )
    if not config.data:
        x, y = build_data(config)
        batch_size = variant_batch_size(config.variant, len(x), config.batch_size)
        loop = distribute.DistributedGradientDescent(
            strategy, model, loss_fn, x, y, batch_size=batch_size, **common
        )
        return x, y, loop
    num_samples = _num_samples(config)
    batch_size = variant_batch_size(config.variant, num_samples, config.batch_size)

    def dataset_fn(epoch: int) -> tf.data.Dataset:
        return stream.make_dataset(
            config.data,
            batch_size,
            shuffle=config.shuffle,
            seed=config.seed,
            epoch=epoch,
            drop_remainder=config.drop_remainder,
            dtype=config.dtype,
        )

    loop = distribute.DistributedGradientDescent(
        strategy,
        model,
        loss_fn,
        batch_size=batch_size,
        dataset_fn=dataset_fn,
        num_samples=num_samples,
        **common,
    )
    return None, None, loop


def _predict(model: keras.Model, x: np.ndarray, batch_size: int = 65536) -> np.ndarray:
    """model(x) in batches, without model.predict (which would set up a strategy)."""
    parts = [
        np.asarray(model(x[start : start + batch_size], training=False))
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts)


def _streamed_sse(model: keras.Model, config: TrainConfig) -> float:
    dataset = stream.make_dataset(config.data, 65536, dtype=config.dtype)

    @tf.function
    def sse(dataset: tf.data.Dataset) -> tf.Tensor:
        total = tf.constant(0.0, tf.float64)
        for x_batch, y_batch in dataset:
            error = tf.cast(y_batch - model(x_batch, training=False), tf.float64)
            total += tf.reduce_sum(error**2)
        return total

    return float(sse(dataset))


def _first_samples(config: TrainConfig, count: int) -> tuple[np.ndarray, np.ndarray]:
    dataset = stream.make_dataset(config.data, count, dtype=config.dtype)
    for x, y in dataset.take(1):
        return x.numpy(), y.numpy()
    raise ValueError(f"--data {config.data!r} holds no samples")


def _predicted_labels(y_pred: np.ndarray, config: TrainConfig) -> np.ndarray:
    if y_pred.shape[1] > 1:
        return np.argmax(y_pred, axis=1)
    on_logits = config.from_logits or canonical_loss(config.loss) in {"hinge", "squared_hinge"}
    return (y_pred[:, 0] > (0.0 if on_logits else 0.5)).astype(int)


def _save(figure, run_dir: str, name: str) -> None:
    figure.savefig(os.path.join(run_dir, name))
