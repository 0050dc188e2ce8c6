"""The code is lint-clean under the ruff configuration in pyproject.toml."""

import shutil
import subprocess

import pytest
from conftest import REPO


def test_ruff_check_passes():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: it is in the 'test' extra (pip install -e '.[test]')")
    result = subprocess.run([ruff, "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
