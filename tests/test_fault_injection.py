"""The run directory as a contract: tampered state, full disks, file-size limits, read-only
and non-UTF-8 paths, each through ``python -m keras_lab.train``.

Every case ends with a complete, correct result or one stderr line naming the flag or file
(exit 2), nothing saved before lost. In-process ``train.main`` where one interpreter can
share the work; a real process where the user meets TensorFlow's own output (warnings on
stderr) or a process-wide limit (RLIMIT_FSIZE). 17 cases: config.json edits (8), a moved
run, skipped checkpoints rewritten (2), TensorFlow's noise on resume, a full disk before the
first checkpoint (2), a file-size limit, a read-only file system, non-UTF-8 paths.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys

import pytest
from conftest import REPO, run_cli
from conftest import run_train as main

from keras_lab import train

#: A tiny run: 60 epochs of the lecture's SGD, a checkpoint every 10 (ckpt-40, 50, 60 kept).
RUN = ["--epochs", "60", "--checkpoint-every", "10"]
PROG = "python -m keras_lab.train: error: "


def one_line(err: str, *names: str) -> None:
    assert err.count("\n") == 1 and err.startswith(PROG), err
    for name in names:
        assert name in err, err


def files(run_dir: str) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of every file but the lock."""
    found = {}
    for folder, _, names in os.walk(run_dir):
        for name in names:
            path = os.path.join(folder, name)
            if name != ".lock":
                found[os.path.relpath(path, run_dir)] = (
                    os.path.getsize(path),
                    os.stat(path).st_mtime_ns,
                )
    return found


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory) -> str:
    run_dir = str(tmp_path_factory.mktemp("reference") / "run")
    assert train.main([*RUN, "--logdir", run_dir, "--quiet"]) == 0
    return run_dir


@pytest.fixture
def finished(tmp_path, reference_dir) -> str:
    """A finished run of RUN (a copy of the reference's directory)."""
    run_dir = str(tmp_path / "run")
    shutil.copytree(reference_dir, run_dir)
    return run_dir


def edit_config(run_dir: str, **changes: object) -> str:
    path = os.path.join(run_dir, "config.json")
    with open(path) as f:
        config = json.load(f)
    with open(path, "w") as f:
        json.dump({**config, **changes}, f)
    return path


def result_of(run_dir: str) -> dict:
    with open(os.path.join(run_dir, "result.json")) as f:
        return json.load(f)


# ------------------------------------------------------------------ tampered state
@pytest.mark.parametrize(
    "field, value, shown",
    [("lr", 0.7, "is 0.7 but the checkpoints were made with 0.3"),
     ("loss", "mae", 'is "mae" but the checkpoints were made with "mse"'),
     ("seed", 1, "is 1 but the checkpoints were made with 0"),
     ("epochs", 80, "is 80 but the checkpoints were made with 60")],
)  # fmt: skip
@pytest.mark.parametrize("state", ["finished", "interrupted"])
def test_an_edited_config_is_refused_on_resume_naming_the_field(
    field, value, shown, state, finished, capsys
):
    if state == "interrupted":
        os.remove(os.path.join(finished, "result.json"))
    path = edit_config(finished, **{field: value})
    before = files(finished)
    code, out, err = main(capsys, "--resume", finished, "--quiet")
    assert code == 2, err
    one_line(err, path, f"field {field!r} {shown}")
    assert files(finished) == before  # nothing written: result.json keeps the true loss


def test_moving_a_run_directory_keeps_it_resumable(finished, tmp_path, capsys):
    moved = str(tmp_path / "moved")
    shutil.move(finished, moved)
    os.remove(os.path.join(moved, "result.json"))
    code, _, err = main(capsys, "--resume", moved, "--quiet")
    assert code == 0, err


