"""custom_losses on the lowest Keras that pyproject.toml allows, not only on the installed one.

The suite itself runs on the Keras that ``pip install -e ".[test]"`` brings (the newest the
range allows). Here the parity tests run again, in a fresh process, on the lowest version
of the range: that Keras is installed with ``pip --no-deps --target`` into a temporary
directory put first on PYTHONPATH (its dependencies are the installed Keras's), against the
same TensorFlow. Tests that need a file the older wheel lacks (Keras's own losses_test.py)
skip there; any other failure fails this test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import tomllib
from conftest import REPO

pytestmark = pytest.mark.slow  # a pip install and a pytest process: ~2 min of CPU

#: the parity tests: every function and class against keras.losses, the API, hand values
PARITY_TESTS = [
    "tests/test_losses_parity.py",
    "tests/test_losses_api.py",
    "tests/test_losses_reference.py",
    "tests/test_losses_keras_suite.py",
]


def lowest_allowed_keras() -> str:
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        dependencies = tomllib.load(f)["project"]["dependencies"]
    (spec,) = [d for d in dependencies if re.match(r"keras\s*[<>=]", d)]
    lowest = re.search(r">=\s*([\d.]+)", spec).group(1)
    return lowest if lowest.count(".") == 2 else lowest + ".0"


def test_the_range_pyproject_claims_has_a_lower_bound():
    assert re.fullmatch(r"\d+\.\d+\.\d+", lowest_allowed_keras())


def test_parity_tests_pass_on_the_lowest_allowed_keras(tmp_path):
    version = lowest_allowed_keras()
    target = tmp_path / f"keras-{version}"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         f"keras=={version}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), REPO]))
    probe = subprocess.run(
        [sys.executable, "-c", "import keras; print(keras.__version__, keras.__file__)"],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert probe.stdout.split()[:1] == [version], probe.stdout + probe.stderr[-2000:]
    assert probe.stdout.split()[1].startswith(str(target))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *PARITY_TESTS, "-q", "-p", "no:cacheprovider",
         "-o", "addopts=", "-x"],
        env=env, capture_output=True, text=True, timeout=1800, cwd=REPO,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-4000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    # the parity tests ran, not only their skips (Keras 3.12.0: 232 collected, 2026-12-07)
    assert passed >= 200, summary
    print(f"keras {version}: {summary}")
