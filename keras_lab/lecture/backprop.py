"""The lecture's back-propagation equations in numpy, for any stack of dense layers.

Notation follows the lecture (column vectors; superscript m is the layer, M the last):

    forward       n^m = W^m y^(m-1) + b^m,   y^m = f^m(n^m),   y^0 = x,   y = y^M
    output layer  d^M = -2 F'^M(n^M) (t - y)
    other layers  d^m = F'^m(n^m) (W^(m+1))^T d^(m+1),   m = M-1, ..., 1
    loss (SSE)    E = e^T e = (t - y)^T (t - y),   e = t - y
    update        W^m <- W^m - alpha d^m (y^(m-1))^T,   b^m <- b^m - alpha d^m

F'^m(n^m) is the diagonal matrix of the activation's derivatives; it is applied here as an
elementwise product, which is the same thing. A batch is a matrix whose Q columns are
samples: the same equations then give the gradient of the SSE summed over the batch
(d^m (y^(m-1))^T sums the outer products; the bias gradient sums d^m over columns).

``python -m keras_lab.backprop`` prints the lecture's worked example step by step;
``--json`` prints it as one JSON object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from keras_lab import checks

Layer = tuple[np.ndarray, np.ndarray]  # (W^m of shape (s^m, s^(m-1)), b^m of shape (s^m, 1))

#: The worked example of the lecture: input, target and learning rate.
WORKED_X, WORKED_T, WORKED_ALPHA = 1.0, 1.707, 0.1

#: The lecture's worked-example weights (back propagation example slide), lecture layout.
LECTURE_WEIGHTS: tuple[Layer, ...] = (
    (np.array([[-0.3], [0.5]]), np.array([[0.2], [0.1]])),  # W^1 (2x1), b^1 (2x1)
    (np.array([[0.5, 0.6]]), np.array([[-0.1]])),  # W^2 (1x2), b^2 (1x1)
)


# ----------------------------------------------------------------------------- activations
def sigmoid(n: np.ndarray) -> np.ndarray:
    """f(n) = 1 / (1 + exp(-n)), written so that exp never overflows."""
    n = np.asarray(n, dtype=np.float64)
    # For n < 0 use exp(n) / (1 + exp(n)): the same value, without exp(-n) overflowing.
    e = np.exp(-np.abs(n))
    return np.where(n >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


_FUNCTIONS = {
    "sigmoid": sigmoid,
    "linear": lambda n: np.asarray(n, dtype=np.float64),
    "tanh": np.tanh,
    "relu": lambda n: np.maximum(n, 0.0),
}

# Derivatives f'(n), written from the output y = f(n) where the lecture does
# (its dsigmoid(y) = (1 - y) y).
_DERIVATIVES = {
    "sigmoid": lambda n, y: (1.0 - y) * y,
    "linear": lambda n, y: np.ones_like(n),
    "tanh": lambda n, y: 1.0 - y * y,
    "relu": lambda n, y: (n > 0).astype(np.float64),  # f'(0) = 0, as TensorFlow's relu
}

#: Activations the equations are implemented for.
ACTIVATIONS: tuple[str, ...] = tuple(_FUNCTIONS)


def activate(name: str, n: np.ndarray) -> np.ndarray:
    """y = f(n) for the activation called ``name``.

    Example:
        >>> activate("sigmoid", np.array([0.0]))
        array([0.5])
    """
    checks.one_of("activation", name, ACTIVATIONS)
    return _FUNCTIONS[name](n)


def derivative(name: str, n: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The diagonal of F'(n): f'(n) elementwise, given n and y = f(n).

    Example:
        >>> derivative("sigmoid", np.array([0.0]), np.array([0.5]))
        array([0.25])
    """
    checks.one_of("activation", name, ACTIVATIONS)
    return _DERIVATIVES[name](np.asarray(n, np.float64), np.asarray(y, np.float64))


# ----------------------------------------------------------------------------- equations
def net_input(weight: np.ndarray, bias: np.ndarray, y_prev: np.ndarray) -> np.ndarray:
    """The dense layer before its activation: n^m = W^m y^(m-1) + b^m."""
    return weight @ y_prev + bias


