"""The package's shape: layers that import only downwards, no cycle, modules a reader can hold.

The layers are the map in keras_lab/__init__.py's docstring, read top to bottom; a module may
import its own layer and the layers before it, never one after it.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_lab"

#: The layers, lowest first (keras_lab/__init__.py's map). A name ending in "." is a folder.
LAYERS = (
    ("_cli", "checks"),
    ("lecture.",),
    ("config", "data", "models", "plots"),
    ("engine.",),
    ("experiments.",),
    ("rundir", "problem"),
    ("pipeline",),
    ("train", "compare", "losslab", "backprop", "stream"),
    ("bench.",),
)
#: Modules outside the layers: the package's own door (lazy names, old paths).
OUTSIDE = ("__init__", "_moved")

#: A module a reader can hold (the issue's "no module over ~500 lines"; the loop a student
#: reads in one sitting, "under ~120 lines").
MAX_LINES = 500
LOOP_MAX_LINES = 120


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(name: str) -> int:
    for index, layer in enumerate(LAYERS):
        for entry in layer:
            if name == entry.rstrip(".") or (entry.endswith(".") and name.startswith(entry)):
                return index
    raise AssertionError(f"keras_lab.{name} is in no layer of tests/test_architecture.py")


def imported_modules(path: pathlib.Path) -> set[str]:
    """Every keras_lab module ``path`` imports, at the top or inside a function (a package's
    door, its __init__, not counted from inside the package: it may import its own parts)."""
    own = module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from package import submodule`` counts as importing the submodule
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}".removeprefix("keras_lab.") in MODULES
                else node.module
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            if name.startswith("keras_lab."):
                name = name.removeprefix("keras_lab.")
                while name and name not in MODULES:
                    name = name.rpartition(".")[0]
                inside = MODULES.get(name, path).name == "__init__.py" and own.startswith(name)
                if name and name != "__init__" and not inside:
                    found.add(name)
    return found


IMPORTS = {
    name: imported_modules(path) - {name} for name, path in MODULES.items() if name not in OUTSIDE
}


def test_every_module_has_a_layer():
    for name in IMPORTS:
        layer_of(name)


@pytest.mark.parametrize("name", sorted(IMPORTS))
def test_no_import_from_a_higher_layer(name):
    upward = sorted(other for other in IMPORTS[name] if layer_of(other) > layer_of(name))
    assert not upward, f"keras_lab.{name} (layer {layer_of(name)}) imports higher: {upward}"


def test_no_import_cycle():
    state: dict[str, str] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", "import cycle: " + " -> ".join((*path, name))
        state[name] = "open"
        for other in sorted(IMPORTS.get(name, ())):
            visit(other, (*path, name))
        state[name] = "done"

    for name in sorted(IMPORTS):
        visit(name, ())


def test_modules_are_short_and_the_loop_shortest():
    lines = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    long = {name: count for name, count in lines.items() if count > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
    assert lines["engine.loop"] <= LOOP_MAX_LINES, lines["engine.loop"]


def test_main_names_and_old_paths_import_without_tensorflow_until_used():
    code = (
        "import sys, keras_lab\n"
        "assert 'tensorflow' not in sys.modules\n"
        "from keras_lab import lecture_data, sine_fit_model, GradientDescent, fit, History\n"
        "import keras_lab.loop, keras_lab.order\n"
        "from keras_lab.engine.loop import GradientDescent as moved\n"
        "assert keras_lab.loop.GradientDescent is GradientDescent is moved\n"
        "assert keras_lab.order.epoch_order is keras_lab.lecture.order.epoch_order\n"
        "x, y = lecture_data()\n"
        "assert x.shape == (9, 1) and sine_fit_model(seed=0).count_params() == 7\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
