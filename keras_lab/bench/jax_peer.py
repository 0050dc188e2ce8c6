"""The bench's w1 and w2 in JAX: the loop a performance-minded user would write instead.

``python -m keras_lab.bench.jax_peer --workload w1|w2 [--shuffle] [--repeats N] [--json]`` runs
one workload in its own process (the bench starts it; no TensorFlow is imported here) and
prints the compile time and the median of the warm runs.

    w1  SGD (batch 1) on the lecture's 9 points, 1-2-1 network (sigmoid, linear), MSE,
        learning rate 0.3, 2000 epochs (18,000 steps), from the lecture's worked-example start.
    w2  one epoch of mini-batch GD on sine_data(2**20), MLP 1-64-64-1 (tanh, tanh,
        linear), MSE, batch 256, learning rate 0.01, Glorot-uniform start (seeded).

Both are one ``jax.jit`` of a ``lax.while_loop`` over epochs around a ``lax.while_loop``
over batches of plain arrays (``theta <- theta - eta * grad``), with the features our loop
has: a finite guard that stops at the first step whose loss or gradient norm is NaN or inf
(its update is not applied), the global gradient norm (epoch mean) and the per-epoch loss
(mean over samples). With ``--shuffle`` every epoch visits the samples in the order of
:mod:`keras_lab.lecture.order` (the same integer Feistel permutation as ours, computed inside the
compiled function); without, in order.

Exit codes: 0 done; 2 bad flags or JAX not installed (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_lab import checks
from keras_lab._cli import OneLineErrorParser, add_flags, parse_settings, required
from keras_lab.config import setting
from keras_lab.data import lecture_data, sine_data
from keras_lab.lecture import order
from keras_lab.lecture.backprop import LECTURE_WEIGHTS

try:
    import jax
    import jax.numpy as jnp
except ImportError:  # the bench reports "JAX not installed" and times the rest
    jax = jnp = None

Params = list  # [(kernel, bias), ...] in Keras layout: kernel (fan_in, fan_out), bias (fan_out,)

#: The workloads: layer sizes, activations, batch size, learning rate and default size.
WORKLOADS: dict[str, dict[str, Any]] = {
    "w1": dict(sizes=(1, 2, 1), activations=("sigmoid", "linear"), batch_size=1,
               learning_rate=0.3, epochs=2000, samples=9, permute_epoch=False),
    "w2": dict(sizes=(1, 64, 64, 1), activations=("tanh", "tanh", "linear"),
               batch_size=256, learning_rate=0.01, epochs=1, samples=2**20, permute_epoch=True),
}  # fmt: skip


def require_jax() -> None:
    """Raise ImportError with one line saying so when JAX is missing."""
    if jax is None:
        raise ImportError("JAX is not installed (pip install jax); the JAX peer cannot run")


def jax_epoch_order(num_samples: int, seed: Any, epoch: Any) -> Any:
    """:func:`~keras_lab.lecture.order.epoch_order`
    in jax.numpy, jit-able (seed, epoch may be traced).

    Bit-identical to the numpy reference: the same uint32 operations, with static shapes
    (the walked chains are masked instead of selected).
    """
    require_jax()
    n = num_samples
    keys = order.round_keys(_uint32(seed), _uint32(_high_word(seed)), _uint32(epoch))
    visit = order.feistel(jnp.arange(n, dtype=jnp.uint32), n, keys, jnp.where)
    a, b = order.grid(n)
    if a * b > n:  # static: some values of the grid lie outside [0, n)
        outside = jnp.arange(n, a * b, dtype=jnp.uint32)
        entered = order.feistel(outside, n, keys, jnp.where, inverse=True)
        walking = lambda e: (e >= n) & (entered < n)  # noqa: E731
        exits = jax.lax.while_loop(
            lambda e: jnp.any(walking(e)),
            lambda e: jnp.where(walking(e), order.feistel(e, n, keys, jnp.where), e),
            order.feistel(outside, n, keys, jnp.where),
        )
        at = jnp.where(entered < n, entered, n).astype(jnp.int32)  # n: dropped
        visit = visit.at[at].set(exits, mode="drop")
    return visit.astype(jnp.int32)


def _high_word(value: Any) -> Any:
    """seed // 2^32 for a Python integer; 0 for a traced one (JAX's 32-bit integers)."""
    return int(value) >> 32 if isinstance(value, (int, np.integer)) else 0


def _uint32(value: Any) -> Any:
    """An integer (Python or traced) mod 2^32 as uint32, as keras_lab.lecture.order takes it."""
    if isinstance(value, (int, np.integer)):
        return jnp.uint32(int(value) & 0xFFFFFFFF)
    return jnp.asarray(value).astype(jnp.uint32)  # int32/int64 -> low 32 bits


