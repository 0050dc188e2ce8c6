"""notebooks/lecture.ipynb: stored without outputs, and runs top to bottom in a fresh kernel.

The kernel is the "python3" kernel spec, which jupyter_client starts with this very
interpreter (a spec whose argv[0] is "python" is replaced by sys.executable); the test
checks that inside the kernel, so the notebook is run against the package installed here.
"""

from __future__ import annotations

import os
import sys
import time

import pytest
from conftest import REPO

NOTEBOOK = os.path.join(REPO, "notebooks", "lecture.ipynb")

try:  # not skipped when missing: CI must run the notebook
    import nbclient
    import nbformat
except ImportError as error:  # pragma: no cover
    raise ImportError(f"{error}: nbclient and ipykernel are in the 'test' extra") from error


def test_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells, "the notebook has no code cells"
    stored = [i for i, cell in enumerate(code_cells) if cell.outputs or cell.execution_count]
    assert stored == [], f"code cells {stored} have stored outputs: clear them before committing"


SECTIONS = [  # the lecture's order (docs/lecture.md maps each item to a section)
    "Gradient descent",
    "Three ways to compute the gradient",
    "Batch gradient descent",
    "Stochastic gradient descent",
    "Mini-batch gradient descent",
    "Comparison",
    "The dense layer",
    "Back propagation",
    "The lecture's numpy listing",
    "The same network in Keras",
    "Loss functions for regression",
    "Loss functions for classification",
    "MAPE, RMSE, log-cosh and Huber",
    "Keras's loss functions",
    "A custom loss",
]


def test_notebook_sections_follow_the_lecture():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    headings = [
        line
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("## ")
    ]
    assert len(headings) == len(SECTIONS), headings
    for number, (heading, title) in enumerate(zip(headings, SECTIONS), start=1):
        assert heading.startswith(f"## {number}. {title}"), (heading, title)
    text = "\n".join(cell.source for cell in notebook.cells)
    for needle in (
        "%load_ext tensorboard",
        "%tensorboard --logdir",
        "def my_loss_fn(y_true, y_pred)",
        "keras_lab.import_tensorflow()",  # before TensorFlow: its start-up notes hidden
    ):
        assert needle in text


def test_every_figure_is_titled_and_its_claim_asserted_in_its_cell():
    """A figure makes one claim, in its title, and the cell that draws it checks it."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    figure_cells = [
        cell.source
        for cell in notebook.cells
        if cell.cell_type == "code" and "plt.show()" in cell.source
    ]
    assert len(figure_cells) >= 12, len(figure_cells)  # the lecture's visual claims
    for source in figure_cells:
        assert "assert" in source, source[:300]
        assert "title" in source, source[:300]  # set_title or suptitle
        assert "set_xlabel" in source or "xlabel" in source, source[:300]


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # one more cell, in the test's copy only: which interpreter ran the notebook
    notebook.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)"))
    # the kernel imports this checkout's keras_lab (as an editable install would)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))
    )
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(tmp_path)}},  # runs/notebook goes there
    )
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    noise = [
        (index, output["text"][:200])
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("name") == "stderr"
    ]
    assert noise == [], f"the notebook printed to stderr (TensorFlow's log lines?): {noise}"
    outputs = notebook.cells[-1].outputs
    printed = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout").strip()
    assert printed == sys.prefix, f"the kernel ran {printed!r}, not this interpreter"
    assert os.path.isdir(tmp_path / "runs" / "notebook")  # the TensorBoard cell wrote its logs
    print(f"notebook ran in {seconds:.1f} s")
