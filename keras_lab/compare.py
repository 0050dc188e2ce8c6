"""``python -m keras_lab.compare``: the three GD variants side by side, as figures and numbers.

The lecture's "Comparison" slide: batch, stochastic and mini-batch GD head for the
minimum along different paths, "SGD direction is very noisy compared to mini-batch", and
SGD's fluctuation "enables it to jump to new and potentially better local minima". This
CLI makes that visible and measurable, one module per experiment. Each figure makes one
claim; the claim is computed from the run (``claims`` in the JSON), and the title states
it only when it holds (otherwise a neutral title says what is drawn):

    loss_vs_epoch.png     each variant from the same start: SSE over the training set per
                          epoch; at a constant alpha SGD never settles, batch GD never
                          rises (keras_lab.experiments.curves.settling_claim)
    loss_vs_updates.png   the same runs per epoch and per weight update: batch GD needs
                          the fewest updates but the most epochs to reach SSE 0.01, SGD
                          the reverse (keras_lab.experiments.curves.descent_claim)
    trajectory.png        a two-parameter problem (linear regression y = w p + b on points
                          of the sine set): loss contours and each variant's path; SGD's
                          wanders most (keras_lab.experiments.trajectory.path_claim)
    multistart.png        K seeded random starts of the sine-fit network per variant,
                          trained at once, then continued with batch GD: SGD's spread of
                          final SSE is noise, not other minima
                          (keras_lab.experiments.multistart.spread_claim)
    local_minima.png      a problem with two minima (t = |p| on the 9 inputs): the same K
                          starts per variant, which minimum each ends in
                          (keras_lab.experiments.minima.escape_claim)

No wall-clock figure: on 9 points an epoch takes microseconds and timer noise is larger
than the differences (time per sample against batch size, on large enough work, is in
the notebook). ``--json`` prints the histories, final losses, paths, K-start results and
claims as one JSON object. The cost of K starts against one run is measured by
``python -m keras_lab.bench --workloads w4``.

Exit codes: 0 done; 2 bad flags (one line on stderr, nothing written); 3 a variant
diverged (its final SSE is NaN, inf or above its start's, or a K-start run hit NaN/inf):
the results are printed and written, and one line on stderr names the variants.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from keras_lab import checks, rundir
from keras_lab._cli import OneLineErrorParser, add_flags, explicit_settings, write_errors
from keras_lab.config import DTYPES, VARIANTS, check_settings, setting
from keras_lab.experiments.trajectory import TRAJECTORY_SAMPLES


@dataclass(frozen=True)
class CompareConfig:
    """Every setting of a comparison. Defaults: the lecture's problem and network."""

    dataset: str = setting(
        "lecture", "lecture: its 9 points; sine: --samples points of 1 + sin(pi p/4)",
        choices=("lecture", "sine"),
    )  # fmt: skip
    samples: int = setting(200, "size of the sine set", minimum=1)
    noise: float = setting(0.0, "sine: target noise std", minimum=0)
    epochs: int = setting(2000, "passes over the data, every variant", minimum=1)
    lr: float = setting(
        0.3, "learning rate alpha, every variant (the lecture listing's)", minimum=0, strict=True
    )
    batch_size: int = setting(3, "mini-batch size (3 of the lecture's 9 points)", minimum=1)
    seed: int = setting(
        0,
        "the three curves' start and shuffling (K starts: start i has seed i)",
        minimum=0,
        maximum=2**63 - 1,
    )
    dtype: str = setting("float32", "floating-point type", choices=DTYPES)
    jit: bool = setting(True, "compile the loops with XLA")
    points: int = setting(
        100,
        "evenly spaced measuring points per curve, besides every one of the first 200 epochs",
        minimum=1,
    )
    trajectory_updates: int = setting(
        100, "updates per variant on the two-parameter problem", minimum=1
    )
    trajectory_lr: float = setting(
        0.05, "learning rate on the two-parameter problem", minimum=0, strict=True
    )
    trajectory_batch_size: int = setting(
        8, f"its mini-batch size (of {TRAJECTORY_SAMPLES} points)", minimum=1
    )
    starts: int = setting(256, "K random starts per variant, trained at once (0: skip)", minimum=0)
    starts_epochs: int = setting(2000, "epochs of the K-start runs", minimum=1)
    settle_epochs: int = setting(
        500, "batch-GD epochs that continue every K-start end point (0: not continued)", minimum=0
    )
    cluster_tolerance: float = setting(
        1e-3, "continued K-start SSEs with no gap larger than this are one level", minimum=0
    )
    minima_starts: int = setting(
        64, "K starts per variant on t = |p|, local minima (0: skip)", minimum=0
    )
    minima_epochs: int = setting(
        4000, "epochs of each variant on t = |p| (then as many to settle)", minimum=1
    )
    logdir: str = setting("", "run directory (default runs/<time>-compare-<pid>)")
    svg: bool = setting(False, "also write each figure as SVG")


