"""The loop under tf.distribute (engine.devices.Replicas) ends where the single-device loop ends.

Logical devices and collective ops must be set up before TensorFlow's runtime starts, so
the mirrored and multi-worker cases run in fresh processes (about 8 s of TF import each):
one process for every mirrored case, two worker processes (twice) for multi-worker.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO

from keras_lab.data import sine_data
from keras_lab.engine import devices as loops
from keras_lab.engine.loop import GradientDescent
from keras_lab.engine.workers import launch_workers
from keras_lab.models import mlp


def max_difference(a, b):
    return max(float(np.max(np.abs(np.asarray(u) - np.asarray(v)))) for u, v in zip(a, b))


def model64():
    return mlp((4,), "tanh", 1, 1, "linear", 0, "float64")


# ----------------------------------------------------------------------------- in process
def test_replica_slices_cut_like_array_split():
    for size, replicas in [(8, 2), (7, 2), (1, 2), (10, 3), (0, 2)]:
        cuts = [replica_cut(size, r, replicas) for r in range(replicas)]
        expected = [(p[0], len(p)) if len(p) else (None, 0) for p in split(size, replicas)]
        assert [c[1] for c in cuts] == [e[1] for e in expected]
        assert sum(c[1] for c in cuts) == size
        starts = [c[0] for c in cuts]
        assert starts == sorted(starts) and starts[0] == 0


def replica_cut(size, replica, replicas):
    start, length = loops.replica_slice(size, replica, replicas)
    return int(start), int(length)


def split(size, replicas):
    return np.array_split(np.arange(size), replicas)


def test_per_sample_loss_refuses_what_cannot_be_split():
    import custom_losses

    fn, reduction = loops.per_sample_loss(custom_losses.SumSquaredError())
    assert reduction == "sum"
    assert fn([[1.0], [2.0]], [[0.0], [0.0]]).numpy().tolist() == [1.0, 4.0]  # (t - y)^2 each
    with pytest.raises(ValueError, match="not a mean or sum of per-sample losses"):
        loops.per_sample_loss(custom_losses.RootMeanSquaredError())
    with pytest.raises(ValueError, match="has reduction 'none'"):
        loops.per_sample_loss(keras.losses.MeanSquaredError(reduction="none"))


def test_default_strategy_equals_gradient_descent():
    """One replica: the distributed step is the single-device step (jit off: same RNG).

    40 samples in batches of 7: five full batches and a ragged 5 (every batch-size case
    runs on two replicas in the mirrored process below)."""
    batch_size = 7
    x, y = sine_data(40, seed=1, dtype="float64")
    loss = keras.losses.MeanSquaredError(dtype="float64")
    reference = model64()
    GradientDescent(reference, loss, x, y, batch_size=batch_size, learning_rate=0.1, seed=3).run(3)
    ours = model64()
    loop = GradientDescent(
        ours,
        loss,
        x,
        y,
        batch_size=batch_size,
        learning_rate=0.1,
        seed=3,
        strategy=tf.distribute.get_strategy(),
    )
    loop.run(3)
    assert max_difference(reference.get_weights(), ours.get_weights()) < 1e-12  # float64
    assert max_difference(ours.get_weights(), model64().get_weights()) > 1e-3  # it moved


def test_launch_workers_kills_every_worker_on_timeout():
    """A hung worker: TimeoutError, and no process left behind."""
    pids = []
    with pytest.raises(TimeoutError):
        launch_workers(
            ["-n", "1", "import time; time.sleep(120)"],
            2,
            module="timeit",
            timeout=3,
            started=pids,
        )
    assert len(pids) == 2
    for pid in pids:
        assert not process_exists(pid)


def process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # reaped processes are gone; zombies count as gone
        return f.read().split()[2] != "Z"


def load_launch_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "launch_workers_script", os.path.join(REPO, "scripts", "launch_workers.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_launch_workers_script_passes_flags_and_resume(monkeypatch):
    """scripts/launch_workers.py: argument level (starting workers is tested below)."""
    import doctest

    script = load_launch_script()
    assert doctest.testmod(script).failed == 0
    calls = []
    monkeypatch.setattr(script, "launch_workers", lambda *a, **k: calls.append((a, k)) or 0)
    assert script.main(["3", "--timeout", "60", "--", "--epochs", "2"]) == 0
    assert calls[-1] == (
        (["--strategy", "multiworker", "--epochs", "2", "--workers", "3"], 3),
        {"timeout": 60.0},
    )
    # --resume: the run's config.json holds the settings; train refuses any others
    assert script.main(["2", "--", "--resume", "runs/x", "--quiet"]) == 0
    assert calls[-1][0] == (["--resume", "runs/x", "--quiet"], 2)


@pytest.mark.parametrize(
    "argv, message",
    [(["0"], "workers must be >= 1, got 0"), (["2", "--timeout", "-1"], "got -1.0")],
)
def test_launch_workers_script_bad_input_exits_2(capsys, argv, message):
    script = load_launch_script()
    with pytest.raises(SystemExit) as exit_info:
        script.main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_data_with_multiworker_is_a_valid_setting(tmp_path):
    """Refused before this worked; now validation lets it through (run by the slow test)."""
    from keras_lab.engine import stream
    from keras_lab.pipeline import TrainConfig, validate

    stream.write_shards(str(tmp_path / "d"), 10, num_shards=2)
    validate(TrainConfig(data=str(tmp_path / "d"), strategy="multiworker", workers=2))


BAD_FLAGS = [
    (["--devices", "0"], "devices must be an integer >= 1, got 0"),
    (["--devices", "2"], "--devices 2 needs --strategy mirrored"),
    (["--workers", "2"], "--workers 2 needs --strategy multiworker"),
    (["--strategy", "ring"], "invalid choice: 'ring'"),
    (["--data", "MISSING"], "is not a directory"),
    (["--strategy", "mirrored", "--loss", "RootMeanSquaredError"], "cannot be split over"),
]


@pytest.mark.parametrize("args, message", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flags_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, args, message):
    from keras_lab import train

    args = [str(tmp_path / "missing") if a == "MISSING" else a for a in args]
    with pytest.raises(SystemExit) as exit_info:
        train.main([*args, "--logdir", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], captured.err
    assert captured.out == ""
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- mirrored
MIRRORED = r"""
import json, os, shutil, sys
from keras_lab.engine import devices as strategies
strategies.prepare("mirrored", 2)  # before any TF op
import keras, numpy as np, tensorflow as tf
from keras_lab.engine import stream
from keras_lab.engine.stream import StreamedBatches
from keras_lab.data import sine_data
from keras_lab.engine.loop import GradientDescent
from keras_lab.models import mlp
from keras_lab.pipeline import TrainConfig, train_and_evaluate

