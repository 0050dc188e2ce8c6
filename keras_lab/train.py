"""``python -m keras_lab.train``: train a network with batch, stochastic or mini-batch GD.

With no flags it runs the lecture's experiment: its 9 points, the 1-2-1 sigmoid network
from a seeded random start, stochastic GD at alpha = 0.3, and prints the final weights
and SSE like the lecture's script. ``--help`` lists every flag and its default.

Several devices and machines (docs/distribute.md): ``--strategy mirrored --devices N``
splits the CPU into N logical devices; ``--strategy multiworker --workers N`` starts N local
worker processes (or, with TF_CONFIG set, this process is one worker of a cluster);
``--data DIR`` streams shards written by ``python -m keras_lab.stream write``.

Exit codes (every failure is one line on stderr naming the bad flag, value or file):

    0    done
    2    a bad flag, config.json, TF_CONFIG or --data (nothing written); a config.json
         that differs from the settings its checkpoints were made with (the line names the
         field); a run directory in use by another process (the line names its pid); a full
         disk, a file-size limit, a read-only file system or a corrupt record (the last good
         checkpoint kept; a new run with none is removed, to be started again)
    3    the loss became NaN or inf (the line names the epoch and step; last finite
         checkpoint kept)
    130  Ctrl-C (SIGINT), 143 SIGTERM: training stopped after the running chunk (about a
         second at most), a checkpoint of that epoch saved; the line gives the --resume
         command that continues it bit for bit. Outside training (set-up, a multiworker
         launcher or worker) the process stops at once, with no new checkpoint; a
         multiworker launcher stops its workers, removes their temporary files and gives
         the --resume command (from the run's last checkpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence

from keras_lab import rundir
from keras_lab._cli import (
    OneLineErrorParser,
    add_flags,
    explicit_settings,
    flag_name,
    import_tensorflow,
    quiet_stderr,
)
from keras_lab.config import TrainConfig, check_given


def build_parser() -> argparse.ArgumentParser:
    """The flags: one per TrainConfig field (names, defaults and help from there), plus
    --resume, --json and --quiet. Imports no TensorFlow."""
    parser = OneLineErrorParser(
        prog="python -m keras_lab.train",
        description="Gradient descent, explicitly: the lecture's sine fit (default) or a "
        "larger problem, with batch, stochastic or mini-batch GD and any loss.",
    )
    add_flags(parser, TrainConfig)
    run = parser.add_argument_group("this invocation")
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue the run in RUN_DIR from its last checkpoint (its settings come from "
        "RUN_DIR/config.json; no other setting may be given)",
    )
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("--quiet", action="store_true", help="no progress bar, no config line")
    return parser


def read_config(args: argparse.Namespace) -> TrainConfig:
    """The run's config: the flags over the defaults, or --resume's config.json (refusing
    any setting given with it, even one equal to its default)."""
    given = explicit_settings(args, TrainConfig)
    if args.resume is None:
        config = TrainConfig(**given)  # checked (TrainConfig.__post_init__)
        check_given(config, given)
        return config
    if not args.resume:
        raise ValueError("--resume needs a run directory, got ''")
    if given:
        raise ValueError(
            "--resume takes its settings from the run's config.json; "
            f"drop {flag_name(sorted(given)[0])}"
        )
    path = os.path.join(args.resume, "config.json")
    if not os.path.isfile(path):
        raise ValueError(f"--resume: no run in {args.resume!r} (no config.json)")
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f"--resume: {path} is not a run's config ({error})") from None
    return TrainConfig.from_json(saved, source=path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return _main(parser, args, argv)
    except KeyboardInterrupt as error:  # before training (training itself stops cleanly)
        code, name = _stopped_by(error)
        parser.exit(code, f"{parser.prog}: error: stopped by {name} outside training\n")


def _stopped_by(error: KeyboardInterrupt) -> tuple[int, str]:
    """(exit code, signal name) of a stop by SIGINT (Ctrl-C) or SIGTERM."""
    return (143, "SIGTERM") if isinstance(error, _Terminated) else (130, "SIGINT")


def _main(parser: argparse.ArgumentParser, args: argparse.Namespace, argv) -> int:
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM)
    if main_thread:
        signal.signal(signal.SIGTERM, _terminate)  # one line, not a silent death
    try:
        config = read_config(args)
        if config.strategy == "multiworker" and os.environ.get("TF_CONFIG"):
            from keras_lab.engine.workers import parse_tf_config

            parse_tf_config(os.environ["TF_CONFIG"])
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    if config.strategy != "none":
        # logical devices and collective ops are set up before TensorFlow's runtime starts
        with quiet_stderr():
            from keras_lab.engine import devices

            if config.strategy == "mirrored" or os.environ.get("TF_CONFIG"):
                devices.prepare(config.strategy, config.devices)
    import_tensorflow()
    from keras_lab import problem as problems
    from keras_lab.pipeline import Diverged, RunStopped, train_and_evaluate

    quiet = args.quiet or args.json
    try:
        problem = problems.build(config)
        if config.strategy == "multiworker" and not os.environ.get("TF_CONFIG"):
            return _launch(parser, args, argv, config, quiet)
        if main_thread:
            signal.signal(signal.SIGTERM, previous)  # training handles it (callbacks.StopSignals)
        result = train_and_evaluate(problem, args.resume, bool(args.resume), progress=not quiet)
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except RunStopped as error:
        parser.exit(error.exit_code, f"{parser.prog}: error: {error}\n")
    except Diverged as error:
        if args.json:
            print(json.dumps(error.result.to_json(), allow_nan=False))
        parser.exit(3, f"{parser.prog}: error: {error}\n")
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    print(json.dumps(result.to_json(), allow_nan=False) if args.json else format_result(result))
    return 0


def _launch(parser, args, argv, config: TrainConfig, quiet: bool) -> int:  # noqa: ANN001
    """The multiworker launcher: N workers on 127.0.0.1, each running these same flags (the
    chief checks and locks the run directory)."""
    from keras_lab.engine.workers import launch_workers

    run_dir = args.resume or config.logdir or rundir.default_run_dir(config.variant)
    worker_argv = list(sys.argv[1:] if argv is None else argv)
    if not args.resume:
        rundir.check_writable(run_dir, f"use --resume {run_dir} to continue it")
        if not config.logdir:
            worker_argv += ["--logdir", run_dir]
    if not quiet:
        print(f"starting {config.workers} workers on 127.0.0.1", flush=True)
    try:
        return launch_workers(worker_argv, config.workers)
    except KeyboardInterrupt as error:  # the workers are killed, their files removed
        from keras_lab.pipeline import resume_command

        code, name = _stopped_by(error)
        parser.exit(
            code,
            f"{parser.prog}: error: stopped by {name}; the {config.workers} workers were "
            "stopped (a multiworker run saves no checkpoint when stopped); continue from "
            f"its last checkpoint with: {resume_command(run_dir)}\n",
        )


class _Terminated(KeyboardInterrupt):
    """SIGTERM before training began."""


def _terminate(number: int, frame: object) -> None:
    raise _Terminated


#: Networks with at most this many weights and biases have them printed, like the lecture's
#: script (its 1-2-1 network: W1 2x1, b1 2, W2 1x2, b2 1); larger ones print their shapes.
LECTURE_PARAMETERS = 7
#: The units of a real regression data set's target (its RMSE and MAE are in them).
TARGET_UNITS = {"diabetes": "disease progression units"}


def format_result(result) -> str:
    """The final weights and loss, printed like the lecture's script (W1=, W2, b1=, b2) for
    a network no larger than the lecture's (LECTURE_PARAMETERS), else each layer's shape and
    where the weights are; the SSE or the training accuracy, and for a real data set the
    held-out test set's numbers, labelled as such."""
    import numpy as np

    def show(array) -> str:
        # local options: np.set_printoptions would change numpy's printing for the caller
        text = np.array2string(array, separator=" ", precision=6, suppress_small=True)
        return text.replace(chr(10), " ")

    config, run_dir = result.config, result.run_dir
    count = sum(w.size + b.size for w, b in result.weights)
    if count <= LECTURE_PARAMETERS:
        lines = [f"W{m}= {show(w)}" for m, (w, _) in enumerate(result.weights, start=1)]
        lines += [f"b{m}= {show(b)}" for m, (_, b) in enumerate(result.weights, start=1)]
    else:
        lines = [
            f"layer {m}: W{m} {w.shape[0]}x{w.shape[1]}, b{m} {b.shape[0]}x{b.shape[1]}"
            for m, (w, b) in enumerate(result.weights, start=1)
        ]
        lines.append(
            f"weights: {count} numbers, not printed (the lecture's network has "
            f'{LECTURE_PARAMETERS}); in {os.path.join(run_dir, "result.json")} ("weights") and '
            f"{os.path.join(run_dir, 'checkpoints')}"
        )
    samples = result.samples
    if result.sse is not None:
        data = f"--data {config.data}" if config.data else config.dataset
        scaled = ", standardised targets" if result.train else ""
        lines.append(f"SSE= {result.sse:.6f}  ({data}: sum over the training set{scaled})")
    units = TARGET_UNITS.get(config.dataset, "the target's units")  # of RMSE and MAE
    if result.train and "train_rmse" in result.train:
        lines.append(
            f"training RMSE= {result.train['train_rmse']:.4g}  MAE= "
            f"{result.train['train_mae']:.4g}  (the {samples['train']} training samples, {units})"
        )
    if result.accuracy is not None:
        where = f"the {samples['train']} training samples" if samples else "the training set"
        if config.dataset == "classes":
            where += "; this data set has no test set"
        lines.append(f"training accuracy= {result.accuracy:.4f}  ({where})")
    if result.test and "test_rmse" in result.test:
        lines.append(
            f"test RMSE= {result.test['test_rmse']:.4g}  MAE= {result.test['test_mae']:.4g}  "
            f"(the {samples['test']} held-out test samples, {units})"
        )
    elif result.test:
        accuracy = result.test["test_accuracy"]
        wrong = round((1 - accuracy) * samples["test"])
        lines.append(
            f"test accuracy= {accuracy:.4f}  (the {samples['test']} held-out test samples, "
            f"{wrong} wrong)"
        )
    lines.append(
        f"final loss ({config.loss}, training set)= {result.final_loss:.6g}   epochs: "
        f"{len(result.history)}   train seconds: {result.train_seconds:.2f}"
    )
    lines.append(f"run directory: {run_dir}   (tensorboard --logdir {run_dir})")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
