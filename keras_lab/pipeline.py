"""One training run as a pipeline: problem -> loop -> fit(callbacks) -> evaluate -> write.

``python -m keras_lab.train`` reads the flags into a :class:`~keras_lab.config.TrainConfig`,
builds its :class:`~keras_lab.problem.Problem` and calls :func:`train_and_evaluate`, which
writes the run directory (:mod:`keras_lab.rundir`): config.json (read back by --resume),
tensorboard/, checkpoints/, loss.png, fit.png and result.json.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from keras_lab import plots, rundir
from keras_lab.config import TrainConfig
from keras_lab.engine import callbacks, devices
from keras_lab.engine.loop import GradientDescent
from keras_lab.engine.stream import StreamedBatches
from keras_lab.engine.summaries import SummaryWriter
from keras_lab.engine.workers import SCRATCH_ENV
from keras_lab.models import get_lecture_weights
from keras_lab.problem import Problem, build, predict, validate

__all__ = ["Diverged", "RunResult", "RunStopped", "TrainConfig", "train_and_evaluate", "validate"]


@dataclass
class RunResult:
    """What a run produced; :meth:`to_json` is what ``--json`` prints."""

    config: TrainConfig
    run_dir: str
    weights: list  # [(W^m, b^m)] in the lecture's layout
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
    samples: dict = field(default_factory=dict)  # a real data set's {"train": n, "test": n}

    def to_json(self) -> dict:
        """Strict JSON: a NaN or inf number is null (``failed`` says why)."""
        weights = [{"W": w, "b": b} for w, b in self.weights]
        result = {"config": self.config.to_json(), "weights": weights}
        for name in ("final_loss", "history", "train_seconds", "run_dir", "sse", "accuracy"):
            result[name] = getattr(self, name)
        for name in ("test", "train", "failed", "checkpoint", "resumed_from"):
            result[name] = getattr(self, name)
        return rundir.strict_json(result)


class Diverged(RuntimeError):
    """The loss, a gradient or the weights became NaN or inf; ``result``: the RunResult."""

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message)
        self.result = result


class RunStopped(RuntimeError):
    """The run stopped early for a reason outside the settings: a signal (exit 128 + its
    number), a full disk or a corrupt record (exit 2); the message names the cause, the
    last checkpoint and how to continue."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def resume_command(run_dir: str) -> str:
    """The command that continues the run in ``run_dir``."""
    return f"python -m keras_lab.train --resume {shlex.quote(run_dir)}"


