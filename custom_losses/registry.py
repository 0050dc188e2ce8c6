"""Look losses up by name: function names, class names, and the aliases of the lecture and Keras.

``get(name)`` follows ``keras.losses.get``: a function name or a lower-case alias returns the
function itself; a class name returns a new instance with default arguments. Either result is a
callable ``loss_fn(y_true, y_pred)`` that ``model.compile(loss=...)`` accepts.
"""

from __future__ import annotations

from typing import Any, Callable

import keras

from custom_losses import classes, hinge_losses, probabilistic, regression, similarity

#: Function name -> per-sample loss function.
FUNCTIONS: dict[str, Callable] = {
    fn.__name__: fn
    for fn in (
        regression.mean_squared_error,
        regression.mean_absolute_error,
        regression.mean_absolute_percentage_error,
        regression.mean_squared_logarithmic_error,
        regression.root_mean_squared_error,
        regression.sum_squared_error,
        regression.log_cosh,
        regression.huber,
        probabilistic.binary_crossentropy,
        probabilistic.categorical_crossentropy,
        probabilistic.sparse_categorical_crossentropy,
        probabilistic.kl_divergence,
        probabilistic.poisson,
        hinge_losses.hinge,
        hinge_losses.squared_hinge,
        hinge_losses.categorical_hinge,
        similarity.cosine_similarity,
    )
}

#: Class name -> loss class.
CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        classes.MeanSquaredError,
        classes.MeanAbsoluteError,
        classes.MeanAbsolutePercentageError,
        classes.MeanSquaredLogarithmicError,
        classes.RootMeanSquaredError,
        classes.SumSquaredError,
        classes.LogCosh,
        classes.Huber,
        classes.BinaryCrossentropy,
        classes.CategoricalCrossentropy,
        classes.SparseCategoricalCrossentropy,
        classes.KLDivergence,
        classes.Poisson,
        classes.Hinge,
        classes.SquaredHinge,
        classes.CategoricalHinge,
        classes.CosineSimilarity,
    )
}

#: Alias -> function name: the lecture's abbreviations and Keras's (legacy) aliases.
ALIASES: dict[str, str] = {
    "mse": "mean_squared_error",
    "MSE": "mean_squared_error",
    "mae": "mean_absolute_error",
    "MAE": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "MAPE": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "MSLE": "mean_squared_logarithmic_error",
    "rmse": "root_mean_squared_error",
    "RMSE": "root_mean_squared_error",
    "sse": "sum_squared_error",
    "SSE": "sum_squared_error",
    "logcosh": "log_cosh",
    "huber_loss": "huber",
    "bce": "binary_crossentropy",
    "BCE": "binary_crossentropy",
    "cce": "categorical_crossentropy",
    "CCE": "categorical_crossentropy",
    "scce": "sparse_categorical_crossentropy",
    "kld": "kl_divergence",
    "KLD": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "cosine_proximity": "cosine_similarity",
    "cosine": "cosine_similarity",
}

#: Every name :func:`get` accepts, sorted.
LOSS_NAMES: tuple[str, ...] = tuple(sorted({*FUNCTIONS, *CLASSES, *ALIASES}))


def get(identifier: Any = None) -> Callable | None:
    """The loss ``identifier`` names, as ``keras.losses.get`` resolves it.

    Args:
        identifier: None; a function or class name or an alias (e.g. "mse", "huber_loss",
            "Huber", "sse"); a serialized loss (the dict of ``keras.losses.serialize``, ours or
            Keras's); or a callable (a loss function or instance), returned as it is.

    Returns:
        None for None; a function for a function name or alias; a new instance with default
        arguments for a class name; the deserialized loss for a dict; the callable itself.

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
        if identifier in CLASSES:
            return CLASSES[identifier]()
        if identifier in FUNCTIONS or identifier in ALIASES:
            return FUNCTIONS[ALIASES.get(identifier, identifier)]
        raise ValueError(f"unknown loss name {identifier!r}; valid names: {', '.join(LOSS_NAMES)}")
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(
            identifier, custom_objects={**FUNCTIONS, **CLASSES}
        )
    if callable(identifier):
        return identifier
    raise ValueError(f"could not interpret loss identifier {identifier!r}")
