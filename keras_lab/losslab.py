"""``python -m keras_lab.losslab``: which loss? Figures, numbers and TensorBoard runs.

    losslab_shapes.png          each loss and its derivative (GradientTape on custom_losses)
    losslab_outliers.png        the sine-fit network with gross outliers, one fit per loss
    losslab_real.png            diabetes, breast cancer and digits: a metric per epoch per loss
    losslab_confusion.png       digits, softmax + CCE: the test set's confusion matrix
    losslab_misclassified.png   digits, softmax + CCE: the misclassified test images
    result.json                 every number behind them (strict JSON: a non-finite number
                                is null, and "non_finite" says where and what it was)
    tensorboard/<part>/<run>/   per run, after each chunk of epochs: the loop's loss, learning
                                rate and gradient norm, and the run's measurements (measure/...)

``--json`` prints result.json's object on stdout. ``--quick``: short runs (a smoke test).
Exit codes: 0 done; 2 bad flags (one line on stderr, nothing written) or a failed write.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from keras_lab import checks, rundir
from keras_lab._cli import OneLineErrorParser, add_flags, explicit_settings, write_errors
from keras_lab.config import check_settings, setting

#: The lab's parts, in the order they run.
PARTS: tuple[str, ...] = ("shapes", "outliers", "diabetes", "breast_cancer", "digits")
#: The outlier experiment's losses (experiments.losslab.outliers.OUTLIER_LOSSES, for --help).
OUTLIER_LOSS_NAMES: tuple[str, ...] = (
    "mse", "rmse", "mae", "huber_1", "huber_0.25", "log_cosh", "mape",
)  # fmt: skip


@dataclass(frozen=True)
class LossLabConfig:
    """Every setting of the lab. Defaults: the measured configuration of docs/losslab.md."""

    parts: tuple[str, ...] = setting(PARTS, "run only these parts", choices=PARTS, flag="--only")
    seed: int = setting(  # numpy's seeds: 32 bits
        0, "data (sine points, outliers, train/test split), starts, shuffling", minimum=0,
        maximum=2**32 - 1,
    )  # fmt: skip
    shape_points: int = setting(601, "values per curve on the shapes figure", minimum=3)
    outlier_losses: tuple[str, ...] = setting(
        OUTLIER_LOSS_NAMES, "the outlier fits, one per loss from the same start",
        choices=OUTLIER_LOSS_NAMES,
    )  # fmt: skip
    outlier_samples: int = setting(200, "noisy sine points on [-2, 2]", minimum=1)
    outlier_fraction: float = setting(
        0.1, "share of the sine points moved up by U(3, 6)", minimum=0.0, maximum=0.99
    )
    outlier_epochs: int = setting(500, "epochs per outlier fit", minimum=1)
    outlier_batch_size: int = setting(20, "the outlier fits' mini-batch size", minimum=1)
    outlier_lr: float = setting(
        0.1, "learning rate of every outlier loss but MAPE", minimum=0, strict=True
    )
    mape_lr: float = setting(
        3e-5, "MAPE's (percent, slope weight 100/|t|): docs/losslab.md", minimum=0, strict=True
    )
    diabetes_epochs: int = setting(100, "epochs per loss", minimum=1)
    breast_cancer_epochs: int = setting(100, "epochs per run", minimum=1)
    saturated_start: bool = setting(True, "breast cancer also from a saturated start (kernel x 5)")
    digits_epochs: int = setting(30, "epochs per loss", minimum=1)
    crosscheck_epochs: int = setting(
        3, "epochs of the model.fit cross-check per set (0: none)", minimum=0
    )
    # every class keeps samples on both sides (digits: ~180 a class), neither side tiny
    test_fraction: float = setting(
        0.25, "held-out share of each real data set", minimum=0.05, maximum=0.95
    )
    logdir: str = setting("", "run directory (default runs/<time>-losslab-<pid>)")
    svg: bool = setting(False, "also write each figure as SVG")


#: --quick: a small fast version. The outlier fits (three of the seven losses) and diabetes
#: are the full lab's runs (the same numbers: a step costs microseconds, a run's time is its
#: tracing and measurements); breast cancer and digits are cut short, and the text output
#: marks their runs NOT CONVERGED (see HEADLINE).
QUICK = dict(
    outlier_losses=("mse", "mae", "mape"), saturated_start=False, shape_points=201,
    breast_cancer_epochs=10, digits_epochs=3, crosscheck_epochs=0,
)  # fmt: skip
#: Each part's headline number (the one its table ranks) and how far it may still move over
#: a run's last half for the run to count as converged
#: (keras_lab.experiments.losslab.training.convergence):
#:   rms_to_clean 0.02: under the gaps the outlier lesson rests on (MAE 0.014, Huber(1) and
#:       log-cosh 0.108, MSE 0.437), over the settled fits' wobble (full lab: MAPE's moves
#:       within 0.031-0.046 over its last 125 epochs, a trend of +0.011 over the last 250)
#:   test_rmse 1.0 (disease progression units): the size of the differences between the
#:       losses (docs/losslab.md: the loss moves the test RMSE by about 1; settled trends
#:       are 0.1 or less)
#:   test_accuracy 0.01: 1.4 breast cancer or 4.5 digits test samples (settled trends
#:       are 0.006 or less; digits' MSE still gains 0.175 over epochs 15-30)
HEADLINE: dict[str, tuple[str, float]] = {
    "outliers": ("rms_to_clean", 0.02),
    "diabetes": ("test_rmse", 1.0),
    "breast_cancer": ("test_accuracy", 0.01),
    "digits": ("test_accuracy", 0.01),
}
#: How the text output names the headline numbers.
METRIC_NAMES = {
    "rms_to_clean": "distance",
    "test_rmse": "test RMSE",
    "test_accuracy": "test accuracy",
}


def validate(config: LossLabConfig) -> None:
    """Raise ValueError naming the first bad setting."""
    check_settings(config)
    checks.fits_in_memory(  # float64: 8 arrays of the outlier samples, 16 curves' points
        8 * 8 * config.outlier_samples + 16 * 8 * config.shape_points,
        f"--outlier-samples {config.outlier_samples} --shape-points {config.shape_points}",
    )
    checks.require(
        config.outlier_batch_size <= config.outlier_samples,
        f"outlier-batch-size must be at most the {config.outlier_samples} outlier samples, "
        f"got {config.outlier_batch_size}",
    )


# ----------------------------------------------------------------------------- the parts
def run_shapes(config: LossLabConfig) -> tuple[dict, dict]:
    """(JSON part, figures) of the shapes: the curves' arrays go into result.json."""
    from keras_lab.experiments.losslab import figures
    from keras_lab.experiments.losslab.shapes import loss_shapes

    panels = loss_shapes(config.shape_points)
    fields = ("x", "xlabel", "values", "slopes", "slope_label")
    part = {key: {f: getattr(c, f) for f in fields} for key, c in panels.items()}
    return part, {"losslab_shapes": figures.shapes(panels)}


