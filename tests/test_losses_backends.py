"""custom_losses on the other Keras 3 backends, each in a fresh process (the backend is fixed when
Keras is imported): JAX here, in CI; PyTorch with the same script by hand (docs/losses.md).

The script (tests/backend_parity_script.py) compares every function with keras.losses on that
backend, values and gradients (jax.grad, and jax.jit-compiled), and runs a model.fit + .keras
save/load round trip; it prints one JSON object.
"""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "tests", "backend_parity_script.py")

pytest.importorskip("jax")
pytestmark = pytest.mark.slow  # a JAX process: ~40 s of CPU (jit compilations)


def _run(backend: str, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=REPO, JAX_PLATFORMS="cpu")
    command = [sys.executable, "-c", code] if code else [sys.executable, SCRIPT, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=REPO)


# an import hook that makes `import tensorflow` fail: an environment without TensorFlow
NO_TENSORFLOW = """
import sys
class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("tensorflow is not installed (simulated)")
sys.meta_path.insert(0, NoTensorFlow())
"""


def test_import_custom_losses_on_jax_does_not_import_tensorflow():
    code = NO_TENSORFLOW + (
        "import custom_losses, keras\n"
        "assert keras.backend.backend() == 'jax'\n"
        "assert 'tensorflow' not in sys.modules\n"
        "print(float(custom_losses.MeanSquaredError()([[0.0, 1.0]], [[1.0, 1.0]])))\n"
    )
    result = _run("jax", code=code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "0.5"  # (1 + 0) / 2, hand calculation


@pytest.fixture(scope="module")
def jax_report():
    result = _run("jax", "--no-tensorflow")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_jax_parity_of_values_and_gradients_eager_and_jit(jax_report):
    assert jax_report["backend"] == "jax" and jax_report["tensorflow_imported"] is False
    assert jax_report["cases"] >= 60
    assert jax_report["failures"] == [], jax_report["failures"][:5]
    assert jax_report["class_cases"] >= 60  # every reduction, with sample weights
    assert jax_report["class_failures"] == [], jax_report["class_failures"][:5]
    # NaN in, NaN out (eager and jit); logits +-1e9, 500, -200 equal to Keras's
    assert jax_report["special_failures"] == [], jax_report["special_failures"][:5]


def test_jax_documented_choices(jax_report):
    choices = jax_report["choices"]
    # _keras_logits: not used on JAX (Keras's JAX losses ignore it): eager == jit == Keras
    assert choices["softmax_eager"] == choices["softmax_jit"] == choices["softmax_keras"]
    # SCCE on non-distributions: = CCE of the one-hot labels = Keras's SCCE on JAX
    assert choices["scce_vs_keras_jax"] <= 1e-6
    # BCE from logits at saturated logits: exact (float64 reference), relative error
    assert choices["bce_saturated_gradient_error"] <= 4 * 2**-23


def test_jax_fit_save_and_load_round_trip(jax_report):
    fit = jax_report["fit"]
    assert fit["weights_max_difference"] <= 1e-6  # ours vs Keras's loss: the same weights
    assert fit["reloaded_loss_difference"] == 0.0
