"""How the bench measures: interleaved medians, ratios, hardware floors, and runs in fresh
processes (the JAX peer, and our loop timed the way the peer is)."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def peak_rss_mb() -> float:
    """The process's peak resident set size so far, MB (ru_maxrss is KiB on Linux)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024.0 if sys.platform != "darwin" else rss / 2**20


def time_call(fn: Callable[[], Any]) -> float:
    """Wall seconds of one call of ``fn``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved_medians(
    fns: dict[str, Callable[[], Any]], repeats: int, inner: int = 1, once: tuple[str, ...] = ()
) -> dict[str, float]:
    """Median seconds of each fn, the fns called in turn ``repeats`` times (no warm-up), so
    that a load spike hits all of them. With ``inner`` > 1 each turn calls its fn ``inner``
    times back to back and counts their median (as the JAX peer times its warm runs), except
    the fns named in ``once`` (e.g. a process of its own: called once a turn)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            calls = 1 if name in once else inner
            times[name].append(statistics.median(time_call(fn) for _ in range(calls)))
    return {name: statistics.median(values) for name, values in times.items()}


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, guarded against a zero timer reading."""
    return numerator / max(denominator, 1e-12)


def matmul_gflops(size: int, repeats: int) -> float:
    """float32 tf.matmul GFLOP/s on size x size matrices (2 * size**3 FLOPs), median."""
    import tensorflow as tf

    a = tf.random.uniform([size, size], dtype=tf.float32)
    b = tf.random.uniform([size, size], dtype=tf.float32)
    tf.matmul(a, b).numpy()  # warm-up: thread pools, kernels
    seconds = interleaved_medians({"mm": lambda: tf.matmul(a, b).numpy()}, repeats)["mm"]
    return 2.0 * size**3 / seconds / 1e9


def copy_bandwidth(num_elements: int, repeats: int) -> dict[str, float]:
    """Copy bandwidth, GB/s counting bytes read + written, of float32 numpy and TF copies:
    ``np.copyto(dst, src)`` and an eager ``x + 0`` (one read, one write)."""
    import tensorflow as tf

    src = np.random.default_rng(0).random(num_elements, dtype=np.float32)
    dst = np.empty_like(src)
    x = tf.constant(src)
    zero = tf.constant(0.0)
    fns = {"numpy": lambda: np.copyto(dst, src), "tf": lambda: (x + zero).numpy()}
    for fn in fns.values():
        fn()
    medians = interleaved_medians(fns, max(repeats, 3))
    moved = 2 * 4 * num_elements
    return {name: moved / seconds / 1e9 for name, seconds in medians.items()}


def first_xla_call() -> None:
    """A trivial XLA computation: starts TensorFlow's XLA:CPU runtime in this process."""
    import tensorflow as tf

    tf.function(lambda v: v + 1.0, jit_compile=True)(tf.constant(1.0)).numpy()


def json_process(argv: list[str], what: str, env: dict[str, str] | None = None) -> dict:
    """Run ``argv``; the JSON object on the last line of its stdout. A failure raises
    RuntimeError naming ``what``, with the end of its stderr."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def own_process(function: str, *args: object) -> dict:
    """``keras_lab.bench.workloads.<function>(*args)`` in a fresh process, as the JAX peer
    runs: its JSON result.

    A process of its own for two reasons: the bench's process is busy with the other
    runners between rounds, which slows a 2 ms loop by ~25%; and the loop runs with ONE
    intra-op thread (TF_NUM_INTRAOP_THREADS, read when TensorFlow starts). With a thread
    per core, XLA:CPU hands a loop body that is not compiled as one function (the
    mini-batch MLP's) to the pool's other thread at every step, and a step's ~100 us of work
    pays the hand-offs (perf: ~30% of the samples in Eigen's ThreadPool steal/park on 2
    cores); one thread trains bit-identical weights (tests/test_bench.py). model.fit and
    the loop without XLA are not faster with one thread, so the bench's own process keeps
    TensorFlow's default.
    """
    call = f"keras_lab.bench.workloads.{function}(*{list(args)!r})"
    code = f"import json, keras_lab.bench.workloads; print(json.dumps({call}))"
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1"}
    return json_process([sys.executable, "-c", code], f"{function} in its own process", env)


def jax_peer(
    workload: str, epochs: int | None = None, samples: int | None = None, shuffle: bool = True
) -> Callable[[], dict] | None:
    """A function that runs the JAX peer (:mod:`keras_lab.bench.jax_peer`) once in its own
    process and returns its JSON, or None when JAX is not installed."""
    if importlib.util.find_spec("jax") is None:
        return None
    argv = [sys.executable, "-m", "keras_lab.bench.jax_peer", "--workload", workload]
    argv += ["--shuffle"] if shuffle else []
    argv += ["--repeats", "3", "--json"]
    if epochs is not None:
        argv += ["--epochs", str(epochs)]
    if samples is not None:
        argv += ["--samples", str(samples)]
    return functools.partial(json_process, argv, "the JAX peer")


def jax_missing_reason(quick: bool) -> str:
    """Why a workload's JSON has no JAX numbers."""
    return "skipped (--quick)" if quick else "not installed (pip install -e '.[bench]')"
