"""Parity of custom_losses with keras.losses on the backend KERAS_BACKEND names (jax or torch).

Run by tests/test_losses_backends.py in a fresh process, where ``import tensorflow`` fails (a
stand-in package that raises ImportError shadows it); by hand:

    KERAS_BACKEND=torch PYTHONPATH=. python tests/backend_parity_script.py

Prints one JSON object: the number of cases, the failures (empty when all agree), the measured
documented choices and a model.fit + .keras round trip. Gradients through the backend's own
differentiation (jax.grad; torch autograd), eagerly and compiled (jax.jit; torch.compile, as
Keras's torch trainer compiles with ``jit_compile=True``).
"""

from __future__ import annotations

import json
import logging.handlers
import sys
import tempfile

import keras
import numpy as np
from keras import ops
from loss_cases import CLASS_NAMES, REDUCTIONS, SPECS, inputs, valid  # the one table of cases

import custom_losses

BACKEND = keras.backend.backend()
RTOL = (
    1e-5  # float32, k <= 4 terms; gradients of log_softmax vs fused kernels: see test_losses_parity
)

#: of the table's shapes (tests/loss_cases.py), in float32 (JAX's default precision)
SHAPES = [(6,), (6, 4), (6, 3, 4)]
#: sparse CCE, which the table leaves to its own test in test_losses_parity.py
SCCE_OPTIONS = [{}, {"from_logits": True}]
#: the NaN-in, NaN-out check: one plain case of each function
NAMES = [*SPECS, "sparse_categorical_crossentropy"]


def table_cases():
    """(name, options, shape, y_true, y_pred): every case of the shared table, float32."""
    for name, (_, _, options_list) in SPECS.items():
        for options in options_list:
            for shape in SHAPES:
                if valid(name, shape, options):
                    y_true, y_pred = inputs(name, shape, options, "float32", seed=len(shape))
                    yield name, options, shape, y_true, y_pred
    rng = np.random.default_rng(0)
    for options in SCCE_OPTIONS:
        y_true, y_pred = small_inputs("sparse_categorical_crossentropy", rng, options)
        yield "sparse_categorical_crossentropy", options, y_pred.shape, y_true, y_pred


def value_and_gradient(fn, y_true, y_pred, jit=False):
    """fn's value and d sum(fn)/d y_pred on this backend."""
    if BACKEND == "jax":
        import jax

        def total(p):
            return ops.sum(fn(y_true, p))

        grad = jax.grad(total)
        value_fn = fn
        if jit:
            grad, value_fn = jax.jit(grad), jax.jit(fn)
        return np.asarray(value_fn(y_true, y_pred)), np.asarray(grad(y_pred))
    import torch  # the torch backend: compiled cases run in one graph, see torch_compiled

    p = torch.tensor(np.asarray(y_pred), requires_grad=True)
    value = fn(y_true, p)
    value.sum().backward()
    return value.detach().numpy(), p.grad.numpy()


def torch_compiled():
    """Every function under torch.compile, values and autograd gradients, against Keras eager.

    One compiled graph for all of them (each compilation costs seconds on this 2-core
    machine): each function gets its own y_pred leaf, so one backward pass of the sum of
    their sums gives each function's gradient on its own input.
    """
    import torch
    import torch._dynamo.utils

    table = [case for case in table_cases() if len(case[2]) == 2]  # the (N, k) cases
    cases = [(name, options) for name, options, *_ in table]
    data = [(y_true, y_pred) for *_, y_true, y_pred in table]
    leaves = [torch.tensor(p, requires_grad=True) for _, p in data]
    targets = [torch.tensor(t) for t, _ in data]

    def all_losses(targets, leaves):
        return [
            getattr(custom_losses, name)(t, p, **options)
            for (name, options), t, p in zip(cases, targets, leaves)
        ]

    # the losses share wrappers called with other arguments: each is a recompilation, and
    # past the default limit (8) dynamo would run the rest eagerly without a word
    torch._dynamo.config.recompile_limit = 4 * len(cases)
    limit_warnings = logging.handlers.BufferingHandler(capacity=1000)
    logging.getLogger("torch._dynamo.convert_frame").addHandler(limit_warnings)
    values = torch.compile(all_losses)(targets, leaves)
    sum(value.sum() for value in values).backward()
    failures = []
    for (name, options), (t, p), value, leaf in zip(cases, data, values, leaves):
        expected = value_and_gradient(
            lambda a, b, name=name, options=options: getattr(keras.losses, name)(a, b, **options),
            t,
            p,
        )
        got = (value.detach().numpy(), leaf.grad.numpy())
        for part, x, y in zip(("value", "gradient"), got, expected):
            atol = RTOL * max(1.0, float(np.max(np.abs(y))))
            if not np.allclose(x, y, rtol=RTOL, atol=atol):
                failures.append(f"{part} {name} {options} torch.compile")
    stats = torch._dynamo.utils.counters
    return {
        "cases": len(cases),
        "failures": failures,
        "graphs": stats["stats"]["unique_graphs"],
        # where the code branches on a tensor's value (hinge's {0, 1} -> {-1, 1} labels, as
        # Keras's own ops.cond) dynamo breaks the graph and runs that test eagerly
        "graph_breaks": sum(stats["graph_break"].values()),
        "recompile_limit_hit": any(
            "recompile_limit" in record.getMessage() for record in limit_warnings.buffer
        ),
    }