def validate(config: CompareConfig) -> None:
    """Raise ValueError naming the first bad setting."""
    check_settings(config)
    num_samples = 9 if config.dataset == "lecture" else config.samples
    checks.require(
        config.batch_size <= num_samples,
        f"batch-size must be at most the {num_samples} samples, got {config.batch_size}",
    )
    # the set drawn in float64 and cast (8 + 2 itemsize bytes a value, p and t), and the K
    # starts' outputs and gradients on it (4 values a sample and start)
    itemsize = np.dtype(config.dtype).itemsize
    needed = num_samples * (2 * (8 + 2 * itemsize) + 4 * config.starts * itemsize)
    checks.fits_in_memory(needed, f"--samples {num_samples} --starts {config.starts}")
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
def claims(
    histories: dict, trajectories: list | None, multistart: dict | None, config: CompareConfig
) -> dict:
    """Each figure's claim, computed from the run: {file stem: {..., "holds": bool}}."""
    from keras_lab.experiments import curves
    from keras_lab.experiments.multistart import spread_claim
    from keras_lab.experiments.trajectory import path_claim

    out = {}
    if histories:
        out["loss_vs_epoch"] = curves.settling_claim(histories)
        out["loss_vs_updates"] = curves.descent_claim(histories)
    if trajectories is not None:
        out["trajectory"] = path_claim(trajectories)
    if multistart:
        out["multistart"] = spread_claim(multistart, config.cluster_tolerance)
    return out


def _array(values: list) -> np.ndarray:
    """JSON floats (None: failed) as a float64 array (NaN: failed)."""
    return np.array([np.nan if v is None else v for v in values], np.float64)


def _by_wiggle(item: tuple[str, float]) -> float:
    return -item[1]


def _label(variant: str) -> str:
    from keras_lab.plots import VARIANT_STYLE

    return VARIANT_STYLE.get(variant, {"label": variant})["label"]