def diff(a, b):
    return max(float(np.max(np.abs(np.asarray(u) - np.asarray(v)))) for u, v in zip(a, b))

def model():
    return mlp((4,), "tanh", 1, 1, "linear", 0, "float64")

out = {}
strategy = strategies.get_strategy("mirrored", 2)
out["replicas"] = strategy.num_replicas_in_sync
x, y = sine_data(40, seed=1, dtype="float64")
loss = keras.losses.MeanSquaredError(dtype="float64")
for batch_size in (8, 7, 1):
    reference = model()
    GradientDescent(reference, loss, x, y, batch_size=batch_size, learning_rate=0.1, seed=3).run(4)
    with strategy.scope():
        ours = model()
    loop = GradientDescent(
        ours, loss, x, y, batch_size=batch_size, learning_rate=0.1, seed=3, strategy=strategy
    )
    loop.run(4)
    out[f"weights_{batch_size}"] = diff(reference.get_weights(), ours.get_weights())
    out[f"moved_{batch_size}"] = diff(ours.get_weights(), model().get_weights())

# the fact the step works around: Keras divides a mean loss by the replicas in a strategy
values = strategy.run(lambda: loss(tf.constant(y[:4]), tf.zeros([4, 1], tf.float64)))
out["keras_loss_per_replica"] = [float(v) for v in strategy.experimental_local_results(values)]
out["mean_loss"] = float(np.mean(y[:4] ** 2))