def small_inputs(name, rng, options):
    shape = (5, 4)
    if name == "sparse_categorical_crossentropy":
        p = rng.uniform(0.05, 1.0, shape)
        p = p / p.sum(-1, keepdims=True)
        pred = rng.normal(0, 3, shape) if options.get("from_logits") else p
        return rng.integers(0, 4, (5,)).astype("int32"), pred.astype("float32")
    if name in ("categorical_crossentropy", "categorical_hinge", "kl_divergence"):
        t = np.eye(4)[rng.integers(0, 4, 5)]
        p = rng.uniform(0.05, 1.0, shape)
        p = p / p.sum(-1, keepdims=True)
        if options.get("from_logits"):
            p = rng.normal(0, 3, shape)
        return t.astype("float32"), p.astype("float32")
    if name == "binary_crossentropy":
        p = (
            rng.normal(0, 4, shape)
            if options.get("from_logits")
            else rng.uniform(0.01, 0.99, shape)
        )
        return rng.integers(0, 2, shape).astype("float32"), p.astype("float32")
    if name in ("mean_squared_logarithmic_error", "poisson"):
        return rng.exponential(2, shape).astype("float32"), rng.exponential(2, shape).astype(
            "float32"
        )
    if name in ("hinge", "squared_hinge"):
        return rng.choice([-1.0, 1.0], shape).astype("float32"), rng.normal(0, 1, shape).astype(
            "float32"
        )
    return rng.normal(0, 3, shape).astype("float32"), rng.normal(0, 3, shape).astype("float32")


def parity():
    """Every case of the table, values and gradients; 2-D ones also under jax.jit."""
    cases, failures = 0, []
    for name, options, shape, y_true, y_pred in table_cases():
        # jax.jit: a compilation each, for the (N, k) cases; torch's compiled: torch_compiled
        for jit in (False, True) if len(shape) == 2 and BACKEND == "jax" else (False,):

            def ours(t, p, name=name, options=options):
                return getattr(custom_losses, name)(t, p, **options)

            def theirs(t, p, name=name, options=options):
                return getattr(keras.losses, name)(t, p, **options)

            a = value_and_gradient(ours, y_true, y_pred, jit)
            b = value_and_gradient(theirs, y_true, y_pred, jit)
            cases += 1
            for part, x, y in (("value", a[0], b[0]), ("gradient", a[1], b[1])):
                atol = RTOL * max(1.0, float(np.max(np.abs(y))))
                if not np.allclose(x, y, rtol=RTOL, atol=atol):
                    failures.append(f"{part} {name} {options} {shape} jit={jit}")
    return cases, failures


def class_parity():
    """Each class with every reduction and a sample weight, values and gradients, jit too."""
    rng = np.random.default_rng(2)
    cases, failures = 0, []
    two_dimensional = [case for case in table_cases() if len(case[2]) == 2]
    for name, class_name in CLASS_NAMES.items():
        of_name = [case for case in two_dimensional if case[0] == name][:2]  # two options
        for _, options, shape, y_true, y_pred in of_name:
            weight = rng.uniform(0.0, 2.0, shape[:1]).astype("float32")
            for reduction in REDUCTIONS:
                # jit (a compilation per case) for one reduction; eager for all four
                compiled = reduction == REDUCTIONS[0] and BACKEND == "jax"
                for jit in (False, True) if compiled else (False,):
                    results = []
                    for module in (custom_losses, keras.losses):
                        loss = getattr(module, class_name)(reduction=reduction, **options)
                        results.append(
                            value_and_gradient(
                                lambda t, p, loss=loss: loss(t, p, sample_weight=weight),
                                y_true,
                                y_pred,
                                jit,
                            )
                        )
                    cases += 1
                    for part, x, y in zip(("value", "gradient"), results[0], results[1]):
                        atol = RTOL * max(1.0, float(np.max(np.abs(y))))
                        if not np.allclose(x, y, rtol=RTOL, atol=atol):
                            failures.append(f"{part} {class_name} {options} {reduction} jit={jit}")
    return cases, failures


