"""Small helpers shared by the command lines: flags from a settings dataclass, quiet imports."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 while importing TensorFlow, replaying it if the import fails.

    TensorFlow's C++ runtime prints start-up notes (CUDA probing, CPU features) straight
    to fd 2 before TF_CPP_MIN_LOG_LEVEL is read, so a CLI whose error contract is "one
    line on stderr" must catch them at the descriptor level.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow() -> None:
    """Import TensorFlow and Keras quietly (see :func:`quiet_stderr`), without the garbage
    collector, whose passes over the objects the import makes cost about 2 s; then freeze
    them (modules, functions: alive to the end), so that later passes skip them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    gc.disable()
    try:
        with quiet_stderr():
            import keras  # noqa: F401
            import tensorflow as tf

            tf.constant(0.0) + 1.0  # device set-up prints its own notes (cuInit) on first use
            from tensorflow.python.util import deprecation

            # notes on TensorFlow's own calls into its deprecated APIs (tf_record_iterator,
            # take_while), which no user can act on, would break "one line on stderr"
            deprecation._PRINT_DEPRECATION_WARNINGS = False
    finally:
        gc.enable()
    gc.freeze()


@contextlib.contextmanager
def write_errors(parser: argparse.ArgumentParser, run_dir: str) -> Iterator[None]:
    """Exit 2 with one line when writing into ``run_dir`` fails (a full disk, a file-size
    limit, a folder made read-only): the OSError, or TensorFlow's error for its files."""
    import tensorflow as tf

    try:
        yield
    except (OSError, tf.errors.OpError) as error:
        reason = getattr(error, "strerror", None) or str(error).strip().splitlines()[-1][-80:]
        parser.exit(2, f"{parser.prog}: error: cannot write into {run_dir!r}: {reason}\n")


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (no usage block), exit 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_layer_sizes(text: str) -> tuple[int, ...]:
    """'2' or '64,64' (or '64 64') -> (2,) or (64, 64), for the --hidden flag."""
    try:
        sizes = tuple(int(part) for part in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected layer sizes like '2' or '64,64', got {text!r}"
        ) from None
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be >= 1, got {text!r}")
    return sizes


def _optional_int(text: str) -> int | None:
    if text.lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None


_TYPES = {
    "int": int,
    "float": float,
    "str": str,
    "int | None": _optional_int,
    "tuple[int, ...]": parse_layer_sizes,
    "tuple[str, ...]": str,
}


class _Store(argparse.Action):
    """Store a flag's value, refusing a flag given twice (one of the two would be dropped)."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: D102
        refuse_repeat(parser, namespace, self.dest, option_string)
        if values == "":  # not "unset": a default is taken by leaving the flag out
            parser.error(f"{option_string} '' is empty: give a value or leave {option_string} out")
        if isinstance(values, str) and any("\udc80" <= c <= "\udcff" for c in values):
            parser.error(f"{option_string} {values!r} is not UTF-8: rename it")  # raw bytes
        if isinstance(values, str) and not values.isprintable():
            parser.error(f"{option_string} {values!r} holds a control character (e.g. a newline)")
        setattr(namespace, self.dest, values)


class _Switch(argparse.BooleanOptionalAction):
    """--x / --no-x, refusing both or either twice."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: D102
        refuse_repeat(parser, namespace, self.dest, option_string)
        super().__call__(parser, namespace, values, option_string)


def refuse_repeat(parser, namespace, dest: str, option_string: str | None) -> None:
    """parser.error if the setting ``dest`` was given before: a conflict is refused."""
    if hasattr(namespace, dest):  # defaults are SUPPRESS: only a given flag sets it
        earlier = getattr(namespace, dest)
        flag = flag_name(dest)
        if isinstance(earlier, bool):
            before = flag if earlier else "--no-" + flag[2:]
        else:
            shown = ",".join(map(str, earlier)) if isinstance(earlier, tuple) else earlier
            before = f"{flag} {shown}"
        parser.error(f"{option_string} given after {before}: give a setting once")


def add_flags(parser: argparse.ArgumentParser, config_class: type) -> None:
    """One flag per field of the dataclass ``config_class``: name, type, choices and help
    come from the field (see :func:`keras_lab.config.setting`); the default is shown in
    the help but not put in the namespace, so that :func:`explicit_settings` sees only the
    flags that were given.
    """
    groups: dict[str, argparse._ArgumentGroup] = {}
    defaults = config_class()
    for item in dataclasses.fields(config_class):
        meta = item.metadata
        group_name = meta.get("group") or "settings"
        if group_name not in groups:
            groups[group_name] = parser.add_argument_group(group_name)
        flag = meta.get("flag") or flag_name(item.name)
        default = getattr(defaults, item.name)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        kwargs: dict = {"dest": item.name, "default": argparse.SUPPRESS}
        kwargs["help"] = f"{meta.get('help', '')} (default: {shown})"
        if meta.get("required"):
            kwargs.update(required=True, help=meta.get("help", ""))
        if item.type == "bool":
            kwargs["action"] = _Switch
        else:
            kwargs["action"] = _Store
            kwargs["type"] = _TYPES[item.type]
            if item.type == "tuple[str, ...]":  # a list of names: --only shapes outliers
                kwargs["nargs"] = "+"
            if meta.get("choices"):
                kwargs["choices"] = meta["choices"]
            named = not meta.get("choices") or "nargs" in kwargs
            kwargs["metavar"] = item.name.upper() if named else None
        groups[group_name].add_argument(flag, **kwargs)


def required(help: str, default: object = None, choices: tuple = ()) -> Any:
    """A settings field that :func:`add_flags` makes a required flag (``default``: unused)."""
    metadata = {"help": help, "choices": choices, "required": True}
    return dataclasses.field(default=default, metadata=metadata)


def parse_settings(
    parser: argparse.ArgumentParser, config_class: type, argv: Sequence[str] | None = None
) -> tuple[Any, argparse.Namespace]:
    """(``config_class`` of the flags given, the namespace); its ValueError: exit 2, one line."""
    args = parser.parse_args(argv)
    try:
        return config_class(**explicit_settings(args, config_class)), args
    except ValueError as error:
        parser.error(str(error))


def explicit_settings(namespace: argparse.Namespace, config_class: type) -> dict:
    """The config fields that were given on the command line, by field name."""
    names = {item.name for item in dataclasses.fields(config_class)}
    return {k: v for k, v in vars(namespace).items() if k in names}


def flag_name(field_name: str) -> str:
    """The command-line spelling of a config field: batch_size -> --batch-size."""
    return "--" + field_name.replace("_", "-")
