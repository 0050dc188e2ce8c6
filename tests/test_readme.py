"""Every command in README.md is run here, as written, so that the README cannot rot.

The commands are the indented code lines of README.md that start with ``python -m`` or
``pip install``. ``pip install ... && python -m pytest`` is this suite: .ci/run must run it
verbatim. Every ``python -m keras_lab.<module> [flags]`` runs ``main(flags)`` of that module
in this process (the same code path as the command line, without a second 8 s TensorFlow
import) in an empty directory, and must exit 0; where the README shows the output, the
shown lines must be what the command prints.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import shlex

import pytest
from conftest import REPO

with open(os.path.join(REPO, "README.md")) as _f:
    README = _f.read()


def readme_commands() -> list[str]:
    """The commands of the README's indented code blocks, in order, without duplicates."""
    commands = []
    for line in README.splitlines():
        if not line.startswith("    "):
            continue
        text = line.strip()
        if text.startswith(("python -m ", "pip install ")):
            text = text.split("  #")[0].strip()
            if text not in commands:
                commands.append(text)
    return commands


def shown_output(command: str) -> list[str]:
    """The lines the README shows as ``command``'s output: the next indented block, right
    after the command's block or after one paragraph of prose that ends with a colon."""
    lines = README.splitlines()
    i = next(i for i, line in enumerate(lines) if line.strip().endswith(command)) + 1
    while i < len(lines) and lines[i].startswith("    "):  # the rest of the command's block
        i += 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i < len(lines) and not lines[i].startswith("    "):  # prose: "It prints ...:"
        while i < len(lines) and lines[i].strip():
            i += 1
        if not lines[i - 1].rstrip().endswith(":"):
            return []
        while i < len(lines) and not lines[i].strip():
            i += 1
    output = []
    while i < len(lines) and lines[i].startswith("    "):
        output.append(lines[i].strip())
        i += 1
    return [line for line in output if not line.startswith(("python -m", "pip install"))]


def test_the_readme_has_the_two_set_up_commands():
    commands = readme_commands()
    assert commands[:2] == [
        "pip install -e . && python -m keras_lab.train",
        'pip install -e ".[test]" && python -m pytest',
    ]
    with open(os.path.join(REPO, ".ci", "run")) as f:
        assert 'pip install -e ".[test]" && python -m pytest' in f.read()


CLI_COMMANDS = [
    c.split("&& ")[-1]
    for c in readme_commands()
    if c.split("&& ")[-1].startswith("python -m ") and "python -m pytest" not in c
]
NOTEBOOK_COMMAND = 'pip install -e ".[notebook]" && jupyter lab notebooks/lecture.ipynb'
# custom_losses alone, without TensorFlow: installed and used by
# tests/test_losses_backends.py::test_custom_losses_installs_alone_and_runs_without_tensorflow
STANDALONE_COMMAND = "pip install ./custom_losses"


def test_the_readme_opens_the_notebook_with_one_install_command():
    """The learning path's first step: one command installs a notebook front-end and opens
    the notebook. The extra it names must exist in pyproject.toml and bring jupyterlab."""
    import tomllib

    assert NOTEBOOK_COMMAND in readme_commands()
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    assert any(req.startswith("jupyterlab") for req in extras["notebook"]), extras["notebook"]
    assert os.path.isfile(os.path.join(REPO, "notebooks", "lecture.ipynb"))
    # every command is either a set-up command, the notebook's, or one this module runs
    assert STANDALONE_COMMAND in readme_commands()
    others = [
        c
        for c in readme_commands()
        if c not in (NOTEBOOK_COMMAND, STANDALONE_COMMAND) and "pytest" not in c
    ]
    assert all(c.split("&& ")[-1] in CLI_COMMANDS for c in others), others


def test_the_readme_is_short():
    """A student's path, not a manual: details live in docs/ (at most about 6,000 chars)."""
    assert len(README) <= 6000, len(README)


@pytest.mark.slow
@pytest.mark.parametrize("command", CLI_COMMANDS)
def test_readme_command_runs(command, tmp_path, monkeypatch):
    words = shlex.split(command)
    assert words[:2] == ["python", "-m"] and words[2].startswith("keras_lab"), command
    module = importlib.import_module(words[2])
    if not hasattr(module, "main"):  # a package: python -m runs its __main__, i.e. cli.main
        module = importlib.import_module(words[2] + ".cli")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = module.main(words[3:])
        except SystemExit as exit_info:
            code = exit_info.code
    assert code in (0, None), out.getvalue()[-2000:]
    printed = out.getvalue()
    shown = shown_output(command)
    for line in shown:
        if line.startswith(("W1=", "W2=", "b1=", "b2=")):
            # weights: the shape of what is printed (digits depend on the CPU's float order)
            assert line.split("=")[0] + "=" in printed
        elif line.startswith("SSE="):
            ours = float(re.search(r"SSE= ([0-9.]+)", printed).group(1))
            assert ours == pytest.approx(float(line.split()[1]), rel=0.05)
        else:
            assert line in printed, (line, printed[-2000:])
