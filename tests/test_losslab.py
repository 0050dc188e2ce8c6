"""The loss lab: shapes pinned to closed forms, the outlier lesson and the real-data numbers
asserted on measured values, model.fit cross-checks, the scikit-learn loaders, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from keras_lab import data, rundir
from keras_lab import losslab as cli
from keras_lab.experiments.losslab import figures, outliers, realdata, shapes, training

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # the PNG specification's 8-byte file signature


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ----------------------------------------------------------------------------- shapes
# Every expected slope below is a hand derivation of the loss's formula with respect to
# the prediction (e = prediction - target), in numpy; the slopes under test come from
# tf.GradientTape on custom_losses.
def test_regression_slopes_are_the_closed_forms():
    e = np.linspace(-3.0, 3.0, 121)  # includes e = 0 and the kinks at +-delta
    curves = shapes.regression_curves(e)
    np.testing.assert_allclose(curves.values["MSE"], e**2, rtol=1e-12)
    np.testing.assert_allclose(curves.slopes["MSE"], 2 * e, atol=1e-12)
    np.testing.assert_array_equal(curves.slopes["MAE"], np.sign(e))  # sign(0) = 0
    np.testing.assert_allclose(curves.values["log-cosh"], np.log(np.cosh(e)), atol=1e-12)
    np.testing.assert_allclose(curves.slopes["log-cosh"], np.tanh(e), atol=1e-12)
    for delta in shapes.HUBER_DELTAS:
        label = f"Huber, delta = {delta:g}"
        quadratic = np.minimum(np.abs(e), delta)  # the lecture's two cases in one line
        expected = 0.5 * quadratic**2 + delta * (np.abs(e) - quadratic)
        np.testing.assert_allclose(curves.values[label], expected, atol=1e-12)
        np.testing.assert_allclose(curves.slopes[label], np.clip(e, -delta, delta), atol=1e-12)
    # one output per sample: sqrt(e^2) = |e|, slope sign(e), and 0 (not NaN) at e = 0
    np.testing.assert_allclose(curves.values["RMSE per sample"], np.abs(e), atol=1e-12)
    # (e / sqrt(e^2) is 1 ulp off 1 for some e)
    np.testing.assert_allclose(curves.slopes["RMSE per sample"], np.sign(e), rtol=0, atol=1e-15)


def test_mape_slope_is_100_over_the_target():
    r = np.linspace(-1.5, 1.5, 31)
    curves = shapes.mape_curves(r)
    for target in shapes.MAPE_TARGETS:
        label = f"target {target:g}"
        np.testing.assert_allclose(curves.values[label], 100 * np.abs(r), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(curves.slopes[label], 100 * np.sign(r) / target, rtol=1e-9)


def test_classification_slopes_are_the_closed_forms():
    # p = 0.5 (logit 0) is left out: there custom_losses' BCE from logits had the slope -t
    # before issue #11's fix; test_bce_from_logits_slope below pins the formula elsewhere
    p = np.linspace(0.02, 0.98, 48)
    curves = shapes.classification_curves(p)
    for label in ("BCE, -log p", "CCE (3 classes), -log p"):
        np.testing.assert_allclose(curves.values[label], -np.log(p), rtol=1e-9)
        # d(-log p)/dz = p - 1 for the true class's logit z, sigmoid or softmax alike
        np.testing.assert_allclose(curves.slopes[label], p - 1, atol=1e-9)
    np.testing.assert_allclose(curves.values["MSE on p, (1 - p)^2"], (1 - p) ** 2, rtol=1e-9)
    # d(1 - sigmoid(z))^2/dz = -2 (1 - p) p (1 - p): vanishes as p -> 0, the saturated sigmoid
    np.testing.assert_allclose(
        curves.slopes["MSE on p, (1 - p)^2"], -2 * p * (1 - p) ** 2, atol=1e-9
    )


@pytest.mark.parametrize("target", [0.0, 1.0])
def test_bce_from_logits_slope_is_sigmoid_minus_target(target):
    import custom_losses

    x = np.concatenate([np.linspace(-30, -0.01, 40), np.linspace(0.01, 30, 40)])  # not 0
    t = np.full((len(x), 1), target)
    value, slope = shapes.value_and_slope(
        lambda y, z: custom_losses.binary_crossentropy(y, z, from_logits=True), t, x[:, None]
    )
    np.testing.assert_allclose(slope, sigmoid(x) - target, atol=1e-12)
    # the value: softplus(x) - t x, computed stably in numpy
    np.testing.assert_allclose(value, np.logaddexp(0, x) - target * x, rtol=1e-9, atol=1e-12)


def test_hinge_slopes():
    m = np.array([-2.0, -0.5, 0.5, 0.99, 1.01, 2.0])  # not at the kink m = 1
    curves = shapes.hinge_curves(m)
    np.testing.assert_allclose(curves.values["hinge"], np.maximum(1 - m, 0))
    np.testing.assert_array_equal(curves.slopes["hinge"], np.where(m < 1, -1.0, 0.0))
    np.testing.assert_allclose(curves.slopes["squared hinge"], -2 * np.maximum(1 - m, 0))


def test_loss_shapes_rejects_too_few_points():
    with pytest.raises(ValueError, match="points must be an integer >= 3, got 2"):
        shapes.loss_shapes(2)


# ----------------------------------------------------------------------------- outliers
def test_outlier_lesson_on_measured_numbers():
    # The defaults of the lab (200 points, 10 % outliers, 500 epochs); fewer losses.
    result = outliers.run_outliers(losses=("mse", "mae", "huber_1", "log_cosh", "mape"))
    fits = result["fits"]
    mse = fits["mse"]
    # MSE is pulled up towards the outliers: their mean offset 4.5 x 10 % = 0.45 is the
    # pull of a mean (measured +0.43)
    assert mse.bias > 0.3 and mse.rms_to_clean > 0.3
    # the bounded slopes stay close: each less than half of MSE's distance (measured:
    # MAE 0.014, Huber(1) and log-cosh 0.11, against MSE's 0.43)
    for loss in ("mae", "huber_1", "log_cosh"):
        assert fits[loss].rms_to_clean < 0.5 * mse.rms_to_clean, loss
    assert fits["mae"].rms_to_clean < fits["huber_1"].rms_to_clean  # delta -> 0 is MAE
    # MAPE near targets of 0 (the sine is 0 at p = -2): the few targets with |t| < 0.1
    # carry most of the loss (measured: 11.5 % of the points, 74 % of the loss), and the
    # slope weight 100 / |t| on them is thousands of times the median (198,000 vs 75)
    mape = result["mape"]
    assert mape["near_zero_sample_share"] < 0.2 and mape["near_zero_loss_share"] > 0.5
    assert mape["max_slope_weight"] > 1000 * mape["median_slope_weight"]
    for fit in fits.values():
        assert fit.record.failed_step == -1


def test_outlier_data_is_seeded_and_bad_fractions_are_refused():
    a, b = outliers.outlier_data(50, seed=3), outliers.outlier_data(50, seed=3)
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right)
    x, y, is_outlier = a
    offset = y[:, 0] - data.sine_target(x[:, 0])
    assert is_outlier.sum() == 5 and np.all(offset[is_outlier] > 2.5)
    assert np.all(np.abs(offset[~is_outlier]) < 0.3)  # noise std 0.05
    with pytest.raises(ValueError, match="outlier_fraction must be in \\[0, 1\\), got 1.5"):
        outliers.outlier_data(50, outlier_fraction=1.5)


# ----------------------------------------------------------------------------- real data
def test_digits_cce_reaches_the_floor_and_equals_scce():
    digits = data.load_real_data("digits")
    cce = realdata.train_one(digits, "cce", 30)
    scce = realdata.train_one(digits, "scce", 30)
    # acceptance floor 0.95 (measured 0.971, 13 of 450 wrong)
    assert cce.record.final("test_accuracy") >= 0.95
    for ours, theirs in zip(cce.weights, scce.weights):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_breast_cancer_bce_floor_and_the_saturated_sigmoid():
    cancer = data.load_real_data("breast_cancer")
    bce = realdata.train_one(cancer, "bce", 100)
    assert bce.record.final("test_accuracy") >= 0.95  # acceptance floor (measured 0.965)
    # from a saturated start, MSE's slope -2 p (1 - p)^2 is tiny on confident mistakes:
    # measured 9 epochs to 95 % training accuracy with BCE, 46 with MSE
    bce_sat = realdata.train_one(cancer, "bce", 60, saturated=True)
    mse_sat = realdata.train_one(cancer, "mse", 60, saturated=True)
    assert bce_sat.epochs_to_target is not None and bce_sat.epochs_to_target <= 15
    assert (
        mse_sat.epochs_to_target is None or mse_sat.epochs_to_target >= 3 * bce_sat.epochs_to_target
    )


@pytest.mark.parametrize("name", list(data.REAL_DATASETS))
def test_our_loop_equals_model_fit_with_the_keras_loss(name):
    check = realdata.crosscheck_fit(data.load_real_data(name), num_epochs=2)
    assert check["max_weight_difference"] <= 1e-6, check


def test_confusion_matrix_counts_match_accuracy():
    labels = np.array([0, 1, 2, 2, 1])
    predicted = np.array([0, 2, 2, 2, 1])
    counts = realdata.confusion_matrix(labels, predicted, 3)
    assert counts.sum() == 5 and np.trace(counts) == 4 and counts[1, 2] == 1


# ----------------------------------------------------------------------------- loaders
@pytest.mark.parametrize("name", ["breast_cancer", "digits"])
def test_classification_split_is_stratified_and_seeded(name):
    from sklearn import datasets

    d = data.load_real_data(name, seed=1)
    target = (
        datasets.load_breast_cancer if name == "breast_cancer" else datasets.load_digits
    )().target
    train = d.y_train.ravel().astype(int)
    test = d.y_test.ravel().astype(int)
    assert len(train) + len(test) == len(target)
    assert np.array_equal(np.bincount(train) + np.bincount(test), np.bincount(target))
    expected_test = np.bincount(target) * 0.25
    assert np.all(np.abs(np.bincount(test) - expected_test) <= 1)  # each class keeps its share
    again = data.load_real_data(name, seed=1)
    np.testing.assert_array_equal(d.x_train, again.x_train)
    assert not np.array_equal(d.x_train, data.load_real_data(name, seed=2).x_train)


def test_standardised_with_training_statistics_only():
    from sklearn import datasets

    d = data.load_real_data("diabetes", dtype="float64")
    np.testing.assert_allclose(d.x_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(d.x_train.std(axis=0), 1, atol=1e-12)
    assert np.abs(d.x_test.mean(axis=0)).max() > 1e-3  # the test set was not used
    # undoing the scaling gives rows of scikit-learn's unscaled file, and the targets back
    raw = datasets.load_diabetes(scaled=False)
    restored = d.x_test * d.feature_std + d.feature_mean
    rows = [np.flatnonzero(np.all(np.isclose(raw.data, r), axis=1)) for r in restored[:5]]
    assert all(len(r) == 1 for r in rows)
    targets = d.y_test[:5, 0] * d.target_std + d.target_mean
    np.testing.assert_allclose(targets, raw.target[[r[0] for r in rows]], rtol=1e-12)


def test_digits_constant_pixels_are_only_centred_and_labels_formats():
    d = data.load_real_data("digits")
    assert np.all(np.isfinite(d.x_train)) and np.all(np.isfinite(d.x_test))
    assert d.y_train.dtype == np.int64 and d.y_train.ndim == 1
    assert d.raw_x_test.shape == (450, 64) and d.raw_x_test.max() == 16  # 4-bit pixels
    cancer = data.load_real_data("breast_cancer")
    assert cancer.y_train.shape[1] == 1 and set(np.unique(cancer.y_train)) == {0.0, 1.0}
    np.testing.assert_array_equal(data.one_hot(np.array([1, 0]), 2), [[0, 1], [1, 0]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "iris"}, "unknown data set 'iris'"),
        ({"name": "digits", "test_fraction": 1.0}, "test_fraction must be a number in \\(0, 1\\)"),
        ({"name": "digits", "dtype": "int8"}, "dtype must be 'float32' or 'float64'"),
    ],
)
def test_loader_errors_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load_real_data(**kwargs)


def test_one_hot_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match="labels must be in \\[0, 3\\), got 0..3"):
        data.one_hot(np.array([0, 3]), 3)


# ----------------------------------------------------------------------------- the CLI
def test_cli_tiny_run_writes_figures_strict_json_and_tensorboard(tmp_path, capsys):
    logdir = tmp_path / "run"
    argv = [
        "--logdir", str(logdir), "--json", "--svg", "--shape-points", "21",
        "--only", "shapes", "outliers", "breast_cancer", "digits",  # diabetes: the next test
        "--outlier-losses", "mse", "--outlier-samples", "40", "--outlier-epochs", "4",
        "--breast-cancer-epochs", "2", "--no-saturated-start",
        "--digits-epochs", "2", "--crosscheck-epochs", "0",
    ]  # fmt: skip
    assert cli.main(argv) == 0

    def no_constants(name):
        raise AssertionError(f"non-strict JSON constant {name}")

    printed = json.loads(capsys.readouterr().out, parse_constant=no_constants)
    stored = json.loads((logdir / "result.json").read_text(), parse_constant=no_constants)
    assert printed == stored
    for stem in ("shapes", "outliers", "real", "confusion", "misclassified"):
        png = logdir / f"losslab_{stem}.png"
        assert png.read_bytes()[:8] == PNG_SIGNATURE and png.stat().st_size > 10_000, stem
        assert (logdir / f"losslab_{stem}.svg").stat().st_size > 0
    assert set(stored["outliers"]["table"]) == {"mse"}
    assert set(stored["real"]) == {"breast_cancer", "digits"}
    assert set(stored["real"]["breast_cancer"]["final"]) == {"bce", "mse"}
    assert stored["real"]["digits"]["history"]["cce"]["epochs"] == [0, 1, 2]
    assert stored["non_finite"] == {}
    runs = {
        os.path.relpath(root, logdir / "tensorboard")
        for root, _, files in os.walk(logdir / "tensorboard")
        if any(f.startswith("events.out.tfevents") for f in files)
    }
    assert runs == {
        "outliers/mse", "breast_cancer/bce", "breast_cancer/mse",
        "digits/cce", "digits/scce", "digits/mse",
    }  # fmt: skip


def test_diabetes_part_numbers_and_panel(tmp_path):
    config = cli.LossLabConfig(diabetes_epochs=2, crosscheck_epochs=0)
    part, figures = cli.run_real_part("diabetes", config, str(tmp_path))
    assert figures == {} and part["task"] == "regression" and part["test_samples"] == 111
    assert set(part["final"]) == {"mse", "mae", "huber"}
    for final in part["final"].values():
        # test RMSE >= test MAE always; both in the target's units (progression 25..346)
        assert 10 < final["test_mae"] <= final["test_rmse"] < 200
    figure = cli.real_curves_figure({"diabetes": part})
    assert figure.axes[0].get_ylabel() == "test RMSE (disease progression units)"


def test_tensorboard_holds_the_loop_loss_and_the_measurements(tmp_path):
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator

    from keras_lab.engine.loop import GradientDescent
    from keras_lab.experiments.losslab.training import train_and_measure
    from keras_lab.models import sine_fit_model

    x, y = data.lecture_data()
    gd = GradientDescent(sine_fit_model(seed=0), "mse", x, y, batch_size=3, learning_rate=0.3)
    record = train_and_measure(gd, 5, lambda: {"answer": 42.0}, 2, str(tmp_path))
    assert record.epochs == [0, 2, 4, 5] and len(record.epoch_loss) == 5
    events = EventAccumulator(str(tmp_path), size_guidance={TENSORS: 0})
    events.Reload()
    loss = events.Tensors("epoch/loss")
    # one point per chunk (epochs 1-2, 3-4, 5): its last epoch's loss, at that epoch
    assert [e.step for e in loss] == [2, 4, 5]
    np.testing.assert_allclose(
        [float(tf.make_ndarray(e.tensor_proto)) for e in loss],
        [record.epoch_loss[i] for i in (1, 3, 4)],
        rtol=1e-6,
    )
    assert [e.step for e in events.Tensors("measure/answer")] == [0, 2, 4, 5]


def test_strict_json_replaces_non_finite_numbers_and_says_where():
    non_finite = {}
    out = rundir.strict_json(
        {"table": {"mape": {"final_loss": float("inf")}}, "x": np.array([np.nan])}, non_finite
    )
    assert out["table"]["mape"]["final_loss"] is None and out["x"] == [None]
    assert non_finite == {"table.mape.final_loss": "inf", "x[0]": "nan"}
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize(
    "argv, match",
    [
        (
            ["--outlier-fraction", "1.5"],
            "outlier-fraction must be a number in [0.0, 0.99], got 1.5",
        ),
        (["--test-fraction", "0.001"], "test-fraction must be a number in [0.05, 0.95], got 0.001"),
        (["--seed", "-1"], "seed must be an integer between 0 and 4294967295, got -1"),
        (["--digits-epochs", "0"], "digits-epochs must be an integer >= 1, got 0"),
        (["--mape-lr", "nan"], "mape-lr must be a finite number > 0, got nan"),
        (["--outlier-batch-size", "500"], "at most the 200 outlier samples, got 500"),
    ],
)
def test_bad_settings_exit_2_naming_the_value_and_write_nothing(tmp_path, capsys, argv, match):
    logdir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--logdir", str(logdir)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1
    assert not logdir.exists()


def test_a_used_logdir_is_refused(tmp_path, capsys):
    (tmp_path / "earlier.txt").write_text("a previous run")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--logdir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "is not empty; choose another --logdir" in capsys.readouterr().err


def test_help_and_flag_errors_without_tensorflow(tmp_path):
    """--help and bad flags answer before TensorFlow is imported (fresh process)."""
    script = (
        "import runpy, sys\n"
        "sys.argv = ['losslab'] + sys.argv[1:]\n"
        "try:\n"
        "    runpy.run_module('keras_lab.losslab', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    print('exit', e.code, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO)
    helped = subprocess.run(
        [sys.executable, "-c", script, "--help"], env=env, capture_output=True, text=True, cwd=REPO
    )
    assert "--outlier-losses" in helped.stdout and "(default: 500)" in helped.stdout
    assert helped.stdout.strip().endswith("exit 0 False False"), helped.stdout[-200:]
    logdir = tmp_path / "run"
    bad = subprocess.run(
        [sys.executable, "-c", script, "--only", "everything", "--logdir", str(logdir)],
        env=env, capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert bad.stderr.count("\n") == 1 and "--only" in bad.stderr, bad.stderr
    assert bad.stdout.strip() == "exit 2 False False"
    assert not logdir.exists()


def test_default_run_dir_is_unique_per_process():
    assert f"-losslab-{os.getpid()}" in rundir.default_run_dir("losslab")


# ----------------------------------------------------------------------------- convergence
def test_recent_change_is_the_least_squares_trend_over_the_last_half():
    rng = np.random.default_rng(0)
    epochs = list(range(0, 101, 5))
    values = 3.0 - 0.01 * np.arange(21) * 5 + rng.normal(0, 0.05, 21)  # falls 0.01 an epoch
    change, span = training.recent_change(epochs, list(values))
    # oracle: numpy's polyfit over the measurements at epochs >= 50 (the last half)
    slope = np.polyfit(epochs[10:], values[10:], 1)[0]
    assert span == 50
    assert change == pytest.approx(slope * 50, rel=1e-9)
    assert -0.7 < change < -0.3  # the true trend is -0.5 over 50 epochs
    # too few measurements for a window: the last two
    assert training.recent_change([0, 1], [0.5, 0.9]) == (pytest.approx(0.4), 1)
    with pytest.raises(ValueError, match="need two or more measurements"):
        training.recent_change([0], [1.0])


def test_convergence_flags_a_rising_accuracy_not_a_flat_noisy_one():
    # the full lab's digits runs, test accuracy at epochs 15..30 (result.json, seed 0): MSE
    # still rising, CCE settled (up and down by a test image or two)
    epochs = list(range(15, 31))
    mse = [0.682, 0.702, 0.729, 0.742, 0.751, 0.771, 0.787, 0.793,
           0.809, 0.818, 0.831, 0.844, 0.849, 0.849, 0.856, 0.856]  # fmt: skip
    cce = [0.971, 0.969, 0.969, 0.967, 0.969, 0.969, 0.969, 0.969,
           0.971, 0.971, 0.973, 0.973, 0.973, 0.973, 0.973, 0.973]  # fmt: skip
    rising = training.convergence(epochs, mse, 0.01, metric="test_accuracy")
    assert not rising["settled"] and rising["change"] > 0.1 and rising["over_epochs"] == 15
    assert training.convergence(epochs, cce, 0.01)["settled"]


def quick_like_result(settled: bool) -> dict:
    """A minimal result dict of run_lab, one outlier fit, for format_result."""
    convergence = {"metric": "rms_to_clean", "change": -0.06, "over_epochs": 50,
                   "tolerance": 0.02, "settled": settled}  # fmt: skip
    return {
        "config": {"outlier_epochs": 100},
        "outliers": {
            "outliers": 10,
            "samples": 100,
            "mape_near_zero": None,
            "table": {"mape": {"rms_to_clean": 0.576, "bias": -0.457, "convergence": convergence}},
        },  # fmt: skip
        "seconds": {"total": 1.0},
        "figures": [],
        "run_dir": "runs/x",
    }


def test_the_text_output_marks_a_run_that_has_not_converged():
    marked = cli.format_result(quick_like_result(settled=False)).splitlines()
    assert marked[1].startswith("  mape        0.5760")
    assert "NOT CONVERGED (distance -0.06 over the last 50 epochs)" in marked[1]
    assert any(line.startswith("NOT CONVERGED: 1 runs' numbers still moved") for line in marked)
    plain = cli.format_result(quick_like_result(settled=True))
    assert "NOT CONVERGED" not in plain


def test_quick_runs_the_full_labs_outlier_fits():
    """--quick's outlier fits are the full lab's (the same points, epochs and batches), so
    its outlier numbers are the full lab's; it only runs fewer losses."""
    quick = cli.config_from_args(cli.build_parser().parse_args(["--quick"]))
    full = cli.LossLabConfig()
    for name in ("outlier_samples", "outlier_fraction", "outlier_epochs", "outlier_batch_size",
                 "outlier_lr", "mape_lr", "diabetes_epochs"):  # fmt: skip
        assert getattr(quick, name) == getattr(full, name), name
    assert set(quick.outlier_losses) < set(full.outlier_losses)


