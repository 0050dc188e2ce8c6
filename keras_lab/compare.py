"""``python -m keras_lab.compare``: the three GD variants side by side, as figures and numbers.

The lecture's "Comparison" slide: batch, stochastic and mini-batch GD head for the
minimum along different paths, "SGD direction is very noisy compared to mini-batch", and
SGD's fluctuation "enables it to jump to new and potentially better local minima". This
CLI makes that visible and measurable:

    loss_vs_epoch.png     each variant from the same start on the same problem, SSE over
    loss_vs_samples.png   the training set against epochs, samples processed (per-sample
    loss_vs_time.png      gradient evaluations) and wall-clock seconds (compilation excluded)
    trajectory.png        a two-parameter problem (linear regression y = w p + b on points
                          of the sine set): the loss contours and each variant's path
    multistart.png        K seeded random starts of the sine-fit network per variant,
                          trained at once (keras_lab.multistart): where the K runs end,
                          and how many reached each local minimum

``--json`` prints the histories, final losses, paths and clusters as one JSON object;
``--bench`` times the K-start run against one single run (median of --bench-repeats).

Exit codes: 0 done; 2 bad flags (one line on stderr, nothing written).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from keras_lab._cli import OneLineErrorParser, import_tensorflow

VARIANTS: tuple[str, ...] = ("batch", "sgd", "minibatch")  # as keras_lab.gd.VARIANTS


@dataclass(frozen=True)
class CompareConfig:
    """Every setting of a comparison. Defaults: the lecture's problem and network."""

    dataset: str = "lecture"  # lecture (its 9 points) | sine (--samples points of g)
    samples: int = 200  # size of the sine set
    noise: float = 0.0  # sine: target noise std
    epochs: int = 2000  # passes over the data, every variant
    lr: float = 0.3  # alpha, the lecture listing's learning rate, every variant
    batch_size: int = 3  # mini-batch size (3 of the lecture's 9 points)
    seed: int = 0  # the shared start (sine_fit_model(seed)) and the shuffling
    dtype: str = "float32"  # float32 | float64
    jit: bool = True  # compile the loops with XLA
    points: int = 100  # loss measured over the whole set at this many points per run
    trajectory_updates: int = 100  # updates per variant on the two-parameter problem
    trajectory_lr: float = 0.05  # learning rate on the two-parameter problem
    trajectory_batch_size: int = 8  # its mini-batch size (of 64 points)
    starts: int = 256  # K random starts per variant; 0: no multi-start figure
    starts_epochs: int = 2000  # epochs of the multi-start runs
    cluster_tolerance: float = 1e-3  # final SSEs closer than this: the same minimum
    logdir: str = ""  # "" -> runs/<time>-compare
    svg: bool = False  # also write each figure as SVG


def validate(config: CompareConfig) -> None:
    """Raise ValueError naming the first bad setting."""

    def positive_int(name: str, minimum: int = 1) -> None:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(
                f"{name.replace('_', '-')} must be an integer >= {minimum}, got {value!r}"
            )

    def positive_float(name: str, allow_zero: bool = False) -> None:
        value = getattr(config, name)
        ok = isinstance(value, (int, float)) and np.isfinite(value)
        ok = ok and (value >= 0 if allow_zero else value > 0)
        if not ok:
            bound = ">= 0" if allow_zero else "> 0"
            raise ValueError(
                f"{name.replace('_', '-')} must be a finite number {bound}, got {value!r}"
            )

    if config.dataset not in ("lecture", "sine"):
        raise ValueError(f"dataset must be 'lecture' or 'sine', got {config.dataset!r}")
    if config.dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {config.dtype!r}")
    for name in (
        "samples",
        "epochs",
        "batch_size",
        "points",
        "trajectory_updates",
        "trajectory_batch_size",
        "starts_epochs",
    ):
        positive_int(name)
    positive_int("starts", minimum=0)
    positive_float("lr")
    positive_float("trajectory_lr")
    positive_float("noise", allow_zero=True)
    positive_float("cluster_tolerance", allow_zero=True)
    num_samples = 9 if config.dataset == "lecture" else config.samples
    if config.batch_size > num_samples:
        raise ValueError(
            f"batch-size must be at most the {num_samples} samples, got {config.batch_size}"
        )
    if config.trajectory_batch_size > TRAJECTORY_SAMPLES:
        raise ValueError(
            f"trajectory-batch-size must be at most {TRAJECTORY_SAMPLES}, "
            f"got {config.trajectory_batch_size}"
        )