def figures(
    histories: dict,
    trajectories: list | None,
    surface: dict | None,
    multistart: dict | None,
    config: CompareConfig,
    claimed: dict | None = None,
) -> dict:
    """{file stem: matplotlib Figure} for everything that was run; each title states the
    figure's claim (``claimed``, default :func:`claims`) only where it holds."""
    from keras_lab import plots
    from keras_lab.experiments import curves

    claimed = claims(histories, trajectories, multistart, config) if claimed is None else claimed
    problem = (
        "the lecture's 9 points"
        if config.dataset == "lecture"
        else (f"{config.samples} points of the sine set")
    )
    setup = f"1-2-1 network, {problem}, alpha = {config.lr:g}, the same start for every variant"
    figs = {}
    if histories:
        claim = claimed["loss_vs_epoch"]
        if claim["holds"]:
            spans = sorted(
                ((hi / lo, v) for v, (lo, hi) in claim["late_range"].items()), reverse=True
            )
            title = (
                "At a constant alpha SGD never settles, and batch GD's SSE never rises.\n"
                f"SSE max / min, epochs {config.epochs // 2}-{config.epochs}: "
                + ", ".join(f"{_label(v)} {ratio:.3g}x" for ratio, v in spans)
            )
        else:
            title = "SSE per epoch"
        even = set(curves.even_epochs(config.epochs, config.points))  # evenly spaced only
        figs["loss_vs_epoch"] = plots.variant_curves(
            {
                v: tuple(zip(*[(e, s) for e, s in zip(h.epochs, h.sse) if e in even]))
                for v, h in histories.items()
            },
            xlabel=f"epoch (one pass over the samples; SSE measured every "
            f"{config.epochs / config.points:g} epochs)",
            title=f"{title}\n{setup}",
        )
        claim = claimed["loss_vs_updates"]
        level = claim["level"]
        if claim["holds"]:
            reach = ", ".join(
                f"{_label(v)} {claim['updates'][v]} updates = {e} epochs"
                for v, e in claim["epochs"].items()
            )
            title = (
                f"To reach SSE {level:g}, batch GD needs the fewest updates, SGD the fewest "
                f"epochs.\nFirst at SSE <= {level:g}: {reach}"
            )
        else:
            title = "SSE per epoch and per weight update"
        per_epoch = ", ".join(f"{_label(v)} {h.updates_per_epoch}" for v, h in histories.items())
        marks = {"epochs": claim["epochs"], "updates": claim["updates"]}
        figs["loss_vs_updates"] = plots.variant_curve_panels(
            [
                {
                    "curves": {v: (getattr(h, key), h.sse) for v, h in histories.items()},
                    "xlabel": xlabel,
                    "logx": True,
                    "subtitle": subtitle,
                    "marks": {v: m for v, m in marks[key].items() if m is not None},
                }
                for key, xlabel, subtitle in (
                    ("epochs", "epochs (log scale from 1)", "per epoch: every sample used once"),
                    (
                        "updates",
                        "weight updates (log scale from 1)",
                        f"per weight update (per epoch: {per_epoch})",
                    ),
                )
            ],
            title=f"{title}\n{setup}",
            level=level,
        )
    if trajectories is not None and surface is not None:
        claim = claimed["trajectory"]
        wiggles = claim["wiggle"]
        if claim["holds"]:
            title = (
                "SGD's path wanders most, batch GD's least. Path length / straight distance\n"
                "from start to end: "
                + ", ".join(
                    f"{_label(v)} {w:.2f}" for v, w in sorted(wiggles.items(), key=_by_wiggle)
                )
            )
        else:
            title = "Paths of the variants on the loss surface"
        figs["trajectory"] = plots.trajectories(
            surface["w"],
            surface["b"],
            surface["loss"],
            {t.variant: t.path for t in trajectories},
            minimum=surface["minimum"],
            title=f"{title}\nlinear fit y = w p + b to {TRAJECTORY_SAMPLES} noisy sine points, "
            f"contours: MSE, alpha = {config.trajectory_lr:g}, {config.trajectory_updates} "
            "updates each",
        )
    if multistart:
        claim = claimed["multistart"]
        settled = None
        if config.settle_epochs:
            settled = {v: _array(r["settled_sse"]) for v, r in multistart.items()}
        ends = sum(len(r["final_sse"]) for r in multistart.values())
        if claim["holds"]:
            low = min(r[0] for r in claim["settled_range"].values())
            high = max(r[1] for r in claim["settled_range"].values())
            title = (
                f"SGD's spread of final SSE is noise, not other minima: {config.settle_epochs} "
                "more batch-GD epochs\nfrom each end point shrink it from "
                f"{claim['ratio']['sgd']:.3g}x to {claim['settled_ratio']['sgd']:.3g}x, and all "
                f"{ends} end at one level (SSE {low:.2g}-{high:.2g})"
            )
        else:
            title = "Where the random starts end (a spread of final SSE, not minima)"
        figs["multistart"] = plots.multistart_distribution(
            {v: _array(r["final_sse"]) for v, r in multistart.items()},
            settled,
            xlabel=f"SSE over {problem} (log scale)",
            title=f"{title}\n{config.starts} random starts per variant (start i: seed i), "
            f"alpha = {config.lr:g}",
            subtitles=(
                f"after {config.starts_epochs} epochs of each variant",
                f"then {config.settle_epochs} epochs of batch GD from each end point",
            ),
        )
    return figs


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
    from keras_lab.experiments import minima
    from keras_lab.experiments.curves import run_variant
    from keras_lab.experiments.multistart import run_multistart
    from keras_lab.experiments.trajectory import run_trajectories

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
            shuffle_seed=None, settle_epochs=config.settle_epochs, dtype=config.dtype,
            jit_compile=config.jit,
        )  # fmt: skip
    local_minima = None
    if config.minima_starts:
        local_minima = minima.run_local_minima(
            config.minima_starts, config.minima_epochs, settle_epochs=config.minima_epochs,
            jit_compile=config.jit,
        )  # fmt: skip
    os.makedirs(run_dir, exist_ok=True)
    claimed = claims(histories, trajectories, multistart, config)
    figs = figures(histories, trajectories, surface, multistart, config, claimed)
    if local_minima:
        figs["local_minima"] = minima.figure(local_minima)
        claimed["local_minima"] = minima.escape_claim(local_minima)
    written = rundir.save_figures(figs, run_dir, config.svg)
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
        "claims": claimed,
        "figures": written,
    }
    rundir.write_json(os.path.join(run_dir, "result.json"), rundir.strict_json(result))
    return result