def test_old_quick_settings_are_marked_not_converged(tmp_path, capsys):
    """With 100 points and 100 epochs (--quick's settings before) MAPE's fit ended 0.58
    from the clean curve, the worst of all, and still falling; the output says so."""
    argv = ["--only", "outliers", "--outlier-losses", "mae", "mape", "--outlier-samples",
            "100", "--outlier-epochs", "100", "--logdir", str(tmp_path / "run")]  # fmt: skip
    assert cli.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    mape = next(line for line in lines if line.startswith("  mape "))
    assert "NOT CONVERGED (distance -" in mape, mape
    assert float(mape.split()[1]) > 0.3  # measured 0.576 (seed 0)
    assert any(line.startswith("NOT CONVERGED: ") for line in lines)


def test_quick_prints_the_full_labs_outlier_ranking_and_marks_short_runs(tmp_path, capsys):
    argv = ["--quick", "--only", "outliers", "digits", "--logdir", str(tmp_path / "run")]
    assert cli.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "outliers (20 of 200 points, 500 epochs): RMS distance of each fit to the clean curve"
    )
    outlier_lines = lines[1:4]
    distance = {line.split()[0]: float(line.split()[1]) for line in outlier_lines}
    # the full lab's numbers (docs/losslab.md, seed 0: MSE 0.437, MAE 0.014, MAPE 0.046)
    assert distance == pytest.approx({"mse": 0.437, "mae": 0.014, "mape": 0.046}, abs=0.005)
    assert distance["mse"] > distance["mape"] > distance["mae"]  # the full lab's ranking
    assert not any("NOT CONVERGED" in line for line in outlier_lines)
    # digits gets 3 epochs in --quick: every run is still learning, and says so
    digits = lines[lines.index(next(x for x in lines if x.startswith("digits "))) + 1 :][:3]
    assert [line.split()[0] for line in digits] == ["cce", "scce", "mse"]
    assert all("NOT CONVERGED (test accuracy +" in line for line in digits), digits


