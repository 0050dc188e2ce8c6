"""Nothing lost, nothing silent (issue #13): the train and stream CLIs driven through faults.

Every case ends in one of two outcomes, counted in ``OUTCOMES`` and printed at the end
(``pytest -s``): "identical" (the run, continued with --resume where it stopped, ends with
weights and history bit-identical to an uninterrupted run) or "refused" (exit 2, 3 or
128 + signal, one stderr line naming the bad file, flag or value). In-process
``train.main`` wherever possible; real processes only to kill them.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import REPO
from conftest import run_train as main

from keras_lab import stream as stream_cli
from keras_lab import train
from keras_lab.engine import stream

OUTCOMES: collections.Counter = collections.Counter()
KILLS: list[str] = []  # what each killed process had written, for the report
#: One configuration for every run that trains: the lecture's SGD, checkpoints every 10
#: epochs (40 saves), so that random kills land in checkpoint and summary writes.
RUN = ["--epochs", "400", "--checkpoint-every", "10"]


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    print(f"\nfault cases: {sum(OUTCOMES.values())}, outcomes: {dict(OUTCOMES)}; kills: {KILLS}")


def refused(capsys, argv, code: int, *names: str) -> str:
    """Assert that train.main(argv) exits ``code`` with one stderr line holding ``names``."""
    result, _, err = main(capsys, *argv)
    assert result == code, err
    assert err.count("\n") == 1 and err.startswith("python -m keras_lab.train: error: "), err
    for name in names:
        assert name in err, err
    OUTCOMES["refused"] += 1
    return err


def final_state(run_dir: str) -> dict:
    with open(os.path.join(run_dir, "result.json")) as f:
        result = json.load(f)
    return {"weights": result["weights"], "history": result["history"]}


def assert_identical(run_dir: str, reference: dict) -> None:
    assert final_state(run_dir) == reference  # bit for bit: the JSON floats are exact
    OUTCOMES["identical"] += 1


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory) -> str:
    """The uninterrupted run every interrupted one must end equal to."""
    run_dir = str(tmp_path_factory.mktemp("reference") / "run")
    assert train.main([*RUN, "--logdir", run_dir, "--quiet"]) == 0
    return run_dir


@pytest.fixture(scope="module")
def reference(reference_dir) -> dict:
    return final_state(reference_dir)


@pytest.fixture
def finished(tmp_path, reference_dir) -> str:
    """A finished run of RUN: a copy of the reference's directory (its lock is free)."""
    run_dir = str(tmp_path / "run")
    shutil.copytree(reference_dir, run_dir)
    return run_dir


# ----------------------------------------------------------------------------- 1. one process
HOLD_LOCK = """
import fcntl, os, sys, time
handle = open(os.path.join(sys.argv[1], ".lock"), "a+")
fcntl.flock(handle, fcntl.LOCK_EX)
handle.truncate(0); handle.write(str(os.getpid())); handle.flush()
print("held", flush=True)
time.sleep(60)
"""


@contextlib.contextmanager
def lock_held(run_dir: str):
    """Another process holding ``run_dir``'s lock, as a running train would."""
    os.makedirs(run_dir, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, run_dir], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_a_run_directory_in_use_is_refused_naming_the_holder(tmp_path, capsys, finished):
    fresh = str(tmp_path / "fresh")
    with lock_held(fresh) as pid:
        refused(capsys, [*RUN, "--logdir", fresh], 2, f"in use by process {pid}")
    assert os.listdir(fresh) == [".lock"]  # nothing written
    with lock_held(finished) as pid:  # a second resumer
        refused(capsys, ["--resume", finished], 2, f"in use by process {pid}")


def test_default_run_directories_are_unique(tmp_path, monkeypatch):
    from keras_lab.rundir import default_run_dir

    monkeypatch.chdir(tmp_path)
    first = default_run_dir("sgd")
    assert first.endswith(f"-sgd-{os.getpid()}")  # another process: another name
    os.makedirs(first)
    assert default_run_dir("sgd") == first + "-2"  # this process, same second


