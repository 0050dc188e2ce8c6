"""Local worker processes for ``--strategy multiworker --workers N`` (one machine, 127.0.0.1).

Each worker is ``python -m keras_lab.train`` with the same flags and its own TF_CONFIG;
worker 0 is the chief. Every worker dies with this process (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence

#: The environment variable giving the seconds a worker waits for its peers to join the
#: cluster (default :data:`PEER_TIMEOUT`).
PEER_TIMEOUT_ENV = "KERAS_LAB_PEER_TIMEOUT"
#: Seconds a worker waits for its peers by default: time for a person to start the same
#: command on every host, and for 16 local workers to import TensorFlow on a loaded 2-CPU
#: machine (5-9 s of CPU each, docs/distribute.md).
PEER_TIMEOUT = 120.0
#: Open files a process of N local workers needs: FILES_PER_PROCESS + FILES_PER_WORKER * N,
#: about twice what was seen (/proc/PID/fd of a 4-worker run: 16 in the chief, 12 in the
#: others, 9 in the launcher; a socket each way to every peer).
FILES_PER_PROCESS, FILES_PER_WORKER = 16, 4

# the terminal's stderr, kept when train imports this module (before TensorFlow's start-up
# notes are silenced on fd 2): the watchdog's one line must reach the user
with contextlib.suppress(OSError):
    _STDERR = os.dup(2)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (bound, read, released)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports: Sequence[int], index: int) -> str:
    """The TF_CONFIG of worker ``index`` in a cluster of workers on 127.0.0.1.

    Example:
        >>> json.loads(tf_config([2222, 2223], 1))
        {'cluster': {'worker': ['127.0.0.1:2222', '127.0.0.1:2223']},
         'task': {'type': 'worker', 'index': 1}}
    """
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def parse_tf_config(text: str) -> dict:
    """TF_CONFIG checked: a JSON object whose cluster lists "host:port" addresses per task
    type and whose task is one of them; ValueError naming what is wrong.

    Example:
        >>> parse_tf_config(tf_config([2222, 2223], 1))["task"]
        {'type': 'worker', 'index': 1}
        >>> parse_tf_config(tf_config([2222], 0).replace('"index": 0', '"index": 1'))
        Traceback (most recent call last):
        ...
        ValueError: TF_CONFIG: task index 1 is not in its cluster's 1 'worker' addresses
    """
    try:
        config = json.loads(text)
    except ValueError as error:
        raise ValueError(f"TF_CONFIG is not JSON ({error}): {text[:40]!r}") from None
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object, got {text[:40]!r}")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"TF_CONFIG: 'cluster' must map task types to addresses, got {cluster!r}")
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise ValueError(f"TF_CONFIG: cluster {kind!r} must be a list of addresses")
        for address in addresses:
            host, _, port = str(address).rpartition(":")
            if not isinstance(address, str) or not host or not port.isdigit():
                raise ValueError(f"TF_CONFIG: address {address!r} is not host:port")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ValueError(f"TF_CONFIG: 'task' must name a type of its cluster, got {task!r}")
    index = task.get("index", 0)
    if (
        not isinstance(index, int)
        or isinstance(index, bool)
        or not 0 <= index < len(cluster[task["type"]])
    ):
        raise ValueError(
            f"TF_CONFIG: task index {index!r} is not in its cluster's "
            f"{len(cluster[task['type']])} {task['type']!r} addresses"
        )
    return config


def peer_timeout() -> float:
    """The seconds a worker waits for its peers: $KERAS_LAB_PEER_TIMEOUT, else PEER_TIMEOUT.

    Example:
        >>> peer_timeout() == float(os.environ.get(PEER_TIMEOUT_ENV, PEER_TIMEOUT))
        True
    """
    text = os.environ.get(PEER_TIMEOUT_ENV, "")
    try:
        value = float(text) if text else PEER_TIMEOUT
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ValueError(f"{PEER_TIMEOUT_ENV} must be seconds > 0, got {text!r}")
    return value


_WATCH = """
import json, os, select, signal, socket, sys
args = json.loads(sys.argv[1])
ready, _, _ = select.select([args["fd"]], [], [], args["timeout"])
if ready:  # end of file: the worker joined
    sys.exit(0)
