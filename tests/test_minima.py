"""experiments.minima: t = |p| has two minima for the 1-1-1 network, and where each variant ends.

The pinned counts and per-start minima are this code's measurement (TF 2.21, XLA on CPU,
float64) with K = 16 starts, 2000 epochs and 2000 settling epochs at eta_0 = 0.3, SGD and
mini-batch decaying eta to 0.003. They change if the starts
(models.lecture_random_weights), the epoch orders (gd.epoch_order), the schedule, the
epochs or the learning rate change; rounding differences (another TF/XLA build) could move a
start that ends near a basin's edge, but the two minima's values cannot move: one is the
mean of |p| (numpy below), the other was measured converged (docs/compare.md).
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from keras_lab import data
from keras_lab.experiments import minima
from keras_lab.plots import VARIANT_STYLE

SETTINGS = dict(num_starts=16, num_epochs=2000, settle_epochs=2000)


@pytest.fixture(scope="module")
def result():
    return minima.run_local_minima(**SETTINGS)


def test_v_data_is_the_lecture_inputs_with_absolute_targets():
    x, y = minima.v_data()
    lecture_x, _ = data.lecture_data("float64")
    np.testing.assert_array_equal(x, lecture_x)
    np.testing.assert_array_equal(y, np.abs(lecture_x))


def test_batch_gd_ends_in_two_minima_far_apart(result):
    flat, one_arm = result["minima"][1], result["minima"][0]
    assert len(result["minima"]) == 2
    # the flat line: output = mean of the targets, SSE = sum (t - mean t)^2 (numpy)
    t = np.abs(np.asarray(data.LECTURE_P, np.float64))
    np.testing.assert_allclose(flat["value"], np.sum((t - t.mean()) ** 2), rtol=1e-6)
    np.testing.assert_allclose(flat["prediction"], t.mean(), rtol=1e-4)
    # one arm fitted: converged at 2.71124 (docs/compare.md, 252,000 batch epochs); after
    # 4000 epochs the runs are still a little above it
    assert 2.711 < one_arm["low"] and one_arm["high"] < 2.8
    gap = flat["low"] - one_arm["high"]
    assert gap > 1.0 and gap > 20 * (one_arm["high"] - one_arm["low"])
    # batch GD from the 16 starts: 4 end with one arm fitted, 12 on the flat line
    # (this code's measurement)
    assert result["variants"]["batch"]["minimum"] == [
        0,
        0,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        0,
        1,
        1,
        1,
        1,
        0,
        1,
    ]


def test_sgd_and_minibatch_from_the_same_starts_all_end_in_the_lower_minimum(result):
    for variant in ("sgd", "minibatch"):
        ends = result["variants"][variant]
        assert ends["counts"] == [16, 0] and ends["diverged"] == 0, variant
        assert ends["moves"] == {"lower": 12, "same": 4, "higher": 0}, variant
        np.testing.assert_allclose(ends["final_learning_rate"], 0.3 * 0.01)
    assert result["variants"]["batch"]["moves"] == {"lower": 0, "same": 16, "higher": 0}
    assert result["variants"]["minibatch"]["batch_size"] == 3


def test_figure_and_summary_show_the_counts(result):
    fig = minima.figure(result)
    fits, bars = fig.axes
    assert len(fits.lines) == 1 + 2  # the targets and one curve per minimum
    widths = [patch.get_width() for patch in bars.patches]
    assert sum(widths) == 3 * 16
    assert "batch      ends [4, 12]" in minima.summary(result)
    # the claim, computed and stated in the title
    claim = minima.escape_claim(result)
    assert claim == {"lowest": {"batch": 4, "sgd": 16, "minibatch": 16}, "holds": True}
    headline = fig.texts[0].get_text().splitlines()[0]  # the suptitle's first line
    assert headline.startswith("Of the same 16 starts, the lower minimum is reached by batch GD 4")
    # the bars' colours are the minima's, not a variant's (batch GD is tab:blue elsewhere)
    variant_colors = {to_rgba(style["color"]) for style in VARIANT_STYLE.values()}
    assert {patch.get_facecolor() for patch in bars.patches}.isdisjoint(variant_colors)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"final_fraction": 2.0}, "final-fraction must be at most 1, got 2.0"),
        ({"batch_size": 10}, "batch-size"),
        ({"num_starts": 0}, "num-starts"),
        ({"learning_rate": float("nan")}, "learning-rate"),
    ],
)
def test_bad_settings_are_value_errors_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        minima.run_local_minima(**kwargs)
