"""What happens around the loop while it trains: history, measurements, checkpoints,
TensorBoard, progress.

The Keras callback pattern, for a loop that runs a chunk of epochs per compiled call:
:func:`fit` calls ``on_train_begin(loop)``, then after every chunk
``on_epochs_end(loop, first_epoch, stats)`` (the chunk's per-epoch numbers, epochs counted
from 0), then ``on_train_end(loop)``. Each callback does one job and is the only place
that job is done.
"""

from __future__ import annotations

import glob
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_lab.engine.loop import EpochStats, GradientDescent
from keras_lab.engine.summaries import SummaryWriter


class Callback:
    """Does nothing; subclasses override what they need. ``stops``: epochs at which
    :func:`fit` ends a chunk, so that ``on_epochs_end`` sees the loop there."""

    stops: Sequence[int] = ()

    def on_train_begin(self, loop: GradientDescent) -> None:
        pass

    def on_epochs_end(self, loop: GradientDescent, first_epoch: int, stats: EpochStats) -> None:
        pass

    def on_train_end(self, loop: GradientDescent) -> None:
        pass


def fit(
    loop: GradientDescent,
    num_epochs: int,
    callbacks: Sequence[Callback] = (),
    chunk: int | None = None,
    every: int = 0,
    stop: StopSignals | None = None,
    seconds: float | None = None,
) -> EpochStats | None:
    """Train ``loop`` until it has done ``num_epochs`` epochs (counting epochs done before a
    resume), until a step fails, or until ``stop`` is requested; returns the last chunk's
    stats (None if there was nothing left to do).

    Each call runs at most ``chunk`` epochs (None: no limit) and never crosses a multiple of
    ``every`` (the checkpoint epochs) nor a callback's ``stops``; with ``seconds``, fewer, so
    that a call takes about that long (timed on the previous call): a stop request waits for
    at most about one such call.
    """
    stops = sorted({epoch for callback in callbacks for epoch in callback.stops})
    for callback in callbacks:
        callback.on_train_begin(loop)
    stats = None
    chunk = chunk or num_epochs
    size = 1 if seconds else chunk
    while int(loop.epoch.numpy()) < num_epochs and not (stop and stop.signal_number):
        first = int(loop.epoch.numpy())
        count = min([size, num_epochs - first] + [s - first for s in stops if s > first])
        if every:
            count = min(count, every - first % every)
        started = time.perf_counter()
        stats = loop.run(count)
        elapsed = time.perf_counter() - started
        for callback in callbacks:
            callback.on_epochs_end(loop, first, stats)
        if np.any(stats.failed):
            break
        if seconds:
            size = max(1, min(chunk, int(seconds * count / max(elapsed, 1e-6))))
    for callback in callbacks:
        callback.on_train_end(loop)
    return stats


class StopSignals:
    """While entered: SIGINT (Ctrl-C) and SIGTERM ask :func:`fit` to stop after the chunk
    that is running (``signal_number`` is set); a second signal acts as without this.

    Example:
        >>> with StopSignals() as stop:
        ...     signal.raise_signal(signal.SIGTERM)
        >>> stop.signal_number == signal.SIGTERM
        True
    """

    def __init__(self, enabled: bool = True) -> None:
        self.signal_number: int | None = None
        self._previous: dict = {}
        self.enabled = enabled

    def __enter__(self) -> StopSignals:
        if self.enabled and threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._request)
        return self

    def _request(self, number: int, frame: object) -> None:
        if self.signal_number is not None:  # asked twice: stop now
            self.__exit__()
            signal.raise_signal(number)
            return
        self.signal_number = number

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}


class History(Callback):
    """Per-epoch loss, learning rate and gradient norm of the whole run, as a variable (so
    that checkpoints carry it and a resumed run reports the whole history)."""

    def __init__(self, num_epochs: int) -> None:
        self.values = tf.Variable(tf.zeros([3, num_epochs], tf.float64), trainable=False)

    def on_epochs_end(self, loop: GradientDescent, first_epoch: int, stats: EpochStats) -> None:
        done = len(stats.loss)
        if done:
            rows = np.stack([stats.loss, stats.learning_rate, stats.grad_norm])
            self.values[:, first_epoch : first_epoch + done].assign(rows)

    def loss(self, num_epochs: int) -> list[float]:
        return self.values.numpy()[0, :num_epochs].tolist()