root = sys.argv[1]
common = dict(dataset="sine", samples=40, variant="minibatch", batch_size=7, hidden=(4,),
              activation="tanh", lr=0.1, epochs=4, dtype="float64", plots=False,
              tensorboard=False, jit=False, checkpoint_every=2)
single = train_and_evaluate(TrainConfig(**common), os.path.join(root, "single"), progress=False)
# --jit under the strategy: XLA compiles each replica's forward and backward pass
mirrored = TrainConfig(strategy="mirrored", devices=2, **{**common, "jit": True})
straight = train_and_evaluate(mirrored, os.path.join(root, "straight"), progress=False)
flat = lambda r: [w for layer in r.weights for w in layer]
out["run_vs_single"] = diff(flat(single), flat(straight))
# resume: the same run cut back to its epoch-2 checkpoint, then continued
cut = os.path.join(root, "cut")
shutil.copytree(os.path.join(root, "straight"), cut)
for name in os.listdir(os.path.join(cut, "checkpoints")):
    if name.startswith("ckpt-4"):
        os.remove(os.path.join(cut, "checkpoints", name))
with open(os.path.join(cut, "checkpoints", "checkpoint"), "w") as f:  # latest: ckpt-2
    f.write('model_checkpoint_path: "ckpt-2"\nall_model_checkpoint_paths: "ckpt-2"\n')
os.remove(os.path.join(cut, "result.json"))
resumed = train_and_evaluate(mirrored, cut, resume=True, progress=False)
out["resumed_vs_straight"] = diff(flat(resumed), flat(straight))
out["resumed_history"] = resumed.history == straight.history

# streamed from disk under the strategy: 100 samples, batch 16 (6 full + a ragged 4)
shards = os.path.join(root, "shards")
stream.write_shards(shards, 100, num_shards=3, seed=5, dtype="float64")
xs, ys = stream.read_all(shards)
reference = model()
GradientDescent(reference, loss, xs, ys, batch_size=16, learning_rate=0.1, shuffle=False).run(3)
with strategy.scope():
    ours = model()
loop = GradientDescent(
    ours, loss, batch_size=16, learning_rate=0.1, shuffle=False, strategy=strategy,
    batches=StreamedBatches(shards, 16, shuffle=False))
loop.run(3)
out["stream_weights"] = diff(reference.get_weights(), ours.get_weights())
out["stream_steps"] = int(loop.step.numpy())
graph = loop.concrete_function().graph  # what run.py writes for TensorBoard's Graphs tab
out["stream_traced"] = loop.tracing_count  # the function that ran, not a new tracing
out["graph_ops"] = sorted({op.type for op in graph.get_operations()} | {
    node.op for f in graph.as_graph_def().library.function for node in f.node_def})
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirrored")
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(root)],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [8, 7, 1], ids=["divides", "ragged", "sgd"])
def test_mirrored_on_two_devices_equals_one_device(mirrored, batch_size):
    """40 samples: batch 8 divides evenly (4 + 4 per replica); 7 leaves a last batch of 5
    (3 + 2); 1 leaves one replica empty every step."""
    assert mirrored["replicas"] == 2
    assert mirrored[f"weights_{batch_size}"] < 1e-6  # the bound; float64
    assert mirrored[f"moved_{batch_size}"] > 1e-3  # agreement is not two copies of the start


