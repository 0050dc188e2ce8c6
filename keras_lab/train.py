"""``python -m keras_lab.train``: train a network with batch, stochastic or mini-batch GD.

With no flags it runs the lecture's experiment: its 9 points, the 1-2-1 sigmoid network
from a seeded random start, stochastic GD at alpha = 0.3, and prints the final weights
and SSE like the lecture's script. ``--help`` lists every flag and its default.

Several devices and machines (docs/distribute.md): ``--strategy mirrored --devices N``
splits the CPU into N logical devices; ``--strategy multiworker --workers N`` starts N local
worker processes (or, with TF_CONFIG set, this process is one worker of a cluster);
``--data DIR`` streams shards written by ``python -m keras_lab.data write``.

Exit codes: 0 done; 2 bad flags (one line on stderr, nothing written); 3 the loss became
NaN or inf (one line on stderr naming the epoch and step; last finite checkpoint kept).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from keras_lab._cli import OneLineErrorParser, import_tensorflow, quiet_stderr


def _positive_int_list(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected layer sizes like '2' or '64,64', got {text!r}")
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be >= 1, got {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    from keras_lab.distribute import STRATEGIES
    from keras_lab.gd import SCHEDULES, VARIANTS
    from keras_lab.run import DATASETS, INITS, TrainConfig

    d = TrainConfig()
    p = OneLineErrorParser(
        prog="python -m keras_lab.train",
        description="Gradient descent, explicitly: the lecture's sine fit (default) or a "
        "larger problem, with batch, stochastic or mini-batch GD and any loss.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("gradient descent")
    g.add_argument(
        "--variant",
        choices=VARIANTS,
        default=d.variant,
        help="batch: all samples per update; sgd: one; minibatch: --batch-size",
    )
    g.add_argument(
        "--batch-size",
        type=int,
        default=d.batch_size,
        help="mini-batch size; None means 32 (at most the data size)",
    )
    g.add_argument(
        "--loss", default=d.loss, help="any custom_losses name (mse, mae, huber, bce, ...)"
    )
    g.add_argument("--from-logits", action="store_true", help="classification losses on logits")
    g.add_argument("--lr", type=float, default=d.lr, help="learning rate alpha (eta_0)")
    g.add_argument(
        "--lr-schedule",
        choices=SCHEDULES,
        default=d.lr_schedule,
        help="constant, or decay per update as keras.optimizers.schedules",
    )
    g.add_argument("--decay-rate", type=float, default=d.decay_rate, help="schedule decay rate")
    g.add_argument(
        "--decay-steps", type=int, default=d.decay_steps, help="schedule decay steps (updates)"
    )
    g.add_argument("--epochs", type=int, default=d.epochs, help="passes over the data")
    g.add_argument("--seed", type=int, default=d.seed, help="seed of the start, data and shuffling")
    g.add_argument(
        "--no-shuffle",
        dest="shuffle",
        action="store_false",
        help="visit samples in order (the lecture's listing) instead of reshuffling",
    )
    g.add_argument(
        "--drop-remainder", action="store_true", help="drop each epoch's last, smaller batch"
    )
    m = p.add_argument_group("problem and model")
    m.add_argument(
        "--dataset",
        choices=DATASETS,
        default=d.dataset,
        help="lecture: its 9 points; sine: --samples from g(p) = 1 + sin(pi p/4); "
        "classes: 2-D blobs, --classes K",
    )
    m.add_argument("--samples", type=int, default=d.samples, help="size of the sine/classes set")
    m.add_argument(
        "--noise",
        type=float,
        default=d.noise,
        help="sine: target noise std; classes: blob std (0 -> 0.5)",
    )
    m.add_argument("--classes", type=int, default=d.classes, help="number of classes K")
    m.add_argument(
        "--init",
        choices=INITS,
        default=d.init,
        help="lecture: the worked example's weights; random: seeded",
    )
    m.add_argument(
        "--hidden",
        type=_positive_int_list,
        default=d.hidden,
        help="hidden layer sizes, e.g. 2 or 64,64",
    )
    m.add_argument("--activation", default=d.activation, help="hidden activation")
    m.add_argument("--dtype", choices=("float32", "float64"), default=d.dtype)
    s = p.add_argument_group("devices, machines and data on disk (docs/distribute.md)")
    s.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=d.strategy,
        help="tf.distribute for the loop: mirrored (--devices on this machine) or "
        "multiworker (TF_CONFIG, or --workers local processes)",
    )
    s.add_argument("--devices", type=int, default=d.devices, help="mirrored: logical CPU devices")
    s.add_argument(
        "--workers",
        type=int,
        default=d.workers,
        help="multiworker without TF_CONFIG: worker processes to start on 127.0.0.1",
    )
    s.add_argument(
        "--data",
        default=d.data,
        metavar="DIR",
        help="train from the TFRecord shards in DIR (python -m keras_lab.data write), "
        "streamed through tf.data instead of held in memory",
    )
    o = p.add_argument_group("outputs")
    o.add_argument(
        "--logdir", default=d.logdir, help="run directory (default runs/<time>-<variant>)"
    )
    o.add_argument("--no-tensorboard", dest="tensorboard", action="store_false")
    o.add_argument("--no-plots", dest="plots", action="store_false")
    o.add_argument(
        "--checkpoint-every",
        type=int,
        default=d.checkpoint_every,
        help="epochs between checkpoints (0: only at the end)",
    )
    o.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue the run in RUN_DIR from its last checkpoint",
    )
    o.add_argument(
        "--jit",
        action=argparse.BooleanOptionalAction,
        default=d.jit,
        help="compile with XLA: the whole loop on one device; under --strategy or --data, "
        "each replica's forward and backward pass (the all-reduce stays outside)",
    )
    o.add_argument("--json", action="store_true", help="print one JSON object")
    o.add_argument("--quiet", action="store_true", help="no progress bar, no config line")
    return p


# Flags that --resume may be given with; every other setting comes from the run's config.json.
_RESUME_FLAGS = {"resume", "json", "quiet"}


def _early_strategy(argv: Sequence[str] | None) -> tuple[str, int]:
    """(strategy, devices) from the flags (or --resume's config.json), read leniently.

    Logical devices and collective ops must be set up before TensorFlow's runtime starts,
    i.e. before the full parser (which runs TF code) sees the flags. Bad values are
    ignored here; the full parser and validation report them (exit 2).
    """
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--strategy", default="none")
    early.add_argument("--devices", default="1")
    early.add_argument("--resume", default=None)
    known, _ = early.parse_known_args(argv)
    strategy, devices = known.strategy, known.devices
    if known.resume:
        try:
            with open(os.path.join(known.resume, "config.json")) as f:
                saved = json.load(f)
            strategy, devices = saved.get("strategy", "none"), saved.get("devices", 1)
        except (OSError, ValueError, AttributeError):
            return "none", 1
    try:
        devices = int(devices)
    except ValueError:
        return "none", 1
    if strategy == "mirrored" and devices >= 1:
        return strategy, devices
    if strategy == "multiworker" and os.environ.get("TF_CONFIG"):
        return strategy, 1
    return "none", 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    strategy, devices = _early_strategy(argv)
    if strategy != "none":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with quiet_stderr():
            from keras_lab import distribute

            try:
                distribute.prepare(strategy, devices)
            except ValueError:
                pass  # reported by validation below, as a one-line error
    import_tensorflow()
    from keras_lab.run import (
        Diverged,
        TrainConfig,
        check_writable,
        default_run_dir,
        train_and_evaluate,
        validate,
    )

    parser = build_parser()
    args = parser.parse_args(argv)
    values = vars(args)
    options = {k: values[k] for k in ("resume", "json", "quiet")}
    settings = {k: v for k, v in values.items() if k not in _RESUME_FLAGS}
    try:
        if options["resume"]:
            defaults = TrainConfig().to_json()
            changed = [
                k
                for k, v in settings.items()
                if (list(v) if isinstance(v, tuple) else v) != defaults[k]
            ]
            if changed:
                raise ValueError(
                    f"--resume takes its settings from the run's config.json; "
                    f"drop --{changed[0].replace('_', '-')}"
                )
            run_dir = options["resume"]
            path = os.path.join(run_dir, "config.json")
            if not os.path.isfile(path):
                raise ValueError(f"--resume: no run in {run_dir!r} (no config.json)")
            with open(path) as f:
                config = TrainConfig.from_json(json.load(f))
        else:
            config = TrainConfig(**settings)
            run_dir = None
        validate(config)
        if not options["resume"]:
            check_writable(config.logdir or default_run_dir(config))
        if config.strategy == "multiworker" and not os.environ.get("TF_CONFIG"):
            # the launcher: N workers on 127.0.0.1, each running these same flags
            worker_argv = list(argv)
            if not options["resume"] and not config.logdir:
                worker_argv += ["--logdir", default_run_dir(config)]
            if not options["quiet"] and not options["json"]:
                print(f"starting {config.workers} workers on 127.0.0.1", flush=True)
            from keras_lab.distribute import launch_workers

            return launch_workers(worker_argv, config.workers)
        if not options["quiet"] and not options["json"]:
            print("config: " + json.dumps(config.to_json()), flush=True)
        result = train_and_evaluate(
            config,
            run_dir=run_dir,
            resume=bool(options["resume"]),
            progress=not (options["quiet"] or options["json"]),
        )
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except Diverged as error:
        if options["json"]:
            print(json.dumps(error.result.to_json()))
        parser.exit(3, f"{parser.prog}: error: {error}\n")
    if options["json"]:
        print(json.dumps(result.to_json()))
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
