"""docs/lecture.md, the lecture item by item, cannot drift from the lecture or the code.

Each row of its table quotes the lecture ("..."), names where the claim is shown (a notebook
section "notebook §N", a figure under docs/figures/, a ``python -m keras_lab...`` command)
and the test that pins it (``tests/test_x.py::test_name``). Checked here against the
lecture's own text (../shared/seeds/, or the copy quoted in the map when it is absent),
the notebook's headings, the files and the test functions that exist.
"""

from __future__ import annotations

import ast
import glob
import os
import re

import nbformat
import pytest
from conftest import REPO

MAP = os.path.join(REPO, "docs", "lecture.md")
LECTURE = next(iter(glob.glob(os.path.join(REPO, "..", "shared", "seeds", "000_*.txt"))), None)


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def rows() -> list[list[str]]:
    with open(MAP) as f:
        lines = [line for line in f if line.startswith("| ") and not line.startswith("|---")]
    table = [[cell.strip() for cell in line.strip().strip("|").split(" | ")] for line in lines]
    assert table[0][0] == "#", table[0]
    return table[1:]


def quotes(cell: str) -> list[str]:
    return re.findall(r'"([^"]+)"', cell)


def notebook_sections() -> set[int]:
    notebook = nbformat.read(os.path.join(REPO, "notebooks", "lecture.ipynb"), as_version=4)
    return {
        int(match.group(1))
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for match in re.finditer(r"^## (\d+)\. ", cell.source, re.MULTILINE)
    }


def test_the_map_has_a_row_for_every_part_of_the_lecture():
    table = rows()
    assert [int(row[0]) for row in table] == list(range(1, len(table) + 1))
    assert all(len(row) == 4 for row in table), [row for row in table if len(row) != 4]
    text = " ".join(row[1] for row in table)
    # the lecture's slides, equations and listing, each of which must have a row
    for anchor in (
        "first-order iterative optimization algorithm",
        "direction of steepest descent",
        "gradient ascent",
        "(1)",
        "do not fit in memory",
        "gradient checking is a good idea",
        "convex error surfaces",
        "(2)",
        "fluctuate heavily",
        "better local minima",
        "slowly decrease the learning rate",
        "shuffle the training data at every epoch",
        "(3)",
        "matrix optimizations",
        "between 50 and 256",
        "SGD direction is very noisy",
        "Outputs for a dense layer",
        "Output layer",
        "For others",
        "Loss function (SSE)",
        "Update weights and biases",
        "Training set",
        "Random initial conditions",
        "SGD (online training)",
        "chosen according to the problem type",
        "L2 loss",
        "L1 loss",
        "Softmax Loss",
        "Binary crossentropy",
        "Mean Absolute Percentage Error",
        "Root Mean Squared Error",
        "Logcosh",
        "Huber loss",
        "keras.losses",
        "A custom loss can be defined in Keras",
        "sample weighting is automatically supported",
    ):
        assert anchor in text, f"no row of docs/lecture.md covers {anchor!r}"


@pytest.mark.skipif(LECTURE is None, reason="the lecture's text is not beside this checkout")
def test_every_quote_is_the_lectures_and_in_its_order():
    with open(LECTURE) as f:
        lecture = normalise(f.read())
    last = 0
    for row in rows():
        found = quotes(row[1])
        assert found, f"row {row[0]} quotes nothing of the lecture"
        for quote in found:
            position = lecture.find(normalise(quote))
            assert position >= 0, f"row {row[0]}: {quote!r} is not in the lecture"
        first = lecture.find(normalise(found[0]))
        assert first >= last, f"row {row[0]} is out of the lecture's order"
        last = first


def test_every_place_named_exists():
    sections = notebook_sections()
    for row in rows():
        shown, pinned = row[2], row[3]
        refs = re.findall(r"§(\d+)", shown)
        figures = re.findall(r"docs/figures/[\w.-]+\.png", shown)
        commands = re.findall(r"python -m (keras_lab[\w.]*)", shown)
        assert refs or figures or commands, f"row {row[0]} is shown nowhere"
        for ref in refs:
            assert int(ref) in sections, f"row {row[0]}: the notebook has no section {ref}"
        for figure in figures:
            assert os.path.isfile(os.path.join(REPO, figure)), f"row {row[0]}: {figure}"
        for module in commands:
            path = os.path.join(REPO, *module.split("."))
            assert os.path.isfile(path + ".py") or os.path.isdir(path), f"row {row[0]}"
        tests = re.findall(r"(tests/test_\w+\.py)::(\w+)", pinned)
        assert tests, f"row {row[0]} is pinned by no test"
        for path, name in tests:
            with open(os.path.join(REPO, path)) as f:
                tree = ast.parse(f.read())
            names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
            assert name in names, f"row {row[0]}: {path} has no {name}"