def output_sensitivity(fdot: np.ndarray, t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Output layer: d^M = -2 F'^M(n^M) (t - y), with fdot the diagonal of F'^M(n^M)."""
    return -2.0 * fdot * (t - y)


def hidden_sensitivity(fdot: np.ndarray, weight_next: np.ndarray, d_next: np.ndarray) -> np.ndarray:
    """Other layers: d^m = F'^m(n^m) (W^(m+1))^T d^(m+1), with fdot the diagonal of F'^m."""
    return fdot * (weight_next.T @ d_next)


def sse(t: np.ndarray, y: np.ndarray) -> float:
    """The lecture's loss: E = e^T e = sum_i (t_i - y_i)^2, summed over every sample too.

    Example:
        >>> sse(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]]))
        5.0
    """
    e = np.asarray(t, np.float64) - np.asarray(y, np.float64)
    return float(np.sum(e * e))


def update_layer(
    weight: np.ndarray, bias: np.ndarray, d: np.ndarray, y_prev: np.ndarray, alpha: float
) -> Layer:
    """W^m <- W^m - alpha d^m (y^(m-1))^T and b^m <- b^m - alpha d^m (summed over columns)."""
    return (
        weight - alpha * d @ y_prev.T,
        bias - alpha * np.sum(d, axis=1, keepdims=True),
    )


# ----------------------------------------------------------------------------- network
@dataclass(frozen=True)
class Forward:
    """Everything the forward pass computes: n^m and y^m for m = 1..M, and y^0 = x."""

    inputs: np.ndarray  # y^0, shape (s^0, Q)
    nets: list[np.ndarray]  # n^1 .. n^M
    outputs: list[np.ndarray]  # y^1 .. y^M


def forward(layers: Sequence[Layer], activations: Sequence[str], x: np.ndarray) -> Forward:
    """y^m = f^m(W^m y^(m-1) + b^m) for m = 1..M, starting from y^0 = x.

    Args:
        layers: [(W^1, b^1), ..., (W^M, b^M)], W^m of shape (s^m, s^(m-1)).
        activations: one name per layer (see :data:`ACTIVATIONS`).
        x: the input, shape (s^0,) for one sample or (s^0, Q) for Q samples as columns.

    Returns:
        A :class:`Forward` with the net inputs and outputs of every layer.
    """
    layers, activations = _check_network(layers, activations)
    y = _as_columns(x, layers[0][0].shape[1], "x")
    inputs, nets, outputs = y, [], []
    for (weight, bias), name in zip(layers, activations):
        n = net_input(weight, bias, y)
        y = activate(name, n)
        nets.append(n)
        outputs.append(y)
    return Forward(inputs, nets, outputs)


def predict(layers: Sequence[Layer], activations: Sequence[str], x: np.ndarray) -> np.ndarray:
    """The network's output y = y^M, shape (s^M, Q)."""
    return forward(layers, activations, x).outputs[-1]


def sensitivities(
    layers: Sequence[Layer], activations: Sequence[str], fwd: Forward, t: np.ndarray
) -> list[np.ndarray]:
    """Back propagation: d^M at the output, then d^m = F'^m(n^m) (W^(m+1))^T d^(m+1).

    Returns:
        [d^1, ..., d^M], d^m of shape (s^m, Q).
    """
    layers, activations = _check_network(layers, activations)
    y = fwd.outputs[-1]
    t = _as_columns(t, y.shape[0], "t")
    checks.require(t.shape == y.shape, f"t has shape {t.shape}, the output y has shape {y.shape}")
    last = len(layers) - 1
    fdot = derivative(activations[last], fwd.nets[last], fwd.outputs[last])
    ds = [output_sensitivity(fdot, t, y)]
    for m in range(last - 1, -1, -1):
        fdot = derivative(activations[m], fwd.nets[m], fwd.outputs[m])
        ds.insert(0, hidden_sensitivity(fdot, layers[m + 1][0], ds[0]))
    return ds


def gradients(
    layers: Sequence[Layer], activations: Sequence[str], x: np.ndarray, t: np.ndarray
) -> list[Layer]:
    """dE/dW^m = d^m (y^(m-1))^T and dE/db^m = d^m (summed over samples), E the SSE.

    Example (the worked example's output-layer gradient; see :func:`worked_example`):
        >>> grads = gradients(LECTURE_WEIGHTS, ["sigmoid", "linear"], np.array([1.0]), 1.707)
        >>> np.round(grads[1][1], 5)
        array([[-2.36418]])
    """
    fwd = forward(layers, activations, x)
    ds = sensitivities(layers, activations, fwd, t)
    prev = [fwd.inputs, *fwd.outputs[:-1]]
    return [(d @ y_prev.T, np.sum(d, axis=1, keepdims=True)) for d, y_prev in zip(ds, prev)]


