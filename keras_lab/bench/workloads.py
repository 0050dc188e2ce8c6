"""The workloads that time our training loop, each against its baselines in one process.

    w1  stochastic GD on the lecture's 1-2-1 network and 9 points, batch size 1:
        GradientDescent (XLA on and off) vs model.fit(batch_size=1), the lecture's numpy
        listing as printed and backprop.train_sgd; with JAX, the JAX peer.
    w2  mini-batch GD, one epoch of a 1-64-64-1 tanh MLP on sine_data(2**20), batch 256:
        GradientDescent (XLA on and off) vs model.fit, against float32 matmul GFLOP/s;
        with JAX, the JAX peer, shuffled and in order.
    w4  K = 256 starts of SGD on the lecture's network at once
        (keras_lab.experiments.multistart) vs one GradientDescent run.
    w5  whole processes: ``python -m keras_lab.train`` (with and without TensorBoard, at
        2,000 and 20,000 epochs) vs ``python -c "import tensorflow"``.

(w3, the loss functions, is :mod:`keras_lab.bench.losses`.) Each returns a JSON-able dict
with its medians, "ratios" and "targets" (reported, never asserted).
"""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from keras_lab.bench.timing import (
    first_xla_call,
    interleaved_medians,
    jax_missing_reason,
    jax_peer,
    matmul_gflops,
    own_process,
    peak_rss_mb,
    ratio,
    time_call,
)

# Full sizes, then the --quick ones (a smoke run: its time is mostly compiling).
SGD_EPOCHS, SGD_EPOCHS_QUICK = 2000, 20  # the default train run's 2000 epochs of 9 steps
SGD_FIT_EPOCHS, SGD_FIT_EPOCHS_QUICK = 20, 1  # fit is ~1000x slower per step: fewer epochs
SGD_LEARNING_RATE = 0.3  # the lecture listing's alpha (and the JAX peer's)
MLP_SAMPLES, MLP_SAMPLES_QUICK = 1_048_576, 8_192  # 2**20 samples; quick: 32 batches
MLP_BATCH = 256
MLP_HIDDEN = (64, 64)
MLP_LEARNING_RATE = 0.01  # the JAX peer uses the same (jax_peer.WORKLOADS)
MATMUL_SIZE, MATMUL_SIZE_QUICK = 2048, 512
STARTS, STARTS_QUICK = 256, 4  # the compare CLI's default --starts
STARTS_EPOCHS, STARTS_EPOCHS_QUICK = 500, 2  # per timed run
LONG_RUN_EPOCHS = 20_000  # w5: the default train run (2000 epochs), and ten times longer

#: Forward+backward FLOPs per sample of the 1-64-64-1 MLP: 2 per multiply-add forward,
#: backward ~2x forward (input and weight gradients).
MLP_FLOPS_FORMULA = "3 * 2 * (1*64 + 64*64 + 64*1)"
MLP_FLOPS_PER_SAMPLE = 3 * 2 * (1 * 64 + 64 * 64 + 64 * 1)


def lecture_loop(jit_compile: bool):
    """The timed loop of w1: SGD on the lecture's network and 9 points, shuffled."""
    from keras_lab.data import lecture_data
    from keras_lab.engine.loop import GradientDescent
    from keras_lab.models import sine_fit_model

    x, y = lecture_data()
    return GradientDescent(
        sine_fit_model(seed=0), "mse", x, y, batch_size=1,
        learning_rate=SGD_LEARNING_RATE, shuffle=True, jit_compile=jit_compile,
    )  # fmt: skip


def mlp_loop(x: np.ndarray, y: np.ndarray, shuffle: bool, jit_compile: bool):
    """The timed loop of w2: mini-batch GD on the 1-64-64-1 tanh MLP."""
    from keras_lab.engine.loop import GradientDescent
    from keras_lab.models import mlp

    return GradientDescent(
        mlp(hidden=MLP_HIDDEN, activation="tanh", seed=0), "mse", x, y, batch_size=MLP_BATCH,
        learning_rate=MLP_LEARNING_RATE, shuffle=shuffle, seed=0, jit_compile=jit_compile,
    )  # fmt: skip


