"""Many starts at once: K copies of the sine-fit network trained in one compiled computation.

SGD's fluctuation "enables it to jump to new and potentially better local minima", batch GD
"converges to the minimum of the basin the parameters are placed in" (the lecture): train
the 1-h-1 network from K seeded starts with each variant and see where they end. The K
networks are one set of weights with a leading K axis,

    y_k = sigmoid(x_k @ kernel1_k + bias1_k) @ kernel2_k + bias2_k    (einsum over k)

trained by the one loop, :class:`keras_lab.engine.loop.GradientDescent`: the K losses are
independent, so the gradient of their sum is, slice by slice, each start's own gradient.
Start i ends with the weights of ``GradientDescent(sine_fit_model(seed=seeds[i]), "mse",
..., seed=its shuffle seed)``, with or without XLA (tested to 1e-6 in float64); a start
that hits NaN or inf stops while the others go on.

At a constant learning rate SGD ends on a noisy orbit, not at a minimum:
:func:`run_multistart` also continues every end point with batch GD (:func:`settle`): ends
that fall to one level were spread by noise, not left in different minima.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from keras_lab import checks
from keras_lab.config import VARIANTS, variant_batch_size
from keras_lab.engine.callbacks import fit
from keras_lab.engine.loop import GradientDescent
from keras_lab.models import lecture_random_weights


@dataclass(frozen=True)
class MultiStartResult:
    """:meth:`MultiStartGD.run`'s numbers: loss (epochs, K) the epoch losses; final_sse
    (K,) the SSE over the training set at the end; failed (K,) stopped on a NaN or inf."""

    loss: np.ndarray
    final_sse: np.ndarray
    failed: np.ndarray


class StackedSineFit(keras.Model):
    """K sine-fit networks 1-h-1 (sigmoid, linear) as one model with a leading K axis.

    Inputs (K, B, 1) -> outputs (K, B, 1); network k sees its own batch x[k].
    ``num_starts`` tells :class:`keras_lab.engine.loop.GradientDescent` that the losses are K.
    """

    def __init__(self, seeds: Sequence[int], hidden: int = 2, dtype: str = "float32") -> None:
        super().__init__(dtype=dtype)
        self.num_starts = len(seeds)
        # The lecture's layout (W (s^m, s^(m-1)), b (s^m, 1)) -> Keras layout, stacked over K.
        starts = [lecture_random_weights(s, (1, hidden, 1)) for s in seeds]
        values = {
            "kernel1": [w1.T for (w1, _), _ in starts],  # (K, 1, h)
            "bias1": [b1[:, 0] for (_, b1), _ in starts],  # (K, h)
            "kernel2": [w2.T for _, (w2, _) in starts],  # (K, h, 1)
            "bias2": [b2[:, 0] for _, (_, b2) in starts],  # (K, 1)
        }
        for name, stacked in values.items():
            array = np.stack(stacked).astype(dtype)
            weight = self.add_weight(shape=array.shape, initializer="zeros", name=name, dtype=dtype)
            weight.assign(array)
            setattr(self, name, weight)
        self.built = True

    def call(self, x: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        hidden = keras.ops.sigmoid(
            keras.ops.einsum("kbi,kih->kbh", x, self.kernel1) + self.bias1[:, None, :]
        )
        return keras.ops.einsum("kbh,kho->kbo", hidden, self.kernel2) + self.bias2[:, None, :]


class MultiStartGD:
    """Batch, stochastic or mini-batch GD on K sine-fit networks at once (see module doc).

    Args:
        x, y: the training set, shape (n, 1) each.
        seeds: one seed per start; start i is ``lecture_random_weights(seeds[i])``.
        batch_size: 1 <= batch_size <= n (n: batch GD, 1: SGD, b: mini-batch).
        learning_rate: eta > 0 (``schedule``: GradientDescent's schedule, decay_rate, ...).
        shuffle: reshuffle every epoch, or visit samples in order.
        shuffle_seed: None: start i shuffles with seeds[i]; an int: all starts share it.
        hidden: hidden units h of the 1-h-1 network (2: the lecture's).
        dtype: "float32" or "float64".
        jit_compile: compile the loop with XLA.
        model: continue this model's K networks (e.g. another runner's) instead.

    Example (4 starts, SGD, 2 epochs on the lecture's 9 points):
        >>> from keras_lab.data import lecture_data
        >>> x, y = lecture_data()
        >>> result = MultiStartGD(x, y, seeds=range(4), batch_size=1, learning_rate=0.3).run(2)
        >>> result.loss.shape, result.final_sse.shape, bool(result.failed.any())
        ((2, 4), (4,), False)
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        seeds: Sequence[int],
        batch_size: int,
        learning_rate: float,
        shuffle: bool = True,
        shuffle_seed: int | None = None,
        hidden: int = 2,
        dtype: str = "float32",
        jit_compile: bool = False,
        model: StackedSineFit | None = None,
        **schedule: object,
    ) -> None:
        checks.one_of("dtype", dtype, ("float32", "float64"))
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 2 or y.ndim != 2 or x.shape[1] != 1 or y.shape[1] != 1:
            raise ValueError(f"x and y must have shape (n, 1), got {x.shape} and {y.shape}")
        seeds = [checks.integer("seed", s, minimum=0) for s in seeds]
        if not seeds:
            raise ValueError("seeds is empty: need at least one start")
        self.seeds = tuple(seeds)
        self.num_starts = len(seeds)
        if model is None:
            model = StackedSineFit(seeds, checks.integer("hidden", hidden, minimum=1), dtype)
        self.model = model
        shuffle_seeds = seeds if shuffle_seed is None else [shuffle_seed] * len(seeds)
        self.loop = GradientDescent(
            self.model,
            "mse",
            x,
            y,
            batch_size=batch_size,
            learning_rate=learning_rate,
            shuffle=shuffle,
            seed=shuffle_seeds,
            jit_compile=jit_compile,
            num_starts=self.num_starts,
            **schedule,
        )
        dtype = self.model.kernel1.dtype
        self.x, self.y = x.astype(dtype), y.astype(dtype)

    def run(self, num_epochs: int) -> MultiStartResult:
        """Train every start ``num_epochs`` more epochs, in compiled chunks."""
        checks.integer("num_epochs", num_epochs, minimum=1)
        stats = fit(self.loop, int(self.loop.epoch.numpy()) + num_epochs)
        return MultiStartResult(loss=stats.loss, final_sse=self.sse(), failed=stats.failed)

    def sse(self) -> np.ndarray:
        """Each start's SSE over the training set, sum_q (t_q - y_q)^2, shape (K,)."""
        y_pred = self.model(np.tile(self.x[None], [self.num_starts, 1, 1])).numpy()
        errors = (self.y[None] - y_pred).astype(np.float64)
        return np.sum(errors**2, axis=(1, 2))

    def lecture_weights(self, start: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Start ``start``'s weights in the lecture's layout [(W1, b1), (W2, b2)]."""
        checks.integer("start", start, minimum=0, maximum=self.num_starts - 1)
        weights = self.model.trainable_variables  # kernel1, bias1, kernel2, bias2
        k1, b1, k2, b2 = (np.asarray(v.numpy()[start], np.float64) for v in weights)
        return [(k1.T, b1.reshape(-1, 1)), (k2.T, b2.reshape(-1, 1))]


@dataclass(frozen=True)
class Cluster:
    """A group of sorted values, each within ``tolerance`` of its neighbour (1-D single
    linkage). Runs that ended in the same minimum form one group once they have
    converged; a group of unconverged runs (e.g. SGD at a constant learning rate) is just
    a stretch of a spread, not a minimum."""

    value: float  # the median of the members
    count: int
    low: float
    high: float


def cluster_values(values: Sequence[float], tolerance: float = 1e-3) -> list[Cluster]:
    """Group sorted values where consecutive gaps are <= tolerance (single linkage in 1-D);
    NaN values are left out.

    Example:
        >>> [(c.count, round(c.value, 2)) for c in cluster_values([0.5, 0.01, 0.5004, 0.0102])]
        [(2, 0.01), (2, 0.5)]
    """
    checks.number("tolerance", tolerance, minimum=0)
    values = np.sort(np.asarray(values, np.float64).ravel())
    values = values[np.isfinite(values)]
    if values.size == 0:
        return []
    splits = np.flatnonzero(np.diff(values) > tolerance) + 1
    return [
        Cluster(float(np.median(group)), int(group.size), float(group[0]), float(group[-1]))
        for group in np.split(values, splits)
    ]


# ----------------------------------------------------------------------------- the experiment
#: Batch-GD epochs that continue every K-start end point in :func:`run_multistart`: at the
#: defaults they bring SGD's ends (spread 12.6x) to within batch GD's own spread (measured,
#: docs/compare.md); 500 epochs of K = 256 starts cost ~1 s, compilation included.
SETTLE_EPOCHS = 500


def settle(
    runner: MultiStartGD,
    num_epochs: int,
    learning_rate: float,
    jit_compile: bool = True,
    shuffle: bool = False,
) -> MultiStartResult:
    """Continue every start of ``runner`` in place with ``num_epochs`` of batch GD."""
    batch_gd = MultiStartGD(
        runner.x, runner.y, runner.seeds, len(runner.x), learning_rate, shuffle=shuffle,
        shuffle_seed=0, jit_compile=jit_compile, model=runner.model,
    )  # fmt: skip
    return batch_gd.run(num_epochs)


def run_multistart(
    x: np.ndarray,
    y: np.ndarray,
    num_starts: int,
    num_epochs: int,
    learning_rate: float,
    batch_size: int,
    shuffle_seed: int | None = 0,
    settle_epochs: int = SETTLE_EPOCHS,
    dtype: str = "float32",
    jit_compile: bool = True,
) -> dict[str, dict]:
    """K = num_starts random starts per variant, trained at once; where each ends, and its
    SSE after ``settle_epochs`` more epochs of batch GD at the same eta (0: not continued).

    Start i is sine_fit_model(seed=i). ``shuffle_seed``: an int, every start shuffles
    with it (the runs of one variant differ only in where they start); None, start i
    shuffles with seed i (the train CLI's run with --seed i).

    Returns:
        {variant: {"batch_size", "final_sse": K floats (None: failed), "failed": count,
        "settled_sse": K floats after settling (None: failed; [] if settle_epochs is 0),
        "seconds"}}.
    """
    checks.integer("settle-epochs", settle_epochs, minimum=0)
    out = {}
    for variant in VARIANTS:
        size = variant_batch_size(variant, len(x), batch_size)
        runner = MultiStartGD(
            x, y, range(num_starts), size, learning_rate, shuffle_seed=shuffle_seed,
            dtype=dtype, jit_compile=jit_compile,
        )  # fmt: skip
        started = time.perf_counter()
        result = runner.run(num_epochs)
        seconds = time.perf_counter() - started
        # a start that hit NaN/inf stopped at its last finite weights: not an end point
        final_sse = np.where(result.failed, np.nan, result.final_sse)
        settled = np.array([])
        if settle_epochs:
            after = settle(runner, settle_epochs, learning_rate, jit_compile)
            settled = np.where(result.failed | after.failed, np.nan, after.final_sse)
        out[variant] = {
            "batch_size": size,
            "final_sse": json_floats(final_sse),
            "failed": int(result.failed.sum()),
            "settled_sse": json_floats(settled),
            "seconds": seconds,
        }
    return out


def json_floats(values: np.ndarray) -> list[float | None]:
    """Floats, None where not finite (strict JSON)."""
    return [float(v) if np.isfinite(v) else None for v in values]


def spread_claim(result: dict[str, dict], tolerance: float = 1e-3) -> dict:
    """The claim of multistart.png: SGD's spread of final SSE is noise, not other minima.

    It holds when (1) continued with batch GD, SGD's ends spread less than a quarter as
    much as before (max / min of the SSEs); (2) none of them stays above batch GD's
    highest continued end; (3) the continued ends of all variants form one group
    (:func:`cluster_values` with ``tolerance``: no gap between them larger than it);
    and no start failed.

    Example:
        >>> result = {"batch": {"final_sse": [1.0, 1.2], "settled_sse": [1.0, 1.1]},
        ...           "sgd": {"final_sse": [1.0, 9.0], "settled_sse": [0.9, 1.05]}}
        >>> claim = spread_claim(result, tolerance=0.2)
        >>> claim["holds"], claim["ratio"]["sgd"], claim["settled_ratio"]["sgd"]
        (True, 9.0, 1.167)
    """

    def ratio(values: list) -> float:
        values = np.asarray([np.nan if v is None else v for v in values], np.float64)
        if values.size == 0 or not np.all(np.isfinite(values)) or values.min() <= 0:
            return float("nan")
        return round(float(values.max() / values.min()), 3)

    def span(key: str) -> dict[str, list[float] | None]:
        out = {}
        for variant, runs in result.items():
            values = [v for v in runs[key] if v is not None]
            out[variant] = [min(values), max(values)] if values else None
        return out

    settled = [v for runs in result.values() for v in runs["settled_sse"] if v is not None]
    groups = len(cluster_values(settled, tolerance))
    claim = {
        "range": span("final_sse"),
        "settled_range": span("settled_sse"),
        "ratio": {v: ratio(r["final_sse"]) for v, r in result.items()},
        "settled_ratio": {v: ratio(r["settled_sse"]) for v, r in result.items()},
        "settled_groups": groups,
        "tolerance": tolerance,
    }
    complete = all(  # every start ended, was continued, and did not fail
        len(r["settled_sse"]) == len(r["final_sse"]) and None not in r["settled_sse"]
        for r in result.values()
    )
    holds = {"batch", "sgd"} <= set(result) and groups == 1 and complete
    if holds:
        before, after = claim["ratio"]["sgd"], claim["settled_ratio"]["sgd"]
        holds = np.isfinite(before) and after < before / 4
        holds = holds and claim["settled_range"]["sgd"][1] <= claim["settled_range"]["batch"][1]
    claim["holds"] = bool(holds)
    return claim