def run_outliers_part(config: LossLabConfig, run_dir: str) -> tuple[dict, dict]:
    from keras_lab.data import sine_target
    from keras_lab.experiments.losslab import figures
    from keras_lab.experiments.losslab.outliers import GRID, run_outliers

    result = run_outliers(
        num_samples=config.outlier_samples,
        outlier_fraction=config.outlier_fraction,
        num_epochs=config.outlier_epochs,
        batch_size=config.outlier_batch_size,
        learning_rate=config.outlier_lr,
        mape_learning_rate=config.mape_lr,
        seed=config.seed,
        losses=config.outlier_losses,
        logdir=os.path.join(run_dir, "tensorboard", "outliers"),
    )
    x, y, is_outlier = result["data"]
    fits = result["fits"]
    metric, tolerance = HEADLINE["outliers"]
    table = {
        loss: {
            "learning_rate": f.learning_rate,
            "rms_to_clean": f.rms_to_clean,
            "max_to_clean": f.max_to_clean,
            "bias": f.bias,
            "final_loss": f.final_loss,
            "failed_step": f.record.failed_step,
            "seconds": f.record.seconds,
            "convergence": f.record.convergence(metric, tolerance),
        }
        for loss, f in fits.items()
    }
    part = {
        "samples": len(x),
        "outliers": int(is_outlier.sum()),
        "table": table,
        "mape_near_zero": result["mape"],
        "curves": {loss: f.curve for loss, f in fits.items()},
        "grid": GRID,
        "history": {
            loss: {
                "epochs": f.record.epochs,
                "rms_to_clean": f.record.metrics["rms_to_clean"],
                "epoch_loss": f.record.epoch_loss,
            }
            for loss, f in fits.items()
        },
    }
    figure = figures.outliers(
        x,
        y,
        is_outlier,
        GRID,
        sine_target(GRID),
        part["curves"],
        {loss: row["rms_to_clean"] for loss, row in table.items()},
        title=f"{int(is_outlier.sum())} of {len(x)} noisy sine points moved up by 3 to 6; "
        f"the lecture's 1-2-1 network, {config.outlier_epochs} epochs per loss from one start",
    )
    holds, text = figures.outlier_claim({loss: row["rms_to_clean"] for loss, row in table.items()})
    part["claim"] = {"holds": holds, "text": text}
    return part, {"losslab_outliers": figure}


