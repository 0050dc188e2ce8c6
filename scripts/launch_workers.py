"""Run ``python -m keras_lab.train`` as N workers on this machine (127.0.0.1), with TF_CONFIG.

    python scripts/launch_workers.py 2 -- --strategy multiworker --variant minibatch \\
        --dataset sine --samples 10000 --batch-size 64 --epochs 5 --logdir runs/two-workers

The same as ``python -m keras_lab.train --strategy multiworker --workers 2 ...``: free
ports are picked on 127.0.0.1, worker i gets TF_CONFIG with task index i, worker 0 is the
chief (it writes the run directory and prints the result), and every worker is killed when
this script ends, however it ends. Exit code: the first failing worker's, else 0.
"""

from __future__ import annotations

import argparse
import sys

from keras_lab.distribute import launch_workers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workers", type=int, help="number of worker processes, >= 1")
    parser.add_argument("--timeout", type=float, default=None, help="seconds before killing")
    parser.add_argument("train_flags", nargs=argparse.REMAINDER, help="-- then train's flags")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"workers must be >= 1, got {args.workers}")
    flags = args.train_flags[1:] if args.train_flags[:1] == ["--"] else args.train_flags
    if "--strategy" not in flags:
        flags = ["--strategy", "multiworker", *flags]
    if "--workers" not in flags:  # recorded in config.json, so that --resume relaunches as many
        flags = [*flags, "--workers", str(args.workers)]
    return launch_workers(flags, args.workers, timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
