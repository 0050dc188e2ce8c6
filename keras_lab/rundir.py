"""A run directory, the same for every command (train, compare, losslab).

    runs/<date>-<time>-<name>-<pid>/   the default (or --logdir)
        .lock          held (fcntl.flock) by the one process writing the run; holds its pid
        result.json    what --json prints, as strict JSON: a NaN or inf number is null
        *.png, *.svg   the figures
        ...            the command's own: train's config.json, checkpoints/, tensorboard/

A JSON file or a figure is written into a temporary file, then renamed: after any kill it
is the old file, the whole new one, or absent.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator

import numpy as np

from keras_lab._cli import import_tensorflow

#: The lock file: held by the one process writing the run.
LOCK = ".lock"
#: atomic_write's temporary files start so: the lock's holder removes any a kill left.
TEMPORARY_PREFIX = ".tmp-"


def default_run_dir(name: str) -> str:
    """runs/<date>-<time>-<name>-<pid>: two processes started in the same second differ, and
    a second run of one process in the same second gets a -2, -3, ... suffix."""
    base = os.path.join("runs", f"{time.strftime('%Y%m%d-%H%M%S')}-{name}-{os.getpid()}")
    path, number = base, 1
    while os.path.exists(path):
        number += 1
        path = f"{base}-{number}"
    return path


def check_writable(path: str, if_used: str = "choose another --logdir") -> None:
    """Raise ValueError unless ``path`` can be created (or is an empty folder), creating
    nothing: every missing component must fit the file system's limits. ``if_used``: what
    the message tells the user to do about a folder that is not empty."""
    path = os.path.abspath(path)
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise ValueError(f"logdir {path!r} exists and is not a directory")
        holder = lock_holder(path)
        if holder is not None:
            raise ValueError(f"logdir {path!r} is in use by process {holder}")
        if os.listdir(path):
            raise ValueError(f"logdir {path!r} is not empty; {if_used}")
        probe = path
    else:
        probe = os.path.dirname(path)
        while probe and not os.path.exists(probe):
            probe = os.path.dirname(probe)
        if not os.path.isdir(probe):
            raise ValueError(f"logdir {path!r} cannot be created: {probe!r} is not a directory")
        name_max = os.pathconf(probe, "PC_NAME_MAX")
        too_long = [part for part in path[len(probe) :].split(os.sep) if len(part) > name_max]
        if too_long:
            raise ValueError(
                f"logdir {path[:60]!r}... cannot be created: a name of {len(too_long[0])} "
                f"characters is longer than the file system's {name_max}"
            )
    # the longest file a run writes below it: checkpoints/ckpt-<epoch>.data-00000-of-00001
    path_max = os.pathconf(probe, "PC_PATH_MAX")
    if len(path) + 64 > path_max:
        raise ValueError(
            f"logdir {path[:60]!r}... is too long ({len(path)} characters; its files would "
            f"pass the file system's limit of {path_max})"
        )
    try:  # os.access trusts root; a real probe does not (e.g. /proc, read-only mounts)
        os.rmdir(tempfile.mkdtemp(prefix=".keras-lab-probe-", dir=probe))
    except OSError as error:
        raise ValueError(f"logdir {path!r} cannot be created: {error.strerror}") from None


@contextlib.contextmanager
def open_run(
    run_dir: str, resume: bool = False, if_used: str = "choose another --logdir"
) -> Iterator[str]:
    """Create ``run_dir`` (unless ``resume``) and hold its lock until the block ends.

    Raises:
        ValueError: it cannot be created, is not empty (``if_used`` says what to do) or
            is another process's (the message names its pid); nothing is written.
    """
    if not resume:
        check_writable(run_dir, if_used)
        try:
            os.makedirs(run_dir, exist_ok=True)
        except OSError as error:
            raise ValueError(f"logdir {run_dir!r} cannot be created: {error}") from None
    handle = lock(run_dir)
    try:
        if not resume and os.listdir(run_dir) != [LOCK]:  # a run started and ended meanwhile
            raise ValueError(f"logdir {run_dir!r} is not empty; {if_used}")
        yield run_dir
    finally:
        handle.close()


def lock(run_dir: str):  # noqa: ANN201 - an open file: the lock is held while it is open
    """Hold ``run_dir``'s lock for as long as the returned file is open, removing the
    temporary files a killed writer left; ValueError naming the holder's pid if taken."""
    handle = open(os.path.join(run_dir, LOCK), "a+")  # noqa: SIM115 - held for the run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "(starting)"
        handle.close()
        raise ValueError(f"run directory {run_dir!r} is in use by process {holder}") from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    for leftover in os.listdir(run_dir):
        if leftover.startswith(TEMPORARY_PREFIX):
            os.remove(os.path.join(run_dir, leftover))
    return handle