def run_real_part(name: str, config: LossLabConfig, run_dir: str) -> tuple[dict, dict]:
    """One data set: its runs' numbers (and digits' confusion and misclassified figures)."""
    from keras_lab.experiments.losslab import figures, realdata

    result = realdata.run_dataset(
        name,
        getattr(config, f"{name}_epochs"),
        seed=config.seed,
        crosscheck_epochs=config.crosscheck_epochs,
        test_fraction=config.test_fraction,
        saturated_start=config.saturated_start,
        logdir=os.path.join(run_dir, "tensorboard", name),
    )
    data, runs = result["data"], result["runs"]
    setup = realdata.SETUPS[name]
    part = {
        "task": data.task,
        "train_samples": len(data.x_train),
        "test_samples": len(data.x_test),
        "model_hidden": list(setup.hidden),
        "output_activation": setup.output_activation,
        "learning_rate": setup.learning_rate,
        "batch_size": setup.batch_size,
        "final": {key: {m: v[-1] for m, v in r.record.metrics.items()} for key, r in runs.items()},
        "history": {
            key: {"epochs": r.record.epochs, **r.record.metrics, "epoch_loss": r.record.epoch_loss}
            for key, r in runs.items()
        },
        "seconds": {key: r.record.seconds for key, r in runs.items()},
        "convergence": {key: r.record.convergence(*HEADLINE[name]) for key, r in runs.items()},
        "crosscheck_model_fit": result["crosscheck"],
    }
    if data.task != "regression":
        part["epochs_to_train_accuracy"] = {
            "target": realdata.ACCURACY_TARGET,
            **{key: r.epochs_to_target for key, r in runs.items()},
        }
    figs = {}
    if name == "breast_cancer":
        part["saturation_scale"] = realdata.SATURATION_SCALE
        part["saturated_share_at_start"] = {key: r.saturated_share for key, r in runs.items()}
    if name == "digits":
        part["cce_scce_max_weight_difference"] = max(
            float(np.max(np.abs(a - b))) for a, b in zip(runs["cce"].weights, runs["scce"].weights)
        )
        predicted = realdata.classes(data, runs["cce"].test_output)
        counts = realdata.confusion_matrix(data.y_test, predicted, data.num_classes)
        wrong = np.flatnonzero(predicted != data.y_test)
        part["confusion_cce"] = counts
        part["misclassified_cce"] = dict(
            test_index=wrong, true=data.y_test[wrong], predicted=predicted[wrong]
        )
        accuracy = runs["cce"].record.final("test_accuracy")
        figs["losslab_confusion"] = figures.confusion(
            counts,
            list(data.class_names),
            title=f"Digits, softmax + CCE: test set of {len(data.y_test)}, accuracy {accuracy:.3f}",
        )
        shown = wrong[:32]
        figs["losslab_misclassified"] = figures.misclassified(
            data.raw_x_test[shown].reshape(-1, 8, 8),
            data.y_test[shown],
            predicted[shown],
            title=f"Digits, softmax + CCE: {len(wrong)} of {len(data.y_test)} test images "
            f"misclassified (true -> predicted)" + (", the first 32" if len(wrong) > 32 else ""),
        )
    return part, figs


def real_curves_figure(real: dict):
    """losslab_real: one panel per data set that ran."""
    from keras_lab.experiments.losslab import figures

    panels = {}
    for name, part in real.items():
        history = part["history"]
        if name == "diabetes":
            panels["Diabetes (regression): test RMSE"] = {
                "ylabel": "test RMSE (disease progression units)",
                "runs": {k: (h["epochs"], h["test_rmse"]) for k, h in history.items()},
            }
        elif name == "breast_cancer":
            panels["Breast cancer (binary), sigmoid output: training accuracy"] = {
                "ylabel": "training accuracy",
                "runs": {k: (h["epochs"], h["train_accuracy"]) for k, h in history.items()},
                "hline": (part["epochs_to_train_accuracy"]["target"], "the epochs-needed level"),
                "ylim": (0.5, 1.0),
            }
        else:
            panels["Digits (10 classes), softmax output: test accuracy"] = {
                "ylabel": "test accuracy",
                "runs": {k: (h["epochs"], h["test_accuracy"]) for k, h in history.items()},
                "ylim": (0.0, 1.0),
            }
    return figures.learning_curves(panels, title=real_claim(real)[1])


