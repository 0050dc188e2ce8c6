"""Keras Sequential models: the lecture's 1-2-1 sine-fit network and a general MLP.

Weight layout. The lecture writes a dense layer as y^m = f^m(W^m y^(m-1) + b^m) with
W^m of shape (s^m, s^(m-1)) and column vectors. Keras stores the transpose: a Dense
kernel has shape (s^(m-1), s^m) and acts on rows, y = f(x @ kernel + bias). The helpers
:func:`get_lecture_weights` and :func:`set_lecture_weights` convert between the two, so
the lecture's numbers can be read and written directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from keras_lab import checks
from keras_lab.data import _check_dtype
from keras_lab.lecture.backprop import LECTURE_WEIGHTS

__all__ = [
    "LECTURE_WEIGHTS",
    "get_lecture_weights",
    "lecture_random_weights",
    "mlp",
    "set_lecture_weights",
    "sine_fit_model",
]


def lecture_random_weights(
    seed: int = 0, layer_sizes: Sequence[int] = (1, 2, 1)
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random weights drawn the way the lecture's listing draws them: uniform in [0, 1).

    The listing uses ``np.random.rand`` for W1, b1, W2 and b2; here the draw is seeded
    (``np.random.default_rng(seed)``) so that the same seed gives the same start in numpy
    and in Keras.

    Args:
        seed: seed of the numpy generator.
        layer_sizes: (s^0, s^1, ..., s^M), e.g. (1, 2, 1) for the sine-fit network.

    Returns:
        [(W^1, b^1), ..., (W^M, b^M)] in the lecture's layout, float64.

    Example:
        >>> [w.shape for layer in lecture_random_weights(0) for w in layer]
        [(2, 1), (2, 1), (1, 2), (1, 1)]
    """
    sizes = _check_layer_sizes(layer_sizes)
    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        weight = rng.random((fan_out, fan_in))
        bias = rng.random((fan_out, 1))
        layers.append((weight, bias))
    return layers


def sine_fit_model(init: str = "random", seed: int = 0, dtype: str = "float32") -> keras.Sequential:
    """The lecture's sine-fit network: 1 input, Dense(2, sigmoid), Dense(1, linear).

    Args:
        init: "lecture" for the worked example's weights (W1 = [-0.3, 0.5],
            b1 = [0.2, 0.1], W2 = [0.5, 0.6], b2 = -0.1), or "random" for the listing's
            uniform [0, 1) draw, seeded (:func:`lecture_random_weights`).
        seed: seed of the random start (ignored for init="lecture").
        dtype: "float32" or "float64" (variables and computation).

    Returns:
        A built keras.Sequential named "sine_fit".

    Example:
        >>> model = sine_fit_model(init="lecture")
        >>> [tuple(w.shape) for w in model.get_weights()]
        [(1, 2), (2,), (2, 1), (1,)]
        >>> float(model.predict(np.array([[1.0]]), verbose=0)[0, 0])  # doctest: +ELLIPSIS
        0.5249...
    """
    checks.one_of("init", init, ("lecture", "random"))
    model = mlp(
        hidden=(2,),
        activation="sigmoid",
        input_dim=1,
        output_dim=1,
        output_activation="linear",
        seed=seed,
        dtype=dtype,
        name="sine_fit",
    )
    if init == "lecture":
        set_lecture_weights(model, LECTURE_WEIGHTS)
    else:
        set_lecture_weights(model, lecture_random_weights(seed, (1, 2, 1)))
    return model