@pytest.mark.slow
def test_keras_losses_divide_by_replicas_so_the_step_does_not_use_them(mirrored):
    """DESIGN.md's measured fact, measured again: each replica's Keras loss is mean / 2."""
    for value in mirrored["keras_loss_per_replica"]:
        assert value == pytest.approx(mirrored["mean_loss"] / 2, rel=1e-12)


@pytest.mark.slow
def test_mirrored_run_checkpoints_resumes_and_streams(mirrored):
    # train_and_evaluate, strategy none (--no-jit) vs mirrored with --jit (XLA per replica;
    # the shuffling order is integer arithmetic of (seed, epoch), the same in every mode)
    assert mirrored["run_vs_single"] < 1e-6
    assert mirrored["resumed_vs_straight"] == 0.0  # same steps from the same checkpoint
    assert mirrored["resumed_history"]
    assert mirrored["stream_weights"] < 1e-6
    assert mirrored["stream_steps"] == 3 * 7  # 100 = 6 * 16 + 4: 7 steps an epoch


@pytest.mark.slow
def test_the_distributed_epoch_has_a_graph_for_tensorboard(mirrored):
    assert mirrored["stream_traced"] == 1  # concrete_function() did not trace again
    # the epoch's loop over the dataset, the replicas' backward pass, the explicit update
    assert {"ReduceDataset", "TanhGrad", "AssignVariableOp", "Sub"} <= set(mirrored["graph_ops"])


# ----------------------------------------------------------------------------- multi-worker
# 40 samples in batches of 7: five full batches (4 + 3 on two workers) and a ragged 5
# (3 + 2), neither divisible by the 2 workers; shuffled (the workers read the same seeded
# stream); --jit left at its default (on): XLA per replica; TensorBoard on (the graph).
STREAMED = dict(
    variant="minibatch", batch_size=7, hidden=(4,), activation="tanh", lr=0.1, epochs=4,
    dtype="float64", plots=False, checkpoint_every=2,
)  # fmt: skip


