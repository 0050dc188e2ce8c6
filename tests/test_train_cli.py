"""python -m keras_lab.train as a user runs it: results, outputs, errors, resume, TensorBoard."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from conftest import REPO, run_cli


def train_json(*args, cwd=None, timeout=300):
    result = run_cli("keras_lab.train", "--json", *args, cwd=cwd, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """The README's main job with no training flags: the lecture's experiment."""
    logdir = tmp_path_factory.mktemp("runs") / "default"
    return train_json("--logdir", str(logdir))


def test_default_run_fits_the_lecture_curve(default_run):
    assert default_run["sse"] < 0.01  # the target on the 9 points
    config = default_run["config"]
    assert (config["variant"], config["lr"], config["dataset"]) == ("sgd", 0.3, "lecture")
    assert set(default_run) >= {
        "config",
        "weights",
        "final_loss",
        "history",
        "train_seconds",
        "run_dir",
    }
    assert len(default_run["history"]) == config["epochs"]
    shapes = [(np.shape(layer["W"]), np.shape(layer["b"])) for layer in default_run["weights"]]
    assert shapes == [((2, 1), (2, 1)), ((1, 2), (1, 1))]  # the lecture's W1, b1, W2, b2
    # final_loss is the mean squared error on the 9 points, i.e. SSE / 9
    np.testing.assert_allclose(default_run["final_loss"], default_run["sse"] / 9, rtol=1e-4)
    assert 0 < default_run["train_seconds"] < 120


def test_default_run_writes_every_output(default_run):
    run_dir = default_run["run_dir"]
    names = set(os.listdir(run_dir))
    assert {
        "config.json",
        "result.json",
        "loss.png",
        "fit.png",
        "checkpoints",
        "tensorboard",
    } <= names
    events = os.listdir(os.path.join(run_dir, "tensorboard"))
    assert any(name.startswith("events.out.tfevents") for name in events)
    for png in ("loss.png", "fit.png"):
        with open(os.path.join(run_dir, png), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(os.path.join(run_dir, png)) > 10_000
    with open(os.path.join(run_dir, "config.json")) as f:
        assert json.load(f) == default_run["config"]


def test_tensorboard_events_hold_the_history(default_run):
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator

    events = EventAccumulator(
        os.path.join(default_run["run_dir"], "tensorboard"), size_guidance={TENSORS: 0}
    )
    events.Reload()
    tags = set(events.Tags()["tensors"])
    assert {"epoch/loss", "epoch/learning_rate", "epoch/grad_norm", "config"} <= tags
    assert any(tag.startswith("weights/") for tag in tags)
    assert any(tag.startswith("gradients/") for tag in tags)
    loss = events.Tensors("epoch/loss")
    assert [e.step for e in loss] == list(range(1, len(default_run["history"]) + 1))
    values = [
        float(np.asarray(__import__("tensorflow").make_ndarray(e.tensor_proto))) for e in loss
    ]
    np.testing.assert_allclose(values, default_run["history"], rtol=1e-6)  # float32 summaries
    graph = events.Graph()  # the compiled loop's graph, for the Graphs tab
    ops = {node.op for node in graph.node} | {
        node.op for function in graph.library.function for node in function.node_def
    }
    # The loop (a While; StatelessWhile when it touches no variable: the weights are carried
    # as tensors and written once per chunk), the batches (GatherV2), the tape's gradients
    # (SigmoidGrad), the explicit update theta - eta * grad (Sub) and its write-back.
    assert ops & {"While", "StatelessWhile"}
    assert {"GatherV2", "SigmoidGrad", "AssignVariableOp", "Sub"} <= ops


def test_tensorboard_histograms_are_the_final_weights_and_the_numpy_gradient(default_run):
    """The last histograms: their counts and ranges against the run's final weights and
    the gradient of the mean squared error over the 9 points at them, computed by numpy
    back propagation (keras_lab.lecture.backprop, the lecture's equations; not the loop's tape)."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator

    from keras_lab.data import lecture_data
    from keras_lab.lecture import backprop

    events = EventAccumulator(
        os.path.join(default_run["run_dir"], "tensorboard"), size_guidance={TENSORS: 0}
    )
    events.Reload()
    epochs = len(default_run["history"])

    def last(prefix):  # (min, max, count) of each tag's histogram at the last epoch
        found = []
        for tag in events.Tags()["tensors"]:
            if tag.startswith(prefix):
                event = events.Tensors(tag)[-1]
                assert event.step == epochs
                rows = tf.make_ndarray(event.tensor_proto)
                found.append((rows[0, 0], rows[-1, 1], rows[:, 2].sum()))
        return sorted(found)

    layers = [(np.array(w["W"]), np.array(w["b"])) for w in default_run["weights"]]
    x, t = lecture_data("float64")
    grads = backprop.gradients(layers, ["sigmoid", "linear"], x.T, t.T)  # of the SSE
    for prefix, arrays in (
        ("weights/", [a for layer in layers for a in layer]),
        ("gradients/", [a / len(x) for layer in grads for a in layer]),  # SSE -> MSE
    ):
        # (one value, e.g. b2: a bucket of width 1 around it, as histogram_buckets documents)
        widen = [0.5 if a.min() == a.max() else 0.0 for a in arrays]
        expected = sorted((a.min() - w, a.max() + w, a.size) for a, w in zip(arrays, widen))
        got = last(prefix)
        assert [c for *_, c in got] == [c for *_, c in expected], prefix
        np.testing.assert_allclose(
            [g[:2] for g in got], [e[:2] for e in expected], rtol=1e-4, atol=1e-7
        )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_tensorboard_server_serves_the_loss(default_run):
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            default_run["run_dir"],
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 90
        runs = None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/data/runs", timeout=5) as response:
                    runs = json.load(response)
                if runs:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert runs, "tensorboard did not answer with a run"
        url = f"{base}/data/plugin/scalars/scalars?tag=epoch%2Floss&run={runs[0]}"
        with urllib.request.urlopen(url, timeout=10) as response:
            scalars = json.load(response)
        served = {row[1]: row[2] for row in scalars}
        # The server downsamples a series to 1000 points (reservoir sampling, first and last
        # kept); compare every point it sends with the run's history.
        assert min(served) == 1 and max(served) == len(default_run["history"])
        assert len(served) >= 500
        for step, value in served.items():
            assert value == pytest.approx(default_run["history"][step - 1], rel=1e-6)
        # the HParams table: the run's settings with its metrics (events in RUN/tensorboard;
        # in RUN itself the run was "." and the plugin found no metric values)
        query = {"experimentName": "", "startIndex": 0, "sliceSize": 10, "includeMetrics": True}
        request = urllib.request.Request(
            f"{base}/data/plugin/hparams/session_groups",
            data=json.dumps({**query, "allowedStatuses": ["STATUS_UNKNOWN"]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            groups = json.load(response)["sessionGroups"]
        assert groups[0]["hparams"]["lr"] == 0.3
        metrics = {m["name"]["tag"]: m for m in groups[0]["metricValues"]}
        assert metrics["epoch/loss"]["trainingStep"] == len(default_run["history"])
    finally:
        server.terminate()
        server.wait(timeout=30)


BAD_FLAGS = [
    (["--loss", "nope"], "unknown loss name 'nope'"),
    (["--variant", "adam"], "invalid choice: 'adam'"),
    (["--lr", "0"], "lr must be a finite number > 0, got 0.0"),
    (["--lr", "-1"], "lr must be a finite number > 0, got -1.0"),
    (["--lr", "nan"], "lr must be a finite number > 0, got nan"),
    (
        ["--batch-size", "0", "--variant", "minibatch"],
        "batch size must be between 1 and the 9 samples, got 0",
    ),
    (
        ["--batch-size", "10", "--variant", "minibatch"],
        "batch size must be between 1 and the 9 samples, got 10",
    ),
    (["--batch-size", "4", "--variant", "sgd"], "--batch-size 4 contradicts variant 'sgd'"),
    (["--epochs", "0"], "epochs must be an integer between 1 and 10000000, got 0"),
    (["--epochs", "ten"], "argument --epochs: invalid int value: 'ten'"),
    (["--logdir", "/proc/keras-lab-run"], "cannot be created"),
    (["--resume", "/nonexistent/run"], "--resume: no run in '/nonexistent/run'"),
    (["--lr-schedule", "cosine"], "invalid choice: 'cosine'"),
    (["--decay-steps", "0"], "decay-steps must be an integer >= 1, got 0"),
    (["--hidden", "0"], "layer sizes must be >= 1, got '0'"),
    (["--activation", "swishy"], "unknown activation 'swishy'"),
    (["--dataset", "mnist"], "invalid choice: 'mnist'"),
    (["--loss", "bce"], "loss 'bce' is a classification loss: use --dataset classes"),
    (
        ["--dataset", "classes", "--classes", "3", "--loss", "bce"],
        "loss 'bce' is binary: it needs --classes 2, got 3",
    ),
    (["--init", "lecture", "--hidden", "4"], "init 'lecture' is the worked example's 1-2-1"),
    (["--samples", "0", "--dataset", "sine"], "samples must be an integer >= 1, got 0"),
    (["--noise", "-0.1", "--dataset", "sine"], "noise must be a finite number >= 0, got -0.1"),
    (["--checkpoint-every", "-1"], "checkpoint-every must be an integer >= 0, got -1"),
    (["--resume", "--logdir", "x"], "argument --resume: expected one argument"),
    (["--resume", ""], "--resume needs a run directory, got ''"),
    (["--seed", "99999999999999999999"], "seed must be an integer between 0 and"),
    (["--seed", "-1"], "seed must be an integer between 0 and"),
]


@pytest.mark.parametrize("args, message", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flags_exit_2_with_one_line_and_write_nothing(
    tmp_path, monkeypatch, capsys, args, message
):
    """In process (a fresh process per case costs 8 s of TensorFlow import); the two
    subprocess cases below check the same contract on a real process's stderr."""
    from keras_lab import train

    monkeypatch.chdir(tmp_path)
    logdir = tmp_path / "run"
    if "--logdir" not in args and "--resume" not in args:
        args = [*args, "--logdir", str(logdir)]
    with pytest.raises(SystemExit) as exit_info:
        train.main(args)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert message in lines[-1]
    assert captured.out == ""
    assert os.listdir(tmp_path) == []  # no run directory, no runs/, nothing


def test_bad_flags_in_a_real_process(tmp_path):
    """One case end to end (exit code, stderr of the real process, TF's own log lines kept
    out); every case of BAD_FLAGS runs in-process above."""
    args, message = BAD_FLAGS[0]
    result = run_cli("keras_lab.train", *args, cwd=str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[-1]
    assert os.listdir(tmp_path) == []


def test_help_and_flag_errors_answer_without_tensorflow():
    """--help and the errors argparse and the config find need no TensorFlow import (it
    takes 5-9 s here): checked in a fresh interpreter."""
    code = (
        "import sys, contextlib, io\n"
        "from keras_lab import train\n"
        "quiet = contextlib.redirect_stdout, contextlib.redirect_stderr\n"
        "for argv in (['--help'], ['--lr', '0'], ['--epochs', 'ten'], ['--resume']):\n"
        "    with quiet[0](io.StringIO()), quiet[1](io.StringIO()):\n"
        "        try:\n"
        "            train.main(argv)\n"
        "        except SystemExit as exit_info:\n"
        "            assert exit_info.code == (0 if argv == ['--help'] else 2), argv\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=REPO),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def run_main(args, capsys):
    """Call train.main in this process (no 8 s TensorFlow import); return (code, out, err)."""
    from keras_lab import train

    try:
        code = train.main(args)
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_non_empty_logdir_is_refused(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("mine")
    code, _, err = run_main(["--logdir", str(tmp_path / "run"), "--epochs", "1"], capsys)
    assert code == 2
    assert "is not empty; use --resume" in err
    assert os.listdir(tmp_path / "run") == ["keep.txt"]


def test_divergence_exits_3_and_keeps_the_last_finite_checkpoint(tmp_path, capsys):
    logdir = tmp_path / "diverge"
    args = ["--lr", "100", "--epochs", "50", "--logdir", str(logdir), "--quiet", "--no-shuffle"]
    code, _, err = run_main(args, capsys)
    assert code == 3, err
    line = err.strip().splitlines()[-1]
    assert re.search(r"became NaN or inf at epoch \d+, step \d+ \(update \d+\)", line), line
    assert "Last finite checkpoint" in line
    checkpoints = os.listdir(logdir / "checkpoints")
    assert any(name.startswith("ckpt-0") for name in checkpoints)


RESUMABLE = [
    "--dataset",
    "sine",
    "--samples",
    "4096",
    "--variant",
    "minibatch",
    "--batch-size",
    "8",
    "--hidden",
    "16",
    "--activation",
    "tanh",
    "--lr",
    "0.05",
    "--epochs",
    "40",
    "--checkpoint-every",
    "2",
    "--no-jit",
    "--no-plots",
    "--no-tensorboard",
]


@pytest.mark.slow
def test_resume_after_sigkill_ends_bit_identical(tmp_path, capsys):
    """Only the killed run is a real process; the straight and the resumed run go through
    train.main in this process (same code, no second and third 8 s TensorFlow import)."""
    logdir = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_lab.train", *RESUMABLE, "--logdir", str(logdir), "--quiet"],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline:  # kill once a few checkpoints are down
            names = os.listdir(logdir / "checkpoints") if (logdir / "checkpoints").exists() else []
            if any(name.startswith("ckpt-6.") for name in names):
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL  # it really was killed mid-run
    assert not (logdir / "result.json").exists()
    code, out, err = run_main(["--json", "--resume", str(logdir)], capsys)
    assert code == 0, err[-3000:]
    resumed = json.loads(out)
    straight_dir = str(tmp_path / "straight")
    code, out, err = run_main(["--json", *RESUMABLE, "--logdir", straight_dir], capsys)
    assert code == 0, err[-3000:]
    straight = json.loads(out)
    assert len(resumed["history"]) == 40
    for a, b in zip(straight["weights"], resumed["weights"]):
        assert a["W"] == b["W"] and a["b"] == b["b"]  # bit for bit (JSON floats round-trip)
    assert resumed["history"] == straight["history"]


def test_resume_refuses_other_training_flags(tmp_path, capsys):
    code, _, err = run_main(["--resume", str(tmp_path), "--lr", "0.1"], capsys)
    assert code == 2
    assert "--resume takes its settings from the run's config.json; drop --lr" in err


@pytest.mark.parametrize(
    "loss, extra",
    [
        ("bce", {}),
        ("bce", {"from_logits": True}),
        ("cce", {"classes": 3}),
        ("scce", {"classes": 3}),
        ("hinge", {}),
        ("categorical_hinge", {"classes": 3}),
    ],
)
def test_classification_losses_train(tmp_path, loss, extra):
    """What --dataset classes --loss X builds: the output layer fits the loss, and it learns."""
    from keras_lab.pipeline import TrainConfig, train_and_evaluate
    from keras_lab.problem import build

    config = TrainConfig(
        dataset="classes",
        samples=300,
        loss=loss,
        variant="minibatch",
        hidden=(8,),
        activation="tanh",
        lr=0.1,
        epochs=30,
        plots=False,
        tensorboard=False,
        **extra,
    )
    output = build(config).model().layers[-1]
    linear = extra.get("from_logits") or "hinge" in loss
    expected = "linear" if linear else ("sigmoid" if loss == "bce" else "softmax")
    assert output.activation.__name__ == expected
    assert output.units == (1 if loss in ("bce", "hinge") else 3)
    result = train_and_evaluate(config, run_dir=str(tmp_path / "run"), progress=False)
    assert result.accuracy > 0.9  # blobs 2 apart with std 0.5: nearly separable
    assert result.history[-1] < result.history[0]


def test_text_output_is_like_the_lecture_script(tmp_path, capsys):
    options = np.get_printoptions()
    code, out, _ = run_main(["--epochs", "3", "--quiet", "--logdir", str(tmp_path / "r")], capsys)
    assert code == 0
    # printing like the lecture must not change numpy's printing for the caller (it once
    # set suppress=True globally, and a later doctest printed 5e-09 as 0.)
    assert np.get_printoptions() == options
    lines = out.splitlines()
    assert [line.split("=")[0] for line in lines[:5]] == ["W1", "W2", "b1", "b2", "SSE"]


REAL = "--variant minibatch --batch-size 32 --activation tanh --no-plots --json".split()


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags, metric, floor",
    [
        # floors with margin below what these runs measured (seed 0): digits 0.969, breast
        # cancer 0.958 (docs/losslab.md: 0.971 / 0.965 with more epochs)
        ("--dataset digits --loss cce --hidden 32 --lr 0.1 --epochs 15", "test_accuracy", 0.93),
        (
            "--dataset breast_cancer --loss bce --hidden 8 --lr 0.1 --epochs 15",
            "test_accuracy",
            0.9,
        ),
    ],
)
def test_real_data_sets_train_and_report_test_metrics(tmp_path, capsys, flags, metric, floor):
    code, out, err = run_main([*flags.split(), *REAL, "--logdir", str(tmp_path / "run")], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["test"][metric] >= floor
    assert result["accuracy"] >= floor  # on the training set
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator

    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={TENSORS: 0})
    events.Reload()
    assert [e.step for e in events.Tensors("test/accuracy")] == [15]


def test_diabetes_regression_beats_the_mean_on_the_test_set(tmp_path, capsys):
    from keras_lab.data import load_real_data

    flags = "--dataset diabetes --hidden 8 --lr 0.05 --epochs 30".split()
    code, out, err = run_main([*flags, *REAL, "--logdir", str(tmp_path / "run")], capsys)
    assert code == 0, err
    test = json.loads(out)["test"]
    real = load_real_data("diabetes")
    # the test set's spread in target units: predicting the training mean would give about it
    spread = float(np.std(real.y_test)) * real.target_std
    assert 0 < test["test_mae"] < test["test_rmse"] < 0.85 * spread


def test_real_data_text_output_gives_the_labelled_test_metric(tmp_path, capsys):
    """Digits (README's command, fewer epochs): the held-out test accuracy, labelled, next
    to the training accuracy, labelled too; the layers' shapes, not 2,410 weights."""
    flags = "--dataset digits --loss cce --hidden 32 --lr 0.1 --epochs 2 --no-tensorboard"
    run_dir = tmp_path / "run"
    code, out, err = run_main(
        [*flags.split(), *REAL[:-1], "--quiet", "--logdir", str(run_dir)], capsys
    )
    assert code == 0, err
    stored = json.loads((run_dir / "result.json").read_text())
    lines = out.splitlines()
    test_line = next(line for line in lines if line.startswith("test accuracy= "))
    assert float(test_line.split()[2]) == pytest.approx(stored["test"]["test_accuracy"], abs=5e-5)
    # the digits split of load_real_data: 450 test samples, 1347 training samples
    assert "(the 450 held-out test samples, " in test_line
    train_line = next(line for line in lines if line.startswith("training accuracy= "))
    assert float(train_line.split()[2]) == pytest.approx(stored["accuracy"], abs=5e-5)
    assert "(the 1347 training samples)" in train_line
    assert not any(line.startswith(("W1=", "accuracy=")) for line in lines)
    # the lecture's layout: W^m is (units, inputs); 64 pixels -> 32 tanh -> 10 softmax
    assert lines[:2] == ["layer 1: W1 32x64, b1 32x1", "layer 2: W2 10x32, b2 10x1"]
    assert f"in {run_dir / 'result.json'}" in lines[2]
    assert "[" not in out and len(lines) == 7  # no array printed (it was 10 x 32 and more)


def test_diabetes_text_output_gives_test_rmse_in_target_units(tmp_path, capsys):
    flags = "--dataset diabetes --hidden 8 --lr 0.05 --epochs 3 --no-tensorboard".split()
    run_dir = tmp_path / "run"
    code, out, err = run_main([*flags, *REAL[:-1], "--quiet", "--logdir", str(run_dir)], capsys)
    assert code == 0, err
    stored = json.loads((run_dir / "result.json").read_text())
    line = next(x for x in out.splitlines() if x.startswith("test RMSE= "))
    assert float(line.split()[2]) == pytest.approx(stored["test"]["test_rmse"], rel=1e-3)
    assert "(the 111 held-out test samples, disease progression units)" in line
    train = next(x for x in out.splitlines() if x.startswith("training RMSE= "))
    assert float(train.split()[2]) == pytest.approx(stored["train"]["train_rmse"], rel=1e-3)
    assert "sum over the training set, standardised targets" in out
    # the training RMSE in target units is the SSE's on the standardised targets, rescaled
    from keras_lab.data import load_real_data

    real = load_real_data("diabetes")
    rmse = np.sqrt(stored["sse"] / len(real.x_train)) * real.target_std
    assert stored["train"]["train_rmse"] == pytest.approx(rmse, rel=1e-5)