class Measure(Callback):
    """``measure(loop)`` ({name: number}) when training begins and after every chunk, with
    the epoch it was taken at; ``epochs``: where :func:`fit` must end a chunk to measure.

    Example:
        >>> measured = Measure(lambda loop: {"step": int(loop.step.numpy())}, epochs=[1, 3])
        >>> measured.stops
        (1, 3)
    """

    def __init__(
        self, measure: Callable[[GradientDescent], dict], epochs: Sequence[int] = ()
    ) -> None:
        self.measure, self.stops = measure, tuple(epochs)
        self.epochs: list[int] = []
        self.values: dict[str, list[float]] = {}

    def on_train_begin(self, loop: GradientDescent) -> None:
        self._record(loop)

    def on_epochs_end(self, loop: GradientDescent, first_epoch: int, stats: EpochStats) -> None:
        self._record(loop)

    def _record(self, loop: GradientDescent) -> None:
        self.epochs.append(int(loop.epoch.numpy()))
        for name, value in self.measure(loop).items():
            self.values.setdefault(name, []).append(float(value))


class Checkpoints(Callback):
    """tf.train.CheckpointManager of the model, the loop's counters and the history.

    At the start: restore the latest checkpoint of ``directory`` (``resume``) or save
    ckpt-0 (a finite checkpoint exists from the first step on). Then every ``every`` epochs
    and at the end, into ``save_to`` (default ``directory``; a multiworker non-chief saves
    into a scratch directory: every worker must save, the save is a collective step).
    """

    def __init__(
        self,
        directory: str,
        loop: GradientDescent,
        history: History,
        num_epochs: int,
        every: int = 0,
        resume: bool = False,
        save_to: str | None = None,
    ) -> None:
        checkpoint = tf.train.Checkpoint(
            model=loop.model, epoch=loop.epoch, step=loop.step, seed=loop.seed,
            history=history.values,
        )  # fmt: skip
        self.directory = directory
        self.manager = tf.train.CheckpointManager(checkpoint, save_to or directory, max_to_keep=3)
        self.checkpoint = checkpoint
        self.num_epochs, self.every, self.resume = num_epochs, every, resume
        self.restored: str | None = None
        self.skipped: dict[str, str] = {}

    def on_train_begin(self, loop: GradientDescent) -> None:
        if self.resume:
            self.restore_newest_intact()
        else:
            self.manager.save(checkpoint_number=0)

    def restore_newest_intact(self) -> None:
        """Restore the newest checkpoint that reads back whole; older ones are tried after a
        deleted, truncated or altered one. Sets ``restored`` and ``skipped`` (path: reason).

        Raises:
            ValueError: no checkpoint of the directory can be read.
        """
        self.skipped: dict[str, str] = {}
        for path in checkpoint_paths(self.directory):
            try:
                self.checkpoint.restore(path).assert_existing_objects_matched()
            except Exception as error:  # noqa: BLE001 - OpError, IndexError, ...: unreadable
                self.skipped[path] = str(error).strip().splitlines()[0][:120]
                continue
            self.restored = path
            return
        tried = f" ({len(self.skipped)} unreadable)" if self.skipped else ""
        raise ValueError(f"--resume: no intact checkpoint in {self.directory!r}{tried}")

    def on_epochs_end(self, loop: GradientDescent, first_epoch: int, stats: EpochStats) -> None:
        if np.any(stats.failed):
            return  # keep the last finite checkpoint as the latest
        epoch = int(loop.epoch.numpy())
        if epoch >= self.num_epochs or (self.every and epoch % self.every == 0):
            self.save(epoch)

    def save(self, epoch: int) -> str:
        """Save the loop's state as ckpt-<epoch> (unless that is the latest already)."""
        latest = self.manager.latest_checkpoint
        if latest is not None and latest.endswith(f"ckpt-{epoch}"):
            return latest
        return self.manager.save(checkpoint_number=epoch)

    @property
    def latest(self) -> str | None:
        return self.manager.latest_checkpoint