def build_data(config: CompareConfig) -> tuple[np.ndarray, np.ndarray]:
    from keras_lab import data

    if config.dataset == "lecture":
        return data.lecture_data(config.dtype)
    return data.sine_data(config.samples, noise=config.noise, seed=config.seed, dtype=config.dtype)


# ----------------------------------------------------------------------------- (1) curves
@dataclass
class VariantHistory:
    """One variant's run: the loss over the whole training set at measuring points.

    epochs, samples (per-sample gradient evaluations), updates and seconds (wall clock of
    compiled training alone: epochs times the measured time per epoch) locate each point;
    sse is the loss there (the lecture's SSE over the training set); epoch_loss is
    GradientDescent's per-epoch loss (mean squared error of the batches, epoch average).
    """

    variant: str
    batch_size: int
    epochs: list[int]
    samples: list[int]
    updates: list[int]
    seconds: list[float]
    sse: list[float]
    epoch_loss: list[float]
    final_sse: float
    weights: list


def _sse(model, x: np.ndarray, y: np.ndarray) -> float:
    """SSE over (x, y), in numpy from the weights (an eager Keras call costs milliseconds)."""
    from keras_lab import backprop, models

    layers = models.get_lecture_weights(model)
    y_pred = backprop.predict(layers, ["sigmoid", "linear"], np.asarray(x, np.float64).T)
    return float(np.sum((np.asarray(y, np.float64).T - y_pred) ** 2))


def run_variant(
    variant: str, x: np.ndarray, y: np.ndarray, config: CompareConfig
) -> VariantHistory:
    """Train the sine-fit network from seed ``config.seed`` with one variant, measuring.

    The first epoch runs alone (it pays the tracing and XLA compilation), the rest in
    ``config.points`` chunks; after each, the SSE over the training set. Then the same
    number of epochs runs again in one call, timed: seconds = epoch * time per epoch.

    Example (batch GD, 3 epochs, measured after each):
        >>> x, y = build_data(CompareConfig())
        >>> h = run_variant("batch", x, y, CompareConfig(epochs=3, points=3, jit=False))
        >>> h.epochs, h.samples, h.updates
        ([0, 1, 2, 3], [0, 9, 18, 27], [0, 1, 2, 3])
    """
    from keras_lab import models
    from keras_lab.gd import GradientDescent, variant_batch_size

    model = models.sine_fit_model(seed=config.seed, dtype=config.dtype)
    batch_size = variant_batch_size(variant, len(x), config.batch_size)
    gd = GradientDescent(
        model, "mse", x, y, batch_size, config.lr, seed=config.seed, jit_compile=config.jit
    )
    n = len(x)
    epochs, sse = [0], [_sse(model, x, y)]
    epoch_loss = list(gd.run(1).loss)  # compiles
    epochs.append(1)
    sse.append(_sse(model, x, y))
    remaining = config.epochs - 1
    chunks = max(1, min(config.points - 1, remaining))
    bounds = np.linspace(0, remaining, chunks + 1).round().astype(int)
    for todo in np.diff(bounds):
        if todo == 0:
            continue
        epoch_loss.extend(gd.run(int(todo)).loss.tolist())
        epochs.append(epochs[-1] + int(todo))
        sse.append(_sse(model, x, y))
    weights = [{"W": w.tolist(), "b": b.tolist()} for w, b in models.get_lecture_weights(model)]
    # Wall clock: the chunked run above pays a Python call and an SSE per point, which
    # would swamp a 25-us epoch. So time the same number of epochs again, uninterrupted
    # (the cost of an epoch does not depend on the weights), and spread it evenly.
    started = time.perf_counter()
    gd.run(config.epochs)
    per_epoch = (time.perf_counter() - started) / config.epochs
    return VariantHistory(
        variant=variant,
        batch_size=batch_size,
        epochs=epochs,
        samples=[e * n for e in epochs],
        updates=[e * gd.steps_per_epoch for e in epochs],
        seconds=[e * per_epoch for e in epochs],
        sse=sse,
        epoch_loss=[float(v) for v in epoch_loss],
        final_sse=sse[-1],
        weights=weights,
    )


