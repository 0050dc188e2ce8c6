"""One seed, one run: the same flags give the same run in every mode of the train CLI.

The epoch's visiting order is a pure function of (seed, epoch) in integer arithmetic
(keras_lab.lecture.gd.epoch_order), so XLA or
not, one device or replicas, one process or two workers, in one go or killed and resumed,
every mode visits the samples in the same order and takes the same steps. What may differ
is the summation order inside a step (replicas add their parts; XLA fuses): float64 runs
agree to 1e-12 and float32 runs to 1e-6 (the issue's bounds), a resumed run bit for bit.

The mirrored run (2 logical devices, which must be set before TensorFlow starts) and the
two-worker run are real CLI processes, started together (2 cores); the rest run train.main
in this process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

# 64 samples of the sine set in mini-batches of 8 (8 steps an epoch), shuffled every epoch,
# 4 epochs, checkpoints at epochs 2 and 4: small enough for ~3 s a run, long enough for the
# orders of 4 epochs and a resume from the middle.
FLAGS = [
    "--dataset", "sine", "--samples", "64", "--variant", "minibatch", "--batch-size", "8",
    "--hidden", "4", "--activation", "tanh", "--lr", "0.1", "--epochs", "4", "--seed", "5",
    "--checkpoint-every", "2", "--no-plots", "--no-tensorboard", "--json",
]  # fmt: skip


def flat_weights(result: dict) -> np.ndarray:
    return np.concatenate([np.ravel(layer[k]) for layer in result["weights"] for k in "Wb"])


def assert_same_run(a: dict, b: dict, tolerance: float) -> None:
    np.testing.assert_allclose(a["history"], b["history"], rtol=0, atol=tolerance)
    np.testing.assert_allclose(flat_weights(a), flat_weights(b), rtol=0, atol=tolerance)
    assert np.max(np.abs(flat_weights(a) - flat_weights(b))) <= tolerance


def run_main(args: list[str]) -> dict:
    import contextlib
    import io

    from keras_lab import train

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert train.main(args) == 0
    return json.loads(out.getvalue())


def start_cli(args: list[str], cwd: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "keras_lab.train", *args],
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=REPO),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("modes")
    float64 = [*FLAGS, "--dtype", "float64"]
    processes = {  # the two multi-process modes, side by side
        "mirrored": start_cli(
            [*float64, "--strategy", "mirrored", "--devices", "2", "--logdir", "mirrored"],
            str(root),
        ),
        "workers": start_cli(
            [*float64, "--strategy", "multiworker", "--workers", "2", "--logdir", "workers"],
            str(root),
        ),
    }
    out = {
        "jit": run_main([*float64, "--jit", "--logdir", str(root / "jit")]),
        "no_jit": run_main([*float64, "--no-jit", "--logdir", str(root / "no_jit")]),
        "jit32": run_main([*FLAGS, "--jit", "--logdir", str(root / "jit32")]),
        "no_jit32": run_main([*FLAGS, "--no-jit", "--logdir", str(root / "no_jit32")]),
    }
    # in memory vs streamed from shards of the same samples (shuffle off: the stream's
    # shuffled order is windowed, docs/distribute.md)
    from keras_lab.engine import stream

    shards = str(root / "shards")
    stream.write_shards(shards, 64, num_shards=3, seed=5, dtype="float64")
    in_order = [*float64, "--no-shuffle"]
    out["memory_in_order"] = run_main([*in_order, "--logdir", str(root / "memory")])
    streamed = [f for f in in_order if f not in ("--dataset", "sine", "--samples", "64")]
    out["streamed_in_order"] = run_main(  # the data's size comes from its manifest
        [*streamed, "--data", shards, "--logdir", str(root / "streamed")]
    )
    # killed after the epoch-2 checkpoint (as a kill leaves it), then resumed
    cut = root / "cut"
    shutil.copytree(root / "jit", cut)
    for name in os.listdir(cut / "checkpoints"):
        if name.startswith("ckpt-4"):
            os.remove(cut / "checkpoints" / name)
    (cut / "checkpoints" / "checkpoint").write_text(
        'model_checkpoint_path: "ckpt-2"\nall_model_checkpoint_paths: "ckpt-2"\n'
    )
    os.remove(cut / "result.json")
    out["resumed"] = run_main(["--resume", str(cut), "--json"])
    out.update({name: finish(process) for name, process in processes.items()})
    return out


@pytest.mark.slow
def test_xla_and_no_xla_run_the_same_steps(runs):
    assert_same_run(runs["jit"], runs["no_jit"], 1e-12)
    assert_same_run(runs["jit32"], runs["no_jit32"], 1e-6)
    assert runs["jit"]["history"][-1] < runs["jit"]["history"][0]  # it trained


@pytest.mark.slow
def test_mirrored_devices_and_two_workers_equal_one_device(runs):
    assert runs["mirrored"]["config"]["strategy"] == "mirrored"
    assert runs["workers"]["config"]["strategy"] == "multiworker"
    for mode in ("mirrored", "workers"):
        assert_same_run(runs["jit"], runs[mode], 1e-12)


@pytest.mark.slow
def test_streamed_shards_equal_memory_in_order(runs):
    assert runs["streamed_in_order"]["config"]["data"]
    assert_same_run(runs["memory_in_order"], runs["streamed_in_order"], 1e-12)
    # shuffling matters: the in-order run is another run (else this test could not fail)
    assert np.max(np.abs(flat_weights(runs["memory_in_order"]) - flat_weights(runs["jit"]))) > 1e-4


@pytest.mark.slow
def test_killed_and_resumed_is_bit_identical(runs):
    assert runs["resumed"]["history"] == runs["jit"]["history"]
    assert runs["resumed"]["weights"] == runs["jit"]["weights"]  # JSON floats round-trip