def checkpoint_paths(directory: str) -> list[str]:
    """The checkpoints in ``directory``, newest (highest number) first: the ones on disk
    (``ckpt-N.index``) and the one the state file names, if it is not among them."""
    numbered = {}
    for index in glob.glob(os.path.join(directory, "ckpt-*.index")):
        match = re.fullmatch(r"ckpt-(\d+)\.index", os.path.basename(index))
        if match:
            numbered[index[: -len(".index")]] = int(match.group(1))
    try:
        latest = tf.train.latest_checkpoint(directory)
    except (tf.errors.OpError, ValueError):  # an unreadable state file
        latest = None
    if latest is not None and latest not in numbered:
        numbered[latest] = 1 << 62
    return sorted(numbered, key=numbered.get, reverse=True)


class TensorBoard(Callback):
    """Per-epoch scalars, weight and gradient histograms, the loop's graph, the config."""

    def __init__(self, logdir: str, config: dict | None = None, resume: bool = False) -> None:
        self.writer = SummaryWriter(logdir, resume=resume)
        self.config = config
        self.graph_written = self.writer.has_graph

    def on_train_begin(self, loop: GradientDescent) -> None:
        if self.config is not None:
            self.writer.config(self.config)

    def on_epochs_end(self, loop: GradientDescent, first_epoch: int, stats: EpochStats) -> None:
        if not self.graph_written:  # after the first chunk: the function that ran
            self.writer.graph(loop.concrete_function())
            self.graph_written = True
        done = len(stats.loss)
        if done:
            self.writer.epochs(first_epoch + 1, stats.loss, stats.learning_rate, stats.grad_norm)
            variables = loop.model.trainable_variables
            self.writer.histograms(
                first_epoch + done,
                [v.path for v in variables],
                [v.numpy() for v in variables],
                loop.gradients(),
            )

    def on_train_end(self, loop: GradientDescent) -> None:
        self.writer.close()


class TensorBoardScalars(Callback):
    """TensorBoard scalars only, once a chunk: the loss, learning rate and gradient norm of
    the chunk's last epoch (step = that epoch), and ``measured``'s latest numbers (tags
    "measure/<name>", also at the start). Give ``measured`` before this in the callbacks."""

    def __init__(self, logdir: str, measured: Measure | None = None) -> None:
        self.writer = SummaryWriter(logdir)
        self.measured = measured

    def on_train_begin(self, loop: GradientDescent) -> None:
        self._measurements(loop)

    def on_epochs_end(self, loop: GradientDescent, first_epoch: int, stats: EpochStats) -> None:
        done = len(stats.loss)
        if done:
            rows = (stats.loss[-1:], stats.learning_rate[-1:], stats.grad_norm[-1:])
            self.writer.epochs(first_epoch + done, *rows)
        self._measurements(loop)

    def _measurements(self, loop: GradientDescent) -> None:
        if self.measured is not None:
            latest = {f"measure/{k}": v[-1] for k, v in self.measured.values.items()}
            self.writer.scalars(self.measured.epochs[-1], latest)

    def on_train_end(self, loop: GradientDescent) -> None:
        self.writer.close()


class ProgressBar(Callback):
    """keras.utils.Progbar over this run's epochs, shown once a run takes more than one chunk.

    The bar is made when training begins (Progbar times from its creation) and counts the
    epochs of this invocation (a resumed run's earlier epochs took no time here), so its
    time per epoch is this run's wall clock over its epochs.
    """

    def __init__(self, num_epochs: int) -> None:
        self.num_epochs = num_epochs
        self.bar: keras.utils.Progbar | None = None
        self.first_epoch = 0
        self.shown = False

    def on_train_begin(self, loop: GradientDescent) -> None:
        self.first_epoch = int(loop.epoch.numpy())
        self.bar = keras.utils.Progbar(
            self.num_epochs - self.first_epoch, unit_name="epoch", stateful_metrics=["loss"]
        )

    def on_epochs_end(self, loop: GradientDescent, first_epoch: int, stats: EpochStats) -> None:
        epoch = int(loop.epoch.numpy())
        self.shown = self.shown or epoch < self.num_epochs  # not for a run of one chunk
        if self.bar is not None and self.shown and len(stats.loss):
            loss = float(np.mean(stats.loss[-1]))
            self.bar.update(epoch - self.first_epoch, values=[("loss", loss)])
