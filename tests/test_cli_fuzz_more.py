"""Bad and hostile flag values for every command line, against the CLI contract.

Each case must end in one line on stderr naming the flag (``--name``) with exit 2, and leave
its directory (the working directory, which holds --logdir / --out) as it was. The train
cases are settings that used to run (a meaningless focal-loss regression, a learning rate
of 0 in float32) or to fail late (out of memory, --workers under TF_CONFIG); the compare,
losslab and stream cases are seeded draws from a few hostile values per flag (SEED).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from keras_lab import compare, losslab, stream, train

SEED = 20261208


def files(root) -> dict[str, int]:
    """Every file and folder below ``root`` (its size; -1 for a folder)."""
    found = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs:
            found[os.path.join(folder, name)] = -1
        for name in names:
            path = os.path.join(folder, name)
            found[path] = os.path.getsize(path)
    return found


def refused(main, argv: list[str], tmp_path, capfd, monkeypatch) -> str:
    """Run ``main(argv)`` in ``tmp_path``; assert exit 2, one line, nothing written; the line."""
    monkeypatch.chdir(tmp_path)
    before = files(tmp_path)
    capfd.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(argv)
    out, err = capfd.readouterr()
    assert stop.value.code == 2, (argv, stop.value.code, err[-500:])
    assert err.endswith("\n") and err.count("\n") == 1, (argv, err[-800:])
    assert files(tmp_path) == before, argv
    return err


#: (train flags, words the one line must hold)
TRAIN_REFUSED = [
    (
        ["--dataset", "diabetes", "--loss", "categorical_focal_crossentropy"],
        ["--loss", "--dataset"],
    ),
    (["--dataset", "diabetes", "--loss", "binary_focal_crossentropy"], ["--loss", "--dataset"]),
    (["--dataset", "digits", "--loss", "binary_focal_crossentropy"], ["binary", "--dataset"]),
    (["--lr", "1e-50"], ["--lr 1e-50", "float32"]),
    (["--lr", "1e-310", "--dtype", "float64"], ["--lr 1e-310", "float64"]),
    (["--hidden", "100000,100000"], ["--hidden 100000,100000", "MemAvailable"]),
    (
        ["--dataset", "classes", "--classes", str(10**9), "--samples", str(10**9)],
        ["--classes", "--samples", "MemAvailable"],
    ),
    (["--dataset", "classes", "--samples", "1"], ["--samples 1", "--classes 2"]),
    (["--strategy", "multiworker", "--workers", "17"], ["workers", "17"]),
    (["--logdir", "run\nx"], ["--logdir", "control character"]),
    (["--logdir", ""], ["--logdir", "empty"]),
]


@pytest.mark.parametrize("argv, words", TRAIN_REFUSED, ids=[" ".join(c[0]) for c in TRAIN_REFUSED])
def test_train_refuses_before_any_work(argv, words, tmp_path, capfd, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    logdir = [] if "--logdir" in argv else ["--logdir", "run"]
    err = refused(train.main, [*argv, "--epochs", "1", *logdir], tmp_path, capfd, monkeypatch)
    assert all(word in err for word in words), (words, err)


def test_train_refuses_workers_under_tf_config(tmp_path, capfd, monkeypatch):
    cluster = '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 0}}'
    monkeypatch.setenv("TF_CONFIG", cluster)
    argv = ["--strategy", "multiworker", "--workers", "2", "--epochs", "1", "--logdir", "run"]
    err = refused(train.main, argv, tmp_path, capfd, monkeypatch)
    assert "--workers 2" in err and "TF_CONFIG" in err, err


# ----------------------------------------------------------------------------- the fuzzer
INT_BAD = ["-1", "1.5", "abc", "nan", "-99999999999999999999"]
FLOAT_BAD = ["-0.1", "nan", "inf", "1e999", "abc", "1,5"]
PATH_BAD = ["", "a\nb", "{file}", "/proc/no/such", "x" * 300]
#: Per command: its main, flags that keep a wrongly accepted run short, and hostile values.
COMMANDS = {
    "compare": (
        compare.main,
        ["--epochs", "2", "--starts", "0", "--minima-starts", "0", "--no-jit"],
        {
            "--epochs": [*INT_BAD, "0", "99999999999999999999"],
            "--samples": [*INT_BAD, "0", "99999999999999999999"],
            "--lr": [*FLOAT_BAD, "0"],
            "--batch-size": [*INT_BAD, "0"],
            "--points": [*INT_BAD, "0"],
            "--starts": INT_BAD,
            "--seed": INT_BAD,
            "--dataset": ["", "digits"],
            "--logdir": PATH_BAD,
        },
    ),
    "losslab": (
        losslab.main,
        ["--quick", "--only", "shapes"],
        {
            "--only": ["", "nothing"],
            "--seed": INT_BAD,
            "--shape-points": [*INT_BAD, "0", "99999999999999999999"],
            "--outlier-fraction": [*FLOAT_BAD, "2"],
            "--outlier-lr": [*FLOAT_BAD, "0"],
            "--outlier-losses": ["", "dice", "nothing"],
            "--test-fraction": [*FLOAT_BAD, "0", "1"],
            "--logdir": PATH_BAD,
        },
    ),
    "stream": (
        stream.main,
        ["write", "--shards", "2"],
        {
            "--samples": [*INT_BAD, "0", "99999999999999999999"],
            "--shards": [*INT_BAD, "0"],
            "--seed": INT_BAD,
            "--noise": [*FLOAT_BAD],
            "--dtype": ["", "int8"],
            "--out": PATH_BAD,
        },
    ),
}
OUT_FLAG = {"compare": "--logdir", "losslab": "--logdir", "stream": "--out"}


def draw(command: str, number: int) -> list[tuple[str, list[str]]]:
    """``number`` seeded command lines of ``command``, each with one or two hostile values."""
    rng = np.random.default_rng([SEED, len(command)])
    _, tiny, bad = COMMANDS[command]
    drawn = []
    for _ in range(number):
        flags = rng.choice(sorted(bad), size=rng.integers(1, 3), replace=False)
        argv, named = list(tiny), []
        for flag in flags:
            value = str(rng.choice(bad[flag]))
            argv += [flag, value]
            named.append(flag)
        if OUT_FLAG[command] not in flags:
            argv += [OUT_FLAG[command], "out"]
        if command == "stream" and "--samples" not in flags:
            argv += ["--samples", "10"]
        drawn.append((command, argv, named))
    return drawn


CASES = [case for command in COMMANDS for case in draw(command, 8)] + [
    ("stream", ["write", "--samples", str(10**14), "--out", "out"], ["--samples"]),
    ("stream", ["write", "--samples", "10", "--seed", "-1", "--out", "out"], ["--seed"]),
    ("compare", ["--dataset", "sine", "--samples", str(10**12)], ["--samples", "MemAvailable"]),
    ("losslab", ["--outlier-samples", str(10**12)], ["--outlier-samples", "MemAvailable"]),
    ("losslab", ["--shape-points", str(10**14)], ["--shape-points", "MemAvailable"]),
    ("losslab", ["--quick", "--logdir", "/proc/no/such"], ["logdir"]),
    ("losslab", ["--quick", "--logdir", "x" * 300], ["logdir"]),
    ("losslab", ["--quick", "--logdir", "/proc/self/x"], ["logdir"]),
]


@pytest.mark.parametrize("command, argv, named", CASES, ids=[" ".join(c[1]) for c in CASES])
def test_hostile_flags_are_refused_in_one_line(command, argv, named, tmp_path, capfd, monkeypatch):
    (tmp_path / "file").write_text("a file, not a directory\n")
    argv = [a.replace("{file}", str(tmp_path / "file")) for a in argv]
    err = refused(COMMANDS[command][0], argv, tmp_path, capfd, monkeypatch)
    names = {n for flag in named for n in (flag, flag[2:])}
    assert any(name in err for name in names), (named, err)


# ----------------------------------------------------------------------------- full disk
def _file_size_limit(limit: int):
    def preexec() -> None:  # a file-size limit (ulimit -f): a write past it fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


@pytest.mark.parametrize(
    "argv",
    [
        ["keras_lab.compare", "--epochs", "5", "--starts", "0", "--minima-starts", "0"],
        ["keras_lab.losslab", "--quick", "--only", "shapes"],
    ],
    ids=["compare", "losslab"],
)
def test_a_full_disk_is_one_line(argv, tmp_path):
    """A write that fails (here EFBIG past an 8 KB file-size limit, as a full disk's ENOSPC
    would) ends in one line naming the run directory, exit 2."""
    run_dir = str(tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-m", *argv, "--logdir", run_dir],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=_file_size_limit(8192),
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and run_dir in done.stderr, done.stderr[-2000:]
    assert "File too large" in done.stderr