# ----------------------------------------------------------------------------- figures
def visible_everywhere(fig) -> list[str]:
    """The labelled lines of every axes with a finite point outside that axes' limits."""
    cut = []
    for ax in fig.axes:
        x_low, x_high = sorted(ax.get_xlim())
        y_low, y_high = sorted(ax.get_ylim())
        for line in ax.get_lines():
            if line.get_label().startswith("_"):
                continue
            x, y = (np.asarray(v, float) for v in line.get_data())
            if np.any((x < x_low) | (x > x_high) | (y < y_low) | (y > y_high)):
                cut.append(line.get_label())
    return cut


def test_outliers_figure_shows_every_outlier_and_states_its_claim():
    x, y, is_outlier = outliers.outlier_data(200)
    grid = outliers.GRID
    clean = data.sine_target(grid)
    curves = {"mse": clean + 0.43, "mae": clean + 0.005, "huber_1": clean + 0.1}
    rms = {"mse": 0.437, "mae": 0.014, "huber_1": 0.108}  # docs/losslab.md's table
    fig = figures.outliers(x, y, is_outlier, grid, clean, curves, rms)
    assert visible_everywhere(fig) == []
    full = fig.axes[0]
    promised = [line for line in full.get_lines() if line.get_label().startswith("outliers")]
    assert len(promised) == 1 and len(promised[0].get_xdata()) == 20
    assert full.get_ylim()[1] >= y.max()  # the highest outlier, t = g(p) + up to 6
    title = fig.get_suptitle()
    assert title.startswith("MSE's fit is pulled 0.437 (RMS) off the clean curve, 4.0x")