# ----------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """One flag per CompareConfig field, plus --json. Imports no TensorFlow."""
    parser = OneLineErrorParser(
        prog="python -m keras_lab.compare",
        description="Batch, stochastic and mini-batch GD side by side: loss per epoch and "
        "per weight update; their paths on a two-parameter loss surface; where many random "
        "starts end; local minima on a problem that has two.",
    )
    add_flags(parser, CompareConfig)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config = CompareConfig(**explicit_settings(args, CompareConfig))
    run_dir = config.logdir or rundir.default_run_dir("compare")
    with rundir.open_cli_run(parser, lambda: validate(config), run_dir):
        with write_errors(parser, run_dir):
            result = compare(config, run_dir)
    strict = rundir.strict_json(result)
    print(json.dumps(strict, allow_nan=False) if args.json else format_result(result))
    bad = diverged(result)
    if bad:
        parser.exit(
            3,
            f"{parser.prog}: error: diverged at --lr {config.lr:g}: {', '.join(bad)} "
            "(final SSE NaN, inf or above the start's); try a smaller --lr\n",
        )
    return 0


def format_result(result: dict) -> str:
    """The run in a few lines: final SSEs, each figure's claim and whether it held."""
    claimed = result.get("claims", {})
    lines = ["final SSE over the training set, same start, same epochs:"]
    for variant, sse in result["final_sse"].items():
        lines.append(f"  {variant:<10} {sse:.6g}")
    if "loss_vs_epoch" in claimed:
        claim = claimed["loss_vs_epoch"]
        spans = ", ".join(f"{v} {lo:.3g}-{hi:.3g}" for v, (lo, hi) in claim["late_range"].items())
        lines.append(
            f"SSE over the second half of the run: {spans}; batch GD's SSE rose "
            f"{claim['batch_rises']} times ({_held(claim)})"
        )
    if "loss_vs_updates" in claimed:
        claim = claimed["loss_vs_updates"]
        reach = ", ".join(
            f"{v} {e} epochs = {claim['updates'][v]} updates" for v, e in claim["epochs"].items()
        )
        lines.append(f"first at SSE <= {claim['level']:g}: {reach} ({_held(claim)})")
    if "trajectory" in claimed:
        claim = claimed["trajectory"]
        wiggles = ", ".join(f"{v} {w:.3g}" for v, w in claim["wiggle"].items())
        lines.append(f"path length / straight distance (trajectory): {wiggles} ({_held(claim)})")
    if result["multistart"]:
        settle = result["config"]["settle_epochs"]
        lines.append(
            f"{result['config']['starts']} random starts per variant, final SSE min / median "
            "/ max (a spread, not minima)"
            + (f"; after {settle} more batch-GD epochs:" if settle else ":")
        )
        for variant, runs in result["multistart"].items():
            line = f"  {variant:<10} {_spread(runs['final_sse'])}"
            if settle:
                line += f"  ->  {_spread(runs['settled_sse'])}"
            lines.append(line + (f", {runs['failed']} failed" if runs["failed"] else ""))
        if "multistart" in claimed:
            claim = claimed["multistart"]
            lines.append(
                f"  continued ends of all variants: {claim['settled_groups']} level(s) "
                f"(no gap > {claim['tolerance']:g}); SGD's spread {claim['ratio']['sgd']:.3g}x "
                f"-> {claim['settled_ratio']['sgd']:.3g}x ({_held(claim)})"
            )
    if result.get("local_minima"):
        from keras_lab.experiments.minima import summary

        lines.append(summary(result["local_minima"]))
        if "local_minima" in claimed:
            lines.append(f"  ({_held(claimed['local_minima'])})")
    lines.append("figures: " + " ".join(os.path.basename(p) for p in result["figures"]))
    lines.append(f"run directory: {result['run_dir']}")
    return "\n".join(lines)


def _held(claim: dict) -> str:
    return "the figure's claim holds" if claim["holds"] else "the figure's claim does NOT hold"


def _spread(values: list) -> str:
    finite = np.array([v for v in values if v is not None], np.float64)
    if finite.size == 0:
        return "none finite"
    low, median, high = finite.min(), np.median(finite), finite.max()
    return f"{low:.4g} / {median:.4g} / {high:.4g}"


if __name__ == "__main__":
    sys.exit(main())
