"""Argument checks, written once: each raises ValueError naming the setting and the bad value.

Pure Python (no TensorFlow), so the command lines can check their flags before the slow
import. Every public constructor and config of keras_lab checks its arguments with these.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np


def integer(
    name: str, value: object, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as an int, refusing bools, floats and anything outside [minimum, maximum].

    Example:
        >>> integer("epochs", 3, minimum=1)
        3
        >>> integer("epochs", 0, minimum=1)
        Traceback (most recent call last):
        ...
        ValueError: epochs must be an integer >= 1, got 0
    """
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        if minimum is not None and maximum is not None:
            bound = f" between {minimum} and {maximum}"
        elif minimum is not None:
            bound = f" >= {minimum}"
        elif maximum is not None:
            bound = f" <= {maximum}"
        else:
            bound = ""
        raise ValueError(f"{name} must be an integer{bound}, got {value!r}")
    return int(value)  # type: ignore[arg-type]


def number(name: str, value: object, minimum: float = -math.inf, strict: bool = False) -> float:
    """``value`` as a finite float > minimum (``strict``) or >= minimum.

    Example:
        >>> number("lr", 0.5, minimum=0, strict=True)
        0.5
        >>> number("lr", float("nan"), minimum=0, strict=True)
        Traceback (most recent call last):
        ...
        ValueError: lr must be a finite number > 0, got nan
    """
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value > minimum if strict else value >= minimum)
    if not ok:
        bound = "" if minimum == -math.inf else f" {'>' if strict else '>='} {minimum:g}"
        raise ValueError(f"{name} must be a finite number{bound}, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def one_of(name: str, value: object, choices: Sequence[object]) -> None:
    """Refuse ``value`` unless it is one of ``choices``.

    Example:
        >>> one_of("variant", "adam", ("batch", "sgd", "minibatch"))
        Traceback (most recent call last):
        ...
        ValueError: unknown variant 'adam'; expected one of ('batch', 'sgd', 'minibatch')
    """
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {tuple(choices)}")


def require(condition: bool, message: str) -> None:
    """Raise ValueError(message) unless ``condition``: a cross-setting rule."""
    if not condition:
        raise ValueError(message)


def dtype(value: object, name: str = "dtype") -> str:
    """The name of a run's floating-point type: 'float32' or 'float64' (or numpy's types)."""
    if value not in ("float32", "float64", np.float32, np.float64):
        raise ValueError(f"{name} must be 'float32' or 'float64', got {value!r}")
    return np.dtype(value).name  # type: ignore[call-overload]


def finite(name: str, values: object) -> np.ndarray:
    """``values`` as a float64 array, refusing NaN and inf anywhere in it (the error says
    how many values are not finite, e.g. "W^1 holds NaN or inf (1 of its 2 values)")."""
    array = np.asarray(values, dtype=np.float64)
    bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
    if bad:
        raise ValueError(f"{name} holds NaN or inf ({bad} of its {np.size(array)} values)")
    return array


def available_memory() -> int:
    """Bytes of memory available to a new process: /proc/meminfo's MemAvailable (Linux),
    else the free physical pages (os.sysconf)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the file counts in kB
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def fits_in_memory(needed: int, flags: str) -> None:
    """Refuse a run that would need more than the memory available (``flags``: the ones
    that set its size, named in the message)."""
    available = available_memory()
    require(
        needed <= available,
        f"{flags} need about {needed / 2**30:.3g} GiB of memory, more than the "
        f"{available / 2**30:.3g} GiB available (MemAvailable in /proc/meminfo)",
    )
