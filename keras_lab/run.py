"""One training run as a pipeline: build -> fit(callbacks) -> evaluate -> write.

``train.py`` parses flags into a :class:`~keras_lab.config.TrainConfig` and calls
:func:`train_and_evaluate`. Everything a run writes goes into its run directory:

    config.json       the whole configuration (read back by --resume)
    tensorboard/      TensorBoard: per-epoch loss, learning rate, gradient norm; weight and
                      gradient histograms; the loop's graph; the config as text/hparams
    checkpoints/      tf.train.CheckpointManager: weights, epoch, step, seed, history
    loss.png, fit.png the lecture's two figures
    result.json       what --json prints

JSON files are written whole or not at all (a temporary file, then a rename), and hold
strict JSON: a non-finite number is written as null.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import math
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

import keras
import numpy as np
import tensorflow as tf

import custom_losses
from keras_lab import data, models, plots
from keras_lab.checks import require
from keras_lab.config import REAL_DATASETS, TrainConfig, check_values, variant_batch_size
from keras_lab.engine import callbacks
from keras_lab.engine.devices import per_sample_loss
from keras_lab.engine.loop import GradientDescent
from keras_lab.engine.stream import StreamedBatches, read_manifest, verify_shards
from keras_lab.engine.summaries import SummaryWriter
from keras_lab.engine.workers import SCRATCH_ENV

__all__ = ["Diverged", "RunResult", "TrainConfig", "train_and_evaluate", "validate"]

# Losses whose targets are class labels, by function name, and the label format each takes.
_BINARY = {"binary_crossentropy", "hinge", "squared_hinge"}
_ONE_HOT = {"categorical_crossentropy", "categorical_hinge", "kl_divergence", "poisson"}
_SPARSE = {"sparse_categorical_crossentropy"}
_HINGE = {"hinge", "squared_hinge", "categorical_hinge"}
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
    accuracy: float | None = None  # for classification (on the training set)
    test: dict | None = None  # the held-out test set's metrics (the real data sets)
    train: dict | None = None  # the same metrics on the training set (the real data sets)
    failed: str | None = None  # the divergence message, if the run stopped on NaN/inf
    checkpoint: str | None = None
    resumed_from: str | None = None  # the checkpoint a resumed run started from
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
            "test": self.test,
            "train": (
                None
                if self.train is None
                else {k: finite_or_none(v) for k, v in self.train.items()}
            ),
            "failed": self.failed,
            "checkpoint": self.checkpoint,
            "resumed_from": self.resumed_from,
        }


class Diverged(RuntimeError):
    """The loss, a gradient or the weights became NaN or inf; the message names the epoch
    and step."""

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message)
        self.result = result


# ----------------------------------------------------------------------------- validation
def canonical_loss(name: str) -> str:
    """The function name behind any name custom_losses.get accepts."""
    loss = custom_losses.get(name)
    loss = getattr(loss, "fn", loss)
    if not hasattr(loss, "__name__"):  # "Loss": get gives keras.losses.Loss(), as Keras's does
        raise ValueError(f"--loss {name} is the base class keras.losses.Loss, not a loss")
    return loss.__name__


def validate(config: TrainConfig) -> None:
    """Raise ValueError, naming the bad value, for any setting that cannot run."""
    check_values(config)
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
    if config.strategy != "none" or config.data:
        try:
            per_sample_loss(build_loss(config))
        except ValueError as error:
            raise ValueError(f"{error}: it cannot be split over replicas or batches") from None
    require(
        loss != "cosine_similarity" or _output_size(config) > 1,
        f"loss {config.loss!r} cannot train a network with one output (the cosine of two "
        "numbers is their sign: its gradient is zero); use it with --dataset classes",
    )
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
            config.dataset in ("lecture", "sine")
            and tuple(config.hidden) == (2,)
            and config.activation == "sigmoid",
            "init 'lecture' is the worked example's 1-2-1 sigmoid network: it needs "
            f"--hidden 2 --activation sigmoid and a sine dataset, got hidden={config.hidden!r}, "
            f"activation={config.activation!r}, dataset={config.dataset!r}",
        )
    if _classification(config):
        require(
            loss not in _BINARY or _num_classes(config) == 2,
            f"loss {config.loss!r} is binary: it needs --classes 2, got {_num_classes(config)}",
        )
        require(
            not config.from_logits or loss in set(_FROM_LOGITS) | _HINGE,
            f"--from-logits does not apply to loss {config.loss!r}",
        )
    else:
        require(
            loss not in _BINARY | _ONE_HOT | _SPARSE,
            f"loss {config.loss!r} is a classification loss: use --dataset classes, "
            "breast_cancer or digits",
        )
        require(
            not config.from_logits,
            "--from-logits needs a classification loss and --dataset classes",
        )


def _classification(config: TrainConfig) -> bool:
    return config.dataset == "classes" or REAL_DATASETS.get(config.dataset) in (
        "binary",
        "multiclass",
    )


def _num_classes(config: TrainConfig) -> int:
    return {"breast_cancer": 2, "digits": 10}.get(config.dataset, config.classes)


def _real_data(config: TrainConfig) -> data.RealData:
    return data.load_real_data(config.dataset, seed=config.seed, dtype=config.dtype)


def _output_size(config: TrainConfig) -> int:
    if not _classification(config):
        return 1
    return 1 if canonical_loss(config.loss) in _BINARY else _num_classes(config)


def labelled(config: TrainConfig) -> TrainConfig:
    """``config`` with a --data run's data described as what it is: the sine set, of the
    manifest's size and noise (not the defaults' lecture set)."""
    if not config.data or config.dataset == "classes":
        return config
    manifest = read_manifest(config.data)
    return dataclasses.replace(
        config, dataset="sine", samples=int(manifest["samples"]), noise=float(manifest["noise"])
    )


def _num_samples(config: TrainConfig) -> int:
    if config.data:
        return int(read_manifest(config.data)["samples"])
    if config.dataset in REAL_DATASETS:
        return len(_real_data(config).x_train)
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
    if config.dataset in REAL_DATASETS:
        real = _real_data(config)
        if REAL_DATASETS[config.dataset] == "regression":
            return real.x_train, real.y_train
        x, labels = real.x_train, np.asarray(real.y_train).reshape(-1).astype(int)
    else:
        x, labels = data.classes_data(
            config.samples,
            config.classes,
            noise=config.noise or 0.5,
            seed=config.seed,
            dtype=config.dtype,
        )
    return x, as_targets(labels, config)


def as_targets(labels: np.ndarray, config: TrainConfig) -> np.ndarray:
    """Class labels in the format the loss expects: a column of labels (sparse, binary) or
    one-hot rows."""
    if canonical_loss(config.loss) in _SPARSE | _BINARY:
        return labels.reshape(-1, 1).astype(config.dtype)
    return np.eye(_num_classes(config), dtype=config.dtype)[labels]


def build_model(config: TrainConfig) -> keras.Sequential:
    """The sine-fit network for the lecture's settings, otherwise an MLP fitted to the loss."""
    inputs = _real_data(config).input_dim if config.dataset in REAL_DATASETS else 1
    if not _classification(config):
        if inputs == 1 and tuple(config.hidden) == (2,) and config.activation == "sigmoid":
            return models.sine_fit_model(init=config.init, seed=config.seed, dtype=config.dtype)
        return models.mlp(
            config.hidden, config.activation, inputs, 1, "linear", config.seed, config.dtype
        )
    loss = canonical_loss(config.loss)
    on_logits = config.from_logits or loss in _HINGE
    output_dim = _output_size(config)
    probabilities = "sigmoid" if loss in _BINARY else "softmax"
    return models.mlp(
        config.hidden,
        config.activation,
        inputs if config.dataset in REAL_DATASETS else 2,
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
    from keras_lab.engine import devices

    strategy = (
        None if config.strategy == "none" else devices.get_strategy(config.strategy, config.devices)
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
        batch_size=batch_size,
        learning_rate=config.lr,
        schedule=config.lr_schedule,
        decay_rate=config.decay_rate,
        decay_steps=config.decay_steps,
        shuffle=config.shuffle,
        seed=config.seed,
        drop_remainder=config.drop_remainder,
        jit_compile=config.jit,
        batches=batches,
        strategy=strategy,
    )
    return loop, x, y


# ----------------------------------------------------------------------------- run directory
#: The lock file of a run directory: held (fcntl.flock) by the one process writing the run.
LOCK = ".lock"
#: atomic_write's temporary files start so: the lock's holder removes any a kill left.
TEMPORARY_PREFIX = ".tmp-"


def default_run_dir(config: TrainConfig) -> str:
    """runs/<date-time>-<variant>-<pid>: two runs started in the same second differ (and a
    second run of one process in the same second gets a -2, -3, ... suffix)."""
    base = os.path.join("runs", f"{time.strftime('%Y%m%d-%H%M%S')}-{config.variant}-{os.getpid()}")
    path, number = base, 1
    while os.path.exists(path):
        number += 1
        path = f"{base}-{number}"
    return path


def check_writable(path: str) -> None:
    """Raise ValueError unless ``path`` can be created (or exists as an empty folder), without
    creating anything: every missing component must fit the file system's name limits."""
    path = os.path.abspath(path)
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise ValueError(f"logdir {path!r} exists and is not a directory")
        holder = lock_holder(path)
        if holder is not None:
            raise ValueError(f"logdir {path!r} is in use by process {holder}")
        if os.listdir(path):
            raise ValueError(f"logdir {path!r} is not empty; use --resume {path} to continue it")
        probe = path
    else:
        probe = os.path.dirname(path)
        while probe and not os.path.exists(probe):
            probe = os.path.dirname(probe)
        if not os.path.isdir(probe):
            raise ValueError(f"logdir {path!r} cannot be created: {probe!r} is not a directory")
        name_max = os.pathconf(probe, "PC_NAME_MAX")
        too_long = [part for part in path[len(probe) :].split(os.sep) if len(part) > name_max]
        if too_long:
            raise ValueError(
                f"logdir {path[:60]!r}... cannot be created: a name of {len(too_long[0])} "
                f"characters is longer than the file system's {name_max}"
            )
    # the longest file a run writes below it: checkpoints/ckpt-<epoch>.data-00000-of-00001
    longest = len(path) + 64
    if longest > os.pathconf(probe, "PC_PATH_MAX"):
        raise ValueError(
            f"logdir {path[:60]!r}... is too long ({len(path)} characters; its files would "
            f"pass the file system's limit of {os.pathconf(probe, 'PC_PATH_MAX')})"
        )
    try:  # os.access trusts root; a real probe does not (e.g. /proc, read-only mounts)
        os.rmdir(tempfile.mkdtemp(prefix=".keras-lab-probe-", dir=probe))
    except OSError as error:
        raise ValueError(f"logdir {path!r} cannot be created: {error.strerror}") from None


def lock_run_dir(run_dir: str) -> IO[str]:
    """Hold ``run_dir``'s lock for as long as the returned file is open (one process per run).

    Raises:
        ValueError: another process holds it (the message names its process id).
    """
    handle = open(os.path.join(run_dir, LOCK), "a+")  # noqa: SIM115 - held for the run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "(starting)"
        handle.close()
        raise ValueError(f"run directory {run_dir!r} is in use by process {holder}") from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    for leftover in os.listdir(run_dir):  # a killed writer's temporary (atomic_write)
        if leftover.startswith(TEMPORARY_PREFIX):
            os.remove(os.path.join(run_dir, leftover))
    return handle


def lock_holder(run_dir: str) -> str | None:
    """The process id written in ``run_dir``'s lock while another process holds it, else None."""
    path = os.path.join(run_dir, LOCK)
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip() or "(starting)"
    return None


_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it to ``path``:
    after any kill, ``path`` is the old file, the whole new one, or absent."""
    folder, name = os.path.split(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f"{TEMPORARY_PREFIX}{name}-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes it 0600
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_json(path: str, value: object) -> None:
    """``value`` as strict JSON in ``path``, whole or not at all (:func:`atomic_write`)."""
    text = json.dumps(value, indent=2, allow_nan=False)
    atomic_write(path, lambda f: f.write(text.encode()))


def save_figure(figure, path: str) -> None:
    """A matplotlib Figure as ``path`` (format from its extension), whole or not at all."""
    kind = os.path.splitext(path)[1].lstrip(".")
    atomic_write(path, lambda f: figure.savefig(f, format=kind))


# ----------------------------------------------------------------------------- the run
class RunStopped(RuntimeError):
    """The run stopped before its end for a reason outside the settings: a signal (exit
    128 + its number), a full disk or a corrupt record (exit 2). The message is one line
    naming the cause, the last checkpoint and how to continue."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def resume_command(run_dir: str) -> str:
    """The command that continues the run in ``run_dir``."""
    return f"python -m keras_lab.train --resume {shlex.quote(run_dir)}"


def train_and_evaluate(
    config: TrainConfig,
    run_dir: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> RunResult:
    """Train as configured, writing everything into ``run_dir``; see the module docstring.

    The run directory is locked (:func:`lock_run_dir`) from before the first write to the
    end. SIGINT and SIGTERM stop training after the running chunk (at most about a second),
    saving a checkpoint of that epoch.

    Raises:
        ValueError: a bad setting, or the run directory is another process's (nothing written).
        Diverged: the loss, a gradient or the weights became NaN or inf (the result so far is saved,
            the last finite checkpoint kept); its ``result`` attribute holds the RunResult.
        RunStopped: a signal, a full disk or a corrupt shard stopped the run (the last
            good checkpoint kept).
    """
    config = labelled(config)
    validate(config)
    run_dir = run_dir or config.logdir or default_run_dir(config)
    chief = _is_chief(config)
    lock = None
    scratch = None
    if chief:
        if not resume:
            check_writable(run_dir)
            try:
                os.makedirs(run_dir, exist_ok=True)
            except OSError as error:
                raise ValueError(f"logdir {run_dir!r} cannot be created: {error}") from None
        lock = lock_run_dir(run_dir)
    try:
        if chief and not resume:  # another run may have started and ended in between
            require(
                os.listdir(run_dir) == [LOCK],
                f"logdir {run_dir!r} is not empty; use --resume {run_dir} to continue it",
            )
        if not chief:  # its checkpoints (every worker must save: the save is collective),
            # in the launcher's directory when launched (removed there even if this is killed)
            scratch = tempfile.mkdtemp(prefix="keras-lab-worker-", dir=os.environ.get(SCRATCH_ENV))
        return _train(config, run_dir, resume, progress, chief, scratch)
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS):
            raise
        raise _write_failed(error, run_dir) from None
    except tf.errors.ResourceExhaustedError as error:  # TensorFlow's file writes: ENOSPC
        if "No space left on device" not in str(error):
            raise  # out of memory, not of disk
        raise _write_failed(error, run_dir) from None
    finally:
        if lock is not None:
            lock.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _train(
    config: TrainConfig,
    run_dir: str,
    resume: bool,
    progress: bool,
    chief: bool,
    scratch: str | None,
):
    """The run; ``scratch``: a non-chief worker's checkpoint directory (None for the chief)."""
    loop, x, y = build_loop(config)
    if not resume and chief:
        write_json(os.path.join(run_dir, "config.json"), config.to_json())
    history = callbacks.History(config.epochs)
    # multiworker: only the chief writes the run directory; the others into ``scratch``
    checkpoints = callbacks.Checkpoints(
        os.path.join(run_dir, "checkpoints"),
        loop,
        history,
        config.epochs,
        config.checkpoint_every,
        resume,
        save_to=scratch,
    )
    steps: list[callbacks.Callback] = [history]
    if config.tensorboard and chief:  # before the checkpoints: a checkpoint's epochs are logged
        # a subdirectory: `tensorboard --logdir RUN` then sees a run named "tensorboard";
        # events in RUN itself make the run ".", whose HParams metrics TensorBoard cannot find
        logdir = os.path.join(run_dir, "tensorboard")
        steps.append(callbacks.TensorBoard(logdir, None if resume else config.to_json(), resume))
    steps.append(checkpoints)  # before the progress bar, which reads a resumed loop's epoch
    if progress and chief:
        steps.append(callbacks.ProgressBar(config.epochs))
    # Epochs per call of the loop (the callbacks run after each: histograms, progress):
    # at least 2,000 steps' worth, and few enough calls for a long run (~10).
    chunk = max(1, min(config.epochs, max(2000 // loop.steps_per_epoch, config.epochs // 10)))
    started = time.perf_counter()
    # multiworker: a checkpoint is a collective step, so one worker cannot save alone
    with callbacks.StopSignals(enabled=config.strategy != "multiworker") as stop:
        try:
            stats = callbacks.fit(
                loop, config.epochs, steps, chunk, config.checkpoint_every, stop, seconds=0.5
            )
        except tf.errors.DataLossError as error:
            raise _corrupt_data(error, config, checkpoints, run_dir) from None
        except tf.errors.InvalidArgumentError as error:
            if not config.data:
                raise
            raise _corrupt_data(error, config, checkpoints, run_dir) from None
    if checkpoints.skipped:
        skipped = ", ".join(os.path.basename(p) for p in checkpoints.skipped)
        print(
            f"resumed from {checkpoints.restored} ({skipped} unreadable, skipped)",
            file=sys.stderr,
        )
    if stop.signal_number and int(loop.epoch.numpy()) < config.epochs:
        saved = checkpoints.save(int(loop.epoch.numpy()))
        name = signal.Signals(stop.signal_number).name
        raise RunStopped(
            f"stopped by {name} after epoch {int(loop.epoch.numpy())} of {config.epochs} "
            f"(checkpoint {saved}); continue with: {resume_command(run_dir)}",
            exit_code=128 + stop.signal_number,
        )
    train_seconds = time.perf_counter() - started
    result = evaluate(loop, config, history, x, y, run_dir, train_seconds, chief)
    if result.test and config.tensorboard and chief:  # the held-out numbers, at the last epoch
        writer = SummaryWriter(os.path.join(run_dir, "tensorboard"), resume=True)
        writer.scalars(config.epochs, {f"test/{k[5:]}": v for k, v in result.test.items()})
        writer.close()
    result.checkpoint = checkpoints.latest if chief else None
    result.resumed_from = checkpoints.restored
    if stats is not None and stats.failed:
        result.failed = _failure_message(loop, stats.failed_step, checkpoints.latest)
    elif not math.isfinite(result.final_loss):  # finite weights, an overflowing loss
        result.failed = (
            f"the loss on the training set became NaN or inf ({result.final_loss}) after "
            f"the last update (epoch {int(loop.epoch.numpy())}), the weights finite but too "
            f"large; stopped. Last finite checkpoint: {checkpoints.latest}"
        )
    if chief:
        write(result, loop, x, y)
    if result.failed:
        raise Diverged(result.failed, result)
    return result


def _write_failed(error: Exception, run_dir: str) -> RunStopped:
    """A failed write (full disk, read-only file system) as one line; checkpoints are
    written whole or not listed, so the last listed one is good."""
    reason = error.strerror if isinstance(error, OSError) else "No space left on device"
    where = getattr(error, "filename", None) or run_dir
    return RunStopped(
        f"cannot write {where}: {reason}; the last good checkpoint is kept: free space, then "
        f"continue with: {resume_command(run_dir)}"
    )


def _corrupt_data(error: Exception, config, checkpoints, run_dir: str) -> RunStopped:
    first_line = str(error).strip().splitlines()[0][:160]
    return RunStopped(
        f"--data {config.data!r}: a corrupt record ({first_line}); training stopped, the "
        f"last good checkpoint is {checkpoints.latest} (rewrite the data, then "
        f"{resume_command(run_dir)})"
    )


def _is_chief(config: TrainConfig) -> bool:
    if config.strategy != "multiworker":
        return True
    from keras_lab.engine.devices import is_chief

    return is_chief()


def _failure_message(loop: GradientDescent, failed_step: int, checkpoint: str | None) -> str:
    epoch = int(loop.epoch.numpy())
    step_in_epoch = failed_step - epoch * loop.steps_per_epoch + 1
    return (
        f"loss, gradient or weights became NaN or inf at epoch {epoch + 1}, step {step_in_epoch} "
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
    if _classification(config):
        labels = np.argmax(y, axis=1) if y.shape[1] > 1 else y[:, 0].astype(int)
        result.accuracy = float(np.mean(_predicted_labels(predict(model, x), config) == labels))
    elif x is None:  # streamed from disk: the SSE streamed too
        result.sse = _streamed_sse(model, loop.batches)
    else:
        result.sse = float(np.sum((np.asarray(y, np.float64) - predict(model, x)) ** 2))
    if config.dataset in REAL_DATASETS:
        result.test = split_metrics(model, config)
        result.train = split_metrics(model, config, part="train")
        real = _real_data(config)
        result.extra["samples"] = {"train": len(real.x_train), "test": len(real.x_test)}
    return result


def split_metrics(model: keras.Model, config: TrainConfig, part: str = "test") -> dict[str, float]:
    """The held-out test set's numbers: RMSE and MAE in the target's units (regression), or
    the accuracy (classification); with ``part="train"`` the same on the training set
    (keys train_rmse, ...). (Not named test_*: pytest, which collects keras_lab for its
    doctests, took the old name test_metrics for a test.)"""
    real = _real_data(config)
    x, y = (real.x_test, real.y_test) if part == "test" else (real.x_train, real.y_train)
    output = predict(model, x)
    if real.task == "regression":
        error = (output - np.asarray(y)) * real.target_std
        return {
            f"{part}_rmse": float(np.sqrt(np.mean(error**2))),
            f"{part}_mae": float(np.mean(np.abs(error))),
        }
    labels = np.asarray(y).reshape(-1).astype(int)
    return {f"{part}_accuracy": float(np.mean(_predicted_labels(output, config) == labels))}


def write(
    result: RunResult, loop: GradientDescent, x: np.ndarray | None, y: np.ndarray | None
) -> None:
    """The figures and result.json into the run directory."""
    config, run_dir = result.config, result.run_dir
    if config.plots and result.history:
        _save(plots.loss_curve(result.history, ylabel=f"loss ({config.loss})"), run_dir, "loss.png")
        if config.dataset in ("lecture", "sine"):
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
    save_figure(figure, os.path.join(run_dir, name))
