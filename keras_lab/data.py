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

from dataclasses import dataclass

import numpy as np

from keras_lab import checks
from keras_lab.config import REAL_DATASETS

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
    checks.integer("num_samples", num_samples, minimum=1)
    checks.number("noise", noise, minimum=0)
    checks.require(
        bool(np.isfinite(low) and np.isfinite(high) and low < high),
        f"need finite low < high, got low={low!r}, high={high!r}",
    )
    rng = np.random.default_rng(seed)
    p = rng.uniform(low, high, size=(num_samples, 1))
    t = sine_target(p)
    if noise > 0:
        t = t + noise * rng.standard_normal(size=t.shape)
    return p.astype(dtype), t.astype(dtype)


def _check_dtype(dtype: str) -> str:
    """The one dtype check of keras_lab: "float32" or "float64" (or their numpy types)."""
    checks.require(
        dtype in ("float32", "float64", np.float32, np.float64),
        f"dtype must be 'float32' or 'float64', got {dtype!r}",
    )
    return np.dtype(dtype).name


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
    checks.integer("num_classes", num_classes, minimum=2)
    checks.integer("num_samples", num_samples, minimum=num_classes)  # one sample per class
    checks.number("noise", noise, minimum=0, strict=True)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_samples) % num_classes)
    angles = 2.0 * np.pi * labels / num_classes
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    x = centres + noise * rng.standard_normal((num_samples, 2))
    return x.astype(dtype), labels.astype(np.int64)


# ----------------------------------------------------------------------------- real data
# Three small real data sets that ship inside scikit-learn as files (no download; the
# fetch_* loaders, which download, are never used), one per problem type of the lecture's
# "Loss function is chosen according to the problem type".

# (keras_lab.config.REAL_DATASETS: name -> problem type.) diabetes: 442 patients, 10
# features, disease progression after a year; breast_cancer: 569 tumours, 30 features,
# malignant (0) or benign (1); digits: 1797 images of 8 x 8 pixels (64 features), 0-9.


@dataclass(frozen=True)
class RealData:
    """A seeded train/test split of a real data set, features standardised.

    Features are standardised with the TRAINING set's mean and standard deviation only (a
    feature constant on the training set is only centred), so nothing of the test set leaks
    into training. Label formats by ``task``:

        regression   y: (n, 1) float, standardised with the training targets' mean and std
                     (target_mean, target_std); y * target_std + target_mean is the target
        binary       y: (n, 1) float, 0.0 or 1.0 (the target of a sigmoid output)
        multiclass   y: (n,) int64 class indices (SCCE's format; :func:`one_hot` for CCE)

    ``raw_x_test`` keeps the test features as loaded (the digits' 8 x 8 pixel values).
    """

    name: str
    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int  # 0 for regression
    feature_mean: np.ndarray
    feature_std: np.ndarray
    target_mean: float  # regression only; 0.0 otherwise
    target_std: float  # regression only; 1.0 otherwise
    class_names: tuple[str, ...]
    raw_x_test: np.ndarray

    @property
    def input_dim(self) -> int:
        return int(self.x_train.shape[1])


def load_real_data(
    name: str, test_fraction: float = 0.25, seed: int = 0, dtype: str = "float32"
) -> RealData:
    """diabetes, breast_cancer or digits from scikit-learn's bundled files, split and scaled.

    The split is seeded and, for classification, stratified (each class keeps its share in
    both parts; ``sklearn.model_selection.train_test_split``). Diabetes is loaded unscaled
    (``scaled=False``: scikit-learn's scaled version used statistics of all 442 samples).

    Args:
        name: one of :data:`REAL_DATASETS`.
        test_fraction: share of the samples held out for testing, in (0, 1).
        seed: seed of the split.
        dtype: of the features and of float targets, "float32" or "float64".

    Returns:
        A :class:`RealData`.

    Example:
        >>> d = load_real_data("digits")
        >>> d.x_train.shape, d.y_train.dtype, d.x_test.shape, d.num_classes
        ((1347, 64), dtype('int64'), (450, 64), 10)
        >>> bool(np.allclose(d.x_train.mean(axis=0), 0, atol=1e-5))
        True
    """
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    dtype = _check_dtype(dtype)
    checks.one_of("data set", name, tuple(REAL_DATASETS))
    checks.require(
        isinstance(test_fraction, (int, float)) and 0 < test_fraction < 1,
        f"test_fraction must be a number in (0, 1), got {test_fraction!r}",
    )
    task = REAL_DATASETS[name]
    if name == "diabetes":
        bunch = datasets.load_diabetes(scaled=False)
    elif name == "breast_cancer":
        bunch = datasets.load_breast_cancer()
    else:
        bunch = datasets.load_digits()
    x = np.asarray(bunch.data, np.float64)
    target = np.asarray(bunch.target)
    x_train, x_test, t_train, t_test = train_test_split(
        x,
        target,
        test_size=test_fraction,
        random_state=seed,
        stratify=None if task == "regression" else target,
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # a constant pixel (digits' border) is only centred
    target_mean, target_std, num_classes = 0.0, 1.0, 0
    if task == "regression":
        target_mean, target_std = float(t_train.mean()), float(t_train.std())
        y_train = ((t_train - target_mean) / target_std).reshape(-1, 1).astype(dtype)
        y_test = ((t_test - target_mean) / target_std).reshape(-1, 1).astype(dtype)
    elif task == "binary":
        num_classes = 2
        y_train, y_test = (t.reshape(-1, 1).astype(dtype) for t in (t_train, t_test))
    else:
        num_classes = int(target.max()) + 1
        y_train, y_test = t_train.astype(np.int64), t_test.astype(np.int64)
    names = getattr(bunch, "target_names", None)
    return RealData(
        name=name,
        task=task,
        x_train=((x_train - mean) / std).astype(dtype),
        y_train=y_train,
        x_test=((x_test - mean) / std).astype(dtype),
        y_test=y_test,
        num_classes=num_classes,
        feature_mean=mean,
        feature_std=std,
        target_mean=target_mean,
        target_std=target_std,
        class_names=tuple(str(n) for n in names) if names is not None else (),
        raw_x_test=x_test,
    )


def one_hot(labels: np.ndarray, num_classes: int, dtype: str = "float32") -> np.ndarray:
    """Integer labels (n,) as one-hot rows (n, num_classes): the lecture's 0: [1, 0, 0] ...

    Example:
        >>> one_hot(np.array([0, 2]), 3)
        array([[1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    labels = np.asarray(labels)
    checks.require(
        labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer),
        f"labels must be a 1-D integer array, got {labels.dtype} {labels.shape}",
    )
    checks.require(
        not labels.size or (labels.min() >= 0 and labels.max() < num_classes),
        f"labels must be in [0, {num_classes}), got {labels.min()}..{labels.max()}",
    )
    return np.eye(num_classes, dtype=_check_dtype(dtype))[labels]