def predict(params: Params, activations: Sequence[str], x: Any) -> Any:
    """The MLP's output for x of shape (batch, fan_in): y = f(x @ kernel + bias) per layer."""
    y = x
    for (kernel, bias), name in zip(params, activations):
        n = y @ kernel + bias
        y = jax.nn.sigmoid(n) if name == "sigmoid" else jnp.tanh(n) if name == "tanh" else n
    return y


def make_train(
    activations: Sequence[str],
    num_samples: int,
    batch_size: int,
    num_epochs: int,
    shuffle: bool,
    permute_epoch: bool = False,
) -> Callable:
    """The jitted run: ``train(params, x, y, learning_rate, seed, first_epoch)``.

    Batches are gathered by their indices, or with ``permute_epoch`` sliced from the
    epoch's samples gathered once in visiting order (measured faster for w2's batches of
    256; slower for w1's batches of 1).

    Returns (params, steps, failed_step, loss_log, norm_log): the trained weights, the
    number of updates applied, -1 or the 0-based global step whose loss or gradient was not
    finite (not applied; the run stopped there), and per epoch the mean loss over samples
    and the mean global gradient norm over steps (epochs not run stay 0).
    """
    require_jax()
    activations = tuple(activations)
    num_full, remainder = divmod(num_samples, batch_size)
    steps_per_epoch = num_full + (1 if remainder else 0)

    def loss_fn(params: Params, x_batch: Any, y_batch: Any) -> Any:
        return jnp.mean((y_batch - predict(params, activations, x_batch)) ** 2)

    value_and_grad = jax.value_and_grad(loss_fn)

    def step(carry: tuple, x_batch: Any, y_batch: Any, learning_rate: Any) -> tuple:
        params, steps, failed, loss_sum, norm_sum = carry
        loss, grads = value_and_grad(params, x_batch, y_batch)
        leaves = jax.tree_util.tree_leaves(grads)
        norm = jnp.sqrt(sum(jnp.sum(g * g) for g in leaves))
        ok = jnp.isfinite(loss) & jnp.isfinite(norm)
        params = jax.tree_util.tree_map(
            lambda p, g: jnp.where(ok, p - learning_rate * g, p), params, grads
        )  # the update rule, skipped at a non-finite step
        failed = jnp.where(ok, failed, steps)
        size = x_batch.shape[0]
        return params, steps + ok, failed, loss_sum + loss * size, norm_sum + norm

    def train(params: Params, x: Any, y: Any, learning_rate: Any, seed: Any, first_epoch: Any):
        dtype = x.dtype
        if shuffle:  # every epoch's order at once: one vectorised cycle walk
            epochs = first_epoch + jnp.arange(num_epochs, dtype=jnp.int32)
            orders = jax.vmap(lambda e: jax_epoch_order(num_samples, seed, e))(epochs)

        def epoch_body(state: tuple) -> tuple:
            epoch, params, steps, failed, loss_log, norm_log = state
            zero = jnp.zeros((), dtype)
            visit = orders[epoch] if shuffle else jnp.arange(num_samples, dtype=jnp.int32)
            if permute_epoch:  # the epoch's samples in visiting order, then contiguous batches
                x_epoch, y_epoch = (x[visit], y[visit]) if shuffle else (x, y)

            def batch_body(inner: tuple) -> tuple:
                b, carry = inner
                start = b * batch_size
                if not permute_epoch:  # gather each batch by its indices
                    index = jax.lax.dynamic_slice_in_dim(visit, start, batch_size)
                    return b + 1, step(carry, x[index], y[index], learning_rate)
                x_batch = jax.lax.dynamic_slice_in_dim(x_epoch, start, batch_size)
                y_batch = jax.lax.dynamic_slice_in_dim(y_epoch, start, batch_size)
                return b + 1, step(carry, x_batch, y_batch, learning_rate)

            _, carry = jax.lax.while_loop(
                lambda inner: (inner[0] < num_full) & (inner[1][2] < 0),
                batch_body,
                (0, (params, steps, failed, zero, zero)),
            )
            if remainder:  # static: the last, smaller batch
                index = visit[num_full * batch_size :]
                carry = jax.lax.cond(
                    carry[2] < 0,
                    lambda c: step(c, x[index], y[index], learning_rate),
                    lambda c: c,
                    carry,
                )
            params, steps, failed, loss_sum, norm_sum = carry
            loss_log = loss_log.at[epoch].set(loss_sum / num_samples)
            norm_log = norm_log.at[epoch].set(norm_sum / steps_per_epoch)
            return epoch + 1, params, steps, failed, loss_log, norm_log

        logs = jnp.zeros(num_epochs, dtype)
        state = (0, params, jnp.int32(0), jnp.int32(-1), logs, logs)
        _, params, steps, failed, loss_log, norm_log = jax.lax.while_loop(
            lambda s: (s[0] < num_epochs) & (s[3] < 0), epoch_body, state
        )
        return params, steps, failed, loss_log, norm_log

    return jax.jit(train)