def sgd_step(
    layers: Sequence[Layer],
    activations: Sequence[str],
    x: np.ndarray,
    t: np.ndarray,
    alpha: float,
) -> list[Layer]:
    """One gradient-descent step on the SSE of (x, t): forward, back propagate, update.

    x may hold one sample (stochastic GD, the lecture's listing) or several as columns
    (the SSE summed over them).
    """
    alpha = checks.number("alpha", alpha, minimum=0, strict=True)
    fwd = forward(layers, activations, x)
    ds = sensitivities(layers, activations, fwd, t)
    prev = [fwd.inputs, *fwd.outputs[:-1]]
    return [
        update_layer(weight, bias, d, y_prev, alpha)
        for (weight, bias), d, y_prev in zip(layers, ds, prev)
    ]


def train_sgd(
    layers: Sequence[Layer],
    activations: Sequence[str],
    x: np.ndarray,
    t: np.ndarray,
    alpha: float,
    epochs: int,
    shuffle_seed: int | None = None,
    orders: np.ndarray | None = None,
) -> tuple[list[Layer], np.ndarray]:
    """Stochastic GD as in the lecture's listing: one update per sample, SSE per epoch.

    Args:
        layers, activations: the starting network (not modified).
        x, t: inputs (Q,) or (Q, s^0) and targets (Q,) or (Q, s^M), samples as rows.
        alpha: learning rate, > 0 (the listing uses 0.3).
        epochs: number of passes over the data, >= 1 (the listing uses 10).
        shuffle_seed: None visits samples in order (the listing); an int shuffles them
            every epoch with ``np.random.default_rng(shuffle_seed)`` (the lecture's prose).
        orders: explicit visiting orders, shape (epochs, Q); overrides shuffle_seed.

    Returns:
        (layers, history): the trained weights and the SSE over all samples after each
        epoch (the listing's ``SSE[k]``), shape (epochs,).
    """
    layers, activations = _check_network(layers, activations)
    alpha = checks.number("alpha", alpha, minimum=0, strict=True)
    epochs = checks.integer("epochs", epochs, minimum=1)
    x_rows = _as_rows(x, layers[0][0].shape[1], "x")
    t_rows = _as_rows(t, layers[-1][0].shape[0], "t")
    num_samples = len(x_rows)
    checks.require(len(t_rows) == num_samples, f"x has {num_samples} samples, t has {len(t_rows)}")
    if orders is None and shuffle_seed is None:
        orders = np.tile(np.arange(num_samples), (epochs, 1))
    elif orders is None:
        rng = np.random.default_rng(shuffle_seed)
        orders = np.stack([rng.permutation(num_samples) for _ in range(epochs)])
    orders = np.asarray(orders)
    expected = (epochs, num_samples)
    checks.require(
        orders.shape == expected, f"orders must have shape {expected}, got {orders.shape}"
    )
    history = np.empty(epochs)
    for k in range(epochs):
        for i in orders[k]:
            layers = sgd_step(layers, activations, x_rows[i], t_rows[i], alpha)
        history[k] = sse(t_rows.T, predict(layers, activations, x_rows.T))
    return layers, history


# ----------------------------------------------------------------------------- worked example
def worked_example(
    x: float = WORKED_X,
    t: float = WORKED_T,
    alpha: float = WORKED_ALPHA,
    layers: Sequence[Layer] | None = None,
) -> dict[str, np.ndarray | float]:
    """The lecture's back-propagation example on the 1-2-1 network, every quantity.

    Defaults are the lecture's: X = 1, T = 1.707, alpha = 0.1, W1 = [-0.3, 0.5]^T,
    b1 = [0.2, 0.1]^T, W2 = [0.5, 0.6], b2 = -0.1.

    Returns:
        A dict with n1, y1, y2, e, sse, d2, d1 and the updated W1, b1, W2, b2 in the
        lecture's shapes (n1, y1, d1, W1, b1: 2x1; y2, e, d2, b2: 1x1; W2: 1x2).

    Example:
        >>> step = worked_example()
        >>> np.round(step["n1"].ravel(), 4), np.round(step["y2"].ravel(), 4)
        (array([-0.1,  0.6]), array([0.5249]))
    """
    layers, activations = _check_network(
        LECTURE_WEIGHTS if layers is None else layers, ("sigmoid", "linear")
    )
    shapes = [weight.shape for weight, _ in layers]
    checks.require(
        shapes == [(2, 1), (1, 2)], f"the worked example is the 1-2-1 network, got W^m {shapes}"
    )
    x, t = checks.number("x", x), checks.number("t", t)
    alpha = checks.number("alpha", alpha, minimum=0, strict=True)
    fwd = forward(layers, activations, np.array([x]))
    d1, d2 = sensitivities(layers, activations, fwd, np.array([t]))
    (w1, b1), (w2, b2) = sgd_step(layers, activations, np.array([x]), np.array([t]), alpha)
    y2 = fwd.outputs[1]
    e = np.array([[t]]) - y2
    sse_value = float((e.T @ e)[0, 0])
    return dict(n1=fwd.nets[0], y1=fwd.outputs[0], y2=y2, e=e, sse=sse_value, d2=d2, d1=d1,
                W1=w1, b1=b1, W2=w2, b2=b2)  # fmt: skip


