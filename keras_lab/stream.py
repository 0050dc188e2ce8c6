"""``python -m keras_lab.stream write``: the sine set as TFRecord shards (the batch source that
reads them is :mod:`keras_lab.engine.stream`)."""

from __future__ import annotations

import json

import tensorflow as tf

from keras_lab.engine.stream import write_shards


def main(argv: list[str] | None = None) -> int:
    """``python -m keras_lab.stream write --samples N --out DIR``: the sine set as shards.

    Exit codes: 0 written (one line naming the directory, or --json); 2 bad flags or a
    failed write, e.g. a full disk (one line on stderr; nothing is left in ``--out``).
    """
    import argparse

    from keras_lab._cli import OneLineErrorParser

    parser = OneLineErrorParser(
        prog="python -m keras_lab.stream",
        description="Data sets on disk.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser(
        "write",
        help="write g(p) = 1 + sin(pi p / 4) as seeded TFRecord shards with a manifest",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    write.error = parser.error  # type: ignore[method-assign]  # one line, exit 2
    write.add_argument("--samples", type=int, required=True, help="number of (p, t) pairs")
    write.add_argument("--out", required=True, help="a new or empty directory")
    write.add_argument("--shards", type=int, default=8, help="number of files")
    write.add_argument("--seed", type=int, default=0, help="seed of p (and of the noise)")
    write.add_argument("--noise", type=float, default=0.0, help="target noise std")
    write.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    write.add_argument("--json", action="store_true", help="print the manifest as JSON")
    args = parser.parse_args(argv)
    try:
        manifest = write_shards(
            args.out, args.samples, args.shards, args.seed, args.noise, args.dtype
        )
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except (OSError, tf.errors.OpError) as error:
        reason = getattr(error, "strerror", None) or str(error).strip().splitlines()[-1][-80:]
        parser.exit(2, f"{parser.prog}: error: cannot write {args.out}: {reason} (nothing kept)\n")
    if args.json:
        print(json.dumps(manifest))
    else:
        print(
            f"wrote {manifest['samples']} samples in {len(manifest['shards'])} shards to {args.out}"
        )
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
