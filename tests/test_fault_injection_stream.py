"""Faults injected into the sine set on disk, through the real CLIs: a manifest edited into
a consistent but wrong one, an edited noise, an older unsealed format (refused before any
update, one line naming the file and the field, exit 2); SIGTERM, Ctrl-C and a kill during
``python -m keras_lab.stream write`` (nothing kept, one line, the same command runs again).
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from keras_lab import stream as stream_cli
from keras_lab import train
from keras_lab.engine import stream

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def write(out: str, *flags: str) -> None:
    """The set through the stream CLI: 1000 samples in 2 shards of 500 (even, so halving
    every count keeps every size check true for float64)."""
    argv = ["write", "--samples", "1000", "--shards", "2", "--out", out, *flags]
    assert stream_cli.main(argv) == 0


def edit(folder: str, change, reseal: bool = False) -> None:
    """``change`` the manifest; with ``reseal``, recompute its checksum as a forger would."""
    path = os.path.join(folder, "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    change(manifest)
    if reseal:
        manifest.pop("checksum")
        manifest["fields"] = stream._field_digests(manifest)
        manifest["checksum"] = stream._digest(manifest)
    with open(path, "w") as f:
        json.dump(manifest, f)


def as_float64_halved(manifest: dict) -> None:
    """The issue's case: float32 bytes declared float64, every count halved."""
    manifest["dtype"] = "float64"
    manifest["samples"] //= 2
    for shard in manifest["shards"]:
        shard["samples"] //= 2


def as_v2(manifest: dict) -> None:
    manifest["format"] = "keras-lab-sine-v2"
    del manifest["checksum"], manifest["fields"]


# (write flags, change, reseal, words in the one line)
TAMPERED = {
    "dtype and samples": ([], as_float64_halved, False, ["manifest.json", "'dtype'"]),
    "noise": ([], lambda m: m.update(noise=0.5), False, ["manifest.json", "field 'noise'"]),
    "shard checksum": (
        [],
        lambda m: m["shards"][1].update(sha256="0" * 64),
        False,
        ["manifest.json", "field 'shards[1]'"],
    ),
    "no checksum": ([], lambda m: m.pop("checksum"), False, ["manifest.json", "'checksum'"]),
    "resealed dtype": ([], as_float64_halved, True, ["sine-00000-of-00002", "'dtype'"]),
    "resealed noise": (
        ["--noise", "0.01"],
        lambda m: m.update(noise=0.0),
        True,
        ["sine-00000-of-00002", "'noise'"],
    ),
    "older format": ([], as_v2, False, ["manifest.json", "rewrite the set", "--samples 1000"]),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_a_tampered_manifest_is_refused_before_training(case, tmp_path, capsys):
    flags, change, reseal, words = TAMPERED[case]
    folder, run_dir = str(tmp_path / "set"), str(tmp_path / "run")
    write(folder, *flags)
    edit(folder, change, reseal)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--data", folder, "--epochs", "2", "--logdir", run_dir])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert err.count("\n") == 1 and err.startswith("python -m keras_lab.train: error: "), err
    assert all(word in err for word in words), err
    assert not os.path.exists(run_dir)  # refused before the run began


def test_a_killed_writes_leftovers_are_removed_by_the_next_write(tmp_path):
    """SIGKILL cannot be caught: its hidden partial folder stays, and the next write removes
    it once its process is gone (pid 2**22 + 1 is above Linux's largest)."""
    stale = tmp_path / f".set.partial-{2**22 + 1}"
    stale.mkdir()
    (stale / "sine-00000-of-00002.tfrecord").write_bytes(b"half")
    write(str(tmp_path / "set"))
    assert os.listdir(tmp_path) == ["set"]
    stream.verify_shards(str(tmp_path / "set"))


def test_a_signal_during_write_keeps_nothing_and_the_same_command_runs_again(tmp_path):
    """SIGTERM and Ctrl-C (SIGINT), each sent to its own writer (run side by side: each
    start costs a TensorFlow import) while its first shard is being written."""
    writers = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        folder = tmp_path / signum.name
        folder.mkdir()
        argv = ["write", "--samples", "10000000", "--shards", "4", "--out", str(folder / "set")]
        process = subprocess.Popen(
            [sys.executable, "-m", "keras_lab.stream", *argv],
            env=ENV,
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        writers[signum] = (folder, argv, process)
    deadline = time.monotonic() + 120
    waiting = dict(writers)
    while waiting:
        for signum, (folder, _, process) in list(waiting.items()):
            partial = [folder / name for name in os.listdir(folder) if ".partial-" in name]
            if any(os.listdir(path) for path in partial):  # its first shard is being written
                process.send_signal(signum)
                del waiting[signum]
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.002)
    for signum, (folder, argv, process) in writers.items():
        _, err = process.communicate(timeout=60)
        assert process.returncode == 128 + signum, err  # 143 SIGTERM, 130 SIGINT
        assert err.count("\n") == 1, err
        assert err.startswith(f"python -m keras_lab.stream: error: stopped by {signum.name}"), err
        assert os.listdir(folder) == []  # no --out, no partial folder
    folder, argv, _ = writers[signal.SIGTERM]
    assert stream_cli.main(argv) == 0  # the same command again
    assert os.listdir(folder) == ["set"]
