"""The lecture's training set and larger sets drawn from the same curve.

The lecture fits g(p) = 1 + sin(pi p / 4) on nine points p = -2, -1.5, ..., 2, with the
targets printed to three decimals (not all of them g rounded: g(-1.5) = 0.0761 is printed
0.075; every printed target is within 1.1e-3 of g). We keep them exactly as printed:

    P = [-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2]
    T = [0, 0.075, 0.292, 0.617, 1.0, 1.382, 1.707, 1.923, 2]

Arrays are returned in Keras layout: one sample per row, shape (n, 1).

``python -m keras_lab.stream write --samples N --out DIR`` writes the sine set as TFRecord
shards for streaming (see :mod:`keras_lab.stream` and ``train --data DIR``).
"""

from __future__ import annotations

import numpy as np

#: The lecture's inputs P, exactly as printed.
LECTURE_P: tuple[float, ...] = (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)
#: The lecture's targets T, exactly as printed (within 1.1e-3 of g(P)).
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


def classes_data(
    num_samples: int,
    num_classes: int = 2,
    noise: float = 0.5,
    seed: int = 0,
    dtype: str = "float32",
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded synthetic 2-D classification set: K Gaussian blobs on the unit circle.

    Class k is centred at 2 (cos(2 pi k / K), sin(2 pi k / K)) with standard deviation
    ``noise``; labels are balanced (sample i has class i mod K, then the set is shuffled).

    Args:
        num_samples: >= num_classes.
        num_classes: K >= 2.
        noise: the blobs' standard deviation, > 0.
        seed: seed of the numpy generator.
        dtype: of the inputs, "float32" or "float64".

    Returns:
        (x, labels): inputs of shape (num_samples, 2) and integer labels (num_samples,).

    Example:
        >>> x, labels = classes_data(6, num_classes=3, seed=0)
        >>> x.shape, sorted(labels.tolist())
        ((6, 2), [0, 0, 1, 1, 2, 2])
    """
    dtype = _check_dtype(dtype)
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise ValueError(f"num_samples must be an integer, got {num_samples!r}")
    if num_samples < num_classes:
        raise ValueError(f"num_samples must be >= num_classes ({num_classes}), got {num_samples}")
    if not np.isfinite(noise) or noise <= 0:
        raise ValueError(f"noise must be a finite number > 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_samples) % num_classes)
    angles = 2.0 * np.pi * labels / num_classes
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    x = centres + noise * rng.standard_normal((num_samples, 2))
    return x.astype(dtype), labels.astype(np.int64)
