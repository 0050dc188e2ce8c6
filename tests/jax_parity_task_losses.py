"""Parity of the losses added in issue #11 with keras.losses on JAX, run in a fresh process with
KERAS_BACKEND=jax by tests/test_losses_task.py (the backend is fixed when Keras is imported):

    KERAS_BACKEND=jax PYTHONPATH=. python tests/jax_parity_task_losses.py

The cases of tests/task_loss_cases.py run compiled on TensorFlow (one per function, with the
most options) and the logits cases, in float32 (JAX computes float64 only with jax_enable_x64,
off by default): values and jax.grad gradients under jax.jit (as model.fit runs them) against
Keras's own losses on JAX; and the places where Keras on JAX differs from Keras on TensorFlow,
measured. Prints one JSON object.
"""

from __future__ import annotations

import json
import sys

import jax
import jax.numpy as jnp
import keras
import numpy as np

from custom_losses import focal, sequence
from tests.task_loss_cases import (
    CASES,
    COMPILED_CASES,
    OURS,
    TOLERANCE,
    compare,
    kwargs_for,
    weights_for,
)

#: The cases run here: those compiled on TensorFlow too, and the plain logits case (the JAX
#: process costs seconds per compilation on this 2-core machine).
JAX_CASES = (*COMPILED_CASES, "bfce-logits", "cfce-logits")


def values_and_gradients(ours, keras_fn, y_true, y_pred, weights, kwargs):
    """Ours and Keras's value and jax.grad gradient, both in one jax.jit (one compilation)."""

    def value_and_gradient(fn, y_pred):
        def total(y_pred):
            loss = fn(y_true, y_pred, **kwargs)
            return jnp.sum(loss * weights), loss

        (_, loss), gradient = jax.value_and_grad(total, has_aux=True)(y_pred)
        return loss, gradient

    both = jax.jit(
        lambda y_pred: (value_and_gradient(ours, y_pred), value_and_gradient(keras_fn, y_pred))
    )
    return jax.tree_util.tree_map(np.asarray, both(jnp.asarray(y_pred)))


def parity() -> dict:
    """Ours against Keras on JAX, jit-compiled (as model.fit runs them), on JAX_CASES."""
    rng = np.random.default_rng(11)
    worst, failures = {}, []
    rtol, atol = TOLERANCE["float32"]
    for case in CASES:
        y_true, y_pred = case.make(rng, "float32")
        if case.id not in JAX_CASES:
            continue
        kwargs = kwargs_for(case, "float32")
        shape = tuple(getattr(keras.losses, case.name)(y_true, y_pred, **kwargs).shape)
        weights = jnp.asarray(weights_for(shape, rng, "float32"))
        ours, reference = values_and_gradients(
            OURS[case.name], getattr(keras.losses, case.name), y_true, y_pred, weights, kwargs
        )
        worst[case.id] = max(compare(o, r, rtol, atol) for o, r in zip(ours, reference))
        if not worst[case.id] <= 1.0 or not np.all(np.isfinite(ours[1])):
            failures.append(case.id)
    return {"runs": len(worst), "failures": failures, "worst_ratio": worst}


def backend_differences() -> dict:
    """Where Keras 3.15.1 on JAX differs from Keras on TensorFlow, and what ours gives."""
    y, logits = np.array([[1.0, 0.0]]), np.array([[-100.0, 100.0]])  # both maximally wrong
    bfce = {
        "keras": float(keras.losses.binary_focal_crossentropy(y, logits, from_logits=True)[0]),
        "ours": float(focal.binary_focal_crossentropy(y, logits, from_logits=True)[0]),
    }
    impossible = np.array([[1, 1, 1]]), np.zeros((1, 3, 4), dtype="float32")  # needs 5 frames
    ctc = {
        "keras": float(keras.losses.ctc(*impossible)[0]),
        "ours": float(sequence.ctc(*impossible)[0]),
    }
    return {"bfce_logits_100": bfce, "ctc_impossible": ctc}


def main() -> None:
    assert keras.backend.backend() == "jax", keras.backend.backend()  # noqa: S101
    report = {
        "backend": keras.backend.backend(),
        "tensorflow_imported": "tensorflow" in sys.modules,
        **parity(),
        "differences": backend_differences(),
    }
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