# ----------------------------------------------------------------------------- (2) trajectory
TRAJECTORY_SAMPLES = 64  # points of the sine set for the two-parameter problem
TRAJECTORY_NOISE = 0.2  # target noise std: per-sample gradients disagree, as on real data
TRAJECTORY_START = (-1.0, -0.5)  # (w, b): far enough from the minimum to show the paths


@dataclass
class Trajectory:
    """(w, b) after every update, and the loss there, for one variant."""

    variant: str
    batch_size: int
    path: np.ndarray  # (updates + 1, 2)
    loss: np.ndarray  # (updates + 1,) mean squared error over all samples


def trajectory_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The two-parameter problem's data: 64 points of the sine set, as vectors.

    p is drawn from [-1, 3] rather than [-2, 2]: its mean is not 0, so w and b are
    correlated and the loss contours are elongated ellipses, as in the lecture's graph.
    """
    from keras_lab.data import sine_data

    x, y = sine_data(
        TRAJECTORY_SAMPLES, noise=TRAJECTORY_NOISE, seed=seed, low=-1.0, high=3.0, dtype="float64"
    )
    return x[:, 0], y[:, 0]


def linear_mse(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """J(w, b) = mean_q (w x_q + b - y_q)^2, broadcast over arrays of w and b."""
    w, b = np.asarray(w, np.float64)[..., None], np.asarray(b, np.float64)[..., None]
    return np.mean((w * x + b - y) ** 2, axis=-1)


def linear_trajectory(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    learning_rate: float,
    num_updates: int,
    start: tuple[float, float] = TRAJECTORY_START,
    seed: int = 0,
) -> np.ndarray:
    """GD on y = w x + b with the mean squared error: (w, b) after each update.

    The gradient, written out: with e_q = w x_q + b - y_q over the batch B,
    dJ/dw = 2 mean_B(e_q x_q), dJ/db = 2 mean_B(e_q); then theta <- theta - eta * grad.
    Batches as GradientDescent makes them: the samples in a fresh permutation each epoch
    (numpy, seeded), cut into batch_size pieces, the last one smaller.

    Example (batch GD on two points, one update from (0, 0)):
        >>> linear_trajectory(np.array([0.0, 1.0]), np.array([1.0, 3.0]), 2, 0.25, 1,
        ...                   start=(0.0, 0.0)).tolist()
        [[0.0, 0.0], [0.75, 1.0]]
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if not 1 <= batch_size <= len(x):
        raise ValueError(f"batch_size must be between 1 and {len(x)}, got {batch_size}")
    rng = np.random.default_rng(seed)
    theta = np.array(start, np.float64)
    path = [theta.copy()]
    while len(path) <= num_updates:
        order = rng.permutation(len(x)) if batch_size < len(x) else np.arange(len(x))
        for first in range(0, len(x), batch_size):
            if len(path) > num_updates:
                break
            batch = order[first : first + batch_size]
            error = theta[0] * x[batch] + theta[1] - y[batch]
            grad = np.array([2 * np.mean(error * x[batch]), 2 * np.mean(error)])
            theta = theta - learning_rate * grad  # the update rule
            path.append(theta.copy())
    return np.array(path)