def format_worked_example(step: dict, x: float, t: float, alpha: float) -> str:
    """The worked example as text, one equation per line in the lecture's notation."""

    def show(value: np.ndarray | float) -> str:
        return np.array2string(
            np.asarray(value), precision=6, separator=", ", suppress_small=False
        ).replace("\n", "")

    lines = [
        f"Back propagation worked example: x = {x:g}, t = {t:g}, alpha = {alpha:g}",
        "forward",
        f"  n1 = W1 x + b1            = {show(step['n1'])}",
        f"  y1 = sigmoid(n1)          = {show(step['y1'])}",
        f"  y2 = W2 y1 + b2           = {show(step['y2'])}",
        f"  e  = t - y2               = {show(step['e'])}",
        f"  SSE = e^T e               = {step['sse']:.6f}",
        "back propagation",
        f"  d2 = -2 F2(n2) (t - y2)   = {show(step['d2'])}",
        f"  d1 = F1(n1) W2^T d2       = {show(step['d1'])}",
        "update",
        f"  W1 <- W1 - alpha d1 x^T   = {show(step['W1'])}",
        f"  b1 <- b1 - alpha d1       = {show(step['b1'])}",
        f"  W2 <- W2 - alpha d2 y1^T  = {show(step['W2'])}",
        f"  b2 <- b2 - alpha d2       = {show(step['b2'])}",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- checks
def _check_network(
    layers: Sequence[Layer], activations: Sequence[str]
) -> tuple[list[Layer], list[str]]:
    """The layers as float64 (W^m, b^m as a column), after checking that they chain."""
    checks.require(
        not isinstance(activations, str),
        f"activations must be one name per layer, got the string {activations!r}",
    )
    activations = list(activations)
    checks.require(len(layers) > 0, "the network needs at least one layer, got none")
    checks.require(
        len(activations) == len(layers),
        f"got {len(activations)} activations {activations!r} for {len(layers)} layers",
    )
    for name in activations:
        checks.one_of("activation", name, ACTIVATIONS)
    checked = []
    first = np.shape(layers[0][0])
    fan_in = first[1] if len(first) == 2 else None
    for m, (weight, bias) in enumerate(layers, start=1):
        weight, bias = checks.finite(f"W^{m}", weight), checks.finite(f"b^{m}", bias)
        checks.require(
            weight.ndim == 2 and weight.shape[1] == fan_in,
            f"W^{m} has shape {weight.shape}; expected a matrix with {fan_in} columns",
        )
        checks.require(
            bias.shape in ((weight.shape[0], 1), (weight.shape[0],)),
            f"b^{m} has shape {bias.shape}; expected {(weight.shape[0], 1)}",
        )
        checked.append((weight, bias.reshape(-1, 1)))
        fan_in = weight.shape[0]
    return checked, activations


def _as_columns(values: np.ndarray | float, size: int, what: str) -> np.ndarray:
    """One sample (size,) -> (size, 1); a matrix (size, Q) stays; anything else fails."""
    array = np.asarray(values, dtype=np.float64)
    array = array.reshape(-1, 1) if array.ndim < 2 else array
    shape_ok = array.ndim == 2 and array.shape[0] == size
    checks.require(
        shape_ok, f"{what} has shape {np.shape(values)}; expected ({size},) or ({size}, Q)"
    )
    return array


def _as_rows(values: np.ndarray, size: int, what: str) -> np.ndarray:
    """Samples as rows: (Q,) when size == 1 -> (Q, 1); (Q, size) stays."""
    array = np.asarray(values, dtype=np.float64)
    array = array.reshape(-1, 1) if array.ndim == 1 and size == 1 else array
    shape_ok = array.ndim == 2 and array.shape[1] == size
    checks.require(shape_ok, f"{what} has shape {np.shape(values)}; expected (Q, {size})")
    return array
