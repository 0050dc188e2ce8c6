"""Shared test set-up: quiet TensorFlow, and helpers to run the CLIs as a user would."""

from __future__ import annotations

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(
    *args: str, cwd: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run ``python -m <args>`` in a fresh process, as a user would; capture text output."""
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


def run_train(capsys, *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``python -m keras_lab.train *argv`` run in this process."""
    from keras_lab import train

    try:
        code = train.main(list(argv))
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err