def train_and_evaluate(
    config: TrainConfig | Problem,
    run_dir: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> RunResult:
    """Train as configured, writing everything into ``run_dir`` (:mod:`keras_lab.rundir`:
    config.json, tensorboard/, checkpoints/, loss.png, fit.png, result.json), locked from
    before the first write to the end. SIGINT and SIGTERM stop training after the running
    chunk (at most about a second), saving a checkpoint of that epoch.

    Raises:
        ValueError: a bad setting, settings other than those the checkpoints being resumed
            were made with, or the run directory is another process's (nothing written).
        Diverged: the loss, a gradient or the weights became NaN or inf (the result so far is
            saved, the last finite checkpoint kept); its ``result`` holds the RunResult.
        RunStopped: a signal, a failed write or a corrupt shard stopped the run (the last
            good checkpoint kept; a new run with none is removed).
    """
    problem = config if isinstance(config, Problem) else build(config)
    config = problem.config
    run_dir = run_dir or config.logdir or rundir.default_run_dir(config.variant)
    chief = config.strategy != "multiworker" or devices.is_chief()
    existed = os.path.isdir(run_dir)
    with contextlib.ExitStack() as stack:
        try:
            scratch = None
            if chief:
                stack.enter_context(
                    rundir.open_run(run_dir, resume, f"use --resume {run_dir} to continue it")
                )
            else:  # its checkpoints (every worker must save: the save is collective), in the
                # launcher's directory when launched (removed there even if this is killed)
                scratch = tempfile.mkdtemp(
                    prefix="keras-lab-worker-", dir=os.environ.get(SCRATCH_ENV)
                )
                stack.callback(shutil.rmtree, scratch, ignore_errors=True)
            if progress:
                print("config: " + json.dumps(config.to_json()), flush=True)
            return _train(problem, run_dir, resume, progress, chief, scratch)
        except (OSError, tf.errors.OpError) as error:
            reason = _write_error(error)
            if reason is None:
                raise
            fresh = chief and not resume
            raise _write_failed(reason, run_dir, not existed, fresh) from None


#: What a failed write says (an OSError's errno, or TensorFlow's message) -> what to do.
WRITE_ERRORS = {
    errno.ENOSPC: ("No space left on device", "free space"),
    errno.EDQUOT: ("Disk quota exceeded", "free space"),
    errno.EFBIG: ("File too large", "raise the file-size limit (ulimit -f)"),
    errno.EROFS: ("Read-only file system", "make it writable"),
    errno.EACCES: ("Permission denied", "make it writable"),
}


def _write_error(error: Exception) -> tuple[str, str, str] | None:
    """(file, reason, advice) if ``error`` is a failed write, else None."""
    if isinstance(error, OSError):
        if error.errno not in WRITE_ERRORS:
            return None
        return (error.filename or "", *WRITE_ERRORS[error.errno])
    for reason, advice in WRITE_ERRORS.values():  # TensorFlow's writes: the OS's message
        if reason in str(error) and not isinstance(error, tf.errors.DataLossError):
            return ("", reason, advice)
    return None


def build_loop(problem: Problem) -> GradientDescent:
    """The loop: the problem's model and loss, its batches and devices as configured."""
    config, batch_size = problem.config, problem.batch_size
    strategy = None
    if config.strategy != "none":
        strategy = devices.get_strategy(config.strategy, config.devices)
    with (strategy or tf.distribute.get_strategy()).scope():  # mirrored variables
        model = problem.model()
    batches = None
    if config.data:
        batches = StreamedBatches(
            config.data,
            batch_size,
            config.shuffle,
            config.seed,
            config.drop_remainder,
            config.dtype,
        )
    return GradientDescent(
        model,
        problem.loss,
        problem.x,
        problem.y,
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


def defining(config: TrainConfig) -> dict:
    """The settings that define a run (all but where it is written), bound to its checkpoints."""
    return {k: v for k, v in config.to_json().items() if k != "logdir"}


def _train(
    problem: Problem, run_dir: str, resume: bool, progress: bool, chief: bool, scratch: str | None
) -> RunResult:
    """The run; ``scratch``: a non-chief worker's checkpoint directory (None for the chief)."""
    config = problem.config
    loop = build_loop(problem)
    if not resume and chief:
        rundir.write_json(os.path.join(run_dir, "config.json"), config.to_json())
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
        settings=defining(config),
    )
    if resume:  # before anything is written: a checkpoint made with other settings is refused
        checkpoints.restore_newest_intact(f"--resume: {os.path.join(run_dir, 'config.json')}")
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
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
            if not config.data and not isinstance(error, tf.errors.DataLossError):
                raise
            first_line = str(error).strip().splitlines()[0][:160]
            raise RunStopped(
                f"--data {config.data!r}: a corrupt record ({first_line}); training stopped, "
                f"the last good checkpoint is {checkpoints.latest} (rewrite the data, then "
                f"{resume_command(run_dir)})"
            ) from None
    if checkpoints.skipped:
        skipped = ", ".join(os.path.basename(p) for p in checkpoints.skipped)
        print(
            f"resumed from {checkpoints.restored} ({skipped} unreadable, skipped)", file=sys.stderr
        )
    epoch = int(loop.epoch.numpy())
    if stop.signal_number and epoch < config.epochs:
        saved = checkpoints.save(epoch)
        raise RunStopped(
            f"stopped by {signal.Signals(stop.signal_number).name} after epoch {epoch} of "
            f"{config.epochs} (checkpoint {saved}); continue with: {resume_command(run_dir)}",
            exit_code=128 + stop.signal_number,
        )
    result = evaluate(loop, problem, history, run_dir, time.perf_counter() - started, chief)
    if result.test and config.tensorboard and chief:  # the held-out numbers, at the last epoch
        writer = SummaryWriter(os.path.join(run_dir, "tensorboard"), resume=True)
        writer.scalars(config.epochs, {f"test/{k[5:]}": v for k, v in result.test.items()})
        writer.close()
    result.checkpoint = checkpoints.latest if chief else None
    result.resumed_from = checkpoints.restored
    last = f"stopped. Last finite checkpoint: {checkpoints.latest}"
    if stats is not None and stats.failed:
        step = stats.failed_step - epoch * loop.steps_per_epoch + 1
        result.failed = (
            f"loss, gradient or weights became NaN or inf at epoch {epoch + 1}, step {step} "
            f"(update {stats.failed_step + 1}); {last}"
        )
    elif not math.isfinite(result.final_loss):  # finite weights, an overflowing loss
        result.failed = (
            f"the loss on the training set became NaN or inf ({result.final_loss}) after "
            f"the last update (epoch {epoch}), the weights finite but too large; {last}"
        )
    if chief:
        write(result, loop, problem)
    if result.failed:
        raise Diverged(result.failed, result)
    return result


def _write_failed(
    failure: tuple[str, str, str], run_dir: str, created: bool, fresh: bool
) -> RunStopped:
    """A failed write (full disk, file-size limit, read-only file system) as one line.
    Checkpoints are written whole or not listed, so the last listed one is good; a fresh
    run with none is removed (``created``: the whole directory, else its contents), so
    that the same command can start it again."""
    where, reason, advice = failure
    where = where or run_dir
    if callbacks.checkpoint_paths(os.path.join(run_dir, "checkpoints")) or not fresh:
        return RunStopped(
            f"cannot write {where}: {reason}; the last good checkpoint is kept: {advice}, "
            f"then continue with: {resume_command(run_dir)}"
        )
    if created:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        for name in os.listdir(run_dir):
            path = os.path.join(run_dir, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    return RunStopped(
        f"cannot write {where}: {reason}; no checkpoint was saved, so {run_dir} was "
        f"{'removed' if created else 'emptied'}: {advice}, then run the same command again"
    )


def evaluate(
    loop: GradientDescent,
    problem: Problem,
    history: callbacks.History,
    run_dir: str,
    train_seconds: float,
    chief: bool,
) -> RunResult:
    """The trained model's numbers: final loss, and the SSE (regression) or accuracy."""
    model, x, y = loop.model, problem.x, problem.y
    result = RunResult(
        config=problem.config,
        run_dir=run_dir,
        weights=get_lecture_weights(model),
        history=history.loss(int(loop.epoch.numpy())),
        final_loss=loop.evaluate(),
        train_seconds=train_seconds,
    )
    if not chief:
        return result
    if problem.classification:
        labels = np.argmax(y, axis=1) if y.shape[1] > 1 else y[:, 0].astype(int)
        result.accuracy = float(np.mean(problem.labels(predict(model, x)) == labels))
    elif x is None:  # streamed from disk: the SSE streamed too
        result.sse = _streamed_sse(model, loop.batches)
    else:
        result.sse = float(np.sum((np.asarray(y, np.float64) - predict(model, x)) ** 2))
    if problem.real:
        result.test = problem.metrics(model)
        result.train = problem.metrics(model, part="train")
        result.samples = {"train": len(problem.real.x_train), "test": len(problem.real.x_test)}
    return result


def write(result: RunResult, loop: GradientDescent, problem: Problem) -> None:
    """The figures and result.json into the run directory."""
    config, run_dir = result.config, result.run_dir
    if config.plots and result.history:
        figure = plots.loss_curve(result.history, ylabel=f"loss ({config.loss})")
        rundir.save_figure(figure, os.path.join(run_dir, "loss.png"))
        if config.dataset in ("lecture", "sine"):
            x, y = problem.x, problem.y
            if x is None:  # streamed: the plot shows the first 200 samples
                for x, y in loop.batches.dataset(0, batch_size=200).take(1):
                    x, y = x.numpy(), y.numpy()
            grid = np.linspace(x.min(), x.max(), 200).reshape(-1, 1).astype(x.dtype)
            x, y = x[:200], y[:200]
            figure = plots.fit(
                x, y, predict(loop.model, x), curve=(grid, predict(loop.model, grid))
            )
            rundir.save_figure(figure, os.path.join(run_dir, "fit.png"))
    rundir.write_json(os.path.join(run_dir, "result.json"), result.to_json())


def _streamed_sse(model: keras.Model, batches: StreamedBatches) -> float:
    @tf.function
    def sse(dataset: tf.data.Dataset) -> tf.Tensor:
        total = tf.constant(0.0, tf.float64)
        for x_batch, y_batch in dataset:
            error = tf.cast(y_batch - model(x_batch, training=False), tf.float64)
            total += tf.reduce_sum(error**2)
        return total

    return float(sse(batches.dataset(0, batch_size=65536)))
