"""The JAX peer (bench.jax_peer) vs numpy.

Oracles: keras_lab.lecture.backprop (the lecture's equations in float64 numpy: sgd_step, gradients,
train_sgd) and keras_lab.lecture.order.epoch_order (the numpy reference of the epoch's order).
JAX runs in a subprocess (float64 via jax_enable_x64; no TensorFlow in that process).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from keras_lab.data import lecture_data
from keras_lab.lecture import backprop, order

ACTIVATIONS = ("sigmoid", "linear")
EPOCHS = 5
needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX not installed")

# Runs in a fresh process: W1 one epoch per call (weights after every epoch), with and
# without shuffling, mini-batches with a remainder, a run that hits NaN, the JAX order
# against the numpy one, and whether anything imported TensorFlow.
JAX_SCRIPT = r"""
import json, sys
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import numpy as np
from keras_lab.bench import jax_peer
from keras_lab.lecture import order
from keras_lab.data import lecture_data

EPOCHS = int(sys.argv[1])
x, y = (jnp.asarray(a) for a in lecture_data("float64"))
train = jax_peer.make_train(("sigmoid", "linear"), 9, 1, 1, shuffle=False)
train_shuffled = jax_peer.make_train(("sigmoid", "linear"), 9, 1, 1, shuffle=True)
out = {}
for name, fn in (("in_order", train), ("shuffled", train_shuffled)):
    params = jax_peer.start_params("w1", dtype="float64")
    runs = []
    for epoch in range(EPOCHS):
        params, steps, failed, loss_log, norm_log = fn(
            params, x, y, jnp.float64(0.3), jnp.int32(7), jnp.int32(epoch))
        runs.append({"params": [[np.asarray(a).tolist() for a in layer] for layer in params],
                     "loss": float(loss_log[0]), "norm": float(norm_log[0]),
                     "steps": int(steps), "failed": int(failed)})
    out[name] = runs
minibatch = jax_peer.make_train(("sigmoid", "linear"), 9, 4, 1, shuffle=True)  # 4 + 4 + 1
params, steps, failed, loss_log, _ = minibatch(
    jax_peer.start_params("w1", dtype="float64"), x, y, jnp.float64(0.3), jnp.int32(2),
    jnp.int32(5))
out["minibatch"] = {"params": [[np.asarray(a).tolist() for a in layer] for layer in params],
                    "loss": float(loss_log[0]), "steps": int(steps), "failed": int(failed)}
y_nan = y.at[4, 0].set(jnp.nan)
params, steps, failed, loss_log, _ = train(
    jax_peer.start_params("w1", dtype="float64"), x, y_nan, jnp.float64(0.3), jnp.int32(0),
    jnp.int32(0))
out["nan"] = {"params": [[np.asarray(a).tolist() for a in layer] for layer in params],
              "steps": int(steps), "failed": int(failed)}
orders_equal = True
for n in (1, 2, 9, 10, 1000, 4099):  # grids 1x1, 2x1, 3x3, 4x3 (walks), 32x32, 65x64 (walks)
    jitted = jax.jit(lambda s, e, n=n: jax_peer.jax_epoch_order(n, s, e))
    for s, e in ((0, 0), (7, 3), (5, 2**31 - 1)):
        got = np.asarray(jitted(np.int32(s), np.int32(e)))
        orders_equal &= bool((got == order.epoch_order(n, s, e)).all())
out["orders_equal"] = orders_equal
out["tensorflow_imported"] = "tensorflow" in sys.modules
print(json.dumps(out))
"""


def run_python(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu")
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def jax_runs() -> dict:
    proc = run_python("-c", JAX_SCRIPT, str(EPOCHS))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def lecture_layout(params: list) -> list:
    """Keras layout [(kernel (in, out), bias (out,))] -> the lecture's [(W, b column)]."""
    return [(np.array(k).T, np.array(b).reshape(-1, 1)) for k, b in params]


def numpy_epoch(layers: list, x: np.ndarray, t: np.ndarray, visit: np.ndarray, alpha: float):
    """One SGD epoch with keras_lab.lecture.backprop: (layers, mean loss, mean gradient norm).

    For one sample MSE = SSE, so backprop's SSE gradient is the gradient JAX takes.
    """
    losses, norms = [], []
    for i in visit:
        losses.append(backprop.sse(t[i], backprop.predict(layers, ACTIVATIONS, x[i])))
        grads = backprop.gradients(layers, ACTIVATIONS, x[i], t[i])
        norms.append(np.sqrt(sum(np.sum(g * g) for layer in grads for g in layer)))
        layers = backprop.sgd_step(layers, ACTIVATIONS, x[i], t[i], alpha)
    return layers, np.mean(losses), np.mean(norms)


