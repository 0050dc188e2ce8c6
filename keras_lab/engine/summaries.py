"""TensorBoard writing: the only module that writes event files.

TF2 summaries are stored as tensors; read them back with
``EventAccumulator(path, size_guidance={TENSORS: 0}).Tensors(tag)``.

A resumed run appends to the same directory. It repeats, bit for bit, the epochs between
its checkpoint and the point where the first run stopped, and those may already be in the
event files: a writer opened with ``resume=True`` reads the last step of every tag there
and writes only later steps, so no step appears twice.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

#: Scalar tags written once per epoch.
SCALAR_TAGS: tuple[str, ...] = ("epoch/loss", "epoch/learning_rate", "epoch/grad_norm")
#: Up to this many epochs are written eagerly (~1 ms an epoch); more by one compiled call.
EAGER_ROWS = 16


class SummaryWriter:
    """Writes one run's TensorBoard events into ``logdir``."""

    def __init__(self, logdir: str, resume: bool = False) -> None:
        self.logdir = logdir
        self.last_step, self.has_graph = written_steps(logdir) if resume else ({}, False)
        self._writer = tf.summary.create_file_writer(logdir)
        self._write_epochs = tf.function(
            self._epochs_graph,
            input_signature=[
                tf.TensorSpec([None], tf.int64),
                tf.TensorSpec([None, len(SCALAR_TAGS)], tf.float32),
            ],
            autograph=False,  # an explicit tf.while_loop: traced in ~0.05 s, not ~0.5
        )

    def _new(self, tag: str, step: int) -> bool:
        return step > self.last_step.get(tag, -1)

    def config(self, config: Mapping[str, object]) -> None:
        """The run's configuration, as a text summary and as hyperparameters."""
        from tensorboard.plugins.hparams import api as hparams

        with self._writer.as_default():
            text = "\n".join(f"    {k} = {v!r}" for k, v in config.items())
            tf.summary.text("config", text, step=0)
            values = {k: _hparam_value(v) for k, v in config.items()}
            hparams.hparams(values)
        self._writer.flush()

    def epochs(
        self,
        first_epoch: int,
        loss: Sequence[float],
        learning_rate: Sequence[float],
        grad_norm: Sequence[float],
    ) -> None:
        """Per-epoch scalars, epoch numbers counted from 1 (step = epoch); on a resume, only
        epochs after the last one already in the event files. More than EAGER_ROWS epochs
        are written by one compiled call (an eager call per epoch costs more than the epoch).
        """
        values = np.stack([loss, learning_rate, grad_norm], axis=1).astype(np.float32)
        steps = np.arange(first_epoch, first_epoch + len(values), dtype=np.int64)
        new = np.array([self._new(SCALAR_TAGS[0], int(step)) for step in steps], bool)
        steps, values = tf.constant(steps[new]), tf.constant(values[new])
        if len(steps) > EAGER_ROWS:
            self._write_epochs(steps, values)
        else:  # tracing the graph (~50 ms) would cost more than a few eager writes
            with self._writer.as_default():
                for i in range(len(steps)):
                    self._write_row(steps, values, i)
        self._writer.flush()

    @staticmethod
    def _write_row(steps: tf.Tensor, values: tf.Tensor, i: int | tf.Tensor) -> None:
        """Row ``i`` of ``values``: one scalar per tag of SCALAR_TAGS at ``steps[i]``."""
        from tensorboard.plugins.scalar import metadata

        # tf.summary.write, not tf.summary.scalar: the latter prefixes the loop's name scope
        scalar = metadata.create_summary_metadata(display_name="", description="")
        for column, tag in enumerate(SCALAR_TAGS):
            tf.summary.write(tag, values[i, column], step=steps[i], metadata=scalar)

    def _epochs_graph(self, steps: tf.Tensor, values: tf.Tensor) -> None:
        def write(i: tf.Tensor) -> tf.Tensor:
            self._write_row(steps, values, i)
            return i + 1

        with self._writer.as_default():
            tf.while_loop(lambda i: i < tf.shape(steps)[0], write, (tf.constant(0),))

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Any named scalars at one step (e.g. test-set metrics measured after a chunk)."""
        with self._writer.as_default():
            for tag, value in values.items():
                if self._new(tag, step):
                    tf.summary.scalar(tag, float(value), step=step)
        self._writer.flush()

    def histograms(
        self, epoch: int, names: Sequence[str], weights: Sequence, gradients: Sequence
    ) -> None:
        """Histograms of every weight and of its gradient, counted in numpy
        (:func:`histogram_buckets`: tf.summary.histogram's eager bucketing is slower)."""
        from tensorboard.plugins.histogram import metadata

        histogram = metadata.create_summary_metadata(display_name="", description="")
        with self._writer.as_default():
            for name, weight, gradient in zip(names, weights, gradients):
                for tag, value in ((f"weights/{name}", weight), (f"gradients/{name}", gradient)):
                    if self._new(tag, epoch):
                        buckets = tf.constant(histogram_buckets(value))
                        tf.summary.write(tag, buckets, step=epoch, metadata=histogram)
        self._writer.flush()

    def graph(self, function: tf.types.experimental.ConcreteFunction) -> None:
        """The training loop's graph, from its concrete function (tf.summary.trace_on
        records only the XLA launch op of a jit-compiled function)."""
        with self._writer.as_default():
            tf.summary.graph(function.graph)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def written_steps(logdir: str) -> tuple[dict[str, int], bool]:
    """({tag: its last step}, whether a graph is there) over the event files in ``logdir``
    (a file cut short by a kill is read up to its last whole record)."""
    last: dict[str, int] = {}
    has_graph = False
    for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
        try:
            for event in tf.compat.v1.train.summary_iterator(path):
                has_graph = has_graph or bool(event.graph_def)
                for value in event.summary.value:
                    last[value.tag] = max(last.get(value.tag, -1), int(event.step))
        except tf.errors.DataLossError:  # a record cut short: the rest was never written
            continue
    return last, has_graph


def histogram_buckets(values: np.ndarray, bucket_count: int = 30) -> np.ndarray:
    """[left edge, right edge, count] rows of ``bucket_count`` equal buckets over the finite
    values' range (a range of zero width is widened to +-0.5, as one value's bucket; a range
    too narrow for its magnitude to be cut, e.g. a diverging run's 1e20 and 1e20 + 1e5, is
    one bucket).

    Example:
        >>> histogram_buckets(np.array([0.0, 1.0, 1.0]), bucket_count=2).tolist()
        [[0.0, 0.5, 1.0], [0.5, 1.0, 2.0]]
        >>> histogram_buckets(np.array([1e20, 1e20 + 1e5, 1e20])).tolist()
        [[1e+20, 1.000000000000001e+20, 3.0]]
    """
    values = np.asarray(values, np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.zeros((0, 3))
    low, high = float(values.min()), float(values.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    try:
        counts, edges = np.histogram(values, bins=bucket_count, range=(low, high))
    except ValueError:  # numpy: "Too many bins for data range": equal to float precision
        return np.array([[low, high, float(values.size)]])
    return np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)


def _hparam_value(value: object) -> bool | int | float | str:
    if isinstance(value, (bool, int, float, str)):
        return value
    if value is None:
        return "none"
    return json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)
