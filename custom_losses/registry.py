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
    classes,
    extra_classes,
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
    """One loss: its per-sample function, its class, and extra names for the function."""

    function: Callable
    cls: type
    aliases: tuple[str, ...] = ()


#: Every loss, one row each: get, FUNCTIONS, CLASSES, ALIASES and LOSS_NAMES derive from it.
TABLE: tuple[Row, ...] = (
    Row(regression.mean_squared_error, classes.MeanSquaredError, ("mse", "MSE")),
    Row(regression.mean_absolute_error, classes.MeanAbsoluteError, ("mae", "MAE")),
    Row(
        regression.mean_absolute_percentage_error,
        classes.MeanAbsolutePercentageError,
        ("mape", "MAPE"),
    ),
    Row(
        regression.mean_squared_logarithmic_error,
        classes.MeanSquaredLogarithmicError,
        ("msle", "MSLE"),
    ),
    Row(regression.root_mean_squared_error, classes.RootMeanSquaredError, ("rmse", "RMSE")),
    Row(regression.sum_squared_error, classes.SumSquaredError, ("sse", "SSE")),
    Row(regression.log_cosh, classes.LogCosh, ("logcosh",)),
    Row(regression.huber, classes.Huber, ("huber_loss",)),
    Row(probabilistic.binary_crossentropy, classes.BinaryCrossentropy, ("bce", "BCE")),
    Row(probabilistic.categorical_crossentropy, classes.CategoricalCrossentropy, ("cce", "CCE")),
    Row(
        probabilistic.sparse_categorical_crossentropy,
        classes.SparseCategoricalCrossentropy,
        ("scce",),
    ),
    Row(
        probabilistic.kl_divergence,
        classes.KLDivergence,
        ("kld", "KLD", "kullback_leibler_divergence"),
    ),
    Row(probabilistic.poisson, classes.Poisson),
    Row(hinge_losses.hinge, classes.Hinge),
    Row(hinge_losses.squared_hinge, classes.SquaredHinge),
    Row(hinge_losses.categorical_hinge, classes.CategoricalHinge),
    Row(similarity.cosine_similarity, classes.CosineSimilarity, ("cosine_proximity", "cosine")),
    # the newer losses of keras.losses: focal, segmentation, metric learning, sequence
    Row(focal.binary_focal_crossentropy, extra_classes.BinaryFocalCrossentropy),
    Row(focal.categorical_focal_crossentropy, extra_classes.CategoricalFocalCrossentropy),
    Row(
        focal.categorical_generalized_cross_entropy,
        extra_classes.CategoricalGeneralizedCrossEntropy,
    ),
    Row(segmentation.dice, extra_classes.Dice),
    Row(segmentation.tversky, extra_classes.Tversky),
    Row(metric_learning.circle, extra_classes.Circle),
    Row(sequence.ctc, extra_classes.CTC),
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