def real_claim(real: dict) -> tuple[bool | None, str]:
    """The real-data figure's claim, computed: (does it hold, the sentence).

    The cross entropy learns faster than MSE on a sigmoid or softmax output (breast cancer:
    fewer epochs to 95 % training accuracy; digits: a higher test accuracy at the end);
    without gross outliers the regression loss barely matters (diabetes: the test RMSEs
    within 2 % of each other). None: no part to judge.
    """
    said, holds = [], []
    if "breast_cancer" in real:
        needed = real["breast_cancer"]["epochs_to_train_accuracy"]
        epochs = {k: (math.inf if needed.get(k) is None else needed[k]) for k in ("bce", "mse")}
        holds.append(epochs["bce"] < epochs["mse"])
        said.append(f"breast cancer BCE {needed['bce']} vs MSE {needed['mse']} epochs to 95 %")
    if "digits" in real:
        final = real["digits"]["final"]
        cce, mse = final["cce"]["test_accuracy"], final["mse"]["test_accuracy"]
        holds.append(cce > mse)
        said.append(f"digits CCE {cce:.3f} vs MSE {mse:.3f} test accuracy")
    classification = (
        ("The cross entropy beats MSE on a sigmoid/softmax output" if all(holds) else
         "The cross entropy does NOT beat MSE everywhere here") + " (" + "; ".join(said) + ")"
    ) if said else ""  # fmt: skip
    regression = ""
    if "diabetes" in real:
        rmse = [f["test_rmse"] for f in real["diabetes"]["final"].values()]
        spread = max(rmse) - min(rmse)
        small = spread <= 0.02 * min(rmse)
        holds.append(small)
        regression = (
            f"without outliers, the regression loss {'barely matters' if small else 'matters'} "
            f"(diabetes test RMSE {min(rmse):.1f}-{max(rmse):.1f})"
        )
    if not holds:
        return None, ""
    return all(holds), ";\n".join(p for p in (classification, regression) if p)


def run_lab(config: LossLabConfig, run_dir: str) -> dict:
    """Run the parts of ``config``, write figures and result.json into ``run_dir``; return
    the result (JSON-able, non-finite numbers already replaced by null)."""
    validate(config)
    os.makedirs(run_dir, exist_ok=True)
    started = time.perf_counter()
    result: dict = {"config": asdict(config), "run_dir": run_dir, "seconds": {}}
    figs: dict = {}
    real: dict = {}
    for part in config.parts:
        part_started = time.perf_counter()
        if part == "shapes":
            result["shapes"], new = run_shapes(config)
        elif part == "outliers":
            result["outliers"], new = run_outliers_part(config, run_dir)
        else:
            real[part], new = run_real_part(part, config, run_dir)
        figs.update(new)
        result["seconds"][part] = time.perf_counter() - part_started
    if real:
        result["real"] = real
        figs["losslab_real"] = real_curves_figure(real)
        holds, text = real_claim(real)
        result["real_claim"] = {"holds": holds, "text": text}
    result["figures"] = rundir.save_figures(figs, run_dir, config.svg)
    result["seconds"]["total"] = time.perf_counter() - started
    non_finite: dict[str, str] = {}
    result = rundir.strict_json(result, non_finite)
    result["non_finite"] = non_finite
    rundir.write_json(os.path.join(run_dir, "result.json"), result, indent=None)
    return result