def run_trajectories(config: CompareConfig) -> tuple[list[Trajectory], dict]:
    """Each variant's path on the two-parameter problem, and the loss surface around them."""
    x, y = trajectory_data(config.seed)
    paths = []
    for variant in VARIANTS:
        batch_size = {"batch": len(x), "sgd": 1, "minibatch": config.trajectory_batch_size}[variant]
        path = linear_trajectory(
            x, y, batch_size, config.trajectory_lr, config.trajectory_updates, seed=config.seed
        )
        paths.append(
            Trajectory(variant, batch_size, path, linear_mse(path[:, 0], path[:, 1], x, y))
        )
    design = np.stack([x, np.ones_like(x)], axis=1)
    minimum = np.linalg.lstsq(design, y, rcond=None)[0]
    every = np.concatenate([t.path for t in paths] + [minimum[None]])
    low, high = every.min(axis=0), every.max(axis=0)
    margin = 0.15 * (high - low) + 0.1
    w_grid = np.linspace(low[0] - margin[0], high[0] + margin[0], 161)
    b_grid = np.linspace(low[1] - margin[1], high[1] + margin[1], 161)
    surface = {
        "w": w_grid,
        "b": b_grid,
        "loss": linear_mse(w_grid[None, :], b_grid[:, None], x, y),
        "minimum": (float(minimum[0]), float(minimum[1])),
    }
    return paths, surface


# ----------------------------------------------------------------------------- (3) many starts
def run_multistart(x: np.ndarray, y: np.ndarray, config: CompareConfig) -> dict[str, dict]:
    """K = config.starts random starts per variant, trained at once; final SSEs, clusters.

    Start i is sine_fit_model(seed=i); all starts share the shuffling seed config.seed, so
    the runs of one variant differ only in where they start.
    """
    from keras_lab.gd import variant_batch_size
    from keras_lab.multistart import MultiStartGD, cluster_values

    out = {}
    for variant in VARIANTS:
        batch_size = variant_batch_size(variant, len(x), config.batch_size)
        runner = MultiStartGD(
            x,
            y,
            seeds=range(config.starts),
            batch_size=batch_size,
            learning_rate=config.lr,
            shuffle_seed=config.seed,  # every start sees the same orders: only starts differ
            dtype=config.dtype,
            jit_compile=config.jit,
        )
        started = time.perf_counter()
        result = runner.run(config.starts_epochs)
        seconds = time.perf_counter() - started
        # a start that hit NaN/inf stopped at its last finite weights: not a minimum
        final_sse = np.where(result.failed, np.nan, result.final_sse)
        clusters = cluster_values(final_sse, config.cluster_tolerance)
        out[variant] = {
            "batch_size": batch_size,
            "final_sse": [None if np.isnan(v) else float(v) for v in final_sse],
            "failed": int(result.failed.sum()),
            "clusters": [asdict(c) for c in clusters],
            "seconds": seconds,
        }
    return out


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
    from keras_lab.gd import GradientDescent, variant_batch_size
    from keras_lab.multistart import MultiStartGD

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
                batch_size,
                learning_rate,
                jit_compile=jit_compile,
            ),
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


# ----------------------------------------------------------------------------- figures
def figures(
    histories: dict[str, VariantHistory],
    trajectories: list[Trajectory] | None,
    surface: dict | None,
    multistart: dict | None,
    config: CompareConfig,
) -> dict:
    """{file stem: matplotlib Figure} for everything that was run."""
    from keras_lab import plots
    from keras_lab.multistart import Cluster

    problem = (
        "the lecture's 9 points"
        if config.dataset == "lecture"
        else (f"{config.samples} points of the sine set")
    )
    figs = {}
    for stem, key, xlabel, title in (
        ("loss_vs_epoch", "epochs", "epoch", "Loss per epoch"),
        (
            "loss_vs_samples",
            "samples",
            "samples processed (per-sample gradient evaluations)",
            "Loss per unit of computation",
        ),
        (
            "loss_vs_time",
            "seconds",
            "wall-clock time (s, compilation excluded)",
            "Loss per second of training",
        ),
    ):
        if not histories:
            break
        curves = {v: (getattr(h, key), h.sse) for v, h in histories.items()}
        figs[stem] = plots.variant_curves(
            curves,
            xlabel=xlabel,
            title=f"{title}\n1-2-1 network, {problem}, alpha = {config.lr:g}, same start",
        )
    if trajectories is not None and surface is not None:
        figs["trajectory"] = plots.trajectories(
            surface["w"],
            surface["b"],
            surface["loss"],
            {t.variant: t.path for t in trajectories},
            minimum=surface["minimum"],
            title=f"Paths towards the minimum: linear fit y = w p + b\n"
            f"to {TRAJECTORY_SAMPLES} noisy sine points, MSE contours, "
            f"alpha = {config.trajectory_lr:g}",
        )
    if multistart:
        figs["multistart"] = plots.multistart_distribution(
            {v: np.array(r["final_sse"], np.float64) for v, r in multistart.items()},
            {v: [Cluster(**c) for c in r["clusters"]] for v, r in multistart.items()},
            xlabel=f"final SSE over {problem} after {config.starts_epochs} epochs",
            title=f"Where {config.starts} random starts end, per variant\n"
            f"(numbers: runs per local minimum, final SSEs within "
            f"{config.cluster_tolerance:g} grouped)",
        )
    return figs


