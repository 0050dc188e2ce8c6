"""Run ``python -m keras_lab.train`` as N workers on this machine (127.0.0.1), with TF_CONFIG.

    python scripts/launch_workers.py 2 -- --strategy multiworker --variant minibatch \\
        --dataset sine --samples 10000 --batch-size 64 --epochs 5 --logdir runs/two-workers

The same as ``python -m keras_lab.train --strategy multiworker --workers 2 ...``: free
ports are picked on 127.0.0.1, worker i gets TF_CONFIG with task index i, worker 0 is the
chief (it writes the run directory and prints the result), and every worker is killed when
this script ends, however it ends. Exit code: the first failing worker's, else 0.
"""

from __future__ import annotations

import math
import sys

from keras_lab._cli import OneLineErrorParser
from keras_lab.engine.workers import launch_workers


def main(argv: list[str] | None = None) -> int:
    """Parse ``workers [--timeout S] -- train flags`` and run the workers; the exit code."""
    parser = OneLineErrorParser(
        prog="scripts/launch_workers.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("workers", type=int, help="number of worker processes, >= 1")
    parser.add_argument("--timeout", type=float, default=None, help="seconds before killing")
    parser.add_argument("train_flags", nargs="*", help="-- then train's flags")
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:  # everything after -- is train's, even --timeout
        cut = argv.index("--")
        args = parser.parse_args(argv[:cut])
        args.train_flags = argv[cut + 1 :]
    else:
        args, unknown = parser.parse_known_args(argv)
        args.train_flags = [*args.train_flags, *unknown]
    if args.workers < 1:
        parser.error(f"workers must be >= 1, got {args.workers}")
    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
        parser.error(f"--timeout must be a number of seconds > 0, got {args.timeout}")
    flags = worker_flags(args.workers, args.train_flags)
    return launch_workers(flags, args.workers, timeout=args.timeout)


def worker_flags(workers: int, train_flags: list[str]) -> list[str]:
    """The flags every worker runs train with: ``--strategy multiworker --workers N`` added
    unless given (--workers is recorded in config.json, so that a plain ``--resume``
    relaunches as many); with ``--resume`` nothing is added (the run's config.json holds
    the settings, and train refuses others).

    Example:
        >>> worker_flags(2, ["--", "--epochs", "3"])
        ['--strategy', 'multiworker', '--epochs', '3', '--workers', '2']
        >>> worker_flags(2, ["--resume", "runs/x"])
        ['--resume', 'runs/x']
    """
    flags = train_flags[1:] if train_flags[:1] == ["--"] else list(train_flags)

    def given(name: str) -> bool:
        return any(f == name or f.startswith(name + "=") for f in flags)

    if given("--resume"):
        return flags
    if not given("--strategy"):
        flags = ["--strategy", "multiworker", *flags]
    if not given("--workers"):
        flags = [*flags, "--workers", str(workers)]
    return flags


if __name__ == "__main__":
    sys.exit(main())