# ----------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """One flag per LossLabConfig field, plus --quick and --json. Imports no TensorFlow."""
    parser = OneLineErrorParser(
        prog="python -m keras_lab.losslab",
        description="Which loss? Loss shapes and their derivatives, outliers against MSE, MAE, "
        "Huber, log-cosh and MAPE, and the right loss for each problem type on real data "
        "(diabetes, breast cancer, digits, bundled with scikit-learn). Every network is "
        "trained with keras_lab.engine.loop.GradientDescent and custom_losses.",
    )
    add_flags(parser, LossLabConfig)
    parser.add_argument(
        "--quick", action="store_true", help="short runs of every part (smoke test)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def config_from_args(args: argparse.Namespace) -> LossLabConfig:
    """The config of parsed flags; --quick overrides the epochs it shortens."""
    given = explicit_settings(args, LossLabConfig)
    for name in ("parts", "outlier_losses"):  # in the given order, once each
        if name in given:
            given[name] = tuple(dict.fromkeys(given[name]))
    config = LossLabConfig(**given)
    return dataclasses.replace(config, **QUICK) if args.quick else config


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config = config_from_args(args)
    run_dir = config.logdir or rundir.default_run_dir("losslab")
    with rundir.open_cli_run(parser, lambda: validate(config), run_dir):
        import tensorflow as tf

        # each run has its own GradientDescent, so its own tf.function: TF's "retracing"
        # warning after the fifth is expected here, and would break the one-line stderr rule
        tf.get_logger().setLevel("ERROR")
        with write_errors(parser, run_dir):
            result = run_lab(config, run_dir)
    print(json.dumps(result, allow_nan=False) if args.json else format_result(result))
    return 0


def format_result(result: dict) -> str:
    """The numbers a reader wants first, as text. A run whose headline number has not
    settled (HEADLINE) is marked NOT CONVERGED, with how far it moved, and a last line
    says what that means."""
    lines = []
    unsettled = 0

    def mark(convergence: dict) -> str:
        nonlocal unsettled
        if convergence["settled"]:
            return ""
        unsettled += 1
        epochs = convergence["over_epochs"]
        return (
            f"   NOT CONVERGED ({METRIC_NAMES[convergence['metric']]} "
            f"{convergence['change']:+.3g} over the last {epochs} epoch{'s' * (epochs != 1)})"
        )

    config = result["config"]
    outliers = result.get("outliers")
    if outliers:
        lines.append(
            f"outliers ({outliers['outliers']} of {outliers['samples']} points, "
            f"{config['outlier_epochs']} epochs): RMS distance of each fit to the clean curve"
        )
        for loss, row in outliers["table"].items():
            lines.append(
                f"  {loss:<11} {row['rms_to_clean']:.4f}   (bias {row['bias']:+.3f})"
                + mark(row["convergence"])
            )
        mape = outliers["mape_near_zero"]
        if mape:
            lines.append(
                f"  MAPE: {mape['near_zero_samples']} targets with |t| < 0.1 "
                f"({100 * mape['near_zero_sample_share']:.0f}% of the points) carry "
                f"{100 * mape['near_zero_loss_share']:.0f}% of the loss"
            )
    for name, part in result.get("real", {}).items():
        lines.append(
            f"{name} ({part['task']}, test set of {part['test_samples']}, "
            f"{config[name + '_epochs']} epochs):"
        )
        for key, final in part["final"].items():
            numbers = ", ".join(
                f"{m} {v:.4g}" for m, v in final.items() if m.startswith("test") and v is not None
            )
            if "epochs_to_train_accuracy" in part:
                needed = part["epochs_to_train_accuracy"][key]
                target = part["epochs_to_train_accuracy"]["target"]
                reached = "not reached" if needed is None else needed
                numbers += f", epochs to training accuracy {target:g}: {reached}"
            lines.append(f"  {key:<14} {numbers}" + mark(part["convergence"][key]))
        check = part["crosscheck_model_fit"]
        if check:
            lines.append(
                f"  model.fit with keras.losses.{check['keras_loss']}, {check['epochs']} epochs: "
                f"max weight difference {check['max_weight_difference']:.2g}"
            )
        if "cce_scce_max_weight_difference" in part:
            lines.append(
                f"  CCE vs SCCE: max weight difference {part['cce_scce_max_weight_difference']:.2g}"
            )
    if unsettled:
        tolerances = ", ".join(
            f"{METRIC_NAMES[metric]} {tolerance:g}"
            for metric, tolerance in dict(HEADLINE.values()).items()
        )
        lines.append(
            f"NOT CONVERGED: {unsettled} runs' numbers still moved more than their tolerance "
            f"({tolerances}) over the run's last half: more epochs would change them, and may "
            "change which loss looks best"
        )
    lines.append(f"seconds: {result['seconds']['total']:.1f}")
    lines.append("figures: " + " ".join(os.path.basename(p) for p in result["figures"]))
    lines.append(f"run directory: {result['run_dir']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