def test_results_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    from keras_lab import rundir as run

    path = str(tmp_path / "result.json")
    run.write_json(path, {"old": 1})

    def kill_midway(f):
        f.write(b'{"new": ')
        raise KeyboardInterrupt  # a kill between the write and the rename

    with pytest.raises(KeyboardInterrupt):
        run.atomic_write(path, kill_midway)
    with open(path) as f:
        assert json.load(f) == {"old": 1}
    assert os.listdir(tmp_path) == ["result.json"]  # no temporary left
    with pytest.raises(ValueError, match="Out of range float"):
        run.write_json(path, {"loss": float("inf")})  # strict JSON, never Infinity


#: sitecustomize for a child process: every figure is written whole into atomic_write's
#: temporary file, then the child says so (a marker file) and waits there to be killed.
SLOW_FIGURE = """
import os
if os.environ.get("SLOW_FIGURE_MARKER"):
    import time
    import matplotlib.figure

    _savefig = matplotlib.figure.Figure.savefig

    def savefig(self, *args, **kwargs):
        _savefig(self, *args, **kwargs)
        open(os.environ["SLOW_FIGURE_MARKER"], "w").close()
        time.sleep(300)

    matplotlib.figure.Figure.savefig = savefig
"""


@pytest.mark.slow  # three train processes (~20 s)
def test_killed_while_writing_a_figure_then_resumed(tmp_path, cli):
    """SIGKILL between a figure's bytes and its rename, through the real CLI: no figure and
    no result.json are there, only the temporary; --resume then finishes the run with the
    figures and results of an uninterrupted run, and removes the temporary."""
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(SLOW_FIGURE)
    run_dir, marker = tmp_path / "run", tmp_path / "marker"
    env = dict(os.environ, PYTHONPATH=f"{inject}{os.pathsep}{REPO}", SLOW_FIGURE_MARKER=str(marker))
    argv = [sys.executable, "-m", "keras_lab.train", "--epochs", "50", "--logdir", str(run_dir)]
    process = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 240
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the run never reached its first figure"
    finally:
        process.kill()
        process.wait()
    names = os.listdir(run_dir)
    assert "result.json" not in names and not any(n.endswith(".png") for n in names)
    assert [n for n in names if n.startswith(".tmp-")], names  # killed in the middle

    resumed = cli("keras_lab.train", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr[-500:]
    reference_dir = tmp_path / "ref"
    reference = cli("keras_lab.train", "--epochs", "50", "--logdir", str(reference_dir))
    assert reference.returncode == 0, reference.stderr[-500:]
    for name in ("loss.png", "fit.png"):  # the same figure, byte for byte
        assert (run_dir / name).read_bytes() == (reference_dir / name).read_bytes()
    ours, theirs = (json.loads((d / "result.json").read_text()) for d in (run_dir, reference_dir))
    assert ours["weights"] == theirs["weights"] and ours["history"] == theirs["history"]
    assert not [n for n in os.listdir(run_dir) if n.startswith(".tmp-")]


# ----------------------------------------------------------------------------- 2. data on disk
@pytest.fixture
def shards(tmp_path) -> str:
    folder = str(tmp_path / "data")
    stream.write_shards(folder, 300, num_shards=3, seed=1)
    return folder


def _manifest(folder: str) -> dict:
    with open(os.path.join(folder, "manifest.json")) as f:
        return json.load(f)


def _set_manifest(folder: str, manifest) -> None:
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        f.write(manifest if isinstance(manifest, str) else json.dumps(manifest))


def _shard(folder: str, index: int = 1) -> str:
    return os.path.join(folder, _manifest(folder)["shards"][index]["file"])


def _missing(folder):
    os.remove(_shard(folder))
    return os.path.basename(_shard(folder))


def _empty(folder):
    open(_shard(folder), "w").close()
    return os.path.basename(_shard(folder))


def _truncated(folder):
    with open(_shard(folder), "r+b") as f:
        f.truncate(os.path.getsize(_shard(folder)) - 7)
    return os.path.basename(_shard(folder))


def _flipped(folder):
    with open(_shard(folder), "r+b") as f:
        f.seek(40)
        byte = f.read(1)
        f.seek(40)
        f.write(bytes([byte[0] ^ 0x10]))
    return os.path.basename(_shard(folder))


def _extra(folder):
    shutil.copy(_shard(folder), os.path.join(folder, "sine-extra.tfrecord"))
    return "sine-extra.tfrecord"


def _edit(change):
    def edit(folder):
        manifest = _manifest(folder)
        change(manifest)
        _set_manifest(folder, manifest)
        return "manifest.json"

    return edit


def _unlisted(manifest):
    del manifest["shards"][1]
    manifest["samples"] -= 100


DATA_FAULTS = {
    "missing shard": _missing,
    "empty shard": _empty,
    "truncated shard": _truncated,
    "altered byte": _flipped,
    "extra shard": _extra,
    "shard not in manifest": _edit(_unlisted),
    "wrong samples": _edit(lambda m: m.update(samples=299)),
    "wrong shard samples": _edit(lambda m: m["shards"][0].update(samples=50)),
    "wrong dtype": _edit(lambda m: m.update(dtype="float64")),
    "no shards": _edit(lambda m: m.pop("shards")),
    "not JSON": lambda folder: _set_manifest(folder, "{'samples': 3") or "manifest.json",
    "truncated manifest": lambda folder: (
        _set_manifest(folder, json.dumps(_manifest(folder))[:50]) or "manifest.json"
    ),
    "no checksums (v1)": _edit(lambda m: m.update(format="keras-lab-sine-v1")),
}


@pytest.mark.parametrize("fault", DATA_FAULTS)
def test_bad_data_is_refused_before_any_update(fault, shards, tmp_path, capsys):
    name = DATA_FAULTS[fault](shards)
    run_dir = str(tmp_path / "run")
    err = refused(capsys, ["--data", shards, "--variant", "batch", "--logdir", run_dir], 2, name)
    assert not os.path.exists(run_dir), err
    if fault == "no checksums (v1)":
        assert "python -m keras_lab.stream write --samples 300 --seed 1" in err


def test_a_corrupt_record_found_while_training_stops_keeping_the_checkpoint(
    shards, tmp_path, capsys, monkeypatch
):
    """The shard is altered after the check (as by a failing disk): TFRecord's CRC finds it."""
    from keras_lab import problem

    monkeypatch.setattr(problem, "verify_shards", stream.read_manifest)  # the check passed
    _flipped(shards)
    run_dir = str(tmp_path / "run")
    refused(capsys, ["--data", shards, "--epochs", "3", "--logdir", run_dir], 2, "corrupt record")
    assert os.path.isfile(os.path.join(run_dir, "checkpoints", "ckpt-0.index"))
    assert not os.path.exists(os.path.join(run_dir, "result.json"))


def test_data_runs_are_labelled_with_their_data(shards, tmp_path, capsys):
    code, out, err = main(
        capsys, "--data", shards, "--epochs", "2", "--logdir", str(tmp_path / "r"), "--json"
    )
    assert code == 0, err
    config = json.loads(out)["config"]
    assert (config["dataset"], config["samples"], config["data"]) == ("sine", 300, shards)


# ----------------------------------------------------------------------------- 3. resume
def _drop_latest(run_dir: str, how: str) -> str:
    folder = os.path.join(run_dir, "checkpoints")
    latest = sorted(
        (f for f in os.listdir(folder) if f.endswith(".index")),
        key=lambda f: int(f.split("-")[1].split(".")[0]),
    )[-1][: -len(".index")]
    data = os.path.join(folder, latest + ".data-00000-of-00001")
    if how == "deleted":
        os.remove(data)
        os.remove(os.path.join(folder, latest + ".index"))
    elif how == "truncated":
        with open(data, "r+b") as f:
            f.truncate(os.path.getsize(data) // 2)
    elif how == "truncated index":
        with open(os.path.join(folder, latest + ".index"), "r+b") as f:
            f.truncate(10)
    elif how == "no state file":
        os.remove(os.path.join(folder, "checkpoint"))
    return latest


@pytest.mark.parametrize("how", ["deleted", "truncated", "truncated index", "no state file"])
def test_resume_falls_back_to_the_newest_intact_checkpoint(how, finished, capsys, reference):
    dropped = _drop_latest(finished, how)
    os.remove(os.path.join(finished, "result.json"))
    code, out, err = main(capsys, "--resume", finished, "--json")
    assert code == 0, err
    result = json.loads(out)
    if how != "no state file":
        assert result["resumed_from"].endswith("ckpt-390")
        if how != "deleted":
            assert err.count("\n") == 1 and dropped in err and "ckpt-390" in err, err
    assert_identical(finished, reference)


def test_resume_with_no_intact_checkpoint_is_refused(finished, capsys):
    folder = os.path.join(finished, "checkpoints")
    for name in os.listdir(folder):
        if name.endswith(".index"):
            open(os.path.join(folder, name), "w").close()
    refused(capsys, ["--resume", finished], 2, "no intact checkpoint", folder)


def _steps(run_dir: str, prefix: str) -> list[int]:
    """The steps logged under the first tag starting with ``prefix``, in file order."""
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator

    events = EventAccumulator(os.path.join(run_dir, "tensorboard"), size_guidance={TENSORS: 0})
    events.Reload()
    tag = sorted(t for t in events.Tags()["tensors"] if t.startswith(prefix))[0]
    return [event.step for event in events.Tensors(tag)]


def test_a_resumed_run_writes_no_step_twice_to_tensorboard(finished, capsys, reference):
    """The killed run got to epoch 400 in its events, its last two checkpoints are lost
    (of the three kept): the resumed run repeats epochs 381-400 and must not log them again."""
    for _ in range(2):
        _drop_latest(finished, "deleted")
    os.remove(os.path.join(finished, "result.json"))
    code, _, err = main(capsys, "--resume", finished, "--quiet")
    assert code == 0, err
    assert _steps(finished, "epoch/loss") == list(range(1, 401))
    weights = _steps(finished, "weights/")
    assert len(weights) == len(set(weights))
    assert_identical(finished, reference)


# ----------------------------------------------------------------------------- 4. faults
def test_too_long_logdir_is_refused_creating_nothing(tmp_path, capsys):
    long_name = str(tmp_path / ("x" * 300) / "run")
    refused(capsys, ["--logdir", long_name], 2, "255")
    deep = os.path.join(str(tmp_path), *["d" * 200] * 25)  # each name fits, the path not
    refused(capsys, ["--logdir", deep], 2, "too long")
    assert os.listdir(tmp_path) == []


CONFIG_EDITS = {
    "null": "null",
    "lr null": {"lr": None},
    "epochs a string": {"epochs": "400"},
    "hidden a string": {"hidden": "2"},
    "shuffle a number": {"shuffle": 1},
    "unknown setting": {"learning_rate": 0.1},
    "truncated": None,
}


@pytest.mark.parametrize("edit", CONFIG_EDITS)
def test_an_edited_config_json_is_refused_naming_it(edit, finished, capsys):
    path = os.path.join(finished, "config.json")
    with open(path) as f:
        text = f.read()
    change = CONFIG_EDITS[edit]
    if change is None:
        text = text[: len(text) // 2]
    elif isinstance(change, str):
        text = change
    else:
        text = json.dumps({**json.loads(text), **change})
    with open(path, "w") as f:
        f.write(text)
    refused(capsys, ["--resume", finished], 2, path)


@pytest.mark.parametrize(
    "tf_config, message",
    [
        ("{not json", "TF_CONFIG is not JSON"),
        ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker"}}', "host:port"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "index 3"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "'task'"),
    ],
    ids=["not json", "address", "index", "task type"],
)
def test_a_bad_tf_config_is_refused(tf_config, message, capsys, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    refused(capsys, ["--strategy", "multiworker"], 2, message)


def test_a_huge_seed_is_refused_naming_it(capsys):
    refused(capsys, ["--seed", "99999999999999999999"], 2, "seed", "99999999999999999999")


@pytest.fixture
def small_disk(tmp_path):
    """A 300 kB tmpfs (root only; skipped with the reason otherwise)."""
    mount = str(tmp_path / "disk")
    os.makedirs(mount)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", mount], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", mount], check=False)


def test_a_full_disk_stops_training_keeping_the_last_checkpoint(small_disk, capsys, reference):
    run_dir = os.path.join(small_disk, "run")
    err = refused(
        capsys, [*RUN, "--logdir", run_dir, "--quiet"], 2, "No space left on device", "--resume"
    )
    assert not os.path.exists(os.path.join(run_dir, "result.json")), err
    subprocess.run(["mount", "-o", "remount,size=64m", small_disk], check=True)
    code, _, err = main(capsys, "--resume", run_dir, "--quiet")  # the checkpoint is usable
    assert code == 0, err
    assert_identical(run_dir, reference)


def test_stream_write_to_a_full_disk_is_one_line_and_keeps_nothing(small_disk, capsys):
    out = os.path.join(small_disk, "data")
    with pytest.raises(SystemExit) as exit:
        stream_cli.main(["write", "--samples", "200000", "--out", out])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and err.count("\n") == 1, err
    # refused before writing: 200,000 float32 samples need ~3.4 MB, the disk has 300 kB
    assert "--samples 200000" in err and "free" in err, err
    assert not os.path.exists(out) and os.listdir(small_disk) == []
    OUTCOMES["refused"] += 1


def test_ctrl_c_stops_at_a_chunk_boundary_and_resumes_bit_identically(
    tmp_path, capsys, reference, monkeypatch
):
    """SIGINT arrives during training (after the 5th chunk): one line with the command."""
    from keras_lab.engine import callbacks

    original, calls = callbacks.Checkpoints.on_epochs_end, []

    def interrupt_later(self, loop, first_epoch, stats):
        original(self, loop, first_epoch, stats)
        calls.append(first_epoch)
        if len(calls) == 5:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(callbacks.Checkpoints, "on_epochs_end", interrupt_later)
    run_dir = str(tmp_path / "run")
    err = refused(capsys, [*RUN, "--logdir", run_dir], 130, "SIGINT", f"--resume {run_dir}")
    monkeypatch.undo()
    command = err.split("continue with: ")[1].split()
    assert command[:3] == ["python", "-m", "keras_lab.train"]
    code, _, err = main(capsys, *command[3:], "--quiet")
    assert code == 0, err
    assert_identical(run_dir, reference)


# ----------------------------------------------------------------------------- 5. conflicts
CONFLICTS = [
    (["--samples", "50"], "--samples 50 has no effect with --dataset lecture"),
    (["--noise", "0.1"], "--noise 0.1 has no effect with --dataset lecture"),
    (["--dataset", "sine", "--classes", "3"], "--classes 3 needs --dataset classes"),
    (["--devices", "1"], "--devices 1 needs --strategy mirrored"),
    (["--workers", "2"], "--workers 2 needs --strategy multiworker"),
    (["--decay-rate", "0.9"], "--decay-rate 0.9 needs --lr-schedule"),
    (["--loss", "cosine"], "cannot train a network with one output"),
    (["--resume", ""], "--resume needs a run directory"),
    (["--resume", "RUN", "--lr", "0.3"], "drop --lr"),
]


@pytest.mark.parametrize("argv, message", CONFLICTS, ids=[c[1][:20] for c in CONFLICTS])
def test_conflicting_flags_are_refused(argv, message, capsys):
    refused(capsys, argv, 2, message)


@pytest.mark.parametrize("flags", [["--samples", "300"], ["--dataset", "lecture"]])
def test_flags_that_conflict_with_data_are_refused(flags, shards, capsys):
    refused(capsys, ["--data", shards, *flags], 2, "conflicts with --data")


def test_a_diverging_run_prints_strict_json_and_exits_3(tmp_path, capsys):
    code, out, err = main(
        capsys, "--lr", "100", "--epochs", "50", "--logdir", str(tmp_path / "r"), "--json"
    )
    assert code == 3 and err.count("\n") == 1 and "NaN or inf" in err, err

    def refuse(name):
        raise AssertionError(f"non-JSON constant {name}")

    result = json.loads(out, parse_constant=refuse)
    with open(tmp_path / "r" / "result.json") as f:
        assert json.load(f, parse_constant=refuse) == result
    assert result["failed"]
    OUTCOMES["refused"] += 1


def test_the_progress_bar_shows_real_epoch_times(capsys):
    """Two epochs in 0.4 s: the bar must say about 200ms/epoch (it said microseconds)."""
    import tensorflow as tf

    from keras_lab.engine import callbacks
    from keras_lab.engine.loop import EpochStats

    class Loop:
        epoch = tf.Variable(0, dtype=tf.int64)

    bar = callbacks.ProgressBar(num_epochs=4)
    bar.on_train_begin(Loop)
    time.sleep(0.4)
    Loop.epoch.assign(2)
    bar.on_epochs_end(Loop, 0, EpochStats(np.ones(2), np.ones(2), np.ones(2), -1))
    shown = capsys.readouterr().out
    milliseconds = float(shown.split("ms/epoch")[0].split()[-1])
    assert 190 <= milliseconds < 1000, shown  # 400 ms / 2 epochs, plus a loaded machine


# ----------------------------------------------------------------------------- 7. kills
KILL_SCRIPT = """
import sys
from keras_lab import train
sys.exit(train.main(sys.argv[1:]))
"""


def test_kills_at_random_points_lose_nothing(tmp_path, capsys, reference):
    """Real processes, started together in one directory (two with default names), killed
    (SIGKILL, SIGTERM) at random times after their first checkpoint after compiling
    (training then takes about 0.5 s, mostly checkpoint and summary writes): while they
    save checkpoints, write summaries and figures. Every one then either resumes to the
    reference's weights and history or, killed before training, has nothing to resume."""
    rng = random.Random(13)
    env = dict(os.environ, PYTHONPATH=REPO)
    kills = [signal.SIGKILL, signal.SIGKILL, signal.SIGTERM]  # SIGINT: in-process above
    runs = []
    for index, kill in enumerate(kills):
        run_dir = str(tmp_path / f"run{index}")
        argv = [*RUN, "--logdir", run_dir, "--quiet"]
        process = subprocess.Popen(
            [sys.executable, "-c", KILL_SCRIPT, *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        runs.append((process, run_dir, kill, rng.uniform(0.0, 0.6)))
    defaults = [  # two default names started in the same second, in one directory
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                KILL_SCRIPT,
                "--epochs",
                "2",
                "--quiet",
                "--no-plots",
                "--no-jit",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    threads = [threading.Thread(target=_kill_after_start, args=run) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for process in defaults:
        assert process.wait(timeout=300) == 0, process.stderr.read()
    names = os.listdir(tmp_path / "runs")
    assert len(names) == 2, names
    for name in names:
        assert "result.json" in os.listdir(tmp_path / "runs" / name)
    OUTCOMES["identical"] += 2  # both finished, each in its own directory

    for process, run_dir, kill, _ in runs:
        code, err = process.returncode, process.stderr.read()
        saved = [n for n in os.listdir(os.path.join(run_dir, "checkpoints")) if "index" in n]
        newest = max(int(n.split("-")[1].split(".")[0]) for n in saved)
        KILLS.append(f"{signal.Signals(kill).name}: exit {code}, newest ckpt-{newest}")
        if code == 0:  # it finished before the kill
            assert_identical(run_dir, reference)
            continue
        if kill != signal.SIGKILL:  # a clean stop: one line giving the command
            assert code == 128 + kill and err.count("\n") == 1, err
            assert f"--resume {run_dir}" in err
        for name in ("config.json", "result.json"):  # whole or absent
            if os.path.exists(os.path.join(run_dir, name)):
                with open(os.path.join(run_dir, name)) as f:
                    json.load(f)
        code, _, err = main(capsys, "--resume", run_dir, "--quiet")
        assert code == 0, err
        assert_identical(run_dir, reference)
        assert _steps(run_dir, "epoch/loss") == list(range(1, 401))


def _kill_after_start(process, run_dir, kill, delay):
    first = os.path.join(run_dir, "checkpoints", "ckpt-10.index")  # compiled, training
    deadline = time.monotonic() + 240
    while not os.path.exists(first) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    if process.poll() is None:
        process.send_signal(kill)
    process.wait(timeout=240)
