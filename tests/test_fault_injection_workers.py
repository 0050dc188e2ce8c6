"""Faults around multiworker runs, through the real CLI: a peer that never starts, an
open-file limit too low for --workers. Every process started here is killed in a finally."""

import json
import os
import resource
import subprocess
import sys

from keras_lab.engine.workers import PEER_TIMEOUT_ENV, free_ports

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_train(flags, tmp_path, env=None, preexec_fn=None, timeout=90):
    environ = dict(os.environ, PYTHONPATH=REPO, TMPDIR=str(tmp_path), **(env or {}))
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_lab.train", *flags],
        env=environ,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )
    try:
        out, err = process.communicate(timeout=timeout)
        return process.returncode, out, err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_missing_peer_ends_the_wait_with_one_line(tmp_path):
    ports = free_ports(2)  # nobody listens on the peer's
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    code, _, err = run_train(
        ["--strategy", "multiworker", "--epochs", "1", "--logdir", str(tmp_path / "run")],
        tmp_path,
        env={"TF_CONFIG": tf_config, PEER_TIMEOUT_ENV: "4"},
    )
    lines = err.strip().splitlines()
    assert code == -9, err  # the watchdog kills the process TensorFlow holds in C++
    assert len(lines) == 1, err
    assert f"no answer from worker 1 at 127.0.0.1:{ports[1]} after 4 s" in lines[0]


def test_low_open_file_limit_names_workers_and_the_limit(tmp_path):
    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (20, 20))

    code, _, err = run_train(
        ["--strategy", "multiworker", "--workers", "4", "--logdir", str(tmp_path / "run")],
        tmp_path,
        preexec_fn=low_limit,
    )
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "--workers 4" in lines[0] and "is 20" in lines[0]