def save_figures(figs: dict, run_dir: str, svg: bool = False) -> list[str]:
    """Write each Figure as <stem>.png (and .svg); return the paths written."""
    written = []
    for stem, fig in figs.items():
        for ext in ("png", "svg") if svg else ("png",):
            path = os.path.join(run_dir, f"{stem}.{ext}")
            fig.savefig(path)
            written.append(path)
    return written


def compare(config: CompareConfig, run_dir: str) -> dict:
    """Run everything, write the figures into ``run_dir``; return the JSON-able result."""
    validate(config)
    x, y = build_data(config)
    histories = {v: run_variant(v, x, y, config) for v in VARIANTS}
    trajectories, surface = run_trajectories(config)
    multistart = run_multistart(x, y, config) if config.starts else None
    os.makedirs(run_dir, exist_ok=True)
    written = save_figures(
        figures(histories, trajectories, surface, multistart, config), run_dir, config.svg
    )
    result = {
        "config": asdict(config),
        "run_dir": run_dir,
        "final_sse": {v: h.final_sse for v, h in histories.items()},
        "histories": {v: asdict(h) for v, h in histories.items()},
        "trajectories": {
            t.variant: {
                "batch_size": t.batch_size,
                "path": t.path.tolist(),
                "loss": t.loss.tolist(),
            }
            for t in trajectories
        },
        "trajectory_minimum": list(surface["minimum"]),
        "multistart": multistart,
        "figures": written,
    }
    with open(os.path.join(run_dir, "result.json"), "w") as f:
        json.dump(result, f)
    return result


