"""``python -m keras_lab.compare``: the three GD variants side by side, as figures and numbers.

The lecture's "Comparison" slide: batch, stochastic and mini-batch GD head for the
minimum along different paths, "SGD direction is very noisy compared to mini-batch", and
SGD's fluctuation "enables it to jump to new and potentially better local minima". This
CLI makes that visible and measurable, one module per experiment:

    loss_vs_epoch.png     each variant from the same start on the same problem, SSE over
    loss_vs_samples.png   the training set against epochs, samples processed (per-sample
    loss_vs_time.png      gradient evaluations) and wall-clock seconds (compilation
                          excluded): keras_lab.curves
    trajectory.png        a two-parameter problem (linear regression y = w p + b on points
                          of the sine set): the loss contours and each variant's path:
                          keras_lab.trajectory
    multistart.png        K seeded random starts of the sine-fit network per variant,
                          trained at once: where the K runs end, and how many reached each
                          local minimum: keras_lab.multistart
    local_minima.png      a problem with several minima (t = |p| on the 9 inputs): the
                          same K starts per variant, which minimum each ends in:
                          keras_lab.minima

``--json`` prints the histories, final losses, paths and clusters as one JSON object.
The cost of K starts against one run is measured by ``python -m keras_lab.bench`` (W4).

Exit codes: 0 done; 2 bad flags (one line on stderr, nothing written); 3 a variant
diverged (its final SSE is NaN, inf or above its start's, or a K-start run hit NaN/inf):
the results are printed and written, and one line on stderr names the variants.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from keras_lab import checks
from keras_lab._cli import OneLineErrorParser, add_flags, explicit_settings, import_tensorflow
from keras_lab.config import DTYPES, VARIANTS, setting
from keras_lab.trajectory import TRAJECTORY_SAMPLES


@dataclass(frozen=True)
class CompareConfig:
    """Every setting of a comparison. Defaults: the lecture's problem and network."""

    dataset: str = setting(
        "lecture", "lecture: its 9 points; sine: --samples points of 1 + sin(pi p/4)",
        choices=("lecture", "sine"),
    )  # fmt: skip
    samples: int = setting(200, "size of the sine set")
    noise: float = setting(0.0, "sine: target noise std")
    epochs: int = setting(2000, "passes over the data, every variant")
    lr: float = setting(0.3, "learning rate alpha, every variant (the lecture listing's)")
    batch_size: int = setting(3, "mini-batch size (3 of the lecture's 9 points)")
    seed: int = setting(0, "the three curves' start and shuffling (K starts: start i has seed i)")
    dtype: str = setting("float32", "floating-point type", choices=DTYPES)
    jit: bool = setting(True, "compile the loops with XLA")
    points: int = setting(100, "measuring points per curve (SSE over the whole set)")
    trajectory_updates: int = setting(100, "updates per variant on the two-parameter problem")
    trajectory_lr: float = setting(0.05, "learning rate on the two-parameter problem")
    trajectory_batch_size: int = setting(8, f"its mini-batch size (of {TRAJECTORY_SAMPLES} points)")
    starts: int = setting(256, "K random starts per variant, trained at once (0: skip)")
    starts_epochs: int = setting(2000, "epochs of the K-start runs")
    cluster_tolerance: float = setting(
        1e-3, "final SSEs closer than this count as the same minimum"
    )
    minima_starts: int = setting(64, "K starts per variant on t = |p|, local minima (0: skip)")
    minima_epochs: int = setting(4000, "epochs of each variant on t = |p| (then as many to settle)")
    logdir: str = setting("", "run directory (default runs/<time>-compare-<pid>)")
    svg: bool = setting(False, "also write each figure as SVG")


def validate(config: CompareConfig) -> None:
    """Raise ValueError naming the first bad setting."""
    checks.one_of("dataset", config.dataset, ("lecture", "sine"))
    checks.one_of("dtype", config.dtype, DTYPES)
    for name in (
        "samples",
        "epochs",
        "batch_size",
        "points",
        "trajectory_updates",
        "trajectory_batch_size",
        "starts_epochs",
    ):
        checks.integer(name.replace("_", "-"), getattr(config, name), minimum=1)
    checks.integer("starts", config.starts, minimum=0)
    checks.integer("minima-starts", config.minima_starts, minimum=0)
    checks.integer("minima-epochs", config.minima_epochs, minimum=1)
    checks.integer("seed", config.seed, minimum=0, maximum=2**63 - 1)
    checks.number("lr", config.lr, minimum=0, strict=True)
    checks.number("trajectory-lr", config.trajectory_lr, minimum=0, strict=True)
    checks.number("noise", config.noise, minimum=0)
    checks.number("cluster-tolerance", config.cluster_tolerance, minimum=0)
    num_samples = 9 if config.dataset == "lecture" else config.samples
    checks.require(
        config.batch_size <= num_samples,
        f"batch-size must be at most the {num_samples} samples, got {config.batch_size}",
    )
    checks.require(
        config.trajectory_batch_size <= TRAJECTORY_SAMPLES,
        f"trajectory-batch-size must be at most {TRAJECTORY_SAMPLES}, "
        f"got {config.trajectory_batch_size}",
    )


