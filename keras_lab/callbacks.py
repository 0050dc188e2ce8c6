"""What happens around the loop while it trains: history, checkpoints, TensorBoard, progress.

The Keras callback pattern, for a loop that runs a chunk of epochs per compiled call:
:func:`fit` calls ``on_train_begin(loop)``, then after every chunk
``on_epochs_end(loop, first_epoch, stats)`` (the chunk's per-epoch numbers, epochs counted
from 0), then ``on_train_end(loop)``. Each callback does one job and is the only place
that job is done.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_lab.loop import EpochStats, GradientDescent
from keras_lab.summaries import SummaryWriter


class Callback:
    """Does nothing; subclasses override what they need."""

    def on_train_begin(self, loop: GradientDescent) -> None:
        pass

    def on_epochs_end(self, loop: GradientDescent, first_epoch: int, stats: EpochStats) -> None:
        pass

    def on_train_end(self, loop: GradientDescent) -> None:
        pass


def fit(
    loop: GradientDescent, num_epochs: int, callbacks: Sequence[Callback], chunk: int
) -> EpochStats | None:
    """Train ``loop`` until it has done ``num_epochs`` epochs (counting epochs done before a
    resume), ``chunk`` epochs per call, or until a step fails; returns the last chunk's
    stats (None if there was nothing left to do)."""
    for callback in callbacks:
        callback.on_train_begin(loop)
    stats = None
    while int(loop.epoch.numpy()) < num_epochs:
        first = int(loop.epoch.numpy())
        stats = loop.run(min(chunk, num_epochs - first))
        for callback in callbacks:
            callback.on_epochs_end(loop, first, stats)
        if np.any(np.asarray(stats.failed_step) >= 0):
            break
    for callback in callbacks:
        callback.on_train_end(loop)
    return stats


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

    def on_train_begin(self, loop: GradientDescent) -> None:
        if self.resume:
            latest = tf.train.latest_checkpoint(self.directory)
            if latest is None:
                raise ValueError(f"--resume: no checkpoint in {self.directory!r}")
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        else:
            self.manager.save(checkpoint_number=0)

    def on_epochs_end(self, loop: GradientDescent, first_epoch: int, stats: EpochStats) -> None:
        if np.any(np.asarray(stats.failed_step) >= 0):
            return  # keep the last finite checkpoint as the latest
        epoch = int(loop.epoch.numpy())
        if epoch >= self.num_epochs or (self.every and epoch % self.every == 0):
            self.manager.save(checkpoint_number=epoch)

    @property
    def latest(self) -> str | None:
        return self.manager.latest_checkpoint


class TensorBoard(Callback):
    """Per-epoch scalars, weight and gradient histograms, the loop's graph, the config."""

    def __init__(self, logdir: str, config: dict | None = None) -> None:
        self.writer = SummaryWriter(logdir)
        self.config = config
        self.graph_written = False

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
                [g.numpy() for g in loop.last_gradients],
            )

    def on_train_end(self, loop: GradientDescent) -> None:
        self.writer.close()


class ProgressBar(Callback):
    """keras.utils.Progbar over the epochs, shown once a run is expected to take > 1 s."""

    def __init__(self, num_epochs: int) -> None:
        self.num_epochs = num_epochs
        self.bar: keras.utils.Progbar | None = None

    def on_epochs_end(self, loop: GradientDescent, first_epoch: int, stats: EpochStats) -> None:
        epoch = int(loop.epoch.numpy())
        if self.bar is None and epoch < self.num_epochs:
            self.bar = keras.utils.Progbar(
                self.num_epochs, unit_name="epoch", stateful_metrics=["loss"]
            )
        if self.bar is not None and len(stats.loss):
            self.bar.update(epoch, values=[("loss", float(np.mean(stats.loss[-1])))])


class WorkerScratch(Callback):
    """A non-chief worker's checkpoint directory: temporary, removed at the end."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def on_train_end(self, loop: GradientDescent) -> None:
        import shutil

        shutil.rmtree(self.directory, ignore_errors=True)