def cli_flags(settings):
    flags = []
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        if value is False:
            flags.append("--no-" + key.replace("_", "-"))
        else:
            flags += [flag, ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    return flags


def group_members(pgid):
    """Live (non-zombie) processes in process group ``pgid``."""
    members = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":  # pgrp, state
                members.append(int(name))
    return members


def run_in_own_group(argv, timeout):
    """Run argv in a new process group; on return, failure or timeout, kill whatever of the
    group is left; return (completed process, the group's members that outlived it)."""
    process = subprocess.Popen(
        argv, cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        left = group_members(process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    return subprocess.CompletedProcess(argv, process.returncode, out, err), left


@pytest.mark.slow
def test_two_workers_stream_ragged_batches_like_one_device_and_resume(tmp_path):
    """The real CLI: python -m keras_lab.train --strategy multiworker --workers 2 --data DIR
    starts two worker processes on 127.0.0.1; the chief's weights equal the single-device
    streamed run's; resuming from the epoch-2 checkpoint ends where it ended."""
    from keras_lab.engine import stream
    from keras_lab.pipeline import TrainConfig, train_and_evaluate

    shards = str(tmp_path / "shards")
    stream.write_shards(shards, 40, num_shards=3, seed=1, dtype="float64")  # 14 + 13 + 13
    single = train_and_evaluate(
        TrainConfig(data=shards, tensorboard=False, jit=False, **STREAMED),
        str(tmp_path / "single"),
        progress=False,
    )
    logdir = tmp_path / "workers"
    argv = [sys.executable, "-m", "keras_lab.train", "--strategy", "multiworker",
            "--workers", "2", "--data", shards, *cli_flags(STREAMED), "--json",
            "--logdir", str(logdir)]  # fmt: skip
    done, left = run_in_own_group(argv, timeout=300)
    assert left == [], "worker processes outlived the launcher"
    assert done.returncode == 0, done.stderr[-3000:]
    workers = json.loads(done.stdout.strip().splitlines()[-1])  # the chief's --json
    assert workers["config"]["jit"] is True and workers["config"]["data"] == shards
    flat = [np.asarray(v) for layer in workers["weights"] for v in (layer["W"], layer["b"])]
    assert max_difference([w for layer in single.weights for w in layer], flat) < 1e-5
    assert single.history[-1] < single.history[0]  # it trained (the loss fell)
    np.testing.assert_allclose(workers["history"], single.history, rtol=1e-9)
    assert abs(workers["sse"] - single.sse) < 1e-9  # the chief's SSE, streamed over all 40
    assert abs(workers["final_loss"] - single.final_loss) < 1e-9
    names = os.listdir(logdir / "checkpoints")
    assert any(n.startswith("ckpt-4") for n in names)  # the chief saved; only the chief
    assert_graph_written(logdir)

    # resume from the epoch-2 checkpoint, workers started directly (the pids are known)
    for name in names:
        if name.startswith("ckpt-4"):
            os.remove(logdir / "checkpoints" / name)
    (logdir / "checkpoints" / "checkpoint").write_text(  # latest: ckpt-2
        'model_checkpoint_path: "ckpt-2"\nall_model_checkpoint_paths: "ckpt-2"\n'
    )
    os.remove(logdir / "result.json")
    pids = []
    code = launch_workers(["--resume", str(logdir), "--quiet"], 2, timeout=240, started=pids)
    assert code == 0
    assert len(pids) == 2 and not any(process_exists(pid) for pid in pids)
    with open(logdir / "result.json") as f:
        resumed = json.load(f)
    assert resumed["weights"] == workers["weights"]  # bit for bit: the same steps
    assert resumed["history"] == workers["history"]
    shutil.rmtree(logdir)


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_and_leaves_no_temporary_files(tmp_path):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) while two workers train:
    exit 130 at once, one line with the --resume command, no worker left, the non-chief's
    temporary checkpoint directory removed (it was left behind before), the run directory's
    lock free. The launcher and the workers make their temporary files under TMPDIR."""
    import fcntl
    import time

    temp, run_dir = tmp_path / "tmp", tmp_path / "run"
    temp.mkdir()
    argv = [sys.executable, "-m", "keras_lab.train", "--strategy", "multiworker",
            "--workers", "2", "--epochs", "100000", "--logdir", str(run_dir), "--quiet",
            "--no-plots", "--no-tensorboard"]  # fmt: skip
    process = subprocess.Popen(
        argv, cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO, TMPDIR=str(temp)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        # a shell without job control starts background jobs with SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        saved = []  # the non-chief's first checkpoint, in its temporary directory
        while not saved and process.poll() is None and time.monotonic() < deadline:
            saved = [f for _, _, files in os.walk(temp) for f in files if f.endswith(".index")]
            time.sleep(0.2)
        assert saved, f"the workers did not start training: {process.poll()}"
        time.sleep(1.0)  # training
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        left = group_members(process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    assert process.returncode == 130, err[-2000:]
    assert err.count("\n") == 1 and "stopped by SIGINT" in err, err[-2000:]
    assert f"--resume {run_dir}" in err
    assert left == [], "worker processes outlived the launcher"
    ours = [path.name for path in temp.iterdir() if path.name.startswith("keras-lab-")]
    assert ours == [], "temporary files left behind"  # (TensorFlow's AutoGraph leaves its own)
    with open(run_dir / ".lock") as lock:  # free: a resume is not refused
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def assert_graph_written(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(logdir / "tensorboard"))
    events.Reload()
    graph = events.Graph()
    ops = {node.op for node in graph.node} | {
        node.op for function in graph.library.function for node in function.node_def
    }
    # the epoch's loop over the dataset, the workers' all-reduce, the backward pass, the
    # explicit update
    assert {"ReduceDataset", "CollectiveReduceV2", "TanhGrad", "AssignVariableOp", "Sub"} <= ops
