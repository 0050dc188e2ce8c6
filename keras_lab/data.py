"""The lecture's training set and larger sets drawn from the same curve.

The lecture fits g(p) = 1 + sin(pi p / 4) on nine points p = -2, -1.5, ..., 2, with the
targets printed to three decimals:

    P = [-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2]
    T = [0, 0.075, 0.292, 0.617, 1.0, 1.382, 1.707, 1.923, 2]

Arrays are returned in Keras layout: one sample per row, shape (n, 1).
"""

from __future__ import annotations

import numpy as np

#: The lecture's inputs P, exactly as printed.
LECTURE_P: tuple[float, ...] = (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)
#: The lecture's targets T, exactly as printed (g(P) rounded to three decimals).
LECTURE_T: tuple[float, ...] = (0.0, 0.075, 0.292, 0.617, 1.0, 1.382, 1.707, 1.923, 2.0)


def sine_target(p: np.ndarray | float) -> np.ndarray:
    """The lecture's generating function g(p) = 1 + sin(pi p / 4).

    Example:
        >>> sine_target(np.array([-2.0, 0.0, 2.0]))
        array([0., 1., 2.])
    """
    return 1.0 + np.sin(np.pi * np.asarray(p, dtype=np.float64) / 4.0)


def lecture_data(dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:
    """The lecture's nine training points (P, T) as two (9, 1) arrays.

    Args:
        dtype: "float32" (the lecture's listing) or "float64".

    Returns:
        (x, y): inputs P and targets T, each of shape (9, 1).

    Example:
        >>> x, y = lecture_data()
        >>> x.shape, y.shape, float(y[6, 0])
        ((9, 1), (9, 1), 1.707)
    """
    dtype = _check_dtype(dtype)
    x = np.asarray(LECTURE_P, dtype=dtype).reshape(-1, 1)
    y = np.asarray(LECTURE_T, dtype=dtype).reshape(-1, 1)
    return x, y


def sine_data(
    num_samples: int,
    noise: float = 0.0,
    seed: int = 0,
    low: float = -2.0,
    high: float = 2.0,
    dtype: str = "float32",
) -> tuple[np.ndarray, np.ndarray]:
    """A larger set drawn from g: p uniform in [low, high], t = g(p) + noise * N(0, 1).

    Seeded: the same arguments give the same arrays.

    Args:
        num_samples: number of (p, t) pairs, >= 1.
        noise: standard deviation of the Gaussian noise added to the targets, >= 0.
        seed: seed of the numpy generator.
        low, high: the input range (low < high).
        dtype: "float32" or "float64".

    Returns:
        (x, y), each of shape (num_samples, 1).

    Example:
        >>> x, y = sine_data(4, seed=1)
        >>> x.shape, bool(np.allclose(y, sine_target(x), atol=1e-6))
        ((4, 1), True)
    """
    dtype = _check_dtype(dtype)
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise ValueError(f"num_samples must be an integer >= 1, got {num_samples!r}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"need finite low < high, got low={low!r}, high={high!r}")
    rng = np.random.default_rng(seed)
    p = rng.uniform(low, high, size=(num_samples, 1))
    t = sine_target(p)
    if noise > 0:
        t = t + noise * rng.standard_normal(size=t.shape)
    return p.astype(dtype), t.astype(dtype)


def _check_dtype(dtype: str) -> str:
    name = np.dtype(dtype).name if dtype in ("float32", "float64", np.float32, np.float64) else None
    if name is None:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return name