def test_outlier_claim_is_computed_both_ways():
    assert figures.outlier_claim({"mse": 0.437, "mae": 0.014})[0] is True
    holds, text = figures.outlier_claim({"mse": 0.05, "mae": 0.04, "log_cosh": 0.045})
    assert holds is False and "NOT pulled 2x as far as MAE and log-cosh (0.045 at most)" in text
    assert figures.outlier_claim({"mape": 0.05})[0] is None


def test_check_visible_raises_on_a_cut_point():
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    ax.plot([0, 1], [0, 8], "x", label="outliers")
    ax.set_ylim(0, 3)
    with pytest.raises(ValueError, match="1 points of 'outliers' lie outside the axes"):
        figures.check_visible(ax)


def test_shapes_claim_is_computed_and_refuses_contradicting_curves():
    panels = shapes.loss_shapes(61)
    claim = figures.shapes_claim(panels)
    # closed forms: MSE's slope 2e is 6 at e = 3; Huber(2)'s is at most 2; at p = 0.01
    # MSE through a sigmoid has -2 p (1 - p)^2 = -0.0196, BCE p - 1 = -0.99
    assert "only MSE's grows with the error (6 at e = 3, the others at most 2)" in claim
    assert "(slope -0.0196 at p = 0.01, BCE -0.99)" in claim
    panels["regression"].slopes["MSE"] = np.clip(panels["regression"].slopes["MSE"], -1, 1)
    with pytest.raises(ValueError, match="MSE's largest slope 1 is not past twice"):
        figures.shapes_claim(panels)


def test_real_claim_is_computed():
    real = {
        "breast_cancer": {"epochs_to_train_accuracy": {"target": 0.95, "bce": 2, "mse": 6}},
        "digits": {"final": {"cce": {"test_accuracy": 0.973}, "mse": {"test_accuracy": 0.856}}},
        "diabetes": {
            "final": {
                k: {"test_rmse": v} for k, v in (("mse", 56.94), ("mae", 57.71), ("huber", 56.80))
            }
        },
    }  # fmt: skip  (docs/losslab.md's measured numbers)
    holds, text = cli.real_claim(real)
    assert holds is True
    assert text.startswith("The cross entropy beats MSE on a sigmoid/softmax output")
    assert "barely matters (diabetes test RMSE 56.8-57.7)" in text
    real["breast_cancer"]["epochs_to_train_accuracy"]["bce"] = None  # never reached
    assert cli.real_claim(real)[0] is False
