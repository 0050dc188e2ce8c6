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
from keras_lab.lecture.backprop import WORKED_ALPHA, WORKED_T, WORKED_X, worked_example


@dataclass(frozen=True)
class WorkedExampleSettings:
    """The worked example's input, target and learning rate (the lecture's by default)."""

    x: float = setting(WORKED_X, "the input X")
    t: float = setting(WORKED_T, "the target T")
    alpha: float = setting(WORKED_ALPHA, "learning rate, > 0")


def format_worked_example(step: dict, x: float, t: float, alpha: float) -> str:
    """The worked example as text, one equation per line in the lecture's notation."""

    def show(value: np.ndarray | float) -> str:
        return np.array2string(
            np.asarray(value), precision=6, separator=", ", suppress_small=False
        ).replace("\n", "")

    lines = [
        f"Back propagation worked example: x = {x:g}, t = {t:g}, alpha = {alpha:g}",
        "forward",
        f"  n1 = W1 x + b1            = {show(step['n1'])}",
        f"  y1 = sigmoid(n1)          = {show(step['y1'])}",
        f"  y2 = W2 y1 + b2           = {show(step['y2'])}",
        f"  e  = t - y2               = {show(step['e'])}",
        f"  SSE = e^T e               = {step['sse']:.6f}",
        "back propagation",
        f"  d2 = -2 F2(n2) (t - y2)   = {show(step['d2'])}",
        f"  d1 = F1(n1) W2^T d2       = {show(step['d1'])}",
        "update",
        f"  W1 <- W1 - alpha d1 x^T   = {show(step['W1'])}",
        f"  b1 <- b1 - alpha d1       = {show(step['b1'])}",
        f"  W2 <- W2 - alpha d2 y1^T  = {show(step['W2'])}",
        f"  b2 <- b2 - alpha d2       = {show(step['b2'])}",
    ]
    return "\n".join(lines)


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
