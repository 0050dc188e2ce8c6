"""Old module paths (``keras_lab.loop``, ``keras_lab.backprop``'s math ...) as aliases of the
modules' new homes, so that code written against the flat layout keeps importing."""

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    **{
        f"keras_lab.{name}": f"keras_lab.lecture.{name}"
        for name in ("gd", "order", "gradcheck", "listing")
    },
    **{
        f"keras_lab.{name}": f"keras_lab.engine.{name}"
        for name in ("loop", "callbacks", "summaries", "workers")
    },
    **{
        name: "keras_lab.engine.devices"
        for name in ("keras_lab.strategy", "keras_lab.engine.strategy")
    },
    **{
        f"keras_lab.{name}": f"keras_lab.experiments.{name}"
        for name in ("curves", "trajectory", "multistart", "minima")
    },
    "keras_lab.jax_peer": "keras_lab.bench.jax_peer",
    "keras_lab.run": "keras_lab.pipeline",
}


class _Aliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):  # noqa: ANN001
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):  # noqa: ANN001
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module) -> None:  # noqa: ANN001
        pass


def install() -> None:
    if not any(isinstance(finder, _Aliases) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Aliases())
