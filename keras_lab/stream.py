"""``python -m keras_lab.stream write``: the sine set as TFRecord shards, read back by
:mod:`keras_lab.engine.stream`. Exit codes: 0 written; 2 bad flags or a failed write, e.g. a
full disk; 130 Ctrl-C, 143 SIGTERM (one line on stderr; nothing is left in ``--out``, so the
same command runs again). Answers --help and bad flags before importing TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from keras_lab import checks
from keras_lab._cli import (
    OneLineErrorParser,
    add_flags,
    import_tensorflow,
    parse_settings,
    required,
)
from keras_lab.config import DTYPES, setting


@dataclass(frozen=True)
class WriteSettings:
    """What ``write`` puts on disk: g(p) = 1 + sin(pi p / 4), seeded, in shards."""

    out: str = required("a new or empty directory", default="")  # write_shards' order
    samples: int = required("number of (p, t) pairs", default=1)
    shards: int = setting(8, "number of files")
    seed: int = setting(0, "seed of p (and of the noise)")
    noise: float = setting(0.0, "target noise std")
    dtype: str = setting("float32", "floating-point type", choices=DTYPES)

    def __post_init__(self) -> None:
        checks.integer("samples", self.samples, minimum=1)
        checks.integer("shards", self.shards, minimum=1)
        checks.integer("--seed", self.seed, minimum=0, maximum=2**63 - 1)  # train's bounds
        checks.number("noise", self.noise, minimum=0)


#: Bytes on disk a sample takes at most, per byte of its dtype: p and t (100,000 float32
#: samples in one shard take 804,828 bytes, manifest included: 8.05 a sample).
BYTES_PER_SAMPLE = 2.1


def check_disk(settings: WriteSettings) -> None:
    """Refuse shards larger than the free space where ``--out`` is to be made."""
    folder = os.path.abspath(settings.out)
    while not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    needed = settings.samples * BYTES_PER_SAMPLE * np.dtype(settings.dtype).itemsize
    free = shutil.disk_usage(folder).free
    checks.require(
        needed <= free,
        f"--samples {settings.samples} need about {needed / 2**30:.3g} GiB on disk, more than "
        f"the {free / 2**30:.3g} GiB free in {folder!r}",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m keras_lab.stream write --samples N --out DIR``: the sine set as shards."""
    parser = OneLineErrorParser(prog="python -m keras_lab.stream", description="Data sets on disk.")
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser(
        "write", help="write g(p) = 1 + sin(pi p / 4) as seeded TFRecord shards with a manifest"
    )
    write.error = parser.error  # type: ignore[method-assign]  # one line, exit 2
    add_flags(write, WriteSettings)
    write.add_argument("--json", action="store_true", help="print the manifest as JSON")
    settings, args = parse_settings(parser, WriteSettings, argv)
    try:
        check_disk(settings)
    except ValueError as error:
        parser.error(str(error))
    previous = signal.signal(signal.SIGTERM, _terminate)  # cleaned up as after a Ctrl-C
    try:
        return _write(parser, settings, args.json)
    except KeyboardInterrupt as error:
        code, name = (143, "SIGTERM") if isinstance(error, _Terminated) else (130, "SIGINT")
        parser.exit(
            code, f"{parser.prog}: error: stopped by {name}; nothing kept in --out {settings.out}\n"
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the write is so that it removes its partial files."""


def _terminate(number: int, frame: object) -> None:
    raise _Terminated


def _write(parser: OneLineErrorParser, settings: WriteSettings, as_json: bool) -> int:
    import_tensorflow()
    import tensorflow as tf

    from keras_lab.engine.stream import write_shards

    try:
        manifest = write_shards(*dataclasses.astuple(settings))
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except (OSError, tf.errors.OpError) as error:
        reason = getattr(error, "strerror", None) or str(error).strip().splitlines()[-1][-80:]
        parser.exit(
            2, f"{parser.prog}: error: cannot write --out {settings.out}: {reason} (nothing kept)\n"
        )
    shards = len(manifest["shards"])
    line = f"wrote {manifest['samples']} samples in {shards} shards to {settings.out}"
    print(json.dumps(manifest) if as_json else line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
