"""``python -m keras_lab.backprop``: the lecture's worked example, step by step (the math is
:mod:`keras_lab.lecture.backprop`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from keras_lab._cli import OneLineErrorParser, add_flags, parse_settings
from keras_lab.config import setting
from keras_lab.lecture.backprop import (
    WORKED_ALPHA,
    WORKED_T,
    WORKED_X,
    format_worked_example,
    worked_example,
)


@dataclass(frozen=True)
class WorkedExampleSettings:
    """The worked example's input, target and learning rate (the lecture's by default)."""

    x: float = setting(WORKED_X, "the input X")
    t: float = setting(WORKED_T, "the target T")
    alpha: float = setting(WORKED_ALPHA, "learning rate, > 0")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m keras_lab.backprop [--x X] [--t T] [--alpha A] [--json]``."""
    parser = OneLineErrorParser(
        prog="python -m keras_lab.backprop",
        description="The lecture's back-propagation worked example, step by step.",
    )
    add_flags(parser, WorkedExampleSettings)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    settings, args = parse_settings(parser, WorkedExampleSettings, argv)
    try:
        step = worked_example(settings.x, settings.t, settings.alpha)
    except ValueError as error:  # checked there: x, t finite, alpha > 0
        parser.error(str(error))
    if args.json:
        print(json.dumps({k: np.asarray(v).tolist() for k, v in step.items()}))
    else:
        print(format_worked_example(step, settings.x, settings.t, settings.alpha))
    return 0


if __name__ == "__main__":
    sys.exit(main())
