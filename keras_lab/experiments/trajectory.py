"""The variants' paths on a two-parameter problem (the compare CLI's trajectory.png).

Linear regression y = w p + b on noisy points of the sine set: two parameters, so the
loss surface J(w, b) can be drawn as contours and each variant's (w, b) after every update
as a path on it, the lecture's "direction towards the minimum" graph. The gradient is
written out in numpy (an independent check of the TF loop on a dense layer: tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keras_lab.config import VARIANTS
from keras_lab.data import sine_data

TRAJECTORY_SAMPLES = 64  # points of the sine set for the two-parameter problem
TRAJECTORY_NOISE = 0.2  # target noise std: per-sample gradients disagree, as on real data
TRAJECTORY_START = (-1.0, -0.5)  # (w, b): far enough from the minimum to show the paths


@dataclass
class Trajectory:
    """(w, b) after every update, and the loss there, for one variant."""

    variant: str
    batch_size: int
    path: np.ndarray  # (updates + 1, 2)
    loss: np.ndarray  # (updates + 1,) mean squared error over all samples


def trajectory_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The two-parameter problem's data: 64 points of the sine set, as vectors.

    p is drawn from [-1, 3] rather than [-2, 2]: its mean is not 0, so w and b are
    correlated and the loss contours are elongated ellipses, as in the lecture's graph.
    """
    x, y = sine_data(
        TRAJECTORY_SAMPLES, noise=TRAJECTORY_NOISE, seed=seed, low=-1.0, high=3.0, dtype="float64"
    )
    return x[:, 0], y[:, 0]


def linear_mse(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """J(w, b) = mean_q (w x_q + b - y_q)^2, broadcast over arrays of w and b."""
    w, b = np.asarray(w, np.float64)[..., None], np.asarray(b, np.float64)[..., None]
    return np.mean((w * x + b - y) ** 2, axis=-1)


def linear_trajectory(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    learning_rate: float,
    num_updates: int,
    start: tuple[float, float] = TRAJECTORY_START,
    seed: int = 0,
) -> np.ndarray:
    """GD on y = w x + b with the mean squared error: (w, b) after each update.

    The gradient, written out: with e_q = w x_q + b - y_q over the batch B,
    dJ/dw = 2 mean_B(e_q x_q), dJ/db = 2 mean_B(e_q); then theta <- theta - eta * grad.
    Batches as GradientDescent makes them: the samples in a fresh permutation each epoch
    (numpy, seeded), cut into batch_size pieces, the last one smaller.

    Example (batch GD on two points, one update from (0, 0)):
        >>> linear_trajectory(np.array([0.0, 1.0]), np.array([1.0, 3.0]), 2, 0.25, 1,
        ...                   start=(0.0, 0.0)).tolist()
        [[0.0, 0.0], [0.75, 1.0]]
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if not 1 <= batch_size <= len(x):
        raise ValueError(f"batch_size must be between 1 and {len(x)}, got {batch_size}")
    rng = np.random.default_rng(seed)
    theta = np.array(start, np.float64)
    path = [theta.copy()]
    while len(path) <= num_updates:
        order = rng.permutation(len(x)) if batch_size < len(x) else np.arange(len(x))
        for first in range(0, len(x), batch_size):
            if len(path) > num_updates:
                break
            batch = order[first : first + batch_size]
            error = theta[0] * x[batch] + theta[1] - y[batch]
            grad = np.array([2 * np.mean(error * x[batch]), 2 * np.mean(error)])
            theta = theta - learning_rate * grad  # the update rule
            path.append(theta.copy())
    return np.array(path)


def run_trajectories(
    learning_rate: float, num_updates: int, batch_size: int, seed: int = 0
) -> tuple[list[Trajectory], dict]:
    """Each variant's path on the two-parameter problem, and the loss surface around them.

    ``batch_size`` is the mini-batch size (batch and sgd use all points and 1)."""
    x, y = trajectory_data(seed)
    paths = []
    for variant in VARIANTS:
        size = {"batch": len(x), "sgd": 1, "minibatch": batch_size}[variant]
        path = linear_trajectory(x, y, size, learning_rate, num_updates, seed=seed)
        paths.append(Trajectory(variant, size, path, linear_mse(path[:, 0], path[:, 1], x, y)))
    design = np.stack([x, np.ones_like(x)], axis=1)
    minimum = np.linalg.lstsq(design, y, rcond=None)[0]
    every = np.concatenate([t.path for t in paths] + [minimum[None]])
    low, high = every.min(axis=0), every.max(axis=0)
    margin = 0.15 * (high - low) + 0.1
    w_grid = np.linspace(low[0] - margin[0], high[0] + margin[0], 161)
    b_grid = np.linspace(low[1] - margin[1], high[1] + margin[1], 161)
    surface = {
        "w": w_grid,
        "b": b_grid,
        "loss": linear_mse(w_grid[None, :], b_grid[:, None], x, y),
        "minimum": (float(minimum[0]), float(minimum[1])),
    }
    return paths, surface


def wiggle(path: np.ndarray) -> float:
    """Path length over the straight distance from its start to its end (1: a straight
    line; larger: the path wanders).

    Example:
        >>> wiggle(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]]))  # two sides of a triangle
        1.4142135623730951
    """
    path = np.asarray(path, np.float64)
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1).sum()
    return float(steps / np.linalg.norm(path[-1] - path[0]))


def path_claim(paths: list[Trajectory]) -> dict:
    """The claim of trajectory.png: SGD's path wanders most, mini-batch GD's less, batch
    GD's least, and batch GD's loss never rises (with eta below 2 / the Hessian's largest
    eigenvalue it cannot: tested).

    Example:
        >>> line = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
        >>> zigzag = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
        >>> paths = [Trajectory("batch", 2, line, np.array([2.0, 1.0, 0.5])),
        ...          Trajectory("sgd", 1, zigzag, np.array([2.0, 1.5, 0.6]))]
        >>> claim = path_claim(paths)
        >>> claim["holds"], round(claim["wiggle"]["sgd"], 3)
        (True, 1.414)
    """
    by_variant = {t.variant: t for t in paths}
    wiggles = {v: wiggle(t.path) for v, t in by_variant.items()}
    order = [v for v in ("sgd", "minibatch", "batch") if v in wiggles]
    holds = "batch" in by_variant and "sgd" in by_variant
    holds = holds and all(wiggles[a] > wiggles[b] for a, b in zip(order, order[1:]))
    rises = None  # rises of batch GD's loss beyond rounding (1e-15 on losses of ~0.1-10)
    if "batch" in by_variant:
        rises = int(np.sum(np.diff(by_variant["batch"].loss) > 1e-15))
    return {"wiggle": wiggles, "batch_rises": rises, "holds": bool(holds and rises == 0)}