def special_values():
    """NaN in, NaN out, jit-compiled; logits +-1e9, 500, -200 finite where Keras's are."""
    failures = []
    for name in NAMES:
        y_true, y_pred = small_inputs(name, np.random.default_rng(3), {})
        y_pred = y_pred.copy()
        y_pred[0, 0] = np.nan
        for jit in (False, True) if BACKEND == "jax" else (False,):
            value, _ = value_and_gradient(getattr(custom_losses, name), y_true, y_pred, jit)
            if not (np.isnan(value[0]) and np.all(np.isfinite(value[1:]))):
                failures.append(f"NaN {name} jit={jit}: {value}")
    t = np.array([[1.0, 0.0, 1.0, 0.0]], "float32")
    logits = np.array([[1e9, -1e9, 500.0, -200.0]], "float32")
    for jit in (False, True) if BACKEND == "jax" else (False,):
        ours = value_and_gradient(
            lambda a, b: custom_losses.binary_crossentropy(a, b, from_logits=True), t, logits, jit
        )
        theirs = value_and_gradient(
            lambda a, b: keras.losses.binary_crossentropy(a, b, from_logits=True), t, logits, jit
        )
        if not (np.allclose(ours[0], theirs[0]) and np.allclose(ours[1], theirs[1])):
            failures.append(f"huge logits jit={jit}: {ours} != {theirs}")
    return failures


def choices():
    """The documented per-backend choices (docs/losses.md), measured."""
    result = {}
    # _keras_logits of a softmax model: evaluate eagerly and compiled, ours and Keras's
    x = np.array([[-30.0, 10.0, 40.0]], "float32")
    y = np.array([[1.0, 0.0, 0.0]], "float32")
    for key, loss, eager in (
        ("softmax_eager", custom_losses.CategoricalCrossentropy(), True),
        ("softmax_jit", custom_losses.CategoricalCrossentropy(), False),
        ("softmax_keras", keras.losses.CategoricalCrossentropy(), False),
    ):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Activation("softmax")])
        model.compile(loss=loss, run_eagerly=eager)
        result[key] = float(model.evaluate(x, y, verbose=0))
    # SCCE on rows that are not distributions (with 0 and 1): ours vs Keras's on this backend
    p = np.array([[0.0, 0.5, 1.0, 0.3], [0.2, 0.2, 0.2, 1.0]], "float32")
    labels = np.array([0, 3], "int32")
    ours = np.asarray(custom_losses.sparse_categorical_crossentropy(labels, p))
    theirs = np.asarray(keras.losses.sparse_categorical_crossentropy(labels, p))
    result["scce_vs_keras_" + BACKEND] = float(np.max(np.abs(ours - theirs) / np.abs(theirs)))
    # BCE from logits, saturated: t = 0 at x = -20 and t = 1 at x = 20: gradient +-1/(1+e^20)
    t, logits = np.array([[0.0], [1.0]], "float32"), np.array([[-20.0], [20.0]], "float32")
    _, gradient = value_and_gradient(
        lambda a, b: custom_losses.binary_crossentropy(a, b, from_logits=True), t, logits
    )
    exact = 1.0 / (1.0 + np.exp(20.0))
    result["bce_saturated_gradient_error"] = float(
        np.max(np.abs(gradient.ravel() - [exact, -exact]) / exact)
    )
    return result


def fit_round_trip():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (32, 3)).astype("float32")
    y = np.eye(3)[rng.integers(0, 3, 32)].astype("float32")
    weights = []
    for loss in (custom_losses.CategoricalCrossentropy(), keras.losses.CategoricalCrossentropy()):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
        model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
        weights.append(np.concatenate([np.ravel(w) for w in model.get_weights()]))
    with tempfile.TemporaryDirectory() as directory:
        path = f"{directory}/model.keras"
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="sgd", loss=custom_losses.Huber(delta=0.25))
        model.save(path)
        reloaded = keras.saving.load_model(path)
        before = float(model.evaluate(x, y, verbose=0))
        after = float(reloaded.evaluate(x, y, verbose=0))
        delta = reloaded.loss.delta
    return {
        "weights_max_difference": float(np.max(np.abs(weights[0] - weights[1]))),
        "reloaded_loss_difference": abs(before - after),
        "reloaded_delta": delta,
    }


def tensorflow_importable() -> bool:
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def main():
    cases, failures = parity()
    class_cases, class_failures = class_parity()
    report = {
        "class_cases": class_cases,
        "class_failures": class_failures,
        "special_failures": special_values(),
        "backend": BACKEND,
        "keras": keras.__version__,
        "cases": cases,
        "failures": failures,
        "choices": choices(),
        "fit": fit_round_trip(),
        "compiled": torch_compiled() if BACKEND == "torch" else None,
        "tensorflow_imported": "tensorflow" in sys.modules,
        "tensorflow_importable": tensorflow_importable(),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
