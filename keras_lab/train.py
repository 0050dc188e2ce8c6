"""``python -m keras_lab.train``: train a network with batch, stochastic or mini-batch GD.

With no flags it runs the lecture's experiment: its 9 points, the 1-2-1 sigmoid network
from a seeded random start, stochastic GD at alpha = 0.3, and prints the final weights
and SSE like the lecture's script. ``--help`` lists every flag and its default.

Several devices and machines (docs/distribute.md): ``--strategy mirrored --devices N``
splits the CPU into N logical devices; ``--strategy multiworker --workers N`` starts N local
worker processes (or, with TF_CONFIG set, this process is one worker of a cluster);
``--data DIR`` streams shards written by ``python -m keras_lab.stream write``.

Exit codes: 0 done; 2 bad flags (one line on stderr, nothing written); 3 the loss became
NaN or inf (one line on stderr naming the epoch and step; last finite checkpoint kept).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from keras_lab._cli import (
    OneLineErrorParser,
    add_flags,
    explicit_settings,
    flag_name,
    import_tensorflow,
    quiet_stderr,
)
from keras_lab.config import TrainConfig, check_values


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
        config = TrainConfig(**given)
        check_values(config)
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
        config = read_config(args)
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    if config.strategy != "none":
        # logical devices and collective ops are set up before TensorFlow's runtime starts
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with quiet_stderr():
            from keras_lab import strategy as strategies

            if config.strategy == "mirrored" or os.environ.get("TF_CONFIG"):
                strategies.prepare(config.strategy, config.devices)
    import_tensorflow()
    from keras_lab.run import (
        Diverged,
        check_writable,
        default_run_dir,
        train_and_evaluate,
        validate,
    )

    quiet = args.quiet or args.json
    try:
        validate(config)
        if not args.resume:
            check_writable(config.logdir or default_run_dir(config))
        if config.strategy == "multiworker" and not os.environ.get("TF_CONFIG"):
            # the launcher: N workers on 127.0.0.1, each running these same flags
            worker_argv = list(sys.argv[1:] if argv is None else argv)
            if not args.resume and not config.logdir:
                worker_argv += ["--logdir", default_run_dir(config)]
            if not quiet:
                print(f"starting {config.workers} workers on 127.0.0.1", flush=True)
            from keras_lab.workers import launch_workers

            return launch_workers(worker_argv, config.workers)
        if not quiet:
            print("config: " + json.dumps(config.to_json()), flush=True)
        result = train_and_evaluate(
            config, run_dir=args.resume, resume=bool(args.resume), progress=not quiet
        )
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except Diverged as error:
        if args.json:
            print(json.dumps(error.result.to_json(), allow_nan=False))
        parser.exit(3, f"{parser.prog}: error: {error}\n")
    if args.json:
        print(json.dumps(result.to_json(), allow_nan=False))
    else:
        print(format_result(result))
    return 0


def format_result(result) -> str:
    """The final weights and loss, printed like the lecture's script (W1=, W2, b1=, b2)."""
    import numpy as np

    def show(array) -> str:
        # local options: np.set_printoptions would change numpy's printing for the caller
        text = np.array2string(array, separator=" ", precision=6, suppress_small=True)
        return text.replace(chr(10), " ")

    lines = [f"W{m}= {show(w)}" for m, (w, _) in enumerate(result.weights, start=1)]
    lines += [f"b{m}= {show(b)}" for m, (_, b) in enumerate(result.weights, start=1)]
    if result.sse is not None:
        lines.append(f"SSE= {result.sse:.6f}  ({result.config.dataset}: sum over the training set)")
    if result.accuracy is not None:
        lines.append(f"accuracy= {result.accuracy:.4f}")
    lines.append(
        f"final loss ({result.config.loss})= {result.final_loss:.6g}   epochs: "
        f"{len(result.history)}   train seconds: {result.train_seconds:.2f}"
    )
    lines.append(f"run directory: {result.run_dir}   (tensorboard --logdir {result.run_dir})")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