def mlp_data(num_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """w2's training set: ``num_samples`` noisy points of the sine (float32)."""
    from keras_lab.data import sine_data

    return sine_data(num_samples, noise=0.1, seed=0)


def _ours(make_loop: Callable[[bool], Any], epochs: int) -> tuple[dict, dict]:
    """Our loop with XLA and without ("ours_jit", "ours_nojit"): a function running
    ``epochs`` epochs each, and each one's compile seconds (first epoch minus the second)."""
    loops, compile_s = {}, {}
    for jit in (True, False):
        gd = make_loop(jit)
        first = time_call(lambda gd=gd: gd.run(1))  # trace + compile + 1 epoch
        again = time_call(lambda gd=gd: gd.run(1))
        name = "ours_jit" if jit else "ours_nojit"
        compile_s[name] = max(first - again, 0.0)
        loops[name] = lambda gd=gd: gd.run(epochs)
    return loops, compile_s


def _warm_median(gd: Any, epochs: int, repeats: int) -> dict[str, float]:
    """As the JAX peer times itself: one untimed run, then the median of ``repeats``."""
    gd.run(epochs)
    times = [time_call(lambda: gd.run(epochs)) for _ in range(repeats)]
    return {"warm_median_s": statistics.median(times)}


def w1_warm_median(epochs: int, repeats: int = 3) -> dict[str, float]:
    """w1's XLA loop timed as the JAX peer times itself (run by :func:`own_process`)."""
    return _warm_median(lecture_loop(jit_compile=True), epochs, repeats)


def w2_warm_median(num_samples: int, shuffle: bool, repeats: int = 3) -> dict[str, float]:
    """w2's XLA loop timed as the JAX peer times itself (run by :func:`own_process`)."""
    x, y = mlp_data(num_samples)
    return _warm_median(mlp_loop(x, y, shuffle, jit_compile=True), 1, repeats)


def sgd_lecture(quick: bool, repeats: int) -> dict[str, Any]:
    """w1, stochastic GD on the lecture's network and 9 points, shuffled: us per step.

    Against model.fit, the lecture's numpy listing as printed (keras_lab.lecture.listing),
    backprop.train_sgd (the general dense-stack code, with its checks) and, when JAX is
    installed, the JAX peer (one fresh process per round of the interleaved timing).
    """
    import keras

    from keras_lab.data import lecture_data
    from keras_lab.lecture import backprop, listing
    from keras_lab.models import lecture_random_weights, sine_fit_model

    epochs = SGD_EPOCHS_QUICK if quick else SGD_EPOCHS
    fit_epochs = SGD_FIT_EPOCHS_QUICK if quick else SGD_FIT_EPOCHS
    x, y = lecture_data()
    # XLA's runtime starts with the process's first compilation (as JAX's backend with its
    # first array): timed apart, so that compile_seconds is the loop's own, as JAX's.
    compile_s = {"xla_runtime_start": time_call(first_xla_call)}
    loops, compiles = _ours(lecture_loop, epochs)
    compile_s.update(compiles)

    fit_model = sine_fit_model(seed=0)
    fit_model.compile(optimizer=keras.optimizers.SGD(SGD_LEARNING_RATE), loss="mse")
    fit_kwargs = dict(batch_size=1, shuffle=True, verbose=0)
    fit_model.fit(x, y, epochs=1, **fit_kwargs)  # warm: builds the train function

    layers = lecture_random_weights(0)
    (w1, b1), (w2, b2) = layers
    fns = {
        **loops,
        "fit": lambda: fit_model.fit(x, y, epochs=fit_epochs, **fit_kwargs),
        "listing": lambda: listing.lecture_listing(
            w1, b1, w2, b2.reshape(1), SGD_LEARNING_RATE, epochs
        ),
        "train_sgd": lambda: backprop.train_sgd(
            layers, ("sigmoid", "linear"), x, y, SGD_LEARNING_RATE, epochs
        ),
    }
    jax_runs: list[dict] = []
    own_runs: list[dict] = []
    peer = jax_peer("w1", epochs) if not quick else None
    if peer is not None:
        fns["jax"] = lambda: jax_runs.append(peer())
        # ours timed exactly as the peer is: a fresh process per round, 3 warm runs
        fns["ours_jit_process"] = lambda: own_runs.append(own_process("w1_warm_median", epochs))
    # each round: the median of 3 back-to-back calls (the peer's --repeats 3, in its process)
    medians = interleaved_medians(fns, repeats, inner=3, once=("jax", "ours_jit_process"))
    if jax_runs:  # the peer's own warm median per round (its process start is not timed)
        medians["jax"] = statistics.median(r["warm_median_s"] for r in jax_runs)
        compile_s["jax"] = statistics.median(r["compile_s"] for r in jax_runs)
        medians["ours_jit_process"] = statistics.median(r["warm_median_s"] for r in own_runs)
    steps = {name: len(x) * (fit_epochs if name == "fit" else epochs) for name in medians}
    us_per_step = {name: 1e6 * medians[name] / steps[name] for name in medians}
    best = min(us_per_step["ours_jit"], us_per_step["ours_nojit"])
    ratios = {
        f"{name}_over_ours_{mode}": ratio(us_per_step[name], us_per_step[f"ours_{mode}"])
        for name in ("fit", "listing", "train_sgd")
        for mode in ("jit", "nojit")
    }
    targets = {
        "fit_over_ours>=100": ratio(us_per_step["fit"], best) >= 100,
        "listing_over_ours>=1": ratio(us_per_step["listing"], best) >= 1,
    }
    if "jax" in us_per_step:
        ratios["ours_jit_over_jax"] = ratio(us_per_step["ours_jit"], us_per_step["jax"])
        like_for_like = ratio(us_per_step["ours_jit_process"], us_per_step["jax"])
        ratios["ours_jit_process_over_jax"] = like_for_like
        ratios["ours_jit_compile_over_jax"] = ratio(compile_s["ours_jit"], compile_s["jax"])
        # the target on the like-for-like pair: both timed in their own process, warm
        targets["ours_over_jax<=1.5"] = like_for_like <= 1.5
        targets["compile<1s"] = compile_s["ours_jit"] < 1.0
    return {
        "description": "SGD, lecture 1-2-1 sigmoid net, 9 points, batch 1, mse, shuffled",
        "epochs": {"ours": epochs, "listing": epochs, "train_sgd": epochs, "fit": fit_epochs},
        "jax": "measured" if "jax" in medians else jax_missing_reason(quick),
        "median_seconds": medians,
        "us_per_step": us_per_step,
        "compile_seconds": compile_s,
        "ratios": ratios,
        "targets": targets,
        "peak_rss_mb": peak_rss_mb(),
    }


def minibatch_mlp(quick: bool, repeats: int) -> dict[str, Any]:
    """w2, mini-batch GD, one epoch of the 1-64-64-1 MLP: samples per second, vs fit and
    float32 matmul; with JAX, the peer against our loop in a process of its own, shuffled
    and in order."""
    import keras

    from keras_lab.models import mlp

    num_samples = MLP_SAMPLES_QUICK if quick else MLP_SAMPLES
    x, y = mlp_data(num_samples)
    loops, compile_s = _ours(lambda jit: mlp_loop(x, y, True, jit), 1)

    fit_model = mlp(hidden=MLP_HIDDEN, activation="tanh", seed=0)
    fit_model.compile(optimizer=keras.optimizers.SGD(MLP_LEARNING_RATE), loss="mse")
    fit_kwargs = dict(batch_size=MLP_BATCH, shuffle=True, verbose=0)
    fit_model.fit(x[: 4 * MLP_BATCH], y[: 4 * MLP_BATCH], epochs=1, **fit_kwargs)  # warm
    fns = {**loops, "fit": lambda: fit_model.fit(x, y, epochs=1, **fit_kwargs)}
    # the like-for-like pairs, shuffled and in order: each a fresh process per round
    # reporting its median of 3 warm epochs (ours: own_process, one intra-op thread)
    processes: dict[str, list[dict]] = {}
    for shuffle in (True, False):
        peer = jax_peer("w2", samples=num_samples, shuffle=shuffle) if not quick else None
        if peer is None:
            break
        suffix = "" if shuffle else "_in_order"
        own = functools.partial(own_process, "w2_warm_median", num_samples, shuffle)
        for name, run in ((f"jax{suffix}", peer), (f"ours_jit_process{suffix}", own)):
            processes[name] = []
            fns[name] = lambda run=run, runs=processes[name]: runs.append(run())
    medians = interleaved_medians(fns, repeats)
    for name, runs in processes.items():  # their own warm medians (process start not timed)
        medians[name] = statistics.median(r["warm_median_s"] for r in runs)

    gflops = matmul_gflops(MATMUL_SIZE_QUICK if quick else MATMUL_SIZE, repeats)
    samples_per_s = {name: num_samples / seconds for name, seconds in medians.items()}
    loop_gflops = {name: rate * MLP_FLOPS_PER_SAMPLE / 1e9 for name, rate in samples_per_s.items()}
    ours = [n for n in samples_per_s if n.startswith("ours") and not n.endswith("_in_order")]
    best = max(samples_per_s[n] for n in ours)  # shuffled, as fit
    ratios = {f"{n}_over_fit": ratio(samples_per_s[n], samples_per_s["fit"]) for n in ours}
    targets = {"ours_over_fit>=10": ratio(best, samples_per_s["fit"]) >= 10}
    if processes:
        ratios["jax_over_ours_jit"] = ratio(samples_per_s["jax"], samples_per_s["ours_jit"])
        for suffix in ("", "_in_order"):
            like_for_like = ratio(
                samples_per_s[f"jax{suffix}"], samples_per_s[f"ours_jit_process{suffix}"]
            )
            ratios[f"jax_over_ours_jit_process{suffix}"] = like_for_like
            targets[f"jax_over_ours{suffix}<=1.1"] = like_for_like <= 1.1
    return {
        "description": f"mini-batch GD, MLP 1-64-64-1 tanh, batch {MLP_BATCH}, mse, one epoch",
        "samples": num_samples,
        "median_seconds": medians,
        "samples_per_second": samples_per_s,
        "compile_seconds": compile_s,
        "flops_per_sample_formula": MLP_FLOPS_FORMULA,
        "flops_per_sample": MLP_FLOPS_PER_SAMPLE,
        "loop_gflops": loop_gflops,
        "matmul_size": MATMUL_SIZE_QUICK if quick else MATMUL_SIZE,
        "matmul_gflops": gflops,
        "fraction_of_matmul": {name: ratio(rate, gflops) for name, rate in loop_gflops.items()},
        "jax": "measured" if processes else jax_missing_reason(quick),
        "ratios": ratios,
        "targets": targets,
        "peak_rss_mb": peak_rss_mb(),
    }


def bench_multistart(
    x: np.ndarray,
    y: np.ndarray,
    num_starts: int = 256,
    num_epochs: int = 500,
    variant: str = "sgd",
    batch_size: int = 3,
    learning_rate: float = 0.3,
    repeats: int = 5,
    jit_compile: bool = True,
) -> dict:
    """Wall time of K starts at once vs one GradientDescent run, same process, interleaved.

    Three runners are timed, each twice per repeat: the first call (tracing and
    compilation included, what a user waits for) and a second call of the same length
    (steady state): one GradientDescent run (start 0), K starts sharing one shuffling seed
    (what the compare CLI runs), and K starts each shuffling with its own seed (start i
    then equals the train CLI's run with --seed i). Reports medians over ``repeats`` and
    the ratios K-start / single.
    """
    from keras_lab import models
    from keras_lab.config import variant_batch_size
    from keras_lab.engine.loop import GradientDescent
    from keras_lab.experiments.multistart import MultiStartGD

    batch_size = variant_batch_size(variant, len(x), batch_size)
    names = ("single", "shared", "per_start")
    times: dict[str, list[float]] = {f"{n}{w}": [] for n in names for w in ("", "_warm")}
    for _ in range(repeats):
        runners = {
            "single": GradientDescent(
                models.sine_fit_model(seed=0),
                "mse",
                x,
                y,
                batch_size=batch_size,
                learning_rate=learning_rate,
                jit_compile=jit_compile,
            ),  # fmt: skip
            "shared": MultiStartGD(
                x,
                y,
                range(num_starts),
                batch_size,
                learning_rate,
                shuffle_seed=0,
                jit_compile=jit_compile,
            ),
            "per_start": MultiStartGD(
                x, y, range(num_starts), batch_size, learning_rate, jit_compile=jit_compile
            ),
        }
        for name, runner in runners.items():
            for key in (name, f"{name}_warm"):
                started = time.perf_counter()
                runner.run(num_epochs)
                times[key].append(time.perf_counter() - started)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "variant": variant,
        "batch_size": batch_size,
        "starts": num_starts,
        "epochs": num_epochs,
        "repeats": repeats,
        "jit": jit_compile,
        "seconds_median": med,
        "ratio_first_call": {n: med[n] / med["single"] for n in names[1:]},
        "ratio_steady": {n: med[f"{n}_warm"] / med["single_warm"] for n in names[1:]},
    }