missing = []
for name, address in args["peers"]:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        missing.append(name + " at " + address)
line = "no answer from %s after %g s (TF_CONFIG's cluster; start every worker, or wait \
longer with %s=S)" % (", ".join(missing) or "the cluster", args["timeout"], args["env"])
os.write(2, ("%s: error: %s\\n" % (args["prog"], line)).encode())
os.kill(args["pid"], signal.SIGKILL)
"""


@contextlib.contextmanager
def peer_watchdog(tf_config_text: str, prog: str = "python -m keras_lab.train") -> Iterator:
    """While entered (TensorFlow joining the cluster: it blocks in C++ holding Python's
    lock, so no Python thread runs), a small watchdog process kills this one (SIGKILL) after
    :func:`peer_timeout` seconds, with one line on stderr naming the peers that do not
    answer."""
    config, timeout = parse_tf_config(tf_config_text), peer_timeout()
    me = (config["task"]["type"], config["task"].get("index", 0))
    peers = [
        (f"{kind} {index}", address)
        for kind, addresses in config["cluster"].items()
        for index, address in enumerate(addresses)
        if (kind, index) != me
    ]
    read_end, write_end = os.pipe()
    args = {"fd": read_end, "timeout": timeout, "peers": peers, "prog": prog}
    args.update(pid=os.getpid(), env=PEER_TIMEOUT_ENV)
    watcher = subprocess.Popen(
        [sys.executable, "-c", _WATCH, json.dumps(args)],
        pass_fds=[read_end],
        stderr=globals().get("_STDERR", 2),
    )
    os.close(read_end)
    try:
        yield
    finally:
        os.close(write_end)  # the watcher reads end-of-file and exits 0
        watcher.wait()


def files_needed(num_workers: int) -> int:
    """Open files each process of ``num_workers`` local workers needs (the launcher holds a
    log and a port per worker).

    Example:
        >>> files_needed(2)
        24
    """
    return FILES_PER_PROCESS + FILES_PER_WORKER * num_workers


def check_open_files(num_workers: int) -> None:
    """Raise the soft open-file limit (RLIMIT_NOFILE, inherited by the workers) to
    :func:`files_needed` if the hard limit allows it; else ValueError naming --workers."""
    need = files_needed(num_workers)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    if hard == resource.RLIM_INFINITY or hard >= need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        return
    raise ValueError(
        f"--workers {num_workers} needs about {need} open files per process, but the "
        f"open-file limit (ulimit -n, RLIMIT_NOFILE) is {soft} (hard {hard}): raise it "
        "or start fewer workers"
    )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


#: The environment variable naming the directory a launched worker's temporary files go in.
SCRATCH_ENV = "KERAS_LAB_WORKER_SCRATCH"


def launch_workers(
    argv: Sequence[str],
    num_workers: int,
    module: str = "keras_lab.train",
    timeout: float | None = None,
    started: list[int] | None = None,
) -> int:
    """Run ``python -m module argv`` as ``num_workers`` workers on 127.0.0.1, with TF_CONFIG.

    The chief (worker 0) prints to this process's stdout; the others' output goes to
    temporary files and the first line of a failing worker's last error is reported. Every
    worker is killed when this returns or raises (and, on Linux, if this process dies), and
    their temporary directory (:data:`SCRATCH_ENV`) is removed.

    Args:
        argv: the flags every worker gets (the same for all; TF_CONFIG tells them apart).
        num_workers: how many processes.
        module: the module each runs with ``python -m``.
        timeout: seconds before the workers are killed and TimeoutError raised; None: wait.
        started: if given, the workers' process ids are appended to it.

    Returns:
        0 if every worker exited 0, else the first non-zero exit code (the chief's first).

    Raises:
        ValueError: the open-file limit is too low for ``num_workers`` (:func:`check_open_files`).
    """
    check_open_files(num_workers)
    try:
        ports = free_ports(num_workers)
    except OSError as error:
        raise ValueError(f"--workers {num_workers}: no free ports on 127.0.0.1 ({error})") from None
    processes: list[subprocess.Popen] = []
    logs = []
    deadline = None if timeout is None else time.monotonic() + timeout
    # the workers' temporary files (a non-chief worker's checkpoints) go in here, removed
    # below however the workers end (killed ones cannot clean up after themselves)
    scratch = tempfile.mkdtemp(prefix="keras-lab-workers-")
    try:
        for index in range(num_workers):
            env = dict(os.environ, TF_CONFIG=tf_config(ports, index), **{SCRATCH_ENV: scratch})
            log = tempfile.TemporaryFile(mode="w+")
            logs.append(log)
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", module, *argv],
                    env=env,
                    stdout=None if index == 0 else subprocess.DEVNULL,
                    stderr=log,
                    preexec_fn=_die_with_parent,
                )
            )
            if started is not None:
                started.append(processes[-1].pid)
        codes: list[int | None] = [None] * num_workers
        while any(code is None for code in codes):
            for index, process in enumerate(processes):
                if codes[index] is None:
                    codes[index] = process.poll()
            failing = [c for c in codes if c not in (None, 0)]
            if failing:  # one worker failed: the others would wait for it forever
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"workers still running after {timeout} s")
            time.sleep(0.1)
        order = [0, *range(1, num_workers)]
        for index in order:
            if codes[index] not in (None, 0):
                logs[index].seek(0)
                lines = [line for line in logs[index].read().splitlines() if line.strip()]
                if lines:
                    sys.stderr.write(lines[-1] + "\n")
                return int(codes[index])
        return 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        for process in processes:
            with contextlib.suppress(Exception):
                process.wait(timeout=30)
        for log in logs:
            log.close()
        shutil.rmtree(scratch, ignore_errors=True)