def build_data(config: CompareConfig) -> tuple[np.ndarray, np.ndarray]:
    from keras_lab import data

    if config.dataset == "lecture":
        return data.lecture_data(config.dtype)
    return data.sine_data(config.samples, noise=config.noise, seed=config.seed, dtype=config.dtype)


# ----------------------------------------------------------------------------- figures
def figures(
    histories: dict,
    trajectories: list | None,
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
    """Write each Figure as <stem>.png (and .svg), each whole or not at all; return the
    paths written."""
    from keras_lab.run import save_figure

    written = []
    for stem, fig in figs.items():
        for ext in ("png", "svg") if svg else ("png",):
            path = os.path.join(run_dir, f"{stem}.{ext}")
            save_figure(fig, path)
            written.append(path)
    return written


def diverged(result: dict) -> list[str]:
    """The variants that did not descend: a final SSE that is NaN, inf or above the start's,
    or K-start runs that hit NaN or inf."""
    bad = [
        variant
        for variant, history in result["histories"].items()
        if not np.isfinite(history["final_sse"]) or history["final_sse"] > history["sse"][0]
    ]
    for variant, runs in (result["multistart"] or {}).items():
        if runs["failed"] and variant not in bad:
            bad.append(f"{variant} ({runs['failed']} of the K starts)")
    return bad


def compare(config: CompareConfig, run_dir: str) -> dict:
    """Run everything, write the figures into ``run_dir``; return the JSON-able result."""
    from keras_lab import minima
    from keras_lab.curves import run_variant
    from keras_lab.multistart import run_multistart
    from keras_lab.run import write_json
    from keras_lab.trajectory import run_trajectories

    validate(config)
    x, y = build_data(config)
    histories = {
        v: run_variant(
            v, x, y, config.epochs, config.lr, config.batch_size, config.seed, config.points,
            config.dtype, config.jit,
        )
        for v in VARIANTS
    }  # fmt: skip
    trajectories, surface = run_trajectories(
        config.trajectory_lr, config.trajectory_updates, config.trajectory_batch_size, config.seed
    )
    multistart = None
    if config.starts:
        multistart = run_multistart(
            x, y, config.starts, config.starts_epochs, config.lr, config.batch_size,
            shuffle_seed=None, cluster_tolerance=config.cluster_tolerance,
            dtype=config.dtype, jit_compile=config.jit,
        )  # fmt: skip
    local_minima = None
    if config.minima_starts:
        local_minima = minima.run_local_minima(
            config.minima_starts, config.minima_epochs, settle_epochs=config.minima_epochs,
            jit_compile=config.jit,
        )  # fmt: skip
    os.makedirs(run_dir, exist_ok=True)
    figs = figures(histories, trajectories, surface, multistart, config)
    if local_minima:
        figs["local_minima"] = minima.figure(local_minima)
    written = save_figures(figs, run_dir, config.svg)
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
        "local_minima": local_minima,
        "figures": written,
    }
    write_json(os.path.join(run_dir, "result.json"), _strict(result))
    return result


def _strict(value):
    """``value`` with every non-finite float as None (strict JSON)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


# ----------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """One flag per CompareConfig field, plus --json. Imports no TensorFlow."""
    parser = OneLineErrorParser(
        prog="python -m keras_lab.compare",
        description="Batch, stochastic and mini-batch GD side by side: loss per epoch, per "
        "sample processed and per second; their paths on a two-parameter loss surface; "
        "where many random starts end.",
    )
    add_flags(parser, CompareConfig)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config = CompareConfig(**explicit_settings(args, CompareConfig))
    try:
        validate(config)
        run_dir = config.logdir or os.path.join(
            "runs", f"{time.strftime('%Y%m%d-%H%M%S')}-compare-{os.getpid()}"
        )
        if os.path.isdir(run_dir) and os.listdir(run_dir):  # (no --resume here)
            raise ValueError(f"logdir {run_dir!r} is not empty; choose another --logdir")
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    import_tensorflow()  # before keras_lab.run, which imports TensorFlow loudly
    from keras_lab.run import check_writable

    try:
        check_writable(run_dir)
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    result = compare(config, run_dir)
    print(json.dumps(_strict(result), allow_nan=False) if args.json else format_result(result))
    bad = diverged(result)
    if bad:
        parser.exit(
            3,
            f"{parser.prog}: error: diverged at --lr {config.lr:g}: {', '.join(bad)} "
            "(final SSE NaN, inf or above the start's); try a smaller --lr\n",
        )
    return 0


def format_result(result: dict) -> str:
    lines = ["final SSE over the training set, same start, same epochs:"]
    for variant, sse in result["final_sse"].items():
        lines.append(f"  {variant:<10} {sse:.6g}")
    if result["multistart"]:
        lines.append(
            f"{result['config']['starts']} random starts per variant, "
            "runs per local minimum (final SSE):"
        )
        for variant, r in result["multistart"].items():
            found = ", ".join(f"{c['count']} at {c['value']:.4g}" for c in r["clusters"][:5])
            more = len(r["clusters"]) - 5
            lines.append(f"  {variant:<10} {found}" + (f", ... {more} more" if more > 0 else ""))
    if result.get("local_minima"):
        from keras_lab.minima import summary

        lines.append(summary(result["local_minima"]))
    lines.append("figures: " + " ".join(os.path.basename(p) for p in result["figures"]))
    lines.append(f"run directory: {result['run_dir']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