def lock_holder(run_dir: str) -> str | None:
    """The process id written in ``run_dir``'s lock while another process holds it, else None."""
    path = os.path.join(run_dir, LOCK)
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip() or "(starting)"
    return None


_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(path: str, write: Callable) -> None:
    """Call ``write(file)`` on a temporary binary file next to ``path``, then rename it to
    ``path``: after any kill, ``path`` is the old file, the whole new one, or absent."""
    folder, name = os.path.split(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f"{TEMPORARY_PREFIX}{name}-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes it 0600
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def strict_json(value: object, non_finite: dict[str, str] | None = None) -> object:
    """``value`` as strict JSON: numpy arrays and numbers as lists and Python numbers, NaN
    and +-inf as None; ``non_finite``, if given, gets each one's path and what it was.

    Example:
        >>> where = {}
        >>> strict_json({"a": [1.0, float("nan")], "b": np.float32(2)}, where), where
        ({'a': [1.0, None], 'b': 2.0}, {'a[1]': 'nan'})
    """

    def convert(item: object, path: str) -> object:
        if isinstance(item, dict):
            return {str(k): convert(v, f"{path}.{k}" if path else str(k)) for k, v in item.items()}
        if isinstance(item, (list, tuple, np.ndarray)):
            return [convert(v, f"{path}[{i}]") for i, v in enumerate(item)]
        if isinstance(item, (bool, np.bool_)):
            return bool(item)
        if isinstance(item, (int, np.integer)):
            return int(item)
        if isinstance(item, (float, np.floating)):
            if math.isfinite(item):
                return float(item)
            if non_finite is not None:
                non_finite[path] = "nan" if math.isnan(item) else ("inf" if item > 0 else "-inf")
            return None
        return item

    return convert(value, "")


def write_json(path: str, value: object, indent: int | None = 2) -> None:
    """``value`` in ``path`` whole or not at all; ValueError for a NaN or inf (pass it
    through :func:`strict_json` first)."""
    text = json.dumps(value, indent=indent, allow_nan=False)
    atomic_write(path, lambda f: f.write(text.encode()))


def save_figure(figure, path: str) -> None:  # noqa: ANN001 - a matplotlib Figure
    """A Figure as ``path`` (the format from its extension), whole or not at all."""
    kind = os.path.splitext(path)[1].lstrip(".")
    atomic_write(path, lambda f: figure.savefig(f, format=kind))


def save_figures(figures: dict, run_dir: str, svg: bool = False) -> list[str]:
    """Each ``{stem: Figure}`` as <stem>.png (and .svg); the paths written."""
    written = []
    for stem, figure in figures.items():
        for extension in ("png", "svg") if svg else ("png",):
            written.append(os.path.join(run_dir, f"{stem}.{extension}"))
            save_figure(figure, written[-1])
    return written


@contextlib.contextmanager
def open_cli_run(
    parser: argparse.ArgumentParser, validate: Callable, run_dir: str
) -> Iterator[None]:
    """Check the settings (``validate()``) and open ``run_dir`` (:func:`open_run`),
    or exit 2 with one line; then import TensorFlow. The run directory is held to the end."""
    with contextlib.ExitStack() as run:
        try:
            validate()
            run.enter_context(open_run(run_dir))
        except ValueError as error:
            parser.exit(2, f"{parser.prog}: error: {error}\n")
        import_tensorflow()
        yield
