"""Look losses up by name: function names, class names, and the aliases of the lecture and Keras.

``get(name)`` follows ``keras.losses.get``: a function name or a lower-case alias returns the
function itself; a class name (or a class) returns a new instance with default arguments. Either
result is a callable ``loss_fn(y_true, y_pred)`` that ``model.compile(loss=...)`` accepts.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, NamedTuple

import keras

from custom_losses import (
    focal,
    hinge_losses,
    metric_learning,
    probabilistic,
    regression,
    segmentation,
    sequence,
    similarity,
)


class Row(NamedTuple):
    """One loss: its per-sample function, its class, extra names for the function, and whether
    the class's batch loss is the mean or sum of the function's per-sample losses (False: the
    root of the batch mean, say, which cannot be split over replicas or K starts)."""

    function: Callable
    cls: type
    aliases: tuple[str, ...] = ()
    splits: bool = True


#: Every loss, one row each: get, FUNCTIONS, CLASSES, ALIASES, LOSS_NAMES and reduction_of
#: derive from it.
TABLE: tuple[Row, ...] = (
    Row(regression.mean_squared_error, regression.MeanSquaredError, ("mse", "MSE")),
    Row(regression.mean_absolute_error, regression.MeanAbsoluteError, ("mae", "MAE")),
    Row(
        regression.mean_absolute_percentage_error,
        regression.MeanAbsolutePercentageError,
        ("mape", "MAPE"),
    ),
    Row(
        regression.mean_squared_logarithmic_error,
        regression.MeanSquaredLogarithmicError,
        ("msle", "MSLE"),
    ),
    Row(
        regression.root_mean_squared_error,
        regression.RootMeanSquaredError,
        ("rmse", "RMSE"),
        splits=False,  # the class is the root of the reduced MSE
    ),
    Row(regression.sum_squared_error, regression.SumSquaredError, ("sse", "SSE")),
    Row(regression.log_cosh, regression.LogCosh, ("logcosh",)),
    Row(regression.huber, regression.Huber, ("huber_loss",)),
    Row(probabilistic.binary_crossentropy, probabilistic.BinaryCrossentropy, ("bce", "BCE")),
    Row(
        probabilistic.categorical_crossentropy,
        probabilistic.CategoricalCrossentropy,
        ("cce", "CCE"),
    ),
    Row(
        probabilistic.sparse_categorical_crossentropy,
        probabilistic.SparseCategoricalCrossentropy,
        ("scce",),
    ),
    Row(
        probabilistic.kl_divergence,
        probabilistic.KLDivergence,
        ("kld", "KLD", "kullback_leibler_divergence"),
    ),
    Row(probabilistic.poisson, probabilistic.Poisson),
    Row(hinge_losses.hinge, hinge_losses.Hinge),
    Row(hinge_losses.squared_hinge, hinge_losses.SquaredHinge),
    Row(hinge_losses.categorical_hinge, hinge_losses.CategoricalHinge),
    Row(
        similarity.cosine_similarity,
        similarity.CosineSimilarity,
        ("cosine_proximity", "cosine"),
    ),
    Row(focal.binary_focal_crossentropy, focal.BinaryFocalCrossentropy),
    Row(focal.categorical_focal_crossentropy, focal.CategoricalFocalCrossentropy),
    Row(
        focal.categorical_generalized_cross_entropy,
        focal.CategoricalGeneralizedCrossEntropy,
    ),
    Row(segmentation.dice, segmentation.Dice),
    Row(segmentation.tversky, segmentation.Tversky),
    Row(metric_learning.circle, metric_learning.Circle),
    Row(sequence.ctc, sequence.CTC),
)

#: Function name -> per-sample loss function.
FUNCTIONS: dict[str, Callable] = {row.function.__name__: row.function for row in TABLE}

#: Class name -> loss class.
CLASSES: dict[str, type] = {row.cls.__name__: row.cls for row in TABLE}

#: Alias -> function name: the lecture's abbreviations and Keras's (legacy) aliases.
ALIASES: dict[str, str] = {alias: row.function.__name__ for row in TABLE for alias in row.aliases}

#: Names of classes that are no loss of their own: "Loss", the base class (keras.losses.get
#: returns ``Loss()`` for it, as it does for every class name in its table).
BASE_CLASSES: dict[str, type] = {"Loss": keras.losses.Loss}

#: Every name :func:`get` accepts, sorted.
LOSS_NAMES: tuple[str, ...] = tuple(sorted({*FUNCTIONS, *CLASSES, *BASE_CLASSES, *ALIASES}))


def get(identifier: Any = None) -> Callable | None:
    """The loss ``identifier`` names, as ``keras.losses.get`` resolves it.

    Args:
        identifier: None; a function or class name or an alias (e.g. "mse", "huber_loss",
            "Huber", "sse", and "Loss" for the base class); a serialized loss (the dict of
            ``keras.losses.serialize``, ours or Keras's); a class; or a callable (a loss
            function or instance), returned as it is.

    Returns:
        None for None; a function for a function name or alias; a new instance with default
        arguments for a class name or a class; the deserialized loss for a dict; the callable
        itself.

    Raises:
        ValueError: for an unknown name (the message lists :data:`LOSS_NAMES`) or anything else
            (a number, a list), naming it.

    Example:
        >>> get("mse").__name__, type(get("Huber")).__name__, get(None)
        ('mean_squared_error', 'Huber', None)
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        if identifier in CLASSES or identifier in BASE_CLASSES:
            return {**CLASSES, **BASE_CLASSES}[identifier]()
        if identifier in FUNCTIONS or identifier in ALIASES:
            return FUNCTIONS[ALIASES.get(identifier, identifier)]
        raise ValueError(f"unknown loss name {identifier!r}; valid names: {', '.join(LOSS_NAMES)}")
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(
            identifier, custom_objects={**FUNCTIONS, **CLASSES}
        )
    if inspect.isclass(identifier):  # a class: a new instance with default arguments
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"could not interpret loss identifier {identifier!r}")


#: Keras's reductions that make a batch loss of per-sample losses, and which of the two it is.
_SPLIT_REDUCTIONS = {"sum_over_batch_size": "mean", "mean": "mean", "sum": "sum"}


def reduction_of(loss: Callable) -> str:
    """How the batch loss of ``loss`` is made of per-sample losses: "mean" or "sum".

    A loss function (one loss per sample) gives "mean", as ``model.compile`` averages it. A
    ``keras.losses.Loss`` instance (ours or Keras's) gives its reduction ("sum_over_batch_size"
    and "mean" are "mean"); its per-sample losses are then ``loss.call(y_true, y_pred)``.

    Raises:
        ValueError: if the batch loss is not a mean or a sum of per-sample losses: a class whose
            row says so (RootMeanSquaredError: the root of the batch mean), or a reduction
            "none", "mean_with_sample_weight" or None.

    Example:
        >>> reduction_of(get("mse")), reduction_of(get("SumSquaredError"))
        ('mean', 'sum')
    """
    if not isinstance(loss, keras.losses.Loss):
        return "mean"
    name = getattr(loss, "name", type(loss).__name__)
    if any(not _SPLITS.get(klass, True) for klass in type(loss).__mro__):
        raise ValueError(f"loss {name!r} is not a mean or sum of per-sample losses")
    if loss.reduction not in _SPLIT_REDUCTIONS:
        raise ValueError(f"loss {name!r} has reduction {loss.reduction!r}; need mean or sum")
    return _SPLIT_REDUCTIONS[loss.reduction]


_SPLITS: dict[type, bool] = {row.cls: row.splits for row in TABLE}