def start_params(workload: str, seed: int = 0, dtype: str = "float32") -> Params:
    """The start: w1 the lecture's worked-example weights; w2 Glorot-uniform, zero biases.

    Example:
        >>> [(k.shape, b.shape) for k, b in start_params("w1")]
        [((1, 2), (2,)), ((2, 1), (1,))]
    """
    if workload == "w1":
        return [(w.T.astype(dtype), b.reshape(-1).astype(dtype)) for w, b in LECTURE_WEIGHTS]
    sizes = WORKLOADS[workload]["sizes"]
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        kernel = rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype)
        params.append((kernel, np.zeros(fan_out, dtype)))
    return params


def workload_data(workload: str, num_samples: int, dtype: str = "float32") -> tuple:
    """(x, y) of shape (n, 1): w1 the lecture's 9 points, w2 sine_data(n, seed=0)."""
    if workload == "w1":
        return lecture_data(dtype)
    return sine_data(num_samples, seed=0, dtype=dtype)


def time_workload(
    workload: str,
    shuffle: bool,
    repeats: int,
    epochs: int | None = None,
    samples: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Compile once (timed), run once untimed, then ``repeats`` timed runs; the numbers."""
    require_jax()
    spec = WORKLOADS[workload]
    epochs = spec["epochs"] if epochs is None else epochs
    samples = spec["samples"] if workload == "w1" or samples is None else samples
    x, y = (jnp.asarray(a) for a in workload_data(workload, samples))
    params = jax.tree_util.tree_map(jnp.asarray, start_params(workload, seed))
    args = (params, x, y, jnp.float32(spec["learning_rate"]), jnp.int32(seed), jnp.int32(0))
    train = make_train(
        spec["activations"], samples, spec["batch_size"], epochs, shuffle, spec["permute_epoch"]
    )

    start = time.perf_counter()
    compiled = train.lower(*args).compile()
    compile_s = time.perf_counter() - start

    def run() -> tuple:
        return jax.block_until_ready(compiled(*args))

    out = run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    _, steps, failed, loss_log, _ = out
    steps_per_epoch = -(-samples // spec["batch_size"])
    return {
        "workload": workload,
        "framework": "jax",
        "jax_version": jax.__version__,
        "shuffle": shuffle,
        "dtype": "float32",
        "samples": samples,
        "batch_size": spec["batch_size"],
        "epochs": epochs,
        "steps": epochs * steps_per_epoch,
        "steps_applied": int(steps),
        "failed_step": int(failed),
        "final_epoch_loss": float(loss_log[-1]),
        "repeats": repeats,
        "compile_s": compile_s,
        "warm_median_s": statistics.median(times),
        "warm_s": times,
    }


@dataclass(frozen=True)
class PeerSettings:
    """One timed run of the peer."""

    workload: str = required(
        "w1: SGD on the lecture's net; w2: one epoch of the mini-batch MLP",
        default="w1",
        choices=tuple(WORKLOADS),
    )
    shuffle: bool = setting(False, "visit the samples in keras_lab.lecture.order's order")
    repeats: int = setting(7, "timed warm runs")
    epochs: int | None = setting(None, "none: w1 2000, w2 1")
    samples: int | None = setting(None, "w2 only; none: 2**20")

    def __post_init__(self) -> None:
        checks.integer("repeats", self.repeats, minimum=1)
        for name in ("epochs", "samples"):
            if getattr(self, name) is not None:
                checks.integer(name, getattr(self, name), minimum=1)


def build_parser() -> argparse.ArgumentParser:
    """One flag per PeerSettings field, and --json."""
    parser = OneLineErrorParser(
        prog="python -m keras_lab.bench.jax_peer",
        description="Time the JAX equivalent of the bench's w1 or w2 (compile + warm median).",
    )
    add_flags(parser, PeerSettings)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m keras_lab.bench.jax_peer --workload w1|w2 [--shuffle] [--repeats N]``."""
    parser = build_parser()
    settings, args = parse_settings(parser, PeerSettings, argv)
    if jax is None:
        parser.exit(2, f"{parser.prog}: error: JAX is not installed (pip install jax)\n")
    result = time_workload(
        settings.workload, settings.shuffle, settings.repeats, settings.epochs, settings.samples
    )
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"JAX {result['jax_version']} {settings.workload}"
            f"{' shuffled' if settings.shuffle else ''}: {result['steps']} steps, compile "
            f"{result['compile_s']:.3f} s, warm median {result['warm_median_s'] * 1e3:.3f} ms "
            f"over {settings.repeats} runs, last epoch loss {result['final_epoch_loss']:.6g}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
