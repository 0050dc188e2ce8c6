"""Bad and hostile flag values for every command line, against the CLI contract.

Each case must end in one line on stderr naming the flag (``--name``) with exit 2, and leave
its directory (the working directory, which holds --logdir / --out) as it was. The train
cases are settings that used to run (a meaningless focal-loss regression, a learning rate
of 0 in float32) or to fail late (out of memory, --workers under TF_CONFIG); the compare,
losslab and stream cases are seeded draws from a few hostile values per flag (SEED).
"""

from __future__ import annotations

import os

import pytest

from keras_lab import train

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