@needs_jax
@pytest.mark.parametrize("mode", ["in_order", "shuffled"])
def test_jax_w1_equals_numpy_backprop_epoch_by_epoch(jax_runs, mode):
    x, t = lecture_data("float64")
    layers = backprop.LECTURE_WEIGHTS
    for epoch, run in enumerate(jax_runs[mode]):
        visit = order.epoch_order(9, 7, epoch) if mode == "shuffled" else np.arange(9)
        layers, loss, norm = numpy_epoch(layers, x, t, visit, 0.3)
        got = lecture_layout(run["params"])
        for (w, b), (w_ref, b_ref) in zip(got, layers):
            np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-6)
            np.testing.assert_allclose(b, b_ref, rtol=0, atol=1e-6)
        assert run["loss"] == pytest.approx(loss, abs=1e-6)
        assert run["norm"] == pytest.approx(norm, abs=1e-6)
        assert (run["steps"], run["failed"]) == (9, -1)


@needs_jax
def test_jax_w1_in_order_equals_train_sgd(jax_runs):
    x, t = lecture_data("float64")
    layers, _ = backprop.train_sgd(backprop.LECTURE_WEIGHTS, ACTIVATIONS, x, t, 0.3, EPOCHS)
    for (w, b), (w_ref, b_ref) in zip(lecture_layout(jax_runs["in_order"][-1]["params"]), layers):
        np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-6)
        np.testing.assert_allclose(b, b_ref, rtol=0, atol=1e-6)


@needs_jax
def test_jax_minibatch_with_a_remainder_equals_numpy_backprop(jax_runs):
    # Batches of 4 of the epoch-5 order (seed 2): 4 + 4 + the remainder 1. The batch MSE's
    # gradient is the SSE's over the batch divided by its size: alpha / size in sgd_step.
    x, t = lecture_data("float64")
    visit = order.epoch_order(9, 2, 5)
    layers, loss_sum = backprop.LECTURE_WEIGHTS, 0.0
    for index in (visit[0:4], visit[4:8], visit[8:9]):
        x_batch, t_batch = x[index].T, t[index].T
        loss_sum += backprop.sse(t_batch, backprop.predict(layers, ACTIVATIONS, x_batch))
        layers = backprop.sgd_step(layers, ACTIVATIONS, x_batch, t_batch, 0.3 / len(index))
    run = jax_runs["minibatch"]
    assert (run["steps"], run["failed"]) == (3, -1)
    assert run["loss"] == pytest.approx(loss_sum / 9, abs=1e-12)
    for (w, b), (w_ref, b_ref) in zip(lecture_layout(run["params"]), layers):
        np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b, b_ref, rtol=0, atol=1e-12)


@needs_jax
def test_jax_w1_stops_at_the_first_non_finite_step(jax_runs):
    # Sample 4's target is NaN: steps 0-3 apply, step 4 (in order) is the first non-finite.
    x, t = lecture_data("float64")
    layers, _, _ = numpy_epoch(backprop.LECTURE_WEIGHTS, x, t, np.arange(4), 0.3)
    run = jax_runs["nan"]
    assert (run["steps"], run["failed"]) == (4, 4)
    for (w, b), (w_ref, b_ref) in zip(lecture_layout(run["params"]), layers):
        np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b, b_ref, rtol=0, atol=1e-12)


@needs_jax
def test_jax_order_is_the_numpy_order(jax_runs):
    assert jax_runs["orders_equal"] is True


@needs_jax
def test_cli_prints_one_json_object():
    proc = run_python(
        "-m", "keras_lab.bench.jax_peer", "--workload", "w1", "--epochs", "3", "--repeats", "2",
        "--shuffle", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["steps"] == 27 and result["steps_applied"] == 27
    assert result["failed_step"] == -1 and len(result["warm_s"]) == 2
    assert result["compile_s"] > 0 and result["warm_median_s"] > 0
    assert "tensorflow" not in proc.stderr.lower()


def test_cli_bad_flag_and_missing_jax_are_one_line_exit_2():
    proc = run_python("-m", "keras_lab.bench.jax_peer", "--workload", "w9")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "w9" in proc.stderr
    blocked = "import sys; sys.modules['jax'] = None; from keras_lab.bench.jax_peer import main; "
    proc = run_python("-c", blocked + "sys.exit(main(['--workload', 'w1']))")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "python -m keras_lab.bench.jax_peer: error: JAX is not installed (pip install jax)"
    ]


@needs_jax
def test_jax_peer_imports_no_tensorflow(jax_runs):
    assert jax_runs["tensorflow_imported"] is False