def k_starts(quick: bool, repeats: int) -> dict[str, Any]:
    """w4, K starts at once vs one run: :func:`bench_multistart`, SGD, XLA."""
    from keras_lab.data import lecture_data

    x, y = lecture_data()
    result = bench_multistart(
        x, y,
        num_starts=STARTS_QUICK if quick else STARTS,
        num_epochs=STARTS_EPOCHS_QUICK if quick else STARTS_EPOCHS,
        variant="sgd", repeats=1 if quick else repeats,
        jit_compile=not quick,  # quick: no XLA compiles (a smoke run; "jit" in the JSON)
    )  # fmt: skip
    steady = result["ratio_steady"]["shared"]
    return {
        "description": (
            f"{result['starts']} starts of SGD on the lecture's net at once vs one run, "
            f"{result['epochs']} epochs per timed call"
        ),
        **result,
        "ratios": {
            "kstart_over_single_first_call": result["ratio_first_call"]["shared"],
            "kstart_over_single_steady": steady,
            "kstart_own_shuffle_over_single_steady": result["ratio_steady"]["per_start"],
        },
        "targets": {"kstart_steady_over_single<20": steady < 20},
        "peak_rss_mb": peak_rss_mb(),
    }


def whole_processes(quick: bool, repeats: int) -> dict[str, Any]:
    """w5, end to end, as a user runs it: whole processes (imports, compilation, TensorBoard,
    figures, checkpoints), interleaved: ``python -c "import tensorflow"``, the default
    ``python -m keras_lab.train`` with and without TensorBoard, and the same at 20,000
    epochs. Skipped with --quick (a round takes about a minute)."""
    if quick:
        return {"skipped": "--quick (whole processes: about a minute a round)", "targets": {}}

    def process(*argv: str) -> Callable[[], None]:
        def run() -> None:
            with tempfile.TemporaryDirectory() as scratch:
                args = [a.replace("{logdir}", os.path.join(scratch, "run")) for a in argv]
                done = subprocess.run(
                    [sys.executable, *args], capture_output=True, text=True, timeout=900
                )
                if done.returncode != 0:
                    raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-300:]}")

        return run

    train = ("-m", "keras_lab.train", "--logdir", "{logdir}")
    long = (*train, "--epochs", str(LONG_RUN_EPOCHS))
    fns = {
        "import_tensorflow": process("-c", "import tensorflow"),
        "train": process(*train),
        "train_no_tensorboard": process(*train, "--no-tensorboard"),
        "train_20000": process(*long),
        "train_20000_no_tensorboard": process(*long, "--no-tensorboard"),
    }
    medians = interleaved_medians(fns, repeats)
    ratios = {
        "train_over_import_tensorflow": ratio(medians["train"], medians["import_tensorflow"]),
        "tensorboard_cost_2000": ratio(medians["train"], medians["train_no_tensorboard"]),
        "tensorboard_cost_20000": ratio(
            medians["train_20000"], medians["train_20000_no_tensorboard"]
        ),
    }
    return {
        "description": "whole processes: python -m keras_lab.train vs importing TensorFlow",
        "median_seconds": medians,
        "ratios": ratios,
        "targets": {
            "train_over_import<=1.3": ratios["train_over_import_tensorflow"] <= 1.3,
            "tensorboard_cost_2000<=1.2": ratios["tensorboard_cost_2000"] <= 1.2,
            "tensorboard_cost_20000<=1.2": ratios["tensorboard_cost_20000"] <= 1.2,
        },
        "peak_rss_mb": peak_rss_mb(),
    }
