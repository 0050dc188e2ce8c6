"""The compare CLI: the GD variants side by side, the trajectory figure, K starts, the
lecture's figures. Functions run in process; one subprocess checks the flag contract."""

from __future__ import annotations

import importlib.util
import json
import os
import re

import keras
import numpy as np
import pytest
from conftest import REPO

from keras_lab import bench, compare, models
from keras_lab.data import lecture_data
from keras_lab.engine.loop import GradientDescent
from keras_lab.experiments import curves, multistart, trajectory
from keras_lab.lecture import backprop

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # the PNG specification's 8-byte file signature


def assert_sensible_png(path: str) -> None:
    """A real PNG, at least 400 x 300 pixels (our figures are 6.4 x 4 in at 100 dpi) and
    more than 10 kB (a blank figure of that size compresses to ~3 kB)."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == PNG_SIGNATURE, path
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert width >= 400 and height >= 300, (path, width, height)
    assert os.path.getsize(path) > 10_000, path


# ----------------------------------------------------------------------------- trajectory
def test_trajectories_share_the_start_batch_descends_sgd_is_noisiest():
    config = compare.CompareConfig()
    paths, surface = trajectory.run_trajectories(
        config.trajectory_lr, config.trajectory_updates, config.trajectory_batch_size, config.seed
    )
    by_variant = {t.variant: t for t in paths}
    for t in paths:
        np.testing.assert_array_equal(t.path[0], trajectory.TRAJECTORY_START)
        assert t.path.shape == (config.trajectory_updates + 1, 2)
    # Batch GD on a quadratic never increases the loss when eta < 2 / lambda_max of the
    # Hessian 2/n X^T X (X = [p, 1]): check the precondition, then the claim.
    x, y = trajectory.trajectory_data(config.seed)
    design = np.stack([x, np.ones_like(x)], axis=1)
    lambda_max = np.linalg.eigvalsh(2 * design.T @ design / len(x)).max()
    assert config.trajectory_lr < 2 / lambda_max
    assert np.all(np.diff(by_variant["batch"].loss) <= 1e-15)
    # and it gets close to the least-squares minimum (within 0.1 in w and b after 100 steps)
    np.testing.assert_allclose(by_variant["batch"].path[-1], surface["minimum"], atol=0.1)

    def wiggle(path: np.ndarray) -> float:  # path length / straight start-to-end distance
        steps = np.linalg.norm(np.diff(path, axis=0), axis=1).sum()
        return steps / np.linalg.norm(path[-1] - path[0])

    assert wiggle(by_variant["sgd"].path) > wiggle(by_variant["minibatch"].path)
    assert wiggle(by_variant["minibatch"].path) > wiggle(by_variant["batch"].path)
    assert surface["loss"].shape == (len(surface["b"]), len(surface["w"]))
    # the figure's claim, as trajectory.path_claim computes it, holds at the defaults
    claim = trajectory.path_claim(paths)
    assert claim["holds"] and claim["batch_rises"] == 0
    assert claim["wiggle"]["sgd"] == pytest.approx(wiggle(by_variant["sgd"].path))
    # every path and the minimum lie inside the drawn surface (no point cut off)
    for t in paths:
        assert surface["w"][0] < t.path[:, 0].min() and t.path[:, 0].max() < surface["w"][-1]
        assert surface["b"][0] < t.path[:, 1].min() and t.path[:, 1].max() < surface["b"][-1]


def test_batch_trajectory_is_what_gradient_descent_does_on_a_dense_layer():
    x, y = trajectory.trajectory_data(0)
    path = trajectory.linear_trajectory(x, y, len(x), 0.05, 5)
    model = keras.Sequential(
        [keras.Input((1,), dtype="float64"), keras.layers.Dense(1, dtype="float64")]
    )
    model.layers[0].kernel.assign([[trajectory.TRAJECTORY_START[0]]])
    model.layers[0].bias.assign([trajectory.TRAJECTORY_START[1]])
    gd = GradientDescent(
        model, "mse", x[:, None], y[:, None], batch_size=len(x), learning_rate=0.05
    )
    gd.run(5)  # batch GD: one update per epoch
    w, b = float(model.layers[0].kernel.numpy()[0, 0]), float(model.layers[0].bias.numpy()[0])
    np.testing.assert_allclose(path[5], [w, b], atol=1e-12)


# ----------------------------------------------------------------------------- the CLI, in process
def test_compare_main_writes_every_figure_and_the_data_behind_them(tmp_path, capsys):
    logdir = str(tmp_path / "run")
    epochs, starts = 4, 3
    argv = [
        "--epochs",
        str(epochs),
        "--points",
        "3",
        "--starts",
        str(starts),
        "--starts-epochs",
        "2",
        "--minima-starts",
        "2",
        "--minima-epochs",
        "2",
        "--no-jit",
        "--logdir",
        logdir,
        "--json",
        "--svg",
    ]
    assert compare.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    stems = ("loss_vs_epoch", "loss_vs_updates", "trajectory", "multistart", "local_minima")
    for stem in stems:
        assert_sensible_png(os.path.join(logdir, f"{stem}.png"))
        assert os.path.getsize(os.path.join(logdir, f"{stem}.svg")) > 0
    assert sorted(os.listdir(logdir)) == sorted(
        [f"{stem}.{ext}" for stem in stems for ext in ("png", "svg")] + ["result.json", ".lock"]
    )  # no timing figure (loss_vs_time) and no loss_vs_samples
    assert set(result["claims"]) == set(stems)

    x, y = lecture_data()
    start_sse = float(np.sum((y - models.sine_fit_model(seed=0).predict(x, verbose=0)) ** 2))
    updates_per_epoch = {"batch": 1, "sgd": 9, "minibatch": 3}  # 9 points, mini-batch of 3
    for variant, history in result["histories"].items():
        assert history["epochs"][0] == 0 and history["epochs"][-1] == epochs
        np.testing.assert_allclose(history["sse"][0], start_sse, rtol=1e-5)  # the shared start
        assert history["updates_per_epoch"] == updates_per_epoch[variant]
        assert history["updates"] == [updates_per_epoch[variant] * e for e in history["epochs"]]
        assert "seconds" not in history and "samples" not in history
        assert len(history["epoch_loss"]) == epochs
        assert result["final_sse"][variant] == history["sse"][-1]
    for variant, ends in result["local_minima"]["variants"].items():
        assert sum(ends["counts"]) + ends["diverged"] == 2, variant
    for variant, multi in result["multistart"].items():
        assert len(multi["final_sse"]) == len(multi["settled_sse"]) == starts
        assert "clusters" not in multi


def test_printed_summary_calls_the_k_start_groups_a_spread_not_minima(tmp_path, capsys):
    """The K-start summary printed 'runs per local minimum (final SSE)' with SGD's groups of
    unconverged end points (237/17/2) as if they were minima (docs/compare.md: they are not)."""
    argv = ["--epochs", "3", "--points", "3", "--starts", "3", "--starts-epochs", "3"]
    argv += ["--settle-epochs", "2", "--minima-starts", "0", "--no-jit"]
    assert compare.main([*argv, "--logdir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "local minim" not in out  # the only minima printed are those of t = |p| (skipped)
    assert "a spread, not minima" in out and "after 2 more batch-GD epochs" in out


def _default_histories() -> dict:
    config = compare.CompareConfig()
    x, y = compare.build_data(config)
    return {
        v: curves.run_variant(
            v, x, y, config.epochs, config.lr, config.batch_size, config.seed, config.points
        )
        for v in ("batch", "sgd", "minibatch")
    }


def test_loss_figures_claims_hold_at_the_defaults_and_their_titles_state_them():
    histories = _default_histories()
    descent = curves.descent_claim(histories)
    # this code's measurement (float32, XLA, seed 0): the first epoch at SSE <= 0.01, every
    # epoch of the first 200 measured; the claim is the order, reversed between the two
    assert descent["holds"]
    assert descent["epochs"] == {"batch": 42, "sgd": 10, "minibatch": 18}
    assert descent["updates"] == {"batch": 42, "sgd": 90, "minibatch": 54}
    settling = curves.settling_claim(histories)
    assert settling["holds"] and settling["batch_rises"] == 0
    low, high = settling["late_range"]["sgd"]
    assert high / low > 5  # measured 12x; batch GD's 1.06x
    figs = compare.figures(histories, None, None, None, compare.CompareConfig())
    updates_title = figs["loss_vs_updates"].texts[0].get_text()  # the suptitle
    assert "batch GD 42 updates = 42 epochs" in updates_title
    assert "stochastic GD 90 updates = 10 epochs" in updates_title
    epoch_axes = figs["loss_vs_epoch"].axes[0]
    assert epoch_axes.get_title().startswith("At a constant alpha SGD never settles")
    # every curve drawn whole: the x range holds every measured epoch, 0 included
    for line in epoch_axes.get_lines():
        xs = line.get_xdata()
        assert epoch_axes.get_xlim()[0] <= min(xs) and max(xs) <= epoch_axes.get_xlim()[1]
    left, right = figs["loss_vs_updates"].axes[1].get_xlim()
    assert left <= 0 and right >= 2000 * 9  # SGD's 18,000 updates, and the start at 0
    # batch GD's line is on top and mini-batch GD's dashed: both visible where they meet
    styles = {line.get_label(): line for line in epoch_axes.get_lines()}
    assert styles["batch GD"].get_zorder() > styles["mini-batch GD"].get_zorder()
    assert styles["mini-batch GD"].get_linestyle() == "--"


def test_a_claim_that_fails_is_not_in_the_title():
    histories = {
        v: curves.VariantHistory(v, 1, k, [0, 1, 2], [0, k, 2 * k], [4.0, 3.0, 2.0], [], 2.0, [])
        for v, k in (("batch", 1), ("sgd", 9), ("minibatch", 3))
    }  # never at SSE 0.01, no variant settles differently
    figs = compare.figures(histories, None, None, None, compare.CompareConfig())
    assert figs["loss_vs_epoch"].axes[0].get_title().startswith("SSE per epoch\n")
    assert figs["loss_vs_updates"].texts[0].get_text().startswith("SSE per epoch and per")


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--batch-size", "10"], "batch-size must be at most the 9 samples, got 10"),
        (["--starts", "-1"], "starts must be an integer >= 0, got -1"),
        (["--lr", "nan"], "lr must be a finite number > 0, got nan"),
    ],
)
def test_bad_settings_exit_2_naming_the_value_and_write_nothing(tmp_path, capsys, argv, match):
    logdir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        compare.main([*argv, "--logdir", str(logdir)])
    assert exit_info.value.code == 2
    assert match in capsys.readouterr().err
    assert not logdir.exists()


def test_a_used_logdir_is_refused(tmp_path, capsys):
    (tmp_path / "earlier.txt").write_text("a previous run")
    with pytest.raises(SystemExit) as exit_info:
        compare.main(["--logdir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "is not empty; choose another --logdir" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["earlier.txt"]


def test_multistart_bench_reports_both_ratios():
    x, y = lecture_data()
    result = bench.bench_multistart(x, y, num_starts=4, num_epochs=2, repeats=1, jit_compile=False)
    assert result["starts"] == 4
    for ratios in (result["ratio_first_call"], result["ratio_steady"]):
        assert set(ratios) == {"shared", "per_start"} and min(ratios.values()) > 0


def test_cli_help_and_one_line_flag_errors(cli, tmp_path):
    logdir = tmp_path / "run"
    bad = cli("keras_lab.compare", "--epochs", "many", "--logdir", str(logdir))
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "--epochs" in bad.stderr, bad.stderr
    assert not logdir.exists()
    helped = cli("keras_lab.compare", "--help")
    assert helped.returncode == 0 and "(default: 256)" in helped.stdout


# ----------------------------------------------------------------------------- lecture figures
def test_lecture_figures_script(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "lecture_figures", os.path.join(REPO, "scripts", "lecture_figures.py")
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    result = script.make_figures(str(tmp_path), seed=0)
    for path in result["paths"]:
        assert_sensible_png(path)
    history = result["history"]
    assert history.shape == (10,)  # the listing's epoch = 10
    assert np.all(np.diff(history) < 0)  # the lecture's figure 0: the SSE falls every epoch
    # the fit figure's predictions are those of the trained network: their SSE is the last loss
    x, t = lecture_data("float64")
    np.testing.assert_allclose(np.sum((t.ravel() - result["predictions"]) ** 2), history[-1])
    same = backprop.predict(result["layers"], ["sigmoid", "linear"], x.T).ravel()
    np.testing.assert_array_equal(result["predictions"], same)
    # each title states its claim, and the claims hold at the defaults (seed 0)
    claims = result["claims"]
    assert claims["loss_falls_every_epoch"] and claims["fit"]["holds"]
    largest = np.max(np.abs(t.ravel() - result["predictions"]))
    assert largest < np.ptp(t) / 10  # measured 0.089 (seed 0) of a span of 2
    assert claims["largest_error"] == pytest.approx(largest)


def test_diverged_starts_are_no_minimum_and_are_counted_on_the_figure():
    # alpha = 1e4: SGD overflows to inf within 3 epochs of the 9 points (found by trying)
    config = compare.CompareConfig(starts=2, starts_epochs=3, lr=1e4, jit=False)
    x, y = compare.build_data(config)
    multistart_result = multistart.run_multistart(
        x, y, config.starts, config.starts_epochs, config.lr, config.batch_size, jit_compile=False
    )
    sgd = multistart_result["sgd"]
    assert sgd["failed"] == 2 and sgd["final_sse"] == [None, None]
    assert sgd["settled_sse"] == [None, None]
    assert not multistart.spread_claim(multistart_result)["holds"]
    figure = compare.figures({}, None, None, multistart_result, config)["multistart"]
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert "stochastic GD\n(K = 2, 2 diverged)" in labels
    assert "not other minima" not in figure.texts[0].get_text()  # the claim did not hold


def test_a_diverging_comparison_exits_3_with_short_numbers(tmp_path, capsys):
    """alpha = 100 on the lecture's problem (issue #13: it exited 0 printing 44-digit SSEs)."""
    argv = ["--lr", "100", "--epochs", "20", "--points", "3", "--starts", "2"]
    argv += ["--starts-epochs", "20", "--minima-starts", "2", "--minima-epochs", "20"]
    argv += ["--no-jit", "--logdir", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as exit:
        compare.main(argv)
    out, err = capsys.readouterr()
    assert exit.value.code == 3 and err.count("\n") == 1 and "diverged at --lr 100" in err, err
    assert not re.search(r"\d{12}", out), out  # .6g, not 1e38 printed whole
    with open(tmp_path / "run" / "result.json") as f:  # strict JSON

        def refuse(name):
            raise AssertionError(f"non-JSON constant {name}")

        json.load(f, parse_constant=refuse)
