"""custom_losses on the other Keras 3 backends, JAX and PyTorch, each in a fresh process (the
backend is fixed when Keras is imported) where ``import tensorflow`` fails.

The script (tests/backend_parity_script.py) compares every function and class with
keras.losses on that backend, values and gradients (jax.grad and jax.jit; torch autograd
and torch.compile), and runs a model.fit + .keras save/load round trip; it prints one JSON
object. TensorFlow is made unimportable by a stand-in package on PYTHONPATH whose import
raises ImportError, as a missing package does (an import hook that raised from find_spec
would also break torch, which probes for tensorflow with importlib.util.find_spec).
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "tests", "backend_parity_script.py")

pytestmark = pytest.mark.slow  # a process per backend: ~40 s (JAX), ~50 s (torch) of CPU
BACKENDS = ["jax", "torch"]


@pytest.fixture(scope="module")
def without_tensorflow(tmp_path_factory):
    """A directory whose tensorflow/__init__.py raises ImportError, for PYTHONPATH."""
    directory = tmp_path_factory.mktemp("no-tensorflow")
    (directory / "tensorflow").mkdir()
    (directory / "tensorflow" / "__init__.py").write_text(
        "raise ImportError(\"No module named 'tensorflow' (a test without TensorFlow)\")\n"
    )
    return str(directory)


def _run(backend: str, shadow: str) -> subprocess.CompletedProcess:
    # not skipped when missing: CI must run both backends (both are in the 'test' extra)
    assert importlib.util.find_spec(backend), f"{backend} is not installed: pip install -e .[test]"
    env = dict(
        os.environ,
        KERAS_BACKEND=backend,
        PYTHONPATH=os.pathsep.join([shadow, REPO]),
        JAX_PLATFORMS="cpu",
    )
    return subprocess.run(
        [sys.executable, SCRIPT], env=env, capture_output=True, text=True, timeout=600, cwd=REPO
    )


@pytest.fixture(scope="module", params=BACKENDS)
def report(request, without_tensorflow):
    result = _run(request.param, without_tensorflow)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_parity_of_values_and_gradients_eager_and_compiled(report):
    # used where TensorFlow cannot be imported (the stand-in works), and never imported
    assert report["tensorflow_importable"] is False
    assert report["tensorflow_imported"] is False
    assert report["cases"] >= 60  # the shared table's cases (tests/loss_cases.py), eager
    assert report["failures"] == [], report["failures"][:5]
    assert report["class_cases"] >= 60  # every reduction, with sample weights
    assert report["class_failures"] == [], report["class_failures"][:5]
    # NaN in, NaN out; logits +-1e9, 500, -200 equal to Keras's
    assert report["special_failures"] == [], report["special_failures"][:5]
    if report["backend"] == "jax":
        assert report["cases"] >= 80  # and the (N, k) ones under jax.jit
    else:  # torch.compile: every function and option, one graph
        compiled = report["compiled"]
        assert compiled["cases"] >= 20 and compiled["graphs"] >= 1, compiled
        assert compiled["failures"] == [], compiled["failures"][:5]
        assert not compiled["recompile_limit_hit"]  # else dynamo ran cases eagerly


def test_documented_choices(report):
    choices = report["choices"]
    # _keras_logits: not used off TensorFlow (Keras's losses there ignore it): = Keras
    assert choices["softmax_eager"] == choices["softmax_jit"] == choices["softmax_keras"]
    # SCCE on non-distributions: = CCE of the one-hot labels = Keras's SCCE on this backend
    assert choices["scce_vs_keras_" + report["backend"]] <= 1e-6
    # BCE from logits at saturated logits: exact (float64 reference), relative error
    assert choices["bce_saturated_gradient_error"] <= 4 * 2**-23


def test_fit_save_and_load_round_trip(report):
    fit = report["fit"]
    assert fit["weights_max_difference"] <= 1e-6  # ours vs Keras's loss: the same weights
    assert fit["reloaded_loss_difference"] == 0.0
    assert fit["reloaded_delta"] == 0.25  # Huber(delta=0.25) survives the round trip


STANDALONE_USE = """
import sys
import custom_losses, keras, numpy as np
assert custom_losses.__file__.startswith(sys.argv[1]), custom_losses.__file__
model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(0.1), loss=custom_losses.get("logcosh"))
x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], "float32")
model.fit(x, x.sum(1, keepdims=True), epochs=2, verbose=0)
print(float(custom_losses.MeanSquaredError()([[0.0, 1.0]], [[1.0, 1.0]])))
print("tensorflow" in sys.modules)
"""


def test_custom_losses_installs_alone_and_runs_without_tensorflow(tmp_path, without_tensorflow):
    """`pip install ./custom_losses` (README): Keras and numpy only, used on JAX with
    TensorFlow unimportable and the repository off the path."""
    target, source = tmp_path / "site", tmp_path / "source"
    # built from a copy: a build writes build/ and *.egg-info/ next to its pyproject.toml
    shutil.copytree(
        os.path.join(REPO, "custom_losses"), source, ignore=shutil.ignore_patterns("__pycache__")
    )
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    (metadata,) = target.glob("custom_losses-*.dist-info/METADATA")
    requires = sorted(
        line.split(":", 1)[1].split("<")[0].split(">")[0].strip()
        for line in metadata.read_text().splitlines()
        if line.startswith("Requires-Dist:")
    )
    assert requires == ["keras", "numpy"], requires
    assert sorted(p.name for p in target.iterdir() if not p.name.endswith(".dist-info")) == [
        "custom_losses"
    ]
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=os.pathsep.join([without_tensorflow, str(target)]),
    )
    result = subprocess.run(
        [sys.executable, "-c", STANDALONE_USE, str(target)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["0.5", "False"]  # (1 + 0) / 2 by hand; no TensorFlow
