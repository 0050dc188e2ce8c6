"""custom_losses: the lecture's loss functions as drop-in Keras 3 losses.

Functions return one loss per sample and have the names, signatures and defaults of the
``keras.losses`` functions; classes subclass ``keras.losses.Loss``, have the constructor arguments
of the ``keras.losses`` classes and are registered as serializable (package "custom_losses").
Pure ``keras.ops`` code: runs on any Keras 3 backend.

    model.compile(optimizer="sgd", loss=custom_losses.Huber(delta=0.5))
    model.compile(optimizer="sgd", loss=custom_losses.log_cosh)
    model.compile(optimizer="sgd", loss=custom_losses.get("sse"))
"""

from custom_losses.base import LossFunction
from custom_losses.focal import (
    BinaryFocalCrossentropy,
    CategoricalFocalCrossentropy,
    CategoricalGeneralizedCrossEntropy,
    binary_focal_crossentropy,
    categorical_focal_crossentropy,
    categorical_generalized_cross_entropy,
)
from custom_losses.hinge_losses import (
    CategoricalHinge,
    Hinge,
    SquaredHinge,
    categorical_hinge,
    hinge,
    squared_hinge,
)
from custom_losses.metric_learning import Circle, circle
from custom_losses.probabilistic import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    KLDivergence,
    Poisson,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    kl_divergence,
    poisson,
    sparse_categorical_crossentropy,
)
from custom_losses.registry import ALIASES, LOSS_NAMES, get
from custom_losses.regression import (
    Huber,
    LogCosh,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    RootMeanSquaredError,
    SumSquaredError,
    huber,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    root_mean_squared_error,
    sum_squared_error,
)
from custom_losses.segmentation import Dice, Tversky, dice, tversky
from custom_losses.sequence import CTC, ctc
from custom_losses.serialization import Loss, deserialize, serialize
from custom_losses.similarity import CosineSimilarity, cosine_similarity

__all__ = [
    # functions: one loss per sample
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "root_mean_squared_error",
    "sum_squared_error",
    "log_cosh",
    "huber",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "kl_divergence",
    "poisson",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "cosine_similarity",
    # classes: keras.losses.Loss subclasses
    "LossFunction",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "RootMeanSquaredError",
    "SumSquaredError",
    "LogCosh",
    "Huber",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "KLDivergence",
    "Poisson",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "CosineSimilarity",
    # lookup
    "get",
    "LOSS_NAMES",
    "ALIASES",
    # the newer losses of keras.losses (focal, segmentation, metric learning, sequence)
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_generalized_cross_entropy",
    "dice",
    "tversky",
    "circle",
    "ctc",
    "BinaryFocalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalGeneralizedCrossEntropy",
    "Dice",
    "Tversky",
    "Circle",
    "CTC",
    # the base class and the serialization helpers, as in keras.losses
    "Loss",
    "serialize",
    "deserialize",
]
