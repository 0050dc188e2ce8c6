"""Which keras_lab modules one setting visits from argv to result.json.

    python scripts/trace_parameter.py [--only-value] -- --lr 0.3125 --epochs 10 --logdir DIR

Runs ``python -m keras_lab.train`` with the given flags in this process under
``sys.setprofile`` and records every call of a keras_lab function one of whose arguments
(its locals at entry) holds the learning rate: the float itself, or (unless
``--only-value``) an object with an ``lr`` or ``learning_rate`` attribute equal to it, such
as the parsed flags or the config. Prints, on stderr, how many modules and calls (stops)
that is, how often the path changes module, and the functions per module. Give an ``--lr``
no other setting equals (0.3125 is exact in binary and unlike every default).
"""

from __future__ import annotations

import collections
import runpy
import sys


def main() -> None:
    only_value = "--only-value" in sys.argv[: sys.argv.index("--")]
    argv = sys.argv[sys.argv.index("--") + 1 :]
    value = float(argv[argv.index("--lr") + 1])
    stops: list[tuple[str, str]] = []

    def holds(local: object) -> bool:
        if isinstance(local, float):
            return local == value
        if only_value or isinstance(local, type):
            return False
        try:
            return any(getattr(local, name, None) == value for name in ("lr", "learning_rate"))
        except Exception:  # noqa: BLE001 - a local whose attributes cannot be read
            return False

    def profile(frame, event: str, arg: object) -> None:  # noqa: ANN001
        module = frame.f_globals.get("__name__", "")
        if event == "call" and module.startswith("keras_lab"):
            if any(holds(local) for local in frame.f_locals.values()):
                stops.append((module, frame.f_code.co_name))

    sys.argv = ["keras_lab.train", *argv]
    sys.setprofile(profile)
    try:
        runpy.run_module("keras_lab.train", run_name="__main__")
    except SystemExit:
        pass
    finally:
        sys.setprofile(None)
    modules = collections.Counter(module for module, _ in stops)
    changes = sum(1 for a, b in zip(stops, stops[1:]) if a[0] != b[0])
    print(
        f"modules: {len(modules)}  stops: {len(stops)}  module changes: {changes}", file=sys.stderr
    )
    for module, count in modules.most_common():
        functions = sorted({name for where, name in stops if where == module})
        print(f"  {module}: {count}  {', '.join(functions)}", file=sys.stderr)


if __name__ == "__main__":
    main()