@pytest.mark.parametrize("how", ["truncated", "deleted"])
def test_a_checkpoint_skipped_on_resume_is_written_anew(how, finished, capsys):
    folder = os.path.join(finished, "checkpoints")
    data = os.path.join(folder, "ckpt-60.data-00000-of-00001")
    if how == "truncated":
        with open(data, "r+b") as f:
            f.truncate(os.path.getsize(data) // 2)
    else:
        os.remove(data)
        os.remove(os.path.join(folder, "ckpt-60.index"))
    os.remove(os.path.join(finished, "result.json"))
    code, out, err = main(capsys, "--resume", finished, "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["resumed_from"].endswith("ckpt-50")
    assert first["checkpoint"] == os.path.join(folder, "ckpt-60")
    assert os.path.isfile(data)
    code, out, err = main(capsys, "--resume", finished, "--json")  # ckpt-60 reads back whole
    assert code == 0 and err == "", err
    again = json.loads(out)
    assert again["resumed_from"] == first["checkpoint"]
    assert again["weights"] == first["weights"] == result_of(finished)["weights"]


def test_resume_output_is_clean_and_a_changed_network_is_one_line(finished, tmp_path):
    """A real process: TensorFlow's warnings reach the user's stderr there."""
    done = run_cli("keras_lab.train", "--resume", finished, "--quiet")
    assert done.returncode == 0 and done.stderr == "", done.stderr  # no deprecation lines
    changed = str(tmp_path / "changed")
    shutil.copytree(finished, changed)
    os.remove(os.path.join(changed, "result.json"))
    path = edit_config(changed, hidden=[3])
    done = run_cli("keras_lab.train", "--resume", changed, "--quiet")
    assert done.returncode == 2, done.stderr
    one_line(done.stderr, path, "field 'hidden' is [3] but the checkpoints were made with [2]")


# ------------------------------------------------------------------ disks and limits
@pytest.fixture
def disk(tmp_path):
    """mount(size, *options): a tmpfs at tmp_path/disk (root only; skipped otherwise)."""
    path = str(tmp_path / "disk")
    os.makedirs(path)
    mounted = []

    def mount(size: str, *options: str) -> str:
        settings = ",".join([*(["remount"] if mounted else []), f"size={size}", *options])
        source = [] if mounted else ["-t", "tmpfs", "tmpfs"]
        done = subprocess.run(["mount", "-o", settings, *source, path], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
        mounted.append(size)
        return path

    yield mount
    if mounted:
        subprocess.run(["umount", "-l", path], check=False)


@pytest.mark.parametrize("existed", [False, True], ids=["new", "empty folder"])
def test_a_full_disk_before_the_first_checkpoint_leaves_the_directory_reusable(
    existed, disk, capsys, reference_dir
):
    """12 kB: config.json and the first events are written, ckpt-0 is not."""
    run_dir = os.path.join(disk("12k"), "run")
    if existed:
        os.makedirs(run_dir)
    code, _, err = main(capsys, *RUN, "--logdir", run_dir, "--quiet")
    assert code == 2, err
    one_line(err, "No space left on device", "no checkpoint was saved", "the same command")
    assert os.listdir(run_dir) == [] if existed else not os.path.exists(run_dir)
    disk("8m")
    code, _, err = main(capsys, *RUN, "--logdir", run_dir, "--quiet")
    assert code == 0, err
    assert result_of(run_dir)["weights"] == result_of(reference_dir)["weights"]


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))  # the events file outgrows it


def test_a_file_size_limit_is_one_line_and_the_run_resumes(tmp_path, capsys, reference_dir):
    run_dir = str(tmp_path / "run")
    done = subprocess.run(
        [sys.executable, "-m", "keras_lab.train", *RUN, "--logdir", run_dir, "--quiet"],
        env=dict(os.environ, PYTHONPATH=REPO),
        preexec_fn=_limit_file_size,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    one_line(done.stderr, "File too large", "ulimit -f", f"--resume {run_dir}")
    code, _, err = main(capsys, "--resume", run_dir, "--quiet")
    assert code == 0, err
    assert result_of(run_dir)["weights"] == result_of(reference_dir)["weights"]


def test_resume_on_a_read_only_file_system_is_one_line(disk, capsys, reference_dir):
    """A real read-only mount (a tmpfs remounted ro): root ignores chmod."""
    run_dir = os.path.join(disk("8m"), "run")
    shutil.copytree(reference_dir, run_dir)
    os.remove(os.path.join(run_dir, "result.json"))
    before = files(run_dir)
    disk("8m", "ro")
    code, _, err = main(capsys, "--resume", run_dir, "--quiet")
    assert code == 2, err
    one_line(err, "Read-only file system", "make it writable", f"--resume {run_dir}")
    assert files(run_dir) == before
    disk("8m", "rw")
    code, _, err = main(capsys, "--resume", run_dir, "--quiet")
    assert code == 0, err


# ------------------------------------------------------------------ paths
def test_a_non_utf8_logdir_is_refused_naming_the_flag(tmp_path, capsys, reference_dir):
    bad = os.fsdecode(os.path.join(os.fsencode(str(tmp_path)), b"caf\xe9"))
    code, _, err = main(capsys, *RUN, "--logdir", bad, "--quiet")
    assert code == 2, err
    one_line(err, "--logdir", "not UTF-8")
    assert os.listdir(tmp_path) == []  # no .lock, no config.json
    shutil.copytree(reference_dir, bad)
    before = files(bad)
    code, _, err = main(capsys, "--resume", bad, "--quiet")
    assert code == 2, err
    one_line(err, "--resume", "not UTF-8")
    assert files(bad) == before