def mlp(
    hidden: Sequence[int] = (64, 64),
    activation: str | Sequence[str] = "tanh",
    input_dim: int = 1,
    output_dim: int = 1,
    output_activation: str = "linear",
    seed: int = 0,
    dtype: str = "float32",
    name: str = "mlp",
) -> keras.Sequential:
    """A dense network: Input(input_dim), Dense(h, activation) per hidden size, Dense(output_dim).

    Kernels start Glorot-uniform and biases at zero, seeded: the same seed gives the
    same weights.

    Args:
        hidden: hidden layer sizes, each >= 1 (may be empty: a linear/logistic model).
        activation: one activation for every hidden layer, or one per hidden layer;
            any name Keras knows ("sigmoid", "tanh", "relu", "linear", ...).
        input_dim: number of input features, >= 1.
        output_dim: number of outputs, >= 1.
        output_activation: activation of the output layer ("linear" for regression,
            "sigmoid"/"softmax" for probabilities).
        seed: seed of the initializers.
        dtype: "float32" or "float64".
        name: the model's name.

    Returns:
        A built keras.Sequential.

    Example:
        >>> model = mlp(hidden=(3, 4), activation=("tanh", "relu"), input_dim=2)
        >>> [layer.units for layer in model.layers]
        [3, 4, 1]
    """
    dtype = _check_dtype(dtype)
    sizes = _check_layer_sizes((input_dim, *hidden, output_dim))
    activations = [activation] * len(hidden) if isinstance(activation, str) else list(activation)
    checks.require(
        len(activations) == len(hidden),
        f"got {len(activations)} activations {activations!r} for {len(hidden)} hidden layers "
        f"{tuple(hidden)!r}",
    )
    activations.append(output_activation)
    for act in activations:
        _check_activation(act)

    layers: list[keras.layers.Layer] = [keras.Input(shape=(sizes[0],), dtype=dtype)]
    # layer i's seed: seed + i, wrapped to int64 (--seed goes up to 2**63 - 1)
    for index, (units, act) in enumerate(zip(sizes[1:], activations)):
        is_output = index == len(sizes) - 2
        layers.append(
            keras.layers.Dense(
                units,
                activation=act,
                kernel_initializer=keras.initializers.GlorotUniform(seed=(seed + index) % 2**63),
                bias_initializer="zeros",
                dtype=dtype,
                name="output" if is_output else f"hidden_{index + 1}",
            )
        )
    return keras.Sequential(layers, name=name)


def get_lecture_weights(model: keras.Model) -> list[tuple[np.ndarray, np.ndarray]]:
    """The model's Dense weights in the lecture's layout: [(W^m, b^m)], W^m = kernel^T.

    Example:
        >>> [w.tolist() for w in get_lecture_weights(sine_fit_model(init="lecture"))[1]]
        [[[0.5, 0.6000000238418579]], [[-0.10000000149011612]]]
    """
    layers = []
    for layer in _dense_layers(model):
        kernel, bias = (np.asarray(v.numpy()) for v in (layer.kernel, layer.bias))
        layers.append((kernel.T.copy(), bias.reshape(-1, 1).copy()))
    return layers


def set_lecture_weights(
    model: keras.Model, layers: Sequence[tuple[np.ndarray, np.ndarray]]
) -> None:
    """Assign [(W^m, b^m)] in the lecture's layout to the model's Dense layers.

    Raises:
        ValueError: if the number of layers or any shape does not match the model.
    """
    dense = _dense_layers(model)
    checks.require(
        len(layers) == len(dense),
        f"model has {len(dense)} dense layers, got weights for {len(layers)}",
    )
    for index, (layer, (weight, bias)) in enumerate(zip(dense, layers)):
        weight = np.asarray(weight, dtype=np.float64)
        bias = np.asarray(bias, dtype=np.float64).reshape(-1, 1)
        expected = tuple(layer.kernel.shape)[::-1]
        checks.require(
            weight.shape == expected and bias.shape == (expected[0], 1),
            f"layer {index + 1}: expected W of shape {expected} and b of shape "
            f"{(expected[0], 1)}, got W {weight.shape} and b {bias.shape}",
        )
        layer.kernel.assign(weight.T.astype(layer.kernel.dtype))
        layer.bias.assign(bias.reshape(-1).astype(layer.bias.dtype))


def _dense_layers(model: keras.Model) -> list[keras.layers.Dense]:
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    checks.require(bool(dense), f"model {model.name!r} has no Dense layers")
    return dense


def _check_layer_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(sizes)
    for size in sizes:
        checks.integer("layer sizes", size, minimum=1)
    return sizes


def _check_activation(name: object) -> None:
    if not isinstance(name, str):
        raise ValueError(f"activation must be a name, got {name!r}")
    try:
        function = keras.activations.get(name)
    except (ValueError, TypeError):
        raise ValueError(f"unknown activation {name!r}") from None
    try:  # a Dense layer's activation maps each value: shape in, shape out, no arguments
        shape = tuple(function(keras.ops.zeros((2, 4))).shape)
    except (ValueError, TypeError) as error:
        first = str(error).strip().splitlines()[0][:120]
        raise ValueError(f"activation {name!r} cannot be a Dense layer's ({first})") from None
    if shape != (2, 4):
        raise ValueError(
            f"activation {name!r} turns (2, 4) values into {shape}: a Dense layer's maps each value"
        )