# ----------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    d = CompareConfig()
    p = OneLineErrorParser(
        prog="python -m keras_lab.compare",
        description="Batch, stochastic and mini-batch GD side by side: loss per epoch, per "
        "sample processed and per second; their paths on a two-parameter loss surface; "
        "where many random starts end.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--dataset",
        choices=("lecture", "sine"),
        default=d.dataset,
        help="lecture: its 9 points; sine: --samples points of 1 + sin(pi p/4)",
    )
    p.add_argument("--samples", type=int, default=d.samples, help="size of the sine set")
    p.add_argument("--noise", type=float, default=d.noise, help="sine: target noise std")
    p.add_argument("--epochs", type=int, default=d.epochs, help="passes over the data")
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate alpha, every variant")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="mini-batch size")
    p.add_argument("--seed", type=int, default=d.seed, help="the shared start and shuffling")
    p.add_argument("--dtype", choices=("float32", "float64"), default=d.dtype)
    p.add_argument(
        "--jit",
        action=argparse.BooleanOptionalAction,
        default=d.jit,
        help="compile the loops with XLA",
    )
    p.add_argument(
        "--points",
        type=int,
        default=d.points,
        help="measuring points per curve (SSE over the whole set)",
    )
    p.add_argument(
        "--trajectory-updates",
        type=int,
        default=d.trajectory_updates,
        help="updates per variant on the two-parameter problem",
    )
    p.add_argument(
        "--trajectory-lr",
        type=float,
        default=d.trajectory_lr,
        help="learning rate on the two-parameter problem",
    )
    p.add_argument(
        "--trajectory-batch-size",
        type=int,
        default=d.trajectory_batch_size,
        help=f"its mini-batch size (of {TRAJECTORY_SAMPLES} points)",
    )
    p.add_argument(
        "--starts",
        type=int,
        default=d.starts,
        help="K random starts per variant, trained at once (0: skip)",
    )
    p.add_argument(
        "--starts-epochs", type=int, default=d.starts_epochs, help="epochs of the K-start runs"
    )
    p.add_argument(
        "--cluster-tolerance",
        type=float,
        default=d.cluster_tolerance,
        help="final SSEs closer than this count as the same minimum",
    )
    p.add_argument("--logdir", default=d.logdir, help="run directory (default runs/<time>-compare)")
    p.add_argument("--svg", action="store_true", help="also write each figure as SVG")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--bench",
        action="store_true",
        help="only time K starts at once against one run (--starts, --bench-epochs)",
    )
    p.add_argument("--bench-epochs", type=int, default=500, help="epochs per timed run")
    p.add_argument("--bench-repeats", type=int, default=5, help="timed repeats (median)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = vars(parser.parse_args(argv))
    options = {k: args.pop(k) for k in ("json", "bench", "bench_epochs", "bench_repeats")}
    config = CompareConfig(**args)
    import_tensorflow()  # before keras_lab.run, which imports TensorFlow loudly
    try:
        validate(config)
        for name in ("bench_epochs", "bench_repeats"):
            if options[name] < 1:
                raise ValueError(f"{name.replace('_', '-')} must be >= 1, got {options[name]}")
        run_dir = config.logdir or os.path.join("runs", f"{time.strftime('%Y%m%d-%H%M%S')}-compare")
        if not options["bench"]:
            from keras_lab.run import check_writable

            if os.path.isdir(run_dir) and os.listdir(run_dir):  # (no --resume here)
                raise ValueError(f"logdir {run_dir!r} is not empty; choose another --logdir")
            check_writable(run_dir)
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    if options["bench"]:
        x, y = build_data(config)
        result = bench_multistart(
            x,
            y,
            num_starts=config.starts or 256,
            num_epochs=options["bench_epochs"],
            batch_size=config.batch_size,
            learning_rate=config.lr,
            repeats=options["bench_repeats"],
            jit_compile=config.jit,
        )
        print(json.dumps(result) if options["json"] else format_bench(result))
        return 0
    result = compare(config, run_dir)
    if options["json"]:
        print(json.dumps(result))
    else:
        print(format_result(result))
    return 0


def format_result(result: dict) -> str:
    lines = ["final SSE over the training set, same start, same epochs:"]
    for variant, sse in result["final_sse"].items():
        lines.append(f"  {variant:<10} {sse:.6f}")
    if result["multistart"]:
        lines.append(
            f"{result['config']['starts']} random starts per variant, "
            "runs per local minimum (final SSE):"
        )
        for variant, r in result["multistart"].items():
            found = ", ".join(f"{c['count']} at {c['value']:.4g}" for c in r["clusters"][:5])
            more = len(r["clusters"]) - 5
            lines.append(f"  {variant:<10} {found}" + (f", ... {more} more" if more > 0 else ""))
    lines.append("figures: " + " ".join(os.path.basename(p) for p in result["figures"]))
    lines.append(f"run directory: {result['run_dir']}")
    return "\n".join(lines)


def format_bench(result: dict) -> str:
    s = result["seconds_median"]
    lines = [
        f"{result['starts']} starts at once vs one run: {result['variant']}, "
        f"{result['epochs']} epochs, XLA {'on' if result['jit'] else 'off'}, median of "
        f"{result['repeats']}; seconds (ratio to one run)",
        f"  {'':<28} {'first call':>20} {'steady state':>20}",
        f"  {'one run':<28} {s['single']:>11.3f}{'':>9} {s['single_warm']:>11.3f}",
    ]
    for name, label in (
        ("shared", "K starts, shared shuffling"),
        ("per_start", "K starts, own shuffling"),
    ):
        first, steady = result["ratio_first_call"][name], result["ratio_steady"][name]
        lines.append(
            f"  {label:<28} {s[name]:>11.3f} ({first:5.2f}x) {s[name + '_warm']:>11.3f} "
            f"({steady:5.2f}x)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
